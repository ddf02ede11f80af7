//! `fully_connected` against f64.

use super::{assert_close, codes, q_round};
use hone::format::Multiplier;
use hone::ops::{self, Activation};
use hone::quant::multiply_by_quantized_multiplier;
use hone_build::testutil::XorShift;
use hone_build::{asymmetric, fc_params, i8_bytes, quantize_rows};

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
