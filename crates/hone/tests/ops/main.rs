//! Every quantised op against a straightforward float (f64) computation of the same maths,
//! one file per op (as in `src/ops/`). Requantisation rounds twice (fixed-point multiplier,
//! then shift), so a result may differ from the exactly rounded real value by one code, never
//! more.

mod add;
mod attention;
mod depthwise_conv2d;
mod embedding;
mod fc_add_norm;
mod fully_connected;
mod head;
mod layer_norm;
mod lut;
mod pool;
mod softmax;

use hone_build::testutil::XorShift;

pub fn q_round(real: f64, s: f32, zp: i8) -> i32 {
    ((real / f64::from(s)).round() as i64 + i64::from(zp)).clamp(-128, 127) as i32
}

pub fn codes(rng: &mut XorShift, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.next_u32() as i8).collect()
}

pub fn assert_close(got: &[i8], want: &[i32], what: &str) -> usize {
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
