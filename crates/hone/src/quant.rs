//! Fixed-point and float helpers shared by the ops, with TFLite's int8 rounding rules.
//!
//! All functions are total (no panics) and deterministic across targets: integer code is
//! exact, float code uses only IEEE-754 basic operations and [`micromath`] explicitly.

use crate::format::Multiplier;

/// `round(a · b / 2^31)` with TFLite's `SaturatingRoundingDoublingHighMul` semantics.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    // TFLite computes `(ab + nudge) / 2^31` truncating toward zero, with `nudge = 2^30` for
    // `ab ≥ 0` and `1 − 2^30` otherwise. For `ab < 0` the sum is negative, so truncation is
    // `⌊(ab + 1 − 2^30 + 2^31 − 1) / 2^31⌋ = ⌊(ab + 2^30) / 2^31⌋`, the same as for `ab ≥ 0`:
    // one rounding shift (SMLAL + 2 shifts on Cortex-M4 instead of a 64-bit division).
    ((ab + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded half away from zero (TFLite `RoundingDivideByPOT`).
/// `exponent` is clamped to `0..=31`.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = exponent.clamp(0, 31) as u32;
    let mask = (1u32 << e).wrapping_sub(1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// TFLite `MultiplyByQuantizedMultiplier`: `x · multiplier · 2^(shift − 31)`, rounded.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, m: Multiplier) -> i32 {
    let shift = i32::from(m.shift);
    let left = if shift > 0 { shift.min(31) } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left), m.multiplier),
        right,
    )
}

/// Saturates an i32 to the int8 range.
#[inline]
pub fn saturate_i8(x: i32) -> i8 {
    x.clamp(-128, 127) as i8
}

/// Rounds half away from zero and saturates to i32 (NaN → 0).
#[inline]
pub fn round_f32(x: f32) -> i32 {
    if x.is_nan() {
        return 0;
    }
    let c = x.clamp(-2_147_483_520.0, 2_147_483_520.0);
    let t = c as i32;
    let frac = c - t as f32;
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// Quantises a real value to an int8 code: `clamp(round(x / scale) + zero_point)`.
#[inline]
pub fn quantize_f32(x: f32, inv_scale: f32, zero_point: i8) -> i8 {
    saturate_i8(round_f32(x * inv_scale).saturating_add(i32::from(zero_point)))
}

/// Square root: micromath's estimate refined by three Newton steps (IEEE basic operations
/// only, so every target gives the same bits). Returns 0 for `x ≤ 0` and NaN for NaN.
#[inline]
pub fn sqrt_f32(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x <= 0.0 {
        return 0.0;
    }
    // micromath's estimate is within 5 %; three Newton steps bring it to full precision.
    let mut y = micromath::F32Ext::sqrt(x);
    if y <= 0.0 || !y.is_finite() {
        return y;
    }
    for _ in 0..3 {
        y = 0.5 * (y + x / y);
    }
    y
}

/// `2^k` for `k` in the normal range `-126..=127`, built from its bits.
#[inline]
fn pow2i(k: i32) -> f32 {
    f32::from_bits(((k.clamp(-126, 127) + 127) as u32) << 23)
}

/// `e^x` to within about 2 ulp, using only IEEE basic operations (so every target gives the
/// same bits): `x = k·ln 2 + r`, `|r| ≤ ln 2 / 2`, a degree-7 Taylor polynomial in `r`, then
/// scaling by `2^k`. Saturates to `+∞` above 88.72 and to 0 below −103.9; NaN stays NaN.
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.722_84 {
        return f32::INFINITY;
    }
    if x < -103.972_08 {
        return 0.0;
    }
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let k = round_f32(x * core::f32::consts::LOG2_E);
    let kf = k as f32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    if k < -126 {
        // Subnormal result: scale in two steps.
        p * pow2i(k + 64) * pow2i(-64)
    } else {
        p * pow2i(k)
    }
}

