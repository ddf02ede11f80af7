//! Host tests of the portable definitions against an independent 64-bit reference.

extern crate std;

use super::{fully_connected_i8, head_logits, matmul_i8, matvec_i8, portable, Requant};
use std::{vec, vec::Vec};

/// xorshift32: deterministic pseudo-random shapes and values.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn below(&mut self, n: u32) -> usize {
        (self.next() % n) as usize
    }
    /// Uniform int8, or (one time in four) only the extremes -128/127.
    fn fill(&mut self, v: &mut [i8]) {
        let extreme = self.below(4) == 0;
        for e in v {
            let r = self.next();
            *e = if extreme {
                if r & 1 == 0 {
                    -128
                } else {
                    127
                }
            } else {
                (r >> 24) as u8 as i8
            };
        }
    }
}

/// Independent reference: 64-bit sums, reduced modulo 2^32 at the end.
fn reference(x: &[i8], w: &[i8], rows: usize) -> Vec<i32> {
    let cols = x.len();
    (0..rows)
        .map(|r| match w.get(r * cols..(r + 1) * cols) {
            Some(row) if cols > 0 => row
                .iter()
                .zip(x)
                .map(|(&a, &b)| i64::from(a) * i64::from(b))
                .sum::<i64>() as i32,
            _ => 0,
        })
        .collect()
}

#[test]
fn matvec_matches_reference_on_random_shapes() {
    let mut rng = Rng(0x1234_5678);
    for _ in 0..400 {
        let cols = rng.below(70);
        let rows = rng.below(13);
        // Sometimes a weight slice that is short by a few bytes.
        let short = if rng.below(5) == 0 {
            rng.below(cols.max(1) as u32 + 1)
        } else {
            0
        };
        let mut x = vec![0i8; cols];
        let mut w = vec![0i8; (rows * cols).saturating_sub(short)];
        rng.fill(&mut x);
        rng.fill(&mut w);
        let mut acc = vec![i32::MIN; rows];
        matvec_i8(&x, &w, &mut acc);
        assert_eq!(
            acc,
            reference(&x, &w, rows),
            "cols {cols} rows {rows} short {short}"
        );
    }
}

#[test]
fn matvec_extremes_are_exact() {
    for cols in [1, 3, 4, 7, 8, 9, 31, 1024] {
        let x = vec![-128i8; cols];
        let mut w = vec![-128i8; cols];
        w.extend(vec![127i8; cols]);
        let mut acc = [0i32; 2];
        matvec_i8(&x, &w, &mut acc);
        let n = cols as i32;
        assert_eq!(acc, [16384 * n, -16256 * n]);
    }
}

#[test]
fn matvec_wraps_modulo_2_pow_32() {
    // 2^17 products of (-128)·(-128) = 2^14 sum to 2^31, which wraps to i32::MIN.
    let cols = 1 << 17;
    let x = vec![-128i8; cols + 3];
    let mut w = vec![-128i8; cols];
    w.extend([1, 1, 1]);
    let mut acc = [0i32; 1];
    portable::matvec_i8(&x, &w, &mut acc);
    assert_eq!(acc[0], i32::MIN.wrapping_sub(384));
    assert_eq!(acc.to_vec(), reference(&x, &w, 1));
}

#[test]
fn matvec_zero_columns_and_short_weights_give_zero_rows() {
    let mut acc = [7i32; 3];
    matvec_i8(&[], &[1, 2, 3], &mut acc);
    assert_eq!(acc, [0, 0, 0]);
    let mut acc = [7i32; 3];
    matvec_i8(&[1, 2], &[3, 4, 5], &mut acc);
    assert_eq!(acc, [11, 0, 0]);
}

#[test]
fn matmul_is_matvec_per_input_row() {
    let mut rng = Rng(0xdead_beef);
    for _ in 0..100 {
        let cols = rng.below(40);
        let rows = rng.below(9);
        let l = rng.below(6);
        let mut x = vec![0i8; l * cols + rng.below(3)];
        let mut w = vec![0i8; rows * cols];
        rng.fill(&mut x);
        rng.fill(&mut w);
        let mut out = vec![i32::MAX; l * rows + rng.below(3)];
        matmul_i8(&x, &w, cols, rows, &mut out);
        let mut expect = vec![0i32; out.len()];
        if cols > 0 && rows > 0 {
            for (i, xr) in x.chunks_exact(cols).enumerate().take(out.len() / rows) {
                expect[i * rows..(i + 1) * rows].copy_from_slice(&reference(xr, &w, rows));
            }
        }
        assert_eq!(out, expect, "cols {cols} rows {rows} l {l}");
        let mut port = vec![i32::MAX; out.len()];
        portable::matmul_i8(&x, &w, cols, rows, &mut port);
        assert_eq!(port, out);
    }
}

