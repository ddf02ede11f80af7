//! Kernel firmware for QEMU `mps2-an386` (Cortex-M4F, `thumbv7em-none-eabihf`).
//!
//! - `kernel-check`: runs `hone::kernels` (the Arm DSP kernels on this target) and their
//!   portable definitions on pseudo-random shapes (odd lengths, unaligned slices, short
//!   weight slices, extreme values, sums that wrap `i32`) and compares them bit for bit.
//!   Prints `kernel-check: <n> passed, <m> failed`; exits 0 only when nothing failed.
//! - `kernel-bench`: instructions per call of each kernel, portable and DSP in the same run,
//!   as `metric <name>=<value>` lines (read by `hone bench`).
//!
//! Both run under the project's QEMU runner (`../qemu-run.sh mps2-an386 <elf>`, or
//! `cargo run --release --bin <name>` from this directory) with `-icount shift=10`, so
//! CMSDK timer 0 counts instructions exactly (`hone_fw::measure`).
#![no_std]

use cortex_m_rt::{exception, ExceptionFrame};
use defmt_semihosting as _;

pub use hone_fw::exit;

/// xorshift32: deterministic pseudo-random shapes and values.
pub struct Rng(pub u32);

impl Rng {
    /// Next 32 pseudo-random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// Uniform-ish in `0..n` (`n ≥ 1`).
    pub fn below(&mut self, n: usize) -> usize {
        self.next_u32() as usize % n.max(1)
    }

    /// Fills `v` with one pattern picked at random: all -128 (1 in 4), -128 or 127 at random
    /// (1 in 4), uniform int8 (2 in 4). The extremes give the largest products and sums.
    pub fn fill(&mut self, v: &mut [i8]) {
        let mode = self.below(4);
        for e in v {
            let r = self.next_u32();
            *e = match mode {
                0 => -128,
                1 if r & 1 == 0 => -128,
                1 => 127,
                _ => r.to_le_bytes()[3] as i8,
            };
        }
    }
}

/// Ends the QEMU run with `code` as its exit status.
pub fn finish(code: i32) -> ! {
    semihosting::process::exit(code)
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc={=u32:#010x}", ef.pc());
    finish(hone_fw::exit::FAULT)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    finish(hone_fw::exit::PANIC)
}
