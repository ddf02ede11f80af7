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
//! These types are the *wire* view: they are not validated. [`crate::Model::from_bytes`]
//! decodes and validates them once, after which every access is in bounds.

use serde::{Deserialize, Serialize};

/// The four bytes every blob starts with.
pub const MAGIC: [u8; 4] = *b"HONE";
/// The newest format version this crate reads and writes. Version 2 added
/// [`Op::FcAddNorm`]; a blob that uses no version-2 op is written as version 1 (see
/// [`Op::min_version`]), so that version-1 readers keep reading it.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this crate reads.
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 16;
/// Size of one [`TensorRec`] record in [`ModelDesc::tensors`].
pub const TENSOR_REC_LEN: usize = 12;

/// The CRC used over the payload (CRC-32/ISO-HDLC, as zlib and PNG).
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

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
    /// Operations, executed in order. The first is an [`Op::Embedding`], the last an
    /// [`Op::Head`].
    #[serde(borrow)]
    pub ops: OpsDesc<'a>,
}

/// Operations stored as a postcard sequence of [`Op`] values, decoded one by one.
///
/// They are kept encoded so that a model of any depth costs no RAM for its layer list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OpsDesc<'a> {
    /// Number of operations.
    pub count: u16,
    /// `count` postcard-encoded [`Op`] values, back to back.
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

/// Parameters of a TFLite int8 `ADD`: both inputs are shifted left by `left_shift`, scaled
/// to a common scale, summed and scaled to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddParams {
    /// Left shift applied to both zero-point-corrected inputs (20 for int8).
    pub left_shift: u8,
    /// First input's multiplier (a number smaller than one: `shift ≤ 0`).
    pub a: Multiplier,
    /// Second input's multiplier (`shift ≤ 0`).
    pub b: Multiplier,
    /// Output multiplier.
    pub out: Multiplier,
}

/// Activation fused into a fully-connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Activation {
    /// No activation.
    None,
    /// `max(x, 0)`, i.e. clamp at the output zero point.
    Relu,
}

/// How [`Op::Pool`] reduces the token rows to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PoolKind {
    /// Mean over all token rows.
    Mean,
    /// The first token's row (e.g. `[CLS]`).
    First,
    /// Element-wise maximum over the token rows.
    Max,
}

/// Per-row requantisation of an embedding table: row `r` of the table is mapped to the
/// token scale by `multipliers[r]` (i32 LE) and `shifts[r]` (i8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RowRequant<'a> {
    /// `vocab` little-endian i32 Q31 multipliers.
    pub multipliers: &'a [u8],
    /// `vocab` i8 shifts.
    pub shifts: &'a [u8],
}

/// Learned position embeddings added to the token embeddings with TFLite `ADD` arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Positions<'a> {
    /// int8 `[max_len × d]`, zero point 0.
    pub table: &'a [u8],
    /// Scale of `table` (informational: `add` is what the runtime uses).
    pub scale: f32,
    /// `ADD(token row @ token_scale, position row @ scale) → out`.
    pub add: AddParams,
}

