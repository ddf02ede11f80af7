//! `fc_add_norm` against f64.

use super::{assert_close, codes, q_round};
use hone::ops::{self, QParams};
use hone_build::testutil::XorShift;
use hone_build::{asymmetric, f32_bytes, fc_add_norm_params, i8_bytes, quantize_rows};

#[test]
fn fc_add_norm_matches_float() {
    let mut rng = XorShift(29);
    // 72 outputs: two kernel blocks of FC_ROW_BLOCK (64) columns, the second partial.
    let (n_in, n_out, rows) = (40, 72, 6);
    let (s_in, zp_in) = asymmetric(-1.0, 3.0);
    let qr = QParams {
        scale: 0.04,
        zero_point: -7,
    };
    let qo = QParams {
        scale: 0.035,
        zero_point: 3,
    };
    let mut w = rng.vec(n_in * n_out, 0.2);
    // Outlier channels, as in real encoders: a few outputs far larger than the rest.
    for r in [3, 50, 70] {
        for v in &mut w[r * n_in..(r + 1) * n_in] {
            *v *= 40.0;
        }
    }
    let bias = rng.vec(n_out, 0.5);
    let (wq, ws) = quantize_rows(&w, n_in);
    let (b, scales) = fc_add_norm_params(&wq, &ws, &bias, s_in, zp_in);
    let gamma: Vec<f32> = rng.vec(n_out, 0.5).iter().map(|g| 1.0 + g).collect();
    let beta = rng.vec(n_out, 0.2);
    let (gamma_b, beta_b) = (f32_bytes(&gamma), f32_bytes(&beta));
    let p = ops::FcAddNormParams {
        weights: &i8_bytes(&wq),
        bias: &b,
        scales: &scales,
        gamma: &gamma_b,
        beta: &beta_b,
        eps: 1e-12,
    };
    let x = codes(&mut rng, rows * n_in);
    let res = codes(&mut rng, rows * n_out);
    let mut out = vec![0i8; rows * n_out];
    let mut row = vec![0f32; n_out];
    ops::fc_add_norm(&x, n_in, &p, (&res, qr), qo, &mut out, n_out, &mut row);
    let mut want = Vec::new();
    for (xr, rr) in x.chunks(n_in).zip(res.chunks(n_out)) {
        let y: Vec<f64> = (0..n_out)
            .map(|c| {
                let dot: f64 = (0..n_in)
                    .map(|k| {
                        f64::from(wq[c * n_in + k]) * f64::from(i32::from(xr[k]) - i32::from(zp_in))
                    })
                    .sum();
                f64::from(s_in) * f64::from(ws[c]) * dot
                    + f64::from(bias[c])
                    + f64::from(qr.scale) * f64::from(i32::from(rr[c]) + 7)
            })
            .collect();
        let mean = y.iter().sum::<f64>() / n_out as f64;
        let var = y.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n_out as f64;
        for (c, a) in y.iter().enumerate() {
            let v = (a - mean) / (var + 1e-12).sqrt() * f64::from(gamma[c]) + f64::from(beta[c]);
            want.push(q_round(v, qo.scale, qo.zero_point));
        }
    }
    let exact = assert_close(&out, &want, "fc_add_norm");
    assert!(
        exact * 10 >= want.len() * 9,
        "{exact} of {} exact",
        want.len()
    );
    // Too short a row buffer or mismatched slices: nothing written, no panic.
    let mut untouched = vec![0i8; rows * n_out];
    let mut short = vec![0f32; n_out - 1];
    ops::fc_add_norm(
        &x,
        n_in,
        &p,
        (&res, qr),
        qo,
        &mut untouched,
        n_out,
        &mut short,
    );
    assert!(untouched.iter().all(|&v| v == 0));
    ops::fc_add_norm(
        &x[..7],
        n_in,
        &p,
        (&res[..3], qr),
        qo,
        &mut untouched,
        n_out,
        &mut row,
    );
    let empty = ops::FcAddNormParams {
        weights: &[],
        bias: &[],
        scales: &[],
        gamma: &[],
        beta: &[],
        eps: 0.0,
    };
    ops::fc_add_norm(
        &x,
        n_in,
        &empty,
        (&res, qr),
        qo,
        &mut untouched,
        n_out,
        &mut row,
    );
}
