//! `hone run`: a tensor model over a batch of inputs from a `.npy` file, on the host with the
//! device's arithmetic; one `.npy` file per output.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use hone::{TensorModel, TensorRunner};
use hone_build::HostSteps;
use npyz::WriterBuilder;

/// Run a tensor model (e.g. one made by `hone import`) over a batch of inputs.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  hone run hello_world.hone --input x.npy --out outputs/

The input is an int8 .npy array whose first axis is the batch; each sample (the rest of the
array, C order) holds the model input's elements. Output K is written to DIR/output_K.npy with
the batch first, then the output's shape without its leading batch dimension of 1.")]
pub struct RunArgs {
    /// The tensor model.
    pub model: PathBuf,
    /// The batch of inputs (int8 `.npy`, batch axis first).
    #[arg(long)]
    pub input: PathBuf,
    /// Directory for `output_K.npy`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Reads an int8 `.npy` array: its shape and values (C order).
pub fn read_i8(path: &Path) -> Result<(Vec<usize>, Vec<i8>)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(f))
        .with_context(|| format!("{} is not a .npy file", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if npy.order() != npyz::Order::C && shape.len() > 1 {
        bail!(
            "{}: Fortran-ordered arrays are not supported",
            path.display()
        );
    }
    let dtype = npy.dtype().descr();
    let data = npy
        .into_vec::<i8>()
        .map_err(|_| anyhow::anyhow!("{}: dtype {dtype} is not int8 (|i1)", path.display()))?;
    Ok((shape, data))
}

/// Writes `data` (C order) as an int8 `.npy` array of `shape`.
pub fn write_i8(path: &Path, shape: &[usize], data: &[i8]) -> Result<()> {
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::new(f))
        .begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()?;
    Ok(())
}

/// A shape without its leading batch dimension of 1.
fn per_sample(shape: &[u32]) -> Vec<usize> {
    let s: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    match s.split_first() {
        Some((1, rest)) => rest.to_vec(),
        _ => s,
    }
}

/// Runs `hone run`.
pub fn run(a: &RunArgs) -> Result<()> {
    let bytes = crate::blob::read(&a.model)?;
    let mut steps = HostSteps::new();
    let model =
        TensorModel::load(&bytes, &mut steps).map_err(|e| crate::blob::model_error(&a.model, e))?;
    if model.inputs().len() != 1 {
        bail!(
            "{} has {} inputs; `hone run` feeds one",
            a.model.display(),
            model.inputs().len()
        );
    }
    let (shape, x) = read_i8(&a.input)?;
    let per = model.inputs()[0].elements().unwrap_or(0);
    let Some((&batch, rest)) = shape.split_first() else {
        bail!("{}: a scalar, not a batch", a.input.display());
    };
    if rest.iter().product::<usize>() != per {
        bail!(
            "{}: samples of shape {rest:?} ({} elements), the model's input {:?} has {per}",
            a.input.display(),
            rest.iter().product::<usize>(),
            model.inputs()[0].shape()
        );
    }
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = TensorRunner::new(&model, &mut scratch)?;
    let mut outputs: Vec<Vec<i8>> = vec![Vec::new(); model.outputs().len()];
    for sample in x.chunks_exact(per.max(1)).take(batch) {
        if let Some(input) = runner.input_mut(0) {
            input.copy_from_slice(sample);
        }
        runner.run();
        for (k, out) in outputs.iter_mut().enumerate() {
            out.extend_from_slice(runner.output(k).unwrap_or_default());
        }
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    for (k, (io, data)) in model.outputs().iter().zip(&outputs).enumerate() {
        let mut shape = vec![batch];
        shape.extend(per_sample(io.shape()));
        let path = a.out.join(format!("output_{k}.npy"));
        write_i8(&path, &shape, data)?;
        outln!("{}: {shape:?}", path.display());
    }
    Ok(())
}
