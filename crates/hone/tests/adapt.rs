//! Adaptation building blocks: the trainable head, the example store, typed errors,
//! configuration checks, class weights and the RAM figure.

mod adapt_common;

use adapt_common::*;
use hone::adapt::{
    ram_bytes, ram_bytes_for_dim, AdaptError, AdaptRam, Calibration, Head, Optimizer, Session,
    Setting, Store, TrainConfig, Trainer, Validation, Workspace, FEATURE_BUCKETS,
};
use hone::{Model, Runner};
use hone_build::testutil::{tiny_model, tiny_transformer, LABELS};
use hone_build::HostSteps;

#[test]
fn an_old_only_head_classifies_exactly_like_the_runner() {
    for (name, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let mut s = vec![0u32; m.scratch_words()];
        let mut r = Runner::new(&m, &mut s).unwrap();
        let head = Head::<NEW, F>::new(&m).unwrap();
        let mut out = [0.0f32; 8];
        for p in OLD_PROMPTS.iter().chain(WEATHER) {
            let h: Vec<f32> = r.features(p).to_vec();
            let label = head.classify(&h, &mut out);
            let pred = r.classify(p);
            assert_eq!(label, pred.label, "{name} {p}");
            for (a, b) in out[..m.num_classes()].iter().zip(pred.log_probs) {
                assert_eq!(a.to_bits(), b.to_bits(), "{name} {p}");
            }
        }
    }
}

#[test]
fn imprinted_rows_are_scaled_class_means_with_calibrated_bias() {
    for (name, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let mut s = vec![0u32; m.scratch_words()];
        let mut r = Runner::new(&m, &mut s).unwrap();
        let (mut head, store, [weather, _]) = enrolled(&m, &mut r, 4);
        let (norm, bias) = head.old_row_stats();
        let d = m.feature_dim();
        let feats: Vec<Vec<f32>> = store
            .iter()
            .filter(|e| usize::from(e.label) == weather)
            .map(|e| e.feat[..d].iter().map(|x| x.to_f32()).collect())
            .collect();
        let mut mean = vec![0.0f32; d];
        for h in &feats {
            for (mm, x) in mean.iter_mut().zip(h) {
                *mm += x;
            }
        }
        let mn = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
        let k = weather - m.num_classes();
        for cal in [Calibration::OldNorm, Calibration::Margin(1.0)] {
            head.imprint_with(weather, &store, cal).unwrap();
            let (row, b, anchor) = head.new_row(k).unwrap();
            let row_norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert_eq!(b, bias);
            for (w, a) in row.iter().zip(anchor) {
                assert_eq!(*w, a.to_f32());
            }
            // Direction: the mean of the class's features (up to f16 rounding).
            let cos: f32 = row.iter().zip(&mean).map(|(a, b)| a * b).sum::<f32>() / (row_norm * mn);
            assert!(cos > 0.9999, "{name} cos {cos}");
            let margin = feats
                .iter()
                .map(|h| {
                    let best_old = (0..m.num_classes())
                        .map(|c| head.logit(c, h))
                        .fold(f32::NEG_INFINITY, f32::max);
                    head.logit(weather, h) - best_old
                })
                .sum::<f32>()
                / feats.len() as f32;
            match cal {
                Calibration::OldNorm => {
                    assert!(
                        (row_norm - norm).abs() < 2e-3 * norm,
                        "{row_norm} vs {norm}"
                    )
                }
                _ => {
                    // Either capped at the old norm with a larger margin, or exactly 1 nat.
                    assert!(row_norm <= norm * (1.0 + 1e-3));
                    assert!(
                        (margin - 1.0).abs() < 1e-2 || (row_norm > norm * 0.999 && margin > 1.0),
                        "{name}: margin {margin}, norm {row_norm} of {norm}"
                    );
                }
            }
        }
    }
}

