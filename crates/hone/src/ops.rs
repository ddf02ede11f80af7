//! The quantised operations on plain slices.
//!
//! Each function is total: given slices of the lengths validation guarantees it computes the
//! result; given anything else it computes what it can and never panics. Rows are
//! `cols`-long chunks of row-major buffers.

use crate::format::{Activation, AddParams, Multiplier, PoolKind, TensorRec};
use crate::kernels;
use crate::model::{read_f32, read_i32};
use crate::quant::{
    exp_f32, ln_f32, multiply_by_quantized_multiplier as mbqm, quantize_f32,
    rounding_divide_by_pot, saturate_i8, saturating_rounding_doubling_high_mul, sqrt_f32,
};

/// Rows processed per kernel call in [`fully_connected`] (the i32 accumulators live on the
/// stack).
pub const FC_ROW_BLOCK: usize = 64;

/// Quantisation of one int8 tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QParams {
    /// `real = scale · (q − zero_point)`.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i8,
}

impl From<TensorRec> for QParams {
    fn from(t: TensorRec) -> Self {
        Self {
            scale: t.scale,
            zero_point: t.zero_point,
        }
    }
}

/// TFLite int8 `ADD` of two codes (`a_zp`, `b_zp`: input zero points).
#[inline]
pub fn add_i8(a: i8, a_zp: i8, b: i8, b_zp: i8, p: &AddParams, out_zp: i8) -> i8 {
    let shift = i32::from(p.left_shift.min(24));
    let a = (i32::from(a) - i32::from(a_zp)) << shift;
    let b = (i32::from(b) - i32::from(b_zp)) << shift;
    let sa = rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(a, p.a.multiplier),
        -i32::from(p.a.shift),
    );
    let sb = rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(b, p.b.multiplier),
        -i32::from(p.b.shift),
    );
    let sum = mbqm(sa.saturating_add(sb), p.out);
    saturate_i8(sum.saturating_add(i32::from(out_zp)))
}

/// Element-wise [`add_i8`] over equal-length slices.
pub fn add(a: &[i8], qa: i8, b: &[i8], qb: i8, p: &AddParams, out: &mut [i8], qo: i8) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = add_i8(x, qa, y, qb, p, qo);
    }
}

/// Embedding lookup for `ids` into `out` (`ids.len()` rows of `d`).
#[allow(clippy::too_many_arguments)]
pub fn embedding(
    ids: &[u16],
    table: &[u8],
    row_requant: Option<(&[u8], &[u8])>,
    positions: Option<(&[u8], &AddParams)>,
    d: usize,
    out_zp: i8,
    out: &mut [i8],
) {
    for (pos, (&id, row_out)) in ids.iter().zip(out.chunks_exact_mut(d)).enumerate() {
        let start = usize::from(id) * d;
        let Some(row) = table.get(start..start + d) else {
            continue;
        };
        let m = row_requant.map(|(mults, shifts)| Multiplier {
            multiplier: read_i32(mults, usize::from(id)),
            shift: shifts.get(usize::from(id)).map_or(0, |&s| s as i8),
        });
        let pos_row = positions.and_then(|(t, p)| Some((t.get(pos * d..pos * d + d)?, p)));
        for (c, (o, &q)) in row_out.iter_mut().zip(row).enumerate() {
            let q = q as i8;
            let t = match m {
                Some(m) => saturate_i8(mbqm(i32::from(q), m)),
                None => q,
            };
            *o = match pos_row {
                Some((prow, p)) => add_i8(t, 0, prow.get(c).map_or(0, |&v| v as i8), 0, p, out_zp),
                None => saturate_i8(i32::from(t) + i32::from(out_zp)),
            };
        }
    }
}

/// Fully connected layer over `rows` rows of `x` (`[rows × in_cols]`, `in_cols = w.len() /
/// out_cols`) into `out` (`[rows × out_cols]`).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    x: &[i8],
    in_cols: usize,
    weights: &[u8],
    bias: &[u8],
    mults: &[u8],
    shifts: &[u8],
    activation: Activation,
    out_zp: i8,
    out: &mut [i8],
    out_cols: usize,
) {
    if in_cols == 0 || out_cols == 0 {
        return;
    }
    let w: &[i8] = bytemuck::cast_slice(weights);
    // Kernel, bias and requantisation fused: `kernels::fully_connected_i8` (its portable
    // definition is the former matvec + requantisation loop, row by row).
    let q = kernels::Requant {
        bias,
        mults,
        shifts,
        out_zp,
        lo: match activation {
            Activation::Relu => out_zp,
            Activation::None => -128,
        },
    };
    for (xr, or) in x.chunks_exact(in_cols).zip(out.chunks_exact_mut(out_cols)) {
        kernels::fully_connected_i8(xr, w, &q, or);
    }
}

