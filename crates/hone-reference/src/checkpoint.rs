//! Float checkpoints: `config.json` (two schemas), `model.safetensors`, labels.
//!
//! **Hugging Face BERT** (`"model_type": "bert"`, e.g. all-MiniLM-L6-v2): encoder sizes from
//! the config, tensors under the standard names (optionally prefixed `bert.`), pooling and
//! normalisation from [`Overrides`] (default: mean pooling, no normalisation), an optional
//! `classifier.{weight,bias}` applied to the pooled features, labels from `id2label`.
//!
//! **hone-checkpoint** (`"format": "hone-checkpoint", "version": 1`): the project's own
//! schema, see `host-tools/hone-cli/EXPORT.md`.
//!
//! A checkpoint without a classifier gets a zero head (all logits 0) over its labels, or
//! over the single label `features` when it has none: such a model is a feature extractor
//! whose head is trained on the device.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::math::{LayerNorm, Linear};
use crate::{Error, Result};

/// How token rows are reduced to one feature row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over all tokens (including `[CLS]`/`[SEP]` when present).
    Mean,
    /// The first token (`[CLS]`).
    First,
    /// Element-wise maximum.
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" | "first" => Ok(Pooling::First),
            "max" => Ok(Pooling::Max),
            other => Err(format!("unknown pooling {other:?} (mean, cls, max)")),
        }
    }
}

/// Activation after an MLP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlpActivation {
    /// `max(x, 0)`.
    Relu,
    /// Identity.
    None,
}

/// One layer of the MLP between pooling and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpLayer {
    /// Output width.
    pub out_features: usize,
    /// Activation.
    pub activation: MlpActivation,
}

/// Encoder sizes of a BERT model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertDims {
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads (divides the hidden size).
    pub heads: usize,
    /// FFN width.
    pub intermediate: usize,
}

/// The model family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Architecture {
    /// Static token embeddings (+ optional positions and LayerNorm), pooled.
    Static,
    /// A BERT encoder.
    Bert(BertDims),
}

/// A checkpoint's configuration after applying [`Overrides`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Model name.
    pub name: String,
    /// Family.
    pub architecture: Architecture,
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Embedding / hidden width.
    pub hidden_size: usize,
    /// Longest token sequence (with `[CLS]`/`[SEP]`).
    pub max_len: usize,
    /// Wrap prompts in `[CLS] … [SEP]`.
    pub add_special_tokens: bool,
    /// Learned position embeddings (and token type 0) are added.
    pub position_embeddings: bool,
    /// LayerNorm after the embeddings.
    pub embedding_layer_norm: bool,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
    /// Pooling.
    pub pooling: Pooling,
    /// Layers after pooling.
    pub mlp: Vec<MlpLayer>,
    /// L2-normalise the head's input.
    pub normalize_features: bool,
    /// Class names of the head.
    pub labels: Vec<String>,
}

/// Settings given on the command line (or read back from an exported blob).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Pooling (HF BERT: default mean).
    pub pooling: Option<Pooling>,
    /// L2-normalise features.
    pub normalize: Option<bool>,
    /// Maximum sequence length.
    pub max_len: Option<usize>,
    /// Class names (must match the classifier's rows when there is one).
    pub labels: Option<Vec<String>>,
}

/// One transformer layer's weights.
#[derive(Debug, Clone)]
pub struct BertLayer {
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Attention output projection.
    pub o: Linear,
    /// LayerNorm after attention + residual.
    pub ln1: LayerNorm,
    /// FFN up-projection.
    pub ff1: Linear,
    /// FFN down-projection.
    pub ff2: Linear,
    /// LayerNorm after FFN + residual.
    pub ln2: LayerNorm,
}

/// All float weights.
#[derive(Debug, Clone)]
pub struct Weights {
    /// `[vocab × d]` word embeddings.
    pub word: Vec<f32>,
    /// `[max_len × d]` position embeddings (first `max_len` rows).
    pub positions: Option<Vec<f32>>,
    /// Token-type-0 embedding `[d]`.
    pub token_type0: Option<Vec<f32>>,
    /// LayerNorm after the embeddings.
    pub emb_ln: Option<LayerNorm>,
    /// Transformer layers (empty for static models).
    pub layers: Vec<BertLayer>,
    /// MLP after pooling.
    pub mlp: Vec<Linear>,
    /// The head `[classes × features]` (zeros when the checkpoint has none).
    pub head: Linear,
    /// Whether the head came from the checkpoint.
    pub head_trained: bool,
}

