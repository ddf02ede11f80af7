//! `head` against f64.

use hone::ops::{self};

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
