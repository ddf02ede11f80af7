//! [`Model`]: a validated, zero-copy view of a `.hone` blob.

use crate::error::{Error, Invalid};
use crate::format::{
    self, InputKind, ModelDesc, Op, StrTableDesc, TensorRec, CRC32, FORMAT_VERSION, HEADER_LEN,
    MAGIC, MIN_FORMAT_VERSION, TENSOR_REC_LEN,
};
use crate::quant::multiplier_ok;
use crate::tokenizer::{Tokenizer, TokenizerConfig, Vocab};

/// Most activation tensors a model may declare.
pub const MAX_TENSORS: usize = 256;
/// Longest sequence a model may declare.
pub const MAX_LEN: u16 = 512;
/// Most classes a head may have.
pub const MAX_CLASSES: usize = 4096;

/// A validated model borrowing its weights from the blob.
///
/// Built once by [`Model::from_bytes`]; every later access is in bounds by construction.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub(crate) desc: ModelDesc<'a>,
    pub(crate) tokenizer: Tokenizer<'a>,
    pub(crate) layout: Layout,
    pub(crate) head: HeadView<'a>,
    pub(crate) version: u16,
}

/// Where each scratch region lives, in 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Token ids (u16), `max_len` of them.
    pub ids: (usize, usize),
    /// Activation arena (int8 tensors).
    pub arena: (usize, usize),
    /// f32 workspace (attention scores, the rows of [`Op::FcAddNorm`]).
    pub work: (usize, usize),
    /// f32 feature vector (head input).
    pub features: (usize, usize),
    /// f32 logits, then log-probabilities.
    pub logits: (usize, usize),
    /// Total words.
    pub total: usize,
}

/// The float head borrowed from the blob.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadView<'a> {
    pub weights: &'a [u8],
    pub bias: &'a [u8],
    pub normalize: bool,
    pub features: usize,
    pub classes: usize,
}

/// A table of strings stored in the blob (label names).
#[derive(Debug, Clone, Copy)]
pub struct StrTable<'a> {
    offsets: &'a [u8],
    text: &'a [u8],
}

impl<'a> StrTable<'a> {
    fn new(d: StrTableDesc<'a>) -> Option<Self> {
        if !d.offsets.len().is_multiple_of(4) || d.offsets.len() < 4 {
            return None;
        }
        let t = Self {
            offsets: d.offsets,
            text: d.text,
        };
        if t.off(0) != Some(0) || t.off(t.len()) != Some(d.text.len()) {
            return None;
        }
        for i in 0..t.len() {
            core::str::from_utf8(t.bytes(i)?).ok()?;
        }
        Some(t)
    }

    fn off(&self, i: usize) -> Option<usize> {
        let b = self.offsets.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        self.text.get(self.off(i)?..self.off(i + 1)?)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len() / 4 - 1
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th string (`None` past the end).
    pub fn get(&self, i: usize) -> Option<&'a str> {
        core::str::from_utf8(self.bytes(i)?).ok()
    }
}

const fn words(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

fn invalid(op: usize, reason: Invalid) -> Error {
    Error::Invalid {
        op: u16::try_from(op).unwrap_or(u16::MAX - 1),
        reason,
    }
}

const MODEL: usize = u16::MAX as usize;

/// Iterates over the encoded operations. Ends early if an operation fails to decode (which
/// validation rules out).
#[derive(Debug, Clone)]
pub struct Ops<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> Iterator for Ops<'a> {
    type Item = Op<'a>;
    fn next(&mut self) -> Option<Op<'a>> {
        if self.left == 0 {
            return None;
        }
        let (op, rest) = postcard::take_from_bytes::<Op<'a>>(self.rest).ok()?;
        self.rest = rest;
        self.left -= 1;
        Some(op)
    }
}