/// A loaded float checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Effective configuration.
    pub config: Config,
    /// Weights.
    pub weights: Weights,
}

fn cfg_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Reads a file, naming it on failure.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

struct Json<'a> {
    v: &'a Value,
    path: &'a Path,
}

impl Json<'_> {
    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| cfg_err(self.path, format!("missing integer field `{key}`")))
    }
    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                cfg_err(self.path, format!("`{key}` must be a non-negative integer"))
            }),
        }
    }
    fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.v.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(x) => x
                .as_bool()
                .ok_or_else(|| cfg_err(self.path, format!("`{key}` must be true or false"))),
        }
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.v.get(key).and_then(Value::as_str)
    }
    fn f32(&self, key: &str, default: f32) -> Result<f32> {
        match self.v.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(x) => x
                .as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| cfg_err(self.path, format!("`{key}` must be a number"))),
        }
    }
}

fn bert_dims(j: &Json<'_>) -> Result<BertDims> {
    Ok(BertDims {
        layers: j.usize("num_hidden_layers")?,
        heads: j.usize("num_attention_heads")?,
        intermediate: j.usize("intermediate_size")?,
    })
}

/// Parses `config.json` into a [`Config`] (before the tensors are checked).
pub fn parse_config(path: &Path, text: &str, o: &Overrides) -> Result<Config> {
    let v: Value = serde_json::from_str(text).map_err(|e| cfg_err(path, e.to_string()))?;
    let j = Json { v: &v, path };
    let mut c = if j.str("format") == Some("hone-checkpoint") {
        let version = j.usize("version")?;
        if version != 1 {
            return Err(Error::Unsupported(format!(
                "hone-checkpoint version {version} (this build reads version 1)"
            )));
        }
        hone_config(&j)?
    } else if let Some(mt) = j.str("model_type") {
        if mt != "bert" {
            return Err(Error::Unsupported(format!(
                "model_type {mt:?} (supported: \"bert\" and hone-checkpoint)"
            )));
        }
        hf_bert_config(&j)?
    } else {
        return Err(cfg_err(
            path,
            "neither a hone-checkpoint (`\"format\": \"hone-checkpoint\"`) nor a Hugging Face \
             BERT config (`\"model_type\": \"bert\"`)",
        ));
    };
    if let Some(p) = o.pooling {
        c.pooling = p;
    }
    if let Some(n) = o.normalize {
        c.normalize_features = n;
    }
    if let Some(m) = o.max_len {
        c.max_len = m;
    }
    if let Some(l) = &o.labels {
        c.labels.clone_from(l);
    }
    if c.max_len == 0 || c.hidden_size == 0 || c.vocab_size == 0 {
        return Err(cfg_err(
            path,
            "max_len, hidden_size and vocab_size must be positive",
        ));
    }
    if let Architecture::Bert(d) = c.architecture {
        if d.heads == 0 || !c.hidden_size.is_multiple_of(d.heads) {
            return Err(cfg_err(
                path,
                format!(
                    "{} heads do not divide hidden size {}",
                    d.heads, c.hidden_size
                ),
            ));
        }
    }
    Ok(c)
}

fn hone_config(j: &Json<'_>) -> Result<Config> {
    let architecture = match j.str("architecture") {
        Some("static") => Architecture::Static,
        Some("bert") => Architecture::Bert(bert_dims(j)?),
        other => {
            return Err(Error::Unsupported(format!(
                "hone-checkpoint architecture {:?} (supported: \"static\", \"bert\")",
                other.unwrap_or("(none)")
            )))
        }
    };
    let pooling = match j.str("pooling") {
        None => Pooling::Mean,
        Some(p) => p.parse().map_err(|e: String| cfg_err(j.path, e))?,
    };
    let mut mlp = Vec::new();
    if let Some(layers) = j.v.get("mlp").and_then(Value::as_array) {
        for (i, l) in layers.iter().enumerate() {
            let lj = Json { v: l, path: j.path };
            let activation = match lj.str("activation").unwrap_or("none") {
                "relu" => MlpActivation::Relu,
                "none" | "linear" => MlpActivation::None,
                a => {
                    return Err(Error::Unsupported(format!(
                        "mlp.{i} activation {a:?} (supported: relu, none)"
                    )))
                }
            };
            mlp.push(MlpLayer {
                out_features: lj.usize("out_features")?,
                activation,
            });
        }
    }
    let labels = match j.v.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| cfg_err(j.path, "`labels` must be an array of strings"))?,
        Some(_) => return Err(cfg_err(j.path, "`labels` must be an array of strings")),
    };
    Ok(Config {
        name: j.str("name").unwrap_or("hone-model").to_string(),
        architecture,
        vocab_size: j.usize("vocab_size")?,
        hidden_size: j.usize("hidden_size")?,
        max_len: j.usize("max_len")?,
        add_special_tokens: j.bool("add_special_tokens", false)?,
        position_embeddings: j.bool("position_embeddings", false)?,
        embedding_layer_norm: j.bool("embedding_layer_norm", false)?,
        layer_norm_eps: j.f32("layer_norm_eps", 1e-12)?,
        pooling,
        mlp,
        normalize_features: j.bool("normalize_features", false)?,
        labels,
    })
}

