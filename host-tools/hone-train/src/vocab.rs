//! Vocabulary selection: the teacher's WordPiece vocabulary pruned by token frequency on
//! general text (never on the held-out domain), always keeping the single characters (and their
//! `##` continuations) so that any word tokenises, and the HF `tokenizer.json` of the result.

use anyhow::{Context, Result};
use std::collections::{BTreeSet, HashMap};
use tokenizers::Tokenizer;

/// Special tokens, at ids 0..4 of every pruned vocabulary.
pub const SPECIALS: [&str; 4] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

/// A pruned vocabulary: `tokens[i]` is the token of id `i`; `teacher_ids[i]` its teacher id.
pub struct Vocab {
    /// Token strings in id order.
    pub tokens: Vec<String>,
    /// The teacher id of each token.
    pub teacher_ids: Vec<u32>,
}

/// Whether a single character is always kept: Latin-range characters (the BERT normaliser
/// lower-cases and strips accents, so this covers what English text produces).
fn always_kept(c: char) -> bool {
    (c as u32) < 0x250
}

/// Prune `teacher`'s vocabulary to `size` tokens by frequency over `corpus`.
pub fn prune(teacher: &Tokenizer, corpus: &[String], size: usize) -> Result<Vocab> {
    let full = teacher.get_vocab(false);
    let mut counts: HashMap<u32, u64> = HashMap::new();
    let mut seen_chars = BTreeSet::new();
    for t in corpus {
        let e = teacher
            .encode(t.as_str(), false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for &id in e.get_ids() {
            *counts.entry(id).or_default() += 1;
        }
        let norm = t.to_lowercase();
        seen_chars.extend(norm.chars().filter(|c| !c.is_whitespace()));
    }
    let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for tok in full.keys() {
        let bare = tok.strip_prefix("##").unwrap_or(tok);
        let mut ch = bare.chars();
        if let (Some(c), None) = (ch.next(), ch.next()) {
            if always_kept(c) || seen_chars.contains(&c) {
                keep.insert(tok.clone());
            }
        }
    }
    let mut by_freq: Vec<(&String, &u32)> = full
        .iter()
        .filter(|(t, _)| !keep.contains(*t) && !SPECIALS.contains(&t.as_str()))
        .filter(|(t, _)| !t.starts_with("[unused") && t.as_str() != "[MASK]")
        .filter(|(_, id)| counts.get(id).copied().unwrap_or(0) > 0)
        .collect();
    by_freq.sort_by_key(|(_, id)| {
        (
            std::cmp::Reverse(counts.get(id).copied().unwrap_or(0)),
            **id,
        )
    });
    let room = size.saturating_sub(SPECIALS.len() + keep.len());
    let mut chosen: Vec<u32> = by_freq.iter().take(room).map(|(_, &id)| id).collect();
    chosen.extend(keep.iter().filter_map(|t| full.get(t).copied()));
    chosen.sort_unstable();
    let by_id: HashMap<u32, &String> = full.iter().map(|(t, &i)| (i, t)).collect();
    let mut teacher_ids: Vec<u32> = SPECIALS
        .iter()
        .map(|s| full.get(*s).copied().context("special token missing"))
        .collect::<Result<_>>()?;
    for id in chosen {
        tokens.push(by_id[&id].to_string());
        teacher_ids.push(id);
    }
    Ok(Vocab {
        tokens,
        teacher_ids,
    })
}

impl Vocab {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Bytes of the token strings (what the device blob stores besides offsets).
    pub fn string_bytes(&self) -> usize {
        self.tokens.iter().map(String::len).sum()
    }

    /// The HF `tokenizer.json` for this vocabulary, derived from the teacher's (same
    /// normaliser, pre-tokeniser, WordPiece model; no padding or truncation).
    pub fn tokenizer_json(&self, teacher_json: &str) -> Result<serde_json::Value> {
        let mut j: serde_json::Value = serde_json::from_str(teacher_json)?;
        let map: serde_json::Map<String, serde_json::Value> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i.into()))
            .collect();
        j["model"]["vocab"] = serde_json::Value::Object(map);
        j["padding"] = serde_json::Value::Null;
        j["truncation"] = serde_json::Value::Null;
        let added: Vec<serde_json::Value> = SPECIALS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                serde_json::json!({"id": i, "special": true, "content": s, "single_word": false,
                    "lstrip": false, "rstrip": false, "normalized": false})
            })
            .collect();
        j["added_tokens"] = added.into();
        j["post_processor"]["special_tokens"] = serde_json::json!({
            "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
            "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
        });
        Ok(j)
    }
}

/// A tiny WordPiece tokenizer JSON in the teacher's layout, for tests.
#[cfg(test)]
pub(crate) fn tiny_teacher_json() -> String {
    let toks = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "[unused0]",
        "a",
        "b",
        "c",
        "##a",
        "##b",
        "##c",
        "\u{4e00}",
        "##\u{4e00}",
        "cab",
        "ab",
        "##ab",
        "ba",
    ];
    let vocab: serde_json::Map<String, serde_json::Value> = toks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i.into()))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
            "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {}},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_specials_characters_and_frequent_tokens() -> Result<()> {
        let json = tiny_teacher_json();
        let t = Tokenizer::from_bytes(json.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let corpus = vec!["cab cab cab".to_string(), "ab".to_string()];
        let v = prune(&t, &corpus, 12)?;
        assert_eq!(&v.tokens[..4], &SPECIALS.map(String::from));
        // Latin single characters and their continuations are always kept; the CJK one is not.
        for c in ["a", "b", "c", "##a", "##b", "##c"] {
            assert!(v.tokens.iter().any(|t| t == c), "{c} missing");
        }
        assert!(!v.tokens.iter().any(|t| t.contains('\u{4e00}')));
        // Most frequent multi-character tokens fill the remaining room: "cab" (3×), then "ab".
        assert_eq!(v.len(), 12);
        assert!(v.tokens.iter().any(|t| t == "cab") && v.tokens.iter().any(|t| t == "ab"));
        assert!(!v
            .tokens
            .iter()
            .any(|t| t == "[MASK]" || t.starts_with("[unused")));
        // The derived tokenizer uses the new ids.
        let st = Tokenizer::from_bytes(serde_json::to_vec(&v.tokenizer_json(&json)?)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let e = st
            .encode("cab ba", false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let toks: Vec<&str> = e
            .get_ids()
            .iter()
            .map(|&i| v.tokens[i as usize].as_str())
            .collect();
        assert_eq!(toks, ["cab", "b", "##a"]);
        Ok(())
    }
}
