//! Instructions on Cortex-M4 (QEMU `-icount`) with the portable kernels and with the kernels
//! this target selects (Arm DSP), measured in the same run (`hone::kernels::use_portable`).
//!
//! - every matrix-vector shape: `metric fc_<rows>x<cols>_{portable,dsp,macs}=<n>`;
//! - the whole fully connected op (`hone::ops::fully_connected`: kernel, bias,
//!   requantisation, activation, int8 output) on one input row, for the [`OP_SHAPES`]:
//!   `metric fcop_<rows>x<cols>_{portable,dsp,macs}=<n>`;
//! - with a model embedded (`HONE_FW_MODEL`, see `hone_fw::blobs`), per prompt of
//!   [`PROMPTS`], summed: `metric model_{portable,dsp}=<n>` (whole inference: tokenizer,
//!   encoder, head), `metric model_tokenize=<n>`, `metric model_fc_macs=<n>` (multiply-adds
//!   in fully connected layers), `metric model_prompts=<n>`, `metric model_tokens=<n>`, and
//!   per kind of op, timed around each op in a separate run whose total (observer calls
//!   included) is `metric model_observed_{portable,dsp}=<n>`:
//!   `metric model_op_<kind>_{portable,dsp}=<n>`.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use hone::kernels::{self, portable};
use hone::ops::Op;
use hone::{Model, Runner};
use hone_fw::app::metric;
use hone_fw::blobs::Steps;
use hone_fw::measure::{Clock, CmsdkTimer0, Meter};
use hone_fw_bench::{exit, finish, Rng};

/// Matrix-vector shapes `(rows, cols)`: square model-sized layers, tall/wide ones, a
/// 150-class head, and odd sizes that exercise the row and column remainders.
const SHAPES: [(usize, usize); 9] = [
    (64, 64),
    (128, 128),
    (256, 256),
    (256, 64),
    (64, 256),
    (150, 64),
    (33, 61),
    (7, 3),
    (512, 512),
];
/// Fully connected op shapes `(rows, cols)` = (outputs, inputs): attention projections of
/// d = 64, 128 and 384 models, and a d = 384 FFN (up 1536 × 384, down 384 × 1536).
const OP_SHAPES: [(usize, usize); 5] = [(64, 64), (128, 128), (384, 384), (1536, 384), (384, 1536)];
const MAX_COLS: usize = 1536;
const MAX_ROWS: usize = 1536;
const MAX_W: usize = 1536 * 384;

type Kernel = fn(&[i8], &[i8], &mut [i32]);

/// Instructions of one call of `f`, call overhead included, meter overhead removed.
#[inline(never)]
fn work(meter: &mut Meter<CmsdkTimer0>, f: Kernel, x: &[i8], w: &[i8], acc: &mut [i32]) -> u64 {
    let f = black_box(f);
    meter.measure(|| f(black_box(x), black_box(w), acc)).1
}

