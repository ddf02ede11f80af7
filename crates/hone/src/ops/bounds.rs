//! Bounds on every float a blob carries, checked at load so that a validated model's forward
//! pass and head stay finite on any input.
//!
//! The argument, op by op (`n ≤ 65,535` columns, int8 deviations `|q − zp| ≤ 255`):
//! - dequantised values are `≤ MAX_SCALE · 255 ≈ 1.7e7`; the head's logits are
//!   `≤ MAX_PARAM · 1.7e7 · n + MAX_PARAM ≈ 1.1e18`, and the log-softmax of finite logits is
//!   finite;
//! - layer norms divide by `sqrt(var + ε)` with `ε ≥ MIN_EPS` folded into the integer scale
//!   (`ε / scale² ≥ 2.3e-22`, a normal f32), and `|normalised| ≤ sqrt(n)`, so
//!   `γ · x + β ≤ 2.6e8` and `· 1 / scale ≤ 2.6e20`;
//! - attention scores are `≤ 255² · n · MAX_PARAM ≈ 4.3e15`; softmax subtracts the maximum;
//! - fused FC + norm sums are `≤ 2³¹ · MAX_ACC_SCALE + MAX_SCALE · 255`, their squares summed
//!   over `n` columns stay below `f32::MAX`.
//!
//! Real models sit far inside these bounds (activation scales near 1e-3..10, normalisation
//! ε of 1e-12..1e-5, head weights of order 1).

use crate::bytes::f32s;

/// Smallest tensor scale.
pub const MIN_SCALE: f32 = 1e-12;
/// Largest tensor scale.
pub const MAX_SCALE: f32 = 65_536.0;
/// Largest magnitude of a float parameter: head weights and biases, normalisation `γ`, `β`
/// and `ε`, attention score scales.
pub const MAX_PARAM: f32 = 1e6;
/// Smallest normalisation `ε`.
pub const MIN_EPS: f32 = 1e-12;

/// A tensor (or token) scale in `[MIN_SCALE, MAX_SCALE]` (never NaN).
pub(crate) fn scale_ok(s: f32) -> bool {
    (MIN_SCALE..=MAX_SCALE).contains(&s)
}

/// A float parameter with `|x| ≤ MAX_PARAM` (never NaN or infinite).
pub(crate) fn param_ok(x: f32) -> bool {
    (-MAX_PARAM..=MAX_PARAM).contains(&x)
}

/// Every little-endian f32 of `bytes` satisfies [`param_ok`].
pub(crate) fn params_ok(bytes: &[u8]) -> bool {
    f32s(bytes).all(param_ok)
}

/// A normalisation `ε` in `[MIN_EPS, MAX_PARAM]`.
pub(crate) fn eps_ok(eps: f32) -> bool {
    (MIN_EPS..=MAX_PARAM).contains(&eps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_refuse_nan_infinity_and_extremes() {
        for bad in [
            f32::NAN,
            f32::INFINITY,
            0.0,
            -1.0,
            1e38,
            MAX_SCALE * 1.01,
            1e-13,
        ] {
            assert!(!scale_ok(bad), "{bad}");
        }
        for good in [MIN_SCALE, 1e-3, 1.0, MAX_SCALE] {
            assert!(scale_ok(good), "{good}");
        }
        for bad in [f32::NAN, f32::NEG_INFINITY, 1e7, -1e38] {
            assert!(!param_ok(bad), "{bad}");
        }
        assert!(param_ok(-MAX_PARAM) && param_ok(0.0) && param_ok(MAX_PARAM));
        assert!(!eps_ok(0.0) && !eps_ok(f32::NAN) && eps_ok(1e-12) && eps_ok(1e-5));
        let mut bytes = [0u8; 8];
        bytes[4..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(!params_ok(&bytes) && params_ok(&bytes[..4]));
    }
}