/// Parameters of [`fc_add_norm`] borrowed from an [`crate::format::Op::FcAddNorm`].
#[derive(Debug, Clone, Copy)]
pub struct FcAddNormParams<'a> {
    /// int8 `[out_cols × in_cols]` weights.
    pub weights: &'a [u8],
    /// `out_cols` i32 LE biases in accumulator units (input zero point folded in).
    pub bias: &'a [u8],
    /// `out_cols` f32 LE accumulator scales.
    pub scales: &'a [u8],
    /// `out_cols` f32 LE gains.
    pub gamma: &'a [u8],
    /// `out_cols` f32 LE offsets.
    pub beta: &'a [u8],
    /// Variance epsilon.
    pub eps: f32,
}

/// Fully connected + residual add + LayerNorm for each row of `x` (`[rows × in_cols]`):
/// `y[c] = scales[c]·(W[c]·x + bias[c]) + s_r·(r[c] − zp_r)` in f32, then
/// `out = quantize((y − μ)/sqrt(σ² + ε)·γ + β)` with `qo`. `row` needs `out_cols` f32.
#[allow(clippy::too_many_arguments)]
pub fn fc_add_norm(
    x: &[i8],
    in_cols: usize,
    p: &FcAddNormParams<'_>,
    residual: (&[i8], QParams),
    qo: QParams,
    out: &mut [i8],
    out_cols: usize,
    row: &mut [f32],
) {
    if in_cols == 0 || out_cols == 0 || row.len() < out_cols {
        return;
    }
    let row = &mut row[..out_cols];
    let w: &[i8] = bytemuck::cast_slice(p.weights);
    let (r, qr) = residual;
    let rz = i32::from(qr.zero_point);
    let n = out_cols as f32;
    let inv_out = 1.0 / qo.scale;
    let mut acc = [0i32; FC_ROW_BLOCK];
    let rows = x.chunks_exact(in_cols).zip(r.chunks_exact(out_cols));
    for ((xr, rr), or) in rows.zip(out.chunks_exact_mut(out_cols)) {
        for (b, yb) in row.chunks_mut(FC_ROW_BLOCK).enumerate() {
            let r0 = b * FC_ROW_BLOCK;
            let acc = &mut acc[..yb.len()];
            let wb = w
                .get(r0 * in_cols..(r0 + yb.len()) * in_cols)
                .unwrap_or(&[]);
            kernels::matvec_i8(xr, wb, acc);
            for (j, (y, &a)) in yb.iter_mut().zip(acc.iter()).enumerate() {
                let c = r0 + j;
                let res = rr.get(c).map_or(0, |&v| i32::from(v) - rz);
                *y = read_f32(p.scales, c) * a.wrapping_add(read_i32(p.bias, c)) as f32
                    + qr.scale * res as f32;
            }
        }
        let mut sum = 0.0f32;
        for &y in row.iter() {
            sum += y;
        }
        let mean = sum / n;
        let mut var = 0.0f32;
        for &y in row.iter() {
            let d = y - mean;
            var += d * d;
        }
        let inv_std = 1.0 / sqrt_f32(var / n + p.eps);
        for (c, (o, &y)) in or.iter_mut().zip(row.iter()).enumerate() {
            let v = (y - mean) * inv_std * read_f32(p.gamma, c) + read_f32(p.beta, c);
            *o = quantize_f32(v, inv_out, qo.zero_point);
        }
    }
}

/// Layer normalisation of each `cols`-long row, in f32: `y = (x − μ)/sqrt(σ² + ε)·γ + β`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm(
    x: &[i8],
    qx: QParams,
    gamma: &[u8],
    beta: &[u8],
    eps: f32,
    qo: QParams,
    out: &mut [i8],
    cols: usize,
) {
    if cols == 0 {
        return;
    }
    let n = cols as f32;
    // Normalisation is scale-invariant: work on integer deviations and fold the scale into ε.
    let eps_q = eps / (qx.scale * qx.scale);
    let inv_out = 1.0 / qo.scale;
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        let zp = i32::from(qx.zero_point);
        let sum: i32 = xr.iter().map(|&v| i32::from(v) - zp).sum();
        let mean = sum as f32 / n;
        let mut var = 0.0f32;
        for &v in xr {
            let d = (i32::from(v) - zp) as f32 - mean;
            var += d * d;
        }
        let inv_std = 1.0 / sqrt_f32(var / n + eps_q);
        for (c, (o, &v)) in or.iter_mut().zip(xr).enumerate() {
            let y = ((i32::from(v) - zp) as f32 - mean) * inv_std * read_f32(gamma, c)
                + read_f32(beta, c);
            *o = quantize_f32(y, inv_out, qo.zero_point);
        }
    }
}

/// Element-wise table lookup: `out[i] = table[x[i] as u8]`.
pub fn lut(x: &[i8], table: &[u8], out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = table.get(usize::from(v as u8)).map_or(0, |&t| t as i8);
    }
}

