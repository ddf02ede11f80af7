//! ARMv7E-M DSP kernels (Cortex-M4/M7): **the crate's only `unsafe` code**.
//!
//! Compiled only for `thumbv7em-*` targets (`cfg(hone_dsp)`, set by the build script). Each
//! function here returns exactly what its definition in [`super::portable`] returns.
//!
//! # Technique
//! A 32-bit load brings in four int8 values. `SXTB16` sign-extends bytes 0 and 2 into two
//! 16-bit lanes, `SXTB16 …, ROR #8` bytes 1 and 3, and `SMLAD` multiplies two pairs of lanes
//! and adds both products to a 32-bit accumulator (wrapping modulo 2^32, like the portable
//! `wrapping_add`). Four output rows are computed together so that each input word, loaded
//! and extended once, feeds eight `SMLAD`s: 23 instructions per 16 multiply-accumulates, plus
//! 3 instructions of loop control per 32. The last `cols % 4` columns use `LDRSB` + `SMLABB`.
//! One assembly block runs all complete 4-row tiles (about 23 instructions of overhead per
//! tile); the last `rows % 4` rows use a one-row loop (10 instructions per 4 columns).
//!
//! The fully connected op (`fully_connected_i8`) fuses the kernel with the output
//! requantisation: inputs up to 512 columns are sign-extended once per call into a stack
//! buffer (`LDRD` then brings both lanes in: 21 instructions per 16 multiply-accumulates), the
//! tiles and their requantisation run in one assembly loop, and each output is requantised by
//! 15 branch-free instructions exactly as TFLite's `MultiplyByQuantizedMultiplier` (`fc.rs`).
//!
//! # Memory access
//! Rows start at `r · cols`, so for odd `cols` the word loads are unaligned. ARMv7-M
//! performs unaligned `LDR` in hardware unless software sets `CCR.UNALIGN_TRP` (reset value
//! 0); firmware that sets it must not use these kernels.

use core::arch::asm;

/// Output rows computed together by [`rows4`].
const TILE: usize = 4;

/// [`super::portable::matvec_i8`], with the DSP extension.
pub(super) fn matvec_i8(x: &[i8], w: &[i8], acc: &mut [i32]) {
    let cols = x.len();
    if cols == 0 {
        acc.fill(0);
        return;
    }
    let full_rows = acc.len().min(w.len() / cols);
    let (acc, missing) = acc.split_at_mut(full_rows);
    missing.fill(0);
    let tiled = full_rows - full_rows % TILE;
    let (acc_tiles, acc_rest) = acc.split_at_mut(tiled);
    // `tiled · cols ≤ full_rows · cols ≤ w.len()`, so the split always succeeds.
    let Some((w_tiles, w_rest)) = w.split_at_checked(tiled * cols) else {
        return;
    };
    rows4(x, w_tiles, acc_tiles);
    for (row, out) in w_rest.chunks_exact(cols).zip(acc_rest) {
        *out = row1(x, row);
    }
}

/// One 4-column step for four rows (23 instructions). Operands are named by the caller's
/// `asm!`: `xp` input pointer, `b` row-0 pointer, `s` row stride, `s3` 3 × stride, `xa`/`xb`
/// extended input lanes, `w`/`t` weight scratch, `a0`..`a3` accumulators.
macro_rules! step_rows4 {
    () => {
        concat!(
            "ldr    {xa}, [{xp}], #4\n",
            "sxtb16 {xb}, {xa}\n",
            "sxtb16 {xa}, {xa}, ror #8\n",
            macs_rows4!(),
        )
    };
}

/// The weight half of a 4-column step for four rows (20 instructions), shared by
/// `step_rows4!` and `fc.rs`'s `step_rows4_ext!`, which differ only in how the input lanes
/// `xa`/`xb` are loaded; operands as in `step_rows4!`.
macro_rules! macs_rows4 {
    () => {
        concat!(
            "ldr    {w}, [{b}, {s}]\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad  {a1}, {t}, {xb}, {a1}\n",
            "smlad  {a1}, {w}, {xa}, {a1}\n",
            "ldr    {w}, [{b}, {s}, lsl #1]\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad  {a2}, {t}, {xb}, {a2}\n",
            "smlad  {a2}, {w}, {xa}, {a2}\n",
            "ldr    {w}, [{b}, {s3}]\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad  {a3}, {t}, {xb}, {a3}\n",
            "smlad  {a3}, {w}, {xa}, {a3}\n",
            "ldr    {w}, [{b}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad  {a0}, {t}, {xb}, {a0}\n",
            "smlad  {a0}, {w}, {xa}, {a0}\n",
        )
    };
}

