//! `FullyConnected`: `out = act(requant(W · x + bias))` for every row of the input, with
//! TFLite int8 semantics (per-channel symmetric weights, Q31 multiplier + shift).

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::error::Invalid;
use crate::kernels;
use crate::quant::row_multipliers_ok;

/// Activation fused into a fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Activation {
    /// No activation.
    None,
    /// `max(x, 0)`, i.e. clamp at the output zero point.
    Relu,
}

/// Wire parameters. The input zero point is folded into `bias` by the exporter
/// (`bias'[r] = bias[r] − zp_x · Σ_c W[r][c]`), so the runtime computes `W · x + bias'`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FullyConnected<'a> {
    /// Input tensor.
    pub input: u16,
    /// Output tensor (same row count as the input).
    pub out: u16,
    /// int8 `[out_cols × in_cols]`, symmetric per output channel.
    pub weights: &'a [u8],
    /// `out_cols` i32 LE biases (zero point folded in).
    pub bias: &'a [u8],
    /// `out_cols` i32 LE Q31 multipliers.
    pub multipliers: &'a [u8],
    /// `out_cols` i8 shifts.
    pub shifts: &'a [u8],
    /// Fused activation.
    pub activation: Activation,
}

/// Checked view: weights are exactly `out_cols × in_cols`, one valid multiplier per row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    input: Tensor,
    out: Tensor,
    weights: &'a [i8],
    requant: kernels::Requant<'a>,
}

impl<'a> Operator<'a> for FullyConnected<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        let (x, o) = (cx.tensor(self.input)?, cx.tensor(self.out)?);
        ensure(x.per_token == o.per_token, Invalid::Shape)?;
        let (n_in, n_out) = (x.cols(), o.cols());
        ensure(self.weights.len() == n_in * n_out, Invalid::Length)?;
        ensure(self.bias.len() == 4 * n_out, Invalid::Length)?;
        ensure(
            self.multipliers.len() == 4 * n_out && self.shifts.len() == n_out,
            Invalid::Length,
        )?;
        ensure(
            row_multipliers_ok(self.multipliers, self.shifts, n_out),
            Invalid::Quant,
        )?;
        Ok(Checked {
            input: x,
            out: o,
            weights: bytemuck::cast_slice(self.weights),
            requant: requant(self, o.q().zero_point),
        })
    }
}

fn requant<'a>(p: &FullyConnected<'a>, out_zp: i8) -> kernels::Requant<'a> {
    kernels::Requant {
        bias: p.bias,
        mults: p.multipliers,
        shifts: p.shifts,
        out_zp,
        lo: match p.activation {
            Activation::Relu => out_zp,
            Activation::None => -128,
        },
    }
}

impl Eval for Checked<'_> {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let x = f.ins.get(&self.input);
        rows(
            x,
            self.input.cols(),
            self.weights,
            &self.requant,
            f.out,
            self.out.cols(),
        );
    }
}

fn rows(
    x: &[i8],
    in_cols: usize,
    w: &[i8],
    q: &kernels::Requant<'_>,
    out: &mut [i8],
    out_cols: usize,
) {
    if in_cols == 0 || out_cols == 0 {
        return;
    }
    for (xr, or) in x.chunks_exact(in_cols).zip(out.chunks_exact_mut(out_cols)) {
        kernels::fully_connected_i8(xr, w, q, or);
    }
}

/// Fully connected layer on plain slices: every `in_cols`-long row of `x` times the
/// `[out_cols × in_cols]` weights, plus bias, requantised (`mults`, `shifts`) to the output
/// zero point `out_zp` and clamped by `activation`, into the matching row of `out`. Total:
/// short slices compute what they can ([`kernels::fully_connected_i8`]).
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
    let p = FullyConnected {
        input: 0,
        out: 0,
        weights,
        bias,
        multipliers: mults,
        shifts,
        activation,
    };
    let w: &[i8] = bytemuck::cast_slice(weights);
    rows(x, in_cols, w, &requant(&p, out_zp), out, out_cols);
}