/// Natural logarithm to within about 2 ulp using only IEEE basic operations:
/// `x = m·2^e` with `m ∈ [√½, √2)`, `ln m = 2·atanh((m − 1)/(m + 1))` by its series.
/// `ln 0 = −∞`, negative or NaN input gives NaN, `ln ∞ = ∞`.
#[inline]
pub fn ln_f32(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    let (mut bits, mut e) = (x.to_bits(), 0i32);
    if bits < 0x0080_0000 {
        // Subnormal: scale up by 2^25.
        bits = (x * 33_554_432.0).to_bits();
        e -= 25;
    }
    e += ((bits >> 23) as i32) - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0)))));
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let ef = e as f32;
    (ef * LN2_HI + series) + ef * LN2_LO
}

/// Whether a multiplier is in the range the runtime accepts (`shift` within `lo..=hi`).
pub(crate) fn multiplier_ok(m: Multiplier, lo: i8, hi: i8) -> bool {
    let mult_ok = m.multiplier == 0 || (1 << 30..=i32::MAX).contains(&m.multiplier);
    mult_ok && (lo..=hi).contains(&m.shift)
}

/// Whether an output requantisation multiplier is one the runtime accepts (`shift` in
/// `−31..=30`).
pub(crate) fn output_multiplier_ok(m: Multiplier) -> bool {
    multiplier_ok(m, -31, 30)
}

