//! Small float checkpoints made by the project's own code, for the CLI end-to-end tests.
//!
//! Each checkpoint is a directory with `config.json`, `model.safetensors` and a WordPiece
//! `tokenizer.json`, plus `train.txt` / `test.txt` prompt files (`prompt<TAB>label`).
//! Weights come from a fixed-seed generator; the classifier is *imprinted*: its rows are the
//! centred, normalised mean reference features of each class's training prompts, so the
//! classes are separable and top-1 agreement is a meaningful check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use hone_build::testutil::XorShift;
use hone_reference::{Overrides, Reference};
use safetensors::{Dtype, View};
use serde_json::json;

/// Class names and their keywords.
pub const CLASSES: &[(&str, &[&str])] = &[
    ("lights", &["light", "lights", "lamp", "dark"]),
    ("music", &["play", "music", "song", "volume"]),
    ("timer", &["timer", "minutes", "alarm", "wake"]),
    ("weather", &["weather", "rain", "sunny", "cold"]),
];

/// Words that carry no class.
pub const FILLERS: &[&str] = &[
    "the", "a", "please", "turn", "on", "off", "set", "for", "what", "is", "today", "me", "my",
    "can", "you", "now",
];

/// The fixture vocabulary in id order (specials first, then words, pieces and characters).
pub fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##s", "##ing"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (_, kws) in CLASSES {
        v.extend(kws.iter().map(|s| s.to_string()));
    }
    v.extend(FILLERS.iter().map(|s| s.to_string()));
    for c in ('a'..='z').chain('0'..='9') {
        for t in [c.to_string(), format!("##{c}")] {
            if !v.contains(&t) {
                v.push(t);
            }
        }
    }
    v.extend(["?", ".", ","].iter().map(|s| s.to_string()));
    // Never used by the prompts: pruning removes them.
    v.extend(
        ["zebra", "quantum", "banana", "##ly"]
            .iter()
            .map(|s| s.to_string()),
    );
    v
}

/// A Hugging Face `tokenizer.json` (uncased BERT WordPiece) for `vocab`.
pub fn tokenizer_json(vocab: &[String]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
            "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": map}
    })
    .to_string()
}

fn pick(rng: &mut XorShift, s: &[&'static str]) -> &'static str {
    s[rng.next_u32() as usize % s.len()]
}

/// `n` prompts per class: two keywords among one to three fillers, some words with a
/// suffix or a typo (so sub-word pieces and characters are exercised).
pub fn prompts(rng: &mut XorShift, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        for (label, kws) in CLASSES {
            let mut words: Vec<String> = Vec::new();
            for _ in 0..2 {
                words.push(pick(rng, kws).to_string());
            }
            for _ in 0..1 + (i + rng.next_u32() as usize) % 3 {
                words.push(pick(rng, FILLERS).to_string());
            }
            match rng.next_u32() % 8 {
                0 => words.push("settings".into()),
                1 => words.push("xyz".into()),
                2 => words.push("Please!".into()),
                _ => {}
            }
            let k = rng.next_u32() as usize % words.len();
            words.swap(0, k);
            out.push((words.join(" "), label.to_string()));
        }
    }
    out
}

/// A named f32 tensor.
pub struct Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Little-endian bytes.
    pub data: Vec<u8>,
    /// Element type (F32 or F16).
    pub dtype: Dtype,
}

impl Tensor {
    /// An f32 tensor.
    pub fn f32(shape: &[usize], v: &[f32]) -> Self {
        assert_eq!(shape.iter().product::<usize>(), v.len());
        Self {
            shape: shape.to_vec(),
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            dtype: Dtype::F32,
        }
    }

    /// An f16 tensor.
    pub fn f16(shape: &[usize], v: &[f32]) -> Self {
        assert_eq!(shape.iter().product::<usize>(), v.len());
        Self {
            shape: shape.to_vec(),
            data: v
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                .collect(),
            dtype: Dtype::F16,
        }
    }
}

