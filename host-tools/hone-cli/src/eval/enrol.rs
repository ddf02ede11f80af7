//! The enrolment scenario through the on-device code path (`hone::adapt`): the model's head
//! knows the pre-training intents; the held-out domain's intents are enrolled from `K`
//! prompts each (imprinting, then NLL fine-tuning of the new rows with the old rows frozen),
//! and test accuracy is measured on the new, old and all intents. Prompts are collected as
//! the device collects them ([`Store::collect`]), with the same checks.

use anyhow::{bail, Context, Result};
use hone::adapt::{Calibration, Head, Store, TrainConfig, Trainer, Workspace};
use hone::Model;
use hone::Runner;

/// Most intents one enrolment adds (the device's session).
pub const NEW: usize = hone::adapt::SESSION_NEW;
/// Most stored examples (the device's session: 16 intents × 10 prompts).
pub const STORE: usize = hone::adapt::SESSION_EXAMPLES;
/// Optimiser slots (the device's session: Adam, 2).
pub const SLOTS: usize = hone::adapt::SESSION_SLOTS;

/// Accuracies of one enrolment run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EnrolResult {
    /// Prompts per new intent.
    pub k: usize,
    /// Test accuracy on the new intents.
    pub new: f64,
    /// Test accuracy on the old intents after enrolment (`None`: the test split has no prompt
    /// of the head's intents, e.g. a data set of other domains).
    pub old: Option<f64>,
    /// Test accuracy on the old and new intents together.
    pub all: f64,
    /// Test accuracy on the old intents before enrolment (`None` as for `old`).
    pub old_before: Option<f64>,
    /// The device kept the imprinted head (validation NLL did not improve).
    pub rolled_back: bool,
}

/// Mean of the runs of one `K` over several selections of the enrolment prompts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnrolSummary {
    /// Prompts per new intent.
    pub k: usize,
    /// Mean test accuracy on the new intents.
    pub new: f64,
    /// Mean test accuracy on the old intents after enrolment (`None` as in [`EnrolResult`]).
    pub old: Option<f64>,
    /// Mean test accuracy on the old and new intents together.
    pub all: f64,
    /// Test accuracy on the old intents before enrolment (`None` as in [`EnrolResult`]).
    pub old_before: Option<f64>,
    /// Runs in which the device kept the imprinted head.
    pub rolled_back: usize,
    /// The individual runs (selection seeds 0, 1, …).
    pub runs: Vec<EnrolResult>,
}

impl EnrolSummary {
    /// Averages `runs` (all with the same `k`; at least one).
    pub fn of(k: usize, runs: Vec<EnrolResult>) -> Self {
        let n = runs.len().max(1) as f64;
        let mean = |f: fn(&EnrolResult) -> f64| runs.iter().map(f).sum::<f64>() / n;
        let mean_opt = |f: fn(&EnrolResult) -> Option<f64>| {
            runs.iter().map(f).sum::<Option<f64>>().map(|s| s / n)
        };
        Self {
            k,
            new: mean(|r| r.new),
            old: mean_opt(|r| r.old),
            all: mean(|r| r.all),
            old_before: mean_opt(|r| r.old_before),
            rolled_back: runs.iter().filter(|r| r.rolled_back).count(),
            runs,
        }
    }
}

/// Examples for the scenario: enrolment prompts, and test features with intent names.
pub struct Scenario<'s> {
    /// Enrolment examples per new intent: (intent name, its K prompts).
    pub enrol: Vec<(String, Vec<&'s str>)>,
    /// Test features with intent names.
    pub test: Vec<(&'s [f32], &'s str)>,
}

/// Runs the scenario with a head whose feature capacity is `F` (≥ the model's feature size).
pub fn run<const F: usize>(
    model: &Model<'_>,
    s: &Scenario<'_>,
    k: usize,
    cfg: TrainConfig,
    cal: Calibration,
) -> Result<EnrolResult> {
    if model.feature_dim() > F {
        bail!(
            "feature size {} exceeds this build's {F}",
            model.feature_dim()
        );
    }
    if s.enrol.len() > NEW {
        bail!("{} new intents exceed the capacity of {NEW}", s.enrol.len());
    }
    let mut head = Box::new(Head::<NEW, F>::new(model).context("head")?);
    let old_classes = head.old_classes();
    let mut logp = vec![0f32; old_classes + NEW];
    let names: Vec<String> = (0..old_classes)
        .map(|c| head.label(c).unwrap_or("").to_string())
        .collect();
    let is_old = |name: &str| names.iter().any(|n| n == name);
    // Before: the pre-trained head on the old intents' test prompts.
    let (mut hit, mut n) = (0usize, 0usize);
    for &(f, name) in &s.test {
        if is_old(name) {
            let c = head.classify(f, &mut logp);
            hit += usize::from(head.label(c) == Some(name));
            n += 1;
        }
    }
    let old_before = (n > 0).then(|| hit as f64 / n as f64);
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = Runner::new(model, &mut scratch).context("runner")?;
    let mut store: Box<Store<STORE, F>> = Box::default();
    for (name, prompts) in &s.enrol {
        if is_old(name) {
            bail!("intent `{name}` is already in the model's head: it was not held out");
        }
        if prompts.is_empty() {
            bail!("intent `{name}` has no training prompt to enrol");
        }
        let id = head
            .enrol(name)
            .with_context(|| format!("enrolling `{name}`"))?;
        for p in prompts.iter().take(k) {
            store
                .collect(&mut runner, &head, p, id)
                .with_context(|| format!("storing {p:?} as an example of `{name}`"))?;
        }
    }
    for c in head.old_classes()..head.num_classes() {
        head.imprint_with(c, &store, cal).context("imprinting")?;
    }
    let mut ws: Box<Workspace<NEW, F, STORE, SLOTS>> = Box::default();
    let report = Trainer::new(&mut head, &store, &mut ws, cfg)
        .context("trainer")?
        .train()
        .context("training")?;
    let mut acc = [(0usize, 0usize); 3]; // new, old, all
    let is_new = |name: &str| s.enrol.iter().any(|(n, _)| n == name);
    // Intents neither in the head nor enrolled (other domains of a data set) are not scored.
    for &(f, name) in s.test.iter().filter(|t| is_old(t.1) || is_new(t.1)) {
        let c = head.classify(f, &mut logp);
        let ok = usize::from(head.label(c) == Some(name));
        let group = if is_old(name) { 1 } else { 0 };
        acc[group].0 += ok;
        acc[group].1 += 1;
        acc[2].0 += ok;
        acc[2].1 += 1;
    }
    let frac = |(h, n): (usize, usize)| h as f64 / n.max(1) as f64;
    Ok(EnrolResult {
        k,
        new: frac(acc[0]),
        old: (acc[1].1 > 0).then(|| frac(acc[1])),
        all: frac(acc[2]),
        old_before,
        rolled_back: report.rolled_back,
    })
}
