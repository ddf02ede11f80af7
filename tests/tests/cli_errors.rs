//! `hone` reports unusable inputs with a clear message and a failure status, never a panic.

use std::path::Path;

use hone_tests::fixtures::{self, hone};

/// Runs `hone args`, expects failure, and returns stderr.
fn fails(args: &[&str]) -> String {
    let out = hone(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "hone {args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn export_err(ckpt: &Path, calib: &Path) -> String {
    let out = ckpt.join("out.hone");
    fails(&[
        "export",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--calibration",
        calib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
}

fn edit_config(ckpt: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = ckpt.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(p, v.to_string()).unwrap();
}

#[test]
fn checkpoint_errors_are_named() {
    let dir = fixtures::scratch_dir("cli-errors");
    let ckpt = dir.join("ckpt");
    fixtures::static_checkpoint(&ckpt);
    let calib = ckpt.join("train.txt");

    // A tensor the config needs is missing: name it.
    edit_config(&ckpt, |v| {
        v["mlp"] = serde_json::json!([{"out_features": 24, "activation": "relu"},
                                      {"out_features": 8, "activation": "relu"}]);
    });
    let e = export_err(&ckpt, &calib);
    assert!(e.contains("missing tensor `mlp.1.weight`"), "{e}");

    // Shape mismatch: both shapes.
    edit_config(&ckpt, |v| {
        v["mlp"] = serde_json::json!([{"out_features": 20, "activation": "relu"}]);
    });
    let e = export_err(&ckpt, &calib);
    assert!(
        e.contains("`mlp.0.weight` has shape [24, 16], expected [20, 16]"),
        "{e}"
    );

    // Unsupported architecture.
    edit_config(&ckpt, |v| v["architecture"] = "lstm".into());
    let e = export_err(&ckpt, &calib);
    assert!(
        e.contains("unsupported architecture") && e.contains("lstm"),
        "{e}"
    );
    edit_config(&ckpt, |v| {
        v["architecture"] = "static".into();
        v["mlp"] = serde_json::json!([{"out_features": 24, "activation": "relu"}]);
    });

    // Bad calibration files: missing, empty, not UTF-8.
    let e = export_err(&ckpt, &dir.join("nope.txt"));
    assert!(e.contains("calibration") && e.contains("nope.txt"), "{e}");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    let e = export_err(&ckpt, &empty);
    assert!(e.contains("holds no prompts"), "{e}");
    std::fs::write(&empty, [0xc3u8, 0x28]).unwrap();
    let e = export_err(&ckpt, &empty);
    assert!(e.contains("not UTF-8"), "{e}");

    // Unreadable tokenizer.
    std::fs::write(ckpt.join("tokenizer.json"), "{ not json").unwrap();
    let e = export_err(&ckpt, &calib);
    assert!(
        e.contains("unusable tokenizer") && e.contains("tokenizer.json"),
        "{e}"
    );
    std::fs::remove_file(ckpt.join("tokenizer.json")).unwrap();
    let e = export_err(&ckpt, &calib);
    assert!(
        e.contains("cannot read") && e.contains("tokenizer.json"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_blobs_and_arguments() {
    let dir = fixtures::scratch_dir("cli-bad-blob");
    let blob = dir.join("bad.hone");
    std::fs::write(&blob, b"HONE but not a model").unwrap();
    let e = fails(&["inspect", blob.to_str().unwrap()]);
    let named = format!("cannot load {}: unsupported format version", blob.display());
    assert!(e.contains(&named), "{e}");
    let e = fails(&["inspect", dir.join("missing.hone").to_str().unwrap()]);
    assert!(e.contains("cannot read"), "{e}");
    // Clap rejects a bad pooling name with status 2.
    let out = hone(&[
        "export",
        "--checkpoint",
        ".",
        "-o",
        "x",
        "--pooling",
        "median",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("median"));
    std::fs::remove_dir_all(&dir).unwrap();
}
