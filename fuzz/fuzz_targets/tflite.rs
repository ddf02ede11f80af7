//! The TFLite reader (`hone_tflite::parse`) on arbitrary bytes: the part of `hone import` that
//! reads untrusted files.
//!
//! Invariants: parsing never panics; a graph it returns keeps its promises — every tensor
//! index of the graph's inputs, outputs and operators is in range, constant data has the size
//! its shape and type say (the typed accessors agree with it), quantisation has as many scales
//! as zero points, all finite and positive.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = hone_tflite::parse(data) else {
        return;
    };
    let n = g.tensors.len();
    assert!(g.inputs.iter().chain(&g.outputs).all(|&i| i < n));
    for op in &g.operators {
        assert!(op.inputs.iter().flatten().all(|&i| i < n));
        assert!(op.outputs.iter().all(|&o| o < n));
        for k in 0..op.inputs.len() + 1 {
            assert!(op.input(k).is_none_or(|i| i < n));
        }
    }
    for t in &g.tensors {
        if let Some(q) = &t.quant {
            assert_eq!(q.scale.len(), q.zero_point.len());
            assert!(q.scale.iter().all(|s| s.is_finite() && *s > 0.0));
        }
        let elements = t.elements();
        if let Some(d) = t.i8_data() {
            assert_eq!(d.len(), elements);
        }
        if let Some(d) = t.i32_data() {
            assert_eq!(d.len(), elements);
        }
    }
    let counted: usize = g.op_counts().iter().map(|(_, c)| c).sum();
    assert_eq!(counted, g.operators.len());
});
