//! The adaptation session that golden adaptation vectors script (feature `adapt`).
//!
//! Host (`generate`) and device run the same steps through [`Session`], in the order of the
//! golden file: [`Vector::Enrol`](crate::Vector::Enrol) collects a prompt under a label
//! (enrolling the label if new), [`Vector::Train`](crate::Vector::Train) imprints the new
//! classes and fine-tunes them by NLL, [`Vector::Evaluate`](crate::Vector::Evaluate)
//! classifies a prompt with the base head and with the adapted head, and
//! [`Vector::Persist`](crate::Vector::Persist) saves the state through `NorFlash`, reloads it
//! into a fresh session and compares. Capacities are fixed here so both sides run identical
//! code.

use hone::adapt::{AdaptError, Head, Store, TrainConfig, TrainReport, Trainer, Workspace};
use hone::{Model, Runner};

/// Classes a session can enrol.
pub const NEW: usize = 4;
/// Largest feature length supported (the model's may be smaller).
pub const F: usize = 32;
/// Examples the store holds.
pub const N: usize = 48;
/// Optimiser slots (Adam needs 2).
pub const S: usize = 2;
/// Largest number of classes a session classifies into.
pub const MAX_CLASSES: usize = hone::MAX_CLASSES + NEW;

/// Bytes of RAM the session's state takes (head rows, store, workspace).
pub const RAM_BYTES: usize = hone::adapt::ram_bytes::<NEW, F, N, S>();

/// The training configuration of a [`crate::Vector::Train`]: the runtime's defaults with the
/// given epochs and shuffle seed.
pub fn train_config(epochs: u16, seed: u32) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        ..TrainConfig::default()
    }
}

/// Adaptation state of one model: enrolled head, example store and training workspace.
pub struct Session<'m, 'a> {
    /// The head (pre-trained rows in flash, enrolled rows here).
    pub head: Head<'m, 'a, NEW, F>,
    /// Collected examples (frozen-encoder features, f16).
    pub store: Store<N, F>,
    /// Training working memory.
    pub ws: Workspace<NEW, F, N, S>,
}

impl<'m, 'a> Session<'m, 'a> {
    /// A session with nothing enrolled.
    pub fn new(model: &'m Model<'a>) -> Result<Self, AdaptError> {
        Ok(Self {
            head: Head::new(model)?,
            store: Store::new(),
            ws: Workspace::new(),
        })
    }

    /// Collects `prompt` as an example of `label` (enrolled if new); returns the class id.
    pub fn enrol(
        &mut self,
        runner: &mut Runner<'_, '_, '_>,
        prompt: &str,
        label: &str,
    ) -> Result<usize, AdaptError> {
        let class = self.head.class_id(label)?;
        let label16 = u16::try_from(class).map_err(|_| AdaptError::UnknownLabel)?;
        self.store.add(label16, runner.features(prompt))?;
        Ok(class)
    }

    /// Imprints the enrolled classes from their examples and fine-tunes them.
    pub fn train(&mut self, cfg: TrainConfig) -> Result<TrainReport, AdaptError> {
        self.head.imprint_all(&self.store);
        Trainer::new(&mut self.head, &self.store, &mut self.ws, cfg)?.train()
    }

    /// Classifies `prompt` with the adapted head: log-probabilities into `out` (at least
    /// `head.num_classes()` long), returns the label.
    pub fn classify(
        &self,
        runner: &mut Runner<'_, '_, '_>,
        prompt: &str,
        out: &mut [f32],
    ) -> usize {
        self.head.classify(runner.features(prompt), out)
    }
}