#[test]
fn prototypes_are_old_rows_rescaled() {
    let blob = pretrained(&tiny_model().unwrap());
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut head = Head::<NEW, F>::new(&m).unwrap();
    let d = m.feature_dim();
    let mut p = [0.0f32; F];
    for c in 0..m.num_classes() {
        head.prototype(c, 2.5, &mut p).unwrap();
        let norm = p[..d].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 2.5).abs() < 1e-5);
        let row: Vec<f32> = (0..d).map(|f| m.head_weight(c, f)).collect();
        let rn = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cos = row.iter().zip(&p).map(|(a, b)| a * b).sum::<f32>() / (rn * norm);
        assert!(cos > 0.99999);
    }
    let new = head.enrol("new").unwrap();
    assert_eq!(
        head.prototype(new, 1.0, &mut p),
        Err(AdaptError::UnknownLabel)
    );
    assert_eq!(
        head.prototype(0, 1.0, &mut p[..d - 1]),
        Err(AdaptError::UnknownLabel)
    );
}

#[test]
fn enrolment_errors_are_typed() {
    let blob = pretrained(&tiny_transformer().unwrap());
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let mut head = Head::<2, F>::new(&m).unwrap();
    let mut store = Store::<4, F>::new();
    assert_eq!(head.enrol(LABELS[0]), Err(AdaptError::DuplicateLabel));
    assert_eq!(head.enrol(""), Err(AdaptError::BadLabelName));
    assert_eq!(head.enrol(&"x".repeat(33)), Err(AdaptError::BadLabelName));
    let a = head.enrol("a").unwrap();
    assert_eq!(head.class_id("a"), Ok(a));
    head.enrol("b").unwrap();
    assert_eq!(head.enrol("c"), Err(AdaptError::NoCapacity));
    assert_eq!(head.class_id("c"), Err(AdaptError::NoCapacity));
    assert_eq!(
        store.collect(&mut r, &head, "", a),
        Err(AdaptError::EmptyPrompt)
    );
    assert_eq!(
        store.collect(&mut r, &head, "   ", a),
        Err(AdaptError::EmptyPrompt)
    );
    assert_eq!(
        store.collect(&mut r, &head, "volume up", head.num_classes()),
        Err(AdaptError::UnknownLabel)
    );
    assert_eq!(store.add(0, &[f32::NAN]), Err(AdaptError::BadFeatures));
    assert_eq!(store.add(0, &[1e6]), Err(AdaptError::BadFeatures)); // f16 overflow
    assert_eq!(store.add(0, &[0.0; F + 1]), Err(AdaptError::BadFeatures));
    assert_eq!(head.imprint(a, &store), Err(AdaptError::NoExamples));
    assert_eq!(head.imprint(0, &store), Err(AdaptError::UnknownLabel));
    assert!(store.is_empty());
    // A model wider than F is refused.
    assert_eq!(
        Head::<2, 8>::new(&m).err(),
        Some(AdaptError::FeatureDim {
            model: m.feature_dim() as u16,
            capacity: 8
        })
    );
}

#[test]
fn forgetting_a_class_moves_the_later_ones_down() {
    let blob = pretrained(&tiny_transformer().unwrap());
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let (mut head, mut store, [weather, volume]) = enrolled(&m, &mut r, 4);
    let old = head.old_classes();
    let (vw, vb, va) = head.new_row(volume - old).unwrap();
    let (vw, vb, va) = (vw.to_vec(), vb, va.to_vec());
    let vprior = head.prior_bias(volume - old);
    let olds: Vec<u16> = store
        .iter()
        .filter(|e| usize::from(e.label) < old)
        .map(|e| e.label)
        .collect();
    let volume_feats: Vec<_> = store
        .iter()
        .filter(|e| usize::from(e.label) == volume)
        .map(|e| e.feat)
        .collect();
    // Pre-trained classes and ids past the enrolled ones cannot be forgotten.
    assert_eq!(head.forget(0), Err(AdaptError::UnknownLabel));
    assert_eq!(
        head.forget(head.num_classes()),
        Err(AdaptError::UnknownLabel)
    );
    assert_eq!(head.forget(weather), Ok(()));
    assert_eq!(store.forget(weather as u16), WEATHER.len() - 1);
    // `volume` now has `weather`'s id, with its row, bias, prior and examples.
    assert_eq!((head.num_new(), head.label(weather)), (1, Some("volume")));
    assert_eq!(head.find("weather"), None);
    let (w, b, a) = head.new_row(weather - old).unwrap();
    assert_eq!((w, b, a), (&vw[..], vb, &va[..]));
    assert_eq!(head.prior_bias(weather - old), vprior);
    let moved: Vec<_> = store
        .iter()
        .filter(|e| usize::from(e.label) == weather)
        .map(|e| e.feat)
        .collect();
    assert_eq!(moved, volume_feats);
    let kept: Vec<u16> = store
        .iter()
        .filter(|e| usize::from(e.label) < old)
        .map(|e| e.label)
        .collect();
    assert_eq!(kept, olds);
    assert!(store
        .iter()
        .all(|e| usize::from(e.label) < head.num_classes()));
    // The freed slot is blank for the next enrolment.
    let next = head.enrol("alarm").unwrap();
    assert_eq!(next, volume);
    let (w, b, _) = head.new_row(next - old).unwrap();
    assert!(w.iter().all(|&x| x == 0.0) && b == 0.0);
}

