//! `hone verify`: the quantised runtime against the float reference, prompt by prompt.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use hone::ops::{Op, PoolKind};
use hone::Model;
use hone::Runner;
use hone_build::HostSteps;
use hone_reference::math::{argmax, cosine};
use hone_reference::model::NoProbe;
use hone_reference::{Overrides, Pooling, Reference};
use serde::Serialize;

use crate::{progress, prompts};

/// Compare a blob with the float reference on a prompt file.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  hone verify model.hone --reference ckpt/ --data prompts.txt
  hone verify minilm.hone --reference all-MiniLM-L6-v2/ \\
      --data data_full.json --split test --min-cosine 0.98 --json
  hone verify model.hone --adapt --data labelled.txt   # on-device fine-tuning vs f64

Exits with status 1 when the top-1 agreement is below --min-agreement or the mean feature
cosine is below --min-cosine. The reference takes pooling, normalisation, max_len and labels
from the blob.")]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["reference", "adapt"])))]
pub struct VerifyArgs {
    /// The blob.
    pub model: PathBuf,
    /// The float checkpoint the blob was exported from (required, unless --adapt).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Prompts: a text file (one per line, optionally `prompt<TAB>label`) or CLINC JSON.
    #[arg(long)]
    pub data: PathBuf,
    /// Split of a JSON prompt file.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Use only the first N prompts (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Fail below this top-1 agreement (0 to 1).
    #[arg(long, default_value_t = 0.99, value_parser = crate::args::fraction)]
    pub min_agreement: f64,
    /// Fail below this mean feature cosine (-1 to 1).
    #[arg(long, default_value_t = 0.98, value_parser = crate::args::cosine)]
    pub min_cosine: f64,
    /// Worker threads (at least 1).
    #[arg(long, default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Check on-device last-layer fine-tuning instead: the runtime's (f32, f16 features)
    /// against the f64 reference over 100 steps, then the predictions (see `verify_adapt`).
    #[arg(long)]
    pub adapt: bool,
}

/// The comparison's figures (`--json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Prompts compared.
    pub prompts: usize,
    /// Fraction of prompts where both predict the same class.
    pub agreement: f64,
    /// Largest |logit difference| over all prompts and classes.
    pub max_abs_logit_diff: f64,
    /// Mean |logit difference|.
    pub mean_abs_logit_diff: f64,
    /// Mean cosine between the runtime's and the reference's features.
    pub mean_cosine: f64,
    /// Smallest such cosine.
    pub min_cosine: f64,
    /// The prompt with the smallest cosine.
    pub min_cosine_prompt: String,
    /// Prompts whose device tokens differ from the reference tokenizer's.
    pub token_mismatches: usize,
    /// Prompts with a label the head knows.
    pub labelled: usize,
    /// Runtime accuracy on those.
    pub accuracy_runtime: Option<f64>,
    /// Reference accuracy on those.
    pub accuracy_reference: Option<f64>,
    /// Whether the thresholds are met.
    pub pass: bool,
}

#[derive(Debug, Clone, Default)]
struct One {
    agree: bool,
    max_diff: f64,
    sum_diff: f64,
    classes: usize,
    cosine: f64,
    tokens_differ: bool,
    label: Option<usize>,
    pred_rt: usize,
    pred_ref: usize,
}

fn compare(
    model: &Model<'_>,
    r: &Reference,
    ps: &[prompts::Prompt],
    bar: &progress::Bar,
) -> Vec<One> {
    let mut scratch = vec![0u32; model.scratch_words()];
    let Ok(mut runner) = Runner::new(model, &mut scratch) else {
        return Vec::new();
    };
    let head = model.ops().last();
    let labels = model.labels();
    let ref_vocab = &r.tokenizer.settings.vocab;
    ps.iter()
        .map(|p| {
            let feats = runner.features(&p.text).to_vec();
            let dev_tokens: Vec<&str> = runner
                .tokens()
                .iter()
                .map(|&t| model.tokenizer().vocab().token(t).unwrap_or("?"))
                .collect();
            let mut logits = vec![0.0f32; model.num_classes()];
            if let Some(Op::Head(hone::ops::Head { weights, bias, .. })) = head {
                hone::ops::head_logits(weights, bias, &feats, &mut logits);
            }
            let out = r.run(&p.text, &mut NoProbe);
            let ref_tokens: Vec<&str> = out
                .ids
                .iter()
                .map(|&i| ref_vocab.get(i as usize).map_or("?", String::as_str))
                .collect();
            let diffs: Vec<f64> = logits
                .iter()
                .zip(&out.logits)
                .map(|(&a, &b)| f64::from(a - b).abs())
                .collect();
            let label = p
                .label
                .as_deref()
                .and_then(|l| (0..labels.len()).find(|&i| labels.get(i) == Some(l)));
            bar.inc(1);
            One {
                agree: argmax(&logits) == out.label(),
                max_diff: diffs.iter().copied().fold(0.0, f64::max),
                sum_diff: diffs.iter().sum(),
                classes: diffs.len(),
                cosine: cosine(&feats, &out.features),
                tokens_differ: dev_tokens != ref_tokens,
                label,
                pred_rt: argmax(&logits),
                pred_ref: out.label(),
            }
        })
        .collect()
}

