//! On-device WordPiece tokenizer (uncased BERT), no heap, no panics.
//!
//! Semantics follow Hugging Face's `BertTokenizer` as configured for all-MiniLM-L6-v2
//! (`BertNormalizer` + `BertPreTokenizer` + `WordPiece` of the `tokenizers` crate):
//!
//! 1. **Clean**: NUL, U+FFFD and control/format/private-use characters are dropped; whitespace
//!    becomes a word break.
//! 2. **CJK**: every CJK ideograph becomes a word of its own.
//! 3. **Strip accents** (optional): canonical decomposition, then nonspacing marks (Mn) are
//!    removed.
//! 4. **Lowercase** (optional): full Unicode lowercase mapping (as `char::to_lowercase`).
//! 5. **Split**: on whitespace, and every punctuation character (ASCII punctuation or a
//!    Unicode P* character) is a word of its own.
//! 6. **WordPiece**: each word is split greedily, longest match first, continuation pieces
//!    carrying the `##` prefix. A word longer than `max_chars_per_word` characters, or one
//!    that cannot be covered by vocabulary pieces, becomes a single `unk` token.
//!
//! The output is `[CLS] tokens… [SEP]` when `cls`/`sep` are configured, truncated to the
//! caller's buffer: `[SEP]` is kept at the end when the buffer holds at least two ids.
//!
//! Steps 1–5 work character by character from compact tables (see [`unicode`]) generated from
//! Hugging Face's own normaliser and checked against it on every code point; words are
//! assembled in a fixed stack buffer of [`MAX_WORD_BYTES`] bytes.
//!
//! Known differences from Hugging Face: special-token strings typed in the text (`[CLS]`,
//! `[MASK]`, …) are tokenized as ordinary text here, whereas Hugging Face maps them to the
//! special ids; canonical reordering of combining marks that are not nonspacing marks is not
//! done (input order is kept); truncation with a buffer of one id keeps `[CLS]`.

#[rustfmt::skip]
mod tables;
pub mod unicode;
mod vocab;

#[cfg(test)]
mod tests;

pub use vocab::{Vocab, MAX_TOKENS};

/// Largest accepted `max_chars_per_word` (the word buffer holds this many 4-byte chars).
pub const MAX_WORD_CHARS: u16 = 128;

/// Size in bytes of the stack buffer a word is assembled in.
pub const MAX_WORD_BYTES: usize = MAX_WORD_CHARS as usize * 4;

/// Why a vocabulary or tokenizer configuration was rejected.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TokenizerError {
    /// The offset table is not a whole number of `u32`s, does not start at 0, does not end
    /// at the text length, decreases, or points outside the text.
    BadOffsets,
    /// The vocabulary holds no token.
    EmptyVocab,
    /// The vocabulary holds more than [`MAX_TOKENS`] tokens.
    TooManyTokens,
    /// A token is empty.
    EmptyToken,
    /// A token is not valid UTF-8.
    InvalidUtf8,
    /// Tokens are not in strictly ascending byte order.
    Unsorted,
    /// A special token id (`unk`, `cls`, `sep`) is not in the vocabulary.
    BadSpecialToken,
    /// `max_chars_per_word` is 0 or above [`MAX_WORD_CHARS`].
    BadMaxChars,
}

impl core::fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TokenizerError::BadOffsets => "vocabulary offsets are malformed",
            TokenizerError::EmptyVocab => "vocabulary is empty",
            TokenizerError::TooManyTokens => "vocabulary has more than 65535 tokens",
            TokenizerError::EmptyToken => "vocabulary contains an empty token",
            TokenizerError::InvalidUtf8 => "vocabulary token is not valid UTF-8",
            TokenizerError::Unsorted => "vocabulary tokens are not strictly ascending",
            TokenizerError::BadSpecialToken => "special token id out of vocabulary range",
            TokenizerError::BadMaxChars => "max_chars_per_word is 0 or too large",
        })
    }
}

/// Tokenizer settings (stored in the model metadata).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenizerConfig {
    /// Lowercase the text (uncased models).
    pub lowercase: bool,
    /// Remove accents (canonical decomposition, then drop nonspacing marks).
    pub strip_accents: bool,
    /// Id of `[UNK]`.
    pub unk: u16,
    /// Id of `[CLS]`, written first when set.
    pub cls: Option<u16>,
    /// Id of `[SEP]`, written last when set.
    pub sep: Option<u16>,
    /// Words with more characters than this become `[UNK]` (BERT uses 100).
    pub max_chars_per_word: u16,
}

/// The WordPiece tokenizer: a vocabulary plus its configuration.
#[derive(Clone, Copy, Debug)]
pub struct Tokenizer<'a> {
    vocab: Vocab<'a>,
    config: TokenizerConfig,
}

/// Where token ids go: the caller's buffer minus the slot reserved for `[SEP]`.
struct Sink<'o> {
    out: &'o mut [u16],
    len: usize,
    limit: usize,
}

impl Sink<'_> {
    /// Appends `id`; returns `false` once the buffer is full.
    fn push(&mut self, id: u16) -> bool {
        if self.len >= self.limit {
            return false;
        }
        if let Some(slot) = self.out.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        }
        self.len < self.limit
    }

    fn full(&self) -> bool {
        self.len >= self.limit
    }
}

/// A word being assembled, in a fixed buffer.
struct Word {
    buf: [u8; MAX_WORD_BYTES],
    bytes: usize,
    chars: usize,
}

