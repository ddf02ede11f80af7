//! Quantisation in f64 for exporters: TFLite's multiplier split, symmetric per-channel
//! weights, asymmetric activations, and the parameter bytes of the ops that need them.

use hone::format::Multiplier;
use hone::ops::AddParams;

use crate::BuildError;

/// Splits a positive real multiplier into a Q31 multiplier and a shift, as TFLite's
/// `QuantizeMultiplier` does (`real = m · 2^(shift − 31)`, `m ∈ [2^30, 2^31)`), rounding half
/// away from zero. Returns `None` for negative, non-finite or out-of-range values; `Some` of a
/// zero multiplier for 0 and for values too small to represent.
pub fn quantize_multiplier(real: f64) -> Option<Multiplier> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    if real == 0.0 {
        return Some(Multiplier {
            multiplier: 0,
            shift: 0,
        });
    }
    // real = mant · 2^(exp − 52) with mant ∈ [2^52, 2^53) (normal numbers only).
    let bits = real.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return Some(Multiplier {
            multiplier: 0,
            shift: 0,
        });
    }
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    // q = round(mant / 2^22) ∈ [2^30, 2^31]; frexp's exponent is biased − 1022.
    let mut q = (mant + (1 << 21)) >> 22;
    let mut shift = biased - 1022;
    if q == 1 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Some(Multiplier {
            multiplier: 0,
            shift: 0,
        });
    }
    if shift > 30 {
        return None;
    }
    Some(Multiplier {
        multiplier: q as i32,
        shift: shift as i8,
    })
}

/// The real value a [`Multiplier`] stands for.
pub fn multiplier_value(m: Multiplier) -> f64 {
    let mut v = f64::from(m.multiplier) / 2_147_483_648.0;
    let mut s = i32::from(m.shift);
    while s > 0 {
        v *= 2.0;
        s -= 1;
    }
    while s < 0 {
        v /= 2.0;
        s += 1;
    }
    v
}

/// Rounds half away from zero (core has no `f64::round`).
pub fn round_f64(x: f64) -> f64 {
    let t = x as i64 as f64;
    if x - t >= 0.5 {
        t + 1.0
    } else if t - x >= 0.5 {
        t - 1.0
    } else {
        t
    }
}

/// Asymmetric int8 quantisation of the range `[lo, hi]` (widened to include 0):
/// `(scale, zero_point)`.
pub fn asymmetric(lo: f32, hi: f32) -> (f32, i8) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = round_f64(-128.0 - f64::from(lo) / f64::from(scale)).clamp(-128.0, 127.0) as i8;
    (scale, zp)
}

