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
//! buffer (`LDRD` then brings both lanes in: 21 instructions per 16 multiply-accumulates), each
//! 4-row tile returns its sums in registers, and each output is requantised by 25
//! branch-free instructions (`SMULL`, `QADD`, `USAT`, `SSAT`) exactly as TFLite's
//! `MultiplyByQuantizedMultiplier`.
//!
//! # Memory access
//! Rows start at `r · cols`, so for odd `cols` the word loads are unaligned. ARMv7-M
//! performs unaligned `LDR` in hardware unless software sets `CCR.UNALIGN_TRP` (reset value
//! 0); firmware that sets it must not use these kernels.

use core::arch::asm;

use super::Requant;

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

/// Widest input row [`fully_connected_i8`] sign-extends once into a stack buffer (1 KiB);
/// wider rows are extended on the fly, as in [`rows4`].
const EXT_COLS: usize = 512;

/// [`super::portable::fully_connected_i8`], with the DSP extension.
///
/// Four output rows at a time: [`tile4_ext`] (input extended once per call, 21 instructions
/// per 16 multiply-accumulates) or [`tile4`] (wider inputs, 23), whose four sums come back in
/// registers and are requantised at once by [`requant`] (25 instructions per output, no
/// branch). The last `rows % 4` rows use [`row1`]; rows whose parameters are missing (never in
/// a validated model) take the definition's path.
pub(super) fn fully_connected_i8(x: &[i8], w: &[i8], q: &Requant<'_>, out: &mut [i8]) {
    let cols = x.len();
    let full_rows = w.len().checked_div(cols).map_or(0, |n| n.min(out.len()));
    let with_params = full_rows
        .min(q.bias.len() / 4)
        .min(q.mults.len() / 4)
        .min(q.shifts.len());
    let tiles = with_params / TILE;
    let mut buf = core::mem::MaybeUninit::<[u32; EXT_COLS / 2]>::uninit();
    let ext = if cols <= EXT_COLS {
        Some(extend(x, &mut buf))
    } else {
        None
    };
    let params = q
        .bias
        .chunks_exact(4 * TILE)
        .zip(q.mults.chunks_exact(4 * TILE))
        .zip(q.shifts.chunks_exact(TILE));
    let rows = w
        .chunks_exact(TILE * cols.max(1))
        .zip(out.chunks_exact_mut(TILE));
    for ((wt, o), ((b, m), s)) in rows.zip(params).take(tiles) {
        let acc = match ext {
            Some(e) => tile4_ext(e, x, wt),
            None => tile4(x, wt),
        };
        let (Some(o), Some(b), Some(m), Some(s)) = (
            o.first_chunk_mut::<TILE>(),
            b.first_chunk::<{ 4 * TILE }>(),
            m.first_chunk::<{ 4 * TILE }>(),
            s.first_chunk::<TILE>(),
        ) else {
            continue;
        };
        // Unrolled by hand (opt-level "s" does not unroll), so that the sums stay in
        // registers and every parameter is read at a constant offset.
        let le = |p: &[u8; 4 * TILE], k: usize| {
            i32::from_le_bytes([p[4 * k], p[4 * k + 1], p[4 * k + 2], p[4 * k + 3]])
        };
        let [a0, a1, a2, a3] = acc;
        o[0] = requant(a0, le(b, 0), le(m, 0), s[0] as i8, q);
        o[1] = requant(a1, le(b, 1), le(m, 1), s[1] as i8, q);
        o[2] = requant(a2, le(b, 2), le(m, 2), s[2] as i8, q);
        o[3] = requant(a3, le(b, 3), le(m, 3), s[3] as i8, q);
    }
    for (r, o) in out.iter_mut().enumerate().skip(TILE * tiles) {
        // `r < full_rows`: row r lies within `w`, and `(r + 1)·cols` cannot overflow.
        let acc = if r < full_rows {
            w.get(r * cols..(r + 1) * cols)
                .map_or(0, |row| row1(x, row))
        } else {
            0
        };
        *o = if r < with_params {
            let s = q.shifts.get(r).map_or(0, |&s| s as i8);
            requant(acc, word(q.bias, r), word(q.mults, r), s, q)
        } else {
            q.apply(r, acc)
        };
    }
}

/// Little-endian `i32` number `k` of `b` (0 past the end).
#[inline(always)]
fn word(b: &[u8], k: usize) -> i32 {
    b.get(4 * k..4 * k + 4)
        .and_then(|b| b.first_chunk::<4>())
        .map_or(0, |b| i32::from_le_bytes(*b))
}

