//! Tokenization with the Hugging Face `tokenizers` crate, and the WordPiece settings an
//! exporter copies into a blob.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Error, Result};

/// The WordPiece settings of a `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordPieceSettings {
    /// Tokens in id order.
    pub vocab: Vec<String>,
    /// Lower-case the input.
    pub lowercase: bool,
    /// Strip accents.
    pub strip_accents: bool,
    /// `[UNK]` id.
    pub unk: u32,
    /// `[CLS]` id, if the vocabulary has it.
    pub cls: Option<u32>,
    /// `[SEP]` id, if the vocabulary has it.
    pub sep: Option<u32>,
    /// Words longer than this (chars) become `[UNK]`.
    pub max_chars_per_word: usize,
}

/// A `tokenizer.json` loaded with the `tokenizers` crate.
pub struct TextTokenizer {
    tok: tokenizers::Tokenizer,
    path: PathBuf,
    /// Its WordPiece settings.
    pub settings: WordPieceSettings,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("vocab", &self.settings.vocab.len())
            .finish()
    }
}

fn tok_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Tokenizer {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Reads the WordPiece settings from the JSON text of a `tokenizer.json`.
pub fn wordpiece_settings(path: &Path, text: &str) -> Result<WordPieceSettings> {
    let v: Value = serde_json::from_str(text).map_err(|e| tok_err(path, e.to_string()))?;
    let model = v
        .get("model")
        .ok_or_else(|| tok_err(path, "no `model` section"))?;
    let kind = model.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind != "WordPiece" {
        return Err(tok_err(
            path,
            format!("model type {kind:?}, expected WordPiece"),
        ));
    }
    let prefix = model
        .get("continuing_subword_prefix")
        .and_then(Value::as_str)
        .unwrap_or("##");
    if prefix != "##" {
        return Err(tok_err(
            path,
            format!("continuing_subword_prefix {prefix:?}, expected \"##\""),
        ));
    }
    let map = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| tok_err(path, "`model.vocab` is not an object"))?;
    let mut vocab = vec![None; map.len()];
    for (token, id) in map {
        let id = id
            .as_u64()
            .map(|i| i as usize)
            .filter(|&i| i < vocab.len())
            .ok_or_else(|| tok_err(path, format!("token {token:?} has a bad id")))?;
        if vocab[id].replace(token.clone()).is_some() {
            return Err(tok_err(path, format!("id {id} is used twice")));
        }
    }
    let vocab: Vec<String> = vocab.into_iter().map(Option::unwrap_or_default).collect();
    let id = |t: &str| vocab.iter().position(|v| v == t).map(|i| i as u32);
    let unk_token = model
        .get("unk_token")
        .and_then(Value::as_str)
        .unwrap_or("[UNK]");
    let unk = id(unk_token).ok_or_else(|| tok_err(path, format!("no {unk_token} token")))?;
    let norm = v.get("normalizer").filter(|n| !n.is_null());
    let lowercase = norm
        .and_then(|n| n.get("lowercase"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let strip_accents = norm
        .and_then(|n| n.get("strip_accents"))
        .and_then(Value::as_bool)
        .unwrap_or(lowercase);
    let max_chars_per_word = model
        .get("max_input_chars_per_word")
        .and_then(Value::as_u64)
        .unwrap_or(100) as usize;
    Ok(WordPieceSettings {
        cls: id("[CLS]"),
        sep: id("[SEP]"),
        vocab,
        lowercase,
        strip_accents,
        unk,
        max_chars_per_word,
    })
}

impl TextTokenizer {
    /// Loads `path` (a Hugging Face `tokenizer.json` with a WordPiece model).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::checkpoint::read(path)?;
        let text = String::from_utf8(bytes).map_err(|e| tok_err(path, e.to_string()))?;
        let settings = wordpiece_settings(path, &text)?;
        let mut tok: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e: tokenizers::Error| tok_err(path, e.to_string()))?;
        tok.with_truncation(None)
            .map_err(|e| tok_err(path, e.to_string()))?;
        tok.with_padding(None);
        Ok(Self {
            tok,
            path: path.to_path_buf(),
            settings,
        })
    }

    /// Token ids of `text` (checkpoint numbering): `[CLS] … [SEP]` when `specials`, the
    /// prompt's tokens truncated so that the whole fits in `max_len`.
    pub fn encode(&self, text: &str, specials: bool, max_len: usize) -> Vec<u32> {
        let ids = match self.tok.encode(text, false) {
            Ok(e) => e.get_ids().to_vec(),
            // The tokenizers crate only fails on pathological input; treat it as empty.
            Err(_) => Vec::new(),
        };
        let s = &self.settings;
        match (specials, s.cls, s.sep) {
            (true, Some(cls), Some(sep)) if max_len >= 2 => {
                let mut out = Vec::with_capacity(max_len);
                out.push(cls);
                out.extend(ids.iter().take(max_len - 2));
                out.push(sep);
                out
            }
            (true, Some(cls), _) if max_len >= 1 => vec![cls],
            _ => ids.into_iter().take(max_len).collect(),
        }
    }

    /// Token ids of `text` without specials or truncation (checkpoint numbering).
    pub fn pieces(&self, text: &str) -> Vec<u32> {
        self.tok
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }
}
