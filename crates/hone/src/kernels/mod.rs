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
#[cfg(feature = "bench")]
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
    PORTABLE.store(portable, core::sync::atomic::Ordering::Relaxed);
}

/// Whether the optimised entry points run (false after `use_portable(true)`); for the
/// kernels optimised on every target ([`head_logits`]).
#[inline(always)]
fn selected() -> bool {
    #[cfg(feature = "bench")]
    return !PORTABLE.load(core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "bench"))]
    return true;
}

/// Whether the DSP kernels run (false after `use_portable(true)`).
#[cfg(hone_dsp)]
#[inline(always)]
fn optimised() -> bool {
    selected()
}

/// Which implementation [`matvec_i8`], [`matmul_i8`] and [`fully_connected_i8`] use on this target: `"arm-dsp"` or
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

/// Output requantisation of a fully connected layer (TFLite int8), with the parameters
/// borrowed from the model blob (little-endian, read in place).
///
/// Row `r` maps its accumulator `acc` to
/// `clamp(MBQM(acc + bias[r], mults[r], shifts[r]) + out_zp, lo, 127)` (MBQM:
/// [`crate::quant::multiply_by_quantized_multiplier`]; the sums wrap/saturate exactly as
/// there); parameters past the end of a slice read as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant<'p> {
    /// Bias per output row, `i32` little-endian.
    pub bias: &'p [u8],
    /// Q31 multiplier per output row, `i32` little-endian.
    pub mults: &'p [u8],
    /// Shift per output row, `i8` (positive: left).
    pub shifts: &'p [u8],
    /// Output zero point.
    pub out_zp: i8,
    /// Lowest output code: the zero point after a ReLU, else −128.
    pub lo: i8,
}

impl Requant<'_> {
    /// Output code of row `r` for the accumulator `acc` (the definition).
    #[inline]
    pub fn apply(&self, r: usize, acc: i32) -> i8 {
        let word = |b: &[u8]| {
            b.get(4 * r..4 * r + 4)
                .and_then(|b| b.first_chunk::<4>())
                .map_or(0, |b| i32::from_le_bytes(*b))
        };
        let m = crate::format::Multiplier {
            multiplier: word(self.mults),
            shift: self.shifts.get(r).map_or(0, |&s| s as i8),
        };
        let v =
            crate::quant::multiply_by_quantized_multiplier(acc.wrapping_add(word(self.bias)), m)
                .saturating_add(i32::from(self.out_zp));
        v.clamp(i32::from(self.lo), 127) as i8
    }
}

/// Fully connected layer on one input row with its output requantisation:
/// `out[r] = q.apply(r, Σ_c x[c] · w[r · cols + c])`, `cols = x.len()`, for every row `r` of
/// `out` (a row for which `w` holds no complete row has the sum 0).
///
/// Same results as [`portable::fully_connected_i8`], the definition. On `thumbv7em` the
/// four-row DSP kernel returns its sums in registers and requantises them at once (no
/// accumulator buffer, no per-output bounds checks).
#[inline]
pub fn fully_connected_i8(x: &[i8], w: &[i8], q: &Requant<'_>, out: &mut [i8]) {
    #[cfg(hone_dsp)]
    if optimised() {
        return arm_dsp::fully_connected_i8(x, w, q, out);
    }
    portable::fully_connected_i8(x, w, q, out);
}

/// Float head: `logits[c] = bias[c] + Σ_j w[c·f + j] · x[j]` with `f = x.len()`, summed in
/// order `j = 0, 1, …` in f32 (a multiply then an add: no fused multiply-add), weights and
/// biases read in place as little-endian f32 (entries past the end of either read as 0).
///
/// Same results as [`portable::head_logits`], the definition: the optimised path (every
/// target) reads each complete row as `f32`s without per-element bounds checks, four products
/// per step, in the same order; incomplete rows take the definition's path.
#[inline]
pub fn head_logits(weights: &[u8], bias: &[u8], x: &[f32], logits: &mut [f32]) {
    if !selected() {
        return portable::head_logits(weights, bias, x, logits);
    }
    let f = x.len();
    let row_bytes = f.checked_mul(4);
    for (c, l) in logits.iter_mut().enumerate() {
        let row = row_bytes.and_then(|n| {
            let start = c.checked_mul(n)?;
            weights.get(start..start.checked_add(n)?)
        });
        *l = match row {
            Some(row) => row_dot(crate::bytes::read_f32(bias, c), row, x),
            None => portable::head_logit(weights, bias, x, c),
        };
    }
}

/// `acc + Σ_j w[j] · x[j]` (`w`: little-endian f32 bytes, any alignment), accumulated in
/// order, four terms per step.
#[inline(always)]
fn row_dot(mut acc: f32, w: &[u8], x: &[f32]) -> f32 {
    let (w16, x4) = (w.chunks_exact(16), x.chunks_exact(4));
    let (wr, xr) = (w16.remainder(), x4.remainder());
    for (w, x) in w16.zip(x4) {
        if let (Some(w), Some(&[x0, x1, x2, x3])) = (w.first_chunk::<16>(), x.first_chunk::<4>()) {
            let [w0, w1, w2, w3]: [[u8; 4]; 4] = bytemuck::cast(*w);
            acc += f32::from_le_bytes(w0) * x0;
            acc += f32::from_le_bytes(w1) * x1;
            acc += f32::from_le_bytes(w2) * x2;
            acc += f32::from_le_bytes(w3) * x3;
        }
    }
    for (w, &x) in wr.chunks_exact(4).zip(xr) {
        if let Some(w) = w.first_chunk::<4>() {
            acc += f32::from_le_bytes(*w) * x;
        }
    }
    acc
}

#[cfg(test)]
mod tests;
