//! The sequence every board runs: flash self-test, model load, golden vectors, measurements.

use embedded_storage::nor_flash::ReadNorFlash;
use hone::{Model, Runner};

use crate::{
    blobs::{self, Steps},
    check, exit,
    flash::{self, Backend, Storage},
    measure::{self, Clock, Meter},
    stack,
};

/// Runs every check with the model embedded in flash and a scratch buffer sized for it at
/// build time (in `.bss`); returns the exit code ([`crate::exit`]).
pub fn run<C: Clock, B: Backend>(board: &str, clock: C, flash: B) -> i32 {
    // Scratch sized at build time from the embedded model (`blobs::SCRATCH_WORDS`).
    match cortex_m::singleton!(: [u32; blobs::SCRATCH_WORDS] = [0; blobs::SCRATCH_WORDS]) {
        Some(scratch) => run_with(
            board,
            clock,
            flash,
            blobs::model(),
            &mut Steps::new(),
            scratch,
        ),
        None => exit::BAD_INPUT,
    }
}

/// Runs every check with `model_blob` (empty: kernel vectors only), its table of checked
/// operations in `steps` and `scratch` (at least the model's `scratch_words`); returns the
/// exit code ([`crate::exit`]).
pub fn run_with<'b, C: Clock, B: Backend, const N: usize>(
    board: &str,
    clock: C,
    flash: B,
    model_blob: &'b [u8],
    steps: &mut hone::Steps<'b, N>,
    scratch: &mut [u32],
) -> i32 {
    let mut meter = Meter::new(clock);
    let golden = blobs::golden();
    defmt::info!(
        "hone-fw on {=str}: model {=usize} bytes, golden file {=usize} bytes",
        board,
        model_blob.len(),
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

    // Signed builds: the embedded blob is an envelope; its payload is used in place.
    #[cfg(hone_fw_signed)]
    let (model_blob, version) = if model_blob.is_empty() {
        (model_blob, None)
    } else {
        match crate::signed::verify(model_blob, &mut storage, &mut meter) {
            Some((payload, version)) => (payload, Some(version)),
            None => return exit::REFUSED,
        }
    };

    // The model: validated once, borrowed from flash.
    let model = if model_blob.is_empty() {
        None
    } else {
        let ((model, work), peak) =
            stack::peak(|| meter.measure(|| Model::load(model_blob, steps)));
        match model {
            Ok(m) => {
                defmt::info!(
                    "model {=str:?}: {=usize} classes, {=usize} features, scratch {=usize} bytes",
                    m.name(),
                    m.num_classes(),
                    m.feature_dim(),
                    m.scratch_bytes()
                );
                metric("model_load_work", work);
                metric("model_load_peak_stack_bytes", u64::from(peak));
                metric("scratch_bytes", m.scratch_bytes() as u64);
                Some(m)
            }
            Err(e) => {
                defmt::error!("model rejected: {}", defmt::Debug2Format(&e));
                return exit::BAD_INPUT;
            }
        }
    };
    #[cfg(hone_fw_signed)]
    if let (Some(_), Some(v)) = (&model, version) {
        if !crate::signed::accept(&mut storage, v) {
            return exit::BAD_INPUT;
        }
    }
    let mut runner = match &model {
        Some(m) => match Runner::new(m, scratch) {
            Ok(r) => Some(r),
            Err(e) => {
                defmt::error!("runner: {}", defmt::Debug2Format(&e));
                return exit::BAD_INPUT;
            }
        },
        None => None,
    };

    let (result, peak) = stack::peak(|| {
        check::run(
            golden,
            model_blob,
            runner.as_mut(),
            &mut storage,
            &mut meter,
        )
    });
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
    if summary.classified > 0 {
        metric("classify_count", u64::from(summary.classified));
        metric(
            "classify_work_mean",
            summary.classify_work / u64::from(summary.classified),
        );
        metric("classify_work_max", summary.classify_work_max);
        metric("classify_max_tokens", summary.max_tokens as u64);
    }
    let a = summary.adapt;
    if a.enrolled > 0 {
        #[cfg(hone_fw_adapt)]
        metric("adapt_ram_bytes", crate::adapt::RAM_BYTES as u64);
        metric("adapt_enrolled", u64::from(a.enrolled));
        metric(
            "adapt_enrol_work_mean",
            a.enrol_work / u64::from(a.enrolled),
        );
        metric("adapt_train_work", a.train_work);
        if a.epochs > 0 {
            metric("adapt_epoch_work", a.train_work / u64::from(a.epochs));
        }
        metric("adapt_save_work", a.save_work);
        metric("adapt_load_work", a.load_work);
        defmt::info!(
            "adapt accuracy: before {=u32}/{=u32}, after {=u32}/{=u32}",
            a.correct_before,
            a.evaluated,
            a.correct_after,
            a.evaluated
        );
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
