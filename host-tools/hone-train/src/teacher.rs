//! The teacher: a Hugging Face BERT encoder (all-MiniLM-L6-v2) run with candle, giving
//! sentence-transformers sentence embeddings (mean over non-padding tokens, then L2).

use anyhow::{Context, Result};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use tokenizers::Tokenizer;

/// Subset of the Hugging Face BERT `config.json` the forward pass needs.
#[derive(serde::Deserialize, Clone, Debug)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Position table size.
    pub max_position_embeddings: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln1: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    ln2: LayerNorm,
}

/// A BERT encoder with GELU (erf) feed-forward layers.
pub struct Bert {
    word: Embedding,
    pos: Embedding,
    typ: Embedding,
    ln: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    /// Its configuration.
    pub cfg: BertConfig,
}

impl Bert {
    /// Build from a var builder holding HF BERT tensor names (optionally under `bert.`).
    pub fn new(vb: VarBuilder, cfg: &BertConfig) -> Result<Self> {
        let (h, e) = (cfg.hidden_size, cfg.layer_norm_eps);
        let ve = vb.pp("embeddings");
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            layers.push(Layer {
                q: linear(h, h, a.pp("self.query"))?,
                k: linear(h, h, a.pp("self.key"))?,
                v: linear(h, h, a.pp("self.value"))?,
                o: linear(h, h, a.pp("output.dense"))?,
                ln1: layer_norm(h, e, a.pp("output.LayerNorm"))?,
                ff1: linear(h, cfg.intermediate_size, l.pp("intermediate.dense"))?,
                ff2: linear(cfg.intermediate_size, h, l.pp("output.dense"))?,
                ln2: layer_norm(h, e, l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Self {
            word: embedding(cfg.vocab_size, h, ve.pp("word_embeddings"))?,
            pos: embedding(cfg.max_position_embeddings, h, ve.pp("position_embeddings"))?,
            typ: embedding(2, h, ve.pp("token_type_embeddings"))?,
            ln: layer_norm(h, e, ve.pp("LayerNorm"))?,
            layers,
            heads: cfg.num_attention_heads,
            cfg: cfg.clone(),
        })
    }

    /// Last hidden states `[B, L, H]` for `ids` `[B, L]` (u32) with `mask` `[B, L]` (f32, 1 = token).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let dev = ids.device();
        let pos = Tensor::arange(0u32, l as u32, dev)?
            .unsqueeze(0)?
            .broadcast_as((b, l))?;
        let typ = Tensor::zeros((b, l), DType::U32, dev)?;
        let x = (self.word.forward(ids)? + self.pos.forward(&pos)?)?;
        let mut x = self.ln.forward(&(x + self.typ.forward(&typ)?)?)?;
        let hd = self.cfg.hidden_size / self.heads;
        // Additive mask [B, 1, 1, L]: 0 for tokens, -1e4 for padding.
        let bias = ((mask.ones_like()? - mask)? * -1e4)?.reshape((b, 1, 1, l))?;
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let split = |t: Tensor| -> Result<Tensor> {
                Ok(t.reshape((b, l, self.heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = split(layer.q.forward(&x)?)?;
            let k = split(layer.k.forward(&x)?)?;
            let v = split(layer.v.forward(&x)?)?;
            let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let ctx = att
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b, l, self.cfg.hidden_size))?;
            x = layer.ln1.forward(&(layer.o.forward(&ctx)? + &x)?)?;
            let ff = layer.ff2.forward(&layer.ff1.forward(&x)?.gelu_erf()?)?;
            x = layer.ln2.forward(&(ff + &x)?)?;
        }
        Ok(x)
    }
}

/// Mean over tokens where `mask` is 1: `[B, L, H]`, `[B, L]` → `[B, H]`.
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.unsqueeze(2)?;
    let sum = x.broadcast_mul(&m)?.sum(1)?;
    let n = m.sum(1)?.clamp(1e-9, f64::INFINITY)?;
    Ok(sum.broadcast_div(&n)?)
}

/// Row-wise L2 normalisation of `[B, H]`.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::INFINITY)?;
    Ok(x.broadcast_div(&n)?)
}

