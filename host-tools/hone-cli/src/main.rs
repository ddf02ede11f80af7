//! `hone`: the command line of the hone runtime.
//!
//! One module per subcommand; this file only parses and dispatches.
//!
//! * `export`: float checkpoint → calibrated int8 `.hone` blob ([`export`]).
//! * `inspect`: layer table, flash, scratch RAM, MACs ([`inspect`]).
//! * `verify`: quantised runtime vs float reference ([`verify`]).
//! * `golden`: golden vectors for the firmware ([`golden`]).
//! * `keygen`, `sign`: Ed25519 keys and signed model envelopes ([`sign`]).
//! * `bench`: Cortex-M4 instruction counts under QEMU ([`mod@bench`]).
//! * `demo`: enrol the demo file's intents, save and reload ([`demo`]).
//! * `console`: the device's personalisation console on stdin/stdout ([`console`]).
//! * `import`: TFLite int8 model → tensor-model blob ([`mod@import`]).
//! * `run`: a tensor model over a `.npy` batch ([`mod@run`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod out;

mod args;
mod bench;
mod blob;
mod console;
mod demo;
mod eval;
mod export;
mod flash;
mod golden;
mod import;
mod inspect;
mod progress;
mod prompts;
mod quantize;
mod run;
mod sensitivity;
mod sign;
mod verify;
mod verify_adapt;
mod vocab;

/// The shipped model, relative to the repository root.
pub const DEFAULT_MODEL: &str = "models/hone-intent/model.hone";
/// The shipped model's demo file.
pub const DEFAULT_DEMO: &str = "models/hone-intent/demo.json";

/// Export, inspect and verify hone models.
#[derive(Debug, Parser)]
#[command(
    name = "hone",
    version,
    about = "hone: int8 text classifiers on microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Quantise a float checkpoint into a `.hone` blob.
    Export(export::ExportArgs),
    /// Describe a blob: layers, flash, RAM, MACs.
    Inspect(inspect::InspectArgs),
    /// Compare a blob with the float reference.
    Verify(verify::VerifyArgs),
    /// Golden vectors for the firmware: the host build's exact outputs for a prompts file.
    Golden(golden::GoldenArgs),
    /// Instruction counts on Cortex-M4 (QEMU): kernels and whole model, portable vs DSP.
    Bench(bench::BenchArgs),
    /// Classify, enrol the demo file's new intents on the device path, save and reload.
    Demo(demo::DemoArgs),
    /// The device's personalisation console on stdin/stdout, its state in a flash file.
    Console(console::ConsoleArgs),
    /// The evaluation protocol on an intent data set (CLINC150 layout).
    Eval(eval::EvalArgs),
    /// Generate an Ed25519 key pair for signing model updates.
    Keygen(sign::KeygenArgs),
    /// Wrap a blob in a signed envelope with a version (for devices that check signatures).
    Sign(sign::SignArgs),
    /// Import a TFLite int8 model (`.tflite`) as a tensor model.
    Import(import::ImportArgs),
    /// Run a tensor model over a batch of inputs (`.npy`).
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let result = match &Cli::parse().command {
        Command::Export(a) => export::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Golden(a) => golden::run(a).map(|_| ()),
        Command::Bench(a) => bench::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Console(a) => console::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Keygen(a) => sign::keygen(a),
        Command::Sign(a) => sign::sign(a),
        Command::Import(a) => import::run(a),
        Command::Run(a) => run::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
