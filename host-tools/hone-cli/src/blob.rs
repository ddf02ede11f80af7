//! Model blobs read from files: the one place that reads a `.hone` file, validates it and
//! names the file in every error.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use hone::Model;
use hone_build::HostSteps;

/// The bytes of the file at `path`; the error names the file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `bytes`, read from `path`, as a validated model whose checked operations live in `steps`;
/// the error names the file once and states the runtime's reason (its `Display`).
pub fn load<'a, 'b: 'a>(
    path: &Path,
    bytes: &'b [u8],
    steps: &'a mut HostSteps<'b>,
) -> Result<Model<'a>> {
    Model::load(bytes, steps).map_err(|e| model_error(path, e))
}

/// The file at `path`, checked to be a valid model (for commands that hand the bytes on).
pub fn read_valid(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    load(path, &bytes, &mut HostSteps::new())?;
    Ok(bytes)
}

/// "cannot load PATH: REASON" for a runtime error `e` about the model at `path`.
pub fn model_error(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot load {}: {e}", path.display())
}
