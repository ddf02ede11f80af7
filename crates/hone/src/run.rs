//! [`Runner`]: inference over a caller-owned scratch buffer.

use crate::error::Error;
use crate::model::Model;
use crate::ops::{self, Io};

/// The result of [`Runner::classify`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prediction<'r> {
    /// Index of the most likely class.
    pub label: usize,
    /// Its name (empty if the model has no name for it).
    pub name: &'r str,
    /// Log-probabilities of every class (`Σ exp = 1`).
    pub log_probs: &'r [f32],
}

impl Prediction<'_> {
    /// Probability of the predicted class.
    pub fn confidence(&self) -> f32 {
        let lp = self.log_probs.get(self.label).copied();
        crate::quant::exp_f32(lp.unwrap_or(f32::NEG_INFINITY))
    }
}

/// Runs a [`Model`] in a scratch buffer the caller owns.
///
/// Create it once per model and buffer; each call reuses the buffer. After [`Runner::new`]
/// succeeds, no method can fail or panic.
#[derive(Debug)]
pub struct Runner<'m, 'a, 's> {
    model: &'m Model<'a>,
    scratch: &'s mut [u32],
    len: usize,
}

/// The scratch buffer carved into its regions ([`crate::model::Layout`]); the runner checked
/// at construction that the buffer holds them all.
struct Regions<'s> {
    ids: &'s mut [u16],
    arena: &'s mut [i8],
    work: &'s mut [f32],
    features: &'s mut [f32],
    logits: &'s mut [f32],
}

#[allow(clippy::indexing_slicing)] // `Runner::new` checked `scratch.len() ≥ layout.total`
fn regions<'s>(model: &Model<'_>, scratch: &'s mut [u32]) -> Regions<'s> {
    let l = model.layout;
    let (ids, rest) = scratch[..l.total].split_at_mut(l.arena.0);
    let (arena, rest) = rest.split_at_mut(l.arena.1 - l.arena.0);
    let (work, rest) = rest.split_at_mut(l.work.1 - l.work.0);
    let (features, logits) = rest.split_at_mut(l.features.1 - l.features.0);
    Regions {
        ids: bytemuck::cast_slice_mut(ids),
        arena: bytemuck::cast_slice_mut(arena),
        work: bytemuck::cast_slice_mut(work),
        features: bytemuck::cast_slice_mut(features),
        logits: bytemuck::cast_slice_mut(logits),
    }
}

/// Applies the head to the features in `scratch` and writes the log-probabilities.
fn predict<'r, 'a: 'r>(model: &Model<'a>, scratch: &'r mut [u32]) -> Prediction<'r> {
    let r = regions(model, scratch);
    let h = &model.classifier.head;
    ops::head_logits(h.weights, h.bias, r.features, r.logits);
    ops::log_softmax(r.logits);
    let label = ops::argmax(r.logits);
    Prediction {
        label,
        name: model.labels().get(label).unwrap_or(""),
        log_probs: r.logits,
    }
}

impl<'m, 'a, 's> Runner<'m, 'a, 's> {
    /// Binds `model` to `scratch`, which must hold at least [`Model::scratch_words`] words.
    pub fn new(model: &'m Model<'a>, scratch: &'s mut [u32]) -> Result<Self, Error> {
        let need = model.scratch_words();
        if scratch.len() < need {
            return Err(Error::ScratchTooSmall {
                need: need as u32,
                got: scratch.len().min(u32::MAX as usize) as u32,
            });
        }
        Ok(Self {
            model,
            scratch,
            len: 0,
        })
    }

    /// The model this runner executes.
    pub fn model(&self) -> &'m Model<'a> {
        self.model
    }

    /// Tokenizes `text` into the scratch buffer; returns the token count.
    pub fn tokenize(&mut self, text: &str) -> usize {
        let ids = regions(self.model, self.scratch).ids;
        self.len = self.model.tokenizer().tokenize(text, ids);
        self.len
    }

    /// Token ids of the last prompt.
    #[allow(clippy::indexing_slicing)] // `new` checked the buffer; `len ≤ max_len`
    pub fn tokens(&self) -> &[u16] {
        let (start, end) = self.model.layout.ids;
        let ids: &[u16] = bytemuck::cast_slice(&self.scratch[start..end]);
        &ids[..self.len]
    }

    /// Runs the encoder on `text` and returns the head's input features: the pooled vector,
    /// dequantised (and L2-normalised when the model says so).
    pub fn features(&mut self, text: &str) -> &[f32] {
        self.tokenize(text);
        self.encode(&mut |_, _| {});
        regions(self.model, self.scratch).features
    }

    /// Classifies `text` with the pre-trained head.
    pub fn classify(&mut self, text: &str) -> Prediction<'_> {
        self.tokenize(text);
        self.encode(&mut |_, _| {});
        predict(self.model, self.scratch)
    }

    /// Benchmarks only (feature `bench`): [`Runner::classify`], calling `observe(i, false)`
    /// before and `observe(i, true)` after op `i` of [`Model::ops`] (to time each op).
    #[cfg(feature = "bench")]
    pub fn classify_observed(
        &mut self,
        text: &str,
        mut observe: impl FnMut(usize, bool),
    ) -> Prediction<'_> {
        self.tokenize(text);
        self.encode(&mut observe);
        predict(self.model, self.scratch)
    }

    /// Classifies `text`, giving the prediction the scratch buffer's lifetime (used by
    /// [`Model::classify`]).
    pub(crate) fn into_prediction(mut self, text: &str) -> Prediction<'s>
    where
        'a: 's,
    {
        self.tokenize(text);
        self.encode(&mut |_, _| {});
        predict(self.model, self.scratch)
    }

    /// Runs every step (the head's step writes the features), calling `observe(i, false)` /
    /// `observe(i, true)` around step `i`.
    #[inline(always)]
    #[allow(clippy::indexing_slicing)] // `len ≤ max_len`, the ids region's length
    fn encode(&mut self, observe: &mut impl FnMut(usize, bool)) {
        let r = regions(self.model, self.scratch);
        let mut io = Io {
            ids: &r.ids[..self.len],
            len: self.len,
            arena: r.arena,
            work: r.work,
            features: r.features,
        };
        for (i, step) in self.model.steps.iter().enumerate() {
            observe(i, false);
            step.eval(&mut io);
            observe(i, true);
        }
    }
}
