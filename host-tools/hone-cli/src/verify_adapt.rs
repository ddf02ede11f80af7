//! `hone verify --adapt`: the device's last-layer fine-tuning (f32, f16 features) against the
//! f64 reference (`hone_reference::nll`) on the same data and hyper-parameters.
//!
//! Labelled prompts whose label the model knows become examples of that class; other labels
//! are enrolled as new classes (up to [`NEW`]) and imprinted. Both sides then take the same
//! mini-batches for `steps` steps of Adam with label smoothing, class-balanced weights and an
//! L2 prior; the check passes when the objective agrees to [`TOLERANCE`] (relative) at every
//! step and both final heads predict the same class for every test prompt.

use std::path::Path;

use anyhow::{bail, Result};
use hone::adapt::{
    with_feature_capacity, CapacityFn, Head, Optimizer, Reduction, Schedule, Store, TrainConfig,
    Trainer, Validation, Workspace,
};
use hone::Model;
use hone::Runner;
use hone_build::HostSteps;
use hone_reference::nll;
use serde::Serialize;

/// Most new classes enrolled (the device's session).
pub const NEW: usize = hone::adapt::SESSION_NEW;
/// Most stored examples.
pub const EXAMPLES: usize = 256;
/// Largest relative difference of the objective allowed at any step.
pub const TOLERANCE: f64 = 1e-4;

/// The outcome (`--json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdaptSummary {
    /// Optimisation steps compared.
    pub steps: usize,
    /// Examples trained on (stored features).
    pub examples: usize,
    /// Classes enrolled from labels the model does not know.
    pub new_classes: usize,
    /// Objective before the first step (reference).
    pub first_loss: f64,
    /// Objective before the last step (reference).
    pub last_loss: f64,
    /// Largest relative difference of the objective over all steps.
    pub max_rel_loss_diff: f64,
    /// The allowed difference.
    pub tolerance: f64,
    /// Test prompts compared.
    pub test_prompts: usize,
    /// Test prompts where the runtime and the reference predict the same class.
    pub same_predictions: usize,
    /// Whether the check passed.
    pub ok: bool,
}

/// Runs the comparison for `model` on labelled `train` prompts, then predicts `test`.
pub fn check(
    model: &Model<'_>,
    train: &[(String, String)],
    test: &[String],
    steps: usize,
) -> Result<AdaptSummary> {
    struct Check<'c, 'm> {
        model: &'c Model<'m>,
        train: &'c [(String, String)],
        test: &'c [String],
        steps: usize,
    }
    impl CapacityFn<Result<AdaptSummary>> for Check<'_, '_> {
        fn call<const F: usize>(self) -> Result<AdaptSummary> {
            check_with::<F>(self.model, self.train, self.test, self.steps)
        }
    }
    let c = Check {
        model,
        train,
        test,
        steps,
    };
    with_feature_capacity(model.feature_dim(), c)
        .unwrap_or_else(|| bail!("features too wide ({})", model.feature_dim()))
}

/// Labelled prompts per new label used for training.
pub const SHOTS: usize = 5;

/// What `hone verify --adapt` reads from its command line.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The blob.
    pub model: &'a Path,
    /// Prompts: a text file (one per line, optionally `prompt<TAB>label`) or CLINC JSON.
    pub data: &'a Path,
    /// Split of a JSON prompt file to predict.
    pub split: &'a str,
    /// Use only the first N test prompts (0: all).
    pub limit: usize,
    /// Print JSON.
    pub json: bool,
}

