//! hone firmware for QEMU.
//!
//! - `thumbv7em-none-eabihf` → `mps2-an386` (Cortex-M4F), timed by CMSDK timer 0;
//! - `thumbv6m-none-eabi` → `microbit` (Cortex-M0, 16 KiB RAM), timed by SysTick.
//!
//! defmt goes out over semihosting; the exit code too (`hone_fw::exit`). Run with
//! `cargo run --release` (see `../qemu-run.sh`), or through the `hone-tests` crate.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception, ExceptionFrame};
use defmt_semihosting as _;

#[cfg(board = "mps2")]
const BOARD: &str = "mps2-an386 (Cortex-M4F)";
#[cfg(board = "microbit")]
const BOARD: &str = "microbit (Cortex-M0)";

#[entry]
fn main() -> ! {
    #[cfg(board = "mps2")]
    let clock = hone_fw::measure::CmsdkTimer0::start();
    #[cfg(board = "microbit")]
    let clock = {
        let p = cortex_m::Peripherals::take().expect("first take");
        // QEMU clocks the nRF51 core at 16 MHz.
        hone_fw::measure::SysTickClock::start(p.SYST, 16_000_000)
    };
    #[cfg(board = "mps2")]
    let flash = hone_fw::flash::Emulated;
    #[cfg(board = "microbit")]
    let flash = hone_fw::flash::Nvmc::<1024>;
    let code = hone_fw::app::run(BOARD, clock, flash);
    semihosting::process::exit(code)
}

#[cfg(board = "microbit")]
#[exception]
fn SysTick() {
    hone_fw::measure::systick_wrapped();
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc={=u32:#010x}", ef.pc());
    semihosting::process::exit(hone_fw::exit::FAULT)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    semihosting::process::exit(hone_fw::exit::PANIC)
}
