//! Every quantised op against a straightforward float (f64) computation of the same maths.
//! Requantisation rounds twice (fixed-point multiplier, then shift), so a result may differ
//! from the exactly rounded real value by one code, never more.

use hone::format::{Activation, Multiplier, PoolKind};
use hone::ops::{self, QParams};
use hone::quant::multiply_by_quantized_multiplier;
use hone_build::testutil::XorShift;
use hone_build::{
    add_params, asymmetric, f32_bytes, fc_add_norm_params, fc_params, i8_bytes, lut_table,
    multiplier, quantize_rows,
};

fn q_round(real: f64, s: f32, zp: i8) -> i32 {
    ((real / f64::from(s)).round() as i64 + i64::from(zp)).clamp(-128, 127) as i32
}

fn codes(rng: &mut XorShift, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.next_u32() as i8).collect()
}

fn assert_close(got: &[i8], want: &[i32], what: &str) -> usize {
    assert_eq!(got.len(), want.len());
    let mut exact = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (i32::from(g) - w).abs() <= 1,
            "{what}[{i}]: got {g}, want {w}"
        );
        exact += usize::from(i32::from(g) == w);
    }
    exact
}

#[test]
fn fully_connected_matches_float_and_exact_integer_definition() {
    let mut rng = XorShift(11);
    for &(rows, n_in, n_out) in &[(1, 1, 1), (3, 17, 5), (2, 64, 33), (1, 255, 16), (4, 7, 40)] {
        let (s_in, zp_in) = asymmetric(-1.0, 2.0);
        let w = rng.vec(n_in * n_out, 0.5);
        let bias = rng.vec(n_out, 0.3);
        let (wq, ws) = quantize_rows(&w, n_in);
        let s_out = 0.02;
        for (act, zp_out) in [(Activation::None, -3i8), (Activation::Relu, -128)] {
            let (b, m, s) = fc_params(&wq, &ws, &bias, s_in, zp_in, s_out).unwrap();
            let x = codes(&mut rng, rows * n_in);
            let mut out = vec![0i8; rows * n_out];
            ops::fully_connected(
                &x,
                n_in,
                &i8_bytes(&wq),
                &b,
                &m,
                &s,
                act,
                zp_out,
                &mut out,
                n_out,
            );
            let mut want_real = Vec::new();
            let mut want_int = Vec::new();
            for r in 0..rows {
                for o in 0..n_out {
                    let xr = &x[r * n_in..(r + 1) * n_in];
                    let wr = &wq[o * n_in..(o + 1) * n_in];
                    let acc: i64 = xr
                        .iter()
                        .zip(wr)
                        .map(|(&a, &b)| (i64::from(a) - i64::from(zp_in)) * i64::from(b))
                        .sum();
                    let bq = (f64::from(bias[o]) / (f64::from(s_in) * f64::from(ws[o]))).round();
                    let real = (acc as f64 + bq) * f64::from(s_in) * f64::from(ws[o]);
                    let lo = if act == Activation::Relu {
                        i32::from(zp_out)
                    } else {
                        -128
                    };
                    want_real.push(q_round(real, s_out, zp_out).max(lo));
                    let mult = Multiplier {
                        multiplier: i32::from_le_bytes(m[4 * o..4 * o + 4].try_into().unwrap()),
                        shift: s[o] as i8,
                    };
                    let b_folded = i32::from_le_bytes(b[4 * o..4 * o + 4].try_into().unwrap());
                    let raw: i32 = xr
                        .iter()
                        .zip(wr)
                        .map(|(&a, &b)| i32::from(a) * i32::from(b))
                        .sum();
                    let v =
                        multiply_by_quantized_multiplier(raw + b_folded, mult) + i32::from(zp_out);
                    want_int.push(v.clamp(lo, 127));
                }
            }
            assert_close(&out, &want_real, "fc vs float");
            let got: Vec<i32> = out.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(
                got, want_int,
                "fc vs integer definition ({rows}x{n_in}->{n_out})"
            );
        }
    }
}

