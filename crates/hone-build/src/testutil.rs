//! Small deterministic models built by the project's own code for docs,
//! tests, golden vectors and firmware bring-up before a trained model exists.
//!
//! Weights come from a fixed-seed generator: the models compute something arbitrary but
//! exercise every operation.

use crate::{
    add_params, asymmetric, f32_bytes, fc_add_norm_params, fc_params, i8_bytes, lut_table,
    multiplier, quantize_rows, BuildError, ModelBuilder, TokenizerSpec,
};
use hone::ops::{Activation, Op, PoolKind, Positions, RowRequant};

/// Deterministic xorshift generator for test weights.
#[derive(Debug, Clone)]
pub struct XorShift(pub u32);

impl XorShift {
    /// Next raw value.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }

    /// `n` values uniform in `[-a, a)`.
    pub fn vec(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| a * self.next_f32()).collect()
    }
}

/// Words of the test vocabulary (plus `[CLS]`, `[SEP]`, `[UNK]`, `[PAD]`, letters and
/// `##` letters so that every ASCII word tokenizes).
pub const WORDS: &[&str] = &[
    "turn", "the", "lights", "light", "off", "on", "play", "music", "song", "set", "a", "timer",
    "for", "minutes", "what", "is", "weather", "today", "stop", "volume", "up", "down", "please",
    "kitchen", "##s", "##ing", "##ed",
];

/// The test vocabulary, sorted as the format requires.
pub fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[CLS]", "[SEP]", "[UNK]", "[PAD]"]
        .iter()
        .chain(WORDS)
        .map(|s| s.to_string())
        .collect();
    for c in b'a'..=b'z' {
        for prefix in ["", "##"] {
            let t = format!("{prefix}{}", c as char);
            if !v.contains(&t) {
                v.push(t);
            }
        }
    }
    for c in b'0'..=b'9' {
        v.push((c as char).to_string());
    }
    v.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    v.dedup();
    v
}

fn tokenizer_spec(vocab: Vec<String>, specials: bool) -> TokenizerSpec {
    let id = |t: &str| vocab.iter().position(|v| v == t).map(|i| i as u16);
    TokenizerSpec {
        unk: id("[UNK]").unwrap_or(0),
        cls: if specials { id("[CLS]") } else { None },
        sep: if specials { id("[SEP]") } else { None },
        vocab,
        lowercase: true,
        strip_accents: true,
        max_chars_per_word: 100,
    }
}

/// Labels of the test models.
pub const LABELS: &[&str] = &["lights_off", "lights_on", "play_music", "set_timer"];

/// A static-embedding classifier: embedding (per-row requantised) → mean pool →
/// FC + ReLU → float head. Returns the blob.
pub fn tiny_model() -> Result<Vec<u8>, BuildError> {
    build_static(16, 12, 0x5eed_0001)
}

/// [`tiny_model`] with chosen width `d`, hidden size and seed.
pub fn build_static(d: usize, hidden: usize, seed: u32) -> Result<Vec<u8>, BuildError> {
    let mut rng = XorShift(seed);
    let vocab = vocab();
    let v = vocab.len();
    let emb = rng.vec(v * d, 1.0);
    let (table, row_scales) = quantize_rows(&emb, d);
    let token_scale = 1.0 / 127.0;
    let mut mults = Vec::new();
    let mut shifts = Vec::new();
    for &s in &row_scales {
        let m = multiplier(f64::from(s) / f64::from(token_scale), "row")?;
        mults.extend_from_slice(&m.multiplier.to_le_bytes());
        shifts.push(m.shift as u8);
    }
    let (pool_scale, pool_zp) = asymmetric(-0.6, 0.6);
    let w1 = rng.vec(hidden * d, 0.5);
    let b1 = rng.vec(hidden, 0.1);
    let (w1q, w1s) = quantize_rows(&w1, d);
    let (h_scale, h_zp) = asymmetric(0.0, 1.2);
    let (b1q, m1, s1) = fc_params(&w1q, &w1s, &b1, pool_scale, pool_zp, h_scale)?;
    let head_w = f32_bytes(&rng.vec(LABELS.len() * hidden, 1.0));
    let head_b = f32_bytes(&rng.vec(LABELS.len(), 0.1));
    let table = i8_bytes(&table);
    let w1q = i8_bytes(&w1q);
    let labels = LABELS.iter().map(|s| s.to_string()).collect();
    let mut b = ModelBuilder::new("tiny-static", 16, labels, tokenizer_spec(vocab, false));
    let e = b.tensor(true, d as u16, token_scale, 0);
    let p = b.tensor(false, d as u16, pool_scale, pool_zp);
    let h = b.tensor(false, hidden as u16, h_scale, h_zp);
    let rescale = multiplier(f64::from(token_scale) / f64::from(pool_scale), "pool");
    b.op(Op::Embedding(hone::ops::Embedding {
        out: e,
        table: &table,
        token_scale,
        row_requant: Some(RowRequant {
            multipliers: &mults,
            shifts: &shifts,
        }),
        positions: None,
    }))
    .op(Op::Pool(hone::ops::Pool {
        input: e,
        out: p,
        kind: PoolKind::Mean,
        rescale: rescale?,
    }))
    .op(Op::FullyConnected(hone::ops::FullyConnected {
        input: p,
        out: h,
        weights: &w1q,
        bias: &b1q,
        multipliers: &m1,
        shifts: &s1,
        activation: Activation::Relu,
    }))
    .op(Op::Head(hone::ops::Head {
        input: h,
        weights: &head_w,
        bias: &head_b,
        normalize: true,
    }));
    b.build()
}