/// Symmetric int8 quantisation of each `cols`-long row (per output channel): codes and
/// per-row scales (`max|w| / 127`, 1.0 for an all-zero row).
pub fn quantize_rows(w: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(w.len() / cols.max(1));
    for row in w.chunks(cols.max(1)) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(
            row.iter()
                .map(|&v| round_f64(f64::from(v) / f64::from(s)).clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

/// `(bias, multipliers, shifts)` of a fully-connected op, as blob bytes.
pub type FcBytes = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Everything a fully-connected op needs besides its weights: `(bias, multipliers, shifts)`
/// as blob bytes, with the input zero point folded into the bias.
pub fn fc_params(
    w_q: &[i8],
    w_scales: &[f32],
    bias: &[f32],
    s_in: f32,
    zp_in: i8,
    s_out: f32,
) -> Result<FcBytes, BuildError> {
    let rows = w_scales.len();
    let cols = w_q.len() / rows.max(1);
    let mut b = Vec::with_capacity(4 * rows);
    let mut m = Vec::with_capacity(4 * rows);
    let mut s = Vec::with_capacity(rows);
    for r in 0..rows {
        let acc_scale = f64::from(s_in) * f64::from(w_scales[r]);
        let bq = round_f64(f64::from(bias.get(r).copied().unwrap_or(0.0)) / acc_scale) as i64;
        let row_sum: i64 = w_q[r * cols..(r + 1) * cols]
            .iter()
            .map(|&v| i64::from(v))
            .sum();
        let folded =
            (bq - i64::from(zp_in) * row_sum).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        b.extend_from_slice(&(folded as i32).to_le_bytes());
        let mult = quantize_multiplier(acc_scale / f64::from(s_out))
            .ok_or(BuildError::Quant("fully-connected output multiplier"))?;
        m.extend_from_slice(&mult.multiplier.to_le_bytes());
        s.push(mult.shift as u8);
    }
    Ok((b, m, s))
}

/// `(bias, scales)` of an [`hone::ops::FcAddNorm`], as blob bytes: the accumulator scale of each
/// output channel (`s_in · w_scales[c]`, f32) and the bias in accumulator units with the input
/// zero point folded in (i32).
pub fn fc_add_norm_params(
    w_q: &[i8],
    w_scales: &[f32],
    bias: &[f32],
    s_in: f32,
    zp_in: i8,
) -> (Vec<u8>, Vec<u8>) {
    let rows = w_scales.len();
    let cols = w_q.len() / rows.max(1);
    let mut b = Vec::with_capacity(4 * rows);
    let mut scales = Vec::with_capacity(4 * rows);
    for (r, &ws) in w_scales.iter().enumerate() {
        let acc_scale = s_in * ws;
        scales.extend_from_slice(&acc_scale.to_le_bytes());
        let bq = round_f64(f64::from(bias.get(r).copied().unwrap_or(0.0)) / f64::from(acc_scale));
        let row_sum: i64 = w_q
            .get(r * cols..(r + 1) * cols)
            .unwrap_or(&[])
            .iter()
            .map(|&v| i64::from(v))
            .sum();
        let folded = (bq as i64 - i64::from(zp_in) * row_sum)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        b.extend_from_slice(&(folded as i32).to_le_bytes());
    }
    (b, scales)
}

/// TFLite `ADD` parameters for inputs of scales `s_a`, `s_b` and output scale `s_out`.
pub fn add_params(s_a: f32, s_b: f32, s_out: f32) -> Result<AddParams, BuildError> {
    let left_shift = 20u8;
    let twice_max = 2.0 * f64::from(s_a.max(s_b));
    let q = |r: f64| quantize_multiplier(r).ok_or(BuildError::Quant("add multiplier"));
    let out = q(twice_max / (f64::from(1u32 << left_shift) * f64::from(s_out)))?;
    Ok(AddParams {
        left_shift,
        a: q(f64::from(s_a) / twice_max)?,
        b: q(f64::from(s_b) / twice_max)?,
        out,
    })
}

/// A 256-entry lookup table implementing `f` from input quantisation `(s_in, zp_in)` to
/// output quantisation `(s_out, zp_out)`, indexed by the input code as a byte.
pub fn lut_table(f: impl Fn(f64) -> f64, s_in: f32, zp_in: i8, s_out: f32, zp_out: i8) -> Vec<u8> {
    (0..256u16)
        .map(|b| {
            let q = b as u8 as i8;
            let x = f64::from(s_in) * (f64::from(q) - f64::from(zp_in));
            let y = round_f64(f(x) / f64::from(s_out)) + f64::from(zp_out);
            y.clamp(-128.0, 127.0) as i8 as u8
        })
        .collect()
}

/// A multiplier for `real`, or an error naming `what`.
pub fn multiplier(real: f64, what: &'static str) -> Result<Multiplier, BuildError> {
    quantize_multiplier(real).ok_or(BuildError::Quant(what))
}

/// Encodes f32 values as little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Reinterprets int8 codes as bytes.
pub fn i8_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_round_trips() {
        for &r in &[
            1.0,
            0.75,
            0.001,
            3.5e-6,
            123.456,
            0.999_999_999_9,
            1.0 / 3.0,
        ] {
            let m = quantize_multiplier(r).unwrap();
            assert!((1 << 30..=i32::MAX).contains(&m.multiplier), "{r}: {m:?}");
            let back = multiplier_value(m);
            assert!(((back - r) / r).abs() < 1e-9, "{r} → {back}");
        }
        // 0.999999999999 rounds up to 2^31 and must renormalise.
        let m = quantize_multiplier(0.999_999_999_999).unwrap();
        assert_eq!((m.multiplier, m.shift), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0).unwrap().multiplier, 0);
        assert_eq!(quantize_multiplier(1e-300).unwrap().multiplier, 0);
        assert!(quantize_multiplier(-1.0).is_none());
        assert!(quantize_multiplier(f64::NAN).is_none());
        assert!(quantize_multiplier(f64::INFINITY).is_none());
        assert!(quantize_multiplier(1e12).is_none());
    }
}