/// [`Requant::apply`] for one output, branch-free: 25 instructions.
#[inline(always)]
fn requant(acc: i32, bias: i32, mult: i32, shift: i8, q: &Requant<'_>) -> i8 {
    let v: i32;
    // SAFETY: register-only arithmetic; no memory or stack access.
    // - `left = clamp(shift, 0, 31)` and `right = clamp(−shift, 0, 31)` (USAT #5) as in
    //   `multiply_by_quantized_multiplier`; `x · 2^left` wraps like `wrapping_mul`.
    // - Saturating rounding doubling high multiply: `(x·m + 2^30) >> 31` from the 64-bit
    //   product; doubling the high word with QADD saturates exactly in the one case where the
    //   result does not fit (x = m = i32::MIN → i32::MAX), and equals a shift otherwise.
    // - Rounding divide by 2^right as TFLite: `(v >> e) + (v & mask > (mask >> 1) + (v < 0))`.
    // - `saturating_add(out_zp)` is QADD; `clamp(lo, 127)` is SSAT #8 then max with `lo`
    //   (`lo` is an `i8`, so the two agree).
    unsafe {
        asm!(
            "add    {v}, {v}, {bias}",
            "usat   {l}, #5, {sh}",
            "lsl    {v}, {v}, {l}",
            "rsb    {l}, {sh}, #0",
            "usat   {l}, #5, {l}",
            "smull  {lo}, {hi}, {v}, {m}",
            "adds   {lo}, {lo}, #0x40000000",
            "adc    {hi}, {hi}, #0",
            "qadd   {hi}, {hi}, {hi}",
            "orr    {v}, {hi}, {lo}, lsr #31",
            "mov    {m}, #1",
            "lsl    {m}, {m}, {l}",
            "sub    {m}, {m}, #1",
            "and    {lo}, {v}, {m}",
            "asr    {m}, {m}, #1",
            "add    {m}, {m}, {v}, lsr #31",
            "asr    {v}, {v}, {l}",
            "cmp    {lo}, {m}",
            "it     gt",
            "addgt  {v}, {v}, #1",
            "qadd   {v}, {v}, {zp}",
            "ssat   {v}, #8, {v}",
            "cmp    {v}, {floor}",
            "it     lt",
            "movlt  {v}, {floor}",
            v = inout(reg) acc => v,
            bias = in(reg) bias,
            sh = in(reg) i32::from(shift),
            m = inout(reg) mult => _,
            zp = in(reg) i32::from(q.out_zp),
            floor = in(reg) i32::from(q.lo),
            l = out(reg) _,
            lo = out(reg) _,
            hi = out(reg) _,
            options(pure, nomem, nostack),
        );
    }
    v as i8
}

/// Sign-extends `x[0..cols & !3]` into `buf` for [`tile4_ext`]: per 4 input bytes two words,
/// `SXTB16(x)` (bytes 0 and 2) then `SXTB16(x ROR 8)` (bytes 1 and 3). Returns the filled part.
/// `x.len() ≤ EXT_COLS`.
fn extend<'b>(x: &[i8], buf: &'b mut core::mem::MaybeUninit<[u32; EXT_COLS / 2]>) -> &'b [u32] {
    let groups = (x.len() / 4).min(EXT_COLS / 4);
    let out = buf.as_mut_ptr().cast::<u32>();
    if groups > 0 {
        // SAFETY: reads `x[0..4·groups]` (`4·groups ≤ x.len()`), writes `buf[0..2·groups]`
        // (`2·groups ≤ EXT_COLS / 2`): both in bounds; `buf` is exclusively borrowed.
        // Unaligned word loads of `x` are handled by ARMv7-M hardware.
        unsafe {
            asm!(
                "2:",
                "ldr    {a}, [{xp}], #4",
                "sxtb16 {b}, {a}",
                "sxtb16 {a}, {a}, ror #8",
                "strd   {b}, {a}, [{op}], #8",
                "subs   {n}, {n}, #1",
                "bne    2b",
                xp = inout(reg) x.as_ptr() => _,
                op = inout(reg) out => _,
                n = inout(reg) groups => _,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack),
            );
        }
    }
    // SAFETY: the first `2·groups` words were just written (a `u32` has no invalid values).
    unsafe { core::slice::from_raw_parts(out, 2 * groups) }
}

