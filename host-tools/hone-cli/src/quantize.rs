//! Post-training quantisation: turns a float [`Reference`] and calibrated activation
//! [`Ranges`] into the int8 graph of a `.hone` blob.
//!
//! * Weights: symmetric per output channel (`builder::quantize_rows`); the input zero point
//!   is folded into the i32 bias (`builder::fc_params`).
//! * Activations: asymmetric per tensor from the calibrated range of the matching reference
//!   probe (min/max or percentile).
//! * Embeddings: each table row has its own scale and a per-row requantisation to the token
//!   scale (calibrated on the tokens seen); position embeddings with token type 0 folded in
//!   are one symmetric int8 table added with TFLite `ADD` arithmetic.
//! * GELU (erf) is a 256-entry lookup table computed from the reference's float GELU.
//! * LayerNorm, softmax and the head stay in f32 on the device.

use anyhow::{bail, Context, Result};
use hone::builder::{
    add_params, asymmetric, f32_bytes, fc_params, i8_bytes, lut_table, multiplier, quantize_rows,
    ModelBuilder,
};
use hone::format::{Activation, AddParams, Multiplier, Op, PoolKind, Positions, RowRequant};
use hone_reference::calib::Ranges;
use hone_reference::checkpoint::MlpActivation;
use hone_reference::math::{gelu, LayerNorm, Linear};
use hone_reference::{Architecture, Pooling, Reference};

use crate::vocab::VocabPlan;

type Q = (f32, i8);

/// An op whose parameters are owned (the builder borrows them at the end).
enum OwnedOp {
    Embedding {
        out: u16,
        table: Vec<u8>,
        token_scale: f32,
        mults: Vec<u8>,
        shifts: Vec<u8>,
        positions: Option<(Vec<u8>, f32, AddParams)>,
    },
    Fc {
        input: u16,
        out: u16,
        w: Vec<u8>,
        b: Vec<u8>,
        m: Vec<u8>,
        s: Vec<u8>,
        act: Activation,
    },
    Add {
        a: u16,
        b: u16,
        out: u16,
        params: AddParams,
    },
    LayerNorm {
        input: u16,
        out: u16,
        gamma: Vec<u8>,
        beta: Vec<u8>,
        eps: f32,
    },
    Lut {
        input: u16,
        out: u16,
        table: Vec<u8>,
    },
    Attention {
        q: u16,
        k: u16,
        v: u16,
        out: u16,
        heads: u8,
        score_scale: f32,
    },
    Pool {
        input: u16,
        out: u16,
        kind: PoolKind,
        rescale: Multiplier,
    },
    Head {
        input: u16,
        w: Vec<u8>,
        b: Vec<u8>,
        normalize: bool,
    },
}

impl OwnedOp {
    fn as_op(&self) -> Op<'_> {
        match self {
            OwnedOp::Embedding {
                out,
                table,
                token_scale,
                mults,
                shifts,
                positions,
            } => Op::Embedding {
                out: *out,
                table,
                token_scale: *token_scale,
                row_requant: Some(RowRequant {
                    multipliers: mults,
                    shifts,
                }),
                positions: positions.as_ref().map(|(t, scale, add)| Positions {
                    table: t,
                    scale: *scale,
                    add: *add,
                }),
            },
            OwnedOp::Fc {
                input,
                out,
                w,
                b,
                m,
                s,
                act,
            } => Op::FullyConnected {
                input: *input,
                out: *out,
                weights: w,
                bias: b,
                multipliers: m,
                shifts: s,
                activation: *act,
            },
            OwnedOp::Add { a, b, out, params } => Op::Add {
                a: *a,
                b: *b,
                out: *out,
                params: *params,
            },
            OwnedOp::LayerNorm {
                input,
                out,
                gamma,
                beta,
                eps,
            } => Op::LayerNorm {
                input: *input,
                out: *out,
                gamma,
                beta,
                eps: *eps,
            },
            OwnedOp::Lut { input, out, table } => Op::Lut {
                input: *input,
                out: *out,
                table,
            },
            OwnedOp::Attention {
                q,
                k,
                v,
                out,
                heads,
                score_scale,
            } => Op::Attention {
                q: *q,
                k: *k,
                v: *v,
                out: *out,
                heads: *heads,
                score_scale: *score_scale,
            },
            OwnedOp::Pool {
                input,
                out,
                kind,
                rescale,
            } => Op::Pool {
                input: *input,
                out: *out,
                kind: *kind,
                rescale: *rescale,
            },
            OwnedOp::Head {
                input,
                w,
                b,
                normalize,
            } => Op::Head {
                input: *input,
                weights: w,
                bias: b,
                normalize: *normalize,
            },
        }
    }
}

