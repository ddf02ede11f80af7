//! Loading and running the project's test models end to end.

use hone::{Error, Model, Runner};
use hone_build::testutil::{tiny_model, tiny_transformer, LABELS};
use hone_build::HostSteps;

fn models() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("static", tiny_model().expect("builds")),
        ("transformer", tiny_transformer().expect("builds")),
    ]
}

#[test]
fn exact_scratch_size_is_enough_and_one_word_less_is_refused() {
    for (name, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).expect(name);
        assert_eq!(m.scratch_bytes(), 4 * m.scratch_words());
        let mut exact = vec![0u32; m.scratch_words()];
        let mut r = Runner::new(&m, &mut exact).expect("exact size accepted");
        let p = r.classify("turn the lights off");
        assert!(p.label < LABELS.len(), "{name}");
        assert_eq!(p.name, LABELS[p.label]);
        let mut short = vec![0u32; m.scratch_words() - 1];
        assert_eq!(
            Runner::new(&m, &mut short).err(),
            Some(Error::ScratchTooSmall {
                need: m.scratch_words() as u32,
                got: m.scratch_words() as u32 - 1
            })
        );
    }
}

#[test]
fn log_probs_are_normalised_and_argmax_is_the_label() {
    for (name, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let mut s = vec![0u32; m.scratch_words()];
        let mut r = Runner::new(&m, &mut s).unwrap();
        for text in [
            "play music",
            "set a timer for 5 minutes",
            "",
            "!!!",
            "日本語 ÉCOLE",
        ] {
            let p = r.classify(text);
            assert_eq!(p.log_probs.len(), m.num_classes());
            let total: f64 = p.log_probs.iter().map(|&l| f64::from(l).exp()).sum();
            assert!((total - 1.0).abs() < 1e-4, "{name} {text:?}: Σp = {total}");
            let best = p
                .log_probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(p.label, best);
        }
    }
}

#[test]
fn results_do_not_depend_on_scratch_history() {
    for (_, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let mut s1 = vec![0u32; m.scratch_words()];
        let mut s2 = vec![0xdead_beefu32; m.scratch_words()];
        let mut r1 = Runner::new(&m, &mut s1).unwrap();
        let a: Vec<u32> = r1
            .classify("what is the weather today")
            .log_probs
            .iter()
            .map(|x| x.to_bits())
            .collect();
        let mut r2 = Runner::new(&m, &mut s2).unwrap();
        r2.classify("a much longer prompt that fills more of the buffer with other values");
        let b: Vec<u32> = r2
            .classify("what is the weather today")
            .log_probs
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(a, b);
    }
}

#[test]
fn features_have_the_head_dimension_and_unit_norm_when_normalised() {
    let blob = tiny_model().unwrap();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    assert!(m.normalizes_features());
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let f = r.features("turn the lights on").to_vec();
    assert_eq!(f.len(), m.feature_dim());
    let norm: f32 = f.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    // The head applied by hand to the features gives the runner's logits.
    let p = r.classify("turn the lights on");
    let mut logits: Vec<f32> = (0..m.num_classes())
        .map(|c| {
            m.head_bias(c)
                + (0..f.len())
                    .map(|j| m.head_weight(c, j) * f[j])
                    .sum::<f32>()
        })
        .collect();
    hone::ops::log_softmax(&mut logits);
    for (a, b) in logits.iter().zip(p.log_probs) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn long_prompts_are_truncated_to_max_len() {
    let blob = tiny_transformer().unwrap();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let long = "play music ".repeat(200);
    assert_eq!(r.tokenize(&long), m.max_len());
    let p = r.classify(&long);
    assert!(p.label < m.num_classes());
}

#[test]
fn model_classify_shorthand_agrees_with_runner() {
    for (_, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let mut s1 = vec![0u32; m.scratch_words()];
        let mut s2 = vec![0u32; m.scratch_words()];
        let a = m.classify("stop the music please", &mut s1).unwrap();
        let (label, lp) = (a.label, a.log_probs.to_vec());
        let mut r = Runner::new(&m, &mut s2).unwrap();
        let b = r.classify("stop the music please");
        assert_eq!(label, b.label);
        assert_eq!(lp, b.log_probs);
        let mut tiny = [0u32; 3];
        assert!(matches!(
            m.classify("x", &mut tiny),
            Err(Error::ScratchTooSmall { .. })
        ));
    }
}
