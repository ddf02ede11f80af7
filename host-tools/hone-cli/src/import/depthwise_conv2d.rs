//! `DEPTHWISE_CONV_2D` → hone's `DepthwiseConv2d`, with TFLite Micro's per-channel int8
//! arithmetic (`DepthwiseConvPerChannel`): the requantisation multiplier of each output
//! channel is TFLite's for `s_x·s_w[c]/s_y` (computed in double from the float scales), SAME
//! padding is made explicit as TFLite computes it (`ComputePaddingHeightWidth`: half the total
//! padding, rounded down, before the first row and column), and the fused activation becomes
//! an output range (`CalculateActivationRangeQuantized`).
//!
//! The input zero point cannot be folded into the bias (padding taps contribute nothing, not
//! `−zp_x·w`): the runtime reads it from the input tensor.

use anyhow::{bail, Result};
use hone::ops::depthwise_conv2d::CHANNEL_REC_LEN;
use hone::ops::{DepthwiseConv2d, Geometry, Op};
use hone_tflite::{Activation, Graph, Operator, Options, Padding};

use super::{activation_quant, unsupported, Lowering, Unsupported};

/// A checked `DEPTHWISE_CONV_2D`: operands, geometry and folded constants.
pub(crate) struct Plan {
    input: usize,
    output: usize,
    geometry: Geometry,
    weights: Vec<u8>,
    channels: Vec<u8>,
    act: [i8; 2],
}

/// TFLite's output range for a fused activation on an int8 output (`scale`, `zp`).
pub(crate) fn activation_range(a: Activation, scale: f32, zp: i8) -> Option<[i8; 2]> {
    let q = |v: f32| (i32::from(zp) + (v / scale).round() as i32).clamp(-128, 127) as i8;
    match a {
        Activation::None => Some([-128, 127]),
        Activation::Relu => Some([q(0.0), 127]),
        Activation::Relu6 => Some([q(0.0), q(6.0)]),
        Activation::ReluN1To1 => Some([q(-1.0), q(1.0)]),
        _ => None,
    }
}

/// TFLite's `ComputeOutSize` and the padding before the first element
/// (`ComputePaddingWithOffset`).
fn out_and_pad(
    padding: Padding,
    size: usize,
    filter: usize,
    stride: usize,
    dil: usize,
) -> Option<(usize, usize)> {
    let eff = filter.checked_sub(1)? * dil + 1;
    let out = match padding {
        Padding::Same => size.div_ceil(stride),
        Padding::Valid => (size + stride).checked_sub(eff)? / stride,
        Padding::Other(_) => return None,
    };
    let total = ((out.checked_sub(1)?) * stride + eff).saturating_sub(size);
    Some((out, total / 2))
}

/// Checks the operator and folds its constants.
pub(crate) fn check(g: &Graph, o: &Operator) -> Result<Plan, Unsupported> {
    let Options::DepthwiseConv2D {
        window,
        depth_multiplier,
        activation,
    } = o.options
    else {
        return unsupported(o, "DEPTHWISE_CONV_2D without its options");
    };
    let (Some(input), Some(filter), [output]) = (o.input(0), o.input(1), &o.outputs[..]) else {
        return unsupported(o, "a missing input, filter or output tensor");
    };
    let output = *output;
    let act = |t: usize, role: &str| {
        activation_quant(g.tensor(t)).or_else(|e| unsupported(o, format!("{role}: {e}")))
    };
    let ((s_x, _), (s_y, zp_y)) = (act(input, "input")?, act(output, "output")?);
    let Some(range) = activation_range(activation, s_y, zp_y) else {
        return unsupported(o, format!("fused activation {activation:?}"));
    };
    let (x, y, w) = (g.tensor(input), g.tensor(output), g.tensor(filter));
    let (&[1, h, wd, c], &[1, oh, ow, oc]) = (&x.shape[..], &y.shape[..]) else {
        return unsupported(
            o,
            format!(
                "input {:?} and output {:?} other than one NHWC image",
                x.shape, y.shape
            ),
        );
    };
    let (Some(weights), &[1, fh, fw, wc]) = (w.i8_data(), &w.shape[..]) else {
        return unsupported(
            o,
            "a filter that is not a constant int8 [1 × h × w × channels]",
        );
    };
    let dm = usize::try_from(depth_multiplier).unwrap_or(0);
    if dm == 0 || wc != oc || oc != c * dm {
        return unsupported(
            o,
            format!(
                "{c} input channels × depth multiplier {depth_multiplier} ≠ {oc} output channels"
            ),
        );
    }
    let Some(wq) = &w.quant else {
        return unsupported(o, "a filter without quantisation parameters");
    };
    if wq.scale.is_empty() || wq.zero_point.iter().any(|&z| z != 0) {
        return unsupported(o, "a filter without scales or with a non-zero zero point");
    }
    if wq.per_channel() && (wq.axis != 3 || wq.scale.len() != oc) {
        return unsupported(o, format!("a filter quantised along dimension {}", wq.axis));
    }
    let ints = |v: i32| usize::try_from(v).ok().filter(|&v| (1..=255).contains(&v));
    let (Some(sh), Some(sw), Some(dh), Some(dw)) = (
        ints(window.stride_h),
        ints(window.stride_w),
        ints(window.dilation_h),
        ints(window.dilation_w),
    ) else {
        return unsupported(o, format!("strides or dilation {window:?} outside 1..=255"));
    };
    let (Some((oh2, ph)), Some((ow2, pw))) = (
        out_and_pad(window.padding, h, fh, sh, dh),
        out_and_pad(window.padding, wd, fw, sw, dw),
    ) else {
        return unsupported(o, format!("padding {:?}", window.padding));
    };
    if (oh2, ow2) != (oh, ow) {
        return unsupported(
            o,
            format!("output {oh}×{ow}, TFLite's geometry gives {oh2}×{ow2}"),
        );
    }
    let small = |v: usize| u8::try_from(v).ok();
    let wide = |v: usize| u16::try_from(v).ok();
    let geometry = match (
        (wide(h), wide(wd), wide(c), wide(oh), wide(ow)),
        (small(fh), small(fw), wide(dm), small(ph), small(pw)),
    ) {
        (
            (Some(h), Some(wd), Some(c), Some(oh), Some(ow)),
            (Some(fh), Some(fw), Some(dm), Some(ph), Some(pw)),
        ) => Geometry {
            input: [h, wd, c],
            output: [oh, ow],
            filter: [fh, fw],
            depth_multiplier: dm,
            stride: [sh as u8, sw as u8],
            dilation: [dh as u8, dw as u8],
            pad: [ph, pw],
        },
        _ => {
            return unsupported(
                o,
                "a filter or padding over 255, or an image dimension over 65,535",
            )
        }
    };
    let bias = match o.input(2) {
        None => vec![0i32; oc],
        Some(b) => match g.tensor(b).i32_data() {
            Some(v) if v.len() == oc => v,
            _ => {
                return unsupported(
                    o,
                    "a bias that is not a constant int32 vector of the channels",
                )
            }
        },
    };
    let mut channels = Vec::with_capacity(oc * CHANNEL_REC_LEN);
    for (ch, b) in bias.iter().enumerate() {
        let s_w = wq.scale[if wq.per_channel() { ch } else { 0 }];
        let real = f64::from(s_x) * f64::from(s_w) / f64::from(s_y);
        let Some(m) = hone_build::quantize_multiplier(real) else {
            return unsupported(
                o,
                format!("channel {ch}: output multiplier {real} out of range"),
            );
        };
        channels.extend_from_slice(&b.to_le_bytes());
        channels.extend_from_slice(&m.multiplier.to_le_bytes());
        channels.push(m.shift as u8);
    }
    Ok(Plan {
        input,
        output,
        geometry,
        weights: weights.iter().map(|&v| v as u8).collect(),
        channels,
        act: range,
    })
}

