//! Computing golden vectors with the host build of `hone` (feature `generate`).

use alloc::{string::String, vec, vec::Vec};
use hone_build::HostSteps;

use hone::adapt::{
    with_feature_capacity, AdaptError, AdaptRam, CapacityFn, Session, FEATURE_BUCKETS,
};
use hone::Model;
use hone::Runner;

use crate::adapt::train_config;
use crate::{f32_bytes, u32_bytes, Vector};

/// One classification vector, owned (see [`Vector::Classify`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifyCase {
    /// The prompt.
    pub prompt: String,
    /// Token ids, `u32` little-endian.
    pub tokens: Vec<u8>,
    /// Head input features, `f32` bits little-endian.
    pub features: Vec<u8>,
    /// Log-probabilities, `f32` bits little-endian.
    pub log_probs: Vec<u8>,
    /// Predicted label.
    pub label: u32,
}

impl ClassifyCase {
    /// The borrowed vector to [`crate::write`].
    pub fn vector(&self) -> Vector<'_> {
        Vector::Classify {
            prompt: &self.prompt,
            tokens: &self.tokens,
            features: &self.features,
            log_probs: &self.log_probs,
            label: self.label,
        }
    }
}

/// Tokenises and classifies every prompt with `blob`, exactly as the device will.
pub fn classify(blob: &[u8], prompts: &[&str]) -> Result<Vec<ClassifyCase>, hone::Error> {
    let mut steps = HostSteps::new();
    let model = Model::load(blob, &mut steps)?;
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = Runner::new(&model, &mut scratch)?;
    Ok(prompts
        .iter()
        .map(|&prompt| {
            let features = f32_bytes(runner.features(prompt));
            let tokens: Vec<u32> = runner.tokens().iter().map(|&t| u32::from(t)).collect();
            let p = runner.classify(prompt);
            ClassifyCase {
                prompt: prompt.into(),
                tokens: u32_bytes(&tokens),
                features,
                log_probs: f32_bytes(p.log_probs),
                label: u32::try_from(p.label).unwrap_or(u32::MAX),
            }
        })
        .collect())
}

/// The prompts of a prompts file: one per line, `#` starts a comment line, blank lines are
/// skipped, and `<empty>` stands for the empty prompt.
pub fn parse_prompts(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| if l == "<empty>" { "" } else { l })
        .collect()
}

/// An owned golden vector of an adaptation script (see [`Vector`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AdaptStep {
    /// [`Vector::Enrol`].
    Enrol {
        /// The prompt.
        prompt: String,
        /// Label name.
        label: String,
        /// Class id.
        class: u32,
    },
    /// [`Vector::Train`].
    Train {
        /// Epochs.
        epochs: u16,
        /// Shuffle seed.
        seed: u32,
        /// The host's training report.
        report: hone::adapt::TrainReport,
    },
    /// [`Vector::Evaluate`].
    Evaluate {
        /// The prompt.
        prompt: String,
        /// True label name.
        truth: String,
        /// Base model's label.
        before: u32,
        /// Adapted head's label.
        after: u32,
        /// Adapted log-probabilities, `f32` bits little-endian.
        log_probs: Vec<u8>,
    },
    /// [`Vector::Persist`].
    Persist,
}

impl AdaptStep {
    /// The borrowed vector to [`crate::write`].
    pub fn vector(&self) -> Vector<'_> {
        match self {
            AdaptStep::Enrol {
                prompt,
                label,
                class,
            } => Vector::Enrol {
                prompt,
                label,
                class: *class,
            },
            AdaptStep::Train {
                epochs,
                seed,
                report,
            } => Vector::Train {
                epochs: *epochs,
                seed: *seed,
                steps: report.steps,
                best_epoch: report.best_epoch,
                val_before: report.val_before.to_bits(),
                val_after: report.val_after.to_bits(),
                rolled_back: report.rolled_back,
            },
            AdaptStep::Evaluate {
                prompt,
                truth,
                before,
                after,
                log_probs,
            } => Vector::Evaluate {
                prompt,
                truth,
                before: *before,
                after: *after,
                log_probs,
            },
            AdaptStep::Persist => Vector::Persist,
        }
    }
}

/// Why an adaptation script could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdaptGenError {
    /// The model is invalid.
    Model(hone::Error),
    /// An adaptation step failed.
    Adapt(AdaptError),
}

impl core::fmt::Display for AdaptGenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AdaptGenError::Model(e) => write!(f, "{e}"),
            AdaptGenError::Adapt(e) => write!(f, "adaptation: {e}"),
        }
    }
}

impl core::error::Error for AdaptGenError {}

