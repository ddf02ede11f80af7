//! `SOFTMAX` → hone's `Softmax`, with TFLite Micro's int8 → int8 arithmetic: the input scale
//! and β folded into a Q31 multiplier and left shift exactly as TFLite's
//! `PreprocessSoftmaxScaling` (5 integer bits, computed in double), the output int8 with zero
//! point −128 and scale 1/256 (which TFLite Micro requires too).

use anyhow::{bail, Result};
use hone::ops::{softmax::MAX_DEPTH, Op, Softmax};
use hone_tflite::{Graph, Operator, Options};

use super::{activation_quant, unsupported, Lowering, Unsupported};

/// A checked `SOFTMAX`.
pub(crate) struct Plan {
    input: usize,
    output: usize,
    depth: u16,
    multiplier: i32,
    left_shift: u8,
}

/// `PreprocessSoftmaxScaling(β, s_x, 5)`: `min(β·s_x·2^26, 2^31 − 1)` as a Q31 multiplier and
/// a left shift (`None` when the shift would be negative or too large).
pub(crate) fn scaling(beta: f32, s_x: f32) -> Option<(i32, u8)> {
    let real = (f64::from(beta) * f64::from(s_x) * f64::from(1u32 << 26)).min(2_147_483_647.0);
    let m = hone_build::quantize_multiplier(real)?;
    let shift = u8::try_from(m.shift).ok().filter(|&s| s <= 31)?;
    (m.multiplier >= 1 << 30).then_some((m.multiplier, shift))
}

/// Checks the operator and folds its scaling.
pub(crate) fn check(g: &Graph, o: &Operator) -> Result<Plan, Unsupported> {
    let Options::Softmax { beta } = o.options else {
        return unsupported(o, "SOFTMAX without its options");
    };
    let (Some(input), [output]) = (o.input(0), &o.outputs[..]) else {
        return unsupported(o, "SOFTMAX without one input and one output");
    };
    let act = |t: usize, role: &str| {
        activation_quant(g.tensor(t)).or_else(|e| unsupported(o, format!("{role}: {e}")))
    };
    let ((s_x, _), (s_y, zp_y)) = (act(input, "input")?, act(*output, "output")?);
    if zp_y != -128 || s_y != 1.0 / 256.0 {
        return unsupported(
            o,
            format!("output scale {s_y} and zero point {zp_y} (int8 softmax needs 1/256 and −128)"),
        );
    }
    let x = g.tensor(input);
    if x.shape != g.tensor(*output).shape {
        return unsupported(o, "input and output of different shapes");
    }
    let depth = x.shape.last().copied().unwrap_or(1);
    if depth == 0 || depth > MAX_DEPTH {
        return unsupported(o, format!("rows of {depth} values (at most {MAX_DEPTH})"));
    }
    let Some((multiplier, left_shift)) = scaling(beta, s_x) else {
        return unsupported(o, format!("β·scale = {beta}·{s_x} out of range"));
    };
    Ok(Plan {
        input,
        output: *output,
        depth: depth as u16,
        multiplier,
        left_shift,
    })
}

/// Appends the op.
pub(crate) fn emit(l: &mut Lowering<'_>, _o: &Operator, p: &Plan) -> Result<()> {
    let (input, out) = (l.tensor(p.input)?, l.tensor(p.output)?);
    if input == out {
        bail!("input and output are the same tensor");
    }
    l.b.op(Op::Softmax(Softmax {
        input,
        out,
        depth: p.depth,
        multiplier: p.multiplier,
        left_shift: p.left_shift,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::scaling;

    /// `PreprocessSoftmaxScaling(β, s, 5)`: `β·s·2^26 = multiplier·2^left_shift / 2^31`.
    #[test]
    fn scaling_is_tflites_preprocessing() {
        for (beta, s) in [(1.0f32, 0.1f32), (1.0, 0.0390625), (0.5, 0.25), (2.0, 1e-3)] {
            let (m, shift) = scaling(beta, s).unwrap();
            assert!(m >= 1 << 30);
            let back = f64::from(m) * 2f64.powi(i32::from(shift)) / 2f64.powi(31);
            let real = f64::from(beta) * f64::from(s) * f64::from(1u32 << 26);
            assert!((back / real - 1.0).abs() < 1e-9, "{beta}·{s}: {m}, {shift}");
        }
        // An exact power of two: multiplier 2^30, shift one past the exponent.
        assert_eq!(scaling(1.0, 1.0 / 64.0), Some((1 << 30, 21)));
        // Below one (a negative shift) TFLite refuses too.
        assert_eq!(scaling(1.0, 1e-9), None);
    }
}
