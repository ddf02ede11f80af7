//! The hone firmware with a model received at run time (QEMU mps2-an386, Cortex-M4F).
//!
//! The only firmware that uses a heap: the model blob arrives after boot (here: read from the
//! host over semihosting; on a product: a radio or a serial link), so its size is unknown at
//! build time. The blob, its table of checked operations and the inference scratch go on an `embedded-alloc` heap; everything
//! else is the default firmware's code (`hone_fw::app`), checking the embedded golden vectors
//! against the received model (whose CRC must match theirs).
//!
//! Run: `qemu-system-arm … -semihosting-config enable=on,target=native,arg=hone-fw-heap,arg=MODEL
//! -kernel hone-fw-heap`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{boxed::Box, ffi::CString, vec, vec::Vec};
use core::mem::MaybeUninit;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use defmt_semihosting as _;
use embedded_alloc::LlffHeap;
use hone_fw::exit;
use semihosting::io::Read;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();
const HEAP_BYTES: usize = 1 << 20;

/// Reads the file named by the second command-line argument.
fn receive_model() -> Result<Vec<u8>, &'static str> {
    let args = semihosting::experimental::env::args::<512>().map_err(|_| "no command line")?;
    let path = (&args)
        .nth(1)
        .ok_or("no model path argument")?
        .map_err(|_| "model path is not UTF-8")?;
    let path = CString::new(path).map_err(|_| "model path contains NUL")?;
    let mut file = semihosting::fs::File::open(&path).map_err(|_| "cannot open the model file")?;
    let len = file
        .metadata()
        .map_err(|_| "cannot stat the model file")?
        .len();
    let len = usize::try_from(len).map_err(|_| "model file too large")?;
    if len > HEAP_BYTES / 2 {
        return Err("model file larger than half the heap");
    }
    let mut blob = vec![0u8; len];
    file.read_exact(&mut blob)
        .map_err(|_| "cannot read the model file")?;
    Ok(blob)
}

#[entry]
fn main() -> ! {
    static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
    // SAFETY: `HEAP_MEM` is a `static mut` local to `main` (cortex-m-rt hands out a unique
    // `&mut` to it), given to the allocator once, before any allocation.
    unsafe { HEAP.init(HEAP_MEM.as_mut_ptr() as usize, HEAP_BYTES) };

    let blob = match receive_model() {
        Ok(b) => b,
        Err(why) => {
            defmt::error!("model not received: {=str}", why);
            semihosting::process::exit(exit::BAD_INPUT)
        }
    };
    // The table of checked operations goes on the heap too, sized for any model of the tests.
    let mut steps = Box::new(hone::Steps::<64>::new());
    let words = match hone::Model::load(&blob, &mut steps) {
        Ok(m) => m.scratch_words(),
        Err(e) => {
            defmt::error!("received model rejected: {}", defmt::Debug2Format(&e));
            semihosting::process::exit(exit::BAD_INPUT)
        }
    };
    let mut scratch = vec![0u32; words];
    defmt::info!(
        "model received at run time: {=usize} bytes on the heap, scratch {=usize} bytes, heap used {=usize} of {=usize}",
        blob.len(),
        4 * words,
        HEAP_BYTES - HEAP.free(),
        HEAP_BYTES
    );
    let clock = hone_fw::measure::CmsdkTimer0::start();
    let code = hone_fw::app::run_with(
        "mps2-an386 (Cortex-M4F), model on the heap",
        clock,
        hone_fw::flash::Emulated,
        &blob,
        &mut steps,
        &mut scratch,
    );
    semihosting::process::exit(code)
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc={=u32:#010x}", ef.pc());
    semihosting::process::exit(exit::FAULT)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    semihosting::process::exit(exit::PANIC)
}