fn hf_bert_config(j: &Json<'_>) -> Result<Config> {
    match j.str("hidden_act").unwrap_or("gelu") {
        "gelu" => {}
        a => {
            return Err(Error::Unsupported(format!(
                "BERT hidden_act {a:?} (supported: \"gelu\", the erf form)"
            )))
        }
    }
    if let Some(t) = j.str("position_embedding_type") {
        if t != "absolute" {
            return Err(Error::Unsupported(format!("position_embedding_type {t:?}")));
        }
    }
    let mut labels: Vec<(usize, String)> = Vec::new();
    if let Some(m) = j.v.get("id2label").and_then(Value::as_object) {
        for (k, v) in m {
            if let (Ok(i), Some(s)) = (k.parse::<usize>(), v.as_str()) {
                labels.push((i, s.to_string()));
            }
        }
    }
    labels.sort();
    let max_pos = j.opt_usize("max_position_embeddings")?.unwrap_or(512);
    Ok(Config {
        name: j.str("_name_or_path").unwrap_or("bert").to_string(),
        architecture: Architecture::Bert(bert_dims(j)?),
        vocab_size: j.usize("vocab_size")?,
        hidden_size: j.usize("hidden_size")?,
        max_len: max_pos.min(128),
        add_special_tokens: true,
        position_embeddings: true,
        embedding_layer_norm: true,
        layer_norm_eps: j.f32("layer_norm_eps", 1e-12)?,
        pooling: Pooling::Mean,
        mlp: Vec::new(),
        normalize_features: false,
        labels: labels.into_iter().map(|(_, s)| s).collect(),
    })
}

/// Typed access to the tensors of one safetensors file.
struct Tensors<'a> {
    st: SafeTensors<'a>,
    path: &'a Path,
    prefix: &'static str,
}

impl Tensors<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.opt(name, shape)?.ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
            path: self.path.to_path_buf(),
        })
    }

    /// Like [`Self::get`] but the first dimension may be larger than `shape[0]`; the first
    /// `shape[0]` rows are returned.
    fn rows(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (found, data) = self.raw(name)?.ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
            path: self.path.to_path_buf(),
        })?;
        if found.len() != 2 || found[1] != shape[1] || found[0] < shape[0] {
            return Err(Error::Shape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(data[..shape[0] * shape[1]].to_vec())
    }

    fn opt(&self, name: &str, shape: &[usize]) -> Result<Option<Vec<f32>>> {
        let Some((found, data)) = self.raw(name)? else {
            return Ok(None);
        };
        if found != shape {
            return Err(Error::Shape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(Some(data))
    }

    fn raw(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        let full = format!("{}{name}", self.prefix);
        let t = match self.st.tensor(&full).or_else(|_| self.st.tensor(name)) {
            Ok(t) => t,
            Err(_) => return Ok(None),
        };
        let b = t.data();
        let data: Vec<f32> = match t.dtype() {
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            d => {
                return Err(Error::Dtype {
                    name: name.to_string(),
                    dtype: format!("{d:?}"),
                })
            }
        };
        Ok(Some((t.shape().to_vec(), data)))
    }

    fn linear(&self, base: &str, inp: usize, out: usize) -> Result<Linear> {
        Ok(Linear {
            w: self.get(&format!("{base}.weight"), &[out, inp])?,
            b: self.get(&format!("{base}.bias"), &[out])?,
            inp,
            out,
        })
    }

    fn layer_norm(&self, base: &str, d: usize, eps: f32) -> Result<LayerNorm> {
        Ok(LayerNorm {
            gamma: self.get(&format!("{base}.weight"), &[d])?,
            beta: self.get(&format!("{base}.bias"), &[d])?,
            eps,
        })
    }
}

impl Checkpoint {
    /// Loads `dir/config.json` and `dir/model.safetensors`.
    pub fn load(dir: &Path, o: &Overrides) -> Result<Self> {
        let cpath = dir.join("config.json");
        let text = String::from_utf8(read(&cpath)?).map_err(|e| cfg_err(&cpath, e.to_string()))?;
        let mut config = parse_config(&cpath, &text, o)?;
        let wpath = dir.join("model.safetensors");
        let bytes = read(&wpath)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Safetensors {
            path: wpath.clone(),
            msg: e.to_string(),
        })?;
        let prefix = if st.tensor("bert.embeddings.word_embeddings.weight").is_ok() {
            "bert."
        } else {
            ""
        };
        let t = Tensors {
            st,
            path: &wpath,
            prefix,
        };
        let weights = load_weights(&t, &mut config, &cpath)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weights,
        })
    }
}

