//! Integer kernels.
//!
//! [`portable`] holds the definitions. The functions at this level are the entry points the
//! runtime calls; each is selected at compile time by target:
//!
//! - `thumbv7em-*` (Cortex-M4/M7, ARMv7E-M with the DSP extension; the build script sets
//!   `cfg(hone_dsp)`): hand-written `SXTB16`/`SMLAD` kernels in the private `arm_dsp` module,
//!   the only module of this crate allowed to use `unsafe` (inline assembly).
//! - every other target (host, `thumbv6m-*`, `thumbv7m-*`): the portable functions.
//!
//! Every optimised kernel is bit-exact with its portable definition for every input (sums
//! wrap modulo 2^32 in both). The firmware bit-exactness test checks this in QEMU on
//! pseudo-random shapes, odd lengths and extreme values.

#[cfg(hone_dsp)]
#[allow(unsafe_code)]
mod arm_dsp;
pub mod portable;

/// Set by [`use_portable`]: the entry points run the portable definitions.
#[cfg(all(hone_dsp, feature = "bench"))]
static PORTABLE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Benchmarks only (feature `bench`): from now on the entry points of this module run
/// the portable definitions (`true`) or the kernels selected for the target (`false`, the
/// default), so one firmware run can measure the whole model before and after optimisation.
///
/// Results are identical either way. Without the feature the selection is fixed at compile
/// time and costs nothing; with it each call reads one flag. No effect on targets that only
/// have the portable kernels.
#[cfg(feature = "bench")]
pub fn use_portable(portable: bool) {
    #[cfg(hone_dsp)]
    PORTABLE.store(portable, core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(hone_dsp))]
    let _ = portable;
}

/// Whether the optimised kernels run (false after `use_portable(true)`).
#[cfg(hone_dsp)]
#[inline(always)]
fn optimised() -> bool {
    #[cfg(feature = "bench")]
    return !PORTABLE.load(core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "bench"))]
    return true;
}

/// Which implementation [`matvec_i8`] and [`matmul_i8`] use on this target: `"arm-dsp"` or
/// `"portable"`.
pub const BACKEND: &str = if cfg!(hone_dsp) {
    "arm-dsp"
} else {
    "portable"
};

/// Int8 matrix-vector product: `acc[r] = Σ_c x[c] · w[r · cols + c]` with `cols = x.len()`.
///
/// `w` is row-major `[rows × cols]`. Rows for which `w` holds no complete row are set to 0,
/// so a short weight slice never panics. Sums wrap modulo 2^32; they are exact while
/// `cols < 2^17`. Same results as [`portable::matvec_i8`], the definition.
#[inline]
pub fn matvec_i8(x: &[i8], w: &[i8], acc: &mut [i32]) {
    #[cfg(hone_dsp)]
    if optimised() {
        return arm_dsp::matvec_i8(x, w, acc);
    }
    portable::matvec_i8(x, w, acc);
}

/// Int8 matrix product of `L` input rows with one weight matrix:
/// `out[l · rows + r] = Σ_c x[l · cols + c] · w[r · cols + c]`.
///
/// `x` is row-major `[L × cols]`, `w` row-major `[rows × cols]`, `out` row-major `[L × rows]`;
/// see [`portable::matmul_i8`] (the definition) for short slices. Runs [`matvec_i8`] per input
/// row: the matrix-vector kernel already reuses each loaded input word across four weight
/// rows, and a kernel that also reused weights across input rows would need more registers
/// than Thumb-2 inline assembly can have.
pub fn matmul_i8(x: &[i8], w: &[i8], cols: usize, rows: usize, out: &mut [i32]) {
    portable::matmul_with(x, w, cols, rows, out, matvec_i8);
}

#[cfg(test)]
mod tests;
