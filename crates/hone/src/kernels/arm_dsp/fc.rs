//! The fully connected op on ARMv7E-M: 4-row tiles of the DSP kernel whose sums are
//! requantised in registers (see the parent module's documentation). Every function returns
//! exactly what [`crate::kernels::portable::fully_connected_i8`] returns.

use core::arch::asm;

use super::{row1, TILE};
use crate::kernels::Requant;

/// Widest input row [`fully_connected_i8`] sign-extends once into a stack buffer (1 KiB);
/// wider rows are extended on the fly, as in [`tile4`].
const EXT_COLS: usize = 512;

/// [`crate::kernels::portable::fully_connected_i8`], with the DSP extension.
///
/// Four output rows at a time, the sums started at the biases: up to [`EXT_COLS`] inputs,
/// [`tiles_ext`] runs every tile and its requantisation in one assembly loop (input extended
/// once per call, 21 instructions per 16 multiply-accumulates, 15 per output for the
/// requantisation, no branch); wider inputs use [`tile4`] (23 per 16; see `step_rows4!` in the
/// parent module) then [`requant4`]. The last `rows % 4` rows use [`row1`] and [`requant`];
/// rows whose parameters are missing (never in a validated model) take the definition's path.
pub(in crate::kernels) fn fully_connected_i8(x: &[i8], w: &[i8], q: &Requant<'_>, out: &mut [i8]) {
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
    // Parameters of tile t: bias and multipliers at byte 16t, shifts at byte 4t (every
    // tiled row has them: `4·tiles ≤ with_params`).
    let p = Params {
        bias: q.bias.as_ptr(),
        mults: q.mults.as_ptr(),
        shifts: q.shifts.as_ptr(),
        zp: i32::from(q.out_zp),
        floor4: u32::from(q.lo as u8).wrapping_mul(0x0101_0101),
    };
    if let Some(e) = ext {
        tiles_ext(e, x, w, &p, out, tiles);
    } else {
        let rows = w
            .chunks_exact(TILE * cols.max(1))
            .zip(out.chunks_exact_mut(TILE));
        for (t, (wt, o)) in rows.take(tiles).enumerate() {
            let pt = p.at(t);
            let a = tile4(x, wt, pt.bias4());
            let Some(o) = o.first_chunk_mut::<TILE>() else {
                continue;
            };
            requant4(a, &pt, o);
        }
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

/// Requantisation parameters of one tile, as pointers into the blob.
#[derive(Clone, Copy)]
struct Params {
    bias: *const u8,
    mults: *const u8,
    shifts: *const u8,
    zp: i32,
    /// The activation floor `q.lo` in each of the four bytes.
    floor4: u32,
}

impl Params {
    /// The parameters of tile `t` (pointers moved on; dereferenced only by [`Params::bias4`] and [`requant4`]).
    #[inline(always)]
    fn at(&self, t: usize) -> Self {
        Self {
            bias: self.bias.wrapping_add(4 * TILE * t),
            mults: self.mults.wrapping_add(4 * TILE * t),
            shifts: self.shifts.wrapping_add(TILE * t),
            ..*self
        }
    }

    /// The biases of the four rows of this tile (`self` from [`Params::at`] of a tile all of
    /// whose rows have parameters).
    #[inline(always)]
    fn bias4(&self) -> [i32; TILE] {
        // SAFETY: the tile's 16 bias bytes lie within `q.bias` (`fully_connected_i8` only
        // tiles rows `< with_params ≤ q.bias.len() / 4`); unaligned reads are allowed.
        unsafe { self.bias.cast::<[i32; TILE]>().read_unaligned() }.map(i32::from_le)
    }
}

/// Requantisation of one biased sum `$v` (row `$k` of a tile, multiplier at byte `$b`):
/// [`requant`]'s arithmetic in 15 instructions, leaving the output byte in the low byte of
/// `$v` (sign-extended, before the activation floor).
/// - `left = clamp(shift, 0, 31)`, `right = clamp(−shift, 0, 31)` (USAT #5).
/// - Saturating rounding doubling high multiply `⌊(x·m + 2^30) / 2^31⌋`: from the 64-bit
///   product, `QADD(hi, hi) + bit 31 of lo + bit 30 of lo` (LSLS puts bit 31 in C and bit 30
///   on top; ADC adds both). QADD saturates exactly in the one overflowing case
///   (x = m = i32::MIN → i32::MAX, where lo = 0).
/// - Rounding divide by `2^right`, half away from zero: with `y = v − (v < 0)` (ADDS with
///   `v asr 31` also sets C = `v < 0`), the result is `(y asr right) + bit right−1 of y`
///   (ASRS leaves that bit in C; for `right = 0` it leaves C and `y` alone, so the ADC gives
///   back `v`). `v` is never i32::MIN here (`|x·m| ≤ 2^62 − 2^31` for a negative product),
///   so `y` cannot wrap.
/// - `saturating_add(out_zp)` is QADD, then SSAT #8.
macro_rules! requant_one {
    ($v:literal, $k:literal, $b:literal, $l:literal, $lo:literal, $hi:literal, $mp:literal, $sp:literal, $zp:literal) => {
        concat!(
            "ldrsb  ",
            $lo,
            ", [",
            $sp,
            ", #",
            $k,
            "]\n",
            "usat   ",
            $l,
            ", #5, ",
            $lo,
            "\n",
            "lsl    ",
            $v,
            ", ",
            $v,
            ", ",
            $l,
            "\n",
            "rsb    ",
            $lo,
            ", ",
            $lo,
            ", #0\n",
            "usat   ",
            $l,
            ", #5, ",
            $lo,
            "\n",
            "ldr    ",
            $hi,
            ", [",
            $mp,
            ", #",
            $b,
            "]\n",
            "smull  ",
            $lo,
            ", ",
            $hi,
            ", ",
            $v,
            ", ",
            $hi,
            "\n",
            "qadd   ",
            $v,
            ", ",
            $hi,
            ", ",
            $hi,
            "\n",
            "lsls   ",
            $lo,
            ", ",
            $lo,
            ", #1\n",
            "adc    ",
            $v,
            ", ",
            $v,
            ", ",
            $lo,
            ", lsr #31\n",
            "adds   ",
            $v,
            ", ",
            $v,
            ", ",
            $v,
            ", asr #31\n",
            "asrs   ",
            $v,
            ", ",
            $v,
            ", ",
            $l,
            "\n",
            "adc    ",
            $v,
            ", ",
            $v,
            ", #0\n",
            "qadd   ",
            $v,
            ", ",
            $v,
            ", ",
            $zp,
            "\n",
            "ssat   ",
            $v,
            ", #8, ",
            $v,
            "\n",
        )
    };
}

/// [`requant`] of the four (biased) sums of a tile, parameters loaded at constant offsets
/// from `p` (a tile all of whose rows have parameters), outputs stored into `o`: four
/// [`requant_one!`], the bytes packed with BFI, the floor applied to all four at once
/// (SSUB8 sets GE where a byte is ≥ the floor, SEL keeps it, else the floor) and one word
/// store. 69 instructions.
#[inline(always)]
fn requant4(a: [i32; TILE], p: &Params, o: &mut [i8; TILE]) {
    // SAFETY: reads the 4-byte multipliers of the tile's four rows at `p.mults + 4k` and
    // their shift bytes at `p.shifts + k`, k in 0..4: `p` is `Params::at` of a tile whose
    // four rows have parameters (`fully_connected_i8` only tiles rows `< with_params`,
    // which is bounded by every parameter slice). Writes the 4 bytes of an exclusively
    // borrowed `[i8; 4]`. Unaligned word accesses are handled by ARMv7-M hardware. The
    // arithmetic is `requant`'s (see `requant_one!`).
    unsafe {
        asm!(
            requant_one!("{v0}", "0", "0", "{l}", "{lo}", "{hi}", "{mp}", "{sp_}", "{zp}"),
            requant_one!("{v1}", "1", "4", "{l}", "{lo}", "{hi}", "{mp}", "{sp_}", "{zp}"),
            requant_one!("{v2}", "2", "8", "{l}", "{lo}", "{hi}", "{mp}", "{sp_}", "{zp}"),
            requant_one!("{v3}", "3", "12", "{l}", "{lo}", "{hi}", "{mp}", "{sp_}", "{zp}"),
            "bfi    {v0}, {v1}, #8, #8",
            "bfi    {v0}, {v2}, #16, #8",
            "bfi    {v0}, {v3}, #24, #8",
            "ssub8  {lo}, {v0}, {floor4}",
            "sel    {v0}, {v0}, {floor4}",
            "str    {v0}, [{op}]",
            v0 = inout(reg) a[0] => _,
            v1 = inout(reg) a[1] => _,
            v2 = inout(reg) a[2] => _,
            v3 = inout(reg) a[3] => _,
            mp = in(reg) p.mults,
            sp_ = in(reg) p.shifts,
            op = in(reg) o.as_mut_ptr(),
            zp = in(reg) p.zp,
            floor4 = in(reg) p.floor4,
            l = out(reg) _,
            lo = out(reg) _,
            hi = out(reg) _,
            options(nostack),
        );
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

/// Sign-extends `x[0..cols & !3]` into `buf` for [`tiles_ext`]: per 4 input bytes two words,
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
        concat!("ldrd   {xb}, {xa}, [{xp}], #8\n", macs_rows4!(),)
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

/// What [`tiles_ext`] keeps on its stack frame (copied there at the start; byte offsets in
/// the assembly).
#[repr(C)]
struct Frame {
    /// 0: end of the 8-column steps in the extended input.
    end8: *const u32,
    /// 4: end of the extended input.
    end4: *const u32,
    /// 8: the `cols % 4` tail bytes of the input.
    xtail: *const i8,
    /// 12: start of the extended input.
    e0: *const u32,
    /// 16, 20, 24: parameters of the next tile.
    bias: *const u8,
    mults: *const u8,
    shifts: *const u8,
    /// 28: outputs of the next tile.
    out: *mut i8,
    /// 32: output zero point.
    zp: i32,
    /// 36: activation floor in each byte.
    floor4: u32,
    /// 40: tiles left.
    n: usize,
    /// 44: `cols`.
    cols: usize,
}

/// The first `4·tiles` outputs: per tile, the four sums `Σ_c x[c] · w[r·cols + c]` (started
/// at the biases, input extended in `ext` by [`extend`], 21 instructions per 16
/// multiply-accumulates) requantised as in [`requant4`], in one assembly loop (nothing is
/// spilled between the sums and the requantisation). `p` must be [`Params`] whose rows
/// `0..4·tiles` all have parameters; does nothing unless `w` holds `4·tiles` rows, `out`
/// has room and `ext` is the extended input.
fn tiles_ext(ext: &[u32], x: &[i8], w: &[i8], p: &Params, out: &mut [i8], tiles: usize) {
    let cols = x.len();
    let need = tiles.checked_mul(TILE * cols);
    if tiles == 0
        || cols > EXT_COLS
        || ext.len() != 2 * (cols / 4)
        || need.is_none_or(|n| w.len() < n)
        || out.len() < TILE * tiles
    {
        return;
    }
    let e0 = ext.as_ptr();
    let frame = Frame {
        end8: e0.wrapping_add(4 * (cols / 8)),
        end4: e0.wrapping_add(2 * (cols / 4)),
        xtail: x.as_ptr().wrapping_add(cols & !3),
        e0,
        bias: p.bias,
        mults: p.mults,
        shifts: p.shifts,
        out: out.as_mut_ptr(),
        zp: p.zp,
        floor4: p.floor4,
        n: tiles,
        cols,
    };
    // SAFETY: reads `frame` (48 bytes, word-aligned), `ext[0..2·(cols/4)]`,
    // `x[cols & !3..cols]`, `w[0..4·tiles·cols]` (bounds checked above) and the biases,
    // multipliers and shifts of rows `0..4·tiles` (the caller's contract on `p`, see
    // `fully_connected_i8`: every tiled row has parameters); writes `out[0..4·tiles]`
    // (checked above) and a 48-byte frame below the stack pointer, restored before the end.
    // - Per tile, `xp` walks the extended words from `e0` to `end4` (two steps per iteration
    //   up to `end8`, then at most one more), then the tail bytes from `xtail`; `b` starts at
    //   the tile's row 0 (row r at `b + r·s`), ends at row 0's end, and moves on by `3·cols`
    //   to the next tile's row 0.
    // - The requantisation reuses the loop's registers: `xp` = shift amount, `t`, `w` =
    //   product halves, `xa` = multipliers, `xb` = shifts, `s` = zero point then floor; `s`
    //   and `s3` are reloaded from the frame before the next tile.
    // - Unaligned word loads (weights, parameters) and the output word store are handled by
    //   ARMv7-M hardware; LDRD/STRD touch only the word-aligned frame and `Frame`.
    unsafe {
        asm!(
            "sub    sp, sp, #48",
            "ldrd   {xa}, {xb}, [{t}]",
            "strd   {xa}, {xb}, [sp]",
            "ldrd   {xa}, {xb}, [{t}, #8]",
            "strd   {xa}, {xb}, [sp, #8]",
            "ldrd   {xa}, {xb}, [{t}, #16]",
            "strd   {xa}, {xb}, [sp, #16]",
            "ldrd   {xa}, {xb}, [{t}, #24]",
            "strd   {xa}, {xb}, [sp, #24]",
            "ldrd   {xa}, {xb}, [{t}, #32]",
            "strd   {xa}, {xb}, [sp, #32]",
            "ldrd   {xa}, {xb}, [{t}, #40]",
            "strd   {xa}, {xb}, [sp, #40]",
            "1:",
            "ldr    {t}, [sp, #16]",
            "ldr    {a0}, [{t}]",
            "ldr    {a1}, [{t}, #4]",
            "ldr    {a2}, [{t}, #8]",
            "ldr    {a3}, [{t}, #12]",
            "add    {t}, {t}, #16",
            "str    {t}, [sp, #16]",
            "ldr    {xp}, [sp, #12]",
            "ldr    {t}, [sp]",
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
            tail_rows4!(),
            "add    {b}, {b}, {s3}",
            "ldrd   {xa}, {xb}, [sp, #20]",
            "ldr    {s}, [sp, #32]",
            requant_one!("{a0}", "0", "0", "{xp}", "{t}", "{w}", "{xa}", "{xb}", "{s}"),
            requant_one!("{a1}", "1", "4", "{xp}", "{t}", "{w}", "{xa}", "{xb}", "{s}"),
            requant_one!("{a2}", "2", "8", "{xp}", "{t}", "{w}", "{xa}", "{xb}", "{s}"),
            requant_one!("{a3}", "3", "12", "{xp}", "{t}", "{w}", "{xa}", "{xb}", "{s}"),
            "add    {xa}, {xa}, #16",
            "add    {xb}, {xb}, #4",
            "strd   {xa}, {xb}, [sp, #20]",
            "bfi    {a0}, {a1}, #8, #8",
            "bfi    {a0}, {a2}, #16, #8",
            "bfi    {a0}, {a3}, #24, #8",
            "ldr    {s}, [sp, #36]",
            "ssub8  {t}, {a0}, {s}",
            "sel    {a0}, {a0}, {s}",
            "ldr    {t}, [sp, #28]",
            "str    {a0}, [{t}], #4",
            "str    {t}, [sp, #28]",
            "ldr    {s}, [sp, #44]",
            "add    {s3}, {s}, {s}, lsl #1",
            "ldr    {t}, [sp, #40]",
            "subs   {t}, {t}, #1",
            "str    {t}, [sp, #40]",
            "bne    1b",
            "add    sp, sp, #48",
            t = inout(reg) &raw const frame => _,
            b = inout(reg) w.as_ptr() => _,
            s = inout(reg) cols => _,
            s3 = inout(reg) cols.wrapping_mul(3) => _,
            xp = out(reg) _,
            w = out(reg) _,
            xa = out(reg) _,
            xb = out(reg) _,
            a0 = out(reg) _,
            a1 = out(reg) _,
            a2 = out(reg) _,
            a3 = out(reg) _,
        );
    }
}

/// [`tiles_ext`]'s sums of one tile with the input extended on the fly (any `cols`; 23 instructions per
/// 16 multiply-accumulates).
#[inline(always)]
fn tile4(x: &[i8], w: &[i8], bias: [i32; 4]) -> [i32; 4] {
    let cols = x.len();
    if cols.checked_mul(TILE).is_none_or(|n| w.len() < n) {
        return bias;
    }
    let (a0, a1, a2, a3): (i32, i32, i32, i32);
    let x0 = x.as_ptr();
    // SAFETY: reads `x[0..cols]` and `w[0..4·cols]` (bounds checked above); writes only an
    // 8-byte frame below the stack pointer, restored before the end. `xp` walks the input
    // bytes to `x + cols` (4 per step up to `x + (cols & !3)`, then 1 per tail column), `b`
    // the rows as in `tiles_ext`. Unaligned word loads are handled by ARMv7-M hardware.
    unsafe {
        asm!(
            "strd   {t}, {w}, [sp, #-8]!",
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
            a0 = inout(reg) bias[0] => a0,
            a1 = inout(reg) bias[1] => a1,
            a2 = inout(reg) bias[2] => a2,
            a3 = inout(reg) bias[3] => a3,
        );
    }
    [a0, a1, a2, a3]
}