fn load_weights(t: &Tensors<'_>, c: &mut Config, cpath: &Path) -> Result<Weights> {
    let (v, d, eps) = (c.vocab_size, c.hidden_size, c.layer_norm_eps);
    let word = t.get("embeddings.word_embeddings.weight", &[v, d])?;
    let (positions, token_type0) = if c.position_embeddings {
        let pos = t.rows("embeddings.position_embeddings.weight", &[c.max_len, d])?;
        let tt = t
            .raw("embeddings.token_type_embeddings.weight")?
            .map(|(shape, data)| {
                if shape.len() == 2 && shape[1] == d && shape[0] >= 1 {
                    Ok(data[..d].to_vec())
                } else {
                    Err(Error::Shape {
                        name: "embeddings.token_type_embeddings.weight".into(),
                        expected: vec![2, d],
                        found: shape,
                    })
                }
            })
            .transpose()?;
        (Some(pos), tt)
    } else {
        (None, None)
    };
    let emb_ln = if c.embedding_layer_norm {
        Some(t.layer_norm("embeddings.LayerNorm", d, eps)?)
    } else {
        None
    };
    let mut layers = Vec::new();
    if let Architecture::Bert(b) = c.architecture {
        for i in 0..b.layers {
            let p = format!("encoder.layer.{i}");
            layers.push(BertLayer {
                q: t.linear(&format!("{p}.attention.self.query"), d, d)?,
                k: t.linear(&format!("{p}.attention.self.key"), d, d)?,
                v: t.linear(&format!("{p}.attention.self.value"), d, d)?,
                o: t.linear(&format!("{p}.attention.output.dense"), d, d)?,
                ln1: t.layer_norm(&format!("{p}.attention.output.LayerNorm"), d, eps)?,
                ff1: t.linear(&format!("{p}.intermediate.dense"), d, b.intermediate)?,
                ff2: t.linear(&format!("{p}.output.dense"), b.intermediate, d)?,
                ln2: t.layer_norm(&format!("{p}.output.LayerNorm"), d, eps)?,
            });
        }
    }
    let mut mlp = Vec::new();
    let mut f = d;
    for (i, l) in c.mlp.iter().enumerate() {
        mlp.push(t.linear(&format!("mlp.{i}"), f, l.out_features)?);
        f = l.out_features;
    }
    let head = match t.raw("classifier.weight")? {
        Some((shape, _)) => {
            let classes = shape.first().copied().unwrap_or(0);
            let head = t.linear("classifier", f, classes)?;
            if c.labels.len() != classes {
                return Err(cfg_err(
                    cpath,
                    format!(
                        "the classifier has {classes} classes but {} labels are given",
                        c.labels.len()
                    ),
                ));
            }
            Some(head)
        }
        None => None,
    };
    let head_trained = head.is_some();
    let head = head.unwrap_or_else(|| {
        if c.labels.is_empty() {
            c.labels = vec!["features".to_string()];
        }
        Linear {
            w: vec![0.0; c.labels.len() * f],
            b: vec![0.0; c.labels.len()],
            inp: f,
            out: c.labels.len(),
        }
    });
    Ok(Weights {
        word,
        positions,
        token_type0,
        emb_ln,
        layers,
        mlp,
        head,
        head_trained,
    })
}

/// Reads a label file: one class name per line (blank lines ignored).
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = String::from_utf8(read(path)?).map_err(|e| cfg_err(path, e.to_string()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Every tensor name in a safetensors file with its shape (diagnostics).
pub fn list_tensors(path: &Path) -> Result<BTreeMap<String, Vec<usize>>> {
    let bytes = read(path)?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect())
}
