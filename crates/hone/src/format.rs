//! Model format (versions 1 and 2): the wire types of a `.hone` blob.
//!
//! A blob is a 16-byte header followed by a [postcard] payload:
//!
//! | bytes | field | meaning |
//! |---|---|---|
//! | 0..4 | magic | `b"HONE"` |
//! | 4..6 | version | format version, u16 little-endian ([`FORMAT_VERSION`]) |
//! | 6..8 | header length | u16 LE, always 16 |
//! | 8..12 | payload length | u32 LE |
//! | 12..16 | CRC-32 | CRC-32/ISO-HDLC of the payload, u32 LE |
//!
//! The payload is a postcard-encoded [`ModelDesc`]. Every array of numbers is stored as a
//! borrowed byte slice (`&'a [u8]`) in little-endian order and read in place, so loading a
//! model copies no weights into RAM. `models/FORMAT.md` documents the layout and the
//! stability rule.
//!
//! The ops' wire parameters live in their modules under `hone::ops` (the `Op` enum). These
//! types are the *wire* view: they are not validated. [`crate::Model::load`]
//! decodes and validates them once, after which every access is in bounds.

use serde::{Deserialize, Serialize};

/// The four bytes every blob starts with.
pub const MAGIC: [u8; 4] = *b"HONE";
/// The newest format version this crate reads and writes. Version 2 added
/// `Op::FcAddNorm`; a blob that uses no version-2 op is written as version 1 (see
/// `Op::min_version`), so that version-1 readers keep reading it.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this crate reads.
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 16;
/// Size of one [`TensorRec`] record in [`ModelDesc::tensors`].
pub const TENSOR_REC_LEN: usize = 12;

/// The one CRC-32 of the project (CRC-32/ISO-HDLC, as zlib and PNG): over a blob's payload,
/// in the adaptation journal's slots, over a model blob in golden files. A `static`, so that
/// its table exists once and digests borrow it for `'static`.
pub static CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The decoded payload of a blob (wire view, not yet validated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModelDesc<'a> {
    /// Human-readable model name.
    pub name: &'a str,
    /// What the model consumes.
    pub input: InputKind,
    /// Maximum number of tokens (sequence rows) per inference.
    pub max_len: u16,
    /// Class names of the pre-trained head, as a string table.
    #[serde(borrow)]
    pub labels: StrTableDesc<'a>,
    /// The tokenizer and its vocabulary.
    #[serde(borrow)]
    pub tokenizer: TokenizerDesc<'a>,
    /// Bytes of the activation arena (int8 tensors), as planned by the exporter.
    pub arena_bytes: u32,
    /// Activation tensors: `n × TENSOR_REC_LEN` bytes of [`TensorRec`] records.
    pub tensors: &'a [u8],
    /// Operations, executed in order. The first is an `Op::Embedding`, the last an
    /// `Op::Head`.
    #[serde(borrow)]
    pub ops: OpsDesc<'a>,
}

/// Operations stored as a postcard sequence of `Op` values (`hone::ops::Op`), decoded one by one.
///
/// They are kept encoded so that a model of any depth costs no RAM for its layer list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OpsDesc<'a> {
    /// Number of operations.
    pub count: u16,
    /// `count` postcard-encoded `Op` values (`hone::ops::Op`), back to back.
    pub bytes: &'a [u8],
}

/// What a model consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum InputKind {
    /// UTF-8 text, tokenized on the device.
    Text,
}

/// A table of UTF-8 strings: `text` concatenated, `offsets` holds `n + 1` u32 LE offsets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StrTableDesc<'a> {
    /// `n + 1` little-endian u32 offsets into `text`.
    pub offsets: &'a [u8],
    /// The strings' bytes, back to back.
    pub text: &'a [u8],
}

/// WordPiece tokenizer description.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenizerDesc<'a> {
    /// Vocabulary, sorted strictly ascending by bytes; a token's id is its index.
    #[serde(borrow)]
    pub vocab: StrTableDesc<'a>,
    /// Lower-case the input.
    pub lowercase: bool,
    /// Strip accents (NFD, drop combining marks).
    pub strip_accents: bool,
    /// Id of `[UNK]`.
    pub unk: u16,
    /// Id of `[CLS]` when the model expects it before the prompt.
    pub cls: Option<u16>,
    /// Id of `[SEP]` when the model expects it after the prompt.
    pub sep: Option<u16>,
    /// Words longer than this (in chars) become `[UNK]`.
    pub max_chars_per_word: u16,
}

/// One activation tensor (wire record, [`TENSOR_REC_LEN`] bytes, little-endian):
/// `offset: u32` (bytes into the arena, multiple of 4), `cols: u16`, `flags: u8`
/// (bit 0: one row per token, else a single row), `zero_point: i8`, `scale: f32`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TensorRec {
    /// Byte offset of the tensor in the activation arena.
    pub offset: u32,
    /// Columns (features per row).
    pub cols: u16,
    /// One row per token (`true`) or a single row (`false`).
    pub per_token: bool,
    /// Asymmetric int8 zero point.
    pub zero_point: i8,
    /// Scale: `real = scale · (q − zero_point)`.
    pub scale: f32,
}

impl TensorRec {
    /// Encodes the record.
    pub fn to_bytes(&self) -> [u8; TENSOR_REC_LEN] {
        let mut b = [0u8; TENSOR_REC_LEN];
        b[0..4].copy_from_slice(&self.offset.to_le_bytes());
        b[4..6].copy_from_slice(&self.cols.to_le_bytes());
        b[6] = u8::from(self.per_token);
        b[7] = self.zero_point as u8;
        b[8..12].copy_from_slice(&self.scale.to_le_bytes());
        b
    }

    /// Decodes a record; `None` when `b` is shorter than a record or the flags are unknown.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; TENSOR_REC_LEN] = b.get(..TENSOR_REC_LEN)?.try_into().ok()?;
        if b[6] > 1 {
            return None;
        }
        Some(Self {
            offset: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            cols: u16::from_le_bytes([b[4], b[5]]),
            per_token: b[6] == 1,
            zero_point: b[7] as i8,
            scale: f32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

/// Fixed-point multiplier: `real ≈ multiplier · 2^(shift − 31)`, TFLite convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Multiplier {
    /// Q31 multiplier in `[2^30, 2^31)`, or 0.
    pub multiplier: i32,
    /// Power-of-two exponent (positive: left shift).
    pub shift: i8,
}

#[cfg(test)]
mod tests {
    use super::CRC32;

    /// The catalogue's check value of CRC-32/ISO-HDLC pins the parameters.
    #[test]
    fn crc32_is_iso_hdlc() {
        assert_eq!(CRC32.checksum(b"123456789"), 0xCBF4_3926);
    }
}
