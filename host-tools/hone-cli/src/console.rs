//! `hone console`: the device's personalisation console ([`hone_console::Console`]) on
//! standard input and output, with its journal in a file-backed flash ([`FileFlash`]), so
//! that a state taught here survives a restart as it survives a reboot on a device.
//!
//! Every input line gets the console's reply; invalid UTF-8 is replaced, not refused. The
//! process ends with status 0 at the end of its input, whatever the lines were.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use hone::adapt::{with_feature_capacity, AdaptRam, CapacityFn};
use hone::{Model, Runner};
use hone_build::HostSteps;
use hone_console::{region_len, Console};

use crate::flash::FileFlash;

/// Arguments of `hone console`.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The model blob.
    #[arg(long, default_value = crate::DEFAULT_MODEL)]
    pub model: PathBuf,
    /// The file that plays the device's flash: the adaptation state is saved there and
    /// restored from there at start (created if missing).
    #[arg(long, default_value = "target/hone-console-flash.bin")]
    pub flash: PathBuf,
}

/// Runs `hone console`.
pub fn run(args: &ConsoleArgs) -> Result<()> {
    let blob =
        crate::blob::read(&args.model).context("run from the repository root, or pass --model")?;
    let mut steps = HostSteps::new();
    let model = crate::blob::load(&args.model, &blob, &mut steps)?;
    struct Run<'d, 'm> {
        args: &'d ConsoleArgs,
        model: &'d Model<'m>,
    }
    impl CapacityFn<Result<()>> for Run<'_, '_> {
        fn call<const F: usize>(self) -> Result<()> {
            run_with::<F>(self.args, self.model)
        }
    }
    with_feature_capacity(
        model.feature_dim(),
        Run {
            args,
            model: &model,
        },
    )
    .unwrap_or_else(|| bail!("features of {} exceed every capacity", model.feature_dim()))
}

fn run_with<const F: usize>(args: &ConsoleArgs, model: &Model<'_>) -> Result<()> {
    let region = region_len::<FileFlash>(model)
        .context("the model's adaptation state does not fit a 4 GiB flash")?;
    let flash = FileFlash::open(&args.flash, region as usize)?;
    let mut scratch = vec![0u32; model.scratch_words()];
    let runner = Runner::new(model, &mut scratch).map_err(|e| anyhow!("{e}"))?;
    let mut ram: Box<AdaptRam<F>> = Box::default();
    let mut console = Console::new(runner, &mut ram, flash, 0, region)
        .map_err(|e| anyhow!("{}: {e}", args.flash.display()))?;
    let mut reply = String::new();
    console.banner(&mut reply)?;
    out!("{reply}");
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        if interactive {
            out!("> ");
        }
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .context("reading standard input")?;
        if n == 0 {
            return Ok(());
        }
        reply.clear();
        console.line(&String::from_utf8_lossy(&line), &mut reply)?;
        out!("{reply}");
    }
}