impl<'a> Tokenizer<'a> {
    /// Checks that the special ids are in the vocabulary and `max_chars_per_word` is in
    /// `1..=MAX_WORD_CHARS`.
    pub fn new(vocab: Vocab<'a>, config: TokenizerConfig) -> Result<Self, TokenizerError> {
        let in_range = |id: u16| usize::from(id) < vocab.len();
        if !in_range(config.unk)
            || !config.cls.is_none_or(in_range)
            || !config.sep.is_none_or(in_range)
        {
            return Err(TokenizerError::BadSpecialToken);
        }
        if config.max_chars_per_word == 0 || config.max_chars_per_word > MAX_WORD_CHARS {
            return Err(TokenizerError::BadMaxChars);
        }
        Ok(Tokenizer { vocab, config })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab<'a> {
        &self.vocab
    }

    /// The configuration.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Tokenizes `text` into `out` and returns the number of ids written (≤ `out.len()`).
    ///
    /// With `cls`/`sep` configured the ids are `[CLS] … [SEP]`; when `out` is too small the
    /// text's tokens are truncated and `[SEP]` is still written last (a 1-slot buffer gets only
    /// `[CLS]`). Accepts any UTF-8 input and never panics.
    pub fn tokenize(&self, text: &str, out: &mut [u16]) -> usize {
        let mut limit = out.len();
        let sep = match self.config.sep {
            Some(sep) if limit >= 2 || (limit == 1 && self.config.cls.is_none()) => {
                limit -= 1;
                Some(sep)
            }
            _ => None,
        };
        let mut sink = Sink { out, len: 0, limit };
        if let Some(cls) = self.config.cls {
            sink.push(cls);
        }
        self.tokenize_text(text, &mut sink);
        let mut len = sink.len;
        if let Some(sep) = sep {
            if let Some(slot) = sink.out.get_mut(len) {
                *slot = sep;
                len += 1;
            }
        }
        len
    }

    /// Runs the basic tokenizer over `text`, sending each word to WordPiece.
    fn tokenize_text(&self, text: &str, sink: &mut Sink<'_>) {
        let mut word = Word {
            buf: [0; MAX_WORD_BYTES],
            bytes: 0,
            chars: 0,
        };
        let mut chars = ['\0'; unicode::MAX_EXPANSION];
        for c in text.chars() {
            if sink.full() {
                return;
            }
            match unicode::normalize(
                c,
                self.config.lowercase,
                self.config.strip_accents,
                &mut chars,
            ) {
                unicode::Normalized::Dropped => {}
                unicode::Normalized::Space => self.flush(&mut word, sink),
                unicode::Normalized::Chars { len, cjk } => {
                    if cjk {
                        self.flush(&mut word, sink);
                    }
                    for &n in chars.iter().take(len) {
                        self.feed(n, &mut word, sink);
                    }
                    if cjk {
                        self.flush(&mut word, sink);
                    }
                }
            }
        }
        self.flush(&mut word, sink);
    }

    /// Adds one normalised character to the current word (or splits on it).
    fn feed(&self, c: char, word: &mut Word, sink: &mut Sink<'_>) {
        if c.is_whitespace() {
            self.flush(word, sink);
        } else if unicode::is_punctuation(c) {
            self.flush(word, sink);
            word.push(c);
            self.flush(word, sink);
        } else {
            word.push(c);
        }
    }

    /// Emits the WordPiece tokens of the current word and clears it.
    fn flush(&self, word: &mut Word, sink: &mut Sink<'_>) {
        if word.chars == 0 {
            return;
        }
        if word.chars > usize::from(self.config.max_chars_per_word) {
            sink.push(self.config.unk);
        } else {
            let (bytes, _) = word.buf.split_at(word.bytes.min(word.buf.len()));
            self.wordpiece(bytes, sink);
        }
        word.bytes = 0;
        word.chars = 0;
    }

    /// Greedy longest-match-first WordPiece over one word (valid UTF-8 bytes, at most
    /// [`MAX_WORD_CHARS`] characters). A word that cannot be covered by vocabulary pieces
    /// gives exactly one `[UNK]`, like Hugging Face's tokenizer.
    fn wordpiece(&self, word: &[u8], sink: &mut Sink<'_>) {
        // Every piece covers at least one character, so this many ids always fit.
        let mut ids = [0u16; MAX_WORD_CHARS as usize];
        let mut count = 0;
        let max = self.vocab.max_token_bytes();
        let mut start = 0;
        while start < word.len() {
            let prefix: &[u8] = if start == 0 { b"" } else { b"##" };
            let mut end = word.len().min(start + max.saturating_sub(prefix.len()));
            let mut found = None;
            while end > start {
                // Only try `end` on a character boundary.
                if word.get(end).is_none_or(|&b| b & 0xC0 != 0x80) {
                    let piece = word.get(start..end);
                    if let Some(id) = piece.and_then(|p| self.vocab.lookup(prefix, p)) {
                        found = Some(id);
                        break;
                    }
                }
                end -= 1;
            }
            match (found, ids.get_mut(count)) {
                (Some(id), Some(slot)) => {
                    *slot = id;
                    count += 1;
                    start = end;
                }
                _ => {
                    sink.push(self.config.unk);
                    return;
                }
            }
        }
        for &id in ids.iter().take(count) {
            if !sink.push(id) {
                return;
            }
        }
    }
}

impl Word {
    /// Appends `c`; characters past the buffer are counted but not stored (the word is then
    /// longer than any allowed `max_chars_per_word` and becomes `[UNK]`).
    fn push(&mut self, c: char) {
        self.chars = self.chars.saturating_add(1);
        let mut tmp = [0u8; 4];
        let encoded = c.encode_utf8(&mut tmp).as_bytes();
        if let Some(dst) = self.buf.get_mut(self.bytes..self.bytes + encoded.len()) {
            dst.copy_from_slice(encoded);
            self.bytes += encoded.len();
        } else {
            // Make sure the word is treated as over-long.
            self.chars = self.chars.max(usize::from(MAX_WORD_CHARS) + 1);
        }
    }
}