/// The adaptation script: enrol every `(label, prompt)` of `enrol`, train for `epochs`
/// (shuffle `seed`), evaluate every `(label, prompt)` of `eval` before and after, persist,
/// then evaluate `eval` again (on the device, with the state reloaded from flash) — each step
/// with the host build's results. The session's feature capacity follows the model
/// ([`hone::adapt::with_feature_capacity`]).
pub fn adapt(
    blob: &[u8],
    enrol: &[(&str, &str)],
    epochs: u16,
    seed: u32,
    eval: &[(&str, &str)],
) -> Result<Vec<AdaptStep>, AdaptGenError> {
    let mut steps = HostSteps::new();
    let model = Model::load(blob, &mut steps).map_err(AdaptGenError::Model)?;
    let script = Script {
        model: &model,
        enrol,
        epochs,
        seed,
        eval,
    };
    let largest = FEATURE_BUCKETS[FEATURE_BUCKETS.len() - 1];
    with_feature_capacity(model.feature_dim(), script).unwrap_or(Err(AdaptGenError::Adapt(
        AdaptError::FeatureDim {
            model: model.feature_dim().min(usize::from(u16::MAX)) as u16,
            capacity: largest.min(usize::from(u16::MAX)) as u16,
        },
    )))
}

/// The arguments of [`adapt`], run at the capacity [`with_feature_capacity`] picks.
pub(crate) struct Script<'s, 'm, 'a> {
    pub(crate) model: &'m Model<'a>,
    pub(crate) enrol: &'s [(&'s str, &'s str)],
    pub(crate) epochs: u16,
    pub(crate) seed: u32,
    pub(crate) eval: &'s [(&'s str, &'s str)],
}

impl CapacityFn<Result<Vec<AdaptStep>, AdaptGenError>> for Script<'_, '_, '_> {
    /// Runs in a fresh [`AdaptRam`] of capacity `F` on the heap (the host's counterpart of the
    /// firmware's static).
    fn call<const F: usize>(self) -> Result<Vec<AdaptStep>, AdaptGenError> {
        self.run(&mut alloc::boxed::Box::new(AdaptRam::<F>::new()))
    }
}

impl Script<'_, '_, '_> {
    /// Runs the script in `ram`.
    pub(crate) fn run<const F: usize>(
        self,
        ram: &mut AdaptRam<F>,
    ) -> Result<Vec<AdaptStep>, AdaptGenError> {
        let model = self.model;
        let mut scratch = vec![0u32; model.scratch_words()];
        let mut runner = Runner::new(model, &mut scratch).map_err(AdaptGenError::Model)?;
        let mut session = Session::new(model, ram).map_err(AdaptGenError::Adapt)?;
        let mut steps = Vec::new();
        for &(label, prompt) in self.enrol {
            let class = session
                .enrol(&mut runner, prompt, label)
                .map_err(AdaptGenError::Adapt)?;
            steps.push(AdaptStep::Enrol {
                prompt: prompt.into(),
                label: label.into(),
                class: u32::try_from(class).unwrap_or(u32::MAX),
            });
        }
        let report = session
            .train(train_config(self.epochs, self.seed))
            .map_err(AdaptGenError::Adapt)?;
        steps.push(AdaptStep::Train {
            epochs: self.epochs,
            seed: self.seed,
            report,
        });
        let mut out = vec![0f32; session.num_classes()];
        let mut evaluate = |steps: &mut Vec<AdaptStep>| {
            for &(truth, prompt) in self.eval {
                let before = runner.classify(prompt).label;
                let after = session.classify(&mut runner, prompt, &mut out);
                steps.push(AdaptStep::Evaluate {
                    prompt: prompt.into(),
                    truth: truth.into(),
                    before: u32::try_from(before).unwrap_or(u32::MAX),
                    after: u32::try_from(after).unwrap_or(u32::MAX),
                    log_probs: f32_bytes(&out),
                });
            }
        };
        evaluate(&mut steps);
        steps.push(AdaptStep::Persist);
        evaluate(&mut steps);
        Ok(steps)
    }
}

/// `(label, prompt)` pairs of the `[enrol]` and `[eval]` sections of an adaptation file:
/// lines `label<TAB>prompt`, `#` comment lines, blank lines skipped.
#[allow(clippy::type_complexity)]
pub fn parse_adapt(text: &str) -> Result<(Vec<(&str, &str)>, Vec<(&str, &str)>), String> {
    let (mut enrol, mut eval) = (Vec::new(), Vec::new());
    let mut section = None;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.trim() {
            "[enrol]" => section = Some(true),
            "[eval]" => section = Some(false),
            _ => {
                let pair = line
                    .split_once('\t')
                    .ok_or_else(|| alloc::format!("line {}: expected label<TAB>prompt", n + 1))?;
                match section {
                    Some(true) => enrol.push(pair),
                    Some(false) => eval.push(pair),
                    None => return Err(alloc::format!("line {}: before [enrol]/[eval]", n + 1)),
                }
            }
        }
    }
    Ok((enrol, eval))
}
