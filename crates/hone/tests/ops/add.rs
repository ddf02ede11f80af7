//! `add` against f64.

use super::{assert_close, codes, q_round};
use hone::ops::{self};
use hone_build::add_params;
use hone_build::testutil::XorShift;

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
