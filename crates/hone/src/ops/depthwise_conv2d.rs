//! `DepthwiseConv2d`: TFLite int8 `DEPTHWISE_CONV_2D` on one NHWC image (batch 1), with
//! TFLite Micro's per-channel arithmetic (`DepthwiseConvPerChannel`): output channel
//! `oc = ic · depth_multiplier + m` sums `w[fy][fx][oc] · (x[iy][ix][ic] − zp_x)` over the
//! filter taps that fall inside the image (padding contributes nothing), adds the bias,
//! requantises with the channel's Q31 multiplier and shift, adds the output zero point and
//! clamps to the fused activation's range.
//!
//! Tensor records are flat; the geometry lives in the wire parameters.

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::error::Invalid;
use crate::format::Multiplier;
use crate::quant::{multiply_by_quantized_multiplier, output_multiplier_ok};

/// Bytes of one per-channel record in [`DepthwiseConv2d::channels`]: bias (i32 LE), Q31
/// multiplier (i32 LE), shift (i8).
pub const CHANNEL_REC_LEN: usize = 9;

/// Geometry of a depthwise convolution (all `(height, width)` pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// Input height, width, channels.
    pub input: [u16; 3],
    /// Output height, width (the output has `channels · depth_multiplier` channels).
    pub output: [u16; 2],
    /// Filter height, width.
    pub filter: [u8; 2],
    /// Output channels per input channel.
    pub depth_multiplier: u16,
    /// Strides.
    pub stride: [u8; 2],
    /// Dilation factors.
    pub dilation: [u8; 2],
    /// Padding before the first row and column (SAME padding made explicit).
    pub pad: [u8; 2],
}

impl Geometry {
    fn out_channels(&self) -> usize {
        let [_, _, c] = self.input;
        usize::from(c) * usize::from(self.depth_multiplier)
    }
}

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DepthwiseConv2d<'a> {
    /// Input tensor (`h × w × c` int8, NHWC).
    pub input: u16,
    /// Output tensor (`out_h × out_w × c·depth_multiplier`).
    pub out: u16,
    /// Shapes, strides, dilation, padding.
    pub geometry: Geometry,
    /// int8 filter `[filter_h × filter_w × out_channels]`, symmetric per output channel.
    pub weights: &'a [u8],
    /// `out_channels` records of [`CHANNEL_REC_LEN`] bytes.
    pub channels: &'a [u8],
    /// Lowest output code (the fused activation's range).
    pub act_min: i8,
    /// Highest output code.
    pub act_max: i8,
}

/// Checked view: shapes agree with the tensors, weights and channel records complete, every
/// multiplier valid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    input: Tensor,
    out: Tensor,
    weights: &'a [i8],
    channels: &'a [u8],
    geometry: Geometry,
    act: [i8; 2],
}

impl<'a> Operator<'a> for DepthwiseConv2d<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], Some(self.out))
    }

    #[inline(never)]
    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        ensure(cx.tensor_model(), Invalid::Structure)?;
        let (x, o) = (cx.tensor(self.input)?, cx.tensor(self.out)?);
        ensure(!x.per_token && !o.per_token, Invalid::Shape)?;
        let g = &self.geometry;
        let [h, w, c] = g.input.map(usize::from);
        let [oh, ow] = g.output.map(usize::from);
        let [fh, fw] = g.filter.map(usize::from);
        let oc = g.out_channels();
        let positive = [h, w, c, oh, ow, fh, fw, usize::from(g.depth_multiplier)]
            .iter()
            .chain(&g.stride.map(usize::from))
            .chain(&g.dilation.map(usize::from))
            .all(|&v| v > 0);
        ensure(positive, Invalid::Shape)?;
        ensure(
            h * w * c == x.cols() && oh * ow * oc == o.cols(),
            Invalid::Shape,
        )?;
        ensure(self.weights.len() == fh * fw * oc, Invalid::Length)?;
        ensure(self.channels.len() == CHANNEL_REC_LEN * oc, Invalid::Length)?;
        let mults_ok = self
            .channels
            .chunks_exact(CHANNEL_REC_LEN)
            .all(|r| output_multiplier_ok(channel(r).1));
        ensure(mults_ok && self.act_min <= self.act_max, Invalid::Quant)?;
        Ok(Checked {
            input: x,
            out: o,
            weights: bytemuck::cast_slice(self.weights),
            channels: self.channels,
            geometry: self.geometry,
            act: [self.act_min, self.act_max],
        })
    }
}

