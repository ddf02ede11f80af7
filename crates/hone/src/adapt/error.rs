//! [`AdaptError`]: everything that can go wrong while enrolling, training or persisting.

use core::fmt;

use super::{MAX_BATCH, MAX_EPOCHS};

/// Errors of the adaptation API. Small, `Copy`; no operation panics instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AdaptError {
    /// The model's feature vector is longer than the `F` this head or store was built for.
    FeatureDim {
        /// The model's feature length.
        model: u16,
        /// The compile-time capacity `F`.
        capacity: u16,
    },
    /// A new label was requested but all `NEW` slots are taken.
    NoCapacity,
    /// The label is already known (old or enrolled).
    DuplicateLabel,
    /// A label name is empty or longer than [`super::LABEL_LEN`] bytes.
    BadLabelName,
    /// A class id is neither an old class nor an enrolled one.
    UnknownLabel,
    /// The prompt has no tokens besides the model's special ones.
    EmptyPrompt,
    /// A feature vector has the wrong length or a non-finite value.
    BadFeatures,
    /// A class to imprint has no stored example.
    NoExamples,
    /// Not enough examples to train and validate (at least one per split).
    TooFewExamples,
    /// A training setting is out of range, or the optimiser needs more state slots than the
    /// workspace has; names the first offending setting.
    BadConfig(Setting),
    /// The flash region is too small, misaligned or reports an error.
    Storage,
    /// The state to save is larger than one journal slot; size the region with
    /// [`super::persist::Journal::region_len`] of [`super::persist::max_state_bytes`].
    StateTooLarge {
        /// Bytes of the state's payload.
        bytes: u32,
        /// Bytes one slot holds.
        slot: u32,
    },
    /// No complete saved state was found (fresh or erased flash).
    NoSavedState,
    /// A saved state was found but belongs to another model or capacity.
    Incompatible,
}

impl fmt::Display for AdaptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdaptError::FeatureDim { model, capacity } => {
                write!(f, "model features ({model}) exceed capacity ({capacity})")
            }
            AdaptError::NoCapacity => f.write_str("no capacity left for a new label"),
            AdaptError::DuplicateLabel => f.write_str("label already exists"),
            AdaptError::BadLabelName => f.write_str("label name empty or too long"),
            AdaptError::UnknownLabel => f.write_str("unknown label"),
            AdaptError::EmptyPrompt => f.write_str("prompt has no tokens"),
            AdaptError::BadFeatures => f.write_str("feature vector malformed"),
            AdaptError::NoExamples => f.write_str("class has no stored example"),
            AdaptError::TooFewExamples => f.write_str("too few examples to train and validate"),
            AdaptError::BadConfig(s) => write!(f, "training setting out of range: {s}"),
            AdaptError::Storage => f.write_str("flash storage error"),
            AdaptError::StateTooLarge { bytes, slot } => write!(
                f,
                "adaptation state of {bytes} bytes exceeds a flash slot of {slot} bytes"
            ),
            AdaptError::NoSavedState => f.write_str("no complete saved state"),
            AdaptError::Incompatible => f.write_str("saved state belongs to another model"),
        }
    }
}

impl core::error::Error for AdaptError {}

/// The training setting an [`AdaptError::BadConfig`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Setting {
    /// The optimiser's own parameters (momentum, betas, epsilon).
    Optimizer,
    /// The optimiser needs more state slots than the workspace has.
    OptimizerSlots,
    /// The learning rate (finite, > 0).
    LearningRate,
    /// The number of epochs (at most [`MAX_EPOCHS`]).
    Epochs,
    /// The mini-batch size (1 to [`MAX_BATCH`]).
    Batch,
    /// The prior's λ (finite, ≥ 0).
    L2,
    /// The gradient clipping norm (finite, ≥ 0).
    ClipNorm,
    /// The norm cap of new rows (finite, ≥ 0).
    MaxNorm,
    /// Label smoothing (in `[0, 1)`).
    LabelSmoothing,
    /// The validation scheme (hold-out period or folds ≥ 2).
    Validation,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Setting::Epochs => return write!(f, "epochs (at most {MAX_EPOCHS})"),
            Setting::Batch => return write!(f, "batch size (1 to {MAX_BATCH})"),
            Setting::Optimizer => "optimizer parameters (momentum, betas in [0, 1), eps > 0)",
            Setting::OptimizerSlots => "optimizer needs more state slots than the workspace has",
            Setting::LearningRate => "learning rate (finite, > 0)",
            Setting::L2 => "l2 prior weight (finite, >= 0)",
            Setting::ClipNorm => "clip norm (finite, >= 0)",
            Setting::MaxNorm => "max norm (finite, >= 0)",
            Setting::LabelSmoothing => "label smoothing (in [0, 1))",
            Setting::Validation => "validation (holdout period or folds >= 2)",
        };
        f.write_str(s)
    }
}
