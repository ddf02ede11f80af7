//! The blob's vocabulary: optional pruning against a corpus, then sorting by bytes (the
//! format's order) with the permutation that reorders embedding rows.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use hone_build::{sort_vocab, TokenizerSpec};
use hone_reference::text::{TextTokenizer, WordPieceSettings};

/// The vocabulary as written to the blob.
#[derive(Debug, Clone)]
pub struct VocabPlan {
    /// `perm[new_id] = checkpoint id` (reorders embedding rows).
    pub perm: Vec<usize>,
    /// Tokenizer settings with the sorted vocabulary and renumbered special ids.
    pub spec: TokenizerSpec,
}

/// Ids to keep when pruning against `corpus`: every token the corpus uses, the special
/// tokens, and every single-character token with or without the `##` prefix (so any word
/// made of known characters still tokenizes).
pub fn corpus_keep(tok: &TextTokenizer, corpus: &[String]) -> BTreeSet<u32> {
    let s = &tok.settings;
    let mut keep: BTreeSet<u32> = corpus.iter().flat_map(|l| tok.pieces(l)).collect();
    keep.insert(s.unk);
    keep.extend(s.cls);
    keep.extend(s.sep);
    for (id, t) in s.vocab.iter().enumerate() {
        let bare = t.strip_prefix("##").unwrap_or(t);
        let special = t.starts_with('[') && t.ends_with(']') && t.len() > 2;
        if bare.chars().count() == 1 || (special && matches!(t.as_str(), "[PAD]" | "[MASK]")) {
            keep.insert(id as u32);
        }
    }
    keep
}

/// Builds the blob vocabulary from the checkpoint's, keeping only `keep` when given.
pub fn plan(
    s: &WordPieceSettings,
    specials: bool,
    keep: Option<&BTreeSet<u32>>,
) -> Result<VocabPlan> {
    let kept: Vec<usize> = match keep {
        Some(k) => k
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| i < s.vocab.len())
            .collect(),
        None => (0..s.vocab.len()).collect(),
    };
    if kept.len() > usize::from(u16::MAX) {
        bail!(
            "vocabulary of {} tokens exceeds the format's {} (prune it with --prune-vocab)",
            kept.len(),
            u16::MAX
        );
    }
    let strings: Vec<String> = kept.iter().map(|&i| s.vocab[i].clone()).collect();
    let (sorted, order) = sort_vocab(&strings).context("tokenizer vocabulary")?;
    let perm: Vec<usize> = order.iter().map(|&k| kept[k]).collect();
    let new_id = |old: u32| {
        perm.iter()
            .position(|&p| p == old as usize)
            .map(|i| i as u16)
    };
    let unk = new_id(s.unk).context("[UNK] was pruned")?;
    let (cls, sep) = if specials {
        let cls = s.cls.and_then(new_id);
        let sep = s.sep.and_then(new_id);
        if cls.is_none() || sep.is_none() {
            bail!("the model adds [CLS]/[SEP] but the vocabulary lacks them");
        }
        (cls, sep)
    } else {
        (None, None)
    };
    Ok(VocabPlan {
        perm,
        spec: TokenizerSpec {
            vocab: sorted,
            lowercase: s.lowercase,
            strip_accents: s.strip_accents,
            unk,
            cls,
            sep,
            max_chars_per_word: s.max_chars_per_word.clamp(1, 128) as u16,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WordPieceSettings {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "zebra", "a", "##b", "apple", "##s",
        ];
        WordPieceSettings {
            vocab: vocab.iter().map(|s| s.to_string()).collect(),
            lowercase: true,
            strip_accents: true,
            unk: 1,
            cls: Some(2),
            sep: Some(3),
            max_chars_per_word: 100,
        }
    }

    #[test]
    fn sorts_and_renumbers() {
        let p = plan(&settings(), true, None).unwrap();
        let v = &p.spec.vocab;
        assert!(v.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        for (new, &old) in p.perm.iter().enumerate() {
            assert_eq!(v[new], settings().vocab[old]);
        }
        assert_eq!(v[usize::from(p.spec.unk)], "[UNK]");
        assert_eq!(v[usize::from(p.spec.cls.unwrap())], "[CLS]");
        assert_eq!(v[usize::from(p.spec.sep.unwrap())], "[SEP]");
    }

    #[test]
    fn pruning_keeps_what_is_asked() {
        let keep: BTreeSet<u32> = [1, 2, 3, 5, 7].into();
        let p = plan(&settings(), true, Some(&keep)).unwrap();
        assert_eq!(p.spec.vocab.len(), 5);
        assert!(!p.spec.vocab.contains(&"zebra".to_string()));
        let keep: BTreeSet<u32> = [2, 3, 5].into();
        assert!(plan(&settings(), true, Some(&keep)).is_err());
    }
}
