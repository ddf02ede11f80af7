//! `depthwise_conv2d` against f64: `Σ s_x(x − zp_x)·s_w w + s_x s_w bias` over the taps
//! inside the image, quantised to the output.

use super::{assert_close, codes, q_round};
use hone::ops::{self, depthwise_conv2d::CHANNEL_REC_LEN, Geometry};
use hone_build::testutil::XorShift;

#[test]
fn depthwise_conv2d_implements_its_function() {
    let mut rng = XorShift(0xd3c0);
    let g = Geometry {
        input: [9, 7, 3],
        output: [5, 4],
        filter: [3, 3],
        depth_multiplier: 2,
        stride: [2, 2],
        dilation: [1, 1],
        pad: [1, 1],
    };
    let (h, w, c, oc) = (9usize, 7usize, 3usize, 6usize);
    let (s_x, zp_x, s_y, zp_y) = (0.04f32, 5i8, 0.3f32, -10i8);
    let s_w: Vec<f32> = (0..oc).map(|k| 0.01 + 0.002 * k as f32).collect();
    let wts = codes(&mut rng, 9 * oc);
    let bias: Vec<i32> = (0..oc).map(|k| 40 * k as i32 - 100).collect();
    let mut channels = Vec::new();
    for k in 0..oc {
        let real = f64::from(s_x) * f64::from(s_w[k]) / f64::from(s_y);
        let m = hone_build::quantize_multiplier(real).unwrap();
        channels.extend(bias[k].to_le_bytes());
        channels.extend(m.multiplier.to_le_bytes());
        channels.push(m.shift as u8);
    }
    assert_eq!(channels.len(), oc * CHANNEL_REC_LEN);
    let wb: Vec<u8> = wts.iter().map(|&v| v as u8).collect();
    let x = codes(&mut rng, h * w * c);
    let mut out = vec![0i8; 5 * 4 * oc];
    ops::depthwise_conv2d(&x, &g, &wb, &channels, [zp_x, zp_y], [-128, 127], &mut out);
    let mut want = Vec::new();
    for oy in 0..5i64 {
        for ox in 0..4i64 {
            for k in 0..oc {
                let ic = k / 2;
                let mut real = f64::from(s_x) * f64::from(s_w[k]) * f64::from(bias[k]);
                for fy in 0..3i64 {
                    for fx in 0..3i64 {
                        let (iy, ix) = (2 * oy - 1 + fy, 2 * ox - 1 + fx);
                        if (0..h as i64).contains(&iy) && (0..w as i64).contains(&ix) {
                            let xv = x[(iy as usize * w + ix as usize) * c + ic];
                            let wv = wts[(fy as usize * 3 + fx as usize) * oc + k];
                            real += f64::from(s_x)
                                * f64::from(i32::from(xv) - i32::from(zp_x))
                                * f64::from(s_w[k])
                                * f64::from(wv);
                        }
                    }
                }
                want.push(q_round(real, s_y, zp_y));
            }
        }
    }
    assert_close(&out, &want, "depthwise_conv2d");
}