/// The teacher with its tokenizer.
pub struct Teacher {
    /// The encoder.
    pub bert: Bert,
    /// Its WordPiece tokenizer.
    pub tokenizer: Tokenizer,
}

impl Teacher {
    /// Load from a directory with `config.json`, `model.safetensors`, `tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg: BertConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
            .context("teacher weights")?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let bert = Bert::new(vb, &cfg)?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("teacher tokenizer: {e}"))?;
        tokenizer.with_padding(None);
        Ok(Self { bert, tokenizer })
    }

    /// Sentence embeddings (mean pool + L2) of `ids` lists (already with `[CLS]`/`[SEP]`), `[N, H]`
    /// in input order. Batches by length for speed.
    pub fn embed_ids(&self, seqs: &[Vec<u32>], label: &str) -> Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| (seqs[i].len(), i));
        let mut out = vec![Vec::new(); seqs.len()];
        let mut pb = progress(seqs.len() as u64, label);
        let max_tokens = 4096;
        let mut start = 0;
        while start < order.len() {
            let longest = seqs[order[(start + 63).min(order.len() - 1)]].len().max(1);
            let bs = (max_tokens / longest).clamp(1, 64).min(order.len() - start);
            let batch = &order[start..start + bs];
            let l = batch
                .iter()
                .map(|&i| seqs[i].len())
                .max()
                .unwrap_or(1)
                .max(1);
            let mut ids = vec![0u32; bs * l];
            let mut mask = vec![0f32; bs * l];
            for (r, &i) in batch.iter().enumerate() {
                for (c, &t) in seqs[i].iter().enumerate() {
                    ids[r * l + c] = t;
                    mask[r * l + c] = 1.0;
                }
            }
            let ids = Tensor::from_vec(ids, (bs, l), &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, (bs, l), &Device::Cpu)?;
            let h = self.bert.forward(&ids, &mask)?;
            let e = l2_normalize(&masked_mean(&h, &mask)?)?.to_vec2::<f32>()?;
            for (r, &i) in batch.iter().enumerate() {
                out[i] = e[r].clone();
            }
            start += bs;
            pb.inc(bs as u64);
        }
        pb.finish();
        Ok(out)
    }

    /// Sentence embeddings of texts (tokenised with `[CLS]`/`[SEP]`, truncated to `max` tokens
    /// besides those two).
    pub fn embed_texts(&self, texts: &[String], max: usize, label: &str) -> Result<Vec<Vec<f32>>> {
        let sep = self.tokenizer.token_to_id("[SEP]").unwrap_or(102);
        let seqs = texts
            .iter()
            .map(|t| {
                let e = self
                    .tokenizer
                    .encode(t.as_str(), true)
                    .map_err(|e| anyhow::anyhow!("tokenize: {e}"))?;
                let mut ids = e.get_ids().to_vec();
                if ids.len() > max + 2 {
                    ids.truncate(max + 1);
                    ids.push(sep);
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>>>()?;
        self.embed_ids(&seqs, label)
    }
}

/// A progress bar in the crate's style; when stderr is not a terminal (CI, logs) it prints a
/// line at every tenth instead.
pub struct Progress {
    pb: ProgressBar,
    log: bool,
    label: String,
    len: u64,
    pos: u64,
    started: std::time::Instant,
}

impl Progress {
    /// Advance by `n`.
    pub fn inc(&mut self, n: u64) {
        let before = self.pos * 10 / self.len.max(1);
        self.pos += n;
        self.pb.inc(n);
        if self.log && self.pos * 10 / self.len.max(1) > before {
            eprintln!(
                "{}: {}/{} ({:.0} s)",
                self.label,
                self.pos,
                self.len,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
    /// Set the message.
    pub fn set_message(&mut self, m: String) {
        if self.log {
            eprintln!("{}: {m}", self.label);
        }
        self.pb.set_message(m);
    }
    /// Finish.
    pub fn finish(&self) {
        self.pb.finish();
    }
}

/// A progress bar in the crate's style.
pub fn progress(len: u64, label: &str) -> Progress {
    use std::io::IsTerminal;
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(label.to_string());
    Progress {
        pb,
        log: !std::io::stderr().is_terminal(),
        label: label.to_string(),
        len,
        pos: 0,
        started: std::time::Instant::now(),
    }
}