#[test]
fn a_session_enrols_only_stored_examples_and_forgets_enrolled_labels_only() {
    let blob = pretrained(&tiny_model().unwrap());
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let mut ram = Box::new(AdaptRam::<F>::new());
    let mut session = Session::new(&m, &mut ram).unwrap();
    for p in WEATHER {
        session.enrol(&mut r, p, "weather").unwrap();
    }
    session.enrol(&mut r, VOLUME[0], "volume").unwrap();
    session.enrol(&mut r, PRETRAIN[0].0, LABELS[0]).unwrap();
    // A refused prompt enrols nothing.
    assert_eq!(
        session.enrol(&mut r, "  ", "ghost"),
        Err(AdaptError::EmptyPrompt)
    );
    assert_eq!(session.head.find("ghost"), None);
    assert_eq!(session.forget(LABELS[0]), Err(AdaptError::UnknownLabel));
    assert_eq!(session.forget("nothing"), Err(AdaptError::UnknownLabel));
    assert_eq!(session.forget("weather"), Ok(WEATHER.len()));
    assert_eq!(session.forget("weather"), Err(AdaptError::UnknownLabel));
    assert_eq!(session.num_classes(), m.num_classes() + 1);
    assert_eq!(session.store.len(), 2);
    assert_eq!(session.store.count(m.num_classes() as u16), 1);
}

#[test]
fn top_is_the_classified_class_with_its_probability() {
    for (name, blob) in models() {
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let mut s = vec![0u32; m.scratch_words()];
        let mut r = Runner::new(&m, &mut s).unwrap();
        let (head, _, _) = enrolled(&m, &mut r, 4);
        let mut out = [0.0f32; 8];
        let mut seen = std::collections::BTreeSet::new();
        for p in OLD_PROMPTS.iter().chain(WEATHER).chain(VOLUME) {
            let h = r.features(p).to_vec();
            let c = head.classify(&h, &mut out);
            let (top, prob) = head.top(&h);
            assert_eq!(top, c, "{name} {p}");
            let want = out[c].exp();
            assert!((prob - want).abs() < 1e-5, "{name} {p}: {prob} vs {want}");
            seen.insert(c);
        }
        assert!(seen.len() >= 2, "{name}: {seen:?}");
    }
}

