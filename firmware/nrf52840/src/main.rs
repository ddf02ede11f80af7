//! hone firmware for a real nRF52840 (Cortex-M4F): the same checks as the QEMU app, with
//! defmt over RTT and work counted in CPU cycles (DWT).
//!
//! `cargo run --release` in this directory flashes the board with probe-rs, which prints the
//! log and ends with the firmware's semihosting exit code. CI builds and size-checks it.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception, ExceptionFrame};
use defmt_rtt as _;

#[entry]
fn main() -> ! {
    let mut p = cortex_m::Peripherals::take().expect("first take");
    let clock = hone_fw::measure::DwtCycles::start(&mut p.DCB, &mut p.DWT);
    let code = hone_fw::app::run("nrf52840 (Cortex-M4F)", clock, hone_fw::flash::Nvmc::<4096>);
    semihosting::process::exit(code)
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
