//! Integer kernels: the portable definitions.
//!
//! Every optimised kernel (selected at compile time by target) must be bit-exact with the
//! portable function of the same name in this module.

/// Int8 matrix-vector product: `acc[r] = Σ_c x[c] · w[r · cols + c]` with `cols = x.len()`.
///
/// `w` is row-major `[rows × cols]`. Rows for which `w` holds no complete row are set to 0,
/// so a short weight slice never panics. The sum is exact for `cols ≤ 2^17`
/// (|x·w| ≤ 2^14 per term).
pub fn matvec_i8(x: &[i8], w: &[i8], acc: &mut [i32]) {
    let cols = x.len();
    if cols == 0 {
        acc.fill(0);
        return;
    }
    let mut rows = w.chunks_exact(cols);
    for a in acc.iter_mut() {
        *a = match rows.next() {
            Some(row) => row
                .iter()
                .zip(x)
                .map(|(&wv, &xv)| i32::from(wv) * i32::from(xv))
                .sum(),
            None => 0,
        };
    }
}
