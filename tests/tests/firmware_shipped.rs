//! The shipped model (`models/hone-intent/model.hone`) in the firmware: golden vectors and
//! on-device adaptation (the demo's three smart-home intents, `models/hone-intent/demo.json`)
//! reproduced bit for bit on Cortex-M4 under QEMU, persisted and reloaded; the product
//! target checked on the measured figures (whole firmware with the model ≤ 512 KiB flash,
//! static RAM + peak stack ≤ 64 KiB with adaptation at its full capacity); the nRF52840
//! image built with it and size-checked.
//!
//! The micro:bit (256 KiB flash, 16 KiB RAM) cannot hold this 430 KB model: the Cortex-M0
//! runs the test model (`tests/firmware.rs`).
//!
//! Measurements go to `target/tmp/firmware-report-shipped.md`
//! (`cargo test -p hone-tests --test firmware_shipped -- --nocapture` prints the log).

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use hone_build::HostSteps;
use hone_golden::{
    generate::{adapt, classify, parse_prompts, AdaptStep, ClassifyCase},
    model_crc, Vector,
};
use hone_tests::qemu::{self, Board, Embed, Run};

/// The shipped model (relative to the tests crate).
const MODEL: &str = "../models/hone-intent/model.hone";
/// Enrolment demo: intents with their prompts, and test prompts (relative to the tests crate).
const DEMO: &str = "../models/hone-intent/demo.json";
/// Prompts of the classification vectors (relative to the tests crate).
const PROMPTS: &str = "data/golden-prompts.txt";
/// Training epochs and shuffle seed of the adaptation script (`hone golden`'s defaults).
const EPOCHS: u16 = 30;
const SEED: u32 = 0x5eed;
/// The product target (`../shared/notes/targets.md`).
const FLASH_TARGET: u64 = 512 << 10;
const RAM_TARGET: u64 = 64 << 10;

struct Fixture {
    model: PathBuf,
    golden: PathBuf,
    cases: Vec<ClassifyCase>,
    steps: Vec<AdaptStep>,
}

impl Fixture {
    fn vectors(&self) -> usize {
        self.cases.len() + self.steps.len()
    }
}

/// `(label, prompt)` pairs.
type Pairs = Vec<(String, String)>;

/// `(enrol, eval)` pairs of the demo file.
fn demo_script(json: &serde_json::Value) -> (Pairs, Pairs) {
    let s = |v: &serde_json::Value| v.as_str().expect("string").to_owned();
    let enrol = json["intents"]
        .as_array()
        .expect("intents")
        .iter()
        .flat_map(|i| {
            let name = s(&i["name"]);
            i["prompts"]
                .as_array()
                .expect("prompts")
                .iter()
                .map(move |p| (name.clone(), s(p)))
        })
        .collect();
    let eval = json["test"]
        .as_array()
        .expect("test")
        .iter()
        .map(|t| (s(&t["intent"]), s(&t["text"])))
        .collect();
    (enrol, eval)
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = root.join(MODEL);
        let blob = fs::read(&model).expect("shipped model");
        let text = fs::read_to_string(root.join(PROMPTS)).unwrap();
        let cases = classify(&blob, &parse_prompts(&text)).expect("host classification");
        let demo: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(root.join(DEMO)).unwrap()).unwrap();
        let (enrol, eval) = demo_script(&demo);
        let enrol: Vec<(&str, &str)> = enrol.iter().map(|(l, p)| (&**l, &**p)).collect();
        let eval: Vec<(&str, &str)> = eval.iter().map(|(l, p)| (&**l, &**p)).collect();
        let steps = adapt(&blob, &enrol, EPOCHS, SEED, &eval).expect("host adaptation");
        let vectors: Vec<Vector<'_>> = cases
            .iter()
            .map(ClassifyCase::vector)
            .chain(steps.iter().map(AdaptStep::vector))
            .collect();
        let bytes = hone_golden::write(model_crc(&blob), &vectors).expect("encode golden");
        let golden = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fw-golden-shipped.bin");
        fs::write(&golden, bytes).unwrap();
        Fixture {
            model,
            golden,
            cases,
            steps,
        }
    })
}

fn firmware(board: Board) -> PathBuf {
    static BUILDS: [OnceLock<PathBuf>; 2] = [const { OnceLock::new() }; 2];
    let slot = match board {
        Board::Mps2An386 => &BUILDS[0],
        Board::Nrf52840 => &BUILDS[1],
        _ => panic!("{board}: not built with the shipped model"),
    };
    slot.get_or_init(|| {
        let f = fixture();
        let embed = Embed {
            golden: Some(&f.golden),
            model: Some(&f.model),
            ..Default::default()
        };
        qemu::build(board, &embed).unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

fn m4_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let board = Board::Mps2An386;
        let r = qemu::run(board, &firmware(board)).expect("run QEMU");
        println!("--- {board}: exit {:?}\n{}{}", r.status, r.log, r.stderr);
        r
    })
}

