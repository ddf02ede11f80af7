//! A validated model never produces NaN or infinity (issue: trust). Floats of valid blobs are
//! replaced by extreme, tiny, non-finite or random values (the checksum recomputed, so only
//! the load-time bounds stand between them and the forward pass); every blob that still
//! loads must give finite features and log-probabilities on every prompt.

use hone::format::{ModelDesc, HEADER_LEN, TENSOR_REC_LEN};
use hone::{Error, Invalid, Model, Runner};
use hone_build::testutil::{tiny_model, tiny_transformer};
use hone_build::{frame_version, HostSteps};
use proptest::prelude::*;

const PROMPTS: [&str; 6] = [
    "turn the lights off",
    "",
    "what's the weather like in zürich tomorrow?",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "play play play play play play play play play play play play play play",
    "日本語 ⚡ 12345 !!!",
];

/// Values a float parameter is replaced with: the bounds' edges and far beyond them.
const EXTREMES: [f32; 16] = [
    1e38,
    -1e38,
    f32::MAX,
    1e20,
    1e7,
    65_537.0,
    1e-13,
    1e-30,
    1e-40,
    0.0,
    -0.0,
    -1.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    1e6,
];

struct Case {
    version: u16,
    payload: Vec<u8>,
    /// Offsets of 4-byte windows that hold a plausible float (most are real parameters).
    floats: Vec<usize>,
    /// Offsets of the tensor scales.
    scales: Vec<usize>,
}

fn case(blob: Vec<u8>) -> Case {
    let version = u16::from_le_bytes([blob[4], blob[5]]);
    let payload = blob[HEADER_LEN..].to_vec();
    let floats = (0..payload.len().saturating_sub(3))
        .filter(|&i| {
            let x = f32::from_le_bytes(payload[i..i + 4].try_into().unwrap());
            x.is_finite() && (1e-8..=1e4).contains(&x.abs())
        })
        .collect();
    let desc: ModelDesc<'_> = postcard::from_bytes(&payload).unwrap();
    let table = desc.tensors.as_ptr() as usize - payload.as_ptr() as usize;
    let scales = (0..desc.tensors.len() / TENSOR_REC_LEN)
        .map(|t| table + t * TENSOR_REC_LEN + 8)
        .collect();
    Case {
        version,
        payload,
        floats,
        scales,
    }
}

fn cases() -> &'static [Case; 3] {
    static CASES: std::sync::OnceLock<[Case; 3]> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/hone-intent/model.hone"
        );
        [
            case(tiny_model().unwrap()),
            case(tiny_transformer().unwrap()),
            case(std::fs::read(shipped).expect("shipped model")),
        ]
    })
}

/// Loads `blob`; when it loads, asserts every output on every prompt is finite.
fn assert_finite_if_valid(blob: &[u8]) -> bool {
    let mut steps = HostSteps::new();
    let Ok(model) = Model::load(blob, &mut steps) else {
        return false;
    };
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = Runner::new(&model, &mut scratch).unwrap();
    for p in PROMPTS {
        let features = runner.features(p);
        assert!(
            features.iter().all(|x| x.is_finite()),
            "non-finite feature for {p:?}"
        );
        let pred = runner.classify(p);
        assert!(
            pred.log_probs.iter().all(|x| x.is_finite() && *x <= 0.0),
            "non-finite log-probability for {p:?}: {:?}",
            pred.log_probs
        );
    }
    true
}

/// Where a mutation writes its value.
#[derive(Debug, Clone, Copy)]
enum Site {
    /// The `i`-th tensor scale (modulo their number).
    Scale(usize),
    /// The `i`-th plausible float (modulo their number) and the `run − 1` after it: a whole
    /// stretch of weights, so that sums can overflow too.
    Floats(usize, usize),
}

/// Writes each `(site, value)` into a copy of the case's payload; recomputes the checksum.
fn mutate(c: &Case, at: &[(Site, f32)]) -> Vec<u8> {
    let mut payload = c.payload.clone();
    for &(site, v) in at {
        let offsets = match site {
            Site::Scale(i) => vec![c.scales[i % c.scales.len()]],
            Site::Floats(i, run) => (0..run)
                .map(|k| c.floats[(i + k) % c.floats.len()])
                .collect(),
        };
        for o in offsets {
            payload[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    frame_version(&payload, c.version)
}

fn site() -> impl Strategy<Value = Site> {
    prop_oneof![
        any::<usize>().prop_map(Site::Scale),
        (any::<usize>(), 1usize..64).prop_map(|(i, run)| Site::Floats(i, run)),
    ]
}

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => prop::sample::select(EXTREMES.to_vec()),
        1 => any::<u32>().prop_map(f32::from_bits),
        1 => -1e6f32..1e6f32,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn mutated_floats_never_give_non_finite_outputs(
        which in 0usize..3,
        at in prop::collection::vec((site(), value()), 1..4),
    ) {
        let c = &cases()[which];
        assert_finite_if_valid(&mutate(c, &at));
    }
}

/// The mutation reaches the forward pass: many mutated blobs still load (so the finiteness
/// assertions run), and unmutated blobs give finite outputs.
#[test]
fn mutations_are_exercised() {
    for c in cases() {
        assert!(c.floats.len() > 10, "too few float candidates");
        assert!(assert_finite_if_valid(&frame_version(
            &c.payload, c.version
        )));
        let loaded = (0..200)
            .filter(|&i| {
                let at = [(Site::Floats(i * 7919, 1), 0.5 + i as f32)];
                assert_finite_if_valid(&mutate(c, &at))
            })
            .count();
        assert!(loaded > 20, "only {loaded} of 200 mutated blobs loaded");
    }
}

/// The defect that motivated the bounds: a finite but huge tensor scale (1e38) loaded and
/// produced NaN features; it is now a typed error naming the tensor table.
#[test]
fn huge_tensor_scale_is_refused() {
    for c in cases() {
        for (rec, scale) in [(0, 1e38f32), (1, f32::MAX), (0, 1e-20)] {
            let blob = mutate(c, &[(Site::Scale(rec), scale)]);
            assert_eq!(
                Model::load(&blob, &mut HostSteps::new()).err(),
                Some(Error::Invalid {
                    op: u16::MAX,
                    reason: Invalid::TensorRecord
                }),
                "scale {scale} of tensor {rec}"
            );
        }
    }
}
