//! `Softmax`: TFLite int8 `SOFTMAX` over the last dimension, with TFLite Micro's integer
//! algorithm for int8 input and int8 output (gemmlowp fixed point: the input differences to
//! the row maximum scaled to Q5.26, `exp` on negative values in Q0.31, the sum in Q12.19, its
//! reciprocal by Newton–Raphson, and the output `exp · 1/sum` in steps of 1/256 from −128).

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::error::Invalid;
use crate::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm};

/// Longest row a `Softmax` accepts: the sum of `exp` (at most `2^19` per value in Q12.19)
/// stays below `2^31`.
pub const MAX_DEPTH: usize = 4095;

/// Wire parameters. `multiplier · 2^left_shift / 2^31` is `β · s_x · 2^26` (TFLite's
/// `PreprocessSoftmaxScaling` with 5 integer bits); the output is int8 with zero point −128
/// (scale 1/256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Softmax {
    /// Input tensor.
    pub input: u16,
    /// Output tensor (same length as the input).
    pub out: u16,
    /// Values per row (the last dimension); the tensor holds whole rows.
    pub depth: u16,
    /// Q31 input multiplier, in `[2^30, 2^31)`.
    pub multiplier: i32,
    /// Left shift of the input differences, `0..=31`.
    pub left_shift: u8,
}

/// Checked view.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    input: Tensor,
    out: Tensor,
    depth: u16,
    multiplier: i32,
    left_shift: u8,
}

impl Operator<'_> for Softmax {
    type Checked = Checked;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], Some(self.out))
    }

    #[inline(never)]
    fn check(&self, cx: &Cx<'_>) -> Result<Checked, Invalid> {
        ensure(cx.tensor_model(), Invalid::Structure)?;
        let (x, o) = (cx.tensor(self.input)?, cx.tensor(self.out)?);
        ensure(x.same_shape(&o) && !x.per_token, Invalid::Shape)?;
        let depth = usize::from(self.depth);
        ensure(
            (1..=MAX_DEPTH).contains(&depth) && x.cols().is_multiple_of(depth),
            Invalid::Shape,
        )?;
        ensure(
            self.multiplier >= 1 << 30 && self.left_shift <= 31 && o.q().zero_point == -128,
            Invalid::Quant,
        )?;
        Ok(Checked {
            input: x,
            out: o,
            depth: self.depth,
            multiplier: self.multiplier,
            left_shift: self.left_shift,
        })
    }
}

impl Eval for Checked {
    #[inline(never)]
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let x = f.ins.get(&self.input);
        softmax(
            x,
            usize::from(self.depth),
            self.multiplier,
            self.left_shift,
            f.out,
        );
    }
}

