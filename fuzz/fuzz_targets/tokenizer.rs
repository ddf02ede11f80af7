//! Tokenizer on arbitrary text.
//!
//! Input: two control bytes, then the text. Byte 0 picks the vocabulary (bit 0: the test
//! models' 90 tokens or the shipped model's 30k) and the configuration (bits 1–5: lowercase,
//! strip accents, `[CLS]`, `[SEP]`, a 3-character word limit instead of 100); byte 1 the output
//! buffer (`max_len` of the shipped model, 128, or 0–63 ids). The text is tokenized as UTF-8
//! when it is, and always as a lossy conversion of the bytes.
//!
//! Invariants: the count fits the buffer, every id is in the vocabulary, `[CLS]` comes first
//! and `[SEP]` last when configured and room allows, a smaller buffer yields a prefix of the
//! larger buffer's ids (then `[SEP]`), and tokenizing is deterministic.
#![no_main]

use std::sync::OnceLock;

use hone::tokenizer::{Tokenizer, TokenizerConfig};
use hone::Model;
use hone_build::HostSteps;
use libfuzzer_sys::fuzz_target;

fn models() -> &'static [Model<'static>; 2] {
    static M: OnceLock<[Model<'static>; 2]> = OnceLock::new();
    M.get_or_init(|| {
        let load = |blob: &'static [u8]| {
            Model::load(blob, Box::leak(Box::new(HostSteps::new()))).expect("model loads")
        };
        [load(hone_fuzz::tiny_model()), load(hone_fuzz::SHIPPED)]
    })
}

const BIG: usize = 4096;

fn check(t: &Tokenizer<'_>, text: &str, cap: usize) {
    let cfg = *t.config();
    let vocab = t.vocab().len();
    let mut full = [0u16; BIG];
    let n_full = t.tokenize(text, &mut full);
    assert!(n_full <= BIG);
    let full = &full[..n_full];
    let mut out = [0u16; BIG];
    let out = &mut out[..cap];
    let n = t.tokenize(text, out);
    assert!(n <= cap, "{n} ids in a buffer of {cap}");
    let ids = &out[..n];
    assert!(ids.iter().all(|&id| usize::from(id) < vocab));
    // Deterministic.
    let mut again = [0u16; BIG];
    assert_eq!(t.tokenize(text, &mut again[..cap]), n);
    assert_eq!(&again[..n], ids);
    if let Some(cls) = cfg.cls {
        if cap >= 1 {
            assert_eq!(ids.first(), Some(&cls));
        }
    }
    let sep_written = cfg.sep.is_some() && (cap >= 2 || (cap == 1 && cfg.cls.is_none()));
    if sep_written {
        assert_eq!(ids.last().copied(), cfg.sep);
    }
    // Everything before `[SEP]` is a prefix of what a large buffer gives.
    let body = n - usize::from(sep_written);
    if n_full < BIG {
        assert!(body <= n_full);
        assert_eq!(ids[..body], full[..body]);
        if cap >= n_full {
            assert_eq!(ids, full);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, text @ ..] = data else {
        return;
    };
    let m = &models()[usize::from(a & 1)];
    let base = *m.tokenizer().config();
    let id = |s: &str| m.tokenizer().vocab().id_of(s);
    let cfg = TokenizerConfig {
        lowercase: a & 2 != 0,
        strip_accents: a & 4 != 0,
        unk: base.unk,
        cls: if a & 8 != 0 { id("[CLS]") } else { None },
        sep: if a & 16 != 0 { id("[SEP]") } else { None },
        max_chars_per_word: if a & 32 != 0 { 3 } else { 100 },
    };
    let t = Tokenizer::new(*m.tokenizer().vocab(), cfg).expect("valid configuration");
    let cap = match b >> 6 {
        0 => m.max_len(),
        1 => 128,
        _ => usize::from(b & 63),
    };
    if let Ok(s) = core::str::from_utf8(text) {
        check(&t, s, cap);
        // The model's own tokenizer, as the runtime uses it.
        check(m.tokenizer(), s, m.max_len());
    }
    check(&t, &String::from_utf8_lossy(text), cap);
});
