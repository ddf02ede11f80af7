//! The float forward pass.
//!
//! [`Reference::forward`] reports every intermediate tensor to a [`Probe`] under a fixed
//! name, which the exporter uses for calibration and per-layer comparisons:
//!
//! | name | tensor |
//! |---|---|
//! | `emb.token` | word-embedding rows of the prompt's tokens |
//! | `emb.sum` | + position + token-type-0 embeddings (when the model has positions) |
//! | `emb.ln` | after the embedding LayerNorm (when present) |
//! | `l{i}.q`, `l{i}.k`, `l{i}.v` | layer `i`'s projections |
//! | `l{i}.ctx` | attention output (before the output projection) |
//! | `l{i}.attn_out` | output projection |
//! | `l{i}.res1`, `l{i}.ln1` | residual sum, LayerNorm |
//! | `l{i}.ff1`, `l{i}.gelu`, `l{i}.ff2` | FFN up-projection, GELU, down-projection |
//! | `l{i}.res2`, `l{i}.ln2` | residual sum, LayerNorm (the layer's output) |
//! | `pool` | the pooled row |
//! | `mlp.{i}` | MLP layer `i` after its activation |
//! | `features` | the head's input (after L2 normalisation when configured) |

use std::path::Path;

use crate::checkpoint::{Architecture, Checkpoint, Config, MlpActivation, Overrides, Pooling};
use crate::math::{self, dot, gelu, log_softmax};
use crate::text::TextTokenizer;
use crate::Result;

/// Sees every named intermediate tensor of a forward pass (row-major values).
///
/// A probe may change the values (e.g. to simulate quantising one tensor); the forward
/// pass continues with what it leaves.
pub trait Probe {
    /// Called once per tensor per forward pass.
    fn record(&mut self, name: &str, values: &mut [f32]);
}

/// A probe that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    fn record(&mut self, _: &str, _: &mut [f32]) {}
}

/// A probe that keeps a copy of every tensor of the last pass.
#[derive(Debug, Clone, Default)]
pub struct Capture(pub std::collections::BTreeMap<String, Vec<f32>>);

impl Probe for Capture {
    fn record(&mut self, name: &str, values: &mut [f32]) {
        self.0.insert(name.to_string(), values.to_vec());
    }
}

/// Everything the reference computes for one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Token ids (checkpoint numbering).
    pub ids: Vec<u32>,
    /// The head's input.
    pub features: Vec<f32>,
    /// Head logits.
    pub logits: Vec<f32>,
    /// Log-probabilities.
    pub log_probs: Vec<f32>,
}

impl Output {
    /// The predicted class.
    pub fn label(&self) -> usize {
        math::argmax(&self.logits)
    }
}

/// A float model with its tokenizer.
#[derive(Debug)]
pub struct Reference {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
}

impl Reference {
    /// Loads `dir` (`config.json`, `model.safetensors`, `tokenizer.json`).
    pub fn load(dir: &Path, o: &Overrides) -> Result<Self> {
        let checkpoint = Checkpoint::load(dir, o)?;
        let tokenizer = TextTokenizer::load(&dir.join("tokenizer.json"))?;
        let n = tokenizer.settings.vocab.len();
        if n > checkpoint.config.vocab_size {
            return Err(crate::Error::Shape {
                name: "embeddings.word_embeddings.weight".into(),
                expected: vec![n, checkpoint.config.hidden_size],
                found: vec![checkpoint.config.vocab_size, checkpoint.config.hidden_size],
            });
        }
        Ok(Self {
            checkpoint,
            tokenizer,
        })
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.checkpoint.config
    }