/// One 4-column step for four rows on an extended input (21 instructions): `xp` points into
/// the extended words, the rest as in `step_rows4`.
macro_rules! step_rows4_ext {
    () => {
        concat!(
            "ldrd   {xb}, {xa}, [{xp}], #8\n",
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

/// The last `cols % 4` columns of a tile, one at a time (`xp` on the input bytes).
macro_rules! tail_rows4 {
    () => {
        concat!(
            "ands   {t}, {s}, #3\n",
            "beq    6f\n",
            "7:\n",
            "ldrsb  {xa}, [{xp}], #1\n",
            "ldrsb  {w}, [{b}, {s}]\n",
            "smlabb {a1}, {xa}, {w}, {a1}\n",
            "ldrsb  {w}, [{b}, {s}, lsl #1]\n",
            "smlabb {a2}, {xa}, {w}, {a2}\n",
            "ldrsb  {w}, [{b}, {s3}]\n",
            "smlabb {a3}, {xa}, {w}, {a3}\n",
            "ldrsb  {w}, [{b}], #1\n",
            "smlabb {a0}, {xa}, {w}, {a0}\n",
            "subs   {t}, {t}, #1\n",
            "bne    7b\n",
            "6:\n",
        )
    };
}

/// The four sums `Σ_c x[c] · w[r·cols + c]`, `r` in `0..4`, `cols = x.len()`, with the input
/// extended in `ext` ([`extend`]); zeros unless `w` holds four rows and `ext` the input.
#[inline(always)]
fn tile4_ext(ext: &[u32], x: &[i8], w: &[i8]) -> [i32; 4] {
    let cols = x.len();
    if w.len() / TILE < cols || ext.len() != 2 * (cols / 4) {
        return [0; 4];
    }
    let (a0, a1, a2, a3): (i32, i32, i32, i32);
    let e0 = ext.as_ptr();
    // SAFETY: reads `ext[0..2·(cols/4)]`, `x[cols & !3..cols]` and `w[0..4·cols]` (bounds
    // checked above); writes only a 16-byte frame below the stack pointer, restored before
    // the end.
    // - `xp` walks the extended words, 8 bytes per 4 columns, to `e0 + 2·(cols/4)` words
    //   (two steps per iteration up to `end8`, then at most one more to `end4`); then it is
    //   reloaded with `x + (cols & !3)` (kept in the frame) for the `cols % 4` tail bytes.
    // - `b` starts at row 0 and advances with the columns (row r is read at `b + r·s`); it
    //   ends at `w + cols`.
    // - `end8`/`end4` and the tail pointer live in the frame: the loop needs every register inline assembly may
    //   use. Unaligned word loads of `w` are handled by ARMv7-M hardware.
    unsafe {
        asm!(
            // Frame: [sp] end8, [sp+4] end4, [sp+8] x + (cols & !3).
            "sub    sp, sp, #16",
            "strd   {t}, {w}, [sp]",
            "str    {xa}, [sp, #8]",
            "mov    {a0}, #0",
            "mov    {a1}, #0",
            "mov    {a2}, #0",
            "mov    {a3}, #0",
            "cmp    {xp}, {t}",
            "beq    3f",
            "2:",
            step_rows4_ext!(),
            step_rows4_ext!(),
            "ldr    {t}, [sp]",
            "cmp    {xp}, {t}",
            "bne    2b",
            "3:",
            "ldr    {t}, [sp, #4]",
            "cmp    {xp}, {t}",
            "beq    4f",
            step_rows4_ext!(),
            "4:",
            "ldr    {xp}, [sp, #8]",
            "add    sp, sp, #16",
            tail_rows4!(),
            xp = inout(reg) e0 => _,
            b = inout(reg) w.as_ptr() => _,
            s = in(reg) cols,
            s3 = in(reg) cols.wrapping_mul(3),
            t = inout(reg) e0.wrapping_add(2 * (cols / 8) * 2) => _,
            w = inout(reg) e0.wrapping_add(2 * (cols / 4)) => _,
            xa = inout(reg) x.as_ptr().wrapping_add(cols & !3) => _,
            xb = out(reg) _,
            a0 = out(reg) a0,
            a1 = out(reg) a1,
            a2 = out(reg) a2,
            a3 = out(reg) a3,
        );
    }
    [a0, a1, a2, a3]
}

/// [`tile4_ext`] with the input extended on the fly (any `cols`; 23 instructions per
/// 16 multiply-accumulates).
#[inline(always)]
fn tile4(x: &[i8], w: &[i8]) -> [i32; 4] {
    let cols = x.len();
    if w.len() / TILE < cols {
        return [0; 4];
    }
    let (a0, a1, a2, a3): (i32, i32, i32, i32);
    let x0 = x.as_ptr();
    // SAFETY: reads `x[0..cols]` and `w[0..4·cols]` (bounds checked above); writes only an
    // 8-byte frame below the stack pointer, restored before the end. `xp` walks the input
    // bytes to `x + cols` (4 per step up to `x + (cols & !3)`, then 1 per tail column), `b`
    // the rows as in `tile4_ext`. Unaligned word loads are handled by ARMv7-M hardware.
    unsafe {
        asm!(
            "strd   {t}, {w}, [sp, #-8]!",
            "mov    {a0}, #0",
            "mov    {a1}, #0",
            "mov    {a2}, #0",
            "mov    {a3}, #0",
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
            "add    sp, sp, #8",
            tail_rows4!(),
            xp = inout(reg) x0 => _,
            b = inout(reg) w.as_ptr() => _,
            s = in(reg) cols,
            s3 = in(reg) cols.wrapping_mul(3),
            t = inout(reg) x0.wrapping_add(cols & !7) => _,
            w = inout(reg) x0.wrapping_add(cols & !3) => _,
            xa = out(reg) _,
            xb = out(reg) _,
            a0 = out(reg) a0,
            a1 = out(reg) a1,
            a2 = out(reg) a2,
            a3 = out(reg) a3,
        );
    }
    [a0, a1, a2, a3]
}