#[entry]
fn main() -> ! {
    let mut meter = Meter::new(CmsdkTimer0::start());
    let Some(xb) = cortex_m::singleton!(: [i8; MAX_COLS] = [0; MAX_COLS]) else {
        finish(exit::BAD_INPUT)
    };
    let Some(wb) = cortex_m::singleton!(: [i8; MAX_W] = [0; MAX_W]) else {
        finish(exit::BAD_INPUT)
    };
    let mut rng = Rng(1);
    for v in xb.iter_mut().chain(wb.iter_mut()) {
        *v = rng.next_u32().to_le_bytes()[3] as i8;
    }
    let Some(acc) = cortex_m::singleton!(: [i32; MAX_ROWS] = [0; MAX_ROWS]) else {
        finish(exit::BAD_INPUT)
    };
    let Some(acc2) = cortex_m::singleton!(: [i32; MAX_ROWS] = [0; MAX_ROWS]) else {
        finish(exit::BAD_INPUT)
    };
    defmt::info!("kernel-bench: backend {=str}", kernels::BACKEND);
    metric("clock_overhead", meter.overhead());
    let mut failed = false;
    for (rows, cols) in SHAPES {
        let (x, w) = (&xb[..cols], &wb[..rows * cols]);
        let p = work(&mut meter, portable::matvec_i8, x, w, &mut acc[..rows]);
        let d = work(&mut meter, kernels::matvec_i8, x, w, &mut acc2[..rows]);
        // A benchmark of a wrong kernel is worthless: compare the two results too.
        failed |= acc[..rows] != acc2[..rows];
        defmt::info!(
            "metric fc_{=usize}x{=usize}_macs={=usize}",
            rows,
            cols,
            rows * cols
        );
        defmt::info!("metric fc_{=usize}x{=usize}_portable={=u64}", rows, cols, p);
        defmt::info!("metric fc_{=usize}x{=usize}_dsp={=u64}", rows, cols, d);
    }
    failed |= !bench_fc_op(&mut meter, xb, wb, &mut rng);
    if failed {
        defmt::error!("kernel-bench: DSP and portable results differ");
        finish(exit::MISMATCH)
    }
    let blob = hone_fw::blobs::model();
    if blob.is_empty() {
        defmt::info!("kernel-bench: no model embedded (HONE_FW_MODEL)");
        finish(exit::SUCCESS)
    }
    let mut steps = Steps::new();
    let model = match Model::load(blob, &mut steps) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("kernel-bench: model rejected: {}", e);
            finish(exit::BAD_INPUT)
        }
    };
    finish(bench_model(&model, &mut meter))
}

/// Parameters of a fully connected op with `MAX_ROWS` outputs, as stored in a blob:
/// bias (i32), multiplier (Q31 in `[2^30, 2^31)`), shift (`-12..=0`), little-endian.
struct OpParams {
    bias: [u8; 4 * MAX_ROWS],
    mults: [u8; 4 * MAX_ROWS],
    shifts: [u8; MAX_ROWS],
}

/// Times `hone::ops::fully_connected` on [`OP_SHAPES`] with the portable kernels and with the
/// target's, checking that both give the same output; false on a difference.
fn bench_fc_op(meter: &mut Meter<CmsdkTimer0>, xb: &[i8], wb: &[i8], rng: &mut Rng) -> bool {
    let Some(p) = cortex_m::singleton!(: OpParams = OpParams {
        bias: [0; 4 * MAX_ROWS],
        mults: [0; 4 * MAX_ROWS],
        shifts: [0; MAX_ROWS],
    }) else {
        return false;
    };
    for r in 0..MAX_ROWS {
        let bias = (rng.next_u32() as i32) >> 14;
        let mult = (1u32 << 30) | (rng.next_u32() >> 2);
        p.bias[4 * r..4 * r + 4].copy_from_slice(&bias.to_le_bytes());
        p.mults[4 * r..4 * r + 4].copy_from_slice(&mult.to_le_bytes());
        p.shifts[r] = (-(rng.below(13) as i8)) as u8;
    }
    let Some(outs) = cortex_m::singleton!(: [[i8; MAX_ROWS]; 2] = [[0; MAX_ROWS]; 2]) else {
        return false;
    };
    let mut same = true;
    for (rows, cols) in OP_SHAPES {
        let (x, w): (&[i8], &[u8]) = (&xb[..cols], bytemuck::cast_slice(&wb[..rows * cols]));
        let mut work = [0u64; 2];
        for (mode, portable) in [true, false].into_iter().enumerate() {
            kernels::use_portable(portable);
            let out = &mut outs[mode][..rows];
            work[mode] = meter
                .measure(|| {
                    hone::ops::fully_connected(
                        black_box(x),
                        cols,
                        black_box(w),
                        &p.bias[..4 * rows],
                        &p.mults[..4 * rows],
                        &p.shifts[..rows],
                        hone::ops::Activation::None,
                        black_box(-3),
                        out,
                        rows,
                    )
                })
                .1;
        }
        kernels::use_portable(false);
        same &= outs[0][..rows] == outs[1][..rows];
        defmt::info!(
            "metric fcop_{=usize}x{=usize}_macs={=usize}",
            rows,
            cols,
            rows * cols
        );
        defmt::info!(
            "metric fcop_{=usize}x{=usize}_portable={=u64}",
            rows,
            cols,
            work[0]
        );
        defmt::info!(
            "metric fcop_{=usize}x{=usize}_dsp={=u64}",
            rows,
            cols,
            work[1]
        );
    }
    same
}