/// Multi-head self-attention over `rows` token rows. `scores` needs `rows` f32.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    q: (&[i8], i8),
    k: (&[i8], i8),
    v: (&[i8], QParams),
    heads: usize,
    score_scale: f32,
    qo: QParams,
    out: &mut [i8],
    cols: usize,
    rows: usize,
    scores: &mut [f32],
) {
    if heads == 0 || cols == 0 || !cols.is_multiple_of(heads) || scores.len() < rows {
        return;
    }
    let dh = cols / heads;
    let (qz, kz, vz) = (i32::from(q.1), i32::from(k.1), i32::from(v.1.zero_point));
    let value_scale = v.1.scale / qo.scale;
    for h in 0..heads {
        let c0 = h * dh;
        for i in 0..rows {
            let Some(qi) = q.0.get(i * cols + c0..i * cols + c0 + dh) else {
                return;
            };
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores[..rows].iter_mut().enumerate() {
                let kj = k.0.get(j * cols + c0..j * cols + c0 + dh).unwrap_or(&[]);
                let dot: i32 = qi
                    .iter()
                    .zip(kj)
                    .map(|(&a, &b)| (i32::from(a) - qz) * (i32::from(b) - kz))
                    .sum();
                *s = dot as f32 * score_scale;
                max = max.max(*s);
            }
            let mut total = 0.0f32;
            for s in scores[..rows].iter_mut() {
                *s = exp_f32(*s - max);
                total += *s;
            }
            let norm = value_scale / total;
            for c in 0..dh {
                let mut acc = 0.0f32;
                for (j, &p) in scores[..rows].iter().enumerate() {
                    let vv = v.0.get(j * cols + c0 + c).map_or(0, |&x| i32::from(x) - vz);
                    acc += p * vv as f32;
                }
                if let Some(o) = out.get_mut(i * cols + c0 + c) {
                    *o = quantize_f32(acc * norm, 1.0, qo.zero_point);
                }
            }
        }
    }
}

/// Reduces `rows` token rows of `x` to one row.
pub fn pool(x: &[i8], zp_in: i8, kind: PoolKind, rescale: Multiplier, zp_out: i8, out: &mut [i8]) {
    let cols = out.len();
    if cols == 0 {
        return;
    }
    let rows = x.len() / cols;
    match kind {
        PoolKind::First => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v;
            }
            if rows == 0 {
                out.fill(zp_out);
            }
        }
        PoolKind::Max => {
            out.fill(if rows == 0 { zp_out } else { -128 });
            for row in x.chunks_exact(cols) {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = (*o).max(v);
                }
            }
        }
        PoolKind::Mean => {
            let e = 31 - i32::from(rescale.shift);
            for (c, o) in out.iter_mut().enumerate() {
                let acc: i64 = x
                    .iter()
                    .skip(c)
                    .step_by(cols)
                    .map(|&v| i64::from(v) - i64::from(zp_in))
                    .sum();
                let num = acc * i64::from(rescale.multiplier);
                let den = (rows.max(1) as i64) << e.clamp(0, 55);
                let q = (num.abs() + den / 2) / den;
                let q = if num < 0 { -q } else { q };
                *o = saturate_i8((q.clamp(-1024, 1024) as i32) + i32::from(zp_out));
            }
        }
    }
}

/// Dequantises a row into `out` and optionally L2-normalises it.
pub fn dequantize(x: &[i8], q: QParams, normalize: bool, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = q.scale * (i32::from(v) - i32::from(q.zero_point)) as f32;
    }
    if normalize {
        l2_normalize(out);
    }
}

/// Scales `v` to unit L2 norm (left unchanged when its norm is 0).
pub fn l2_normalize(v: &mut [f32]) {
    let mut ss = 0.0f32;
    for &x in v.iter() {
        ss += x * x;
    }
    let norm = sqrt_f32(ss);
    if norm > 0.0 {
        let inv = 1.0 / norm;
        for x in v.iter_mut() {
            *x *= inv;
        }
    }
}

/// `logits[c] = b[c] + Σ_f W[c][f] · x[f]` with f32 LE weights borrowed from the blob
/// ([`kernels::head_logits`]).
pub fn head_logits(weights: &[u8], bias: &[u8], x: &[f32], logits: &mut [f32]) {
    kernels::head_logits(weights, bias, x, logits);
}

/// In-place numerically stable log-softmax: `v[i] ← v[i] − max − ln Σ exp(v − max)`.
pub fn log_softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return;
    }
    let mut sum = 0.0f32;
    for &x in v.iter() {
        sum += exp_f32(x - max);
    }
    let lse = max + ln_f32(sum);
    for x in v.iter_mut() {
        *x -= lse;
    }
}

/// Index of the largest value (first one on ties; NaNs never win; 0 for an empty slice).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &x) in v.iter().enumerate() {
        if x > best_v {
            best = i;
            best_v = x;
        }
    }
    best
}
