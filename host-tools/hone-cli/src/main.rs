//! The `hone` command line.

mod bench;
mod golden;
#[cfg(test)]
mod verify_adapt;

use clap::{Parser, Subcommand};

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
    /// Golden vectors for the firmware: the host build's exact outputs for a prompts file.
    Golden(golden::GoldenArgs),
    /// Instruction counts on Cortex-M4 (QEMU): kernels and whole model, portable vs DSP.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Golden(args) => golden::run(&args).map(|_| ()),
        Command::Bench(args) => bench::run(&args),
    }
}
