//! Blob loader + forward pass + classifier head.
//!
//! Input: one mode byte, then the bytes. Mode `% 3`: 0 loads the bytes as a whole blob
//! (header, length and CRC as given); 1 and 2 frame them as a version-1 / version-2 payload
//! with a correct header, so that mutations reach the postcard decoder and the validator
//! instead of dying at the checksum. Loading must return a typed error or a model; a model
//! must then run every prompt, through the pre-trained head and an adaptation head, with
//! well-formed and finite results.
#![no_main]

use hone::adapt::Head;
use hone::{Error, Model, Runner, Steps};
use libfuzzer_sys::fuzz_target;

const PROMPTS: &[&str] = &[
    "turn the lights off",
    "",
    "Play MÚSIC, s'il vous plaît! 播放音乐 🎵 timer×5 ##s [CLS]",
    "a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a",
];

/// Scratch above this many words is not allocated (the model is still loaded and checked;
/// a too-small buffer must be refused).
const MAX_SCRATCH_WORDS: usize = 1 << 22;

fn run(blob: &[u8]) {
    // The device default capacity of checked operations.
    let mut steps = Steps::<{ hone::DEFAULT_OPS }>::new();
    let m = match Model::load(blob, &mut steps) {
        Ok(m) => m,
        Err(e) => {
            // Typed, displayable error.
            let _ = e.to_string();
            return;
        }
    };
    let words = m.scratch_words();
    assert_eq!(m.scratch_bytes(), 4 * words);
    assert!(m.num_classes() >= 1);
    assert_eq!(m.labels().len(), m.num_classes());
    assert!(m.max_len() >= 1 && m.max_len() <= usize::from(hone::MAX_LEN));
    assert!(m.op_count() >= 2 && m.ops().count() == m.op_count());
    for c in 0..m.num_classes() {
        assert!(m.labels().get(c).is_some());
    }
    if words > 0 {
        let mut small = vec![0u32; words - 1];
        assert!(matches!(
            Runner::new(&m, &mut small),
            Err(Error::ScratchTooSmall { .. })
        ));
    }
    if words > MAX_SCRATCH_WORDS {
        return;
    }
    let mut scratch = vec![0u32; words];
    let mut r = Runner::new(&m, &mut scratch).expect("scratch of scratch_words() is enough");
    let mut head = Head::<2, 512>::new(&m).ok();
    if let Some(h) = head.as_mut() {
        let _ = h.enrol("fuzzed");
    }
    let mut logits = [0f32; hone::MAX_CLASSES + 2];
    for p in PROMPTS {
        let n = r.tokenize(p);
        assert!(n <= m.max_len());
        assert_eq!(r.tokens().len(), n);
        let vocab = m.tokenizer().vocab().len();
        assert!(r.tokens().iter().all(|&id| usize::from(id) < vocab));
        let f = r.features(p);
        assert_eq!(f.len(), m.feature_dim());
        // A validated model never yields NaN or infinity (hone::ops::bounds).
        assert!(f.iter().all(|x| x.is_finite()), "features not finite");
        if let Some(h) = head.as_ref() {
            let k = h.num_classes();
            if let Some(out) = logits.get_mut(..k) {
                let y = h.classify(f, out);
                assert!(y < k);
                assert!(out.iter().all(|x| x.is_finite()), "adapted head not finite");
            }
        }
        let pred = r.classify(p);
        assert!(pred.label < m.num_classes());
        assert_eq!(pred.log_probs.len(), m.num_classes());
        assert!(
            pred.log_probs.iter().all(|x| x.is_finite()),
            "log-probabilities not finite"
        );
        assert_eq!(Some(pred.name), m.labels().get(pred.label));
        let _ = pred.confidence();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => run(bytes),
        v => run(&hone_build::frame_version(bytes, u16::from(v))),
    }
});
