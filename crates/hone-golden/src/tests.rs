use alloc::vec;
use hone_build::HostSteps;

use super::*;

fn sample() -> alloc::vec::Vec<u8> {
    let x = i8_bytes(&[1, -2, 3]);
    let w = i8_bytes(&[4, 5, 6, -7, 8, -9]);
    let acc = i32_bytes(&[12, -50]);
    let tokens = u32_bytes(&[101, 7, 102]);
    let logits = f32_bytes(&[0.5, -1.25, f32::NAN]);
    write(
        0xDEAD_BEEF,
        &[
            Vector::Matvec {
                x: &x,
                w: &w,
                acc: &acc,
            },
            Vector::Classify {
                prompt: "turn on the lights",
                tokens: &tokens,
                features: &logits,
                log_probs: &logits,
                label: 1,
            },
        ],
    )
    .expect("encodes")
}

#[test]
fn round_trip() {
    let bytes = sample();
    let g = Golden::parse(&bytes).expect("parses");
    assert_eq!(g.header.model_crc, 0xDEAD_BEEF);
    assert_eq!(g.header.count, 2);
    let v: vec::Vec<_> = g.vectors().collect::<Result<_, _>>().expect("decodes");
    assert_eq!(v.len(), 2);
    match &v[0] {
        Vector::Matvec { acc, .. } => assert_eq!(check_i32(acc, &[12, -50]), Ok(())),
        other => panic!("unexpected {other:?}"),
    }
    match &v[1] {
        Vector::Classify {
            prompt,
            tokens,
            features,
            log_probs: logits,
            label,
        } => {
            assert_eq!(features, logits);
            assert_eq!(*prompt, "turn on the lights");
            assert_eq!(check_u32(tokens, [101, 7, 102].into_iter()), Ok(()));
            // An expected NaN accepts a NaN of either sign.
            assert_eq!(check_f32(logits, &[0.5, -1.25, -f32::NAN]), Ok(()));
            assert_eq!(*label, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn f32_compared_by_bits() {
    let e = f32_bytes(&[0.0, 1.0]);
    assert_eq!(
        check_f32(&e, &[-0.0, 1.0]),
        Err(Mismatch::Value {
            index: 0,
            expected: 0,
            actual: 0x8000_0000
        })
    );
    assert_eq!(
        check_f32(&e, &[0.0, f32::from_bits(1.0f32.to_bits() + 1)]),
        Err(Mismatch::Value {
            index: 1,
            expected: 1.0f32.to_bits(),
            actual: 1.0f32.to_bits() + 1
        })
    );
    // A computed NaN never matches a number.
    assert!(!f32_matches(1.0f32.to_bits(), f32::NAN));
    assert_eq!(
        check_f32(&e, &[0.0]),
        Err(Mismatch::Length {
            expected: 2,
            actual: 1
        })
    );
}

#[test]
fn corrupt_files_are_errors_not_panics() {
    let bytes = sample();
    assert_eq!(Golden::parse(b"XXXX").err(), Some(Error::Decode));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(Golden::parse(&bad).err(), Some(Error::BadMagic));
    // Every truncation either fails to parse or yields an error, never a panic.
    for n in 0..bytes.len() {
        if let Ok(g) = Golden::parse(&bytes[..n]) {
            assert!(g.vectors().any(|r| r.is_err()), "truncated at {n}");
        }
    }
    let mut extra = bytes.clone();
    extra.push(0);
    let g = Golden::parse(&extra).expect("header ok");
    assert_eq!(g.vectors().last(), Some(Err(Error::TrailingBytes)));
}

#[cfg(feature = "generate")]
#[test]
fn generated_vectors_match_a_second_host_run() {
    use hone::Runner;
    let blob = hone_build::testutil::tiny_transformer().expect("test model");
    let prompts = ["turn the lights off", "", "play music please", "日本語 !!!"];
    let cases = generate::classify(&blob, &prompts).expect("generate");
    let vectors: alloc::vec::Vec<Vector<'_>> = cases.iter().map(|c| c.vector()).collect();
    let bytes = write(model_crc(&blob), &vectors).expect("encode");
    let g = Golden::parse(&bytes).expect("parse");
    assert_eq!(g.header.model_crc, model_crc(&blob));

    let mut steps = HostSteps::new();
    let model = hone::Model::load(&blob, &mut steps).expect("model");
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut r = Runner::new(&model, &mut scratch).expect("runner");
    for (v, prompt) in g.vectors().zip(prompts) {
        let Ok(Vector::Classify {
            prompt: p,
            tokens,
            features,
            log_probs,
            label,
        }) = v
        else {
            panic!("not a classify vector");
        };
        assert_eq!(p, prompt);
        assert_eq!(check_f32(features, r.features(prompt)), Ok(()));
        let ids = r.tokens().iter().map(|&t| u32::from(t));
        assert_eq!(
            check_u32(tokens, ids.collect::<alloc::vec::Vec<_>>().into_iter()),
            Ok(())
        );
        let pred = r.classify(prompt);
        assert_eq!(check_f32(log_probs, pred.log_probs), Ok(()));
        assert_eq!(label as usize, pred.label);
        assert!(!tokens.is_empty() || prompt.is_empty());
    }
}

#[cfg(feature = "generate")]
#[test]
fn prompts_file() {
    let text = "# comment\nturn it off\n\n  \n<empty>\n  spaced  \n";
    assert_eq!(
        generate::parse_prompts(text),
        ["turn it off", "", "  spaced  "]
    );
}

/// The device runs the session at the model's exact feature length, the host at a bucket:
/// the results must not depend on the capacity.
#[test]
fn adaptation_results_do_not_depend_on_feature_capacity() {
    use crate::generate::Script;
    use hone::adapt::AdaptRam;
    let blob = hone_build::testutil::tiny_model().expect("test model");
    let mut steps = HostSteps::new();
    let model = hone::Model::load(&blob, &mut steps).expect("valid");
    assert_eq!(model.feature_dim(), 12);
    let enrol = [
        ("weather", "what is the weather today"),
        ("weather", "weather please"),
        ("weather", "the weather today please"),
        ("weather", "what is the weather"),
        ("weather", "weather today"),
        ("volume", "volume up"),
        ("volume", "turn the volume down"),
        ("volume", "volume up please"),
        ("volume", "volume down"),
        ("volume", "volume down please"),
    ];
    let eval = [("weather", "the weather"), ("volume", "volume down please")];
    let script = || Script {
        model: &model,
        enrol: &enrol,
        epochs: 5,
        seed: 7,
        eval: &eval,
    };
    let at16 = script().run(&mut AdaptRam::<16>::new()).expect("adapts");
    let at64 = script().run(&mut AdaptRam::<64>::new()).expect("adapts");
    assert_eq!(at16.len(), enrol.len() + 1 + 2 * eval.len() + 1);
    assert_eq!(at16, at64);
    // The host's own choice (16) gives the same.
    let chosen = crate::generate::adapt(&blob, &enrol, 5, 7, &eval).expect("adapts");
    assert_eq!(chosen, at16);
}
