//! Board-independent parts of the hone firmware.
//!
//! - [`blobs`]: the model and golden vectors embedded in flash (aligned, used zero-copy);
//! - [`check`]: recomputes every golden vector and compares it bit for bit with the host's
//!   result, printing one pass/fail line per vector;
//! - [`figures`]: the adaptation figures a golden run gathers;
//! - [`measure`]: deterministic work counters (QEMU `-icount` timers, DWT cycles on hardware);
//! - [`stack`]: peak stack by stack painting;
//! - `signed` (builds with `HONE_FW_PUBKEY`): the embedded model is a signed envelope,
//!   verified at boot against the compiled-in key and the last accepted version;
//! - [`app`]: the sequence every board runs, returning the process exit code.
//!
//! Output goes through `defmt`; each board picks the transport (semihosting under QEMU,
//! RTT on hardware). Lines the host parses: `golden <i>: … PASS|FAIL …`,
//! `golden summary: <passed> of <total> vectors passed` and `metric <name>=<value>`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(hone_fw_adapt)]
pub mod adapt;
pub mod app;
pub mod blobs;
pub mod check;
pub mod figures;
pub mod flash;
pub mod measure;
pub mod once;
#[cfg(hone_fw_signed)]
pub mod signed;
pub mod stack;

/// Process exit codes reported through semihosting.
pub mod exit {
    /// Every check passed.
    pub const SUCCESS: i32 = 0;
    /// At least one golden vector did not match.
    pub const MISMATCH: i32 = 2;
    /// The embedded golden file or model could not be read.
    pub const BAD_INPUT: i32 = 3;
    /// The signed model was refused (signature, version or envelope).
    pub const REFUSED: i32 = 4;
    /// A panic.
    pub const PANIC: i32 = 101;
    /// A HardFault.
    pub const FAULT: i32 = 102;
}