/// Prompts of different lengths (CLINC150-style requests).
const PROMPTS: [&str; 8] = [
    "play some jazz",
    "what is the weather like tomorrow in boston",
    "set a reminder to call mom at six",
    "add milk and eggs to my shopping list",
    "how do i transfer money from checking to savings",
    "turn off the lights in the living room please",
    "what's my credit score",
    "can you tell me a joke about cats and dogs while i wait for the bus",
];

/// Scratch for the runner (words); the model must need no more.
const SCRATCH_WORDS: usize = 64 * 1024;

/// Multiply-adds of the fully connected layers for `tokens` tokens.
fn fc_macs(model: &Model<'_>, tokens: usize) -> u64 {
    model
        .ops()
        .map(|op| match op {
            Op::FullyConnected(hone::ops::FullyConnected { input, weights, .. }) => {
                let rows = match model.tensor(input) {
                    Some(t) if t.per_token => tokens,
                    _ => 1,
                };
                (weights.len() * rows) as u64
            }
            _ => 0,
        })
        .sum()
}

/// Kinds of op, as named in the `model_op_<kind>_*` metrics.
const KINDS: [&str; 9] = [
    "embedding",
    "fully_connected",
    "fc_add_norm",
    "add",
    "layer_norm",
    "lut",
    "attention",
    "pool",
    "head",
];

fn kind(op: &Op<'_>) -> usize {
    match op {
        Op::Embedding(hone::ops::Embedding { .. }) => 0,
        Op::FullyConnected(hone::ops::FullyConnected { .. }) => 1,
        Op::FcAddNorm(hone::ops::FcAddNorm { .. }) => 2,
        Op::Add(hone::ops::Add { .. }) => 3,
        Op::LayerNorm(hone::ops::LayerNorm { .. }) => 4,
        Op::Lut(hone::ops::Lut { .. }) => 5,
        Op::Attention(hone::ops::Attention { .. }) => 6,
        Op::Pool(hone::ops::Pool { .. }) => 7,
        _ => 8,
    }
}

/// Most ops a benchmarked model may have.
const MAX_OPS: usize = 256;

/// Label and a hash of the log-probabilities' bits: equal for bit-identical predictions.
fn digest(p: &hone::Prediction<'_>) -> (usize, u32) {
    let h = p
        .log_probs
        .iter()
        .fold(0u32, |h, v| h.rotate_left(5) ^ v.to_bits());
    (p.label, h)
}

/// Most classes of a benchmarked model's head.
const MAX_HEAD: usize = 4096;

/// Instructions of the head's logits and of the log-softmax on `text`'s features (the part
/// of an inference after the op loop), with the kernels currently selected.
fn time_head(
    model: &Model<'_>,
    runner: &mut Runner<'_, '_, '_>,
    text: &str,
    meter: &mut Meter<CmsdkTimer0>,
) -> (u64, u64) {
    let Some((weights, bias)) = model.ops().find_map(|op| match op {
        Op::Head(hone::ops::Head { weights, bias, .. }) => Some((weights, bias)),
        _ => None,
    }) else {
        return (0, 0);
    };
    let mut logits = [0f32; MAX_HEAD];
    let logits = &mut logits[..model.num_classes().min(MAX_HEAD)];
    let features = runner.features(text);
    let ((), a) = meter.measure(|| hone::ops::head_logits(weights, bias, features, logits));
    let ((), b) = meter.measure(|| hone::ops::log_softmax(black_box(&mut *logits)));
    (a, b)
}

