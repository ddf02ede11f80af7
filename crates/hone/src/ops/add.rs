//! `Add`: TFLite int8 `ADD` of two tensors of the same shape.

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::error::Invalid;
use crate::format::Multiplier;
use crate::quant::{
    multiplier_ok, multiply_by_quantized_multiplier as mbqm, output_multiplier_ok,
    rounding_divide_by_pot, saturate_i8, saturating_rounding_doubling_high_mul,
};

/// Fixed-point parameters of a TFLite int8 `ADD`: both inputs are shifted left by
/// `left_shift`, scaled to a common scale, summed and scaled to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddParams {
    /// Left shift applied to both zero-point-corrected inputs (20 for int8).
    pub left_shift: u8,
    /// First input's multiplier (a number smaller than one: `shift ≤ 0`).
    pub a: Multiplier,
    /// Second input's multiplier (`shift ≤ 0`).
    pub b: Multiplier,
    /// Output multiplier.
    pub out: Multiplier,
}

impl AddParams {
    /// Whether the runtime accepts these parameters (shift ≤ 24, input multipliers below one).
    pub(crate) fn is_valid(&self) -> bool {
        self.left_shift <= 24
            && multiplier_ok(self.a, -31, 0)
            && multiplier_ok(self.b, -31, 0)
            && output_multiplier_ok(self.out)
    }
}

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Add {
    /// First input.
    pub a: u16,
    /// Second input.
    pub b: u16,
    /// Output.
    pub out: u16,
    /// Fixed-point parameters.
    pub params: AddParams,
}

/// Checked view: three tensors of one shape, valid parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    a: Tensor,
    b: Tensor,
    out: Tensor,
    params: AddParams,
}

impl Operator<'_> for Add {
    type Checked = Checked;

    fn operands(&self) -> Operands {
        ([Some(self.a), Some(self.b), None], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked, Invalid> {
        let (a, b, out) = (cx.tensor(self.a)?, cx.tensor(self.b)?, cx.tensor(self.out)?);
        ensure(a.same_shape(&b) && a.same_shape(&out), Invalid::Shape)?;
        ensure(self.params.is_valid(), Invalid::Quant)?;
        Ok(Checked {
            a,
            b,
            out,
            params: self.params,
        })
    }
}

impl Eval for Checked {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let (a, b) = (f.ins.get(&self.a), f.ins.get(&self.b));
        let (za, zb) = (self.a.q().zero_point, self.b.q().zero_point);
        add(a, za, b, zb, &self.params, f.out, self.out.q().zero_point);
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