/// Appends the op.
pub(crate) fn emit(l: &mut Lowering<'_>, _o: &Operator, p: &Plan) -> Result<()> {
    let (input, out) = (l.tensor(p.input)?, l.tensor(p.output)?);
    if input == out {
        bail!("input and output are the same tensor");
    }
    l.b.op(Op::DepthwiseConv2d(DepthwiseConv2d {
        input,
        out,
        geometry: p.geometry,
        weights: &p.weights,
        channels: &p.channels,
        act_min: p.act[0],
        act_max: p.act[1],
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{activation_range, out_and_pad};
    use hone_tflite::{Activation, Padding};

    /// TFLite's `ComputeOutSize` / `ComputePaddingWithOffset`, by hand.
    #[test]
    fn output_size_and_padding_are_tflites() {
        // micro_speech: 49×40 input, 10×8 filter, stride 2, SAME → 25×20, pad 4 and 3.
        assert_eq!(out_and_pad(Padding::Same, 49, 10, 2, 1), Some((25, 4)));
        assert_eq!(out_and_pad(Padding::Same, 40, 8, 2, 1), Some((20, 3)));
        // VALID: no padding; dilation widens the filter.
        assert_eq!(out_and_pad(Padding::Valid, 10, 3, 1, 1), Some((8, 0)));
        assert_eq!(out_and_pad(Padding::Valid, 10, 3, 1, 2), Some((6, 0)));
        assert_eq!(out_and_pad(Padding::Valid, 10, 3, 3, 1), Some((3, 0)));
        // SAME with an odd total: the extra row goes after (TFLite's offset).
        assert_eq!(out_and_pad(Padding::Same, 5, 4, 1, 1), Some((5, 1)));
        assert_eq!(out_and_pad(Padding::Same, 8, 3, 2, 2), Some((4, 1)));
        // A filter wider than a VALID input: no output.
        assert_eq!(out_and_pad(Padding::Valid, 2, 5, 1, 1), None);
        assert_eq!(out_and_pad(Padding::Other(7), 5, 3, 1, 1), None);
        assert_eq!(out_and_pad(Padding::Same, 5, 0, 1, 1), None);
    }

    /// `CalculateActivationRangeQuantized`: zero point plus the rounded bound over the scale.
    #[test]
    fn activation_ranges_are_tflites() {
        assert_eq!(
            activation_range(Activation::None, 0.1, 3),
            Some([-128, 127])
        );
        assert_eq!(activation_range(Activation::Relu, 0.1, -5), Some([-5, 127]));
        assert_eq!(activation_range(Activation::Relu6, 0.1, -5), Some([-5, 55]));
        assert_eq!(activation_range(Activation::Relu6, 0.01, 0), Some([0, 127]));
        assert_eq!(
            activation_range(Activation::ReluN1To1, 0.02, 10),
            Some([-40, 60])
        );
        assert_eq!(activation_range(Activation::Tanh, 0.1, 0), None);
    }
}
