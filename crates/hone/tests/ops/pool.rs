//! `pool` against f64.

use super::{assert_close, codes, q_round};
use hone::ops::{self, PoolKind};
use hone_build::multiplier;
use hone_build::testutil::XorShift;

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
