//! `hone eval`: the evaluation protocol of the shipped model on an intent data set in the
//! CLINC150 layout — full-data and 5-shot heads on the runtime's features, enrolment of a
//! held-out domain through the on-device adaptation code, out-of-scope rejection, and the
//! memory the model needs.

mod data;
mod enrol;
mod heads;

use hone_build::HostSteps;
use std::path::PathBuf;

use anyhow::{bail, Result};
use hone::adapt::{
    ram_bytes, with_feature_capacity, Calibration, CapacityFn, TrainConfig, Validation, MAX_BATCH,
    MAX_EPOCHS,
};
use hone::Model;
use hone::Runner;
use serde_json::json;

pub use data::Dataset;
use enrol::{EnrolResult, EnrolSummary, Scenario, NEW, SLOTS, STORE};
use heads::{accuracy, oos_rejection, train_lr, LrConfig};

use crate::args::{non_negative, positive, unit_open, Parsed};

/// Arguments of `hone eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Directory with `data_full.json` and `domains.json` (CLINC150 layout).
    #[arg(long)]
    pub data: PathBuf,
    /// The model blob.
    #[arg(long, default_value = crate::DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Domain whose intents are enrolled on the device (must be absent from the model's head).
    #[arg(long, default_value = "home")]
    pub enrol_domain: String,
    /// Seeds averaged for the 5-shot head and the enrolment (selections of the K prompts;
    /// at least 1).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Scale of imprinted rows: `old-norm` (the old rows' mean norm) or a logit margin in
    /// nats over the best old class (finite, ≥ 0, e.g. `1.0`); the device default is
    /// `old-norm`.
    #[arg(long, default_value = "old-norm", value_parser = parse_imprint)]
    pub imprint: Parsed<Calibration>,
    /// λ of the enrolment prior, ≥ 0 (default: the device default).
    #[arg(long, value_parser = non_negative)]
    pub enrol_l2: Option<f32>,
    /// Enrolment epochs, at most 128 (default: the device default).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=MAX_EPOCHS as i64))]
    pub enrol_epochs: Option<u16>,
    /// Enrolment learning rate, > 0 (default: the device default).
    #[arg(long, value_parser = positive)]
    pub enrol_lr: Option<f32>,
    /// Enrolment mini-batch size, 1 to 32 (default: the device default).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_BATCH as i64))]
    pub enrol_batch: Option<u16>,
    /// Enrolment gradient clipping norm, ≥ 0, 0 for none (default: the device default).
    #[arg(long, value_parser = non_negative)]
    pub enrol_clip: Option<f32>,
    /// Enrolment label smoothing, in [0, 1) (default: the device default).
    #[arg(long, value_parser = unit_open)]
    pub enrol_smoothing: Option<f32>,
    /// Cap on new rows' norms relative to the old rows' mean norm, ≥ 0 (default: the device
    /// default).
    #[arg(long, value_parser = non_negative)]
    pub enrol_max_norm: Option<f32>,
    /// Enrolment validation: `none`, `holdout:N` (every N-th prompt of a class) or `kfold:N`,
    /// N ≥ 2 (default: the device default).
    #[arg(long, value_parser = parse_validation)]
    pub enrol_validation: Option<Parsed<Validation>>,
    /// Split the enrolment is measured on (`val` to choose settings, `test` to report).
    #[arg(long, default_value = "test", value_parser = ["val", "test"])]
    pub enrol_split: String,
    /// Only the enrolment scenario (skip the full-data, k-shot and out-of-scope heads).
    #[arg(long)]
    pub only_enrol: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runtime features of every prompt (dequantised pooled vector, as the device computes it).
pub fn features(model: &Model<'_>, prompts: &[String], what: &str) -> Vec<Vec<f32>> {
    let mut scratch = vec![0u32; model.scratch_words()];
    let Ok(mut runner) = Runner::new(model, &mut scratch) else {
        unreachable!("scratch sized by the model");
    };
    let bar = crate::progress::bar(prompts.len() as u64, what);
    let out = prompts
        .iter()
        .map(|p| {
            bar.inc(1);
            runner.features(p).to_vec()
        })
        .collect();
    bar.finish_and_clear();
    out
}

