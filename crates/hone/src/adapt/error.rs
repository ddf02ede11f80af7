//! [`AdaptError`]: everything that can go wrong while enrolling, training or persisting.

use core::fmt;

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
    /// A training setting is out of range (learning rate, batch size, epochs, folds…), or
    /// the optimiser needs more state slots than the workspace has.
    BadConfig,
    /// The flash region is too small, misaligned or reports an error.
    Storage,
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
            AdaptError::BadConfig => f.write_str("training setting out of range"),
            AdaptError::Storage => f.write_str("flash storage error"),
            AdaptError::NoSavedState => f.write_str("no complete saved state"),
            AdaptError::Incompatible => f.write_str("saved state belongs to another model"),
        }
    }
}

impl core::error::Error for AdaptError {}
