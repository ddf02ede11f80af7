//! Portable integer kernels: the definitions.
//!
//! These functions define the results. Optimised kernels selected at compile time (see
//! [`super`]) must return exactly the same values for every input, including inputs whose sums
//! wrap around `i32`.

/// Int8 matrix-vector product: `acc[r] = Σ_c x[c] · w[r · cols + c]` with `cols = x.len()`.
///
/// `w` is row-major `[rows × cols]`. Rows for which `w` holds no complete row are set to 0,
/// so a short weight slice never panics. Sums are taken modulo 2^32 (wrapping `i32`); they are
/// exact while `cols < 2^17` (each product lies in `[-16256, 16384]`).
pub fn matvec_i8(x: &[i8], w: &[i8], acc: &mut [i32]) {
    let cols = x.len();
    if cols == 0 {
        acc.fill(0);
        return;
    }
    let mut rows = w.chunks_exact(cols);
    for a in acc.iter_mut() {
        *a = match rows.next() {
            Some(row) => row.iter().zip(x).fold(0i32, |s, (&wv, &xv)| {
                s.wrapping_add(i32::from(wv) * i32::from(xv))
            }),
            None => 0,
        };
    }
}

/// Fully connected layer on one input row with its output requantisation:
/// `out[r] = q.apply(r, Σ_c x[c] · w[r · cols + c])` with `cols = x.len()` and the sum
/// wrapping as in [`matvec_i8`]; a row `r` for which `w` holds no complete row (and every row
/// when `cols == 0`) has the sum 0.
pub fn fully_connected_i8(x: &[i8], w: &[i8], q: &super::Requant<'_>, out: &mut [i8]) {
    let cols = x.len();
    for (r, o) in out.iter_mut().enumerate() {
        let row = r
            .checked_mul(cols)
            .and_then(|start| w.get(start..start.checked_add(cols)?));
        let acc = match row {
            Some(row) if cols > 0 => row.iter().zip(x).fold(0i32, |s, (&wv, &xv)| {
                s.wrapping_add(i32::from(wv) * i32::from(xv))
            }),
            _ => 0,
        };
        *o = q.apply(r, acc);
    }
}

/// Int8 matrix product of `L` input rows with one weight matrix:
/// `out[l · rows + r] = Σ_c x[l · cols + c] · w[r · cols + c]`.
///
/// `x` is row-major `[L × cols]`, `w` row-major `[rows × cols]`, `out` row-major `[L × rows]`.
/// Each complete input row `l` and output row `l` pair is computed as
/// [`matvec_i8`]`(&x[l·cols..][..cols], w, &mut out[l·rows..][..rows])`; output elements that
/// no complete input row reaches are set to 0. `cols == 0` or `rows == 0` zero all of `out`.
pub fn matmul_i8(x: &[i8], w: &[i8], cols: usize, rows: usize, out: &mut [i32]) {
    matmul_with(x, w, cols, rows, out, matvec_i8);
}

/// [`matmul_i8`]'s row loop around any matrix-vector kernel with `matvec_i8`'s contract.
pub(super) fn matmul_with<F: Fn(&[i8], &[i8], &mut [i32])>(
    x: &[i8],
    w: &[i8],
    cols: usize,
    rows: usize,
    out: &mut [i32],
    matvec: F,
) {
    if cols == 0 || rows == 0 {
        out.fill(0);
        return;
    }
    let mut done = 0;
    for (xr, o) in x.chunks_exact(cols).zip(out.chunks_exact_mut(rows)) {
        matvec(xr, w, o);
        done += rows;
    }
    if let Some(rest) = out.get_mut(done..) {
        rest.fill(0);
    }
}

/// Float head logits: `logits[c] = bias[c] + Σ_j w[c·f + j] · x[j]` with `f = x.len()`,
/// summed in order `j = 0, 1, …` in f32 (multiply, then add), weights and biases read as
/// little-endian f32 (0.0 past the end of either).
pub fn head_logits(weights: &[u8], bias: &[u8], x: &[f32], logits: &mut [f32]) {
    for (c, l) in logits.iter_mut().enumerate() {
        *l = head_logit(weights, bias, x, c);
    }
}

/// Logit `c` of [`head_logits`].
pub fn head_logit(weights: &[u8], bias: &[u8], x: &[f32], c: usize) -> f32 {
    let f = x.len();
    let mut acc = crate::bytes::read_f32(bias, c);
    for (j, &xv) in x.iter().enumerate() {
        acc += crate::bytes::read_f32(weights, c.wrapping_mul(f).wrapping_add(j)) * xv;
    }
    acc
}
