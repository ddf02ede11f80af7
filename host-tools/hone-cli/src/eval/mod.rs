//! `hone eval`: the evaluation protocol of the shipped model on an intent data set in the
//! CLINC150 layout — full-data and 5-shot heads on the runtime's features, enrolment of a
//! held-out domain through the on-device adaptation code, out-of-scope rejection, and the
//! memory the model needs.

mod data;
mod enrol;
mod heads;

use std::path::PathBuf;

use anyhow::{Context, Result};
use hone::adapt::{ram_bytes, TrainConfig};
use hone::{Model, Runner};
use serde_json::json;

pub use data::Dataset;
use enrol::{EnrolResult, Scenario, NEW, SLOTS, STORE};
use heads::{accuracy, oos_rejection, train_lr, LrConfig};

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
    /// Seeds averaged for the 5-shot head.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
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

fn enrol_for_dim(model: &Model<'_>, s: &Scenario<'_>, k: usize) -> Result<(EnrolResult, usize)> {
    let cfg = TrainConfig::default();
    let d = model.feature_dim();
    Ok(match d {
        0..=64 => (
            enrol::run::<64>(model, s, k, cfg)?,
            ram_bytes::<NEW, 64, STORE, SLOTS>(),
        ),
        65..=128 => (
            enrol::run::<128>(model, s, k, cfg)?,
            ram_bytes::<NEW, 128, STORE, SLOTS>(),
        ),
        129..=256 => (
            enrol::run::<256>(model, s, k, cfg)?,
            ram_bytes::<NEW, 256, STORE, SLOTS>(),
        ),
        _ => (
            enrol::run::<384>(model, s, k, cfg)?,
            ram_bytes::<NEW, 384, STORE, SLOTS>(),
        ),
    })
}

/// Runs `hone eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let blob = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let model =
        Model::from_bytes(&blob).map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let ds = Dataset::load(&args.data)?;
    let classes = ds.intents.len();
    let train = features(&model, &ds.train.prompts, "train features");
    let val = features(&model, &ds.val.prompts, "val features");
    let test = features(&model, &ds.test.prompts, "test features");
    let lr = LrConfig::default();
    let full = train_lr(&train, &ds.train.labels, classes, lr, 1);
    let full_acc = accuracy(&full, &test, &ds.test.labels);
    let full_val = accuracy(&full, &val, &ds.val.labels);
    let mut five = Vec::new();
    for seed in 0..args.seeds.max(1) {
        let shot = ds.k_shot(5, seed);
        let f: Vec<Vec<f32>> = shot.iter().map(|&i| train[i].clone()).collect();
        let y: Vec<usize> = shot.iter().map(|&i| ds.train.labels[i]).collect();
        let h = train_lr(&f, &y, classes, LrConfig { epochs: 100, ..lr }, seed + 7);
        five.push(accuracy(&h, &test, &ds.test.labels));
    }
    let five_acc = five.iter().sum::<f64>() / five.len() as f64;
    let oos = if ds.oos_test.is_empty() {
        None
    } else {
        let oos_test = features(&model, &ds.oos_test, "oos features");
        Some(oos_rejection(
            &full,
            (&val, &ds.val.labels),
            (&test, &ds.test.labels),
            &oos_test,
            0.02,
        ))
    };
    let mut enrol = Vec::new();
    let mut adapt_ram = 0;
    if let Some(domain) = ds.domains.get(&args.enrol_domain) {
        for k in [5usize, 10] {
            let shot = ds.k_shot(k, 0);
            let scenario = Scenario {
                enrol: domain
                    .iter()
                    .map(|&i| {
                        let feats = shot
                            .iter()
                            .filter(|&&j| ds.train.labels[j] == i)
                            .map(|&j| train[j].as_slice())
                            .collect();
                        (ds.intents[i].clone(), feats)
                    })
                    .collect(),
                test: test
                    .iter()
                    .zip(&ds.test.labels)
                    .map(|(f, &l)| (f.as_slice(), ds.intents[l].as_str()))
                    .collect(),
            };
            let (r, ram) = enrol_for_dim(&model, &scenario, k)?;
            adapt_ram = ram;
            enrol.push(r);
        }
    }
    let scratch = model.scratch_bytes();
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
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "model {} ({} bytes flash, {} bytes scratch + {} bytes adaptation RAM)",
        model.name(),
        blob.len(),
        scratch,
        adapt_ram
    );
    println!(
        "data  {} ({} intents, {} train / {} test prompts)",
        args.data.display(),
        classes,
        ds.train.len(),
        ds.test.len()
    );
    println!(
        "full-data head accuracy      {:.4} (val {:.4})",
        full_acc, full_val
    );
    println!(
        "5-shot head accuracy         {:.4} (mean of {} selections)",
        five_acc,
        five.len()
    );
    for r in &enrol {
        println!(
            "enrol `{}` K={:<2}  new {:.4}  old {:.4} (before {:.4})  all {:.4}{}",
            args.enrol_domain,
            r.k,
            r.new,
            r.old,
            r.old_before,
            r.all,
            if r.rolled_back { "  [rolled back]" } else { "" }
        );
    }
    if enrol.is_empty() {
        println!(
            "enrolment: no domain `{}` in this data set (omitted)",
            args.enrol_domain
        );
    }
    match oos {
        Some(o) => println!(
            "out-of-scope recall {:.4} at p < {:.3} (in-scope acc {:.4} vs {:.4} without rejection)",
            o.recall, o.threshold, o.in_scope_acc, o.in_scope_acc_no_reject
        ),
        None => println!("out-of-scope: no oos_* prompts (omitted)"),
    }
    Ok(())
}
