//! Unit tests on a tiny vocabulary, plus property tests (arbitrary text, arbitrary vocab bytes).

extern crate std;

use std::string::String;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Encodes `tokens` (sorted and deduplicated here) in the blob layout.
fn encode(tokens: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let mut sorted: Vec<&str> = tokens.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut offsets = Vec::new();
    let mut text = Vec::new();
    offsets.extend_from_slice(&0u32.to_le_bytes());
    for t in sorted {
        text.extend_from_slice(t.as_bytes());
        offsets.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    (offsets, text)
}

const TOKENS: &[&str] = &[
    "[CLS]", "[SEP]", "[UNK]", "[PAD]", "!", ",", ".", "?", "'", "un", "##aff", "##able", "hello",
    "world", "the", "turn", "light", "##s", "off", "a", "##a", "cafe", "中", "s", "dont", "don",
    "##t", "t", "i", "##i", "##ss",
];

struct Fixture {
    offsets: Vec<u8>,
    text: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let (offsets, text) = encode(TOKENS);
        Fixture { offsets, text }
    }

    fn vocab(&self) -> Vocab<'_> {
        Vocab::new(&self.offsets, &self.text).expect("valid vocab")
    }

    fn tokenizer(&self, cls_sep: bool) -> Tokenizer<'_> {
        let v = self.vocab();
        let id = |t: &str| v.id_of(t).expect("special token present");
        let config = TokenizerConfig {
            lowercase: true,
            strip_accents: true,
            unk: id("[UNK]"),
            cls: cls_sep.then(|| id("[CLS]")),
            sep: cls_sep.then(|| id("[SEP]")),
            max_chars_per_word: 100,
        };
        Tokenizer::new(v, config).expect("valid config")
    }
}

/// Tokenizes into a generous buffer and returns the token strings.
fn toks(t: &Tokenizer<'_>, text: &str) -> Vec<String> {
    let mut out = [0u16; 512];
    let n = t.tokenize(text, &mut out);
    out[..n]
        .iter()
        .map(|&id| String::from(t.vocab().token(id).expect("id in range")))
        .collect()
}

fn s(list: &[&str]) -> Vec<String> {
    list.iter().map(|x| String::from(*x)).collect()
}

#[test]
fn vocab_lookup_is_consistent() {
    let f = Fixture::new();
    let v = f.vocab();
    assert_eq!(v.len(), TOKENS.len());
    assert!(!v.is_empty());
    for id in 0..v.len() as u16 {
        let t = v.token(id).unwrap();
        assert_eq!(v.id_of(t), Some(id), "{t}");
    }
    assert_eq!(v.token(v.len() as u16), None);
    assert_eq!(v.lookup(b"##", b"aff"), v.id_of("##aff"));
    assert!(v.lookup(b"##", b"aff").is_some());
    assert_eq!(v.lookup(b"##", b"af"), None);
    assert_eq!(v.lookup(b"un", b""), v.id_of("un"));
    assert_eq!(v.id_of("zzz"), None);
    assert_eq!(v.id_of(""), None);
    assert_eq!(v.max_token_bytes(), "##able".len());
}

#[test]
fn vocab_rejects_malformed_tables() {
    let (off, text) = encode(&["a", "b"]);
    assert!(Vocab::new(&off, &text).is_ok());
    assert_eq!(
        Vocab::new(&off[..11], &text).unwrap_err(),
        TokenizerError::BadOffsets
    );
    assert_eq!(
        Vocab::new(&off[..4], &text[..0]).unwrap_err(),
        TokenizerError::EmptyVocab
    );
    assert_eq!(
        Vocab::new(&[], &[]).unwrap_err(),
        TokenizerError::EmptyVocab
    );
    assert_eq!(
        Vocab::new(&off, &text[..1]).unwrap_err(),
        TokenizerError::BadOffsets
    );
    let (off, text) = encode(&["a", "b"]);
    let mut bad = off.clone();
    bad[0] = 1;
    assert_eq!(
        Vocab::new(&bad, &text).unwrap_err(),
        TokenizerError::BadOffsets
    );
    // Decreasing offsets.
    let bad: Vec<u8> = [0u32, 2, 1, 2]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(
        Vocab::new(&bad, b"ab").unwrap_err(),
        TokenizerError::BadOffsets
    );
    let bad: Vec<u8> = [0u32, 0, 2].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(
        Vocab::new(&bad, b"ab").unwrap_err(),
        TokenizerError::EmptyToken
    );
    let ok: Vec<u8> = [0u32, 1, 2].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(
        Vocab::new(&ok, b"ba").unwrap_err(),
        TokenizerError::Unsorted
    );
    assert_eq!(
        Vocab::new(&ok, b"aa").unwrap_err(),
        TokenizerError::Unsorted
    );
    assert_eq!(
        Vocab::new(&ok, b"a\xFF").unwrap_err(),
        TokenizerError::InvalidUtf8
    );
    // A token boundary inside a multi-byte character.
    let ok2: Vec<u8> = [0u32, 1, 2].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(
        Vocab::new(&ok2, "é".as_bytes()).unwrap_err(),
        TokenizerError::InvalidUtf8
    );
    // Too many tokens: 65 536 one- or two-byte tokens would be needed; check the count limit.
    let many = std::vec![0u8; (MAX_TOKENS + 2) * 4];
    assert_eq!(
        Vocab::new(&many, &[]).unwrap_err(),
        TokenizerError::TooManyTokens
    );
}

