//! Shared helpers for the cross-crate tests.
//!
//! - [`qemu`]: build the firmware (`firmware/`, its own cargo workspace), run it under QEMU,
//!   decode its defmt output and read its ELF sizes.

pub mod qemu;
