//! `FULLY_CONNECTED` → hone's `FullyConnected`, with TFLite Micro's int8 arithmetic:
//! `acc = Σ_c (x[c] − zp_x)·W[r][c] + bias[r]`, requantised by `MultiplyByQuantizedMultiplier`
//! with TFLite's multiplier for `s_x·s_w[r]/s_y` (computed in double from the float scales),
//! plus `zp_y`, clamped to the fused activation's range.
//!
//! Folded at import: the input zero point into the bias (`bias'[r] = bias[r] − zp_x·Σ_c
//! W[r][c]`, so the device computes `W·x + bias'`) and the requantisation multipliers.

use anyhow::{bail, Result};
use hone::ops::{Activation as HoneActivation, FullyConnected, Op};
use hone_tflite::{Activation, DType, Graph, Operator, Options};

use super::{activation_quant, unsupported, Lowering, Unsupported};

/// A checked `FULLY_CONNECTED`: operands and folded constants.
pub(crate) struct Plan {
    input: usize,
    output: usize,
    weights: Vec<u8>,
    bias: Vec<u8>,
    multipliers: Vec<u8>,
    shifts: Vec<u8>,
    activation: HoneActivation,
}

/// Checks the operator and folds its constants.
pub(crate) fn check(g: &Graph, o: &Operator) -> Result<Plan, Unsupported> {
    let Options::FullyConnected {
        activation,
        weights_format,
        quantized_bias_type,
        ..
    } = o.options
    else {
        return unsupported(o, "FULLY_CONNECTED without its options");
    };
    let activation = match activation {
        Activation::None => HoneActivation::None,
        Activation::Relu => HoneActivation::Relu,
        other => return unsupported(o, format!("fused activation {other:?}")),
    };
    if weights_format != 0 {
        return unsupported(o, format!("weights format {weights_format} (shuffled)"));
    }
    if !matches!(quantized_bias_type, 0 | 2) {
        return unsupported(o, format!("bias type {quantized_bias_type} (int32 only)"));
    }
    if o.outputs.len() != 1 {
        return unsupported(o, format!("{} outputs", o.outputs.len()));
    }
    let (Some(input), Some(filter)) = (o.input(0), o.input(1)) else {
        return unsupported(o, "a missing input or weights tensor");
    };
    let output = o.outputs[0];
    let act = |t: usize, role: &str| {
        activation_quant(g.tensor(t)).or_else(|e| unsupported(o, format!("{role}: {e}")))
    };
    let ((s_x, zp_x), (s_y, _)) = (act(input, "input")?, act(output, "output")?);
    let w = g.tensor(filter);
    let (Some(weights), &[rows, cols]) = (w.i8_data(), &w.shape[..]) else {
        return unsupported(o, "weights that are not a constant int8 [out × in] matrix");
    };
    let Some(wq) = &w.quant else {
        return unsupported(o, "weights without quantisation parameters");
    };
    if wq.zero_point.iter().any(|&z| z != 0) {
        return unsupported(o, "weights with a non-zero zero point");
    }
    if wq.per_channel() && wq.axis != 0 {
        return unsupported(o, format!("weights quantised along dimension {}", wq.axis));
    }
    let (x, y) = (g.tensor(input), g.tensor(output));
    if x.elements() != cols || y.elements() != rows {
        return unsupported(
            o,
            format!(
                "input {:?} and output {:?} other than one row of {cols} → {rows} (batched rows)",
                x.shape, y.shape
            ),
        );
    }
    let bias = match o.input(2) {
        None => vec![0i32; rows],
        Some(b) => match g.tensor(b).i32_data() {
            Some(v) if v.len() == rows => v,
            _ => {
                return unsupported(
                    o,
                    "a bias that is not a constant int32 vector of the outputs",
                )
            }
        },
    };
    let (mut bias_folded, mut multipliers, mut shifts) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rows {
        let row = &weights[r * cols..(r + 1) * cols];
        let sum: i64 = row.iter().map(|&v| i64::from(v)).sum();
        let folded = i64::from(bias[r]) - i64::from(zp_x) * sum;
        let Ok(folded) = i32::try_from(folded) else {
            return unsupported(
                o,
                format!("row {r}: the folded bias {folded} overflows int32"),
            );
        };
        bias_folded.extend_from_slice(&folded.to_le_bytes());
        let s_w = wq.scale[if wq.per_channel() { r } else { 0 }];
        let real = f64::from(s_x) * f64::from(s_w) / f64::from(s_y);
        let Some(m) = hone_build::quantize_multiplier(real) else {
            return unsupported(o, format!("row {r}: output multiplier {real} out of range"));
        };
        multipliers.extend_from_slice(&m.multiplier.to_le_bytes());
        shifts.push(m.shift as u8);
    }
    debug_assert_eq!(w.dtype, DType::I8);
    Ok(Plan {
        input,
        output,
        weights: weights.iter().map(|&v| v as u8).collect(),
        bias: bias_folded,
        multipliers,
        shifts,
        activation,
    })
}

/// Appends the op.
pub(crate) fn emit(l: &mut Lowering<'_>, _o: &Operator, p: &Plan) -> Result<()> {
    let (input, out) = (l.tensor(p.input)?, l.tensor(p.output)?);
    if input == out {
        bail!("input and output are the same tensor");
    }
    l.b.op(Op::FullyConnected(FullyConnected {
        input,
        out,
        weights: &p.weights,
        bias: &p.bias,
        multipliers: &p.multipliers,
        shifts: &p.shifts,
        activation: p.activation,
    }));
    Ok(())
}
