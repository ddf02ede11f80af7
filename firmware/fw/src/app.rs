//! The sequence every board runs: check the golden vectors, then report measurements.

use embedded_storage::nor_flash::ReadNorFlash;

use crate::{
    blobs, check, exit,
    flash::{self, Backend, Storage},
    measure::{self, Clock, Meter},
    stack,
};

/// Runs every check and returns the exit code ([`crate::exit`]).
pub fn run<C: Clock, B: Backend>(board: &str, clock: C, flash: B) -> i32 {
    let mut meter = Meter::new(clock);
    let (model, golden) = (blobs::model(), blobs::golden());
    defmt::info!(
        "hone-fw on {=str}: model {=usize} bytes, golden file {=usize} bytes",
        board,
        model.len(),
        golden.len()
    );
    metric("clock_overhead", meter.overhead());
    metric("stack_reserved_bytes", u64::from(stack::reserved()));
    // Self-check of the counter: a loop of known length, long enough to wrap SysTick.
    let n = 1_000_000;
    let ((), work) = meter.measure(|| measure::busy_loop(n));
    metric("calibration_expected", measure::busy_loop_instructions(n));
    metric("calibration_measured", work);
    let Some(mut storage) = Storage::take(flash) else {
        defmt::error!("flash: FAIL storage region unavailable");
        return exit::BAD_INPUT;
    };
    match flash::self_test(&mut storage) {
        Ok(()) => defmt::info!(
            "flash: NorFlash self-test PASS ({=usize} bytes at {=usize:#x})",
            storage.capacity(),
            storage.address()
        ),
        Err(step) => {
            defmt::error!("flash: NorFlash self-test FAIL at {=str}", step);
            return exit::MISMATCH;
        }
    }
    if golden.is_empty() {
        defmt::error!("no golden vectors embedded (build with HONE_FW_GOLDEN=<file>)");
        return exit::BAD_INPUT;
    }
    let (result, peak) = stack::peak(|| check::run(golden, model, &mut meter));
    metric("golden_peak_stack_bytes", u64::from(peak));
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            defmt::error!("golden file rejected: {}", e);
            return exit::BAD_INPUT;
        }
    };
    if summary.matvec_macs > 0 {
        metric("matvec_macs", summary.matvec_macs);
        metric("matvec_work", summary.matvec_work);
    }
    defmt::info!(
        "golden summary: {=u32} of {=u32} vectors passed",
        summary.passed,
        summary.passed + summary.failed
    );
    if summary.failed == 0 && summary.passed > 0 {
        exit::SUCCESS
    } else {
        exit::MISMATCH
    }
}

/// Prints `metric <name>=<value>` (collected by the host test crate).
pub fn metric(name: &str, value: u64) {
    defmt::info!("metric {=str}={=u64}", name, value);
}
