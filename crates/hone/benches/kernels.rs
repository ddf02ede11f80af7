//! Host benchmarks of the integer kernels (`cargo bench -p hone-rt --bench kernels`).
//!
//! On the host these run the portable definitions; Cortex-M4 figures (instructions per MAC,
//! portable vs DSP) come from the QEMU benchmark firmware (`hone bench`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hone::kernels;

/// Deterministic pseudo-random int8 values (xorshift32).
fn values(n: usize, seed: u32) -> Vec<i8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8 as i8
        })
        .collect()
}

fn matvec(c: &mut Criterion) {
    let mut g = c.benchmark_group("matvec_i8");
    for (rows, cols) in [(64usize, 64usize), (128, 128), (256, 256), (150, 64)] {
        let x = values(cols, 1);
        let w = values(rows * cols, 2);
        let mut acc = vec![0i32; rows];
        g.throughput(Throughput::Elements((rows * cols) as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{rows}x{cols}")),
            &(),
            |b, ()| b.iter(|| kernels::matvec_i8(black_box(&x), black_box(&w), &mut acc)),
        );
    }
    g.finish();
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul_i8");
    for (l, rows, cols) in [(16usize, 64usize, 64usize), (32, 128, 128)] {
        let x = values(l * cols, 3);
        let w = values(rows * cols, 4);
        let mut out = vec![0i32; l * rows];
        g.throughput(Throughput::Elements((l * rows * cols) as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{l}x{cols}x{rows}")),
            &(),
            |b, ()| {
                b.iter(|| kernels::matmul_i8(black_box(&x), black_box(&w), cols, rows, &mut out))
            },
        );
    }
    g.finish();
}

criterion_group!(benches, matvec, matmul);
criterion_main!(benches);
