//! The defects a hostile user found in `hone` (issue 14), one test each: every command either
//! does what it advertises or exits non-zero with a message that says what is wrong, and
//! never panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hone_build::testutil::{tiny_model, XorShift};
use hone_tests::fixtures::{self, hone, hone_bin, hone_ok, CLASSES};
use serde_json::{json, Value};

/// The shipped model.
fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/hone-intent/model.hone")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `hone args`, expects the status `code` and no panic, and returns stderr.
fn fails_with(code: i32, args: &[&str]) -> String {
    let out = hone(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "hone {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A run error (status 1).
fn fails(args: &[&str]) -> String {
    fails_with(1, args)
}

/// An option refused by the argument parser (status 2) naming `option`.
fn refused(option: &str, args: &[&str]) {
    let e = fails_with(2, args);
    assert!(e.contains(option), "{e}");
}

/// `blob` with its payload changed by `f` and the header's CRC recomputed.
fn tampered(blob: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let version = u16::from_le_bytes([blob[4], blob[5]]);
    let mut payload = blob[hone::format::HEADER_LEN..].to_vec();
    f(&mut payload);
    hone_build::frame_version(&payload, version)
}

/// Where `needle` last occurs in `hay`.
fn rfind(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .expect("pattern in the blob")
}

/// The small exported model of the CLI fixtures.
fn exported(dir: &Path) -> PathBuf {
    let ckpt = dir.join("ckpt");
    fixtures::static_checkpoint(&ckpt);
    let model = dir.join("model.hone");
    fixtures::export(&ckpt, &model, &[]);
    model
}

/// A CLINC-layout data set of the fixture's intents with `(train, val, test)` prompts per
/// split; domain `house` holds two of the intents.
fn dataset(dir: &Path, sizes: (usize, usize, usize)) -> PathBuf {
    let mut rng = XorShift(31);
    let mut split = |n| -> Vec<Value> {
        fixtures::prompts(&mut rng, n)
            .into_iter()
            .map(|(p, l)| json!([p, l]))
            .collect()
    };
    let full = json!({"train": split(sizes.0), "val": split(sizes.1), "test": split(sizes.2)});
    write_dataset(dir, &full)
}

fn write_dataset(dir: &Path, full: &Value) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("data_full.json"), full.to_string()).unwrap();
    let names: Vec<&str> = CLASSES.iter().take(2).map(|(l, _)| *l).collect();
    let domains = json!({"house": names});
    std::fs::write(data.join("domains.json"), domains.to_string()).unwrap();
    data
}

fn demo_file(dir: &Path, intents: Value) -> PathBuf {
    let p = dir.join("demo.json");
    let test = json!([{"prompt": "hello there", "intent": "x"}]);
    std::fs::write(&p, json!({"intents": intents, "test": test}).to_string()).unwrap();
    p
}

// 1. The demo saves the state of its advertised capacity, 16 intents × 10 prompts.
#[test]
fn demo_saves_sixteen_intents_of_ten_prompts() {
    let dir = fixtures::scratch_dir("defect-demo-capacity");
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let intents: Vec<Value> = words
        .iter()
        .map(|w| {
            let prompts: Vec<String> = (0..10)
                .map(|i| format!("{w} please do thing number {i} for {w}"))
                .collect();
            json!({"name": format!("new_{w}"), "prompts": prompts})
        })
        .collect();
    let demo = demo_file(&dir, json!(intents));
    let state = dir.join("flash.bin");
    let out = hone_ok(&[
        "demo",
        "--model",
        s(&shipped()),
        "--demo",
        s(&demo),
        "--state",
        s(&state),
    ]);
    assert!(
        out.contains("enrolled 16 new intents from 160 prompts"),
        "{out}"
    );
    assert!(
        out.contains("16 classes, 160 examples, predictions identical"),
        "{out}"
    );
}

// 2. A reader that closes the pipe early is not a panic: quiet, status 0.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let dir = fixtures::scratch_dir("defect-pipe");
    let model = exported(&dir);
    let data = dataset(&dir, (12, 5, 10));
    let closed = |args: &[&str]| -> Output {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(hone_bin())
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    for args in [
        &["inspect", s(&shipped())][..],
        &["inspect", s(&shipped()), "--json"],
        &[
            "eval",
            "--data",
            s(&data),
            "--model",
            s(&model),
            "--json",
            "--seeds",
            "1",
        ],
    ] {
        let out = closed(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
    }
}

// 3. `hone eval` with nothing to evaluate is an error.
#[test]
fn eval_with_nothing_to_evaluate_fails() {
    let dir = fixtures::scratch_dir("defect-eval-empty");
    let model = exported(&dir);
    let data = dataset(&dir, (12, 5, 10));
    let eval = |data: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--data",
            s(data),
            "--model",
            s(&model),
            "--seeds",
            "1",
        ];
        args.extend_from_slice(extra);
        fails(&args)
    };
    let e = eval(&data, &["--only-enrol", "--enrol-domain", "nosuch"]);
    assert!(
        e.contains("nothing to evaluate")
            && e.contains("no domain `nosuch`")
            && e.contains("house"),
        "{e}"
    );
    for (sizes, empty) in [((12, 5, 0), "test"), ((12, 0, 10), "val")] {
        let d = dir.join(empty);
        let data = dataset(&d, sizes);
        let e = eval(&data, &[]);
        assert!(
            e.contains(&format!("the `{empty}` split")) && e.contains("is empty"),
            "{e}"
        );
    }
    // Enrolment measured on an empty val split.
    let data = dataset(&dir.join("enrol-val"), (12, 0, 10));
    let e = eval(
        &data,
        &[
            "--only-enrol",
            "--enrol-domain",
            "house",
            "--enrol-split",
            "val",
        ],
    );
    assert!(e.contains("the `val` split"), "{e}");
}