/// The graph under construction: tensor declarations `(per_token, cols, scale, zp)`, ops.
struct Graph<'r> {
    tensors: Vec<(bool, u16, Q)>,
    ops: Vec<OwnedOp>,
    ranges: &'r Ranges,
    percentile: f64,
}

impl Graph<'_> {
    fn tensor(&mut self, per_token: bool, cols: usize, q: Q) -> Result<u16> {
        let cols = u16::try_from(cols).context("tensor wider than 65535 columns")?;
        self.tensors.push((per_token, cols, q));
        Ok((self.tensors.len() - 1) as u16)
    }

    fn q(&self, id: u16) -> Q {
        self.tensors[usize::from(id)].2
    }

    /// Asymmetric quantisation of the calibrated range of probe `name`.
    fn calibrated(&self, name: &str) -> Result<Q> {
        let (lo, hi) = self
            .ranges
            .range(name, self.percentile)
            .with_context(|| format!("calibration saw no values of `{name}`"))?;
        Ok(asymmetric(lo, hi.max(lo + 1e-6)))
    }

    /// A fully-connected op from `input` to a new tensor calibrated on `probe`.
    fn fc(&mut self, input: u16, l: &Linear, probe: &str, act: Activation) -> Result<u16> {
        let (s_in, zp_in) = self.q(input);
        let per_token = self.tensors[usize::from(input)].0;
        let qo = self.calibrated(probe)?;
        let out = self.tensor(per_token, l.out, qo)?;
        let (wq, ws) = quantize_rows(&l.w, l.inp);
        let (b, m, s) = fc_params(&wq, &ws, &l.b, s_in, zp_in, qo.0)
            .with_context(|| format!("quantising the layer producing `{probe}`"))?;
        self.ops.push(OwnedOp::Fc {
            input,
            out,
            w: i8_bytes(&wq),
            b,
            m,
            s,
            act,
        });
        Ok(out)
    }

    fn layer_norm(&mut self, input: u16, ln: &LayerNorm, probe: &str) -> Result<u16> {
        let qo = self.calibrated(probe)?;
        let out = self.tensor(true, ln.gamma.len(), qo)?;
        self.ops.push(OwnedOp::LayerNorm {
            input,
            out,
            gamma: f32_bytes(&ln.gamma),
            beta: f32_bytes(&ln.beta),
            eps: ln.eps,
        });
        Ok(out)
    }

    fn add(&mut self, a: u16, b: u16, probe: &str, cols: usize) -> Result<u16> {
        let qo = self.calibrated(probe)?;
        let out = self.tensor(true, cols, qo)?;
        let params = add_params(self.q(a).0, self.q(b).0, qo.0)
            .with_context(|| format!("residual add `{probe}`"))?;
        self.ops.push(OwnedOp::Add { a, b, out, params });
        Ok(out)
    }
}

/// Symmetric scale for `max |x|` (1.0 for an all-zero tensor).
fn symmetric_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / 127.0
    } else {
        1.0
    }
}

fn embedding(g: &mut Graph<'_>, r: &Reference, vocab: &VocabPlan) -> Result<u16> {
    let c = r.config();
    let w = &r.checkpoint.weights;
    let d = c.hidden_size;
    let mut rows = Vec::with_capacity(vocab.perm.len() * d);
    for &old in &vocab.perm {
        rows.extend_from_slice(&w.word[old * d..(old + 1) * d]);
    }
    let (table, row_scales) = quantize_rows(&rows, d);
    let (lo, hi) = g
        .ranges
        .range("emb.token", g.percentile)
        .context("calibration saw no tokens")?;
    let token_scale = symmetric_scale(lo.abs().max(hi.abs()));
    let mut mults = Vec::with_capacity(4 * row_scales.len());
    let mut shifts = Vec::with_capacity(row_scales.len());
    for &s in &row_scales {
        let m = multiplier(f64::from(s) / f64::from(token_scale), "embedding row scale")?;
        mults.extend_from_slice(&m.multiplier.to_le_bytes());
        shifts.push(m.shift as u8);
    }
    let (positions, out_q) = match &w.positions {
        Some(pos) => {
            let folded: Vec<f32> = pos
                .chunks_exact(d)
                .take(c.max_len)
                .flat_map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(j, &p)| p + w.token_type0.as_ref().map_or(0.0, |t| t[j]))
                })
                .collect();
            let pmax = folded.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let pos_scale = symmetric_scale(pmax);
            let codes: Vec<i8> = folded
                .iter()
                .map(|&v| (v / pos_scale).round().clamp(-127.0, 127.0) as i8)
                .collect();
            let out_q = g.calibrated("emb.sum")?;
            let add = add_params(token_scale, pos_scale, out_q.0).context("position add")?;
            (Some((i8_bytes(&codes), pos_scale, add)), out_q)
        }
        None => (None, (token_scale, 0)),
    };
    let out = g.tensor(true, d, out_q)?;
    g.ops.push(OwnedOp::Embedding {
        out,
        table: i8_bytes(&table),
        token_scale,
        mults,
        shifts,
        positions,
    });
    Ok(out)
}