/// One operation (wire view). Tensor operands are indices into [`ModelDesc::tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Op<'a> {
    /// Token embedding lookup (+ optional positions) into a per-token tensor.
    ///
    /// Stage 1: a row `q` of `table` becomes `t = clamp(MBQM(q, row requant))` in the token
    /// scale (or `t = q` without `row_requant`). Stage 2: with `positions`,
    /// `out = ADD(t, pos[i])`; without, `out = clamp(t + out.zero_point)` and the exporter
    /// guarantees `out.scale == token_scale`.
    Embedding {
        /// Output tensor.
        out: u16,
        /// int8 `[vocab × d]`, zero point 0.
        table: &'a [u8],
        /// Scale of the token stage (per-tensor, zero point 0).
        token_scale: f32,
        /// Optional per-row requantisation of `table` to `token_scale`.
        #[serde(borrow)]
        row_requant: Option<RowRequant<'a>>,
        /// Optional learned positions.
        #[serde(borrow)]
        positions: Option<Positions<'a>>,
    },
    /// `out = act(requant(W · (x − zp_x) + bias))` for every row of `input`.
    ///
    /// The input zero point is folded into `bias` by the exporter
    /// (`bias'[r] = bias[r] − zp_x · Σ_c W[r][c]`), so the runtime computes `W · x + bias'`.
    FullyConnected {
        /// Input tensor.
        input: u16,
        /// Output tensor (same row count as the input).
        out: u16,
        /// int8 `[out_cols × in_cols]`, symmetric per output channel.
        weights: &'a [u8],
        /// `out_cols` i32 LE biases (zero point folded in).
        bias: &'a [u8],
        /// `out_cols` i32 LE Q31 multipliers.
        multipliers: &'a [u8],
        /// `out_cols` i8 shifts.
        shifts: &'a [u8],
        /// Fused activation.
        activation: Activation,
    },
    /// TFLite int8 `ADD` of two tensors of the same shape.
    Add {
        /// First input.
        a: u16,
        /// Second input.
        b: u16,
        /// Output.
        out: u16,
        /// Fixed-point parameters.
        params: AddParams,
    },
    /// Layer normalisation over each row's columns, computed in f32.
    LayerNorm {
        /// Input tensor.
        input: u16,
        /// Output tensor (same shape).
        out: u16,
        /// `cols` f32 LE gains.
        gamma: &'a [u8],
        /// `cols` f32 LE offsets.
        beta: &'a [u8],
        /// Variance epsilon (in real units).
        eps: f32,
    },
    /// Element-wise lookup table (GELU, tanh, …): `out = table[(x as u8)]`.
    Lut {
        /// Input tensor.
        input: u16,
        /// Output tensor (same shape).
        out: u16,
        /// 256 output codes, indexed by the input byte (`x as u8`).
        table: &'a [u8],
    },
    /// Multi-head scaled dot-product self-attention over the token rows, computed with
    /// integer dot products and an f32 softmax. All rows are real tokens (no padding).
    Attention {
        /// Queries `[L × d]`.
        q: u16,
        /// Keys `[L × d]`.
        k: u16,
        /// Values `[L × d]`.
        v: u16,
        /// Output `[L × d]`.
        out: u16,
        /// Number of heads (divides `d`).
        heads: u8,
        /// `scale_q · scale_k / sqrt(d / heads)`.
        score_scale: f32,
    },
    /// Reduces the token rows of `input` to a single row.
    Pool {
        /// Per-token input tensor.
        input: u16,
        /// Single-row output tensor.
        out: u16,
        /// Reduction.
        kind: PoolKind,
        /// `scale_in / scale_out` as a fixed-point multiplier (used by `Mean`; `First` and
        /// `Max` copy codes, so the exporter gives `out` the input's quantisation).
        rescale: Multiplier,
    },
    /// Float classification head on a single-row tensor: features `f = dequant(input)`
    /// (L2-normalised when `normalize`), logits `W f + b`.
    Head {
        /// Single-row input tensor.
        input: u16,
        /// f32 LE `[classes × cols]`.
        weights: &'a [u8],
        /// f32 LE `[classes]`.
        bias: &'a [u8],
        /// L2-normalise the features first.
        normalize: bool,
    },
    /// (Version 2.) Fully connected + residual add + LayerNorm, fused so that the
    /// pre-normalisation sum is never quantised: for each row,
    /// `y[c] = scales[c] · (W[c] · x + bias[c]) + s_r · (residual[c] − zp_r)` in f32, then
    /// `out = quantize(LayerNorm(y) · gamma + beta)` with `out`'s scale and zero point.
    ///
    /// As in [`Op::FullyConnected`], the input zero point is folded into `bias`
    /// (`bias'[c] = round(b[c] / scales[c]) − zp_x · Σ_k W[c][k]`) and `scales[c]` is
    /// `s_x · s_w[c]`.
    FcAddNorm {
        /// Input of the fully-connected part.
        input: u16,
        /// Residual tensor, same shape as `out`.
        residual: u16,
        /// Output tensor (the LayerNorm's output).
        out: u16,
        /// int8 `[out_cols × in_cols]`, symmetric per output channel.
        weights: &'a [u8],
        /// `out_cols` i32 LE biases in accumulator units (zero point folded in).
        bias: &'a [u8],
        /// `out_cols` f32 LE accumulator scales `s_x · s_w[c]`.
        scales: &'a [u8],
        /// `out_cols` f32 LE LayerNorm gains.
        gamma: &'a [u8],
        /// `out_cols` f32 LE LayerNorm offsets.
        beta: &'a [u8],
        /// Variance epsilon (in real units).
        eps: f32,
    },
}

impl Op<'_> {
    /// The op's tensor operands: `(inputs, output)`.
    pub fn operands(&self) -> ([Option<u16>; 3], Option<u16>) {
        match *self {
            Op::Embedding { out, .. } => ([None; 3], Some(out)),
            Op::FullyConnected { input, out, .. }
            | Op::LayerNorm { input, out, .. }
            | Op::Lut { input, out, .. }
            | Op::Pool { input, out, .. } => ([Some(input), None, None], Some(out)),
            Op::Add { a, b, out, .. } => ([Some(a), Some(b), None], Some(out)),
            Op::Attention { q, k, v, out, .. } => ([Some(q), Some(k), Some(v)], Some(out)),
            Op::FcAddNorm {
                input,
                residual,
                out,
                ..
            } => ([Some(input), Some(residual), None], Some(out)),
            Op::Head { input, .. } => ([Some(input), None, None], None),
        }
    }

    /// The oldest format version that has this op. New variants are appended at the end of
    /// the enum, so every earlier version's encodings stay valid.
    pub fn min_version(&self) -> u16 {
        match self {
            Op::FcAddNorm { .. } => 2,
            _ => 1,
        }
    }
}
