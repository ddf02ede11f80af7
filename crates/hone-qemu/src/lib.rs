//! Build the firmware (`firmware/`, its own cargo workspace), run it under QEMU, decode its
//! defmt log and read what it reported. The one implementation behind `hone bench` and the
//! cross-crate tests (`tests/`).
//!
//! - [`Board`], [`Build`], [`build`]: `cargo build --release` of a firmware package for a
//!   board's target, with a model and golden file embedded ([`Embed`]);
//! - [`run()`], [`run_with_args`], [`run_elf`]: `qemu-system-arm` (always inside `timeout`,
//!   with `-icount shift=`[`ICOUNT_SHIFT`] and semihosting) piped through `defmt-print`;
//! - [`parse_metrics`], [`parse_golden`]: the `metric <name>=<value>` and
//!   `golden <i>: … PASS|FAIL …` lines of a decoded log;
//! - [`sizes`], [`symbols`]: section sizes and symbols of a firmware ELF.
//!
//! Needs `qemu-system-arm`, `defmt-print`, `arm-none-eabi-size`/`-nm`, `timeout` and the
//! thumb rustup targets (`tests/run-all.sh` installs them). QEMU never runs with
//! `-nographic` (which fails without a terminal), and always inside `timeout` (a HardFault
//! with a default handler loops forever).

mod build;
mod elf;
mod report;
mod run;

pub use build::{build, firmware_dir, Board, Build, Embed};
pub use elf::{parse_size_a, sizes, symbols, Sizes};
pub use report::{parse_golden, parse_metrics};
pub use run::{run, run_elf, run_with_args, Machine, Run, RUN_TIMEOUT_S};

/// `-icount shift` passed to QEMU: one instruction is `2^shift` ns of virtual time, so the
/// firmware's timers count instructions. Must match `hone_fw::measure::ICOUNT_SHIFT`.
pub const ICOUNT_SHIFT: u32 = 10;

/// An error of a failed step, with what it printed.
fn other(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}
