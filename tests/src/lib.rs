//! Shared helpers for the cross-crate tests.
//!
//! - [`qemu`]: the `hone-qemu` crate (build the firmware, run it under QEMU, decode its
//!   defmt output, read its ELF sizes), under the name the tests use.
//! - [`fixtures`]: small float checkpoints and prompt files for the `hone` CLI tests, and a
//!   way to run the `hone` binary.

pub mod fixtures;
pub use hone_qemu as qemu;
