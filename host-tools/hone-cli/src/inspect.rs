//! `hone inspect`: what a blob costs — layers, flash, scratch RAM, MACs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use hone::format::TensorRec;
use hone::ops::Op;
use hone::Model;
use hone_build::HostSteps;
use serde::Serialize;

/// Describe a `.hone` blob: layer table, flash and RAM, MACs per inference.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  hone inspect model.hone
  hone inspect model.hone --seq-len 12 --json

MACs count the multiply-accumulates of dense layers, attention (QK and PV) and the head at
the given sequence length (default: the model's max_len).")]
pub struct InspectArgs {
    /// The blob.
    pub model: PathBuf,
    /// Sequence length (tokens, with `[CLS]`/`[SEP]`) for the MAC count: 1 to the model's
    /// max_len.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub seq_len: Option<u16>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Verify a signed envelope with this public key (`hone.pub` from `hone keygen`);
    /// fails on a bad signature, a wrong key or a damaged envelope.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

/// One row of the layer table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Layer {
    /// Op index.
    pub index: usize,
    /// Op kind.
    pub op: String,
    /// Input shape(s), `L` standing for the sequence length.
    pub input: String,
    /// Output shape.
    pub output: String,
    /// Parameters (weights, biases, tables).
    pub params: u64,
    /// Bytes of parameters in the blob.
    pub bytes: u64,
    /// Multiply-accumulates at the given sequence length.
    pub macs: u64,
}

/// The whole report (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Model name.
    pub name: String,
    /// The blob's format version (`models/FORMAT.md`).
    pub format_version: u16,
    /// Blob size: everything the device keeps in flash for the model.
    pub flash_bytes: u64,
    /// Bytes of operation parameters (weights, tables).
    pub weight_bytes: u64,
    /// Bytes of the tokenizer vocabulary.
    pub vocab_bytes: u64,
    /// Exact scratch RAM for one inference (`Model::scratch_bytes`).
    pub scratch_bytes: u64,
    /// Activation arena inside the scratch.
    pub arena_bytes: u64,
    /// MACs per inference at `seq_len`.
    pub macs: u64,
    /// Sequence length of the MAC count.
    pub seq_len: usize,
    /// Longest sequence the model takes.
    pub max_len: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Classes of the head.
    pub classes: usize,
    /// Feature width (head input).
    pub features: usize,
    /// Total parameters.
    pub params: u64,
    /// RAM of on-device adaptation (enrolled rows and their priors, f16 example store,
    /// Adam state, best-head snapshot, caches) of a `hone::adapt::Session` (16 new classes ×
    /// 10 examples), in a build whose feature capacity is `adapt_feature_capacity`
    /// (`hone::adapt::ram_bytes_for_dim`); `null` past the largest capacity.
    pub adapt_ram_bytes: Option<u64>,
    /// The feature capacity `F` of that build (the smallest bucket ≥ `features`).
    pub adapt_feature_capacity: Option<usize>,
    /// Layer table.
    pub layers: Vec<Layer>,
}

fn shape(t: Option<TensorRec>) -> String {
    match t {
        Some(t) if t.per_token => format!("L×{}", t.cols),
        Some(t) => format!("1×{}", t.cols),
        None => "?".into(),
    }
}

fn rows(t: Option<TensorRec>, seq: usize) -> u64 {
    t.map_or(0, |t| if t.per_token { seq as u64 } else { 1 })
}

fn cols(t: Option<TensorRec>) -> u64 {
    t.map_or(0, |t| u64::from(t.cols))
}