/// A one-layer transformer encoder: embedding + positions → LayerNorm → Q/K/V → attention →
/// output FC → residual add → LayerNorm → FC → GELU (table) → fused FC + add + LayerNorm
/// ([`Op::FcAddNorm`], so the blob is format version 2) → mean pool → head. Uses
/// `[CLS]`/`[SEP]`. Every op of the runtime appears.
pub fn tiny_transformer() -> Result<Vec<u8>, BuildError> {
    transformer_with(16, 2, 32, 0x7a7a_0002, true)
}

fn gelu(x: f64) -> f64 {
    // tanh approximation (test model only).
    let u = 0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x);
    let e = libm_exp(2.0 * u);
    0.5 * x * (1.0 + (e - 1.0) / (e + 1.0))
}

fn libm_exp(x: f64) -> f64 {
    // exp by range reduction and a Taylor series: enough for test tables.
    let x = x.clamp(-40.0, 40.0);
    let k = crate::quant::round_f64(x / core::f64::consts::LN_2);
    let r = x - k * core::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..20 {
        term *= r / f64::from(i);
        sum += term;
    }
    let mut p = 1.0;
    let (mut n, base) = if k >= 0.0 {
        (k as i32, 2.0)
    } else {
        (-k as i32, 0.5)
    };
    while n > 0 {
        p *= base;
        n -= 1;
    }
    sum * p
}

fn fc_op(input: u16, out: u16, f: &Fc, activation: Activation) -> Op<'_> {
    Op::FullyConnected(hone::ops::FullyConnected {
        input,
        out,
        weights: &f.w,
        bias: &f.b,
        multipliers: &f.m,
        shifts: &f.s,
        activation,
    })
}

struct Fc {
    w: Vec<u8>,
    b: Vec<u8>,
    m: Vec<u8>,
    s: Vec<u8>,
}

fn fc(
    rng: &mut XorShift,
    n_in: usize,
    n_out: usize,
    s_in: f32,
    zp_in: i8,
    s_out: f32,
) -> Result<Fc, BuildError> {
    let (wq, ws, bias) = fc_weights(rng, n_in, n_out);
    let (b, m, s) = fc_params(&wq, &ws, &bias, s_in, zp_in, s_out)?;
    Ok(Fc {
        w: i8_bytes(&wq),
        b,
        m,
        s,
    })
}

/// Random weights of a fully-connected layer: int8 codes, per-row scales, float biases.
fn fc_weights(rng: &mut XorShift, n_in: usize, n_out: usize) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
    let w = rng.vec(n_in * n_out, 2.0 / (n_in as f32).clamp(1.0, 64.0));
    let bias = rng.vec(n_out, 0.05);
    let (wq, ws) = quantize_rows(&w, n_in);
    (wq, ws, bias)
}

/// A transformer test model with width `d`, `heads` heads, FFN width `ffn`, using only
/// version-1 ops (the FFN output, residual add and LayerNorm are separate ops).
pub fn transformer(d: usize, heads: u8, ffn: usize, seed: u32) -> Result<Vec<u8>, BuildError> {
    transformer_with(d, heads, ffn, seed, false)
}

