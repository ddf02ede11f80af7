//! The firmware under QEMU: builds `firmware/` for Cortex-M4F (mps2-an386) and Cortex-M0
//! (micro:bit), runs it, and checks that the device reproduces the host build's golden
//! vectors bit for bit with the test model; shows that a corrupted vector fails. The shipped
//! model and the nRF52840 image are in `firmware_shipped.rs`.
//!
//! Each run prints its log and measurements (`cargo test -p hone-tests --test firmware --
//! --nocapture`).

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use hone_golden::{
    generate::{adapt, classify, parse_adapt, parse_prompts, AdaptStep, ClassifyCase},
    i32_bytes, i8_bytes, model_crc, Vector,
};
use hone_tests::qemu::{self, Board, Embed, Run};

/// Prompts of the classification vectors (relative to the tests crate).
const PROMPTS: &str = "data/golden-prompts.txt";

/// Adaptation script: prompts to enrol and to evaluate (relative to the tests crate).
const ADAPT: &str = "data/golden-adapt.txt";
/// Training epochs and shuffle seed of the adaptation script.
const ADAPT_EPOCHS: u16 = 30;
const ADAPT_SEED: u32 = 0x5eed;

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

/// What the firmware embeds: a test model and the golden file computed with it.
struct Fixture {
    model: PathBuf,
    /// Golden file with every vector.
    golden: PathBuf,
    /// The same without the adaptation script (for boards too small to adapt).
    golden_no_adapt: PathBuf,
    /// Classification vectors (first in the file), then the adaptation script, then one
    /// matvec vector per shape.
    cases: Vec<ClassifyCase>,
    steps: Vec<AdaptStep>,
}

impl Fixture {
    /// Whether `board` runs the adaptation script.
    fn adapts(board: Board) -> bool {
        board != Board::Microbit
    }

    /// The golden file embedded for `board`.
    fn golden(&self, board: Board) -> &Path {
        if Self::adapts(board) {
            &self.golden
        } else {
            &self.golden_no_adapt
        }
    }

    /// Number of vectors `board` checks.
    fn vectors(&self, board: Board) -> usize {
        let adapt = if Self::adapts(board) {
            self.steps.len()
        } else {
            0
        };
        self.cases.len() + adapt + MATVEC_SHAPES.len()
    }
}

/// Test model (`hone_build::testutil::tiny_transformer`: every op of the runtime) and golden
/// vectors computed by the host build: the prompts of `tests/data/golden-prompts.txt`, then
/// `hone::kernels::matvec_i8` on [`MATVEC_SHAPES`].
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let blob = hone_build::testutil::tiny_transformer().expect("test model");
        let model = dir.join("fw-test-model.hone");
        fs::write(&model, &blob).unwrap();

        let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(PROMPTS)).unwrap();
        let cases = classify(&blob, &parse_prompts(&text)).expect("host classification");
        let kernels: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = MATVEC_SHAPES
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
        let adapt_text =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(ADAPT)).unwrap();
        let (enrol, eval) = parse_adapt(&adapt_text).unwrap();
        let steps = adapt(&blob, &enrol, ADAPT_EPOCHS, ADAPT_SEED, &eval).expect("host adaptation");
        // The micro:bit (16 KiB RAM) has no room for the adaptation state: its file omits
        // the adaptation script.
        let write = |with_adapt: bool, name: &str| -> PathBuf {
            let adapt_steps = if with_adapt { &steps[..] } else { &[] };
            let vectors: Vec<Vector<'_>> = cases
                .iter()
                .map(ClassifyCase::vector)
                .chain(adapt_steps.iter().map(AdaptStep::vector))
                .chain(
                    kernels
                        .iter()
                        .map(|(x, w, acc)| Vector::Matvec { x, w, acc }),
                )
                .collect();
            let bytes = hone_golden::write(model_crc(&blob), &vectors).expect("encode golden");
            let path = dir.join(name);
            fs::write(&path, bytes).unwrap();
            path
        };
        Fixture {
            model,
            golden: write(true, "fw-golden.bin"),
            golden_no_adapt: write(false, "fw-golden-no-adapt.bin"),
            cases,
            steps,
        }
    })
}

