//! `softmax` against f64: each output within one step (1/256) of `exp(s·(x − max)) / Σ`.

use super::{assert_close, codes};
use hone::ops;
use hone_build::testutil::XorShift;

#[test]
fn softmax_implements_its_function() {
    let mut rng = XorShift(0x50f7);
    for (scale, depth) in [(0.0625f64, 4usize), (0.1, 12), (0.02, 35)] {
        // β·s·2^26 = multiplier·2^shift/2^31 (TFLite's preprocessing, β = 1).
        let m = hone_build::quantize_multiplier(scale * f64::from(1u32 << 26)).unwrap();
        let (mult, shift) = (m.multiplier, m.shift as u8);
        let x = codes(&mut rng, depth * 40);
        let mut out = vec![0i8; x.len()];
        ops::softmax(&x, depth, mult, shift, &mut out);
        let want: Vec<i32> = x
            .chunks(depth)
            .flat_map(|row| {
                let max = f64::from(*row.iter().max().unwrap());
                let e: Vec<f64> = row
                    .iter()
                    .map(|&v| ((f64::from(v) - max) * scale).exp())
                    .collect();
                let sum: f64 = e.iter().sum();
                e.into_iter()
                    .map(|v| ((v / sum * 256.0).round() as i32 - 128).clamp(-128, 127))
                    .collect::<Vec<_>>()
            })
            .collect();
        let exact = assert_close(&out, &want, "softmax");
        assert!(
            exact * 10 >= want.len() * 9,
            "{exact} of {} exact",
            want.len()
        );
    }
}