/// `acc[r] = Σ_c x[c] · w[r · cols + c]` for every `r` in `0..n`, `n = acc.len()` rounded
/// down to a multiple of 4, `cols = x.len()`. Does nothing unless `w` holds `n` rows.
fn rows4(x: &[i8], w: &[i8], acc: &mut [i32]) {
    let cols = x.len();
    let tiles = acc.len() / TILE;
    if cols == 0 || tiles == 0 || w.len() / cols / TILE < tiles {
        return;
    }
    let x0 = x.as_ptr();
    let body = cols & !3;
    // SAFETY: reads `x[0..cols]` and `w[0..4·tiles·cols]`, writes `acc[0..4·tiles]`; all
    // three bounds are checked above and `acc` is the only mutable borrow.
    // - Per tile of rows 4k..4k+3, `xp` restarts at `x0` and advances 4 bytes per step to
    //   `end4 = x0 + (cols & !3)`, then 1 byte per tail column to `x0 + cols`; `b` starts at
    //   `w + 4k·cols` and advances in step with `xp` (row r of the tile is read at
    //   `b + r·s`), so it ends at `w + 4k·cols + cols`, and `add b, s3` moves it to the next
    //   tile. The loop ends when the output pointer reaches `acc + 4·tiles` (4 words stored
    //   per tile, `tiles ≥ 1`).
    // - Five values are kept in a 24-byte frame pushed below the stack pointer, which is
    //   restored before the end: the loops need 12 live registers, every register Thumb-2
    //   inline assembly may use.
    // - Unaligned word loads are handled by ARMv7-M hardware (see the module documentation).
    unsafe {
        asm!(
            // Frame: [sp] end8, [sp+4] end4, [sp+8] out, [sp+12] out end, [sp+16] x0.
            "sub    sp, sp, #24",
            "strd   {t}, {w}, [sp]",
            "strd   {a0}, {a1}, [sp, #8]",
            "str    {xp}, [sp, #16]",
            "5:",
            "mov    {a0}, #0",
            "mov    {a1}, #0",
            "mov    {a2}, #0",
            "mov    {a3}, #0",
            "ldr    {xp}, [sp, #16]",
            // Two 4-column steps per iteration up to end8, then at most one more to end4.
            "ldr    {t}, [sp]",
            "cmp    {xp}, {t}",
            "beq    3f",
            "2:",
            step_rows4!(),
            step_rows4!(),
            "ldr    {t}, [sp]",
            "cmp    {xp}, {t}",
            "bne    2b",
            "3:",
            "ldr    {t}, [sp, #4]",
            "cmp    {xp}, {t}",
            "beq    4f",
            step_rows4!(),
            "4:",
            // The last cols % 4 columns, one at a time.
            "ands   {t}, {s}, #3",
            "beq    6f",
            "7:",
            "ldrsb  {xa}, [{xp}], #1",
            "ldrsb  {w}, [{b}, {s}]",
            "smlabb {a1}, {xa}, {w}, {a1}",
            "ldrsb  {w}, [{b}, {s}, lsl #1]",
            "smlabb {a2}, {xa}, {w}, {a2}",
            "ldrsb  {w}, [{b}, {s3}]",
            "smlabb {a3}, {xa}, {w}, {a3}",
            "ldrsb  {w}, [{b}], #1",
            "smlabb {a0}, {xa}, {w}, {a0}",
            "subs   {t}, {t}, #1",
            "bne    7b",
            "6:",
            // Next tile: store the four sums, move `b` on by three more rows.
            "add    {b}, {b}, {s3}",
            "ldr    {t}, [sp, #8]",
            "str    {a0}, [{t}], #4",
            "str    {a1}, [{t}], #4",
            "str    {a2}, [{t}], #4",
            "str    {a3}, [{t}], #4",
            "str    {t}, [sp, #8]",
            "ldr    {w}, [sp, #12]",
            "cmp    {t}, {w}",
            "bne    5b",
            "add    sp, sp, #24",
            xp = inout(reg) x0 => _,
            b = inout(reg) w.as_ptr() => _,
            s = in(reg) cols,
            s3 = in(reg) cols.wrapping_mul(3),
            t = inout(reg) x0.wrapping_add(cols & !7) => _,
            w = inout(reg) x0.wrapping_add(body) => _,
            xa = out(reg) _,
            xb = out(reg) _,
            a0 = inout(reg) acc.as_mut_ptr() => _,
            a1 = inout(reg) acc.as_mut_ptr().wrapping_add(TILE * tiles) => _,
            a2 = out(reg) _,
            a3 = out(reg) _,
        );
    }
}

/// `Σ_c x[c] · row[c]` over `c` in `0..x.len()` (10 instructions per 4 columns, 3 per
/// column for the last `x.len() % 4`). Returns 0 unless `row.len() ≥ x.len()`.
fn row1(x: &[i8], row: &[i8]) -> i32 {
    let cols = x.len();
    let mut a = 0i32;
    if row.len() < cols {
        return a;
    }
    let xp = x.as_ptr();
    // SAFETY: reads `x[0..cols]` and `row[0..cols]`: 4 bytes per step while `xp` is below
    // `x + (cols & !3)`, then one byte per column for the `cols % 4` left; the bound is
    // checked above and both slices are shared borrows that outlive the block. Nothing is
    // written to memory. Unaligned `LDR` is handled by ARMv7-M hardware (see the module
    // documentation).
    unsafe {
        asm!(
            "cmp    {xp}, {end}",
            "beq    3f",
            "2:",
            "ldr    {xa}, [{xp}], #4",
            "ldr    {w}, [{wp}], #4",
            "sxtb16 {xb}, {xa}",
            "sxtb16 {xa}, {xa}, ror #8",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad  {a}, {t}, {xb}, {a}",
            "smlad  {a}, {w}, {xa}, {a}",
            "cmp    {xp}, {end}",
            "bne    2b",
            "3:",
            "cmp    {n}, #0",
            "beq    4f",
            "5:",
            "ldrsb  {xa}, [{xp}], #1",
            "ldrsb  {w}, [{wp}], #1",
            "smlabb {a}, {xa}, {w}, {a}",
            "subs   {n}, {n}, #1",
            "bne    5b",
            "4:",
            xp = inout(reg) xp => _,
            wp = inout(reg) row.as_ptr() => _,
            end = in(reg) xp.wrapping_add(cols & !3),
            n = inout(reg) cols & 3 => _,
            xa = out(reg) _,
            xb = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            a = inout(reg) a,
            options(readonly, nostack),
        );
    }
    a
}

// The fully connected op (kernel + requantisation); uses `step_rows4!`, `row1` and `TILE`.
mod fc;
pub(super) use fc::fully_connected_i8;
