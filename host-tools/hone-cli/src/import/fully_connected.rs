//! `FULLY_CONNECTED` → hone's `FullyConnected`, with TFLite Micro's int8 arithmetic:
//! `acc = Σ_c (x[c] − zp_x)·W[r][c] + bias[r]`, requantised by `MultiplyByQuantizedMultiplier`
//! with TFLite's multiplier for `s_x·s_w[r]/s_y` (computed in double from the float scales),
//! plus `zp_y`, clamped to the fused activation's range.
//!
//! Folded at import: the input zero point into the bias (`bias'[r] = bias[r] − zp_x·Σ_c
//! W[r][c]`, so the device computes `W·x + bias'`) and the requantisation multipliers.

use anyhow::{bail, Result};
use hone::ops::{Activation as HoneActivation, FullyConnected, Op};
use hone_tflite::{Activation, Graph, Operator, Options};

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

#[cfg(test)]
mod tests {
    use hone::{TensorModel, TensorRunner};
    use hone_build::HostSteps;
    use hone_tflite::{BuiltinOp, Graph, Operator, Options, Quant, Tensor};

    /// TFLite Micro's int8 fully connected on one row, written from its reference kernel's
    /// definition: `acc = Σ (x + input_offset)·w + bias`, `MultiplyByQuantizedMultiplier`
    /// (saturating rounding doubling high multiply, then rounding right shift), `+ zp_y`,
    /// clamp to the activation range.
    #[allow(clippy::too_many_arguments)]
    fn tflm_fc(
        x: &[i8],
        w: &[i8],
        b: &[i32],
        zp_x: i32,
        m: &[(i32, i32)],
        zp_y: i32,
        lo: i32,
    ) -> Vec<i8> {
        let cols = x.len();
        (0..b.len())
            .map(|r| {
                let acc: i32 = (0..cols)
                    .map(|c| (i32::from(x[c]) - zp_x) * i32::from(w[r * cols + c]))
                    .sum::<i32>()
                    + b[r];
                let (mult, shift) = m[r];
                let (left, right) = (shift.max(0), (-shift).max(0));
                let a = i64::from(acc) * (1i64 << left);
                let ab = a * i64::from(mult);
                let nudge = if ab >= 0 {
                    1i64 << 30
                } else {
                    1 - (1i64 << 30)
                };
                let high = ((ab + nudge) / (1i64 << 31)) as i32;
                let mask = (1i32 << right) - 1;
                let rem = high & mask;
                let threshold = (mask >> 1) + i32::from(high < 0);
                let v = (high >> right) + i32::from(rem > threshold) + zp_y;
                v.clamp(lo, 127) as i8
            })
            .collect()
    }