impl View for &Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.data[..]).into()
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` as `dir/model.safetensors`.
pub fn write_safetensors(dir: &Path, tensors: &BTreeMap<String, Tensor>) {
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v)), None)
        .expect("serialise safetensors");
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
}

fn write_prompts(path: &Path, ps: &[(String, String)]) {
    let text: String = ps.iter().map(|(t, l)| format!("{t}\t{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Adds an imprinted classifier (`[classes × features]`) computed with the reference.
fn imprint(dir: &Path, tensors: &mut BTreeMap<String, Tensor>, train: &[(String, String)]) {
    write_safetensors(dir, tensors);
    let r = Reference::load(dir, &Overrides::default()).expect("fixture loads");
    let labels = r.config().labels.clone();
    let feats: Vec<(Vec<f32>, usize)> = train
        .iter()
        .map(|(t, l)| {
            let out = r.run(t, &mut hone_reference::model::NoProbe);
            (out.features, labels.iter().position(|x| x == l).unwrap())
        })
        .collect();
    let f = feats[0].0.len();
    let mut global = vec![0.0f64; f];
    for (v, _) in &feats {
        for (g, &x) in global.iter_mut().zip(v) {
            *g += f64::from(x) / feats.len() as f64;
        }
    }
    let mut w = Vec::new();
    for c in 0..labels.len() {
        let mut m = vec![0.0f64; f];
        let members: Vec<_> = feats.iter().filter(|(_, k)| *k == c).collect();
        for (v, _) in &members {
            for ((a, &x), g) in m.iter_mut().zip(v).zip(&global) {
                *a += (f64::from(x) - g) / members.len() as f64;
            }
        }
        let norm = m.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
        w.extend(m.iter().map(|x| (8.0 * x / norm) as f32));
    }
    let b: Vec<f32> = (0..labels.len()).map(|c| 0.1 * c as f32).collect();
    tensors.insert(
        "classifier.weight".into(),
        Tensor::f32(&[labels.len(), f], &w),
    );
    tensors.insert("classifier.bias".into(), Tensor::f32(&[labels.len()], &b));
    write_safetensors(dir, tensors);
}

/// Adds `strength ·` a random class direction to the embedding row of every keyword and
/// shrinks the filler words' rows (as training does with frequent words): the classes
/// become separable, so agreement is not decided by near-ties.
fn mark_keywords(rng: &mut XorShift, emb: &mut [f32], d: usize, strength: f32) {
    let vocab = vocab();
    for f in FILLERS {
        let id = vocab.iter().position(|t| t == f).unwrap();
        emb[id * d..(id + 1) * d]
            .iter_mut()
            .for_each(|e| *e *= 0.25);
    }
    for (_, kws) in CLASSES {
        let dir = rng.vec(d, 1.0);
        let norm = dir.iter().map(|x| x * x).sum::<f32>().sqrt();
        for kw in *kws {
            let id = vocab.iter().position(|t| t == kw).unwrap();
            for (e, u) in emb[id * d..(id + 1) * d].iter_mut().zip(&dir) {
                *e += strength * u / norm;
            }
        }
    }
}

fn labels() -> Vec<String> {
    CLASSES.iter().map(|(l, _)| l.to_string()).collect()
}

/// A hone-checkpoint static model: embeddings `[V × 16]` whose rows differ in norm →
/// mean pooling → MLP 24 + ReLU → L2 normalisation → 4-class head.
pub fn static_checkpoint(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let vocab = vocab();
    let (v, d, h) = (vocab.len(), 16, 24);
    let mut rng = XorShift(0x00c0_ffee);
    let mut emb = rng.vec(v * d, 0.5);
    for (i, row) in emb.chunks_exact_mut(d).enumerate() {
        let gain = 0.2 + 2.0 * (i % 7) as f32 / 7.0;
        row.iter_mut().for_each(|x| *x *= gain);
    }
    mark_keywords(&mut rng, &mut emb, d, 3.0);
    let config = json!({
        "format": "hone-checkpoint", "version": 1, "name": "fixture-static",
        "architecture": "static", "vocab_size": v, "hidden_size": d, "max_len": 16,
        "add_special_tokens": false, "position_embeddings": false,
        "embedding_layer_norm": false, "pooling": "mean",
        "mlp": [{"out_features": h, "activation": "relu"}],
        "normalize_features": true, "labels": labels()
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json(&vocab)).unwrap();
    let mut t = BTreeMap::new();
    t.insert(
        "embeddings.word_embeddings.weight".into(),
        Tensor::f32(&[v, d], &emb),
    );
    t.insert(
        "mlp.0.weight".into(),
        Tensor::f32(&[h, d], &rng.vec(h * d, 0.4)),
    );
    t.insert("mlp.0.bias".into(), Tensor::f32(&[h], &rng.vec(h, 0.1)));
    let train = prompts(&mut rng, 40);
    imprint(dir, &mut t, &train);
    write_prompts(&dir.join("train.txt"), &train);
    write_prompts(&dir.join("test.txt"), &prompts(&mut rng, 50));
}

/// A two-layer Hugging Face BERT (hidden 32, 4 heads, FFN 64, f16 weights) with an
/// imprinted 4-class classifier on mean-pooled features.
pub fn bert_checkpoint(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let vocab = vocab();
    let (v, d, ffn, layers, pos) = (vocab.len(), 32, 64, 2, 40);
    let mut rng = XorShift(0x0be7_0002);
    let id2label: serde_json::Map<String, serde_json::Value> = labels()
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), json!(l)))
        .collect();
    let config = json!({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": d, "intermediate_size": ffn, "num_attention_heads": 4,
        "num_hidden_layers": layers, "max_position_embeddings": pos, "type_vocab_size": 2,
        "vocab_size": v, "layer_norm_eps": 1e-12, "id2label": id2label,
        "position_embedding_type": "absolute"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json(&vocab)).unwrap();
    let mut t = BTreeMap::new();
    let mut put = |name: &str, shape: &[usize], vals: Vec<f32>| {
        t.insert(name.to_string(), Tensor::f16(shape, &vals));
    };
    let mut emb = rng.vec(v * d, 1.0);
    mark_keywords(&mut rng, &mut emb, d, 10.0);
    put("embeddings.word_embeddings.weight", &[v, d], emb);
    put(
        "embeddings.position_embeddings.weight",
        &[pos, d],
        rng.vec(pos * d, 0.3),
    );
    put(
        "embeddings.token_type_embeddings.weight",
        &[2, d],
        rng.vec(2 * d, 0.2),
    );
    put(
        "embeddings.position_ids",
        &[1, pos],
        (0..pos).map(|i| i as f32).collect(),
    );
    let ln = |rng: &mut XorShift| -> (Vec<f32>, Vec<f32>) {
        let g = rng.vec(d, 0.3).iter().map(|x| 1.0 + x).collect();
        (g, rng.vec(d, 0.1))
    };
    let (g, b) = ln(&mut rng);
    put("embeddings.LayerNorm.weight", &[d], g);
    put("embeddings.LayerNorm.bias", &[d], b);
    let s = 0.8 / (d as f32).sqrt();
    for l in 0..layers {
        let p = format!("encoder.layer.{l}");
        for (name, o, i) in [
            ("attention.self.query", d, d),
            ("attention.self.key", d, d),
            ("attention.self.value", d, d),
            ("attention.output.dense", d, d),
            ("intermediate.dense", ffn, d),
            ("output.dense", d, ffn),
        ] {
            let scale = if i == ffn {
                0.8 / (ffn as f32).sqrt()
            } else {
                s
            };
            put(
                &format!("{p}.{name}.weight"),
                &[o, i],
                rng.vec(o * i, scale),
            );
            put(&format!("{p}.{name}.bias"), &[o], rng.vec(o, 0.05));
        }
        for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
            let (g, b) = ln(&mut rng);
            put(&format!("{p}.{name}.weight"), &[d], g);
            put(&format!("{p}.{name}.bias"), &[d], b);
        }
    }
    let train = prompts(&mut rng, 40);
    imprint(dir, &mut t, &train);
    write_prompts(&dir.join("train.txt"), &train);
    write_prompts(&dir.join("test.txt"), &prompts(&mut rng, 50));
}

/// A fresh scratch directory in the system's temporary directory (emptied first).
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hone-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Path of the `hone` binary, built once per test process (debug profile).
pub fn hone_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test> → target/<profile>/hone
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "hone-cli", "--bin", "hone"]);
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building hone-cli failed");
        profile_dir.join("hone")
    })
}

/// Runs `hone` with `args`.
pub fn hone(args: &[&str]) -> Output {
    Command::new(hone_bin())
        .args(args)
        .output()
        .expect("run hone")
}

/// Runs `hone` with `args`, asserts success and returns its standard output.
pub fn hone_ok(args: &[&str]) -> String {
    let out = hone(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hone {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `hone export` of the checkpoint in `ckpt` (calibrated on its `train.txt`) to `out`, with
/// `extra` flags; returns the blob.
pub fn export(ckpt: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let calib = ckpt.join("train.txt");
    let mut args = vec![
        "export",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--calibration",
        calib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    hone_ok(&args);
    std::fs::read(out).expect("exported blob")
}