impl<'a> Model<'a> {
    /// Parses and validates a blob. Never panics; returns a typed error for any malformed
    /// input. The returned model borrows `blob` (zero-copy).
    pub fn from_bytes(blob: &'a [u8]) -> Result<Self, Error> {
        let header = blob.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        if header[0..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = u16::from_le_bytes([header[4], header[5]]);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion(version));
        }
        let header_len = usize::from(u16::from_le_bytes([header[6], header[7]]));
        let payload_len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if header_len != HEADER_LEN {
            return Err(Error::Decode);
        }
        let payload = blob
            .get(HEADER_LEN..)
            .and_then(|p| p.get(..payload_len as usize))
            .ok_or(Error::Truncated)?;
        if CRC32.checksum(payload) != crc {
            return Err(Error::ChecksumMismatch);
        }
        let desc: ModelDesc<'a> = postcard::from_bytes(payload).map_err(|_| Error::Decode)?;
        Self::validate(desc, version)
    }

    /// Validates an already decoded description as the newest format version
    /// ([`FORMAT_VERSION`]).
    pub fn from_desc(desc: ModelDesc<'a>) -> Result<Self, Error> {
        Self::validate(desc, FORMAT_VERSION)
    }

    /// Validates `desc` as format `version`: an op newer than `version` is
    /// [`Invalid::OpVersion`].
    fn validate(desc: ModelDesc<'a>, version: u16) -> Result<Self, Error> {
        let InputKind::Text = desc.input;
        if desc.max_len == 0 || desc.max_len > MAX_LEN {
            return Err(invalid(MODEL, Invalid::Limit));
        }
        let t = desc.tokenizer;
        let vocab = Vocab::new(t.vocab.offsets, t.vocab.text)?;
        let tokenizer = Tokenizer::new(
            vocab,
            TokenizerConfig {
                lowercase: t.lowercase,
                strip_accents: t.strip_accents,
                unk: t.unk,
                cls: t.cls,
                sep: t.sep,
                max_chars_per_word: t.max_chars_per_word,
            },
        )?;
        let labels = StrTable::new(desc.labels).ok_or(invalid(MODEL, Invalid::Labels))?;
        let head = crate::validate::check_graph(&desc, vocab.len(), version)?;
        if labels.len() != head.classes {
            return Err(invalid(MODEL, Invalid::Labels));
        }
        let layout = Self::plan(&desc, &head);
        Ok(Self {
            desc,
            tokenizer,
            layout,
            head,
            version,
        })
    }

    fn plan(desc: &ModelDesc<'a>, head: &HeadView<'a>) -> Layout {
        let max_len = usize::from(desc.max_len);
        // The f32 workspace holds one row of attention scores (`max_len`) or one
        // pre-normalisation row of an `FcAddNorm` (its output width), whichever is longer.
        let work_words = ops_of(desc)
            .map(|op| match op {
                Op::Attention { .. } => max_len,
                Op::FcAddNorm { out, .. } => {
                    let i = usize::from(out) * TENSOR_REC_LEN;
                    desc.tensors
                        .get(i..)
                        .and_then(TensorRec::from_bytes)
                        .map_or(0, |t| usize::from(t.cols))
                }
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let mut at = 0;
        let mut region = |n: usize| {
            let r = (at, at + n);
            at += n;
            r
        };
        let ids = region(words(max_len * 2));
        let arena = region(words(desc.arena_bytes as usize));
        let work = region(work_words);
        let features = region(head.features);
        let logits = region(head.classes);
        Layout {
            ids,
            arena,
            work,
            features,
            logits,
            total: at,
        }
    }

    /// Exact scratch size in 32-bit words that [`crate::Runner::new`] needs.
    pub fn scratch_words(&self) -> usize {
        self.layout.total
    }

    /// Exact scratch size in bytes (`4 · scratch_words()`).
    pub fn scratch_bytes(&self) -> usize {
        self.layout.total * 4
    }

    /// Classifies `text` in `scratch` (at least [`Self::scratch_words`] words): a shorthand
    /// for [`crate::Runner::new`] + [`crate::Runner::classify`].
    pub fn classify<'s>(
        &self,
        text: &str,
        scratch: &'s mut [u32],
    ) -> Result<crate::Prediction<'s>, Error>
    where
        'a: 's,
    {
        Ok(crate::Runner::new(self, scratch)?.into_prediction(text))
    }

    /// The model's name.
    pub fn name(&self) -> &'a str {
        self.desc.name
    }

    /// Maximum tokens per inference (longer prompts are truncated).
    pub fn max_len(&self) -> usize {
        usize::from(self.desc.max_len)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer<'a> {
        &self.tokenizer
    }

    /// Label names of the pre-trained head, in class order.
    pub fn labels(&self) -> StrTable<'a> {
        // Validated in `from_desc`; the fallback is never taken.
        StrTable::new(self.desc.labels).unwrap_or(StrTable {
            offsets: &[0, 0, 0, 0],
            text: &[],
        })
    }

    /// Number of classes of the pre-trained head.
    pub fn num_classes(&self) -> usize {
        self.head.classes
    }

    /// Length of the feature vector the head consumes (the pooled, dequantised vector).
    pub fn feature_dim(&self) -> usize {
        self.head.features
    }

    /// Whether the features are L2-normalised before the head.
    pub fn normalizes_features(&self) -> bool {
        self.head.normalize
    }

    /// Pre-trained head weight `W[class][feature]` (0.0 out of range).
    pub fn head_weight(&self, class: usize, feature: usize) -> f32 {
        if feature >= self.head.features {
            return 0.0;
        }
        read_f32(self.head.weights, class * self.head.features + feature)
    }

    /// Pre-trained head bias of `class` (0.0 out of range).
    pub fn head_bias(&self, class: usize) -> f32 {
        read_f32(self.head.bias, class)
    }

    /// The decoded operations, in execution order.
    pub fn ops(&self) -> Ops<'a> {
        Ops {
            rest: self.desc.ops.bytes,
            left: self.desc.ops.count,
        }
    }

    /// Activation tensor record `id` (as validated at load).
    pub fn tensor(&self, id: u16) -> Option<TensorRec> {
        let i = usize::from(id) * TENSOR_REC_LEN;
        TensorRec::from_bytes(self.desc.tensors.get(i..)?)
    }

    /// Number of activation tensors.
    pub fn num_tensors(&self) -> usize {
        self.desc.tensors.len() / TENSOR_REC_LEN
    }

    /// Bytes of the activation arena.
    pub fn arena_bytes(&self) -> usize {
        self.desc.arena_bytes as usize
    }

    /// The blob's format version (1 or 2; see [`Op::min_version`]).
    pub fn format_version(&self) -> u16 {
        self.version
    }

    /// The wire description (for tools that inspect a model).
    pub fn desc(&self) -> &ModelDesc<'a> {
        &self.desc
    }
}

/// Reads the `i`-th little-endian f32 of `bytes` (0.0 past the end).
#[inline]
pub(crate) fn read_f32(bytes: &[u8], i: usize) -> f32 {
    match bytes.get(i * 4..i * 4 + 4) {
        Some(b) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0.0,
    }
}

/// Reads the `i`-th little-endian i32 of `bytes` (0 past the end).
#[inline]
pub(crate) fn read_i32(bytes: &[u8], i: usize) -> i32 {
    match bytes.get(i * 4..i * 4 + 4) {
        Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

pub(crate) fn ops_of<'a>(desc: &ModelDesc<'a>) -> Ops<'a> {
    Ops {
        rest: desc.ops.bytes,
        left: desc.ops.count,
    }
}

pub(crate) fn mult_ok(m: format::Multiplier) -> bool {
    multiplier_ok(m, -31, 30)
}