/// Runs `hone demo` on `model` with `intents` as its demo file; it must fail: its stderr.
fn demo_fails(dir: &Path, model: &Path, intents: Value) -> String {
    let p = demo_file(dir, intents);
    fails(&[
        "demo",
        "--model",
        s(model),
        "--demo",
        s(&p),
        "--state",
        s(&dir.join("f.bin")),
    ])
}

// 4. The demo refuses an intent listed twice or already a class of the model.
#[test]
fn demo_refuses_duplicate_and_existing_intents() {
    let dir = fixtures::scratch_dir("defect-demo-dup");
    let model = exported(&dir);
    let demo = |intents: Value| demo_fails(&dir, &model, intents);
    let prompts = json!(["what is my", "what is the", "can you what is"]);
    let e = demo(json!([
        {"name": "question", "prompts": prompts},
        {"name": "request", "prompts": prompts},
        {"name": "question", "prompts": prompts},
    ]));
    assert!(e.contains("intent `question` is listed twice"), "{e}");
    let existing = CLASSES[0].0;
    let e = demo(json!([
        {"name": "question", "prompts": prompts},
        {"name": existing, "prompts": prompts},
    ]));
    assert!(
        e.contains(&format!(
            "intent `{existing}` is already a class of the model"
        )),
        "{e}"
    );
}

// 5. The demo and eval collect prompts with the device's checks.
#[test]
fn demo_and_eval_refuse_empty_prompts_and_intents_without_prompts() {
    let dir = fixtures::scratch_dir("defect-collect");
    let model = exported(&dir);
    let demo = |intents: Value| demo_fails(&dir, &model, intents);
    let e = demo(json!([{"name": "question", "prompts": ["what is my", ""]}]));
    assert!(e.contains("prompt has no tokens"), "{e}");
    let e = demo(json!([
        {"name": "question", "prompts": ["what is my"]},
        {"name": "request", "prompts": []},
    ]));
    assert!(e.contains("intent `request` has no prompts"), "{e}");
    // eval: an empty training prompt of an intent to enrol is refused as on the device.
    let new = |p: &str, l: &str| json!([p, l]);
    let mut train = vec![new("", "question")];
    for p in ["what is my", "what is the", "is what my", "what is today"] {
        train.extend([new(p, "question"), new(&format!("can you {p}"), "request")]);
    }
    let full = json!({"train": train, "val": train[1..], "test": train[1..]});
    let data = dir.join("data-new");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("data_full.json"), full.to_string()).unwrap();
    let domains = json!({"asking": ["question", "request"]});
    std::fs::write(data.join("domains.json"), domains.to_string()).unwrap();
    let e = fails(&[
        "eval",
        "--data",
        s(&data),
        "--model",
        s(&model),
        "--only-enrol",
        "--enrol-domain",
        "asking",
        "--seeds",
        "1",
    ]);
    assert!(e.contains("prompt has no tokens"), "{e}");
}

// 6. `hone golden` never writes NaN or infinite vectors.
#[test]
fn golden_refuses_non_finite_vectors() {
    let dir = fixtures::scratch_dir("defect-golden-nan");
    // The tiny model's hidden tensor (the last with the scale of a 1.2-wide range) gets a
    // huge scale: the head's dequantised input overflows.
    let blob = tiny_model().unwrap();
    let (scale, _) = hone_build::asymmetric(0.0, 1.2);
    let blob = tampered(&blob, |p| {
        let at = rfind(p, &scale.to_le_bytes());
        p[at..at + 4].copy_from_slice(&1e38f32.to_le_bytes());
    });
    let model = dir.join("huge.hone");
    std::fs::write(&model, &blob).unwrap();
    let prompts = dir.join("p.txt");
    std::fs::write(&prompts, "turn the lights off\nplay music\n").unwrap();
    let out = dir.join("out");
    let e = fails(&[
        "golden",
        s(&model),
        "--prompts",
        s(&prompts),
        "--out",
        s(&out),
    ]);
    // Refused at load (bounded scales) or when the vectors are checked; never written.
    assert!(e.contains("non-finite") || e.contains("cannot load"), "{e}");
    assert!(e.contains(s(&model)), "{e}");
    assert!(!out.join("golden.bin").exists());
}

