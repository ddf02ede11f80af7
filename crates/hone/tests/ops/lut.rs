//! `lut` against f64.

use super::{assert_close, q_round};
use hone::ops::{self};
use hone_build::lut_table;

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