#[test]
fn a_full_store_evicts_the_oldest_example_of_the_largest_class() {
    let mut s = Store::<6, 2>::new();
    for (label, x) in [
        (0u16, 0.0f32),
        (0, 1.0),
        (0, 2.0),
        (1, 3.0),
        (1, 4.0),
        (2, 5.0),
    ] {
        assert_eq!(s.add(label, &[x, 0.0]), Ok(None));
    }
    // Class 0 is largest: its oldest example (0.0) goes.
    assert_eq!(s.add(2, &[6.0, 0.0]), Ok(Some(0)));
    assert_eq!((s.count(0), s.count(1), s.count(2)), (2, 2, 2));
    assert_eq!(s.get(0).unwrap().feat[0].to_f32(), 1.0);
    // Now all have 2; the incoming class counts one more, so it loses its own oldest.
    assert_eq!(s.add(1, &[7.0, 0.0]), Ok(Some(1)));
    assert_eq!((s.count(0), s.count(1), s.count(2)), (2, 2, 2));
    assert!(s.iter().all(|e| e.feat[0].to_f32() != 3.0));
    // A flood of one class never pushes the others below their share.
    for i in 0..20 {
        s.add(3, &[100.0 + i as f32, 0.0]).unwrap();
    }
    assert_eq!(s.len(), 6);
    for c in 0..4 {
        assert!(s.count(c) >= 1, "class {c} evicted entirely");
    }
    // The newest example of the flooding class is kept.
    assert_eq!(s.get(5).unwrap().feat[0].to_f32(), 119.0);
}

#[test]
fn bad_configurations_are_refused() {
    let blob = pretrained(&tiny_model().unwrap());
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let (mut head, store, _) = enrolled(&m, &mut r, 4);
    let mut ws = Box::new(Workspace::<NEW, F, N, 1>::new());
    let base = config(Optimizer::Sgd { momentum: 0.9 }, Validation::None);
    // Each refusal names the setting at fault.
    for (cfg, setting) in [
        (
            TrainConfig {
                optimizer: Optimizer::ADAM, // needs 2 slots, workspace has 1
                ..base
            },
            Setting::OptimizerSlots,
        ),
        (TrainConfig { lr: 0.0, ..base }, Setting::LearningRate),
        (
            TrainConfig {
                lr: f32::NAN,
                ..base
            },
            Setting::LearningRate,
        ),
        (TrainConfig { batch: 0, ..base }, Setting::Batch),
        (TrainConfig { batch: 33, ..base }, Setting::Batch),
        (
            TrainConfig {
                epochs: 129,
                ..base
            },
            Setting::Epochs,
        ),
        (
            TrainConfig {
                label_smoothing: 1.0,
                ..base
            },
            Setting::LabelSmoothing,
        ),
        (TrainConfig { l2: -1.0, ..base }, Setting::L2),
        (
            TrainConfig {
                max_norm: -1.0,
                ..base
            },
            Setting::MaxNorm,
        ),
        (
            TrainConfig {
                max_norm: f32::NAN,
                ..base
            },
            Setting::MaxNorm,
        ),
        (
            TrainConfig {
                validation: Validation::KFold { folds: 1 },
                ..base
            },
            Setting::Validation,
        ),
    ] {
        let err = Trainer::new(&mut head, &store, &mut ws, cfg).err();
        assert_eq!(err, Some(AdaptError::BadConfig(setting)), "{cfg:?}");
    }
    assert_eq!(
        AdaptError::BadConfig(Setting::Batch).to_string(),
        "training setting out of range: batch size (1 to 32)"
    );
    // A hold-out with no held-out example (every 10th of ≤ 6 per class) is refused, and the
    // head is left as it was.
    let before = head.rows().clone();
    let cfg = TrainConfig {
        validation: Validation::Holdout { every: 10 },
        ..base
    };
    let mut tr = Trainer::new(&mut head, &store, &mut ws, cfg).unwrap();
    assert_eq!(tr.train().err(), Some(AdaptError::TooFewExamples));
    assert_eq!(head.rows(), &before);
}

#[test]
fn class_balanced_weights_equalise_classes() {
    let blob = pretrained(&tiny_model().unwrap());
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let (mut head, store, _) = enrolled(&m, &mut r, 4);
    let mut ws = Box::new(Workspace::<NEW, F, N, 2>::new());
    let tr = Trainer::new(
        &mut head,
        &store,
        &mut ws,
        config(Optimizer::ADAM, Validation::None),
    )
    .unwrap();
    let n = store.len();
    let total: f32 = (0..n).map(|i| tr.weight(i)).sum();
    assert!((total - n as f32).abs() < 1e-4);
    let per_class = |c: u16| -> f32 {
        (0..n)
            .filter(|&i| store.get(i).unwrap().label == c)
            .map(|i| tr.weight(i))
            .sum()
    };
    let labels: Vec<u16> = store.iter().map(|e| e.label).collect();
    let first = per_class(labels[0]);
    for &c in &labels {
        assert!((per_class(c) - first).abs() < 1e-4);
    }
}

