//! The float checkpoint (`models/CHECKPOINT.md`): `config.json`, `model.safetensors` (f16),
//! `tokenizer.json`. Written after training; read back for evaluation.

use crate::eval::Head;
use crate::student::{Act, Student};
use crate::train::Trained;
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// One MLP layer of `config.json`.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct MlpLayer {
    /// Output width.
    pub out_features: usize,
    /// `relu` | `gelu` | `none`.
    pub activation: String,
}

/// `config.json` of a checkpoint (static architecture).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Config {
    /// Always `hone-checkpoint`.
    pub format: String,
    /// Schema version (1).
    pub version: u32,
    /// Model name.
    pub name: String,
    /// `static` here.
    pub architecture: String,
    /// V.
    pub vocab_size: usize,
    /// d.
    pub hidden_size: usize,
    /// Maximum tokens per prompt (longer prompts are truncated).
    pub max_len: usize,
    /// Whether to wrap the prompt in `[CLS]` … `[SEP]` (false).
    pub add_special_tokens: bool,
    /// Position table present (false).
    pub position_embeddings: bool,
    /// Embedding LayerNorm present (false).
    pub embedding_layer_norm: bool,
    /// `mean`: mean of the token rows of the prompt (no special tokens).
    pub pooling: String,
    /// MLP after pooling.
    pub mlp: Vec<MlpLayer>,
    /// L2-normalise the feature before the head.
    pub normalize_features: bool,
    /// Classifier rows.
    pub labels: Vec<String>,
    /// Lower-case the text before tokenising (the tokenizer's normaliser also does).
    pub do_lower_case: bool,
}

fn f16(t: &Tensor) -> Result<Tensor> {
    Ok(t.to_dtype(DType::F16)?)
}

/// Write `t` (trained with `max_len`) as a checkpoint directory `dir` named `name`.
pub fn write(t: &Trained, dir: &Path, name: &str, max_len: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    tensors.insert(
        "embeddings.word_embeddings.weight".into(),
        f16(t.student.emb.as_tensor())?,
    );
    let mut mlp = Vec::new();
    for (i, (w, b, act)) in t.student.mlp.iter().enumerate() {
        tensors.insert(format!("mlp.{i}.weight"), f16(w.as_tensor())?);
        tensors.insert(format!("mlp.{i}.bias"), f16(b.as_tensor())?);
        let activation = match act {
            Act::Relu => "relu",
            Act::None => "none",
        };
        mlp.push(MlpLayer {
            out_features: w.dim(0)?,
            activation: activation.into(),
        });
    }
    tensors.insert("classifier.weight".into(), f16(&t.head.w)?);
    tensors.insert("classifier.bias".into(), f16(&t.head.b)?);
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    let cfg = Config {
        format: "hone-checkpoint".into(),
        version: 1,
        name: name.into(),
        architecture: "static".into(),
        vocab_size: t.vocab.len(),
        hidden_size: t.student.emb.dim(1)?,
        max_len,
        add_special_tokens: false,
        position_embeddings: false,
        embedding_layer_norm: false,
        pooling: "mean".into(),
        mlp,
        normalize_features: true,
        labels: t.labels.clone(),
        do_lower_case: true,
    };
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&cfg)? + "\n",
    )?;
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string(&t.tokenizer_json)?,
    )?;
    Ok(())
}

/// A checkpoint read back: student (f32), head, tokenizer, config.
pub struct Loaded {
    /// Config.
    pub config: Config,
    /// Student.
    pub student: Student,
    /// Head over `config.labels`.
    pub head: Head,
    /// Tokenizer.
    pub tokenizer: tokenizers::Tokenizer,
}

/// Read a checkpoint directory.
pub fn load(dir: &Path) -> Result<Loaded> {
    let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    anyhow::ensure!(
        config.architecture == "static",
        "only static checkpoints are supported"
    );
    let t = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)?;
    let get = |n: &str| -> Result<Tensor> {
        Ok(t.get(n)
            .with_context(|| format!("tensor {n}"))?
            .to_dtype(DType::F32)?)
    };
    let mut mlp = Vec::new();
    for (i, l) in config.mlp.iter().enumerate() {
        let act = match l.activation.as_str() {
            "relu" => Act::Relu,
            "none" => Act::None,
            a => anyhow::bail!("activation {a} not supported here"),
        };
        let w = Var::from_tensor(&get(&format!("mlp.{i}.weight"))?)?;
        let b = Var::from_tensor(&get(&format!("mlp.{i}.bias"))?)?;
        mlp.push((w, b, act));
    }
    let student = Student {
        emb: Var::from_tensor(&get("embeddings.word_embeddings.weight")?)?,
        mlp,
    };
    let head = Head {
        w: get("classifier.weight")?,
        b: get("classifier.bias")?,
    };
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
    Ok(Loaded {
        config,
        student,
        head,
        tokenizer,
    })
}

/// Estimated bytes of the exported int8 blob: int8 table + f32 row scales + token strings +
/// u32 offsets + int8 MLP weights with f32 per-channel scales and i32 biases + f32 head.
pub fn blob_estimate(
    v: usize,
    d: usize,
    string_bytes: usize,
    mlp: &[(usize, usize)],
    c: usize,
    f: usize,
) -> usize {
    let table = v * d + 4 * v + string_bytes + 4 * v;
    let mlp: usize = mlp.iter().map(|&(o, i)| o * i + 8 * o).sum();
    table + mlp + c * f * 4 + c * 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{prune, tiny_teacher_json};

    #[test]
    fn checkpoint_round_trips_and_features_match() -> Result<()> {
        let json = tiny_teacher_json();
        let t = tokenizers::Tokenizer::from_bytes(json.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let vocab = prune(&t, &["cab ab".to_string()], 12)?;
        let tokenizer_json = vocab.tokenizer_json(&json)?;
        let rows: Vec<Vec<f32>> = (0..vocab.len())
            .map(|i| (0..4).map(|j| ((i * 7 + j * 3) % 5) as f32 - 2.0).collect())
            .collect();
        let student = Student::new(crate::eval::to_tensor(&rows)?, &[6], 1)?;
        let head = Head {
            w: Tensor::from_vec(
                (0..12).map(|i| i as f32 / 8.0).collect::<Vec<_>>(),
                (2, 6),
                &Device::Cpu,
            )?,
            b: Tensor::new(&[0.5f32, -0.5], &Device::Cpu)?,
        };
        let trained = Trained {
            vocab,
            tokenizer_json,
            student,
            labels: vec!["x".into(), "y".into()],
            head,
        };
        let dir = std::env::temp_dir().join(format!("hone-ckpt-{}", std::process::id()));
        write(&trained, &dir, "tiny", 32)?;
        let back = load(&dir)?;
        assert_eq!(back.config.vocab_size, 12);
        assert_eq!(back.config.hidden_size, 4);
        assert_eq!(back.config.labels, ["x", "y"]);
        assert_eq!(back.config.mlp.len(), 1);
        let seqs = vec![vec![4u32, 5, 6], vec![7u32]];
        let a = trained.student.features(&seqs)?;
        let b = back.student.features(&seqs)?;
        for (ra, rb) in a.iter().zip(&b) {
            for (x, y) in ra.iter().zip(rb) {
                assert!((x - y).abs() < 2e-2, "{x} vs {y} (f16 storage)");
            }
        }
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
        assert_eq!(raw["format"], "hone-checkpoint");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