    /// Token ids of `text` as the model consumes them.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let c = self.config();
        self.tokenizer.encode(text, c.add_special_tokens, c.max_len)
    }

    /// Tokenizes and runs `text`.
    pub fn run(&self, text: &str, probe: &mut dyn Probe) -> Output {
        let ids = self.encode(text);
        let features = self.forward(&ids, probe);
        let logits = self.head(&features);
        let log_probs = log_softmax(&logits);
        Output {
            ids,
            features,
            logits,
            log_probs,
        }
    }

    /// Head logits of a feature row.
    pub fn head(&self, features: &[f32]) -> Vec<f32> {
        self.checkpoint.weights.head.apply(features)
    }

    /// Runs the encoder, pooling and MLP on `ids`; returns the head's input.
    pub fn forward(&self, ids: &[u32], probe: &mut dyn Probe) -> Vec<f32> {
        let c = self.config();
        let w = &self.checkpoint.weights;
        let d = c.hidden_size;
        let n = ids.len().min(c.max_len);
        let mut x = vec![0.0f32; n * d];
        for (row, &id) in x.chunks_exact_mut(d).zip(ids) {
            if let Some(e) = w.word.get(id as usize * d..(id as usize + 1) * d) {
                row.copy_from_slice(e);
            }
        }
        probe.record("emb.token", &mut x);
        if let Some(pos) = &w.positions {
            for (i, row) in x.chunks_exact_mut(d).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v += pos[i * d + j] + w.token_type0.as_ref().map_or(0.0, |t| t[j]);
                }
            }
            probe.record("emb.sum", &mut x);
        }
        if let Some(ln) = &w.emb_ln {
            ln.apply_rows(&mut x);
            probe.record("emb.ln", &mut x);
        }
        if let Architecture::Bert(dims) = c.architecture {
            for (li, l) in w.layers.iter().enumerate() {
                let name = |s: &str| format!("l{li}.{s}");
                let mut q = l.q.apply_rows(&x);
                probe.record(&name("q"), &mut q);
                let mut k = l.k.apply_rows(&x);
                probe.record(&name("k"), &mut k);
                let mut v = l.v.apply_rows(&x);
                probe.record(&name("v"), &mut v);
                let mut ctx = attention(&q, &k, &v, dims.heads, d);
                probe.record(&name("ctx"), &mut ctx);
                let mut a = l.o.apply_rows(&ctx);
                probe.record(&name("attn_out"), &mut a);
                let mut r: Vec<f32> = x.iter().zip(&a).map(|(p, q)| p + q).collect();
                probe.record(&name("res1"), &mut r);
                l.ln1.apply_rows(&mut r);
                probe.record(&name("ln1"), &mut r);
                let mut h = l.ff1.apply_rows(&r);
                probe.record(&name("ff1"), &mut h);
                let mut g: Vec<f32> = h.iter().map(|&v| gelu(f64::from(v)) as f32).collect();
                probe.record(&name("gelu"), &mut g);
                let mut f = l.ff2.apply_rows(&g);
                probe.record(&name("ff2"), &mut f);
                let mut r2: Vec<f32> = r.iter().zip(&f).map(|(p, q)| p + q).collect();
                probe.record(&name("res2"), &mut r2);
                l.ln2.apply_rows(&mut r2);
                probe.record(&name("ln2"), &mut r2);
                x = r2;
            }
        }
        let mut feat = pool(&x, d, c.pooling);
        probe.record("pool", &mut feat);
        for (i, (m, spec)) in w.mlp.iter().zip(&c.mlp).enumerate() {
            feat = m.apply(&feat);
            if spec.activation == MlpActivation::Relu {
                feat.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            probe.record(&format!("mlp.{i}"), &mut feat);
        }
        if c.normalize_features {
            math::l2_normalize(&mut feat);
        }
        probe.record("features", &mut feat);
        feat
    }
}

/// Multi-head scaled dot-product self-attention over all rows (no mask).
pub fn attention(q: &[f32], k: &[f32], v: &[f32], heads: usize, d: usize) -> Vec<f32> {
    let n = q.len() / d.max(1);
    let dh = d / heads.max(1);
    let scale = 1.0 / (dh as f64).sqrt();
    let mut out = vec![0.0f32; n * d];
    let mut p = vec![0.0f32; n];
    for h in 0..heads {
        let c0 = h * dh;
        for i in 0..n {
            let qi = &q[i * d + c0..i * d + c0 + dh];
            for (j, s) in p.iter_mut().enumerate() {
                *s = (dot(qi, &k[j * d + c0..j * d + c0 + dh]) * scale) as f32;
            }
            math::softmax(&mut p);
            for c in 0..dh {
                let acc: f64 = p
                    .iter()
                    .enumerate()
                    .map(|(j, &pj)| f64::from(pj) * f64::from(v[j * d + c0 + c]))
                    .sum();
                out[i * d + c0 + c] = acc as f32;
            }
        }
    }
    out
}

/// Reduces `d`-wide rows to one row (zeros when there are no rows).
pub fn pool(x: &[f32], d: usize, kind: Pooling) -> Vec<f32> {
    let rows = x.len() / d.max(1);
    if rows == 0 {
        return vec![0.0; d];
    }
    match kind {
        Pooling::First => x[..d].to_vec(),
        Pooling::Max => (0..d)
            .map(|c| {
                x.iter()
                    .skip(c)
                    .step_by(d)
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect(),
        Pooling::Mean => (0..d)
            .map(|c| {
                let s: f64 = x.iter().skip(c).step_by(d).map(|&v| f64::from(v)).sum();
                (s / rows as f64) as f32
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_with_equal_keys_averages_values() {
        // Two tokens, one head of width 2; identical keys → uniform weights.
        let q = [1.0, 0.0, 0.0, 1.0];
        let k = [1.0, 1.0, 1.0, 1.0];
        let v = [1.0, 2.0, 3.0, 4.0];
        let o = attention(&q, &k, &v, 1, 2);
        assert_eq!(o, vec![2.0, 3.0, 2.0, 3.0]);
    }

    #[test]
    fn attention_prefers_matching_key() {
        let k = [10.0, 0.0, -10.0, 0.0];
        let v = [1.0, 0.0, 0.0, 1.0];
        let q2 = [10.0, 0.0, 10.0, 0.0];
        let o = attention(&q2, &k, &v, 1, 2);
        assert!(o[0] > 0.999 && o[1] < 0.001, "{o:?}");
    }

    #[test]
    fn pooling_kinds() {
        let x = [1.0, -2.0, 3.0, 4.0];
        assert_eq!(pool(&x, 2, Pooling::Mean), vec![2.0, 1.0]);
        assert_eq!(pool(&x, 2, Pooling::First), vec![1.0, -2.0]);
        assert_eq!(pool(&x, 2, Pooling::Max), vec![3.0, 4.0]);
        assert_eq!(pool(&[], 2, Pooling::Max), vec![0.0, 0.0]);
    }
}
