//! Error types. Small, `Copy`, `#[non_exhaustive]`; `defmt::Format` with the `defmt` feature.

use core::fmt;

use crate::format::Kind;

pub use crate::tokenizer::TokenizerError;

/// Everything that can go wrong when loading a model or preparing to run it.
///
/// Once [`crate::Model::load`] and [`crate::Runner::new`] have returned `Ok`, inference
/// has no error path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The blob is shorter than its header or than the payload length it declares.
    Truncated,
    /// The blob does not start with `HONE`.
    BadMagic,
    /// The blob's format version is not one this crate reads.
    UnsupportedVersion(u16),
    /// The payload's CRC-32 does not match the header.
    ChecksumMismatch,
    /// The blob holds another kind of model than the loader reads (a tensor model given to
    /// [`crate::Model::load`], or a text model to [`crate::TensorModel::load`]).
    WrongKind(crate::format::Kind),
    /// The payload is not a valid postcard encoding of the model description.
    Decode,
    /// The description decoded but is inconsistent (see [`Invalid`]); `op` is the index of the
    /// offending operation, or `u16::MAX` for model-level fields.
    Invalid {
        /// Operation index (`u16::MAX`: not specific to an operation).
        op: u16,
        /// What is wrong.
        reason: Invalid,
    },
    /// The tokenizer description is invalid.
    Tokenizer(TokenizerError),
    /// The blob has more operations than the caller's [`crate::Steps`] table holds (give it
    /// a larger `N`: `Steps::<N>::new()`).
    OpCapacity {
        /// Operations in the blob.
        ops: u16,
        /// Operations the model type holds.
        capacity: u16,
    },
    /// The caller's scratch buffer is smaller than [`crate::Model::scratch_words`].
    ScratchTooSmall {
        /// Words (u32) needed.
        need: u32,
        /// Words given.
        got: u32,
    },
}

/// Why a decoded model description was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Invalid {
    /// A tensor index is out of range.
    TensorIndex,
    /// A tensor record is malformed (alignment, scale, zero columns, outside the arena).
    TensorRecord,
    /// A tensor is read before it is written, or written twice.
    Order,
    /// Operand shapes do not agree.
    Shape,
    /// A parameter array has the wrong length.
    Length,
    /// A quantisation parameter is out of range or not finite.
    Quant,
    /// An output overlaps a tensor that is still needed.
    Overlap,
    /// The operation list is not `Embedding, …, Head`, or has trailing bytes.
    Structure,
    /// Too many tensors, operations, tokens or classes for this build.
    Limit,
    /// The label table is malformed or does not match the head.
    Labels,
    /// The operation does not exist in the blob's format version (e.g. a version-2 op in a
    /// version-1 blob).
    OpVersion,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invalid::TensorIndex => "tensor index out of range",
            Invalid::TensorRecord => "malformed tensor record",
            Invalid::Order => "tensor read before written, or written twice",
            Invalid::Shape => "operand shapes do not agree",
            Invalid::Length => "parameter array has the wrong length",
            Invalid::Quant => "quantisation parameter out of range",
            Invalid::Overlap => "output overlaps a live tensor",
            Invalid::Structure => "operation list is not Embedding, ..., Head",
            Invalid::Limit => "model exceeds a limit of this build",
            Invalid::Labels => "label table malformed or inconsistent with the head",
            Invalid::OpVersion => "operation not defined in the blob's format version",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("blob truncated"),
            Error::BadMagic => f.write_str("not a hone model (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Error::ChecksumMismatch => f.write_str("payload checksum mismatch"),
            Error::WrongKind(Kind::Text) => {
                f.write_str("a text classifier, not a tensor model (load it as a text model)")
            }
            Error::WrongKind(_) => {
                f.write_str("a tensor model, not a text classifier (load it as a tensor model)")
            }
            Error::Decode => f.write_str("payload does not decode"),
            Error::Invalid { op, reason } if *op == u16::MAX => {
                write!(f, "invalid model: {reason}")
            }
            Error::Invalid { op, reason } => write!(f, "invalid model at op {op}: {reason}"),
            Error::Tokenizer(e) => write!(f, "invalid tokenizer: {e}"),
            Error::OpCapacity { ops, capacity } => write!(
                f,
                "model has {ops} operations, more than its table of steps holds ({capacity}; \
                 load it with Steps::<{ops}>)"
            ),
            Error::ScratchTooSmall { need, got } => {
                write!(f, "scratch too small: need {need} words, got {got}")
            }
        }
    }
}

impl core::error::Error for Error {}

impl From<TokenizerError> for Error {
    fn from(e: TokenizerError) -> Self {
        Error::Tokenizer(e)
    }
}