/// TFLite's requantisation written independently in 64-bit arithmetic: high multiply rounded
/// half up (saturating), then a rounding shift half away from zero.
fn reference_requant(acc: i32, bias: i32, mult: i32, shift: i8, zp: i8, lo: i8) -> i8 {
    let left = i32::from(shift).clamp(0, 31);
    let right = (-i32::from(shift)).clamp(0, 31);
    let x = i64::from(acc.wrapping_add(bias).wrapping_mul(1 << left));
    let high = if x == i64::from(i32::MIN) && mult == i32::MIN {
        i64::from(i32::MAX)
    } else {
        (x * i64::from(mult) + (1 << 30)).div_euclid(1 << 31)
    };
    let p = 1i64 << right;
    let q = high.div_euclid(p);
    let r = high.rem_euclid(p);
    // Half away from zero: ties of negative values round down.
    let v = if 2 * r > p || (2 * r == p && high >= 0) {
        q + 1
    } else {
        q
    };
    (v + i64::from(zp)).clamp(i64::from(lo), 127) as i8
}

#[test]
fn fully_connected_matches_reference_on_random_shapes_and_parameters() {
    let mut rng = Rng(0x0bad_cafe);
    for case in 0..600 {
        let cols = rng.below(70);
        let rows = rng.below(13);
        let mut x = vec![0i8; cols];
        let mut w = vec![0i8; rows * cols];
        rng.fill(&mut x);
        rng.fill(&mut w);
        let word = |rng: &mut Rng| match rng.below(6) {
            0 => i32::MIN,
            1 => i32::MAX,
            2 => (1 << 30) | (rng.next() >> 2) as i32,
            _ => rng.next() as i32,
        };
        let bias: Vec<u8> = (0..rows)
            .flat_map(|_| word(&mut rng).to_le_bytes())
            .collect();
        let mults: Vec<u8> = (0..rows)
            .flat_map(|_| word(&mut rng).to_le_bytes())
            .collect();
        let shifts: Vec<u8> = (0..rows)
            .map(|_| match rng.below(3) {
                0 => rng.next() as u8,
                _ => (-(rng.below(14) as i8)) as u8,
            })
            .collect();
        let (zp, lo) = (rng.next() as i8, [-128, rng.next() as i8][rng.below(2)]);
        // Sometimes short parameter slices (rows past them read their parameters as 0).
        let cut = |v: &[u8], rng: &mut Rng| v[..v.len() - rng.below(v.len() as u32 + 1)].to_vec();
        let (bias, mults, shifts) = if case % 7 == 0 {
            (
                cut(&bias, &mut rng),
                cut(&mults, &mut rng),
                cut(&shifts, &mut rng),
            )
        } else {
            (bias, mults, shifts)
        };
        let q = Requant {
            bias: &bias,
            mults: &mults,
            shifts: &shifts,
            out_zp: zp,
            lo,
        };
        let mut out = vec![0x55i8; rows];
        fully_connected_i8(&x, &w, &q, &mut out);
        let acc = reference(&x, &w, rows);
        let param = |b: &[u8], r: usize| {
            b.get(4 * r..4 * r + 4)
                .map_or(0, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let want: Vec<i8> = (0..rows)
            .map(|r| {
                let s = shifts.get(r).map_or(0, |&s| s as i8);
                reference_requant(acc[r], param(&bias, r), param(&mults, r), s, zp, lo)
            })
            .collect();
        assert_eq!(out, want, "case {case} cols {cols} rows {rows}");
    }
}

#[test]
fn head_logits_is_bit_exact_with_its_definition() {
    let mut rng = Rng(0x5151_7777);
    let f32s = |rng: &mut Rng, n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| match rng.below(40) {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -0.0,
                _ => (rng.next() as i32 as f32) / 1e9,
            })
            .collect()
    };
    for case in 0..400 {
        let (f, classes) = (rng.below(70), rng.below(20));
        let x = f32s(&mut rng, f);
        let w: Vec<u8> = f32s(&mut rng, f * classes)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = f32s(&mut rng, classes)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        // Short or misaligned weights sometimes (both paths of the optimised kernel).
        let mut buf = vec![0u8; 4 + w.len()];
        let off = if case % 3 == 0 { 1 } else { 4 };
        buf[off..off + w.len()].copy_from_slice(&w);
        let short = if case % 5 == 0 {
            rng.below(w.len() as u32 + 1)
        } else {
            0
        };
        let w = &buf[off..off + w.len() - short];
        let (mut got, mut want) = (vec![1.0f32; classes], vec![2.0f32; classes]);
        head_logits(w, &b, &x, &mut got);
        portable::head_logits(w, &b, &x, &mut want);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&got),
            bits(&want),
            "case {case} f {f} classes {classes}"
        );
    }
}
