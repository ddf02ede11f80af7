//! `Head`: the float classification head, always the last op. The encoder's last tensor is
//! dequantised into the feature vector (L2-normalised when asked); the logits `W f + b` and
//! their log-softmax are computed by the runner from the checked view.

use serde::{Deserialize, Serialize};

use super::bounds::params_ok;
use super::{ensure, Cx, Eval, Io, Operands, Operator, QParams, Tensor};
use crate::error::Invalid;
use crate::kernels;
use crate::quant::{exp_f32, ln_f32, sqrt_f32};

/// Most classes a head may have.
pub const MAX_CLASSES: usize = 4096;

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Head<'a> {
    /// Single-row input tensor.
    pub input: u16,
    /// f32 LE `[classes × cols]`.
    pub weights: &'a [u8],
    /// f32 LE `[classes]`.
    pub bias: &'a [u8],
    /// L2-normalise the features first.
    pub normalize: bool,
}

/// Checked view: `classes × features` finite weights and `classes` finite biases.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    pub input: Tensor,
    pub weights: &'a [u8],
    pub bias: &'a [u8],
    pub normalize: bool,
    pub features: usize,
    pub classes: usize,
}

impl<'a> Operator<'a> for Head<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], None)
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        let input = cx.tensor(self.input)?;
        ensure(!input.per_token, Invalid::Shape)?;
        let classes = self.bias.len() / 4;
        ensure(
            classes > 0 && classes <= MAX_CLASSES && self.bias.len().is_multiple_of(4),
            Invalid::Limit,
        )?;
        ensure(
            self.weights.len() == 4 * classes * input.cols(),
            Invalid::Length,
        )?;
        ensure(
            params_ok(self.weights) && params_ok(self.bias),
            Invalid::Quant,
        )?;
        Ok(Checked {
            input,
            weights: self.weights,
            bias: self.bias,
            normalize: self.normalize,
            features: input.cols(),
            classes,
        })
    }
}

impl Checked<'_> {
    /// Weight `W[class][feature]` (0.0 out of range).
    pub fn weight(&self, class: usize, feature: usize) -> f32 {
        if feature >= self.features {
            return 0.0;
        }
        crate::bytes::read_f32(self.weights, class * self.features + feature)
    }
}

impl Eval for Checked<'_> {
    fn eval(&self, io: &mut Io<'_>) {
        let (x, features) = io.features_from(&self.input);
        dequantize(x, self.input.q(), self.normalize, features);
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
