//! Host benchmarks of the runtime (`cargo bench -p hone-rt --bench runtime`): tokenizer, forward
//! pass and one adaptation epoch, on the stand-in transformer that `hone bench` also uses when
//! no shipped model exists (`hone_build::testutil::transformer(64, 4, 256, 7)`).
//!
//! Cortex-M4 instruction counts come from the QEMU benchmark firmware (`hone bench`).

use hone_build::HostSteps;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use hone::adapt::{Head, Store, TrainConfig, Trainer, Validation, Workspace};
use hone::{Model, Runner};
use hone_build::testutil;

const PROMPTS: [&str; 4] = [
    "play some jazz",
    "what is the weather like tomorrow in boston",
    "set a reminder to call mom at six",
    "can you tell me a joke about cats and dogs while i wait for the bus",
];

/// Enrolment prompts: two new intents, five prompts each.
const ENROL: [(&str, [&str; 5]); 2] = [
    (
        "weather",
        [
            "what is the weather",
            "weather today",
            "will it rain tomorrow",
            "is it cold outside",
            "forecast for the weekend",
        ],
    ),
    (
        "music",
        [
            "play some music",
            "put on a song",
            "play jazz",
            "next track please",
            "turn the music up",
        ],
    ),
];

fn runtime(c: &mut Criterion) {
    let blob = testutil::transformer(64, 4, 256, 7).expect("stand-in model");
    let mut steps = HostSteps::new();
    let model = Model::load(&blob, &mut steps).expect("valid model");
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = Runner::new(&model, &mut scratch).expect("scratch");

    c.bench_function("tokenize (4 prompts)", |b| {
        b.iter(|| {
            for p in PROMPTS {
                black_box(runner.tokenize(black_box(p)));
            }
        })
    });
    c.bench_function("forward/classify (4 prompts)", |b| {
        b.iter(|| {
            for p in PROMPTS {
                black_box(runner.classify(black_box(p)).label);
            }
        })
    });

    // One adaptation epoch over 10 cached examples (features computed once, as on a device).
    let mut head = Head::<4, 64>::new(&model).expect("head");
    let mut store = Store::<32, 64>::new();
    for (name, prompts) in ENROL {
        let y = head.enrol(name).expect("enrol");
        for p in prompts {
            store.collect(&mut runner, &head, p, y).expect("collect");
        }
    }
    head.imprint_all(&store);
    let start = head.rows().clone();
    let mut ws = Box::new(Workspace::<4, 64, 32, 2>::new());
    let cfg = TrainConfig {
        epochs: 1,
        validation: Validation::None,
        ..TrainConfig::default()
    };
    c.bench_function("adaptation epoch (10 examples, 2 new classes)", |b| {
        b.iter(|| {
            head.set_rows(start.clone()).expect("rows");
            let report = Trainer::new(&mut head, &store, &mut ws, cfg)
                .expect("config")
                .train()
                .expect("train");
            black_box(report.steps)
        })
    });
}

criterion_group!(benches, runtime);
criterion_main!(benches);
