//! `FcAddNorm` (format version 2): fully connected + residual add + LayerNorm, fused so that
//! the pre-normalisation sum is never quantised. For each row,
//! `y[c] = scales[c] · (W[c] · x + bias[c]) + s_r · (residual[c] − zp_r)` in f32, then
//! `out = quantize(LayerNorm(y) · gamma + beta)` with the output's scale and zero point.
//!
//! As in [`super::FullyConnected`], the input zero point is folded into `bias`
//! (`bias'[c] = round(b[c] / scales[c]) − zp_x · Σ_k W[c][k]`), and `scales[c] = s_x · s_w[c]`.

use serde::{Deserialize, Serialize};

use super::bounds::{eps_ok, params_ok};
use super::{ensure, Cx, Eval, Io, Operands, Operator, QParams, Tensor};
use crate::bytes::{f32s, i32s};
use crate::error::Invalid;
use crate::kernels;
use crate::quant::{quantize_f32, sqrt_f32};

/// Largest accumulator scale (`2^16`; real models use scales far below 1): with i32
/// accumulators the dequantised values stay below `2^47`, so their squares summed over a row
/// stay far from f32 overflow.
pub const MAX_ACC_SCALE: f32 = 65_536.0;

/// Rows of the weight matrix per kernel call (the i32 accumulators live on the stack).
const ROW_BLOCK: usize = 64;

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FcAddNorm<'a> {
    /// Input of the fully-connected part.
    pub input: u16,
    /// Residual tensor, same shape as `out`.
    pub residual: u16,
    /// Output tensor (the LayerNorm's output).
    pub out: u16,
    /// int8 `[out_cols × in_cols]`, symmetric per output channel.
    pub weights: &'a [u8],
    /// `out_cols` i32 LE biases in accumulator units (zero point folded in).
    pub bias: &'a [u8],
    /// `out_cols` f32 LE accumulator scales `s_x · s_w[c]`.
    pub scales: &'a [u8],
    /// `out_cols` f32 LE LayerNorm gains.
    pub gamma: &'a [u8],
    /// `out_cols` f32 LE LayerNorm offsets.
    pub beta: &'a [u8],
    /// Variance epsilon (in real units).
    pub eps: f32,
}

/// The parameters [`fc_add_norm`] reads, borrowed from the blob.
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

/// Checked view: lengths match the operands, scales in `[0, MAX_ACC_SCALE]`, finite params.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    input: Tensor,
    residual: Tensor,
    out: Tensor,
    params: FcAddNormParams<'a>,
}

impl<'a> Operator<'a> for FcAddNorm<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        let inputs = [Some(self.input), Some(self.residual), None];
        (inputs, Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        let (x, r, o) = (
            cx.tensor(self.input)?,
            cx.tensor(self.residual)?,
            cx.tensor(self.out)?,
        );
        ensure(
            x.per_token == o.per_token && r.same_shape(&o),
            Invalid::Shape,
        )?;
        let (n_in, n_out) = (x.cols(), o.cols());
        let lengths = self.weights.len() == n_in * n_out && self.bias.len() == 4 * n_out;
        ensure(lengths, Invalid::Length)?;
        let n = 4 * n_out;
        let per_col = [self.scales, self.gamma, self.beta];
        ensure(per_col.iter().all(|p| p.len() == n), Invalid::Length)?;
        let scales_ok =
            f32s(self.scales).all(|s| s.is_finite() && (0.0..=MAX_ACC_SCALE).contains(&s));
        ensure(scales_ok && eps_ok(self.eps), Invalid::Quant)?;
        ensure(
            params_ok(self.gamma) && params_ok(self.beta),
            Invalid::Quant,
        )?;
        Ok(Checked {
            input: x,
            residual: r,
            out: o,
            params: FcAddNormParams {
                weights: self.weights,
                bias: self.bias,
                scales: self.scales,
                gamma: self.gamma,
                beta: self.beta,
                eps: self.eps,
            },
        })
    }
}

impl Eval for Checked<'_> {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let x = f.ins.get(&self.input);
        let residual = (f.ins.get(&self.residual), self.residual.q());
        let cols = self.out.cols();
        fc_add_norm(
            x,
            self.input.cols(),
            &self.params,
            residual,
            self.out.q(),
            f.out,
            cols,
            f.work,
        );
    }

    fn work_words(&self, _max_len: usize) -> usize {
        self.out.cols()
    }
}

/// Fully connected + residual add + LayerNorm for each row of `x` (`[rows × in_cols]`) on
/// plain slices. `row` needs `out_cols` f32.
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
    if in_cols == 0 || out_cols == 0 {
        return;
    }
    let Some(row) = row.get_mut(..out_cols) else {
        return;
    };
    let w: &[i8] = bytemuck::cast_slice(p.weights);
    let (r, qr) = residual;
    let rz = i32::from(qr.zero_point);
    let n = out_cols as f32;
    let inv_out = 1.0 / qo.scale;
    let mut acc = [0i32; ROW_BLOCK];
    let rows = x.chunks_exact(in_cols).zip(r.chunks_exact(out_cols));
    for ((xr, rr), or) in rows.zip(out.chunks_exact_mut(out_cols)) {
        let mut params = f32s(p.scales).zip(i32s(p.bias)).zip(rr);
        for (yb, wb) in row.chunks_mut(ROW_BLOCK).zip(w.chunks(ROW_BLOCK * in_cols)) {
            let (acc, _) = acc.split_at_mut(yb.len().min(ROW_BLOCK));
            kernels::matvec_i8(xr, wb, acc);
            for ((y, &a), ((s, b), &res)) in yb.iter_mut().zip(acc.iter()).zip(&mut params) {
                let res = i32::from(res) - rz;
                *y = s * a.wrapping_add(b) as f32 + qr.scale * res as f32;
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
        let norm = f32s(p.gamma).zip(f32s(p.beta));
        for ((o, &y), (g, b)) in or.iter_mut().zip(row.iter()).zip(norm) {
            let v = (y - mean) * inv_std * g + b;
            *o = quantize_f32(v, inv_out, qo.zero_point);
        }
    }
}
