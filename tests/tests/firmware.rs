//! The firmware under QEMU: builds `firmware/` for Cortex-M4F (mps2-an386) and Cortex-M0
//! (micro:bit), runs it, and checks that the device reproduces the host build's golden
//! vectors bit for bit; shows that a corrupted vector fails; size-checks every board.
//!
//! Each run prints its log and measurements (`cargo test -p hone-tests --test firmware --
//! --nocapture`).

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use hone_golden::{i32_bytes, i8_bytes, Vector};
use hone_tests::qemu::{self, Board, Embed, Run};

/// Matvec shapes (rows, cols) of the kernel golden vectors: degenerate, odd, and
/// model-sized.
const MATVEC_SHAPES: [(usize, usize); 5] = [(1, 1), (3, 5), (7, 33), (64, 128), (128, 256)];

/// Deterministic pseudo-random i8s (xorshift32); the first values of every vector are the
/// extremes so that saturating or sign bugs show.
fn i8s(seed: u32, n: usize) -> Vec<i8> {
    let mut s = seed.max(1);
    (0..n)
        .map(|i| match i {
            0 => -128,
            1 => 127,
            _ => {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s.to_le_bytes()[0] as i8
            }
        })
        .collect()
}

/// Golden file of `hone::kernels::matvec_i8` vectors computed by the host build.
fn kernel_golden() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let data: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = MATVEC_SHAPES
            .iter()
            .enumerate()
            .map(|(k, &(rows, cols))| {
                let x = i8s(2 * k as u32 + 1, cols);
                let w = i8s(2 * k as u32 + 2, rows * cols);
                let mut acc = vec![0i32; rows];
                hone::kernels::matvec_i8(&x, &w, &mut acc);
                (i8_bytes(&x), i8_bytes(&w), i32_bytes(&acc))
            })
            .collect();
        let vectors: Vec<Vector<'_>> = data
            .iter()
            .map(|(x, w, acc)| Vector::Matvec { x, w, acc })
            .collect();
        let bytes = hone_golden::write(0, &vectors).expect("encode golden file");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden-kernels.bin");
        fs::write(&path, bytes).expect("write golden file");
        path
    })
}

/// Builds `board` once per test process with the kernel golden vectors embedded.
fn firmware(board: Board) -> PathBuf {
    static BUILDS: [OnceLock<PathBuf>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match board {
        Board::Mps2An386 => &BUILDS[0],
        Board::Microbit => &BUILDS[1],
        Board::Nrf52840 => &BUILDS[2],
    };
    slot.get_or_init(|| {
        let embed = Embed {
            golden: Some(kernel_golden()),
            model: None,
        };
        qemu::build(board, &embed).unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

fn run(board: Board, elf: &Path) -> Run {
    let r = qemu::run(board, elf).unwrap_or_else(|e| panic!("running {board}: {e}"));
    println!("--- {board}: exit {:?}\n{}{}", r.status, r.log, r.stderr);
    r
}

/// Every golden vector reported, all passed, exit 0, and the counter counts instructions.
fn assert_all_pass(board: Board) {
    let elf = firmware(board);
    let r = run(board, &elf);
    let n = MATVEC_SHAPES.len();
    let expected: Vec<(usize, bool)> = (0..n).map(|i| (i, true)).collect();
    assert_eq!(r.golden_results(), expected, "{board} golden lines");
    assert!(
        r.log
            .contains(&format!("golden summary: {n} of {n} vectors passed")),
        "{board}: no summary line"
    );
    assert_eq!(r.status, Some(0), "{board} exit status");
    assert!(
        r.log.contains("flash: NorFlash self-test PASS"),
        "{board}: flash self-test"
    );

    // The timer must count instructions: a loop of known length, to within 16.
    let expected = r.metric("calibration_expected").unwrap();
    let measured = r.metric("calibration_measured").unwrap();
    assert!(
        expected.abs_diff(measured) <= 16,
        "{board}: counted {measured} instructions for {expected}"
    );
    let (macs, work) = (
        r.metric("matvec_macs").unwrap(),
        r.metric("matvec_work").unwrap(),
    );
    let want_macs: usize = MATVEC_SHAPES.iter().map(|(r, c)| r * c).sum();
    assert_eq!(macs, want_macs as u64);
    println!(
        "{board}: matvec {:.2} instructions/MAC over {macs} MACs",
        work as f64 / macs as f64
    );

    let peak = r.metric("golden_peak_stack_bytes").unwrap();
    let s = qemu::sizes(&elf).unwrap();
    let (flash, ram) = board.memory();
    println!(
        "{board}: flash {} B, static RAM {} B, peak stack {peak} B",
        s.flash, s.static_ram
    );
    assert!(
        s.flash <= flash && s.static_ram + peak <= ram,
        "{board}: {s:?}"
    );
}

#[test]
fn m4_reproduces_golden_vectors_in_qemu() {
    assert_all_pass(Board::Mps2An386);
}

#[test]
fn m0_reproduces_golden_vectors_in_qemu() {
    assert_all_pass(Board::Microbit);
}

/// Flipping one bit of one expected value in the flashed golden file makes that vector, and
/// only that one, fail, and the firmware exit with the mismatch code.
#[test]
fn corrupted_golden_vector_fails() {
    let board = Board::Mps2An386;
    let elf = firmware(board);
    let golden = fs::read(kernel_golden()).unwrap();
    let mut image = fs::read(&elf).unwrap();
    let at: Vec<usize> = image
        .windows(golden.len())
        .enumerate()
        .filter(|(_, w)| *w == golden.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "golden file must appear once in the ELF");
    // The file ends with the last vector's expected accumulators: flip the lowest bit of the
    // last one's most significant byte.
    image[at[0] + golden.len() - 1] ^= 1;
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hone-fw-corrupted.elf");
    fs::write(&bad, &image).unwrap();

    let r = run(board, &bad);
    let last = MATVEC_SHAPES.len() - 1;
    let expected: Vec<(usize, bool)> = (0..=last).map(|i| (i, i != last)).collect();
    assert_eq!(r.golden_results(), expected);
    assert!(
        r.log
            .contains(&format!("index: {}", MATVEC_SHAPES[last].0 - 1)),
        "the FAIL line names the first differing accumulator"
    );
    assert_eq!(r.status, Some(2), "mismatch exit code");
}

/// The nRF52840 image builds and fits its part (1 MiB flash, 256 KiB RAM).
#[test]
fn nrf52840_builds_and_fits() {
    let board = Board::Nrf52840;
    let s = qemu::sizes(&firmware(board)).unwrap();
    let (flash, ram) = board.memory();
    println!("{board}: {s:?}");
    assert!(s.flash > 0 && s.flash <= flash, "{board} flash {}", s.flash);
    assert!(s.static_ram <= ram, "{board} static RAM {}", s.static_ram);
}