/// Runs `hone verify --adapt`: trains on `data` (the `train` split of a JSON file; of a
/// text file, up to [`SHOTS`] labelled prompts per new label and one per known label) and
/// compares the predictions on `split` (JSON) or the remaining prompts (text).
pub fn run(a: &Inputs<'_>) -> Result<()> {
    let blob = crate::blob::read(a.model)?;
    let mut steps = HostSteps::new();
    let model = crate::blob::load(a.model, &blob, &mut steps)?;
    let is_json = a.data.extension().is_some_and(|e| e == "json");
    let pool = crate::prompts::load(a.data, "train")?;
    let known = |l: &str| (0..model.num_classes()).any(|c| model.labels().get(c) == Some(l));
    let mut train: Vec<(String, String)> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    for p in &pool {
        let Some(label) = &p.label else {
            rest.push(p.text.clone());
            continue;
        };
        let have = train.iter().filter(|(_, l)| l == label).count();
        let want = if known(label) { 1 } else { SHOTS };
        if have < want && train.len() < EXAMPLES {
            train.push((p.text.clone(), label.clone()));
        } else {
            rest.push(p.text.clone());
        }
    }
    let mut test: Vec<String> = if is_json {
        crate::prompts::load(a.data, a.split)?
            .into_iter()
            .map(|p| p.text)
            .collect()
    } else {
        rest
    };
    if a.limit > 0 {
        test.truncate(a.limit);
    }
    let s = check(&model, &train, &test, 100)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        outln!(
            "examples           {} ({} new classes)",
            s.examples,
            s.new_classes
        );
        outln!(
            "objective          {:.5} -> {:.5} over {} steps",
            s.first_loss,
            s.last_loss,
            s.steps
        );
        outln!(
            "max rel. diff      {:.3e} (tolerance {:.0e})",
            s.max_rel_loss_diff,
            s.tolerance
        );
        outln!(
            "same predictions   {}/{}",
            s.same_predictions,
            s.test_prompts
        );
        outln!("{}", if s.ok { "PASS" } else { "FAIL" });
    }
    if !s.ok {
        bail!("runtime and reference fine-tuning disagree");
    }
    Ok(())
}

fn config() -> TrainConfig {
    TrainConfig {
        optimizer: Optimizer::ADAM,
        lr: 0.02,
        schedule: Schedule::Linear { end: 0.2 },
        epochs: 1,
        batch: 8,
        l2: 0.01,
        reduction: Reduction::Mean,
        class_balanced: true,
        label_smoothing: 0.05,
        clip_norm: 5.0,
        seed: 0x2545_f491,
        validation: Validation::None,
        max_norm: 0.0,
    }
}

fn check_with<const F: usize>(
    model: &Model<'_>,
    train: &[(String, String)],
    test: &[String],
    steps: usize,
) -> Result<AdaptSummary> {
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = Runner::new(model, &mut scratch)?;
    let mut head = Head::<NEW, F>::new(model).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut store = Box::new(Store::<EXAMPLES, F>::new());
    for (text, label) in train.iter().take(EXAMPLES) {
        let c = head
            .class_id(label)
            .map_err(|e| anyhow::anyhow!("label {label:?}: {e}"))?;
        match store.collect(&mut runner, &head, text, c) {
            Ok(_) | Err(hone::adapt::AdaptError::EmptyPrompt) => {}
            Err(e) => bail!("prompt {text:?}: {e}"),
        }
    }
    if store.is_empty() {
        bail!("no usable labelled prompt");
    }
    head.imprint_all(&store);
    let cfg = config();
    let problem = reference_problem(&head, &store, &cfg);
    let mut reference = nll::Trainer::new(problem, adam(), f64::from(cfg.clip_norm));
    let mut ws = Box::new(Workspace::<NEW, F, EXAMPLES, 2>::new());
    let mut trainer =
        Trainer::new(&mut head, &store, &mut ws, cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut worst, mut first, mut last) = (0.0f64, f64::NAN, f64::NAN);
    let mut step = 0;
    while step < steps {
        let order: Vec<u16> = trainer.shuffle().to_vec();
        for batch in order.chunks(usize::from(cfg.batch)) {
            if step == steps {
                break;
            }
            let lr = cfg.lr * cfg.schedule.factor(step as u32, steps as u32);
            let got = trainer.step(batch, lr);
            let idx: Vec<usize> = batch.iter().map(|&i| usize::from(i)).collect();
            let want = reference.step(&idx, f64::from(lr));
            let rel = if got.skipped {
                f64::INFINITY
            } else {
                (f64::from(got.loss) - want).abs() / want.abs().max(1e-3)
            };
            worst = worst.max(rel);
            if step == 0 {
                first = want;
            }
            last = want;
            step += 1;
        }
    }
    let mut logp = vec![0.0f32; head.num_classes()];
    let mut same = 0;
    for text in test {
        let h: Vec<f32> = runner.features(text).to_vec();
        let got = head.classify(&h, &mut logp);
        let h64: Vec<f64> = h.iter().map(|&x| f64::from(x)).collect();
        same += usize::from(got == reference.problem.predict(&h64));
    }
    Ok(AdaptSummary {
        steps,
        examples: store.len(),
        new_classes: head.num_new(),
        first_loss: first,
        last_loss: last,
        max_rel_loss_diff: worst,
        tolerance: TOLERANCE,
        test_prompts: test.len(),
        same_predictions: same,
        ok: worst <= TOLERANCE && same == test.len(),
    })
}

