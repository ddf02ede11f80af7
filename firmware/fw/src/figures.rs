//! What a golden run's adaptation steps add up: filled by the steps (module `adapt`),
//! carried in the golden run's summary (module `check`) and reported as metrics. A module
//! of its own, so that the steps and the checks both import it and not each other.

/// Adaptation figures gathered over a golden run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Prompts enrolled.
    pub enrolled: u32,
    /// Work of feature extraction + storing, summed over enrolled prompts.
    pub enrol_work: u64,
    /// Work of imprinting + training.
    pub train_work: u64,
    /// Epochs trained.
    pub epochs: u32,
    /// Evaluation prompts.
    pub evaluated: u32,
    /// Of which the base model got right.
    pub correct_before: u32,
    /// Of which the adapted head got right.
    pub correct_after: u32,
    /// Work of a save.
    pub save_work: u64,
    /// Work of reopening the journal and loading.
    pub load_work: u64,
    /// Sequence number of the last save.
    pub saved_seq: u32,
}