fn enrol_for_dim(
    model: &Model<'_>,
    s: &Scenario<'_>,
    k: usize,
    args: &EvalArgs,
) -> Result<(EnrolResult, usize)> {
    let mut cfg = TrainConfig::default();
    cfg.l2 = args.enrol_l2.unwrap_or(cfg.l2);
    cfg.epochs = args.enrol_epochs.unwrap_or(cfg.epochs);
    cfg.lr = args.enrol_lr.unwrap_or(cfg.lr);
    cfg.batch = args.enrol_batch.unwrap_or(cfg.batch);
    cfg.clip_norm = args.enrol_clip.unwrap_or(cfg.clip_norm);
    cfg.label_smoothing = args.enrol_smoothing.unwrap_or(cfg.label_smoothing);
    cfg.max_norm = args.enrol_max_norm.unwrap_or(cfg.max_norm);
    if let Some(v) = &args.enrol_validation {
        cfg.validation = v.value;
    }
    let cal = args.imprint.value;
    struct Enrol<'e, 'm> {
        model: &'e Model<'m>,
        s: &'e Scenario<'e>,
        k: usize,
        cfg: TrainConfig,
        cal: Calibration,
    }
    impl CapacityFn<Result<(EnrolResult, usize)>> for Enrol<'_, '_> {
        fn call<const F: usize>(self) -> Result<(EnrolResult, usize)> {
            Ok((
                enrol::run::<F>(self.model, self.s, self.k, self.cfg, self.cal)?,
                ram_bytes::<NEW, F, STORE, SLOTS>(),
            ))
        }
    }
    let e = Enrol {
        model,
        s,
        k,
        cfg,
        cal,
    };
    with_feature_capacity(model.feature_dim(), e)
        .unwrap_or_else(|| bail!("features of {} exceed every capacity", model.feature_dim()))
}

/// Parses `none`, `holdout:N` or `kfold:N` (N from 2 to 255).
fn parse_validation(v: &str) -> Result<Parsed<Validation>, String> {
    let num = |n: &str| -> Result<u8, String> {
        n.parse()
            .ok()
            .filter(|&n| n >= 2)
            .ok_or_else(|| format!("`{n}` is not a number from 2 to 255"))
    };
    let value = match v.split_once(':') {
        None if v == "none" => Validation::None,
        Some(("holdout", n)) => Validation::Holdout { every: num(n)? },
        Some(("kfold", n)) => Validation::KFold { folds: num(n)? },
        _ => return Err("takes `none`, `holdout:N` or `kfold:N`".into()),
    };
    Ok(Parsed {
        text: v.into(),
        value,
    })
}

/// Parses `old-norm` or a finite margin ≥ 0 in nats.
fn parse_imprint(v: &str) -> Result<Parsed<Calibration>, String> {
    let value = match v {
        "old-norm" => Calibration::OldNorm,
        m => Calibration::Margin(
            non_negative(m).map_err(|e| format!("takes `old-norm` or a margin in nats: {e}"))?,
        ),
    };
    Ok(Parsed {
        text: v.into(),
        value,
    })
}

/// Refuses a run that would measure nothing: an empty split it scores on, or only the
/// enrolment of a domain the data set lacks.
fn check_something_to_evaluate(args: &EvalArgs, ds: &Dataset) -> Result<()> {
    let data = args.data.display();
    let enrols = ds.domains.contains_key(&args.enrol_domain);
    if args.only_enrol && !enrols {
        let known: Vec<&str> = ds.domains.keys().map(String::as_str).collect();
        bail!(
            "nothing to evaluate: --only-enrol, and {data}/domains.json has no domain `{}` \
             (it has: {})",
            args.enrol_domain,
            known.join(", ")
        );
    }
    let mut needed = vec![("train", ds.train.len())];
    if !args.only_enrol {
        needed.extend([("val", ds.val.len()), ("test", ds.test.len())]);
    }
    if enrols {
        let split = if args.enrol_split == "val" {
            &ds.val
        } else {
            &ds.test
        };
        needed.push((args.enrol_split.as_str(), split.len()));
    }
    if let Some((name, _)) = needed.iter().find(|(_, n)| *n == 0) {
        bail!("nothing to evaluate on: the `{name}` split of {data}/data_full.json is empty");
    }
    Ok(())
}

