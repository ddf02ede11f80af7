//! Instructions on Cortex-M4 (QEMU `-icount`) of on-device enrolment (`hone::adapt`) with the
//! embedded model (`HONE_FW_MODEL`): 15 new intents × 5 cached feature vectors, imprinted and
//! fine-tuned with the default [`TrainConfig`] (Adam, 30 epochs of batches of 8, 3-fold
//! cross-validation of the epoch count, then training on all examples), against one forward pass (`Runner::classify`,
//! averaged over [`PROMPTS`]).
//!
//! Prints `metric adapt_<name>=<value>`: `forward` (instructions per classified prompt),
//! `imprint`, `prepare` (per-example caches of the frozen rows), `train`, `total`, `steps`,
//! `forward_equiv_x100` (total ÷ forward × 100) and `ram_bytes` (head RAM part, store and
//! workspace); after training, for a breakdown, `one_step` (one optimisation step on a batch
//! of 8) and `one_val` (one held-out NLL pass over the 25 examples of fold 0 of 3). The feature vectors are synthetic (5 noisy copies of a random class centre):
//! the cost does not depend on their values.
//!
//! Run (the model: the kernel bench's stand-in encoder with a 135-class head):
//!
//! ```text
//! HONE_ADAPT_BENCH_MODEL=/tmp/enrol.hone cargo test -p hone-rt --test adapt enrolment_benchmark
//! cd firmware/bench && HONE_FW_MODEL=/tmp/enrol.hone cargo run --release --bin adapt-bench
//! ```
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use hone::adapt::{ram_bytes, Head, Store, TrainConfig, Trainer, Workspace};
use hone::{Model, Runner};
use hone_fw::app::metric;
use hone_fw::blobs::Steps;
use hone_fw::measure::{Meter, SysTickClock};
use hone_fw_bench::{exit, finish, Rng};

const NEW: usize = 16;
const F: usize = 64;
const N: usize = 80;
const CLASSES: usize = 15;
const SHOTS: usize = 5;
const SCRATCH_WORDS: usize = 64 * 1024;

const PROMPTS: [&str; 4] = [
    "play some jazz",
    "what is the weather like tomorrow in boston",
    "set a reminder to call mom at six",
    "turn off the lights in the living room please",
];

/// Core clock of the MPS2 boards under QEMU (SysTick's source).
const CORE_HZ: u64 = 25_000_000;

type H = Head<'static, 'static, NEW, F>;

#[exception]
fn SysTick() {
    hone_fw::measure::systick_wrapped();
}

#[entry]
fn main() -> ! {
    // SysTick counts its wraps in an exception, so a region may exceed the 168 M instructions
    // that CMSDK timer 0's 32 bits hold between two readings (training can).
    let Some(p) = cortex_m::Peripherals::take() else {
        finish(exit::BAD_INPUT)
    };
    let mut meter = Meter::new(SysTickClock::start(p.SYST, CORE_HZ));
    let blob = hone_fw::blobs::model();
    let Some(steps) = cortex_m::singleton!(: Steps<'static> = Steps::new()) else {
        finish(exit::BAD_INPUT)
    };
    let Ok(model) = Model::load(blob, steps) else {
        defmt::error!("adapt-bench: no valid model embedded (HONE_FW_MODEL)");
        finish(exit::BAD_INPUT)
    };
    let Some(model) = cortex_m::singleton!(: Model<'static> = model) else {
        finish(exit::BAD_INPUT)
    };
    let model: &'static Model<'static> = model;
    let (Some(scratch), Some(store), Some(ws)) = (
        cortex_m::singleton!(: [u32; SCRATCH_WORDS] = [0; SCRATCH_WORDS]),
        cortex_m::singleton!(: Store<N, F> = Store::new()),
        cortex_m::singleton!(: Workspace<NEW, F, N, 2> = Workspace::new()),
    ) else {
        finish(exit::BAD_INPUT)
    };
    let Ok(mut runner) = Runner::new(model, scratch) else {
        defmt::error!("adapt-bench: scratch too small");
        finish(exit::BAD_INPUT)
    };
    let mut forward = 0u64;
    for p in PROMPTS {
        forward += meter.measure(|| runner.classify(p).label).1;
    }
    let forward = forward / PROMPTS.len() as u64;
    let Ok(head) = H::new(model) else {
        defmt::error!("adapt-bench: model features exceed {=usize}", F);
        finish(exit::BAD_INPUT)
    };
    let Some(head) = cortex_m::singleton!(: H = head) else {
        finish(exit::BAD_INPUT)
    };
    let d = model.feature_dim();
    let mut rng = Rng(7);
    let mut uniform = move || (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
    let mut name = [b'n', b'e', b'w', b'_', b'0', b'0'];
    for k in 0..CLASSES {
        name[4] = b'0' + (k / 10) as u8;
        name[5] = b'0' + (k % 10) as u8;
        let Ok(c) = head.enrol(core::str::from_utf8(&name).unwrap_or("new")) else {
            finish(exit::BAD_INPUT)
        };
        let mut centre = [0.0f32; F];
        for x in centre[..d].iter_mut() {
            *x = uniform();
        }
        for _ in 0..SHOTS {
            let mut h = [0.0f32; F];
            for (o, &m) in h[..d].iter_mut().zip(&centre[..d]) {
                *o = m + 0.3 * uniform();
            }
            if model.normalizes_features() {
                hone::ops::l2_normalize(&mut h[..d]);
            }
            if store.add(c as u16, &h[..d]).is_err() {
                finish(exit::BAD_INPUT)
            }
        }
    }
    let (_, imprint) = meter.measure(|| head.imprint_all(store));
    let cfg = TrainConfig::default();
    let (trainer, prepare) = meter.measure(|| Trainer::new(head, store, ws, cfg));
    let Ok(mut trainer) = trainer else {
        defmt::error!("adapt-bench: bad training setup");
        finish(exit::BAD_INPUT)
    };
    let (report, train) = meter.measure(|| trainer.train());
    let Ok(report) = report else {
        defmt::error!("adapt-bench: training failed");
        finish(exit::BAD_INPUT)
    };
    trainer.set_split(Some((3, 0)));
    let (_, one_val) = meter.measure(|| trainer.val_nll());
    let batch: [u16; 8] = [0, 1, 2, 3, 5, 6, 7, 8];
    let (_, one_step) = meter.measure(|| trainer.step(&batch, 0.02));
    metric("adapt_one_val", one_val);
    metric("adapt_one_step", one_step);
    let total = imprint + prepare + train;
    defmt::info!(
        "adapt-bench: {=usize} old classes, {=usize} features, best epoch {=u16}, val NLL {=f32} -> {=f32}",
        model.num_classes(),
        d,
        report.best_epoch,
        report.val_before,
        report.val_after
    );
    metric("adapt_forward", forward);
    metric("adapt_imprint", imprint);
    metric("adapt_prepare", prepare);
    metric("adapt_train", train);
    metric("adapt_total", total);
    metric("adapt_steps", u64::from(report.steps));
    metric("adapt_skipped", u64::from(report.skipped));
    metric("adapt_forward_equiv_x100", total * 100 / forward.max(1));
    metric("adapt_ram_bytes", ram_bytes::<NEW, F, N, 2>() as u64);
    finish(exit::SUCCESS)
}