/// The reference settings an exported blob implies.
pub fn overrides_of(m: &Model<'_>) -> Overrides {
    let pooling = m.ops().find_map(|op| match op {
        Op::Pool(hone::ops::Pool { kind, .. }) => Some(match kind {
            PoolKind::First => Pooling::First,
            PoolKind::Max => Pooling::Max,
            _ => Pooling::Mean,
        }),
        _ => None,
    });
    let labels = m.labels();
    Overrides {
        pooling,
        normalize: Some(m.normalizes_features()),
        max_len: Some(m.max_len()),
        labels: Some(
            (0..labels.len())
                .filter_map(|i| labels.get(i))
                .map(str::to_string)
                .collect(),
        ),
    }
}

/// Compares `blob` (read from `path`) with the reference at `dir` on `ps` using `jobs`
/// threads.
pub fn summarize(
    path: &Path,
    blob: &[u8],
    dir: &std::path::Path,
    ps: &[prompts::Prompt],
    jobs: usize,
) -> Result<Summary> {
    let mut steps = HostSteps::new();
    let model = crate::blob::load(path, blob, &mut steps)?;
    let r = Reference::load(dir, &overrides_of(&model))
        .with_context(|| format!("loading reference {}", dir.display()))?;
    let bar = progress::bar(ps.len() as u64, "verifying");
    let chunk = ps.len().div_ceil(jobs.max(1)).max(1);
    let results: Vec<One> = std::thread::scope(|s| {
        let handles: Vec<_> = ps
            .chunks(chunk)
            .map(|c| s.spawn(|| compare(&model, &r, c, &bar)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    bar.finish_and_clear();
    if results.len() != ps.len() {
        bail!(
            "internal error: {} of {} prompts compared",
            results.len(),
            ps.len()
        );
    }
    let n = results.len().max(1) as f64;
    let (mut min_cos, mut min_at) = (f64::INFINITY, 0);
    for (i, o) in results.iter().enumerate() {
        if o.cosine < min_cos {
            min_cos = o.cosine;
            min_at = i;
        }
    }
    let labelled: Vec<&One> = results.iter().filter(|o| o.label.is_some()).collect();
    let acc = |f: fn(&One) -> usize| {
        (!labelled.is_empty()).then(|| {
            labelled.iter().filter(|o| Some(f(o)) == o.label).count() as f64 / labelled.len() as f64
        })
    };
    let classes: usize = results.iter().map(|o| o.classes).sum();
    Ok(Summary {
        prompts: results.len(),
        agreement: results.iter().filter(|o| o.agree).count() as f64 / n,
        max_abs_logit_diff: results.iter().map(|o| o.max_diff).fold(0.0, f64::max),
        mean_abs_logit_diff: results.iter().map(|o| o.sum_diff).sum::<f64>()
            / classes.max(1) as f64,
        mean_cosine: results.iter().map(|o| o.cosine).sum::<f64>() / n,
        min_cosine: min_cos,
        min_cosine_prompt: ps.get(min_at).map(|p| p.text.clone()).unwrap_or_default(),
        token_mismatches: results.iter().filter(|o| o.tokens_differ).count(),
        labelled: labelled.len(),
        accuracy_runtime: acc(|o| o.pred_rt),
        accuracy_reference: acc(|o| o.pred_ref),
        pass: false,
    })
}

/// Runs `hone verify`.
pub fn run(a: &VerifyArgs) -> Result<()> {
    if a.adapt {
        return crate::verify_adapt::run(&crate::verify_adapt::Inputs {
            model: &a.model,
            data: &a.data,
            split: &a.split,
            limit: a.limit,
            json: a.json,
        });
    }
    let reference = a.reference.as_ref().context("--reference is required")?;
    let blob = crate::blob::read(&a.model)?;
    let mut ps = prompts::load(&a.data, &a.split)?;
    if a.limit > 0 {
        ps.truncate(a.limit);
    }
    let mut s = summarize(&a.model, &blob, reference, &ps, a.jobs)?;
    s.pass = s.agreement >= a.min_agreement && s.mean_cosine >= a.min_cosine;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        outln!("prompts            {}", s.prompts);
        outln!("top-1 agreement    {:.4}", s.agreement);
        outln!(
            "|logit diff|       max {:.4}, mean {:.4}",
            s.max_abs_logit_diff,
            s.mean_abs_logit_diff
        );
        outln!(
            "feature cosine     mean {:.5}, min {:.5} ({:?})",
            s.mean_cosine,
            s.min_cosine,
            s.min_cosine_prompt
        );
        outln!("token mismatches   {}", s.token_mismatches);
        if let (Some(rt), Some(rf)) = (s.accuracy_runtime, s.accuracy_reference) {
            outln!(
                "accuracy           runtime {rt:.4}, reference {rf:.4} ({} labelled)",
                s.labelled
            );
        }
        outln!("{}", if s.pass { "PASS" } else { "FAIL" });
    }
    if !s.pass {
        bail!(
            "below thresholds: agreement {:.4} (min {}), mean cosine {:.5} (min {})",
            s.agreement,
            a.min_agreement,
            s.mean_cosine,
            a.min_cosine
        );
    }
    Ok(())
}