/// gemmlowp `RoundingDivideByPOT` for exponents up to 62 (the output step can shift by more
/// than 31 for long rows).
fn rounding_shift_i64(x: i32, exponent: i32) -> i32 {
    let e = exponent.clamp(0, 62) as u32;
    let x = i64::from(x);
    let mask = (1i64 << e) - 1;
    let threshold = (mask >> 1) + i64::from(x < 0);
    ((x >> e) + i64::from((x & mask) > threshold)) as i32
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT<e>` for `e > 0`.
fn saturating_shl(x: i32, e: u32) -> i32 {
    let threshold = (1i32 << (31 - e)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << e
    }
}

/// `exp(a)` for `a ∈ [−1/4, 0)` in Q0.31 (gemmlowp's Taylor expansion around −1/8).
fn exp_quarter(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(srdhm(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// `exp(a)` for `a ≤ 0` given in Q5.26, as Q0.31 (gemmlowp `exp_on_negative_values`).
fn exp_negative(a: i32) -> i32 {
    const QUARTER: i32 = 1 << 24;
    let a_mod = (a & (QUARTER - 1)).wrapping_sub(QUARTER);
    let mut result = exp_quarter(a_mod << 5);
    let remainder = a_mod.wrapping_sub(a);
    // exp(−2^k) in Q0.31 for k = −2..=4, applied for each set bit 26 + k of the remainder.
    const BARREL: [(u32, i32); 7] = [
        (24, 1_672_461_947),
        (25, 1_302_514_674),
        (26, 790_015_084),
        (27, 290_630_308),
        (28, 39_332_535),
        (29, 720_401),
        (30, 242),
    ];
    for (bit, m) in BARREL {
        if remainder & (1 << bit) != 0 {
            result = srdhm(result, m);
        }
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// `1 / (1 + x)` for `x ∈ [0, 1)` in Q0.31, as Q0.31 (gemmlowp
/// `one_over_one_plus_x_for_x_in_0_1`: three Newton–Raphson steps in Q2.29).
fn one_over_one_plus_x(a: i32) -> i32 {
    let half_denominator = ((i64::from(a) + i64::from(i32::MAX) + 1) / 2) as i32;
    const C48_17: i32 = 1_515_870_810;
    const CNEG32_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let mut x = C48_17.wrapping_add(srdhm(half_denominator, CNEG32_17));
    for _ in 0..3 {
        let hdx = srdhm(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(hdx);
        x = x.wrapping_add(saturating_shl(srdhm(x, one_minus), 2));
    }
    saturating_shl(x, 1)
}

/// Softmax of every `depth`-long row of `x` into `out` (int8, zero point −128, scale 1/256),
/// with TFLite Micro's int8 arithmetic: `multiplier` and `left_shift` scale the differences
/// to the row maximum to Q5.26; differences below `−⌊31 · 2^26 / 2^left_shift⌋` give −128.
/// Total: a partial last row, or `out` shorter than `x`, is left as far as the slices reach.
pub fn softmax(x: &[i8], depth: usize, multiplier: i32, left_shift: u8, out: &mut [i8]) {
    if depth == 0 {
        return;
    }
    let shift = u32::from(left_shift.min(31));
    let diff_min = -(((31i64) << 26) >> shift);
    let scaled = |v: i8, max: i8| -> Option<i32> {
        let diff = i64::from(v) - i64::from(max);
        (diff >= diff_min).then(|| srdhm((diff << shift) as i32, multiplier))
    };
    for (xr, or) in x.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let max = xr.iter().copied().max().unwrap_or(i8::MIN);
        let sum = xr
            .iter()
            .filter_map(|&v| scaled(v, max))
            .fold(0i32, |s, d| {
                s.wrapping_add(rounding_divide_by_pot(exp_negative(d), 12))
            });
        let headroom = (sum as u32).leading_zeros();
        let bits_over_unit = 12 - headroom as i32;
        let shifted_minus_one = (sum as u32)
            .checked_shl(headroom)
            .unwrap_or(0)
            .wrapping_sub(1 << 31) as i32;
        let scale = one_over_one_plus_x(shifted_minus_one);
        for (&v, o) in xr.iter().zip(or.iter_mut()) {
            *o = match scaled(v, max) {
                Some(d) => {
                    let e = srdhm(scale, exp_negative(d));
                    let unsat = rounding_shift_i64(e, bits_over_unit + 31 - 8);
                    unsat.saturating_sub(128).clamp(-128, 127) as i8
                }
                None => -128,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::{vec, vec::Vec};

    use super::softmax;

    /// TFLite's `PreprocessSoftmaxScaling` for β = 1 (the double computation).
    fn params(scale: f64) -> (i32, u8) {
        let real = (scale * f64::from(1u32 << 26)).min(2_147_483_647.0);
        let (mut m, mut e) = (real, 0i32);
        while m >= 1.0 {
            m /= 2.0;
            e += 1;
        }
        while m < 0.5 {
            m *= 2.0;
            e -= 1;
        }
        let mut q = (m * 2_147_483_648.0).round() as i64;
        if q == 1 << 31 {
            q /= 2;
            e += 1;
        }
        (q as i32, e as u8)
    }

    fn next(seed: &mut u32) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        *seed
    }

    /// Within one step of 1/256 of the f64 softmax, and an exact sum-to-one where TFLite's
    /// rounding guarantees it is near.
    #[test]
    fn int8_softmax_is_within_one_step_of_the_f64_softmax() {
        let mut s = 0x5eed_0001;
        for &(scale, depth) in &[(0.1f64, 4usize), (0.05, 10), (0.25, 3), (0.02, 64)] {
            let (m, shift) = params(scale);
            for k in 0..300 {
                let x: Vec<i8> = match k {
                    0 => vec![-128; depth],
                    1 => vec![127; depth],
                    _ => (0..depth).map(|_| next(&mut s) as i8).collect(),
                };
                let mut out = vec![0i8; depth];
                softmax(&x, depth, m, shift, &mut out);
                let max = x.iter().copied().max().unwrap();
                let exps: Vec<f64> = x
                    .iter()
                    .map(|&v| ((f64::from(v) - f64::from(max)) * scale).exp())
                    .collect();
                let total: f64 = exps.iter().sum();
                for (e, &o) in exps.iter().zip(&out) {
                    let want = (e / total * 256.0 - 128.0).clamp(-128.0, 127.0);
                    let got = f64::from(o);
                    assert!((got - want).abs() <= 1.0, "{x:?}: {out:?} want {want}");
                }
            }
        }
    }

    #[test]
    fn uniform_rows_and_dominant_values() {
        let (m, shift) = params(0.1);
        let mut out = [0i8; 4];
        softmax(&[5, 5, 5, 5], 4, m, shift, &mut out);
        assert_eq!(out, [-64; 4]);
        // One value far above the others: 127 (saturated 1.0) and −128 (0).
        softmax(&[127, -128, -128, -128], 4, m, shift, &mut out);
        assert_eq!(out, [127, -128, -128, -128]);
        // Total on short and empty slices.
        softmax(&[1, 2, 3], 4, m, shift, &mut out);
        softmax(&[1, 2, 3, 4], 0, m, shift, &mut out);
        softmax(&[1, 2, 3, 4], 4, m, 31, &mut []);
    }
}
