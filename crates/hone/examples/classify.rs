//! Classifies prompts with a `.hone` model on the host: one prompt per line of standard
//! input, one `label confidence` line per prompt on standard output (the same order, empty
//! lines included; invalid UTF-8 is replaced, a trailing `\r` dropped).
//!
//! ```sh
//! cargo run -p hone-rt --example classify -- [MODEL.hone] < prompts.txt
//! ```
//!
//! `MODEL.hone` defaults to `models/hone-intent/model.hone` (relative to the working
//! directory: the repository root). The library is the same `no_std` code a device runs;
//! only reading the file and the standard streams use `std` here.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

/// The model read when no path is given.
const DEFAULT_MODEL: &str = "models/hone-intent/model.hone";

/// Table capacity for the model's checked operations: generous on a host (a device sizes it
/// to its model).
const OPS: usize = 256;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("classify: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    if path == "-h" || path == "--help" || args.next().is_some() {
        return Err("usage: classify [MODEL.hone] < prompts.txt".to_owned());
    }
    let blob = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;

    let mut steps = Box::new(hone::Steps::<OPS>::new());
    let model =
        hone::Model::load(&blob, &mut *steps).map_err(|e| format!("cannot load {path}: {e}"))?;
    let mut scratch = vec![0u32; model.scratch_words()];
    // The buffer has exactly the size the model asks for, so this cannot fail.
    let mut runner = hone::Runner::new(&model, &mut scratch).map_err(|e| e.to_string())?;

    let stdin = io::stdin().lock();
    let mut out = io::stdout().lock(); // line-buffered: each answer appears at once
    for line in stdin.split(b'\n') {
        let line = line.map_err(|e| format!("cannot read standard input: {e}"))?;
        let text = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(&line));
        let p = runner.classify(&text);
        let written = if p.name.is_empty() {
            writeln!(out, "{} {:.4}", p.label, p.confidence())
        } else {
            writeln!(out, "{} {:.4}", p.name, p.confidence())
        };
        written.map_err(|e| format!("cannot write standard output: {e}"))?;
    }
    Ok(())
}