/// Whether `mults` (i32 LE) and `shifts` (i8) hold exactly `n` valid output multipliers.
pub(crate) fn row_multipliers_ok(mults: &[u8], shifts: &[u8], n: usize) -> bool {
    mults.len() == 4 * n
        && shifts.len() == n
        && crate::bytes::i32s(mults)
            .zip(shifts)
            .all(|(multiplier, &s)| {
                output_multiplier_ok(Multiplier {
                    multiplier,
                    shift: s as i8,
                })
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_mbqm(x: i32, m: Multiplier) -> i64 {
        // Exact rational rounding, half away from zero, of x·m·2^(shift−31).
        let num = i128::from(x) * i128::from(m.multiplier);
        let e = 31 - i32::from(m.shift);
        let (num, den) = if e >= 0 {
            (num, 1i128 << e)
        } else {
            (num << (-e), 1)
        };
        let q = num.abs() / den;
        let r = num.abs() % den;
        let q = if 2 * r >= den { q + 1 } else { q };
        (if num < 0 { -q } else { q }) as i64
    }

    #[test]
    fn srdhm_matches_definition_and_saturates() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // -0.5 rounds away from zero in the nudge convention: (-1·2^30 + 1 − 2^30)/2^31.
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    }

    #[test]
    fn rounding_divide_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(7, 2), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(123, 0), 123);
        // Out-of-range exponents are clamped, never a panic.
        assert_eq!(rounding_divide_by_pot(123, 99), 0);
        assert_eq!(rounding_divide_by_pot(123, -4), 123);
    }

    #[test]
    fn mbqm_close_to_exact_rational() {
        // MBQM rounds twice (high-mul, then shift), so it may differ from the exact rational
        // rounding by one code, never more.
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..20_000 {
            let x = (next() as i32) >> (next() % 24);
            let m = Multiplier {
                multiplier: (1 << 30) + (next() % (1 << 30)) as i32,
                shift: -((next() % 20) as i8),
            };
            let got = i64::from(multiply_by_quantized_multiplier(x, m));
            let want = naive_mbqm(x, m);
            assert!(
                (got - want).abs() <= 1,
                "x={x} m={m:?} got={got} want={want}"
            );
        }
    }

    /// TFLite's formula, as written in its reference code.
    fn srdhm_tflite(a: i32, b: i32) -> i32 {
        if a == i32::MIN && b == i32::MIN {
            return i32::MAX;
        }
        let ab = i64::from(a) * i64::from(b);
        let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        ((ab + nudge) / (1i64 << 31)) as i32
    }

    #[test]
    fn srdhm_equals_tflite_nudge_and_truncate() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -(1 << 30) + 1,
            -3,
            -2,
            -1,
            0,
            1,
            2,
            3,
            (1 << 30) - 1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX - 1,
            i32::MAX,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(a, b),
                    srdhm_tflite(a, b),
                    "{a} {b}"
                );
            }
        }
        let mut s = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let a = s as i32 >> (s % 29);
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let b = s as i32;
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                srdhm_tflite(a, b),
                "{a} {b}"
            );
        }
        // Exact ties (ab = ±2^30 · odd) round up in both.
        for k in [-5i32, -3, -1, 1, 3, 5] {
            let (a, b) = (k, 1 << 30);
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                srdhm_tflite(a, b)
            );
        }
    }

    #[test]
    fn mbqm_positive_shift_and_negative_values() {
        let half = Multiplier {
            multiplier: 1 << 30,
            shift: 0,
        };
        // TFLite's high-mul rounds ties upward: 1.5 → 2 but −1.5 → −1.
        assert_eq!(multiply_by_quantized_multiplier(3, half), 2);
        assert_eq!(multiply_by_quantized_multiplier(-3, half), -1);
        assert_eq!(multiply_by_quantized_multiplier(-5, half), -2);
        let four = Multiplier {
            multiplier: 1 << 30,
            shift: 3,
        };
        assert_eq!(multiply_by_quantized_multiplier(-7, four), -28);
        // Saturating high-mul at the extreme.
        let one = Multiplier {
            multiplier: i32::MAX,
            shift: 0,
        };
        assert_eq!(
            multiply_by_quantized_multiplier(i32::MIN, one),
            i32::MIN + 1
        );
    }

    #[test]
    fn round_and_saturate() {
        assert_eq!(round_f32(2.5), 3);
        assert_eq!(round_f32(-2.5), -3);
        assert_eq!(round_f32(2.4999), 2);
        assert_eq!(round_f32(-0.4), 0);
        assert_eq!(round_f32(f32::NAN), 0);
        assert_eq!(round_f32(f32::INFINITY), 2_147_483_520);
        assert_eq!(round_f32(f32::NEG_INFINITY), -2_147_483_520);
        assert_eq!(saturate_i8(300), 127);
        assert_eq!(saturate_i8(-300), -128);
        assert_eq!(quantize_f32(1.0, 10.0, 5), 15);
        assert_eq!(quantize_f32(100.0, 10.0, 5), 127);
    }

    #[test]
    fn exp_and_ln_are_accurate() {
        let mut x = -103.0f32;
        while x < 88.0 {
            let got = f64::from(exp_f32(x));
            let want = f64::from(x).exp();
            let tol = if want < 1.2e-38 { 2e-45 } else { 4e-7 * want };
            assert!((got - want).abs() <= tol, "exp({x}) = {got}, want {want}");
            x += 0.0173;
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        let mut x = 1e-44f32;
        while x < 3e38 {
            let got = f64::from(ln_f32(x));
            let want = f64::from(x).ln();
            assert!(
                (got - want).abs() <= 4e-7 * want.abs().max(1.0),
                "ln({x}) = {got}, want {want}"
            );
            x *= 1.37;
        }
        assert_eq!(ln_f32(1.0), 0.0);
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert!(ln_f32(-1.0).is_nan());
        assert!(ln_f32(f32::NAN).is_nan());
    }

    #[test]
    fn sqrt_is_accurate() {
        for &x in &[1e-12f32, 1e-6, 0.25, 1.0, 2.0, 10.0, 12345.678, 3.4e38] {
            let s = sqrt_f32(x);
            let exact = (x as f64).sqrt();
            assert!(
                ((s as f64 - exact) / exact).abs() < 1e-6,
                "{x}: {s} vs {exact}"
            );
        }
        assert_eq!(sqrt_f32(0.0), 0.0);
        assert_eq!(sqrt_f32(-1.0), 0.0);
        assert!(sqrt_f32(f32::NAN).is_nan());
    }
}
