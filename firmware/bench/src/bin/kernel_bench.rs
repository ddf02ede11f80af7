//! Instructions per call of the int8 kernels on Cortex-M4 (QEMU `-icount`): the portable
//! definition and the kernel this target selects (Arm DSP), measured in the same run.
//!
//! Prints `metric fc_<rows>x<cols>_{portable,dsp,macs}=<n>` for every shape.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use hone::kernels::{self, portable};
use hone_fw::app::metric;
use hone_fw::measure::{CmsdkTimer0, Meter};
use hone_fw_bench::{exit, finish, Rng};

/// Matrix-vector shapes `(rows, cols)`: square model-sized layers, tall/wide ones, a
/// 150-class head, and odd sizes that exercise the row and column remainders.
const SHAPES: [(usize, usize); 9] = [
    (64, 64),
    (128, 128),
    (256, 256),
    (256, 64),
    (64, 256),
    (150, 64),
    (33, 61),
    (7, 3),
    (512, 512),
];
const MAX_COLS: usize = 512;
const MAX_W: usize = 512 * 512;

type Kernel = fn(&[i8], &[i8], &mut [i32]);

/// Instructions of one call of `f`, call overhead included, meter overhead removed.
#[inline(never)]
fn work(meter: &mut Meter<CmsdkTimer0>, f: Kernel, x: &[i8], w: &[i8], acc: &mut [i32]) -> u64 {
    let f = black_box(f);
    meter.measure(|| f(black_box(x), black_box(w), acc)).1
}

#[entry]
fn main() -> ! {
    let mut meter = Meter::new(CmsdkTimer0::start());
    let Some(xb) = cortex_m::singleton!(: [i8; MAX_COLS] = [0; MAX_COLS]) else {
        finish(exit::BAD_INPUT)
    };
    let Some(wb) = cortex_m::singleton!(: [i8; MAX_W] = [0; MAX_W]) else {
        finish(exit::BAD_INPUT)
    };
    let mut rng = Rng(1);
    for v in xb.iter_mut().chain(wb.iter_mut()) {
        *v = rng.next_u32().to_le_bytes()[3] as i8;
    }
    let mut acc = [0i32; 512];
    let mut acc2 = [0i32; 512];
    defmt::info!("kernel-bench: backend {=str}", kernels::BACKEND);
    metric("clock_overhead", meter.overhead());
    let mut failed = false;
    for (rows, cols) in SHAPES {
        let (x, w) = (&xb[..cols], &wb[..rows * cols]);
        let p = work(&mut meter, portable::matvec_i8, x, w, &mut acc[..rows]);
        let d = work(&mut meter, kernels::matvec_i8, x, w, &mut acc2[..rows]);
        // A benchmark of a wrong kernel is worthless: compare the two results too.
        failed |= acc[..rows] != acc2[..rows];
        defmt::info!(
            "metric fc_{=usize}x{=usize}_macs={=usize}",
            rows,
            cols,
            rows * cols
        );
        defmt::info!("metric fc_{=usize}x{=usize}_portable={=u64}", rows, cols, p);
        defmt::info!("metric fc_{=usize}x{=usize}_dsp={=u64}", rows, cols, d);
    }
    if failed {
        defmt::error!("kernel-bench: DSP and portable results differ");
        finish(exit::MISMATCH)
    }
    finish(exit::SUCCESS)
}