#[test]
fn add_matches_float() {
    let mut rng = XorShift(12);
    for &(sa, sb, so) in &[
        (0.01f32, 0.02f32, 0.03f32),
        (0.5, 0.001, 0.4),
        (0.05, 0.05, 0.05),
    ] {
        let p = add_params(sa, sb, so).unwrap();
        let (za, zb, zo) = (3i8, -7i8, 1i8);
        let a = codes(&mut rng, 500);
        let b = codes(&mut rng, 500);
        let mut out = vec![0i8; 500];
        ops::add(&a, za, &b, zb, &p, &mut out, zo);
        let want: Vec<i32> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| {
                let real = f64::from(sa) * f64::from(i32::from(x) - i32::from(za))
                    + f64::from(sb) * f64::from(i32::from(y) - i32::from(zb));
                q_round(real, so, zo)
            })
            .collect();
        let exact = assert_close(&out, &want, "add");
        assert!(exact >= 490, "add: only {exact}/500 exact");
    }
}

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

#[test]
fn lut_implements_its_function() {
    let (si, zi, so, zo) = (0.05f32, -3i8, 0.02f32, -100i8);
    let table = lut_table(|x| x.max(0.0) * 0.5, si, zi, so, zo);
    let x: Vec<i8> = (-128..=127).collect();
    let mut out = vec![0i8; 256];
    ops::lut(&x, &table, &mut out);
    let want: Vec<i32> = x
        .iter()
        .map(|&q| {
            q_round(
                (f64::from(si) * f64::from(i32::from(q) - i32::from(zi))).max(0.0) * 0.5,
                so,
                zo,
            )
        })
        .collect();
    let exact = assert_close(&out, &want, "lut");
    assert_eq!(exact, 256);
}

#[test]
fn attention_matches_float() {
    let mut rng = XorShift(14);
    let (rows, cols, heads) = (7, 12, 3);
    let dh = cols / heads;
    let (sq, zq, sk, zk) = (0.04f32, 2i8, 0.05f32, -1i8);
    let qv = QParams {
        scale: 0.03,
        zero_point: 4,
    };
    let qo = QParams {
        scale: 0.02,
        zero_point: -2,
    };
    let q = codes(&mut rng, rows * cols);
    let k = codes(&mut rng, rows * cols);
    let v = codes(&mut rng, rows * cols);
    let score_scale = sq * sk / (dh as f32).sqrt();
    let mut out = vec![0i8; rows * cols];
    let mut scores = vec![0f32; rows];
    ops::attention(
        (&q, zq),
        (&k, zk),
        (&v, qv),
        heads,
        score_scale,
        qo,
        &mut out,
        cols,
        rows,
        &mut scores,
    );
    let deq = |x: i8, s: f32, z: i8| f64::from(s) * f64::from(i32::from(x) - i32::from(z));
    let mut want = vec![0i32; rows * cols];
    for h in 0..heads {
        for i in 0..rows {
            let s: Vec<f64> = (0..rows)
                .map(|j| {
                    (0..dh)
                        .map(|c| {
                            deq(q[i * cols + h * dh + c], sq, zq)
                                * deq(k[j * cols + h * dh + c], sk, zk)
                        })
                        .sum::<f64>()
                        / (dh as f64).sqrt()
                })
                .collect();
            let max = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let total: f64 = e.iter().sum();
            for c in 0..dh {
                let real: f64 = (0..rows)
                    .map(|j| e[j] / total * deq(v[j * cols + h * dh + c], qv.scale, qv.zero_point))
                    .sum();
                want[i * cols + h * dh + c] = q_round(real, qo.scale, qo.zero_point);
            }
        }
    }
    assert_close(&out, &want, "attention");
}