#[test]
fn tokenizer_rejects_bad_config() {
    let f = Fixture::new();
    let good = *f.tokenizer(true).config();
    let n = f.vocab().len() as u16;
    for bad in [
        TokenizerConfig { unk: n, ..good },
        TokenizerConfig {
            cls: Some(n),
            ..good
        },
        TokenizerConfig {
            sep: Some(u16::MAX),
            ..good
        },
    ] {
        assert_eq!(
            Tokenizer::new(f.vocab(), bad).unwrap_err(),
            TokenizerError::BadSpecialToken
        );
    }
    for max in [0, MAX_WORD_CHARS + 1] {
        let bad = TokenizerConfig {
            max_chars_per_word: max,
            ..good
        };
        assert_eq!(
            Tokenizer::new(f.vocab(), bad).unwrap_err(),
            TokenizerError::BadMaxChars
        );
    }
    assert!(Tokenizer::new(
        f.vocab(),
        TokenizerConfig {
            max_chars_per_word: MAX_WORD_CHARS,
            ..good
        }
    )
    .is_ok());
    assert!(!std::format!("{}", TokenizerError::Unsorted).is_empty());
}

#[test]
fn basic_sentence() {
    let f = Fixture::new();
    let t = f.tokenizer(true);
    assert_eq!(
        toks(&t, "Turn the lights OFF!"),
        s(&["[CLS]", "turn", "the", "light", "##s", "off", "!", "[SEP]"])
    );
    assert_eq!(
        toks(&t, "unaffable"),
        s(&["[CLS]", "un", "##aff", "##able", "[SEP]"])
    );
    let t = f.tokenizer(false);
    assert_eq!(toks(&t, "hello world"), s(&["hello", "world"]));
}

#[test]
fn empty_and_whitespace() {
    let f = Fixture::new();
    let t = f.tokenizer(true);
    assert_eq!(toks(&t, ""), s(&["[CLS]", "[SEP]"]));
    assert_eq!(toks(&t, " \t\r\n\u{3000}\u{A0} "), s(&["[CLS]", "[SEP]"]));
    assert!(toks(&f.tokenizer(false), "   ").is_empty());
}

#[test]
fn punctuation_runs_split_per_character() {
    let f = Fixture::new();
    let t = f.tokenizer(false);
    assert_eq!(toks(&t, "?!.,"), s(&["?", "!", ".", ","]));
    assert_eq!(
        toks(&t, "hello,world!!"),
        s(&["hello", ",", "world", "!", "!"])
    );
    assert_eq!(toks(&t, "don't"), s(&["don", "'", "t"]));
    // Punctuation missing from the vocabulary is an [UNK] of its own.
    assert_eq!(toks(&t, "hello;world"), s(&["hello", "[UNK]", "world"]));
}

#[test]
fn greedy_longest_match_and_unknown_words() {
    let f = Fixture::new();
    let t = f.tokenizer(false);
    // "dont" is in the vocabulary: longest match wins over "don" + "##t".
    assert_eq!(toks(&t, "dont"), s(&["dont"]));
    assert_eq!(toks(&t, "donts"), s(&["dont", "##s"]));
    // A word with an uncoverable tail is a single [UNK], not "un [UNK]".
    assert_eq!(toks(&t, "unxyz hello"), s(&["[UNK]", "hello"]));
    assert_eq!(toks(&t, "iiss"), s(&["i", "##i", "##ss"]));
}

