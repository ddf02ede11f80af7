//! `Pool`: reduces the token rows of a tensor to a single row (mean, first or max).

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::error::Invalid;
use crate::format::Multiplier;
use crate::quant::{multiplier_ok, saturate_i8};

/// How [`Pool`] reduces the token rows to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PoolKind {
    /// Mean over all token rows.
    Mean,
    /// The first token's row (e.g. `[CLS]`).
    First,
    /// Element-wise maximum over the token rows.
    Max,
}

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pool {
    /// Per-token input tensor.
    pub input: u16,
    /// Single-row output tensor.
    pub out: u16,
    /// Reduction.
    pub kind: PoolKind,
    /// `scale_in / scale_out` as a fixed-point multiplier (used by `Mean`; `First` and `Max`
    /// copy codes, so the exporter gives `out` the input's quantisation).
    pub rescale: Multiplier,
}

/// Checked view: per-token input, single-row output of the same width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    input: Tensor,
    out: Tensor,
    kind: PoolKind,
    rescale: Multiplier,
}

impl Operator<'_> for Pool {
    type Checked = Checked;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked, Invalid> {
        let (input, out) = (cx.tensor(self.input)?, cx.tensor(self.out)?);
        ensure(
            input.per_token && !out.per_token && input.cols() == out.cols(),
            Invalid::Shape,
        )?;
        if self.kind == PoolKind::Mean {
            ensure(multiplier_ok(self.rescale, -24, 30), Invalid::Quant)?;
        }
        Ok(Checked {
            input,
            out,
            kind: self.kind,
            rescale: self.rescale,
        })
    }
}

impl Eval for Checked {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let x = f.ins.get(&self.input);
        let (zi, zo) = (self.input.q().zero_point, self.out.q().zero_point);
        pool(x, zi, self.kind, self.rescale, zo, f.out);
    }
}

/// Reduces the `out.len()`-wide rows of `x` to one row on plain slices.
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
