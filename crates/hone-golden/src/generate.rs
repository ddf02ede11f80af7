//! Computing golden vectors with the host build of `hone` (feature `generate`).

use alloc::{string::String, vec, vec::Vec};

use hone::{Model, Runner};

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
    let model = Model::from_bytes(blob)?;
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
