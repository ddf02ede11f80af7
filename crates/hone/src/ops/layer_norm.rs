//! `LayerNorm`: normalisation over each row's columns in f32,
//! `y = (x − μ)/sqrt(σ² + ε)·γ + β`, quantised to the output.

use serde::{Deserialize, Serialize};

use super::bounds::{eps_ok, params_ok};
use super::{ensure, Cx, Eval, Io, Operands, Operator, QParams, Tensor};
use crate::bytes::f32s;
use crate::error::Invalid;
use crate::quant::{quantize_f32, sqrt_f32};

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerNorm<'a> {
    /// Input tensor.
    pub input: u16,
    /// Output tensor (same shape).
    pub out: u16,
    /// `cols` f32 LE gains.
    pub gamma: &'a [u8],
    /// `cols` f32 LE offsets.
    pub beta: &'a [u8],
    /// Variance epsilon (in real units).
    pub eps: f32,
}

/// Checked view: one finite gain and offset per column, finite non-negative ε.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    input: Tensor,
    out: Tensor,
    gamma: &'a [u8],
    beta: &'a [u8],
    eps: f32,
}

impl<'a> Operator<'a> for LayerNorm<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        let (input, out) = (cx.tensor(self.input)?, cx.tensor(self.out)?);
        ensure(input.same_shape(&out), Invalid::Shape)?;
        let n = 4 * input.cols();
        ensure(
            self.gamma.len() == n && self.beta.len() == n,
            Invalid::Length,
        )?;
        ensure(
            eps_ok(self.eps) && params_ok(self.gamma) && params_ok(self.beta),
            Invalid::Quant,
        )?;
        Ok(Checked {
            input,
            out,
            gamma: self.gamma,
            beta: self.beta,
            eps: self.eps,
        })
    }
}

impl Eval for Checked<'_> {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let x = f.ins.get(&self.input);
        let (gamma, beta) = (self.gamma, self.beta);
        layer_norm(
            x,
            self.input.q(),
            gamma,
            beta,
            self.eps,
            self.out.q(),
            f.out,
            self.out.cols(),
        );
    }
}

/// Layer normalisation of each `cols`-long row of `x` on plain slices (`gamma`, `beta`:
/// `cols` f32 LE values each).
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
    let zp = i32::from(qx.zero_point);
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        let sum: i32 = xr.iter().map(|&v| i32::from(v) - zp).sum();
        let mean = sum as f32 / n;
        let mut var = 0.0f32;
        for &v in xr {
            let d = (i32::from(v) - zp) as f32 - mean;
            var += d * d;
        }
        let inv_std = 1.0 / sqrt_f32(var / n + eps_q);
        let params = f32s(gamma).zip(f32s(beta));
        for ((o, &v), (g, b)) in or.iter_mut().zip(xr).zip(params) {
            let y = ((i32::from(v) - zp) as f32 - mean) * inv_std * g + b;
            *o = quantize_f32(y, inv_out, qo.zero_point);
        }
    }
}