#[test]
fn non_ascii_text() {
    let f = Fixture::new();
    let t = f.tokenizer(false);
    assert_eq!(
        toks(&t, "Café CAFÉ cafe\u{301}"),
        s(&["cafe", "cafe", "cafe"])
    );
    // Control, format, NUL and U+FFFD characters are dropped.
    assert_eq!(
        toks(&t, "hel\u{0}lo wor\u{200B}ld \u{FFFD}the\u{7}"),
        s(&["hello", "world", "the"])
    );
    // CJK ideographs are words of their own; unknown ones are [UNK].
    assert_eq!(toks(&t, "a中s"), s(&["a", "中", "s"]));
    assert_eq!(toks(&t, "中文"), s(&["中", "[UNK]"]));
    // Emoji are not split off: the whole word becomes [UNK].
    assert_eq!(toks(&t, "hello 😀"), s(&["hello", "[UNK]"]));
    assert_eq!(toks(&t, "hello😀 world"), s(&["[UNK]", "world"]));
    // Without accent stripping, é is kept and unknown.
    let mut cfg = *t.config();
    cfg.strip_accents = false;
    let t2 = Tokenizer::new(f.vocab(), cfg).unwrap();
    assert_eq!(toks(&t2, "café cafe"), s(&["[UNK]", "cafe"]));
    cfg.lowercase = false;
    let t3 = Tokenizer::new(f.vocab(), cfg).unwrap();
    assert_eq!(toks(&t3, "Hello hello"), s(&["[UNK]", "hello"]));
}

#[test]
fn over_long_words_are_unknown() {
    let f = Fixture::new();
    let t = f.tokenizer(false);
    let exactly: String = "a".repeat(100);
    let got = toks(&t, &exactly);
    assert_eq!(got.len(), 100);
    assert_eq!(got[0], "a");
    assert!(got[1..].iter().all(|x| x == "##a"));
    let over: String = "a".repeat(101);
    assert_eq!(toks(&t, &std::format!("{over} the")), s(&["[UNK]", "the"]));
    // Far beyond the word buffer (multi-byte characters too).
    let huge: String = "é".repeat(10_000);
    assert_eq!(
        toks(&t, &std::format!("the {huge} the")),
        s(&["the", "[UNK]", "the"])
    );
    // Characters count, not bytes: 100 × 'á' (200 bytes) → 100 pieces after stripping.
    assert_eq!(toks(&t, &"á".repeat(100)).len(), 100);
    assert_eq!(toks(&t, &"á".repeat(101)), s(&["[UNK]"]));
}

#[test]
fn truncation_keeps_cls_and_sep() {
    let f = Fixture::new();
    let t = f.tokenizer(true);
    let v = f.vocab();
    let id = |x: &str| v.id_of(x).unwrap();
    let (cls, sep) = (id("[CLS]"), id("[SEP]"));
    let text = "turn the lights off";
    let mut out = [0u16; 4];
    assert_eq!(t.tokenize(text, &mut out), 4);
    assert_eq!(out, [cls, id("turn"), id("the"), sep]);
    let mut out = [0u16; 5];
    assert_eq!(t.tokenize(text, &mut out), 5);
    assert_eq!(out, [cls, id("turn"), id("the"), id("light"), sep]);
    let mut out = [7u16; 2];
    assert_eq!(t.tokenize(text, &mut out), 2);
    assert_eq!(out, [cls, sep]);
    let mut out = [7u16; 1];
    assert_eq!(t.tokenize(text, &mut out), 1);
    assert_eq!(out, [cls]);
    let mut out: [u16; 0] = [];
    assert_eq!(t.tokenize(text, &mut out), 0);
    // Without [CLS]/[SEP], truncation just cuts (even mid-word).
    let t = f.tokenizer(false);
    let mut out = [0u16; 3];
    assert_eq!(t.tokenize(text, &mut out), 3);
    assert_eq!(out, [id("turn"), id("the"), id("light")]);
    // [SEP] only: a one-slot buffer gets [SEP].
    let cfg = TokenizerConfig {
        sep: Some(sep),
        ..*t.config()
    };
    let t = Tokenizer::new(v, cfg).unwrap();
    let mut out = [0u16; 1];
    assert_eq!(t.tokenize(text, &mut out), 1);
    assert_eq!(out, [sep]);
}