/// Builds `board` once per test process with the test model and golden file embedded.
fn firmware(board: Board) -> PathBuf {
    static BUILDS: [OnceLock<PathBuf>; 4] = [const { OnceLock::new() }; 4];
    let slot = match board {
        Board::Mps2An386 => &BUILDS[0],
        Board::Microbit => &BUILDS[1],
        Board::Nrf52840 => &BUILDS[2],
        Board::Mps2An386Heap => &BUILDS[3],
    };
    slot.get_or_init(|| {
        let f = fixture();
        let embed = Embed {
            golden: Some(f.golden(board)),
            model: Some(&f.model),
            ..Default::default()
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

/// The run of the embedded-golden firmware on a QEMU board, once per test process.
fn golden_run(board: Board) -> &'static Run {
    static RUNS: [OnceLock<Run>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = match board {
        Board::Mps2An386 => &RUNS[0],
        Board::Microbit => &RUNS[1],
        Board::Nrf52840 | Board::Mps2An386Heap => panic!("no embedded-golden run for {board}"),
    };
    slot.get_or_init(|| run(board, &firmware(board)))
}

/// Every golden vector reported, all passed, exit 0, and the counter counts instructions.
fn assert_all_pass(board: Board) {
    let elf = firmware(board);
    let r = golden_run(board);
    let f = fixture();
    let n = f.vectors(board);
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

    if Fixture::adapts(board) {
        assert!(
            r.log.contains("reloaded identical PASS"),
            "{board}: persist"
        );
        assert!(r.log.contains("adapt accuracy: "), "{board}: accuracy line");
        assert_eq!(
            r.metric("adapt_enrolled").unwrap(),
            f.steps
                .iter()
                .filter(|s| matches!(s, AdaptStep::Enrol { .. }))
                .count() as u64
        );
    }

    // Every prompt was classified on the device, each with the host's label.
    assert_eq!(r.metric("classify_count").unwrap(), f.cases.len() as u64);
    for (i, c) in f.cases.iter().enumerate() {
        let line = r
            .log
            .lines()
            .find(|l| l.contains(&format!("golden {i}: classify")))
            .unwrap_or_else(|| panic!("{board}: no line for vector {i}"));
        let label = hone_build::testutil::LABELS[c.label as usize];
        assert!(
            line.contains(&format!("-> {label} PASS")),
            "{board}: {line}"
        );
    }

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

/// Measurements of both QEMU boards as a Markdown table, written to
/// `target/tmp/firmware-report.md` (and printed).
#[test]
fn measurement_table() {
    let mut t = String::from(
        "| board | flash (B) | of which golden vectors (B) | static RAM (B) | peak stack (B) \
         | model load (instr.) | inference (instr., mean / max over prompts) | tokens (max) \
         | matvec (instr./MAC) | adaptation state RAM (B) | enrol, per prompt (instr.) \
         | adaptation epoch (instr.) | save / load (instr.) | accuracy before → after |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for board in [Board::Mps2An386, Board::Microbit] {
        let r = golden_run(board);
        let golden = fs::metadata(fixture().golden(board)).unwrap().len();
        let s = qemu::sizes(&firmware(board)).unwrap();
        let m = |k: &str| r.metric(k).unwrap();
        let peak = m("golden_peak_stack_bytes").max(m("model_load_peak_stack_bytes"));
        let adapt = if Fixture::adapts(board) {
            let acc = r
                .log
                .lines()
                .find_map(|l| l.split_once("adapt accuracy: ").map(|(_, a)| a.to_owned()))
                .unwrap();
            format!(
                "{} | {} | {} | {} / {} | {acc}",
                m("adapt_ram_bytes"),
                m("adapt_enrol_work_mean"),
                m("adapt_epoch_work"),
                m("adapt_save_work"),
                m("adapt_load_work"),
            )
        } else {
            "does not fit in 16 KiB RAM | | | |".into()
        };
        t += &format!(
            "| {board} | {} | {golden} | {} | {peak} | {} | {} / {} | {} | {:.2} | {adapt} |\n",
            s.flash,
            s.static_ram,
            m("model_load_work"),
            m("classify_work_mean"),
            m("classify_work_max"),
            m("classify_max_tokens"),
            m("matvec_work") as f64 / m("matvec_macs") as f64,
        );
    }
    t += &format!(
        "\nModel: hone_build::testutil::tiny_transformer ({} B blob); prompts: tests/{PROMPTS}; \
         adaptation: tests/{ADAPT}, {ADAPT_EPOCHS} epochs (accuracy over its [eval] prompts; \
         the test model's pre-trained head is random). Instructions counted under QEMU \
         -icount shift={} (not cycles).\n",
        fs::metadata(&fixture().model).unwrap().len(),
        qemu::ICOUNT_SHIFT
    );
    println!("{t}");
    fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("firmware-report.md"),
        &t,
    )
    .unwrap();
}

/// The M4 image with one bit of `needle` (which must occur once, inside the golden file)
/// flipped, run under QEMU.
fn run_corrupted(needle: &[u8], byte: usize, name: &str) -> Run {
    let board = Board::Mps2An386;
    let elf = firmware(board);
    let golden = fs::read(&fixture().golden).unwrap();
    let mut image = fs::read(&elf).unwrap();
    let find = |hay: &[u8], needle: &[u8]| -> Vec<usize> {
        hay.windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect()
    };
    let file_at = find(&image, &golden);
    assert_eq!(file_at.len(), 1, "golden file must appear once in the ELF");
    let at = find(&golden, needle);
    assert_eq!(
        at.len(),
        1,
        "the corrupted value must be unique in the golden file"
    );
    image[file_at[0] + at[0] + byte] ^= 1;
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::write(&bad, &image).unwrap();
    run(board, &bad)
}

/// `(i, i != bad)` for every vector: only vector `bad` fails.
fn only_fails(bad: usize) -> Vec<(usize, bool)> {
    let n = fixture().vectors(Board::Mps2An386);
    (0..n).map(|i| (i, i != bad)).collect()
}

/// Flipping the lowest bit of one expected log-probability in the flashed golden file makes
/// that vector, and only that one, fail, and the firmware exit with the mismatch code.
#[test]
fn corrupted_log_prob_fails() {
    let f = fixture();
    let k = 1;
    let r = run_corrupted(&f.cases[k].log_probs, 0, "hone-fw-bad-logprob.elf");
    assert_eq!(r.golden_results(), only_fails(k));
    assert!(
        r.log.contains(&format!("golden {k}: classify"))
            && r.log.contains("FAIL log_probs Value { index: 0"),
        "the FAIL line names the first differing log-probability"
    );
    assert_eq!(r.status, Some(2), "mismatch exit code");
}

/// The same for one accumulator of the last kernel vector.
#[test]
fn corrupted_accumulator_fails() {
    let f = fixture();
    let last = f.vectors(Board::Mps2An386) - 1;
    let (rows, cols) = MATVEC_SHAPES[MATVEC_SHAPES.len() - 1];
    let k = MATVEC_SHAPES.len() as u32 - 1;
    let x = i8s(2 * k + 1, cols);
    let w = i8s(2 * k + 2, rows * cols);
    let mut acc = vec![0i32; rows];
    hone::kernels::matvec_i8(&x, &w, &mut acc);
    // Flip the lowest bit of the last accumulator's most significant byte.
    let r = run_corrupted(&i32_bytes(&acc), 4 * rows - 1, "hone-fw-bad-acc.elf");
    assert_eq!(r.golden_results(), only_fails(last));
    assert!(
        r.log.contains(&format!("index: {}", rows - 1)),
        "the FAIL line names the first differing accumulator"
    );
    assert_eq!(r.status, Some(2), "mismatch exit code");
}

/// The heap variant receives the model at run time (over semihosting) and reproduces every
/// golden vector with it; a missing file or another model is refused.
#[test]
fn model_received_at_run_time_reproduces_golden_vectors() {
    let board = Board::Mps2An386Heap;
    let elf = firmware(board);
    let f = fixture();
    let model = f.model.to_str().expect("UTF-8 path");
    let r = qemu::run_with_args(board, &elf, &[model]).unwrap();
    println!("--- {board}: exit {:?}\n{}{}", r.status, r.log, r.stderr);
    let len = fs::metadata(&f.model).unwrap().len();
    assert!(
        r.log.contains(&format!(
            "model received at run time: {len} bytes on the heap"
        )),
        "heap path used"
    );
    let n = f.vectors(board);
    assert_eq!(
        r.golden_results(),
        (0..n).map(|i| (i, true)).collect::<Vec<_>>()
    );
    assert_eq!(r.status, Some(0));

    // Another model: the golden file's model CRC no longer matches.
    let other = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fw-other-model.hone");
    fs::write(&other, hone_build::testutil::tiny_model().unwrap()).unwrap();
    let r = qemu::run_with_args(board, &elf, &[other.to_str().unwrap()]).unwrap();
    assert!(
        r.log.contains("golden file rejected: ModelCrc"),
        "{}",
        r.log
    );
    assert_eq!(r.status, Some(3));

    let r = qemu::run_with_args(board, &elf, &["/nonexistent/model.hone"]).unwrap();
    assert!(r.log.contains("model not received"), "{}", r.log);
    assert_eq!(r.status, Some(3));
}

/// Only the run-time-model variant links an allocator.
#[test]
fn default_firmware_is_heap_free() {
    let has_allocator = |board| {
        qemu::symbols(&firmware(board))
            .unwrap()
            .contains("as core::alloc::global::GlobalAlloc>::alloc")
    };
    for board in [Board::Mps2An386, Board::Microbit] {
        assert!(!has_allocator(board), "{board} links an allocator");
    }
    assert!(
        has_allocator(Board::Mps2An386Heap),
        "the check sees an allocator"
    );
}