// 7. `hone bench` rejects a bad blob before building any firmware.
#[test]
fn bench_rejects_a_bad_blob_before_building() {
    let dir = fixtures::scratch_dir("defect-bench");
    let bad = dir.join("bad.hone");
    std::fs::write(&bad, b"HONE not really a model").unwrap();
    let e = fails(&[
        "bench",
        "--model",
        s(&bad),
        "--firmware",
        s(&dir.join("no-firmware")),
    ]);
    assert!(e.contains(&format!("cannot load {}", bad.display())), "{e}");
    assert!(!e.contains("building"), "{e}");
}

// 8. Options are range-checked, and model errors name the file once, in words.
#[test]
fn options_are_range_checked() {
    let dir = fixtures::scratch_dir("defect-options");
    let model = shipped();
    let data = dataset(&dir, (12, 5, 10));
    let prompts = dir.join("p.txt");
    std::fs::write(&prompts, "hello\n").unwrap();
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "verify",
            s(&model),
            "--data",
            s(&prompts),
            "--reference",
            "x",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>, option: &str| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(option, &a);
    };
    run(verify(&["--min-agreement", "2"]), "--min-agreement");
    run(verify(&["--min-agreement", "nan"]), "--min-agreement");
    run(verify(&["--min-cosine", "1.5"]), "--min-cosine");
    run(verify(&["--jobs", "0"]), "--jobs");
    for n in ["0", "70000"] {
        refused("--seq-len", &["inspect", s(&model), "--seq-len", n]);
    }
    // Within u16 but past the model's max_len: a run error naming both.
    let e = fails(&["inspect", s(&model), "--seq-len", "60000"]);
    assert!(
        e.contains("--seq-len 60000") && e.contains("max_len"),
        "{e}"
    );
    let eval = |extra: &[&str]| {
        let mut a = vec!["eval", "--data", s(&data), "--model", s(&model)];
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    run(eval(&["--imprint", "nan"]), "--imprint");
    run(eval(&["--seeds", "0"]), "--seeds");
    run(eval(&["--enrol-lr", "0"]), "--enrol-lr");
    run(eval(&["--enrol-batch", "33"]), "--enrol-batch");
    run(eval(&["--enrol-epochs", "129"]), "--enrol-epochs");
    run(eval(&["--enrol-smoothing", "1"]), "--enrol-smoothing");
    run(eval(&["--enrol-l2=-1"]), "--enrol-l2");
    run(
        eval(&["--enrol-validation", "kfold:1"]),
        "--enrol-validation",
    );
    run(eval(&["--enrol-split", "train"]), "--enrol-split");

    // verify: --reference is required without --adapt, and the help says so.
    let help = hone_ok(&["verify", "--help"]);
    assert!(help.contains("<--reference <REFERENCE>|--adapt>"), "{help}");
    assert!(help.contains("required, unless --adapt"), "{help}");
    refused("--reference", &["verify", s(&model), "--data", s(&prompts)]);

    // Model errors: the path once, the reason in words (Display, not Debug), one prefix.
    let blob = tiny_model().unwrap();
    let bad_crc = dir.join("bad-crc.hone");
    let mut b = blob.clone();
    let last = b.len() - 1;
    b[last] ^= 0x5a;
    std::fs::write(&bad_crc, &b).unwrap();
    let bad_labels = dir.join("bad-labels.hone");
    let label = hone_build::testutil::LABELS[0].as_bytes();
    let b = tampered(&blob, |p| {
        let at = rfind(p, label);
        p[at] = 0xff;
    });
    std::fs::write(&bad_labels, &b).unwrap();
    let out = dir.join("golden");
    let e = fails(&[
        "golden",
        s(&bad_crc),
        "--prompts",
        s(&prompts),
        "--out",
        s(&out),
    ]);
    assert!(
        e.contains(&format!(
            "cannot load {}: payload checksum mismatch",
            bad_crc.display()
        )),
        "{e}"
    );
    let e = fails(&[
        "golden",
        s(&bad_labels),
        "--prompts",
        s(&prompts),
        "--out",
        s(&out),
    ]);
    assert!(
        e.contains(s(&bad_labels)) && e.contains("label table"),
        "{e}"
    );
    assert!(!e.contains("Invalid {") && !e.contains("Labels"), "{e}");
    let e = fails(&["inspect", s(&bad_labels)]);
    assert_eq!(e.matches("invalid model").count(), 1, "{e}");
    assert!(e.contains(s(&bad_labels)), "{e}");
    let e = fails(&[
        "verify",
        s(&bad_crc),
        "--data",
        s(&prompts),
        "--reference",
        "x",
    ]);
    assert!(e.contains(s(&bad_crc)) && e.contains("checksum"), "{e}");
}