/// Describes op `i`.
pub fn layer(m: &Model<'_>, index: usize, op: &Op<'_>, seq: usize) -> Layer {
    let t = |id: u16| m.tensor(id);
    let n = |b: &[u8]| b.len() as u64;
    let (name, input, output, params, bytes, macs) = match *op {
        Op::Embedding(hone::ops::Embedding {
            out,
            table,
            row_requant,
            positions,
            ..
        }) => {
            let rr = row_requant.map_or(0, |r| n(r.multipliers) + n(r.shifts));
            let pos = positions.map_or(0, |p| n(p.table));
            let name = if positions.is_some() {
                "Embedding+Positions"
            } else {
                "Embedding"
            };
            let input = format!("L ids / {}", m.tokenizer().vocab().len());
            (
                name,
                input,
                shape(t(out)),
                n(table) + pos,
                n(table) + rr + pos,
                0,
            )
        }
        Op::FullyConnected(hone::ops::FullyConnected {
            input,
            out,
            weights,
            bias,
            multipliers,
            shifts,
            activation,
        }) => {
            let name = match activation {
                hone::ops::Activation::Relu => "FullyConnected+ReLU",
                _ => "FullyConnected",
            };
            let macs = rows(t(input), seq) * cols(t(input)) * cols(t(out));
            let bytes = n(weights) + n(bias) + n(multipliers) + n(shifts);
            let params = n(weights) + n(bias) / 4;
            (name, shape(t(input)), shape(t(out)), params, bytes, macs)
        }
        Op::Add(hone::ops::Add { a, b, out, .. }) => {
            let input = format!("{} + {}", shape(t(a)), shape(t(b)));
            ("Add", input, shape(t(out)), 0, 0, 0)
        }
        Op::LayerNorm(hone::ops::LayerNorm {
            input,
            out,
            gamma,
            beta,
            ..
        }) => {
            let b = n(gamma) + n(beta);
            ("LayerNorm", shape(t(input)), shape(t(out)), b / 4, b, 0)
        }
        Op::Lut(hone::ops::Lut { input, out, table }) => {
            let b = n(table);
            ("Lut", shape(t(input)), shape(t(out)), b, b, 0)
        }
        Op::Attention(hone::ops::Attention {
            q,
            k,
            v,
            out,
            heads,
            ..
        }) => {
            let input = format!("q,k,v {} ({heads} heads)", shape(t(q)));
            let _ = (k, v);
            let macs = 2 * (seq as u64) * (seq as u64) * cols(t(q));
            ("Attention", input, shape(t(out)), 0, 0, macs)
        }
        Op::Pool(hone::ops::Pool {
            input, out, kind, ..
        }) => {
            let name = match kind {
                hone::ops::PoolKind::Mean => "Pool(mean)",
                hone::ops::PoolKind::First => "Pool(first)",
                _ => "Pool(max)",
            };
            (name, shape(t(input)), shape(t(out)), 0, 0, 0)
        }
        Op::Head(hone::ops::Head {
            input,
            weights,
            bias,
            normalize,
        }) => {
            let name = if normalize { "Head(L2-norm)" } else { "Head" };
            let classes = n(bias) / 4;
            let out = format!("1×{classes}");
            let b = n(weights) + n(bias);
            (
                name,
                shape(t(input)),
                out,
                b / 4,
                b,
                classes * cols(t(input)),
            )
        }
        Op::FcAddNorm(hone::ops::FcAddNorm {
            input,
            residual,
            out,
            weights,
            bias,
            scales,
            gamma,
            beta,
            ..
        }) => {
            let macs = rows(t(input), seq) * cols(t(input)) * cols(t(out));
            let bytes = n(weights) + n(bias) + n(scales) + n(gamma) + n(beta);
            let params = n(weights) + (n(bias) + n(gamma) + n(beta)) / 4;
            let input = format!("{} + {}", shape(t(input)), shape(t(residual)));
            (
                "FC+Add+LayerNorm",
                input,
                shape(t(out)),
                params,
                bytes,
                macs,
            )
        }
        _ => ("?", String::new(), String::new(), 0, 0, 0),
    };
    Layer {
        index,
        op: name.to_string(),
        input,
        output,
        params,
        bytes,
        macs,
    }
}

