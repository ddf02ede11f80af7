//! Shared by the adaptation tests: prompts, test models with a *trained* pre-trained head,
//! and an enrolment helper.
#![allow(dead_code)]

use hone::adapt::{Head, Optimizer, Reduction, Schedule, Store, TrainConfig, Validation};
use hone::format::OpsDesc;
use hone::ops::Op;
use hone::{Model, Runner};
use hone_build::testutil::{tiny_model, tiny_transformer, LABELS};
use hone_build::HostSteps;
use hone_build::{f32_bytes, frame};
use hone_reference::nll;

pub const NEW: usize = 4;
pub const F: usize = 32;
pub const N: usize = 48;

/// Prompts of the test models' four classes used to pre-train their heads.
pub const PRETRAIN: &[(&str, usize)] = &[
    ("turn the lights off", 0),
    ("lights off", 0),
    ("kitchen lights off please", 0),
    ("turn off the light", 0),
    ("turn the lights on", 1),
    ("lights on", 1),
    ("kitchen light on please", 1),
    ("turn on the lights", 1),
    ("play music", 2),
    ("play a song", 2),
    ("play the song please", 2),
    ("music please", 2),
    ("set a timer", 3),
    ("timer for 5 minutes", 3),
    ("set the timer for 10 minutes", 3),
    ("a timer please", 3),
];

/// Prompts of old classes seen neither in pre-training nor on the device.
pub const OLD_PROMPTS: &[&str] = &[
    "turn the kitchen lights off",
    "lights off please",
    "kitchen lights on",
    "turn the light on please",
    "play music please",
    "play the music",
    "set a timer for 3 minutes",
    "timer for 20 minutes",
    "the lights off",
    "play song",
];

pub const WEATHER: &[&str] = &[
    "what is the weather today",
    "weather today",
    "what is the weather",
    "weather please",
    "the weather today please",
    "is the weather on today",
];

pub const VOLUME: &[&str] = &[
    "volume up",
    "volume down",
    "volume up please",
    "turn the volume down",
    "volume down please",
    "turn volume up",
];

/// `blob` with its head replaced by weights `w` (`classes × d`) and biases `b`.
pub fn with_head(blob: &[u8], w: &[f32], b: &[f32]) -> Vec<u8> {
    with_head_and_labels(blob, w, b, None)
}

/// [`with_head`], optionally with new label names (one per row).
pub fn with_head_and_labels(
    blob: &[u8],
    w: &[f32],
    b: &[f32],
    labels: Option<&[String]>,
) -> Vec<u8> {
    let mut steps = HostSteps::new();
    let m = Model::load(blob, &mut steps).unwrap();
    let (wb, bb) = (f32_bytes(w), f32_bytes(b));
    let mut ops = Vec::new();
    for op in m.ops() {
        let op = match op {
            Op::Head(hone::ops::Head {
                input, normalize, ..
            }) => Op::Head(hone::ops::Head {
                input,
                weights: &wb,
                bias: &bb,
                normalize,
            }),
            other => other,
        };
        ops.extend(postcard::to_allocvec(&op).unwrap());
    }
    let mut desc = m.desc().clone();
    desc.ops = OpsDesc {
        count: desc.ops.count,
        bytes: &ops,
    };
    let table = labels.map(hone_build::str_table);
    if let Some((offsets, text)) = &table {
        desc.labels = hone::format::StrTableDesc { offsets, text };
    }
    frame(&postcard::to_allocvec(&desc).unwrap())
}

/// `blob` with a head trained (f64 reference, logistic regression by NLL) on the frozen
/// encoder's features of [`PRETRAIN`], so that old predictions mean something.
pub fn pretrained(blob: &[u8]) -> Vec<u8> {
    let mut steps = HostSteps::new();
    let m = Model::load(blob, &mut steps).unwrap();
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut s).unwrap();
    let (k, d) = (LABELS.len(), m.feature_dim());
    let feats: Vec<Vec<f64>> = PRETRAIN
        .iter()
        .map(|(p, _)| r.features(p).iter().map(|&x| f64::from(x)).collect())
        .collect();
    let problem = nll::Problem {
        w: vec![vec![0.0; d]; k],
        b: vec![0.0; k],
        first_trainable: 0,
        anchor: vec![vec![0.0; d]; k],
        anchor_b: vec![0.0; k],
        feats,
        labels: PRETRAIN.iter().map(|&(_, y)| y).collect(),
        weights: vec![1.0; PRETRAIN.len()],
        l2: 1e-3,
        smoothing: 0.0,
        reduction: nll::Reduction::Mean,
    };
    let adam = nll::Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let mut t = nll::Trainer::new(problem, adam, 0.0);
    let all: Vec<usize> = (0..PRETRAIN.len()).collect();
    for _ in 0..500 {
        t.step(&all, 0.05);
    }
    let w: Vec<f32> = t.problem.w.iter().flatten().map(|&x| x as f32).collect();
    let b: Vec<f32> = t.problem.b.iter().map(|&x| x as f32).collect();
    with_head(blob, &w, &b)
}

/// The two test models with pre-trained heads.
pub fn models() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("static", pretrained(&tiny_model().unwrap())),
        ("transformer", pretrained(&tiny_transformer().unwrap())),
    ]
}

/// Head + store with two enrolled labels (all but the last prompt of each) and the first
/// `old` of [`PRETRAIN`]'s prompts (every 4th, i.e. one per old class) as replayed examples.
pub fn enrolled<'m, 'a>(
    model: &'m Model<'a>,
    runner: &mut Runner,
    old: usize,
) -> (Head<'m, 'a, NEW, F>, Store<N, F>, [usize; 2]) {
    let mut head = Head::<NEW, F>::new(model).unwrap();
    let mut store = Store::<N, F>::new();
    let weather = head.enrol("weather").unwrap();
    let volume = head.enrol("volume").unwrap();
    for (c, prompts) in [(weather, WEATHER), (volume, VOLUME)] {
        for p in &prompts[..prompts.len() - 1] {
            assert_eq!(store.collect(runner, &head, p, c), Ok(None));
        }
    }
    for (p, y) in PRETRAIN.iter().step_by(4).take(old) {
        store.collect(runner, &head, p, *y).unwrap();
    }
    assert_eq!(head.imprint_all(&store), 2);
    (head, store, [weather, volume])
}

pub fn config(opt: Optimizer, validation: Validation) -> TrainConfig {
    TrainConfig {
        optimizer: opt,
        lr: 0.05,
        schedule: Schedule::Constant,
        epochs: 40,
        batch: 4,
        l2: 0.01,
        reduction: Reduction::Mean,
        class_balanced: true,
        label_smoothing: 0.0,
        clip_norm: 5.0,
        seed: 7,
        validation,
        max_norm: 0.0,
    }
}
