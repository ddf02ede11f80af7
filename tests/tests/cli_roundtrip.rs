//! `hone export` → `hone inspect` → `hone verify` on small checkpoints made here.

use hone_build::HostSteps;
use std::path::Path;

use hone_tests::fixtures;
use serde_json::Value;

use fixtures::hone_ok as ok;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("JSON output")
}

use fixtures::export;

fn verify(model: &Path, ckpt: &Path, data: &Path) -> Value {
    let v = json(&[
        "verify",
        model.to_str().unwrap(),
        "--reference",
        ckpt.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["pass"], true, "{v:#}");
    v
}

/// Checks the figures every verification of a fixture must reach.
fn check_verify(v: &Value, prompts: u64) {
    assert_eq!(v["prompts"].as_u64(), Some(prompts), "{v:#}");
    assert!(v["agreement"].as_f64().unwrap() >= 0.99, "{v:#}");
    assert!(v["mean_cosine"].as_f64().unwrap() >= 0.98, "{v:#}");
    assert!(v["min_cosine"].as_f64().unwrap() > 0.9, "{v:#}");
    assert_eq!(v["token_mismatches"].as_u64(), Some(0), "{v:#}");
    let (rt, rf) = (
        v["accuracy_runtime"].as_f64().unwrap(),
        v["accuracy_reference"].as_f64().unwrap(),
    );
    assert!(
        rf > 0.9,
        "imprinted fixture head should separate the classes: {v:#}"
    );
    // At most 1 % of the labelled prompts apart, counted in prompts (0.925 − 0.915 is
    // 0.010000000000000009 in f64).
    let n = v["labelled"].as_f64().unwrap();
    let (ct, cf) = ((rt * n).round(), (rf * n).round());
    assert!((ct - cf).abs() <= (0.01 * n).round(), "{v:#}");
}

#[test]
fn static_model_export_inspect_verify() {
    let dir = fixtures::scratch_dir("cli-static");
    let ckpt = dir.join("ckpt");
    fixtures::static_checkpoint(&ckpt);
    let model = dir.join("static.hone");
    let blob = export(&ckpt, &model, &[]);

    // Same inputs, same bytes.
    let again = export(&ckpt, &dir.join("again.hone"), &[]);
    assert!(blob == again, "export is not deterministic");

    let mut steps = HostSteps::new();
    let m = hone::Model::load(&blob, &mut steps).unwrap();
    assert_eq!(m.num_classes(), 4);
    assert_eq!(m.feature_dim(), 24);
    assert!(m.normalizes_features());
    let r = json(&[
        "inspect",
        model.to_str().unwrap(),
        "--json",
        "--seq-len",
        "10",
    ]);
    assert_eq!(r["flash_bytes"].as_u64(), Some(blob.len() as u64));
    assert_eq!(r["scratch_bytes"].as_u64(), Some(m.scratch_bytes() as u64));
    // MLP 16→24 on the pooled row, head 4×24: 384 + 96.
    assert_eq!(r["macs"].as_u64(), Some(16 * 24 + 4 * 24));
    let ops: Vec<&str> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "Embedding",
            "Pool(mean)",
            "FullyConnected+ReLU",
            "Head(L2-norm)"
        ]
    );
    let text = ok(&["inspect", model.to_str().unwrap()]);
    assert!(
        text.contains("scratch RAM") && text.contains("FullyConnected+ReLU"),
        "{text}"
    );

    let v = verify(&model, &ckpt, &ckpt.join("test.txt"));
    check_verify(&v, 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bert_model_export_inspect_verify() {
    let dir = fixtures::scratch_dir("cli-bert");
    let ckpt = dir.join("ckpt");
    fixtures::bert_checkpoint(&ckpt);
    let model = dir.join("bert.hone");
    let blob = export(&ckpt, &model, &["--max-len", "24", "--pooling", "mean"]);
    let mut steps = HostSteps::new();
    let m = hone::Model::load(&blob, &mut steps).unwrap();
    assert_eq!(m.max_len(), 24);
    assert!(!m.normalizes_features());

    let r = json(&[
        "inspect",
        model.to_str().unwrap(),
        "--json",
        "--seq-len",
        "8",
    ]);
    assert_eq!(r["flash_bytes"].as_u64(), Some(blob.len() as u64));
    assert_eq!(r["scratch_bytes"].as_u64(), Some(m.scratch_bytes() as u64));
    // Per layer at L = 8, d = 32, FFN 64: 4 d×d projections, 2 FFN matrices, attention
    // 2·L²·d; then the head 4×32.
    let (l, d, f) = (8u64, 32u64, 64u64);
    let per_layer = l * (4 * d * d + 2 * d * f) + 2 * l * l * d;
    assert_eq!(r["macs"].as_u64(), Some(2 * per_layer + 4 * d));

    // Each layer's attention output and FFN output, with their residual adds and
    // LayerNorms, are fused ops (format v2).
    assert_eq!(r["format_version"].as_u64(), Some(2));
    let ops: Vec<&str> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["op"].as_str().unwrap())
        .collect();
    let layer = [
        "FullyConnected",
        "FullyConnected",
        "FullyConnected",
        "Attention",
        "FC+Add+LayerNorm",
        "FullyConnected",
        "Lut",
        "FC+Add+LayerNorm",
    ];
    let mut want = vec!["Embedding+Positions", "LayerNorm"];
    want.extend(layer.iter().chain(&layer));
    want.extend(["Pool(mean)", "Head"]);
    assert_eq!(ops, want);
    let v = verify(&model, &ckpt, &ckpt.join("test.txt"));
    check_verify(&v, 200);

    // Unfused (format v1 ops only): FC → Add → LayerNorm, and it verifies too.
    let v1 = dir.join("bert-v1.hone");
    let args = ["--max-len", "24", "--pooling", "mean", "--no-fuse"];
    let blob1 = export(&ckpt, &v1, &args);
    assert_eq!(blob1[4..6], [1, 0]);
    let mut m1_steps = HostSteps::new();
    let m1 = hone::Model::load(&blob1, &mut m1_steps).unwrap();
    assert_eq!(m1.ops().count(), ops.len() + 2 * 2 * 2);
    check_verify(&verify(&v1, &ckpt, &ckpt.join("test.txt")), 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pruned_vocabulary_still_verifies() {
    let dir = fixtures::scratch_dir("cli-prune");
    let ckpt = dir.join("ckpt");
    fixtures::static_checkpoint(&ckpt);
    let corpus = ckpt.join("train.txt");
    let full = export(&ckpt, &dir.join("full.hone"), &[]);
    let model = dir.join("pruned.hone");
    let blob = export(&ckpt, &model, &["--prune-vocab", corpus.to_str().unwrap()]);
    let (mut sf, mut sp) = (HostSteps::new(), HostSteps::new());
    let (mf, mp) = (
        hone::Model::load(&full, &mut sf).unwrap(),
        hone::Model::load(&blob, &mut sp).unwrap(),
    );
    let (nf, np) = (mf.tokenizer().vocab().len(), mp.tokenizer().vocab().len());
    assert!(np < nf, "pruning kept {np} of {nf} tokens");
    // Every single character survives, with and without ##.
    for c in 'a'..='z' {
        assert!(mp.tokenizer().vocab().id_of(&c.to_string()).is_some());
        assert!(mp.tokenizer().vocab().id_of(&format!("##{c}")).is_some());
    }
    // On the corpus itself tokenization is unchanged, so the comparison is exact in tokens.
    let v = verify(&model, &ckpt, &corpus);
    check_verify(&v, 160);
    std::fs::remove_dir_all(&dir).unwrap();
}