/// RAM of adaptation (head rows, optimiser state, store, workspace), reported for 16 new
/// classes × 10 examples each.
#[test]
fn adaptation_ram_is_reported_and_within_budget() {
    use std::mem::size_of;
    let adam_128 = ram_bytes::<16, 128, 160, 2>();
    let sgd_128 = ram_bytes::<16, 128, 160, 1>();
    let adam_64 = ram_bytes::<16, 64, 160, 2>();
    let sgd_64 = ram_bytes::<16, 64, 160, 1>();
    eprintln!(
        "adapt RAM, 16 new classes x 10 examples: F=128 Adam {adam_128} B, SGD+momentum \
         {sgd_128} B; F=64 Adam {adam_64} B, SGD+momentum {sgd_64} B"
    );
    assert_eq!(
        adam_128,
        size_of::<hone::adapt::NewRows<16, 128>>()
            + size_of::<Store<160, 128>>()
            + size_of::<Workspace<16, 128, 160, 2>>()
    );
    // Adam's second slot costs exactly one f32 per trainable parameter.
    assert_eq!(adam_128 - sgd_128, 16 * (128 + 1) * 4);
    // The store dominates: 160 f16 feature vectors.
    assert!(size_of::<Store<160, 128>>() >= 160 * 128 * 2);
    assert!(adam_64 <= 48 * 1024, "{adam_64}");
    // The per-model figure (`hone inspect`) picks the smallest feature bucket that fits.
    assert_eq!(ram_bytes_for_dim(128, 2), Some((128, adam_128)));
    assert_eq!(ram_bytes_for_dim(100, 1), Some((128, sgd_128)));
    assert_eq!(ram_bytes_for_dim(64, 2), Some((64, adam_64)));
    assert_eq!(
        ram_bytes_for_dim(12, 0),
        Some((16, ram_bytes::<16, 16, 160, 0>()))
    );
    assert_eq!(
        ram_bytes_for_dim(FEATURE_BUCKETS[FEATURE_BUCKETS.len() - 1] + 1, 2),
        None
    );
    for w in FEATURE_BUCKETS.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        assert_eq!(ram_bytes_for_dim(lo + 1, 2).map(|r| r.0), Some(hi));
        assert!(ram_bytes_for_dim(hi, 2).unwrap().1 > ram_bytes_for_dim(lo, 2).unwrap().1);
    }
}

/// The model of the on-device enrolment benchmark (`firmware/bench`, binary `adapt-bench`):
/// the benchmark's stand-in encoder (`testutil::transformer(64, 4, 256, 7)`, 64 features)
/// with a 135-class head, as after pre-training on 9 CLINC domains. Written to
/// `$HONE_ADAPT_BENCH_MODEL` when that is set.
#[test]
fn enrolment_benchmark_model_is_a_135_class_64_feature_model() {
    let base = hone_build::testutil::transformer(64, 4, 256, 7).unwrap();
    let mut steps = HostSteps::new();
    let m = Model::load(&base, &mut steps).unwrap();
    let d = m.feature_dim();
    let mut rng = hone_build::testutil::XorShift(135);
    let w = rng.vec(135 * d, 0.5);
    let b = rng.vec(135, 0.1);
    let labels: Vec<String> = (0..135).map(|i| format!("intent_{i:03}")).collect();
    let blob = with_head_and_labels(&base, &w, &b, Some(&labels));
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    assert_eq!((m.num_classes(), m.feature_dim()), (135, 64));
    assert_eq!(m.labels().get(134), Some("intent_134"));
    assert_eq!(m.head_weight(134, 63), w[135 * 64 - 1]);
    if let Some(path) = std::env::var_os("HONE_ADAPT_BENCH_MODEL") {
        std::fs::write(path, &blob).unwrap();
    }
}