/// Builds the report for `blob` (read from `path`) at sequence length `seq` (default and
/// most: max_len).
pub fn report(path: &Path, blob: &[u8], seq: Option<u16>) -> Result<Report> {
    let mut steps = HostSteps::new();
    let m = crate::blob::load(path, blob, &mut steps)?;
    let seq = match seq.map(usize::from) {
        None => m.max_len(),
        Some(s) if (1..=m.max_len()).contains(&s) => s,
        Some(s) => bail!(
            "--seq-len {s} is outside 1..={} (the max_len of {})",
            m.max_len(),
            path.display()
        ),
    };
    let layers: Vec<Layer> = m
        .ops()
        .enumerate()
        .map(|(i, op)| layer(&m, i, &op, seq))
        .collect();
    let v = m.desc().tokenizer.vocab;
    let adapt = hone::adapt::ram_bytes_for_dim(m.feature_dim(), 2);
    Ok(Report {
        name: m.name().to_string(),
        format_version: m.format_version(),
        flash_bytes: blob.len() as u64,
        weight_bytes: layers.iter().map(|l| l.bytes).sum(),
        vocab_bytes: (v.offsets.len() + v.text.len()) as u64,
        scratch_bytes: m.scratch_bytes() as u64,
        arena_bytes: m.arena_bytes() as u64,
        macs: layers.iter().map(|l| l.macs).sum(),
        seq_len: seq,
        max_len: m.max_len(),
        vocab: m.tokenizer().vocab().len(),
        classes: m.num_classes(),
        features: m.feature_dim(),
        params: layers.iter().map(|l| l.params).sum(),
        adapt_ram_bytes: adapt.map(|(_, b)| b as u64),
        adapt_feature_capacity: adapt.map(|(f, _)| f),
        layers,
    })
}

/// Runs `hone inspect`.
pub fn run(a: &InspectArgs) -> Result<()> {
    let blob = crate::blob::read(&a.model)?;
    let (blob, signed) = crate::sign::open(&blob, a.public_key.as_deref())
        .with_context(|| a.model.display().to_string())?;
    let r = report(&a.model, blob, a.seq_len)?;
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        if let (Some(s), Some(o)) = (signed, v.as_object_mut()) {
            o.insert("signed".into(), serde_json::to_value(s)?);
        }
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match signed {
        Some(s) if s.verified => {
            outln!("signed model version {}: signature verified", s.version)
        }
        Some(s) => outln!(
            "signed model version {}: signature NOT verified (pass --public-key)",
            s.version
        ),
        None => {}
    }
    outln!(
        "{} (format v{}): {} classes, {} features, vocab {}, max_len {}",
        r.name,
        r.format_version,
        r.classes,
        r.features,
        r.vocab,
        r.max_len
    );
    outln!(
        "{:>3}  {:<20} {:<26} {:<10} {:>10} {:>10} {:>12}",
        "#",
        "op",
        "input",
        "output",
        "params",
        "bytes",
        "MACs"
    );
    for l in &r.layers {
        outln!(
            "{:>3}  {:<20} {:<26} {:<10} {:>10} {:>10} {:>12}",
            l.index,
            l.op,
            l.input,
            l.output,
            l.params,
            l.bytes,
            l.macs
        );
    }
    outln!(
        "flash {} bytes (weights {}, vocabulary {}), scratch RAM {} bytes (arena {}), \
         {} params, {} MACs at {} tokens",
        r.flash_bytes,
        r.weight_bytes,
        r.vocab_bytes,
        r.scratch_bytes,
        r.arena_bytes,
        r.params,
        r.macs,
        r.seq_len
    );
    if let (Some(b), Some(f)) = (r.adapt_ram_bytes, r.adapt_feature_capacity) {
        outln!(
            "adaptation RAM {b} bytes (16 new classes x 10 examples, Adam, feature capacity {f})"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_report_states_the_adaptation_ram() {
        let blob = hone_build::testutil::tiny_transformer().unwrap();
        let r = report(Path::new("tiny.hone"), &blob, None).unwrap();
        assert_eq!(r.features, 16);
        assert_eq!(r.adapt_feature_capacity, Some(16));
        let want = hone::adapt::ram_bytes::<16, 16, 160, 2>() as u64;
        assert_eq!(r.adapt_ram_bytes, Some(want));
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["adapt_ram_bytes"], want);
        // The test transformer's FFN output, residual and LayerNorm are one fused op.
        assert_eq!(r.format_version, 2);
        let fused: Vec<&Layer> = r
            .layers
            .iter()
            .filter(|l| l.op == "FC+Add+LayerNorm")
            .collect();
        assert_eq!(fused.len(), 1);
        assert_eq!(fused[0].input, "L×32 + L×16");
        assert_eq!(fused[0].output, "L×16");
        assert_eq!(fused[0].macs, 24 * 32 * 16);
        assert_eq!(fused[0].params, 32 * 16 + 3 * 16);
    }
}
