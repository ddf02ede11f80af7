//! Benchmark hooks (feature `bench`, enabled for this crate's tests): they observe, they never
//! change a result.
#![cfg(feature = "bench")]

use hone::{kernels, Runner};
use hone_build::testutil;
use hone_build::HostSteps;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn classify_observed_brackets_every_op_in_order_and_matches_classify() {
    let blob = testutil::tiny_transformer().expect("build model");
    let mut steps = HostSteps::new();
    let model = hone::Model::load(&blob, &mut steps).expect("valid model");
    let mut s1 = vec![0u32; model.scratch_words()];
    let mut s2 = s1.clone();
    let mut observed = Runner::new(&model, &mut s1).expect("scratch");
    let mut plain = Runner::new(&model, &mut s2).expect("scratch");
    for text in ["turn the lights off", "play some jazz please", ""] {
        let mut events = Vec::new();
        let p = observed.classify_observed(text, |i, done| events.push((i, done)));
        let expected: Vec<(usize, bool)> = (0..model.ops().count())
            .flat_map(|i| [(i, false), (i, true)])
            .collect();
        assert_eq!(events, expected, "{text:?}");
        let q = plain.classify(text);
        assert_eq!(p.label, q.label);
        assert_eq!(bits(p.log_probs), bits(q.log_probs));
    }
}

#[test]
fn use_portable_keeps_results() {
    let x: Vec<i8> = (0..37).map(|i| (i * 7 - 128) as i8).collect();
    let w: Vec<i8> = (0..37 * 9).map(|i| (i * 13 % 256) as u8 as i8).collect();
    let mut a = [0i32; 9];
    let mut b = [0i32; 9];
    kernels::use_portable(true);
    kernels::matvec_i8(&x, &w, &mut a);
    kernels::use_portable(false);
    kernels::matvec_i8(&x, &w, &mut b);
    let mut want = [0i32; 9];
    kernels::portable::matvec_i8(&x, &w, &mut want);
    assert_eq!(a, want);
    assert_eq!(b, want);
}