/// Quantises `r` into a blob named `name`, with vocabulary `vocab` and activation ranges
/// `ranges` clipped to `percentile`.
pub fn build(
    r: &Reference,
    ranges: &Ranges,
    percentile: f64,
    vocab: VocabPlan,
    name: &str,
) -> Result<Vec<u8>> {
    let c = r.config();
    let w = &r.checkpoint.weights;
    let d = c.hidden_size;
    if c.max_len > usize::from(hone::MAX_LEN) {
        bail!(
            "max_len {} exceeds the format's {}",
            c.max_len,
            hone::MAX_LEN
        );
    }
    let mut g = Graph {
        tensors: Vec::new(),
        ops: Vec::new(),
        ranges,
        percentile,
    };
    let mut x = embedding(&mut g, r, &vocab)?;
    if let Some(ln) = &w.emb_ln {
        x = g.layer_norm(x, ln, "emb.ln")?;
    }
    if let Architecture::Bert(dims) = c.architecture {
        let heads = u8::try_from(dims.heads).context("more than 255 attention heads")?;
        let dh = (d / dims.heads) as f32;
        for (i, l) in w.layers.iter().enumerate() {
            let p = |s: &str| format!("l{i}.{s}");
            let q = g.fc(x, &l.q, &p("q"), Activation::None)?;
            let k = g.fc(x, &l.k, &p("k"), Activation::None)?;
            let v = g.fc(x, &l.v, &p("v"), Activation::None)?;
            let ctx = g.calibrated(&p("ctx"))?;
            let a = g.tensor(true, d, ctx)?;
            g.ops.push(OwnedOp::Attention {
                q,
                k,
                v,
                out: a,
                heads,
                score_scale: g.q(q).0 * g.q(k).0 / dh.sqrt(),
            });
            let o = g.fc(a, &l.o, &p("attn_out"), Activation::None)?;
            let r1 = g.add(x, o, &p("res1"), d)?;
            let x1 = g.layer_norm(r1, &l.ln1, &p("ln1"))?;
            let h = g.fc(x1, &l.ff1, &p("ff1"), Activation::None)?;
            let (sh, zh) = g.q(h);
            let qg = g.calibrated(&p("gelu"))?;
            let gt = g.tensor(true, l.ff1.out, qg)?;
            g.ops.push(OwnedOp::Lut {
                input: h,
                out: gt,
                table: lut_table(gelu, sh, zh, qg.0, qg.1),
            });
            let f = g.fc(gt, &l.ff2, &p("ff2"), Activation::None)?;
            let r2 = g.add(x1, f, &p("res2"), d)?;
            x = g.layer_norm(r2, &l.ln2, &p("ln2"))?;
        }
    }
    let (kind, pool_q) = match c.pooling {
        Pooling::Mean => (PoolKind::Mean, g.calibrated("pool")?),
        Pooling::First => (PoolKind::First, g.q(x)),
        Pooling::Max => (PoolKind::Max, g.q(x)),
    };
    let pooled = g.tensor(false, d, pool_q)?;
    let rescale = multiplier(f64::from(g.q(x).0) / f64::from(pool_q.0), "pool rescale")?;
    g.ops.push(OwnedOp::Pool {
        input: x,
        out: pooled,
        kind,
        rescale,
    });
    let mut feat = pooled;
    for (i, (m, spec)) in w.mlp.iter().zip(&c.mlp).enumerate() {
        let act = match spec.activation {
            MlpActivation::Relu => Activation::Relu,
            MlpActivation::None => Activation::None,
        };
        feat = g.fc(feat, m, &format!("mlp.{i}"), act)?;
    }
    g.ops.push(OwnedOp::Head {
        input: feat,
        w: f32_bytes(&w.head.w),
        b: f32_bytes(&w.head.b),
        normalize: c.normalize_features,
    });
    let max_len = u16::try_from(c.max_len).context("max_len")?;
    let mut b = ModelBuilder::new(name, max_len, c.labels.clone(), vocab.spec);
    for &(per_token, cols, (scale, zp)) in &g.tensors {
        b.tensor(per_token, cols, scale, zp);
    }
    for op in &g.ops {
        b.op(op.as_op());
    }
    b.build()
        .map_err(|e| anyhow::anyhow!("building the blob: {e}"))
}
