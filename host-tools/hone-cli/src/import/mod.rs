//! `hone import`: a TFLite int8 model (`.tflite`) → a hone tensor model (`.hone`).
//!
//! The flatbuffer is read into `hone_tflite`'s graph IR; each operator is then lowered by its
//! own module (one per TFLite operator) in two steps: `check` proves the operator is one hone
//! computes bit for bit as TFLite Micro does (or names what is missing), and `emit` appends
//! the hone op(s) to the builder, folding constants (weights, biases, requantisation).
//! Operators hone does not have yet are refused with their index, name and what is missing.

mod depthwise_conv2d;
mod fully_connected;
mod reshape;
mod softmax;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hone_build::TensorModelBuilder;
use hone_tflite::{BuiltinOp, DType, Graph, Operator};

/// Import a TFLite int8 model as a hone tensor model.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  hone import hello_world_int8.tflite -o hello_world.hone
  hone import model.tflite --report

Imports today, on int8 tensors: FULLY_CONNECTED (fused RELU or none; per-tensor or
per-channel int8 weights; int32 bias), DEPTHWISE_CONV_2D (one NHWC image; per-channel
weights; SAME or VALID padding, strides, dilation, depth multiplier; fused RELU, RELU6,
RELU_N1_TO_1 or none), SOFTMAX (output scale 1/256, zero point −128) and RESHAPE (folded:
no runtime op). Any other operator is refused with its index and name.")]
pub struct ImportArgs {
    /// The `.tflite` file.
    pub model: PathBuf,
    /// Where to write the `.hone` blob.
    #[arg(short, long, required_unless_present = "report")]
    pub out: Option<PathBuf>,
    /// Print the model's inputs, outputs and operators, each marked supported or not, and
    /// write nothing.
    #[arg(long)]
    pub report: bool,
}

/// An operator hone cannot import: which one, and what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Operator index in the subgraph.
    pub index: usize,
    /// TFLite's name for it.
    pub op: String,
    /// What hone lacks for it.
    pub what: String,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operator {} ({}): {}", self.index, self.op, self.what)
    }
}

impl std::error::Error for Unsupported {}

/// `Err(Unsupported)` for operator `o` with the message `what`.
pub(crate) fn unsupported<T>(o: &Operator, what: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported {
        index: o.index,
        op: o.op.name(),
        what: what.into(),
    })
}

/// A checked lowering of one operator, ready to emit.
pub(crate) enum Plan {
    FullyConnected(fully_connected::Plan),
    DepthwiseConv2d(depthwise_conv2d::Plan),
    Softmax(softmax::Plan),
    Reshape(reshape::Plan),
}

/// Checks operator `o` of `g`: the plan to emit it, or what hone lacks for it.
pub(crate) fn check(g: &Graph, o: &Operator) -> Result<Plan, Unsupported> {
    match o.op.code {
        BuiltinOp::FULLY_CONNECTED => fully_connected::check(g, o).map(Plan::FullyConnected),
        BuiltinOp::DEPTHWISE_CONV_2D => depthwise_conv2d::check(g, o).map(Plan::DepthwiseConv2d),
        BuiltinOp::SOFTMAX => softmax::check(g, o).map(Plan::Softmax),
        BuiltinOp::RESHAPE => reshape::check(g, o).map(Plan::Reshape),
        _ => unsupported(o, "operator not supported yet"),
    }
}

/// The lowering in progress: the builder and the hone tensor of each TFLite tensor so far.
pub(crate) struct Lowering<'g> {
    pub g: &'g Graph,
    pub b: TensorModelBuilder,
    ids: HashMap<usize, u16>,
}

impl Lowering<'_> {
    /// The hone tensor standing for TFLite activation tensor `t`, declared on first use with
    /// `t`'s element count and (per-tensor) quantisation.
    pub fn tensor(&mut self, t: usize) -> Result<u16> {
        if let Some(&id) = self.ids.get(&t) {
            return Ok(id);
        }
        let tensor = self.g.tensor(t);
        let (scale, zp) =
            activation_quant(tensor).with_context(|| format!("tensor {t} ({})", tensor.name))?;
        let id = self.b.tensor(tensor.elements(), scale, zp)?;
        self.ids.insert(t, id);
        Ok(id)
    }
}

