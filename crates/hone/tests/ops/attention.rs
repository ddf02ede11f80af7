//! `attention` against f64.

use super::{assert_close, codes, q_round};
use hone::ops::{self, QParams};
use hone_build::testutil::XorShift;

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