/// Whole inference per prompt, portable then DSP kernels (identical results required), and
/// the same again timed op by op.
fn bench_model(model: &Model<'_>, meter: &mut Meter<CmsdkTimer0>) -> i32 {
    let Some(scratch) = cortex_m::singleton!(: [u32; SCRATCH_WORDS] = [0; SCRATCH_WORDS]) else {
        return exit::BAD_INPUT;
    };
    defmt::info!(
        "kernel-bench: model {=str}, {=usize} bytes scratch",
        model.name(),
        4 * model.scratch_words()
    );
    let mut kinds = [0u8; MAX_OPS];
    for (k, op) in kinds.iter_mut().zip(model.ops()) {
        *k = kind(&op) as u8;
    }
    if model.ops().count() > MAX_OPS {
        defmt::error!("kernel-bench: more than {=usize} ops", MAX_OPS);
        return exit::BAD_INPUT;
    }
    let Ok(mut runner) = Runner::new(model, scratch) else {
        defmt::error!(
            "kernel-bench: model needs more than {=usize} scratch words",
            SCRATCH_WORDS
        );
        return exit::BAD_INPUT;
    };
    // A second reader of timer 0 for the per-op timings (the meter's readings stay valid:
    // it only subtracts readings taken around one closure).
    let mut clock = CmsdkTimer0::start();
    let (mut tokenize, mut macs, mut tokens) = (0u64, 0u64, 0u64);
    // [portable, dsp]
    let mut whole = [0u64; 2];
    // The head after the encoder (outside the op loop): logits, then log-softmax.
    let (mut head_logits, mut log_softmax) = ([0u64; 2], [0u64; 2]);
    let mut per_kind = [[0u64; KINDS.len()]; 2];
    let mut observed_whole = [0u64; 2];
    let mut failed = false;
    for text in PROMPTS {
        let (n, t) = meter.measure(|| runner.tokenize(black_box(text)));
        tokenize += t;
        tokens += n as u64;
        macs += fc_macs(model, n);
        let mut digests = [(0usize, 0u32); 2];
        let mut this = [0u64; 2];
        for (mode, portable) in [true, false].into_iter().enumerate() {
            kernels::use_portable(portable);
            let (logits, softmax) = time_head(model, &mut runner, text, meter);
            head_logits[mode] += logits;
            log_softmax[mode] += softmax;
            let (d, w) = meter.measure(|| digest(&runner.classify(black_box(text))));
            whole[mode] += w;
            this[mode] = w;
            digests[mode] = d;
            let mut start = 0u64;
            let buckets = &mut per_kind[mode];
            let t0 = clock.ticks();
            let observed = digest(&runner.classify_observed(text, |i, done| {
                let now = clock.ticks();
                if done {
                    let k = usize::from(kinds.get(i).copied().unwrap_or(8));
                    buckets[k] += now - start;
                } else {
                    start = now;
                }
            }));
            observed_whole[mode] += clock.ticks() - t0;
            failed |= observed != d;
        }
        kernels::use_portable(false);
        if digests[0] != digests[1] {
            defmt::error!(
                "kernel-bench: prompt {=str}: portable and DSP results differ",
                text
            );
            failed = true;
        }
        defmt::info!(
            "kernel-bench: {=usize} tokens, label {=usize}: {=u64} instructions portable, {=u64} DSP",
            n,
            digests[1].0,
            this[0],
            this[1]
        );
    }
    metric("model_prompts", PROMPTS.len() as u64);
    metric("model_tokens", tokens);
    metric("model_tokenize", tokenize);
    metric("model_head_logits_portable", head_logits[0]);
    metric("model_head_logits_dsp", head_logits[1]);
    metric("model_log_softmax_portable", log_softmax[0]);
    metric("model_log_softmax_dsp", log_softmax[1]);
    metric("model_fc_macs", macs);
    metric("model_portable", whole[0]);
    metric("model_dsp", whole[1]);
    metric("model_observed_portable", clock.convert(observed_whole[0]));
    metric("model_observed_dsp", clock.convert(observed_whole[1]));
    for (k, name) in KINDS.iter().enumerate() {
        for (mode, suffix) in ["portable", "dsp"].iter().enumerate() {
            defmt::info!(
                "metric model_op_{=str}_{=str}={=u64}",
                name,
                suffix,
                clock.convert(per_kind[mode][k])
            );
        }
    }
    if failed {
        exit::MISMATCH
    } else {
        exit::SUCCESS
    }
}