/// Bias and multiplier of a channel record (zeros past its end).
fn channel(rec: &[u8]) -> (i32, Multiplier) {
    let word = |i: usize| {
        rec.get(i..i + 4)
            .and_then(|b| b.first_chunk::<4>())
            .map_or(0, |b| i32::from_le_bytes(*b))
    };
    let shift = rec.get(8).map_or(0, |&s| s as i8);
    (
        word(0),
        Multiplier {
            multiplier: word(4),
            shift,
        },
    )
}

impl Eval for Checked<'_> {
    #[inline(never)]
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let x = f.ins.get(&self.input);
        let zp = [self.input.q().zero_point, self.out.q().zero_point];
        conv(
            x,
            &self.geometry,
            self.weights,
            self.channels,
            zp,
            self.act,
            f.out,
        );
    }
}

fn conv(
    x: &[i8],
    g: &Geometry,
    w: &[i8],
    channels: &[u8],
    [zp_x, zp_y]: [i8; 2],
    [lo, hi]: [i8; 2],
    out: &mut [i8],
) {
    let [h, wd, c] = g.input.map(usize::from);
    let [oh, ow] = g.output.map(usize::from);
    let [fh, fw] = g.filter.map(usize::from);
    let [sh, sw] = g.stride.map(usize::from);
    let [dh, dw] = g.dilation.map(usize::from);
    let [ph, pw] = g.pad.map(usize::from);
    let dm = usize::from(g.depth_multiplier);
    let oc_n = g.out_channels();
    if oc_n == 0 {
        return;
    }
    let zp_x = i32::from(zp_x);
    let mut pixels = out.chunks_exact_mut(oc_n);
    for oy in 0..oh {
        for ox in 0..ow {
            let Some(pixel) = pixels.next() else { return };
            for (oc, (o, rec)) in pixel
                .iter_mut()
                .zip(channels.chunks_exact(CHANNEL_REC_LEN))
                .enumerate()
            {
                let ic = oc / dm;
                let mut acc = 0i32;
                for fy in 0..fh {
                    // Input row: oy·stride − pad + fy·dilation, skipped outside the image.
                    let Some(iy) = (oy * sh + fy * dh).checked_sub(ph).filter(|&v| v < h) else {
                        continue;
                    };
                    for fx in 0..fw {
                        let Some(ix) = (ox * sw + fx * dw).checked_sub(pw).filter(|&v| v < wd)
                        else {
                            continue;
                        };
                        let xv = x.get((iy * wd + ix) * c + ic).map_or(0, |&v| i32::from(v));
                        let wv = w
                            .get((fy * fw + fx) * oc_n + oc)
                            .map_or(0, |&v| i32::from(v));
                        acc = acc.wrapping_add(wv * (xv - zp_x));
                    }
                }
                let (bias, m) = channel(rec);
                let v = multiply_by_quantized_multiplier(acc.wrapping_add(bias), m)
                    .saturating_add(i32::from(zp_y));
                *o = v.clamp(i32::from(lo), i32::from(hi)) as i8;
            }
        }
    }
}