#[test]
fn pooling_matches_float() {
    let mut rng = XorShift(15);
    let (rows, cols) = (9, 20);
    let x = codes(&mut rng, rows * cols);
    let (si, zi, so, zo) = (0.05f32, 7i8, 0.01f32, -4i8);
    let m = multiplier(f64::from(si) / f64::from(so), "pool").unwrap();
    let mut out = vec![0i8; cols];
    ops::pool(&x, zi, PoolKind::Mean, m, zo, &mut out);
    let want: Vec<i32> = (0..cols)
        .map(|c| {
            let mean = (0..rows)
                .map(|r| f64::from(i32::from(x[r * cols + c]) - i32::from(zi)))
                .sum::<f64>()
                / rows as f64;
            q_round(mean * f64::from(si), so, zo)
        })
        .collect();
    assert_close(&out, &want, "mean pool");
    ops::pool(&x, zi, PoolKind::Max, m, zo, &mut out);
    for c in 0..cols {
        assert_eq!(out[c], (0..rows).map(|r| x[r * cols + c]).max().unwrap());
    }
    ops::pool(&x, zi, PoolKind::First, m, zo, &mut out);
    assert_eq!(out, x[..cols]);
    // No rows: the zero point (real 0), not garbage.
    ops::pool(&[], zi, PoolKind::Mean, m, zo, &mut out);
    assert!(out.iter().all(|&v| v == zo));
}

#[test]
fn embedding_row_requant_and_positions_match_float() {
    let mut rng = XorShift(16);
    let (vocab, d, max_len) = (10, 6, 4);
    let table = rng.vec(vocab * d, 2.0);
    let (tq, row_scales) = quantize_rows(&table, d);
    let tok_scale = 2.0 / 127.0;
    let mut mults = Vec::new();
    let mut shifts = Vec::new();
    for &s in &row_scales {
        let m = multiplier(f64::from(s) / f64::from(tok_scale), "row").unwrap();
        mults.extend_from_slice(&m.multiplier.to_le_bytes());
        shifts.push(m.shift as u8);
    }
    let ids = [3u16, 0, 9, 3];
    let mut out = vec![0i8; ids.len() * d];
    ops::embedding(
        &ids,
        &i8_bytes(&tq),
        Some((&mults, &shifts)),
        None,
        d,
        0,
        &mut out,
    );
    let want: Vec<i32> = ids
        .iter()
        .flat_map(|&id| (0..d).map(move |c| (id as usize, c)))
        .map(|(id, c)| {
            q_round(
                f64::from(row_scales[id]) * f64::from(tq[id * d + c]),
                tok_scale,
                0,
            )
        })
        .collect();
    assert_close(&out, &want, "embedding rows");
    // With positions: ADD(token, position) into the output scale.
    let pos = rng.vec(max_len * d, 0.5);
    let (pq, _) = quantize_rows(&pos, max_len * d);
    let pos_scale = pos.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
    let (out_scale, out_zp) = (0.03f32, 2i8);
    let p = add_params(tok_scale, pos_scale, out_scale).unwrap();
    ops::embedding(
        &ids,
        &i8_bytes(&tq),
        Some((&mults, &shifts)),
        Some((&i8_bytes(&pq), &p)),
        d,
        out_zp,
        &mut out,
    );
    let want: Vec<i32> = (0..ids.len() * d)
        .map(|i| {
            let tok = f64::from(tok_scale) * f64::from(want[i]);
            q_round(
                tok + f64::from(pos_scale) * f64::from(pq[i]),
                out_scale,
                out_zp,
            )
        })
        .collect();
    assert_close(&out, &want, "embedding + positions");
}

#[test]
fn log_softmax_is_stable_and_accurate() {
    let mut v = vec![1000.0f32, 999.0, -1000.0, 0.5];
    let x: Vec<f64> = v.iter().map(|&a| f64::from(a)).collect();
    ops::log_softmax(&mut v);
    let max = 1000.0;
    let lse = max + x.iter().map(|a| (a - max).exp()).sum::<f64>().ln();
    for (a, b) in v.iter().zip(&x) {
        assert!(
            (f64::from(*a) - (b - lse)).abs() < 1e-4,
            "{a} vs {}",
            b - lse
        );
    }
    assert!(v
        .iter()
        .all(|a| a.is_finite() || *a == f32::NEG_INFINITY || *a < -1e3));
    assert_eq!(ops::argmax(&[f32::NAN, 1.0, 3.0, 3.0]), 2);
}