    fn next(seed: &mut u32) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        *seed
    }

    fn tensor(
        shape: &[usize],
        dtype: hone_tflite::DType,
        q: Option<Quant>,
        data: Option<Vec<u8>>,
    ) -> Tensor {
        Tensor {
            name: String::new(),
            shape: shape.to_vec(),
            dtype,
            quant: q,
            data,
            is_variable: false,
        }
    }

    fn q(scale: Vec<f32>, zp: i64) -> Option<Quant> {
        let n = scale.len();
        Some(Quant {
            scale,
            zero_point: vec![zp; n],
            axis: 0,
        })
    }

    /// A per-channel (or per-tensor) FC with a non-zero input zero point, imported and run,
    /// equals the definition above on random inputs.
    fn check(per_channel: bool, relu: bool, seed: u32) {
        use hone_tflite::DType::{I32, I8};
        let mut s = seed;
        let (rows, cols) = (7usize, 13usize);
        let (s_x, zp_x, s_y, zp_y) = (0.02f32, -9i8, 0.05f32, 11i8);
        let w: Vec<i8> = (0..rows * cols).map(|_| next(&mut s) as i8).collect();
        let b: Vec<i32> = (0..rows)
            .map(|_| (next(&mut s) % 4001) as i32 - 2000)
            .collect();
        let s_w: Vec<f32> = (0..if per_channel { rows } else { 1 })
            .map(|_| 0.001 + (next(&mut s) % 1000) as f32 * 1e-5)
            .collect();
        let g = Graph {
            description: String::new(),
            tensors: vec![
                tensor(&[1, cols], I8, q(vec![s_x], i64::from(zp_x)), None),
                tensor(
                    &[rows, cols],
                    I8,
                    q(s_w.clone(), 0),
                    Some(w.iter().map(|&v| v as u8).collect()),
                ),
                tensor(
                    &[rows],
                    I32,
                    None,
                    Some(b.iter().flat_map(|v| v.to_le_bytes()).collect()),
                ),
                tensor(&[1, rows], I8, q(vec![s_y], i64::from(zp_y)), None),
            ],
            operators: vec![Operator {
                index: 0,
                op: BuiltinOp::builtin(BuiltinOp::FULLY_CONNECTED),
                version: 1,
                inputs: vec![Some(0), Some(1), Some(2)],
                outputs: vec![3],
                options: Options::FullyConnected {
                    activation: if relu {
                        hone_tflite::Activation::Relu
                    } else {
                        hone_tflite::Activation::None
                    },
                    weights_format: 0,
                    keep_num_dims: false,
                    asymmetric_quantize_inputs: false,
                    quantized_bias_type: 0,
                },
            }],
            inputs: vec![0],
            outputs: vec![3],
            subgraphs: 1,
        };
        let blob = super::super::lower(&g, "fc").unwrap();
        let mut steps = HostSteps::new();
        let m = TensorModel::load(&blob, &mut steps).unwrap();
        let mut scratch = vec![0u32; m.scratch_words()];
        let mut r = TensorRunner::new(&m, &mut scratch).unwrap();
        let mults: Vec<(i32, i32)> = (0..rows)
            .map(|i| {
                let sw = s_w[if per_channel { i } else { 0 }];
                let real = f64::from(s_x) * f64::from(sw) / f64::from(s_y);
                let mq = hone_build::quantize_multiplier(real).unwrap();
                (mq.multiplier, i32::from(mq.shift))
            })
            .collect();
        let lo = if relu { i32::from(zp_y) } else { -128 };
        for k in 0..200 {
            let x: Vec<i8> = match k {
                0 => vec![-128; cols],
                1 => vec![127; cols],
                2 => vec![zp_x; cols],
                _ => (0..cols).map(|_| next(&mut s) as i8).collect(),
            };
            r.input_mut(0).unwrap().copy_from_slice(&x);
            r.run();
            let want = tflm_fc(&x, &w, &b, i32::from(zp_x), &mults, i32::from(zp_y), lo);
            assert_eq!(r.output(0).unwrap(), &want[..], "input {k}: {x:?}");
        }
    }

    #[test]
    fn per_channel_and_per_tensor_weights_match_the_tflm_definition() {
        check(true, false, 0x1234_5678);
        check(true, true, 0x0bad_cafe);
        check(false, false, 0x7777_0001);
        check(false, true, 0x7777_0002);
    }

    #[test]
    fn relu6_and_shuffled_weights_are_named_as_missing() {
        let mut o = Operator {
            index: 4,
            op: BuiltinOp::builtin(BuiltinOp::FULLY_CONNECTED),
            version: 1,
            inputs: vec![],
            outputs: vec![],
            options: Options::FullyConnected {
                activation: hone_tflite::Activation::Relu6,
                weights_format: 0,
                keep_num_dims: false,
                asymmetric_quantize_inputs: false,
                quantized_bias_type: 0,
            },
        };
        let g = Graph {
            description: String::new(),
            tensors: vec![],
            operators: vec![],
            inputs: vec![],
            outputs: vec![],
            subgraphs: 1,
        };
        let e = super::check(&g, &o).err().unwrap();
        assert_eq!(
            e.to_string(),
            "operator 4 (FULLY_CONNECTED): fused activation Relu6"
        );
        if let Options::FullyConnected {
            activation,
            weights_format,
            ..
        } = &mut o.options
        {
            *activation = hone_tflite::Activation::None;
            *weights_format = 1;
        }
        let e = super::check(&g, &o).err().unwrap();
        assert!(
            e.to_string().ends_with("weights format 1 (shuffled)"),
            "{e}"
        );
    }
}