/// [`transformer`]; with `fused`, the FFN output projection, residual add and second
/// LayerNorm are one [`Op::FcAddNorm`] (same weights).
pub fn transformer_with(
    d: usize,
    heads: u8,
    ffn: usize,
    seed: u32,
    fused: bool,
) -> Result<Vec<u8>, BuildError> {
    let mut rng = XorShift(seed);
    let vocab = vocab();
    let max_len = 24u16;
    let (table, _) = quantize_rows(&rng.vec(vocab.len() * d, 0.9), d);
    let table: Vec<i8> = table.iter().map(|&q| q / 2).collect();
    let tok_scale = 1.0 / 127.0;
    let (pos, _) = quantize_rows(&rng.vec(usize::from(max_len) * d, 0.3), d);
    let pos_scale = 0.3 / 127.0;
    let (x0s, x0z) = asymmetric(-1.5, 1.5);
    let (lns, lnz) = asymmetric(-3.0, 3.0);
    let (qs, qz) = asymmetric(-2.0, 2.5);
    let (as_, az) = asymmetric(-1.5, 1.5);
    let (gs, gz) = asymmetric(-0.2, 3.0);
    let (rs, rz) = asymmetric(-4.0, 4.0);
    let gamma = f32_bytes(&rng.vec(d, 0.2).iter().map(|g| 1.0 + g).collect::<Vec<_>>());
    let beta = f32_bytes(&rng.vec(d, 0.1));
    let fq = fc(&mut rng, d, d, lns, lnz, qs)?;
    let fk = fc(&mut rng, d, d, lns, lnz, qs)?;
    let fv = fc(&mut rng, d, d, lns, lnz, qs)?;
    let fo = fc(&mut rng, d, d, as_, az, lns)?;
    let f1 = fc(&mut rng, d, ffn, lns, lnz, qs)?;
    let (w2q, w2s, b2) = fc_weights(&mut rng, ffn, d);
    let (f2b, f2m, f2s) = fc_params(&w2q, &w2s, &b2, gs, gz, lns)?;
    let (f2_bias, f2_scales) = fc_add_norm_params(&w2q, &w2s, &b2, gs, gz);
    let f2 = Fc {
        w: i8_bytes(&w2q),
        b: f2b,
        m: f2m,
        s: f2s,
    };
    let gelu_t = lut_table(gelu, qs, qz, gs, gz);
    let head_w = f32_bytes(&rng.vec(LABELS.len() * d, 1.0));
    let head_b = f32_bytes(&rng.vec(LABELS.len(), 0.1));
    let pos_add = add_params(tok_scale, pos_scale, x0s)?;
    let res_add = add_params(lns, lns, rs)?;
    let table = i8_bytes(&table);
    let pos = i8_bytes(&pos);
    let labels = LABELS.iter().map(|s| s.to_string()).collect();
    let mut b = ModelBuilder::new(
        "tiny-transformer",
        max_len,
        labels,
        tokenizer_spec(vocab, true),
    );
    let du = d as u16;
    let x0 = b.tensor(true, du, x0s, x0z);
    let x1 = b.tensor(true, du, lns, lnz);
    let (tq, tk, tv) = (
        b.tensor(true, du, qs, qz),
        b.tensor(true, du, qs, qz),
        b.tensor(true, du, qs, qz),
    );
    let ta = b.tensor(true, du, as_, az);
    let to = b.tensor(true, du, lns, lnz);
    let r1 = b.tensor(true, du, rs, rz);
    let x2 = b.tensor(true, du, lns, lnz);
    let h1 = b.tensor(true, ffn as u16, qs, qz);
    let g1 = b.tensor(true, ffn as u16, gs, gz);
    // Unfused only: the FFN output and the residual sum.
    let h2r2 = (!fused).then(|| (b.tensor(true, du, lns, lnz), b.tensor(true, du, rs, rz)));
    let x3 = b.tensor(true, du, lns, lnz);
    let pooled = b.tensor(false, du, lns, lnz);
    let ln = |input, out| {
        Op::LayerNorm(hone::ops::LayerNorm {
            input,
            out,
            gamma: &gamma,
            beta: &beta,
            eps: 1e-5,
        })
    };
    b.op(Op::Embedding(hone::ops::Embedding {
        out: x0,
        table: &table,
        token_scale: tok_scale,
        row_requant: None,
        positions: Some(Positions {
            table: &pos,
            scale: pos_scale,
            add: pos_add,
        }),
    }))
    .op(ln(x0, x1))
    .op(fc_op(x1, tq, &fq, Activation::None))
    .op(fc_op(x1, tk, &fk, Activation::None))
    .op(fc_op(x1, tv, &fv, Activation::None))
    .op(Op::Attention(hone::ops::Attention {
        q: tq,
        k: tk,
        v: tv,
        out: ta,
        heads,
        score_scale: qs * qs / hone::quant::sqrt_f32((d / usize::from(heads)) as f32),
    }))
    .op(fc_op(ta, to, &fo, Activation::None))
    .op(Op::Add(hone::ops::Add {
        a: x1,
        b: to,
        out: r1,
        params: res_add,
    }))
    .op(ln(r1, x2))
    .op(fc_op(x2, h1, &f1, Activation::None))
    .op(Op::Lut(hone::ops::Lut {
        input: h1,
        out: g1,
        table: &gelu_t,
    }));
    if let Some((h2, r2)) = h2r2 {
        b.op(fc_op(g1, h2, &f2, Activation::None))
            .op(Op::Add(hone::ops::Add {
                a: x2,
                b: h2,
                out: r2,
                params: res_add,
            }))
            .op(ln(r2, x3));
    } else {
        b.op(Op::FcAddNorm(hone::ops::FcAddNorm {
            input: g1,
            residual: x2,
            out: x3,
            weights: &f2.w,
            bias: &f2_bias,
            scales: &f2_scales,
            gamma: &gamma,
            beta: &beta,
            eps: 1e-5,
        }));
    }
    b.op(Op::Pool(hone::ops::Pool {
        input: x3,
        out: pooled,
        kind: PoolKind::Mean,
        rescale: multiplier(1.0, "pool")?,
    }))
    .op(Op::Head(hone::ops::Head {
        input: pooled,
        weights: &head_w,
        bias: &head_b,
        normalize: false,
    }));
    b.build()
}

