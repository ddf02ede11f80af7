//! The WordPiece vocabulary, borrowed zero-copy from the model blob.

use core::cmp::Ordering;

use super::TokenizerError;

/// Largest number of tokens a vocabulary may hold (ids are `u16`).
pub const MAX_TOKENS: usize = 65_535;

/// A sorted WordPiece vocabulary borrowed from the model blob.
///
/// Layout (see `models/FORMAT.md`): `text` holds all tokens' UTF-8 bytes concatenated;
/// `offsets` holds `n + 1` little-endian `u32` offsets into `text` (`offsets[0] = 0`, the last
/// one is `text.len()`), so token `i` is `text[off[i]..off[i + 1]]`. Tokens are sorted strictly
/// ascending by their bytes, so the id of a token is its rank and lookup is a binary search.
/// Continuation pieces are stored with their `##` prefix.
#[derive(Clone, Copy, Debug)]
pub struct Vocab<'a> {
    offsets: &'a [u8],
    text: &'a [u8],
    len: usize,
    max_token_bytes: usize,
}

/// Reads offset `i` (no bounds panic: out of range reads as `None`).
fn read_offset(offsets: &[u8], i: usize) -> Option<usize> {
    let start = i.checked_mul(4)?;
    let bytes = offsets.get(start..)?.first_chunk::<4>()?;
    let word = u32::from_le_bytes(*bytes);
    usize::try_from(word).ok()
}

/// Compares `token` with the concatenation `prefix ++ piece` without building it.
fn cmp_concat(token: &[u8], prefix: &[u8], piece: &[u8]) -> Ordering {
    match token.strip_prefix(prefix) {
        Some(rest) => rest.cmp(piece),
        // They differ within the prefix (same order as against the concatenation), or
        // `token` is a proper prefix of `prefix` (shorter, so less).
        None => token.cmp(prefix),
    }
}

impl<'a> Vocab<'a> {
    /// Validates the two slices and wraps them.
    ///
    /// Checks: `offsets.len()` is a multiple of 4 and holds at least 2 offsets (≥ 1 token),
    /// at most [`MAX_TOKENS`] tokens, `offsets[0] = 0`, the last offset is `text.len()`, every
    /// token is non-empty valid UTF-8, and tokens are in strictly ascending byte order.
    pub fn new(offsets: &'a [u8], text: &'a [u8]) -> Result<Self, TokenizerError> {
        let count = offsets.len() / 4;
        if count * 4 != offsets.len() {
            return Err(TokenizerError::BadOffsets);
        }
        if count < 2 {
            return Err(TokenizerError::EmptyVocab);
        }
        let len = count - 1;
        if len > MAX_TOKENS {
            return Err(TokenizerError::TooManyTokens);
        }
        if read_offset(offsets, 0) != Some(0) || read_offset(offsets, len) != Some(text.len()) {
            return Err(TokenizerError::BadOffsets);
        }
        let mut max_token_bytes = 0;
        let mut prev: &[u8] = &[];
        let mut start = 0;
        for i in 1..=len {
            let end = read_offset(offsets, i).ok_or(TokenizerError::BadOffsets)?;
            if end <= start {
                return Err(if end == start {
                    TokenizerError::EmptyToken
                } else {
                    TokenizerError::BadOffsets
                });
            }
            let token = text.get(start..end).ok_or(TokenizerError::BadOffsets)?;
            if core::str::from_utf8(token).is_err() {
                return Err(TokenizerError::InvalidUtf8);
            }
            if i > 1 && prev >= token {
                return Err(TokenizerError::Unsorted);
            }
            max_token_bytes = max_token_bytes.max(token.len());
            prev = token;
            start = end;
        }
        Ok(Vocab {
            offsets,
            text,
            len,
            max_token_bytes,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a valid vocabulary holds at least one token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length in bytes of the longest token (including any `##` prefix).
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// The bytes of token `index` (`None` out of range).
    fn bytes(&self, index: usize) -> Option<&'a [u8]> {
        if index >= self.len {
            return None;
        }
        let start = read_offset(self.offsets, index)?;
        let end = read_offset(self.offsets, index + 1)?;
        self.text.get(start..end)
    }

    /// The text of token `id`, or `None` if `id` is out of range.
    pub fn token(&self, id: u16) -> Option<&'a str> {
        core::str::from_utf8(self.bytes(usize::from(id))?).ok()
    }

    /// Finds the token whose bytes equal `prefix ++ piece` (binary search, nothing is built).
    pub fn lookup(&self, prefix: &[u8], piece: &[u8]) -> Option<u16> {
        if prefix.len() + piece.len() > self.max_token_bytes {
            return None;
        }
        let (mut lo, mut hi) = (0usize, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match cmp_concat(self.bytes(mid)?, prefix, piece) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return u16::try_from(mid).ok(),
            }
        }
        None
    }

    /// The id of `token` (written with its `##` prefix for continuation pieces).
    pub fn id_of(&self, token: &str) -> Option<u16> {
        self.lookup(&[], token.as_bytes())
    }
}
