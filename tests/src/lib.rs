//! Shared helpers for the cross-crate tests.
//!
//! - [`qemu`]: build the firmware (`firmware/`, its own cargo workspace), run it under QEMU,
//!   decode its defmt output and read its ELF sizes.
//! - [`fixtures`]: small float checkpoints and prompt files for the `hone` CLI tests, and a
//!   way to run the `hone` binary.

pub mod fixtures;
pub mod qemu;
