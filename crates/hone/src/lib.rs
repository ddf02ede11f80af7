#![doc = include_str!("../README.md")]
//!
//! ## A complete run
//!
//! Entry points: [`Model::load`], [`Steps`], [`Model::scratch_words`], [`Runner`],
//! [`Prediction`], and [`adapt`] for on-device training; [`TensorModel`] and [`TensorRunner`]
//! for tensor models (int8 tensors in and out, e.g. imported from TFLite). With a small test
//! model built on the host:
//!
//! * With the `signed` feature, [`signed`] verifies an Ed25519-signed envelope around a blob
//!   (and refuses a lower version than the last accepted one) before it is loaded.
//!
//! ```
//! use hone::{Model, Runner, Steps};
//! # let blob = hone_build::testutil::tiny_model().unwrap();
//! let mut steps = Steps::<8>::new(); // room for the model's operations
//! let model = Model::load(&blob, &mut steps)?;
//! let mut scratch = vec![0u32; model.scratch_words()];
//!
//! // One-off: borrow the scratch buffer for a single prediction.
//! let p = model.classify("turn the lights off", &mut scratch)?;
//! println!("{} ({:.0} %)", p.name, 100.0 * p.confidence());
//! assert!(p.label < model.num_classes());
//!
//! // Repeated use: a runner keeps the buffer and also exposes tokens and features.
//! let mut runner = Runner::new(&model, &mut scratch)?;
//! let n = runner.tokenize("play music");
//! assert_eq!(runner.tokens().len(), n);
//! let features = runner.features("play music");
//! assert_eq!(features.len(), model.feature_dim());
//! # Ok::<(), hone::Error>(())
//! ```
#![no_std]
#![cfg_attr(not(hone_dsp), forbid(unsafe_code))]
// Arm DSP builds: `unsafe` only in the `#[allow(unsafe_code)]` module `kernels::arm_dsp`.
#![cfg_attr(hone_dsp, deny(unsafe_code))]
#![warn(missing_docs)]
// No panics on any input, mechanically: no unwrap/expect/panic/unreachable, and no indexing
// that can go out of bounds (checked access, iterators or types that carry the length).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]
// Every `unsafe` block (Arm DSP kernels only) states why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod adapt;
pub mod bytes;
mod error;
pub mod format;
mod graph;
pub mod kernels;
mod model;
pub mod ops;
pub mod quant;
mod run;
#[cfg(feature = "signed")]
pub mod signed;
mod tensor_model;
pub mod tokenizer;

pub use error::{Error, Invalid, TokenizerError};
pub use graph::MAX_TENSORS;
pub use model::{Classifier, Model, Steps, StrTable, DEFAULT_OPS, MAX_LEN};
pub use ops::head::MAX_CLASSES;
pub use run::{Prediction, Runner};
pub use tensor_model::{TensorModel, TensorRunner, MAX_IO};