#[test]
fn unicode_normalisation_cases() {
    use unicode::{is_dropped, is_punctuation, normalize, Normalized};
    let norm = |c: char, lower: bool, strip: bool| -> (String, bool) {
        let mut out = ['\0'; unicode::MAX_EXPANSION];
        match normalize(c, lower, strip, &mut out) {
            Normalized::Dropped => (String::from("<drop>"), false),
            Normalized::Space => (String::from(" "), false),
            Normalized::Chars { len, cjk } => (out[..len].iter().collect(), cjk),
        }
    };
    let n = |c: char| norm(c, true, true).0;
    assert_eq!(n('É'), "e");
    assert_eq!(n('Ǆ'), "ǆ"); // compatibility decomposition is not applied
    assert_eq!(n('ﬁ'), "ﬁ");
    assert_eq!(n('Ω'), "ω"); // U+2126 OHM SIGN → Ω → ω
    assert_eq!(n('ἄ'), "α");
    assert_eq!(n('й'), "и");
    assert_eq!(n('が'), "か");
    assert_eq!(n('각'), "\u{1100}\u{1161}\u{11A8}");
    assert_eq!(n('가'), "\u{1100}\u{1161}");
    assert_eq!(n('\u{301}'), "<drop>");
    assert_eq!(n('\u{200B}'), "<drop>");
    assert_eq!(n('\u{E123}'), "<drop>");
    assert_eq!(n('\u{85}'), "<drop>"); // NEL is a control character before it is whitespace
    assert_eq!(n('\u{A0}'), " ");
    assert_eq!(n('\t'), " ");
    assert_eq!(n('😀'), "😀");
    assert_eq!(norm('İ', true, false).0, "i\u{307}");
    assert_eq!(norm('İ', true, true).0, "i");
    assert_eq!(norm('É', false, true).0, "E");
    assert_eq!(norm('É', true, false).0, "é");
    assert_eq!(
        norm('\u{F900}', true, true),
        (String::from("\u{8C48}"), true)
    );
    assert_eq!(
        norm('\u{2F800}', true, true),
        (String::from("\u{4E3D}"), true)
    );
    assert_eq!(norm('中', true, true), (String::from("中"), true));
    assert!(is_dropped('\0') && is_dropped('\u{FFFD}') && !is_dropped('a'));
    for p in ['!', '~', '¡', '¿', '«', '—', '…', '、', '「', '\u{FF01}'] {
        assert!(is_punctuation(p), "{p}");
    }
    for p in ['a', '$', '+', '€', '©', '😀', ' ', '中'] {
        // ASCII symbols count as punctuation, Unicode symbols (S*) do not.
        assert_eq!(is_punctuation(p), p.is_ascii_punctuation(), "{p}");
    }
}

fn vocab_is_consistent(v: &Vocab<'_>) {
    let mut prev: Option<&str> = None;
    for id in 0..v.len() {
        let id = id as u16;
        let tok = v.token(id).expect("every id has a token");
        assert!(!tok.is_empty());
        assert_eq!(v.id_of(tok), Some(id));
        if let Some((head, tail)) = tok.split_at_checked(tok.len() / 2) {
            assert_eq!(v.lookup(head.as_bytes(), tail.as_bytes()), Some(id));
        }
        if let Some(p) = prev {
            assert!(p < tok);
        }
        prev = Some(tok);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Any text: no panic, count ≤ buffer, every id in range, [CLS]/[SEP] framing.
    #[test]
    fn any_text_tokenizes(text in any::<String>(), cap in 0usize..40) {
        let f = Fixture::new();
        let t = f.tokenizer(true);
        let mut out = std::vec![u16::MAX; cap];
        let n = t.tokenize(&text, &mut out);
        prop_assert!(n <= cap);
        prop_assert!(out[..n].iter().all(|&id| usize::from(id) < t.vocab().len()));
        if cap >= 2 {
            prop_assert_eq!(out[0], t.config().cls.unwrap());
            prop_assert_eq!(out[n - 1], t.config().sep.unwrap());
        }
    }

    /// Text drawn from characters the tiny vocabulary knows, plus tricky ones.
    #[test]
    fn vocab_like_text_tokenizes(
        text in "([a-z中]{0,12}|[ !?.,'\u{0}\u{301}\u{200B}\u{FFFD}é😀\t]){0,30}",
        cap in 0usize..64,
    ) {
        let f = Fixture::new();
        let t = f.tokenizer(true);
        let mut out = std::vec![u16::MAX; cap];
        let n = t.tokenize(&text, &mut out);
        prop_assert!(n <= cap);
        prop_assert!(out[..n].iter().all(|&id| usize::from(id) < t.vocab().len()));
    }

    /// Random bytes: `Vocab::new` is `Err` or gives a consistent vocabulary.
    #[test]
    fn random_vocab_bytes(offsets in proptest::collection::vec(any::<u8>(), 0..64),
                          text in proptest::collection::vec(any::<u8>(), 0..32)) {
        if let Ok(v) = Vocab::new(&offsets, &text) {
            vocab_is_consistent(&v);
        }
    }

    /// A valid vocabulary with one corrupted byte: `Err` or consistent.
    #[test]
    fn bit_flipped_vocab(tokens in proptest::collection::btree_set("[a-c#é]{1,4}", 1..12),
                         which in any::<prop::sample::Index>(), bit in 0u8..8, in_text: bool) {
        let list: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let (mut offsets, mut text) = encode(&list);
        vocab_is_consistent(&Vocab::new(&offsets, &text).expect("valid"));
        let target = if in_text { &mut text } else { &mut offsets };
        let i = which.index(target.len());
        target[i] ^= 1 << bit;
        if let Ok(v) = Vocab::new(&offsets, &text) {
            vocab_is_consistent(&v);
        }
    }
}