/// Every vector passes on Cortex-M4, adaptation included, and the state survives a reload.
#[test]
fn m4_runs_the_shipped_model_bit_exact() {
    let f = fixture();
    let r = m4_run();
    let n = f.vectors();
    assert_eq!(
        r.golden_results(),
        (0..n).map(|i| (i, true)).collect::<Vec<_>>()
    );
    assert!(r
        .log
        .contains(&format!("golden summary: {n} of {n} vectors passed")));
    assert_eq!(r.status, Some(0));
    assert!(r.log.contains("reloaded identical PASS"), "persist");
    let enrolled = f
        .steps
        .iter()
        .filter(|s| matches!(s, AdaptStep::Enrol { .. }))
        .count();
    assert_eq!(r.metric("adapt_enrolled").unwrap(), enrolled as u64);
    assert_eq!(r.metric("classify_count").unwrap(), f.cases.len() as u64);
    // The adaptation state is sized for the model's 64 features, 16 classes x 10 examples.
    let blob = fs::read(&f.model).unwrap();
    let mut steps = HostSteps::new();
    let model = hone::Model::load(&blob, &mut steps).unwrap();
    assert_eq!(model.feature_dim(), 64);
    // (The host's figure is a little larger: its `usize` length fields take 8 bytes.)
    let (device, host) = (
        r.metric("adapt_ram_bytes").unwrap(),
        hone::adapt::session_ram_bytes::<64>() as u64,
    );
    assert!(
        device <= host && device + 256 >= host,
        "{device} B vs {host} B on the host"
    );
}

/// Whole firmware (runtime, model, adaptation, persistence) within the product target.
#[test]
fn m4_fits_the_product_target() {
    let r = m4_run();
    let s = qemu::sizes(&firmware(Board::Mps2An386)).unwrap();
    let golden = fs::metadata(&fixture().golden).unwrap().len();
    let peak = r
        .metric("golden_peak_stack_bytes")
        .unwrap()
        .max(r.metric("model_load_peak_stack_bytes").unwrap());
    println!(
        "flash {} B ({golden} B of golden vectors), static RAM {} B, peak stack {peak} B",
        s.flash, s.static_ram
    );
    assert!(
        s.flash - golden <= FLASH_TARGET,
        "flash without the golden vectors: {} B",
        s.flash - golden
    );
    assert!(
        s.static_ram + peak <= RAM_TARGET,
        "static RAM {} B + peak stack {peak} B",
        s.static_ram
    );
}

/// The nRF52840 image with the shipped model builds and fits its part and the product target.
#[test]
fn nrf52840_builds_and_fits() {
    let board = Board::Nrf52840;
    let s = qemu::sizes(&firmware(board)).unwrap();
    let golden = fs::metadata(&fixture().golden).unwrap().len();
    let (flash, ram) = board.memory();
    println!("{board}: {s:?}");
    assert!(
        s.flash <= flash && s.flash - golden <= FLASH_TARGET,
        "{board} flash {}",
        s.flash
    );
    assert!(
        s.static_ram <= ram.min(RAM_TARGET),
        "{board} static RAM {}",
        s.static_ram
    );
    let symbols = qemu::symbols(&firmware(board)).unwrap();
    assert!(
        !symbols.contains("as core::alloc::global::GlobalAlloc>::alloc"),
        "{board} links an allocator"
    );
}

/// The measurements as a Markdown table (`target/tmp/firmware-report-shipped.md`).
#[test]
fn measurement_table() {
    let r = m4_run();
    let m = |k: &str| r.metric(k).unwrap();
    let f = fixture();
    let golden = fs::metadata(&f.golden).unwrap().len();
    let s = qemu::sizes(&firmware(Board::Mps2An386)).unwrap();
    let nrf = qemu::sizes(&firmware(Board::Nrf52840)).unwrap();
    let peak = m("golden_peak_stack_bytes").max(m("model_load_peak_stack_bytes"));
    let acc = r
        .log
        .lines()
        .find_map(|l| l.split_once("adapt accuracy: ").map(|(_, a)| a.to_owned()))
        .unwrap();
    let mut t = String::from(
        "| board | flash (B) | of which golden vectors (B) | static RAM (B) | peak stack (B) \
         | static RAM + stack (B) | model load (instr.) | inference (instr., mean / max) \
         | tokens (max) | adaptation state RAM (B) | enrol, per prompt (instr.) \
         | adaptation epoch (instr.) | save / load (instr.) | accuracy before → after |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    t += &format!(
        "| {} | {} | {golden} | {} | {peak} | {} | {} | {} / {} | {} | {} | {} | {} | {} / {} | {acc} |\n",
        Board::Mps2An386,
        s.flash,
        s.static_ram,
        s.static_ram + peak,
        m("model_load_work"),
        m("classify_work_mean"),
        m("classify_work_max"),
        m("classify_max_tokens"),
        m("adapt_ram_bytes"),
        m("adapt_enrol_work_mean"),
        m("adapt_epoch_work"),
        m("adapt_save_work"),
        m("adapt_load_work"),
    );
    t += &format!(
        "\n{} (built, not run): flash {} B, static RAM {} B (same golden file).\n",
        Board::Nrf52840,
        nrf.flash,
        nrf.static_ram
    );
    t += &format!(
        "\nModel: {MODEL} ({} B blob); prompts: tests/{PROMPTS}; adaptation: the intents and \
         test prompts of {DEMO} ({} enrolled prompts, {EPOCHS} epochs; evaluated before and \
         after persisting and reloading). Adaptation state sized for 16 new classes x 10 \
         examples at the model's 64 features. Instructions counted under QEMU -icount \
         shift={} (not cycles). Product target: flash without the golden vectors <= {} B, \
         static RAM + peak stack <= {} B.\n",
        fs::metadata(&f.model).unwrap().len(),
        m("adapt_enrolled"),
        qemu::ICOUNT_SHIFT,
        FLASH_TARGET,
        RAM_TARGET,
    );
    println!("{t}");
    fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("firmware-report-shipped.md"),
        &t,
    )
    .unwrap();
}