/// Scale and zero point of an int8 activation quantised per tensor.
pub(crate) fn activation_quant(t: &hone_tflite::Tensor) -> Result<(f32, i8)> {
    if t.dtype != DType::I8 {
        bail!(
            "{} activations are not supported (int8 only)",
            t.dtype.name()
        );
    }
    let Some(q) = &t.quant else {
        bail!("an int8 activation without quantisation parameters");
    };
    if q.per_channel() {
        bail!("an activation quantised per channel");
    }
    let zp = i8::try_from(q.zero_point[0])
        .map_err(|_| anyhow::anyhow!("zero point {} outside int8", q.zero_point[0]))?;
    Ok((q.scale[0], zp))
}

/// Lowers every operator of `g` into a tensor-model blob named `name`.
pub fn lower(g: &Graph, name: &str) -> Result<Vec<u8>> {
    if g.subgraphs != 1 {
        bail!(
            "the model has {} subgraphs; only single-subgraph models import",
            g.subgraphs
        );
    }
    let plans = g
        .operators
        .iter()
        .map(|o| check(g, o))
        .collect::<Result<Vec<_>, _>>()?;
    let mut l = Lowering {
        g,
        b: TensorModelBuilder::new(name),
        ids: HashMap::new(),
    };
    for (k, &t) in g.inputs.iter().enumerate() {
        let id = l.tensor(t).with_context(|| format!("model input {k}"))?;
        l.b.input(id, &g.tensor(t).shape)?;
    }
    for (o, plan) in g.operators.iter().zip(&plans) {
        match plan {
            Plan::FullyConnected(p) => fully_connected::emit(&mut l, o, p),
            Plan::DepthwiseConv2d(p) => depthwise_conv2d::emit(&mut l, o, p),
            Plan::Softmax(p) => softmax::emit(&mut l, o, p),
            Plan::Reshape(p) => reshape::emit(&mut l, o, p),
        }
        .with_context(|| format!("operator {} ({})", o.index, o.op))?;
    }
    for (k, &t) in g.outputs.iter().enumerate() {
        let id = l.tensor(t).with_context(|| format!("model output {k}"))?;
        l.b.output(id, &g.tensor(t).shape)?;
    }
    Ok(l.b.build()?)
}

/// Runs `hone import`.
pub fn run(a: &ImportArgs) -> Result<()> {
    let bytes = crate::blob::read(&a.model)?;
    let g = hone_tflite::parse(&bytes)
        .with_context(|| format!("cannot import {}", a.model.display()))?;
    if a.report {
        report(&g);
        return Ok(());
    }
    let name = a
        .model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let blob = lower(&g, &name).with_context(|| format!("cannot import {}", a.model.display()))?;
    let out = a.out.as_ref().context("--out is required")?;
    std::fs::write(out, &blob).with_context(|| format!("cannot write {}", out.display()))?;
    outln!(
        "{}: {} operators → {} ({} bytes)",
        a.model.display(),
        g.operators.len(),
        out.display(),
        blob.len()
    );
    Ok(())
}

/// Prints inputs, outputs, operator counts and each operator's status.
fn report(g: &Graph) {
    let io = |ids: &[usize]| -> Vec<String> {
        ids.iter()
            .map(|&t| {
                let t = g.tensor(t);
                format!("{} {:?}", t.dtype.name(), t.shape)
            })
            .collect()
    };
    outln!("inputs:  {}", io(&g.inputs).join(", "));
    outln!("outputs: {}", io(&g.outputs).join(", "));
    let counts: Vec<String> = g
        .op_counts()
        .iter()
        .map(|(op, n)| format!("{op} ×{n}"))
        .collect();
    outln!("operators: {}", counts.join(", "));
    let mut supported = 0;
    for o in &g.operators {
        match check(g, o) {
            Ok(_) => {
                supported += 1;
                outln!("  {:>3} {:<24} supported", o.index, o.op.name());
            }
            Err(e) => outln!(
                "  {:>3} {:<24} unsupported: {}",
                o.index,
                o.op.name(),
                e.what
            ),
        }
    }
    outln!(
        "{supported} of {} operators supported: {}",
        g.operators.len(),
        if supported == g.operators.len() {
            "imports"
        } else {
            "does not import yet"
        }
    );
}
