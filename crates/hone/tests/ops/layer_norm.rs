//! `layer_norm` against f64.

use super::{assert_close, codes, q_round};
use hone::ops::{self, QParams};
use hone_build::f32_bytes;
use hone_build::testutil::XorShift;

#[test]
fn layer_norm_matches_float() {
    let mut rng = XorShift(13);
    let cols = 48;
    let qx = QParams {
        scale: 0.05,
        zero_point: 10,
    };
    let qo = QParams {
        scale: 0.03,
        zero_point: -5,
    };
    let gamma: Vec<f32> = rng.vec(cols, 0.5).iter().map(|g| 1.0 + g).collect();
    let beta = rng.vec(cols, 0.2);
    let x = codes(&mut rng, 5 * cols);
    let mut out = vec![0i8; x.len()];
    ops::layer_norm(
        &x,
        qx,
        &f32_bytes(&gamma),
        &f32_bytes(&beta),
        1e-5,
        qo,
        &mut out,
        cols,
    );
    let mut want = Vec::new();
    for row in x.chunks(cols) {
        let v: Vec<f64> = row
            .iter()
            .map(|&q| f64::from(qx.scale) * f64::from(i32::from(q) - 10))
            .collect();
        let mean = v.iter().sum::<f64>() / cols as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / cols as f64;
        for (c, a) in v.iter().enumerate() {
            let y = (a - mean) / (var + 1e-5).sqrt() * f64::from(gamma[c]) + f64::from(beta[c]);
            want.push(q_round(y, qo.scale, qo.zero_point));
        }
    }
    assert_close(&out, &want, "layer_norm");
}