fn adam() -> nll::Optimizer {
    nll::Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    }
}

/// The f64 problem at the trainer's starting point: frozen rows from the blob, enrolled
/// rows and prior centres from the head, the store's f16 features.
fn reference_problem<const F: usize>(
    head: &Head<'_, '_, NEW, F>,
    store: &Store<EXAMPLES, F>,
    cfg: &TrainConfig,
) -> nll::Problem {
    let d = head.dim();
    let k = head.num_classes();
    let labels: Vec<usize> = store.iter().map(|e| usize::from(e.label)).collect();
    nll::Problem {
        w: (0..k)
            .map(|c| (0..d).map(|f| f64::from(head.weight(c, f))).collect())
            .collect(),
        b: (0..k).map(|c| f64::from(head.bias(c))).collect(),
        first_trainable: head.old_classes(),
        anchor: (0..head.num_new())
            .filter_map(|j| head.new_row(j))
            .map(|(_, _, a)| a.iter().map(|x| f64::from(x.to_f32())).collect())
            .collect(),
        anchor_b: (0..head.num_new())
            .filter_map(|j| head.prior_bias(j))
            .map(f64::from)
            .collect(),
        feats: store
            .iter()
            .map(|e| e.feat[..d].iter().map(|x| f64::from(x.to_f32())).collect())
            .collect(),
        weights: nll::class_weights(&labels),
        labels,
        l2: f64::from(cfg.l2),
        smoothing: f64::from(cfg.label_smoothing),
        reduction: nll::Reduction::Mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hone_build::testutil::{tiny_model, tiny_transformer, LABELS};

    fn data() -> (Vec<(String, String)>, Vec<String>) {
        let train = [
            ("what is the weather today", "weather"),
            ("weather today please", "weather"),
            ("is the weather on", "weather"),
            ("volume up", "volume"),
            ("volume down please", "volume"),
            ("turn the volume up", "volume"),
            ("turn the lights off", LABELS[0]),
            ("play music", LABELS[2]),
            ("set a timer for 5 minutes", LABELS[3]),
        ];
        let test = [
            "the weather",
            "volume down",
            "lights on please",
            "play a song",
            "",
        ];
        (
            train
                .iter()
                .map(|(t, l)| (t.to_string(), l.to_string()))
                .collect(),
            test.iter().map(|t| t.to_string()).collect(),
        )
    }

    #[test]
    fn runtime_and_reference_agree_over_100_steps() {
        let (train, test) = data();
        for blob in [tiny_model().unwrap(), tiny_transformer().unwrap()] {
            let mut steps = HostSteps::new();
            let m = Model::load(&blob, &mut steps).unwrap();
            let s = check(&m, &train, &test, 100).unwrap();
            eprintln!("{s:?}");
            assert!(s.ok, "{s:?}");
            assert_eq!((s.steps, s.examples, s.new_classes), (100, 9, 2));
            assert_eq!(s.same_predictions, test.len());
            assert!(s.last_loss < s.first_loss);
        }
    }

    #[test]
    fn too_many_new_labels_are_an_error() {
        let blob = tiny_model().unwrap();
        let mut steps = HostSteps::new();
        let m = Model::load(&blob, &mut steps).unwrap();
        let train: Vec<(String, String)> = (0..=NEW)
            .map(|i| ("play music".to_string(), format!("new{i}")))
            .collect();
        assert!(check(&m, &train, &[], 10).is_err());
        assert!(check(&m, &[], &[], 10).is_err());
    }

    #[test]
    fn the_command_trains_on_a_labelled_text_file_and_passes() {
        let dir = std::env::temp_dir().join(format!("hone-verify-adapt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("m.hone");
        std::fs::write(&model, tiny_transformer().unwrap()).unwrap();
        let (train, test) = data();
        let data = dir.join("p.txt");
        let mut text = String::new();
        for (t, l) in &train {
            text.push_str(&format!("{t}\t{l}\n"));
        }
        for t in test.iter().filter(|t| !t.is_empty()) {
            text.push_str(&format!("{t}\n"));
        }
        std::fs::write(&data, text).unwrap();
        let args = Inputs {
            model: &model,
            data: &data,
            split: "test",
            limit: 0,
            json: true,
        };
        run(&args).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
