//! `hone export`: float checkpoint → calibrated, quantised `.hone` blob.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hone_reference::calib::Ranges;
use hone_reference::checkpoint::read_labels;
use hone_reference::{Overrides, Pooling, Reference};

use crate::{progress, prompts, quantize, vocab};

/// Export a float checkpoint to a `.hone` blob.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  hone export --checkpoint ckpt/ --calibration train.txt -o model.hone
  hone export --checkpoint all-MiniLM-L6-v2/ --pooling mean --max-len 64 \\
      --calibration data_full.json --calibration-split train -o minilm.hone
  hone export --checkpoint ckpt/ --calibration train.txt --prune-vocab corpus.txt -o small.hone

The checkpoint directory holds config.json (Hugging Face BERT or hone-checkpoint schema),
model.safetensors (f32/f16/bf16) and tokenizer.json; see host-tools/hone-cli/EXPORT.md.")]
pub struct ExportArgs {
    /// Checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output blob.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Calibration prompts: a text file (one per line) or a CLINC-style JSON file.
    /// Defaults to the --prune-vocab corpus.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Split of a JSON calibration file.
    #[arg(long, default_value = "train")]
    pub calibration_split: String,
    /// Use at most this many calibration prompts (evenly spaced through the file).
    #[arg(long, default_value_t = 2000)]
    pub calibration_limit: usize,
    /// Activation ranges clip to this percentile (100 = exact min/max).
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
    /// Maximum tokens per prompt (with `[CLS]`/`[SEP]`); default from the config (BERT: 128).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Keep only the tokens this corpus uses (plus every single character and ##character).
    #[arg(long)]
    pub prune_vocab: Option<PathBuf>,
    /// Pooling for Hugging Face BERT checkpoints: mean, cls or max (overrides the config).
    #[arg(long)]
    pub pooling: Option<Pooling>,
    /// L2-normalise the features before the head (overrides the config).
    #[arg(long)]
    pub normalize: bool,
    /// Class names, one per line (for a checkpoint without labels in its config).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// BERT encoders: which residual blocks compute `LayerNorm(residual + W·x + b)` as one
    /// fused op from the int32 accumulators in f32 (format v2), instead of quantising the
    /// FC output and the residual sum to int8 (format v1 ops).
    #[arg(long, value_enum, default_value = "all")]
    pub fuse: quantize::Fuse,
    /// Same as `--fuse none`: only format-v1 ops (for comparison).
    #[arg(long, conflicts_with = "fuse")]
    pub no_fuse: bool,
    /// Model name stored in the blob (default: the config's).
    #[arg(long)]
    pub name: Option<String>,
    /// Also report, on this many calibration prompts, how much quantising each activation
    /// tensor alone costs in feature cosine (diagnostic; see `sensitivity.rs`).
    #[arg(long, default_value_t = 0)]
    pub sensitivity: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Evenly spaced subset of at most `limit` items (deterministic).
fn spread<T: Clone>(items: &[T], limit: usize) -> Vec<T> {
    if items.len() <= limit || limit == 0 {
        return items.to_vec();
    }
    (0..limit)
        .map(|i| items[i * items.len() / limit].clone())
        .collect()
}

/// Runs the reference over `texts`, recording activation ranges.
pub fn calibrate(r: &Reference, texts: &[String]) -> Ranges {
    let mut ranges = Ranges::new();
    let bar = progress::bar(texts.len() as u64, "calibrating");
    for t in texts {
        r.run(t, &mut ranges);
        bar.inc(1);
    }
    bar.finish_and_clear();
    ranges
}

/// Runs `hone export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    if !(50.0..=100.0).contains(&a.percentile) {
        bail!("--percentile must be in [50, 100], got {}", a.percentile);
    }
    let overrides = Overrides {
        pooling: a.pooling,
        normalize: a.normalize.then_some(true),
        max_len: a.max_len,
        labels: a.labels.as_deref().map(read_labels).transpose()?,
    };
    let r = Reference::load(&a.checkpoint, &overrides)
        .with_context(|| format!("loading checkpoint {}", a.checkpoint.display()))?;
    let corpus: Option<Vec<String>> = match &a.prune_vocab {
        Some(p) => Some(
            prompts::load(p, &a.calibration_split)
                .context("reading the --prune-vocab corpus")?
                .into_iter()
                .map(|p| p.text)
                .collect(),
        ),
        None => None,
    };
    let calib: Vec<String> = match (&a.calibration, &corpus) {
        (Some(p), _) => prompts::load(p, &a.calibration_split)
            .context("reading the calibration file")?
            .into_iter()
            .map(|p| p.text)
            .collect(),
        (None, Some(c)) => c.clone(),
        (None, None) => bail!("export needs calibration prompts: give --calibration FILE"),
    };
    let calib = spread(&calib, a.calibration_limit);
    let ranges = calibrate(&r, &calib);
    if a.sensitivity > 0 {
        let n = a.sensitivity.min(calib.len());
        let rows = crate::sensitivity::analyse(&r, &ranges, a.percentile, &calib[..n]);
        crate::sensitivity::print(&rows, &ranges, a.percentile);
    }
    let keep = corpus.as_ref().map(|c| vocab::corpus_keep(&r.tokenizer, c));
    let plan = vocab::plan(
        &r.tokenizer.settings,
        r.config().add_special_tokens,
        keep.as_ref(),
    )?;
    let vocab_len = plan.spec.vocab.len();
    let name = a.name.clone().unwrap_or_else(|| r.config().name.clone());
    let fuse = if a.no_fuse {
        quantize::Fuse::None
    } else {
        a.fuse
    };
    let blob = quantize::build(&r, &ranges, a.percentile, plan, &name, fuse)?;
    std::fs::write(&a.output, &blob)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    let version = u16::from_le_bytes([blob[4], blob[5]]);
    if a.json {
        let v = serde_json::json!({
            "output": a.output,
            "bytes": blob.len(),
            "format_version": version,
            "vocab": vocab_len,
            "calibration_prompts": calib.len(),
            "percentile": a.percentile,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!(
            "wrote {} ({} bytes, format v{version}, {} tokens, calibrated on {} prompts at \
             percentile {})",
            a.output.display(),
            blob.len(),
            vocab_len,
            calib.len(),
            a.percentile
        );
    }
    Ok(())
}