/// Runs `hone eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let blob = crate::blob::read(&args.model)?;
    let mut steps = HostSteps::new();
    let model = crate::blob::load(&args.model, &blob, &mut steps)?;
    let ds = Dataset::load(&args.data)?;
    check_something_to_evaluate(args, &ds)?;
    let classes = ds.intents.len();
    let train = features(&model, &ds.train.prompts, "train features");
    let val = features(&model, &ds.val.prompts, "val features");
    let test = features(&model, &ds.test.prompts, "test features");
    let heads = (!args.only_enrol).then(|| {
        let lr = LrConfig::default();
        let full = train_lr(&train, &ds.train.labels, classes, lr, 1);
        let full_acc = accuracy(&full, &test, &ds.test.labels);
        let full_val = accuracy(&full, &val, &ds.val.labels);
        let mut five = Vec::new();
        for seed in 0..args.seeds {
            let shot = ds.k_shot(5, seed);
            let f: Vec<Vec<f32>> = shot.iter().map(|&i| train[i].clone()).collect();
            let y: Vec<usize> = shot.iter().map(|&i| ds.train.labels[i]).collect();
            let h = train_lr(&f, &y, classes, LrConfig { epochs: 100, ..lr }, seed + 7);
            five.push(accuracy(&h, &test, &ds.test.labels));
        }
        let five_acc = five.iter().sum::<f64>() / five.len() as f64;
        let oos = (!ds.oos_test.is_empty()).then(|| {
            let oos_test = features(&model, &ds.oos_test, "oos features");
            oos_rejection(
                &full,
                (&val, &ds.val.labels),
                (&test, &ds.test.labels),
                &oos_test,
                0.02,
            )
        });
        (full_acc, full_val, five_acc, five, oos)
    });
    let (eval_feats, eval_labels) = match args.enrol_split.as_str() {
        "val" => (&val, &ds.val.labels),
        _ => (&test, &ds.test.labels),
    };
    let mut enrol = Vec::new();
    let mut adapt_ram = 0;
    if let Some(domain) = ds.domains.get(&args.enrol_domain) {
        for k in [5usize, 10] {
            let mut runs = Vec::new();
            for seed in 0..args.seeds {
                let shot = ds.k_shot(k, seed);
                let scenario = Scenario {
                    enrol: domain
                        .iter()
                        .map(|&i| {
                            let prompts = shot
                                .iter()
                                .filter(|&&j| ds.train.labels[j] == i)
                                .map(|&j| ds.train.prompts[j].as_str())
                                .collect();
                            (ds.intents[i].clone(), prompts)
                        })
                        .collect(),
                    test: eval_feats
                        .iter()
                        .zip(eval_labels)
                        .map(|(f, &l)| (f.as_slice(), ds.intents[l].as_str()))
                        .collect(),
                };
                let (r, ram) = enrol_for_dim(&model, &scenario, k, args)?;
                adapt_ram = ram;
                runs.push(r);
            }
            enrol.push(EnrolSummary::of(k, runs));
        }
    }
    let scratch = model.scratch_bytes();
    let (full_acc, full_val, five_acc, five, oos) = match heads {
        Some((a, v, f, runs, o)) => (Some(a), Some(v), Some(f), runs, o),
        None => (None, None, None, Vec::new(), None),
    };
    let report = json!({
        "model": model.name(),
        "data": args.data.display().to_string(),
        "flash_bytes": blob.len(),
        "scratch_bytes": scratch,
        "adapt_ram_bytes": adapt_ram,
        "ram_bytes": scratch + adapt_ram,
        "full_head_acc": full_acc,
        "full_head_val_acc": full_val,
        "five_shot_acc": five_acc,
        "five_shot_runs": five,
        "enrol_domain": ds.domains.contains_key(&args.enrol_domain).then_some(&args.enrol_domain),
        "enrol": enrol.iter().map(|r| (format!("k{}", r.k), json!(r))).collect::<serde_json::Map<_, _>>(),
        "oos_recall": oos.map(|o| o.recall),
        "oos": oos,
        "enrol_settings": {"imprint": args.imprint.text, "l2": args.enrol_l2, "epochs": args.enrol_epochs,
                           "lr": args.enrol_lr, "batch": args.enrol_batch, "clip": args.enrol_clip,
                           "validation": args.enrol_validation.as_ref().map(|v| &v.text),
                           "split": args.enrol_split, "seeds": args.seeds},
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    outln!(
        "model {} ({} bytes flash, {} bytes scratch + {} bytes adaptation RAM)",
        model.name(),
        blob.len(),
        scratch,
        adapt_ram
    );
    outln!(
        "data  {} ({} intents, {} train / {} test prompts)",
        args.data.display(),
        classes,
        ds.train.len(),
        ds.test.len()
    );
    if let (Some(full_acc), Some(full_val), Some(five_acc)) = (full_acc, full_val, five_acc) {
        outln!("full-data head accuracy      {full_acc:.4} (val {full_val:.4})");
        outln!(
            "5-shot head accuracy         {five_acc:.4} (mean of {} selections)",
            five.len()
        );
    }
    let opt = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.4}"));
    for r in &enrol {
        outln!(
            "enrol `{}` K={:<2} ({})  new {:.4}  old {} (before {})  all {:.4}{}",
            args.enrol_domain,
            r.k,
            args.enrol_split,
            r.new,
            opt(r.old),
            opt(r.old_before),
            r.all,
            match r.rolled_back {
                0 => String::new(),
                n => format!("  [rolled back in {n} of {} runs]", r.runs.len()),
            }
        );
    }
    if enrol.is_empty() {
        outln!(
            "enrolment: no domain `{}` in this data set (omitted)",
            args.enrol_domain
        );
    }
    match oos {
        Some(o) => outln!(
            "out-of-scope recall {:.4} at p < {:.3} (in-scope acc {:.4} vs {:.4} without rejection)",
            o.recall, o.threshold, o.in_scope_acc, o.in_scope_acc_no_reject
        ),
        None => outln!("out-of-scope: no oos_* prompts (omitted)"),
    }
    Ok(())
}