/// A small tensor model (format version 3): int8 `[1 × 6]` → FC(8, ReLU) → FC(3) → int8
/// `[1 × 3]`, weights from a fixed seed.
pub fn tiny_tensor_model() -> Result<Vec<u8>, BuildError> {
    let mut rng = XorShift(0x7e50_0003);
    let (n_in, hidden, n_out) = (6usize, 8usize, 3usize);
    let (x_scale, x_zp) = asymmetric(-1.0, 1.0);
    let (h_scale, h_zp) = asymmetric(0.0, 2.0);
    let (y_scale, y_zp) = asymmetric(-2.0, 2.0);
    let (w1q, w1s) = quantize_rows(&rng.vec(hidden * n_in, 0.5), n_in);
    let (b1, m1, s1) = fc_params(&w1q, &w1s, &rng.vec(hidden, 0.1), x_scale, x_zp, h_scale)?;
    let (w2q, w2s) = quantize_rows(&rng.vec(n_out * hidden, 0.5), hidden);
    let (b2, m2, s2) = fc_params(&w2q, &w2s, &rng.vec(n_out, 0.1), h_scale, h_zp, y_scale)?;
    let (w1q, w2q) = (i8_bytes(&w1q), i8_bytes(&w2q));
    let mut b = crate::TensorModelBuilder::new("tiny-tensor");
    let x = b.tensor(n_in, x_scale, x_zp)?;
    let h = b.tensor(hidden, h_scale, h_zp)?;
    let y = b.tensor(n_out, y_scale, y_zp)?;
    b.input(x, &[1, n_in])?.output(y, &[1, n_out])?;
    b.op(Op::FullyConnected(hone::ops::FullyConnected {
        input: x,
        out: h,
        weights: &w1q,
        bias: &b1,
        multipliers: &m1,
        shifts: &s1,
        activation: Activation::Relu,
    }))
    .op(Op::FullyConnected(hone::ops::FullyConnected {
        input: h,
        out: y,
        weights: &w2q,
        bias: &b2,
        multipliers: &m2,
        shifts: &s2,
        activation: Activation::None,
    }));
    b.build()
}
