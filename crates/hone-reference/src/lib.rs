//! # hone-reference
//!
//! An independent float (f32, with f64 accumulation where it matters) implementation of the
//! models that `hone` runs in int8, computed from the *float* checkpoint:
//!
//! * [`checkpoint`]: reads a checkpoint directory (`config.json` in either the Hugging Face
//!   BERT schema or the project's `hone-checkpoint` schema, `model.safetensors` in f32/f16,
//!   `tokenizer.json`) with errors that name the missing tensor or both shapes.
//! * [`text`]: tokenization through the Hugging Face `tokenizers` crate — independent of the
//!   device's WordPiece tokenizer, so a verification also checks the tokenizer.
//! * [`model`]: the forward pass — static embeddings or a BERT encoder (learned positions,
//!   token type 0, LayerNorm, multi-head softmax attention, erf GELU, FFN), mean / first
//!   (`[CLS]`) / max pooling, an optional MLP, optional L2 normalisation, the float head,
//!   log-softmax and NLL. A [`model::Probe`] sees every intermediate activation.
//! * [`calib::Ranges`]: a probe that records activation ranges (min/max and percentiles)
//!   for post-training quantisation.
//! * [`nll`]: f64 reference of on-device last-layer adaptation (regularised NLL, gradients,
//!   SGD/Adam).
//!
//! Nothing here calls into the `hone` runtime.

pub mod calib;
pub mod checkpoint;
pub mod math;
pub mod model;
pub mod nll;
pub mod text;

pub use checkpoint::{Architecture, Checkpoint, Config, Overrides, Pooling};
pub use model::{Output, Probe, Reference};

use std::path::PathBuf;

/// Why a checkpoint could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `config.json` is malformed or inconsistent.
    #[error("bad config {path}: {msg}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The checkpoint describes a model this crate does not implement.
    #[error("unsupported architecture: {0}")]
    Unsupported(String),
    /// A tensor the configuration needs is absent.
    #[error("missing tensor `{name}` in {path}")]
    MissingTensor {
        /// The tensor's name.
        name: String,
        /// The safetensors file.
        path: PathBuf,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor's element type is not f32/f16/bf16.
    #[error("tensor `{name}` has unsupported dtype {dtype}")]
    Dtype {
        /// The tensor's name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// The safetensors file is malformed.
    #[error("bad safetensors file {path}: {msg}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        msg: String,
    },
    /// `tokenizer.json` is unreadable or not a WordPiece tokenizer.
    #[error("unusable tokenizer {path}: {msg}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
