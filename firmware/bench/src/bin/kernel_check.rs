//! Bit-exactness of `hone::kernels` against `hone::kernels::portable` on Cortex-M4:
//! matrix-vector products, matrix products and fully connected layers with their
//! requantisation.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use hone::kernels::{self, portable};
use hone_fw_bench::{exit, finish, Rng};

/// Random cases (every 500th has 2^17 + 0..3 columns of extreme values, so sums wrap).
const CASES: u32 = 3000;
/// Columns of the wrap-around cases: 2^17 products of 2^14 reach 2^31.
const WRAP_COLS: usize = 1 << 17;
/// Buffer sizes: three rows of the widest case plus 3 bytes of misalignment.
const XN: usize = WRAP_COLS + 8;
const WN: usize = 3 * WRAP_COLS + 16;
/// Fully connected cases.
const FC_CASES: u32 = 2000;
/// Most output rows in one case.
const MAX_ROWS: usize = 40;

#[entry]
fn main() -> ! {
    let Some(xb) = cortex_m::singleton!(: [i8; XN] = [0; XN]) else {
        finish(exit::BAD_INPUT)
    };
    let Some(wb) = cortex_m::singleton!(: [i8; WN] = [0; WN]) else {
        finish(exit::BAD_INPUT)
    };
    defmt::info!("kernel-check: backend {=str}", kernels::BACKEND);
    let mut rng = Rng(0x2545_f491);
    let (mut passed, mut failed) = (0u32, 0u32);
    for case in 0..CASES {
        let wrap = case % 500 == 499;
        let cols = match case % 3 {
            _ if wrap => WRAP_COLS + rng.below(4),
            0 => rng.below(1100),
            _ => rng.below(80),
        };
        let rows = if wrap {
            1 + rng.below(3)
        } else {
            rng.below(MAX_ROWS)
        };
        // Slices start 0..3 bytes past a word boundary.
        let (xo, wo) = (rng.below(4), rng.below(4));
        let short = if rng.below(6) == 0 {
            rng.below(cols + 1)
        } else {
            0
        };
        let x = &mut xb[xo..xo + cols];
        let w = &mut wb[wo..wo + (rows * cols).saturating_sub(short)];
        rng.fill(x);
        rng.fill(w);
        if wrap {
            x.fill(-128);
            w.fill(-128);
        }
        let (mut got, mut want) = ([0x5a5a_i32; MAX_ROWS], [-0x5a5a_i32; MAX_ROWS]);
        let (got, want) = (&mut got[..rows], &mut want[..rows]);
        kernels::matvec_i8(x, w, got);
        portable::matvec_i8(x, w, want);
        if got == want {
            passed += 1;
        } else {
            failed += 1;
            defmt::error!(
                "kernel-check: matvec case {=u32} cols {=usize} rows {=usize} offsets {=usize}/{=usize} short {=usize} FAIL: {} != {}",
                case, cols, rows, xo, wo, short, got, want
            );
        }
    }
    // matmul: the entry point over several input rows.
    for case in 0..300u32 {
        let (l, cols, rows) = (rng.below(6), rng.below(70), rng.below(12));
        let x = &mut xb[..l * cols + rng.below(3)];
        let w = &mut wb[..rows * cols];
        rng.fill(x);
        rng.fill(w);
        let n = (l * rows + rng.below(3)).min(4 * MAX_ROWS);
        let (mut got, mut want) = ([0x5a5a_i32; 4 * MAX_ROWS], [-0x5a5a_i32; 4 * MAX_ROWS]);
        let (got, want) = (&mut got[..n], &mut want[..n]);
        kernels::matmul_i8(x, w, cols, rows, got);
        portable::matmul_i8(x, w, cols, rows, want);
        if got == want {
            passed += 1;
        } else {
            failed += 1;
            defmt::error!(
                "kernel-check: matmul case {=u32} l {=usize} cols {=usize} rows {=usize} FAIL",
                case,
                l,
                cols,
                rows
            );
        }
    }
    // Fully connected with requantisation: inputs up to 1100 columns (extended once up to
    // 512, on the fly beyond), any parameters (extreme multipliers and biases, every shift),
    // sometimes short weight or parameter slices.
    let mut params = [0u8; 9 * MAX_ROWS];
    for case in 0..FC_CASES {
        let cols = match case % 3 {
            0 => rng.below(1100),
            _ => rng.below(80),
        };
        let rows = rng.below(MAX_ROWS);
        let (xo, wo) = (rng.below(4), rng.below(4));
        let short = if rng.below(8) == 0 {
            rng.below(cols + 1)
        } else {
            0
        };
        let x = &mut xb[xo..xo + cols];
        let w = &mut wb[wo..wo + (rows * cols).saturating_sub(short)];
        rng.fill(x);
        rng.fill(w);
        for (i, p) in params.iter_mut().enumerate() {
            let r = rng.next_u32();
            *p = match (i < 8 * MAX_ROWS, rng.below(8)) {
                // Multipliers and biases: i32::MIN/MAX bytes sometimes.
                (true, 0) => 0x80,
                (true, 1) => 0x7f,
                (true, 2) => 0,
                // Shifts: usually -13..=0, sometimes any i8.
                (false, 0..=5) => (-((r % 14) as i8)) as u8,
                _ => r.to_le_bytes()[3],
            };
        }
        let (bias, rest) = params.split_at(4 * MAX_ROWS);
        let (mults, shifts) = rest.split_at(4 * MAX_ROWS);
        let cut = if rng.below(8) == 0 {
            rng.below(rows + 1)
        } else {
            0
        };
        let q = kernels::Requant {
            bias: &bias[..4 * (rows - cut)],
            mults: &mults[..4 * rows],
            shifts: &shifts[..rows],
            out_zp: rng.next_u32() as i8,
            lo: if rng.below(2) == 0 {
                -128
            } else {
                rng.next_u32() as i8
            },
        };
        let (mut got, mut want) = ([0x5a_i8; MAX_ROWS], [-0x5a_i8; MAX_ROWS]);
        let (got, want) = (&mut got[..rows], &mut want[..rows]);
        kernels::fully_connected_i8(x, w, &q, got);
        portable::fully_connected_i8(x, w, &q, want);
        if got == want {
            passed += 1;
        } else {
            failed += 1;
            defmt::error!(
                "kernel-check: fully connected case {=u32} cols {=usize} rows {=usize} short {=usize} cut {=usize} FAIL: {} != {}",
                case, cols, rows, short, cut, got, want
            );
        }
    }
    defmt::info!("kernel-check: {=u32} passed, {=u32} failed", passed, failed);
    finish(if failed == 0 && passed > 0 {
        exit::SUCCESS
    } else {
        exit::MISMATCH
    })
}
