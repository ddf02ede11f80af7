//! Model format (versions 1 to 3): the wire types of a `.hone` blob.
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
//! In versions 1 and 2 the payload is a postcard-encoded [`ModelDesc`] (a text classifier).
//! From version 3 on it starts with a [`Kind`] tag, followed by a [`ModelDesc`] (text) or a
//! [`TensorModelDesc`] (int8 tensors in, int8 tensors out). Every array of numbers is stored as a
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
/// `Op::FcAddNorm`; version 3 added tensor models and the [`Kind`] tag that starts every
/// version-3 payload. A text model is written as the oldest version that has all its ops (see
/// `Op::min_version`), so that older readers keep reading it.
pub const FORMAT_VERSION: u16 = 3;
/// The first format version whose payload starts with a [`Kind`] tag.
pub const KIND_TAG_VERSION: u16 = 3;
/// Size of one [`IoRec`] record in [`TensorModelDesc::inputs`] and `outputs`.
pub const IO_REC_LEN: usize = 20;
/// Most dimensions an [`IoRec`] describes.
pub const MAX_RANK: usize = 4;
/// The oldest format version this crate reads.
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 16;
/// Size of one [`TensorRec`] record in [`ModelDesc::tensors`].
pub const TENSOR_REC_LEN: usize = 12;

/// The one CRC-32 of the project (CRC-32/ISO-HDLC, as zlib and PNG): over a blob's payload,
/// in the adaptation journal's slots, over a model blob in golden files. Its table is computed
/// at compile time; whole-buffer checksums (the model load) use it as a `const`, which the
/// compiler inlines.
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// [`CRC32`] as a `static`, for streaming digests that borrow it (the adaptation journal).
pub static CRC32_STREAM: crc::Crc<u32> = CRC32;

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

/// What a payload of format version 3 or later describes (its leading tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Kind {
    /// A text classifier: a [`ModelDesc`] follows.
    Text,
    /// A tensor model: a [`TensorModelDesc`] follows.
    Tensor,
}

/// The decoded payload of a tensor model (format version 3; wire view, not yet validated):
/// int8 input tensors → operations → int8 output tensors, no tokenizer and no head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TensorModelDesc<'a> {
    /// Human-readable model name.
    pub name: &'a str,
    /// Bytes of the activation arena, as planned by the importer.
    pub arena_bytes: u32,
    /// Activation tensors: `n × TENSOR_REC_LEN` bytes of [`TensorRec`] records (none per
    /// token: a tensor is `cols` int8 values).
    pub tensors: &'a [u8],
    /// The model's inputs: `k × IO_REC_LEN` bytes of [`IoRec`] records.
    pub inputs: &'a [u8],
    /// The model's outputs: `k × IO_REC_LEN` bytes of [`IoRec`] records.
    pub outputs: &'a [u8],
    /// Operations, executed in order (no `Op::Embedding`, no `Op::Head`).
    #[serde(borrow)]
    pub ops: OpsDesc<'a>,
}

/// Element type of a tensor model's input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DType {
    /// Signed 8-bit integers (wire code 0).
    I8,
}

/// One input or output of a tensor model (wire record, [`IO_REC_LEN`] bytes, little-endian):
/// `tensor: u16`, `dtype: u8` (0 = int8), `rank: u8` (`1..=MAX_RANK`), then `MAX_RANK`
/// dimensions as u32 (those past `rank` are 0). The product of the dimensions is the
/// tensor's `cols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IoRec {
    /// Index into the tensor table.
    pub tensor: u16,
    /// Element type.
    pub dtype: DType,
    /// Number of dimensions.
    pub rank: u8,
    /// Dimensions (the first `rank` are meaningful, the rest 0).
    pub dims: [u32; MAX_RANK],
}

impl IoRec {
    /// The shape: the first `rank` dimensions.
    pub fn shape(&self) -> &[u32] {
        self.dims.get(..usize::from(self.rank)).unwrap_or(&[])
    }

    /// Elements in the tensor (the product of the shape; `None` on overflow).
    pub fn elements(&self) -> Option<usize> {
        self.shape()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d as usize))
    }

    /// Encodes the record.
    pub fn to_bytes(&self) -> [u8; IO_REC_LEN] {
        let mut b = [0u8; IO_REC_LEN];
        let [t0, t1] = self.tensor.to_le_bytes();
        let dtype = match self.dtype {
            DType::I8 => 0,
        };
        for (o, v) in b.iter_mut().zip([t0, t1, dtype, self.rank]) {
            *o = v;
        }
        let dims = self.dims.iter().flat_map(|d| d.to_le_bytes());
        for (o, v) in b.iter_mut().skip(4).zip(dims) {
            *o = v;
        }
        b
    }

    /// Decodes a record; `None` when `b` is short, the dtype unknown, the rank out of
    /// `1..=MAX_RANK` or a dimension past the rank is not 0.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; IO_REC_LEN] = b.get(..IO_REC_LEN)?.try_into().ok()?;
        let [t0, t1, dtype, rank, rest @ ..] = *b;
        let dtype = match dtype {
            0 => DType::I8,
            _ => return None,
        };
        let mut dims = [0u32; MAX_RANK];
        for (d, w) in dims.iter_mut().zip(rest.chunks_exact(4)) {
            *d = u32::from_le_bytes(w.try_into().ok()?);
        }
        let r = usize::from(rank);
        if r == 0 || r > MAX_RANK || dims.iter().skip(r).any(|&d| d != 0) {
            return None;
        }
        Some(Self {
            tensor: u16::from_le_bytes([t0, t1]),
            dtype,
            rank,
            dims,
        })
    }
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