/// Depthwise convolution on plain slices: `x` is the `h × w × c` input (NHWC, batch 1),
/// `weights` the `filter_h × filter_w × out_channels` int8 filter, `channels` the
/// per-output-channel records ([`CHANNEL_REC_LEN`] bytes: bias, multiplier, shift), `zp` the
/// input and output zero points, `act` the output range; writes `out_h × out_w ×
/// out_channels` codes. Total: taps or parameters past the end of a slice read as 0.
pub fn depthwise_conv2d(
    x: &[i8],
    geometry: &Geometry,
    weights: &[u8],
    channels: &[u8],
    zp: [i8; 2],
    act: [i8; 2],
    out: &mut [i8],
) {
    conv(
        x,
        geometry,
        bytemuck::cast_slice(weights),
        channels,
        zp,
        act,
        out,
    );
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::{vec, vec::Vec};

    use super::{depthwise_conv2d, Geometry, CHANNEL_REC_LEN};

    fn next(seed: &mut u32) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        *seed
    }

    /// TFLite's `MultiplyByQuantizedMultiplier` written out in i64.
    fn mbqm(acc: i32, mult: i32, shift: i32) -> i32 {
        let a = i64::from(acc) << shift.max(0);
        let ab = a * i64::from(mult);
        let nudge = if ab >= 0 {
            1i64 << 30
        } else {
            1 - (1i64 << 30)
        };
        let high = ((ab + nudge) / (1i64 << 31)) as i32;
        let right = (-shift).max(0);
        let mask = (1i64 << right) - 1;
        let rem = i64::from(high) & mask;
        let threshold = (mask >> 1) + i64::from(high < 0);
        (high >> right) + i32::from(rem > threshold)
    }

    /// Signed padded coordinates, written the way TFLite's reference kernel loops (batch 1).
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[i8],
        g: &Geometry,
        w: &[i8],
        bias: &[i32],
        m: &[(i32, i32)],
        zp: [i32; 2],
        act: [i32; 2],
    ) -> Vec<i8> {
        let [h, wd, c] = g.input.map(i32::from);
        let [oh, ow] = g.output.map(i32::from);
        let [fh, fw] = g.filter.map(i32::from);
        let dm = i32::from(g.depth_multiplier);
        let oc_n = c * dm;
        let mut out = vec![];
        for oy in 0..oh {
            for ox in 0..ow {
                for ic in 0..c {
                    for k in 0..dm {
                        let oc = ic * dm + k;
                        let y0 = oy * i32::from(g.stride[0]) - i32::from(g.pad[0]);
                        let x0 = ox * i32::from(g.stride[1]) - i32::from(g.pad[1]);
                        let mut acc = 0i32;
                        for fy in 0..fh {
                            for fx in 0..fw {
                                let iy = y0 + i32::from(g.dilation[0]) * fy;
                                let ix = x0 + i32::from(g.dilation[1]) * fx;
                                if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                                    let xv = i32::from(x[((iy * wd + ix) * c + ic) as usize]);
                                    let wv = i32::from(w[((fy * fw + fx) * oc_n + oc) as usize]);
                                    acc += wv * (xv - zp[0]);
                                }
                            }
                        }
                        acc += bias[oc as usize];
                        let (mult, shift) = m[oc as usize];
                        let v = mbqm(acc, mult, shift) + zp[1];
                        out.push(v.clamp(act[0], act[1]) as i8);
                    }
                }
            }
        }
        out
    }

    /// Also checks the real value: within one output step of the f64 convolution of the
    /// dequantised operands (the multipliers stand for `s_x·s_w/s_y`).
    #[test]
    fn matches_the_reference_loops_and_the_f64_convolution() {
        let mut s = 0xdecaf_u32;
        let shapes = [
            // (input h, w, c), filter, dm, stride, dilation, pad, out
            (
                [7u16, 5, 2],
                [3u8, 3],
                2u16,
                [1u8, 1],
                [1u8, 1],
                [1u8, 1],
                [7u16, 5],
            ),
            ([9, 8, 3], [4, 3], 1, [2, 2], [1, 1], [1, 1], [5, 4]),
            ([10, 6, 1], [3, 2], 8, [2, 2], [1, 1], [0, 0], [4, 3]),
            ([8, 8, 2], [3, 3], 3, [1, 1], [2, 2], [2, 2], [8, 8]),
        ];
        for (k, &(input, filter, dm, stride, dilation, pad, output)) in shapes.iter().enumerate() {
            let g = Geometry {
                input,
                output,
                filter,
                depth_multiplier: dm,
                stride,
                dilation,
                pad,
            };
            let oc = g.out_channels();
            let n_in: usize = input.iter().map(|&v| usize::from(v)).product();
            let n_w = usize::from(filter[0]) * usize::from(filter[1]) * oc;
            let w: Vec<i8> = (0..n_w).map(|_| next(&mut s) as i8).collect();
            let bias: Vec<i32> = (0..oc)
                .map(|_| (next(&mut s) % 2001) as i32 - 1000)
                .collect();
            let (s_x, s_y) = (0.05f64, 0.2f64);
            let s_w: Vec<f64> = (0..oc)
                .map(|_| 0.002 + f64::from(next(&mut s) % 100) * 1e-4)
                .collect();
            let m: Vec<(i32, i32)> = s_w
                .iter()
                .map(|&sw| {
                    let real = s_x * sw / s_y;
                    let e = real.log2().floor() as i32 + 1;
                    let q = (real / 2f64.powi(e) * 2_147_483_648.0).round() as i32;
                    (q, e)
                })
                .collect();
            let channels: Vec<u8> = (0..oc)
                .flat_map(|i| {
                    let mut r = bias[i].to_le_bytes().to_vec();
                    r.extend(m[i].0.to_le_bytes());
                    r.push(m[i].1 as u8);
                    r
                })
                .collect();
            assert_eq!(channels.len(), oc * CHANNEL_REC_LEN);
            let (zp_x, zp_y) = (-7i8, 5i8);
            let act = if k % 2 == 0 {
                [-128i8, 127]
            } else {
                [zp_y, 100]
            };
            for t in 0..20 {
                let x: Vec<i8> = match t {
                    0 => vec![-128; n_in],
                    1 => vec![127; n_in],
                    2 => vec![zp_x; n_in],
                    _ => (0..n_in).map(|_| next(&mut s) as i8).collect(),
                };
                let n_out = usize::from(output[0]) * usize::from(output[1]) * oc;
                let mut out = vec![0i8; n_out];
                let wb: Vec<u8> = w.iter().map(|&v| v as u8).collect();
                depthwise_conv2d(&x, &g, &wb, &channels, [zp_x, zp_y], act, &mut out);
                let want = reference(
                    &x,
                    &g,
                    &w,
                    &bias,
                    &m,
                    [i32::from(zp_x), i32::from(zp_y)],
                    [i32::from(act[0]), i32::from(act[1])],
                );
                assert_eq!(out, want, "shape {k}, input {t}");
                // Real value: Σ s_w·w · s_x·(x − zp) + s_x·s_w·bias, over s_y.
                let [h, wd, c] = input.map(i64::from);
                for (i, &o) in out.iter().enumerate() {
                    let ch = i % oc;
                    let pix = i / oc;
                    let (oy, ox) = (
                        (pix / usize::from(output[1])) as i64,
                        (pix % usize::from(output[1])) as i64,
                    );
                    let ic = (ch / usize::from(dm)) as i64;
                    let mut real = f64::from(bias[ch]) * s_x * s_w[ch];
                    for fy in 0..i64::from(filter[0]) {
                        for fx in 0..i64::from(filter[1]) {
                            let iy = oy * i64::from(stride[0]) - i64::from(pad[0])
                                + fy * i64::from(dilation[0]);
                            let ix = ox * i64::from(stride[1]) - i64::from(pad[1])
                                + fx * i64::from(dilation[1]);
                            if (0..h).contains(&iy) && (0..wd).contains(&ix) {
                                let xv = f64::from(x[((iy * wd + ix) * c + ic) as usize])
                                    - f64::from(zp_x);
                                let wv = f64::from(
                                    w[((fy * i64::from(filter[1]) + fx) as usize) * oc + ch],
                                );
                                real += s_x * xv * s_w[ch] * wv;
                            }
                        }
                    }
                    let q =
                        (real / s_y + f64::from(zp_y)).clamp(f64::from(act[0]), f64::from(act[1]));
                    assert!((f64::from(o) - q).abs() <= 1.0, "shape {k}: {o} vs {q}");
                }
            }
        }
    }

    #[test]
    fn short_slices_are_total() {
        let g = Geometry {
            input: [3, 3, 1],
            output: [3, 3],
            filter: [3, 3],
            depth_multiplier: 2,
            stride: [1, 1],
            dilation: [1, 1],
            pad: [1, 1],
        };
        let mut out = [0i8; 18];
        depthwise_conv2d(&[1, 2], &g, &[3], &[0; 5], [0, 0], [-128, 127], &mut out);
        depthwise_conv2d(&[], &g, &[], &[], [0, 0], [-128, 127], &mut out[..3]);
    }
}
