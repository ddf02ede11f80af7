//! Post-training quantisation: turns a float [`Reference`] and calibrated activation
//! [`Ranges`] into the int8 graph of a `.hone` blob.
//!
//! * Weights: symmetric per output channel (`hone_build::quantize_rows`); the input zero point
//!   is folded into the i32 bias (`hone_build::fc_params`).
//! * Activations: asymmetric per tensor from the calibrated range of the matching reference
//!   probe (min/max or percentile).
//! * Embeddings: each table row has its own scale and a per-row requantisation to the token
//!   scale (calibrated on the tokens seen); position embeddings with token type 0 folded in
//!   are one symmetric int8 table added with TFLite `ADD` arithmetic.
//! * GELU (erf) is a 256-entry lookup table computed from the reference's float GELU.
//! * LayerNorm, softmax and the head stay in f32 on the device.

use anyhow::{bail, Context, Result};
use hone::format::TensorRec;
use hone::ops::{Activation, Op, PoolKind, Positions, RowRequant};
use hone_build::{
    add_params, asymmetric, f32_bytes, fc_add_norm_params, fc_params, i8_bytes, lut_table,
    multiplier, quantize_rows, ModelBuilder,
};
use hone_reference::calib::Ranges;
use hone_reference::checkpoint::MlpActivation;
use hone_reference::math::{gelu, LayerNorm, Linear};
use hone_reference::{Architecture, Pooling, Reference};

use crate::vocab::VocabPlan;

type Q = (f32, i8);

/// Which residual blocks of a BERT encoder use the fused [`Op::FcAddNorm`] (format v2)
/// instead of `FullyConnected → Add → LayerNorm`, whose int8 sum loses the small channels
/// next to a few outlier channels (see `EXPORT.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fuse {
    /// Both: attention output + residual → LN1 and FFN output + residual → LN2.
    All,
    /// Only the FFN output projection + residual → LN2.
    Ffn,
    /// Only the attention output projection + residual → LN1.
    Attention,
    /// Neither (format v1 ops only).
    None,
}

impl Fuse {
    fn attention(self) -> bool {
        matches!(self, Fuse::All | Fuse::Attention)
    }

    fn ffn(self) -> bool {
        matches!(self, Fuse::All | Fuse::Ffn)
    }
}

/// The graph under construction: the builder encodes each op as it is appended, so the
/// quantised parameters live only as long as the call that appends them.
struct Graph<'r> {
    b: ModelBuilder,
    ranges: &'r Ranges,
    percentile: f64,
}

impl Graph<'_> {
    fn tensor(&mut self, per_token: bool, cols: usize, q: Q) -> Result<u16> {
        let cols = u16::try_from(cols).context("tensor wider than 65535 columns")?;
        Ok(self.b.tensor(per_token, cols, q.0, q.1))
    }

    fn rec(&self, id: u16) -> TensorRec {
        self.b.tensor_rec(id).expect("ids come from Graph::tensor")
    }

    fn q(&self, id: u16) -> Q {
        let t = self.rec(id);
        (t.scale, t.zero_point)
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
        let per_token = self.rec(input).per_token;
        let qo = self.calibrated(probe)?;
        let out = self.tensor(per_token, l.out, qo)?;
        let (wq, ws) = quantize_rows(&l.w, l.inp);
        let (b, m, s) = fc_params(&wq, &ws, &l.b, s_in, zp_in, qo.0)
            .with_context(|| format!("quantising the layer producing `{probe}`"))?;
        self.b.op(Op::FullyConnected(hone::ops::FullyConnected {
            input,
            out,
            weights: &i8_bytes(&wq),
            bias: &b,
            multipliers: &m,
            shifts: &s,
            activation: act,
        }));
        Ok(out)
    }

    fn layer_norm(&mut self, input: u16, ln: &LayerNorm, probe: &str) -> Result<u16> {
        let qo = self.calibrated(probe)?;
        let out = self.tensor(true, ln.gamma.len(), qo)?;
        self.b.op(Op::LayerNorm(hone::ops::LayerNorm {
            input,
            out,
            gamma: &f32_bytes(&ln.gamma),
            beta: &f32_bytes(&ln.beta),
            eps: ln.eps,
        }));
        Ok(out)
    }

    fn add(&mut self, a: u16, b: u16, probe: &str, cols: usize) -> Result<u16> {
        let qo = self.calibrated(probe)?;
        let out = self.tensor(true, cols, qo)?;
        let params = add_params(self.q(a).0, self.q(b).0, qo.0)
            .with_context(|| format!("residual add `{probe}`"))?;
        self.b.op(Op::Add(hone::ops::Add { a, b, out, params }));
        Ok(out)
    }

    /// `LayerNorm(residual + l(input))`, calibrated on probe `ln_probe`: one fused op, or
    /// (unfused) FC → Add → LayerNorm calibrated on `fc_probe`, `sum_probe`, `ln_probe`.
    #[allow(clippy::too_many_arguments)]
    fn residual_block(
        &mut self,
        fused: bool,
        input: u16,
        residual: u16,
        l: &Linear,
        ln: &LayerNorm,
        [fc_probe, sum_probe, ln_probe]: [&str; 3],
    ) -> Result<u16> {
        if !fused {
            let f = self.fc(input, l, fc_probe, Activation::None)?;
            let r = self.add(residual, f, sum_probe, l.out)?;
            return self.layer_norm(r, ln, ln_probe);
        }
        let (s_in, zp_in) = self.q(input);
        let qo = self.calibrated(ln_probe)?;
        let out = self.tensor(true, l.out, qo)?;
        let (wq, ws) = quantize_rows(&l.w, l.inp);
        let (bias, scales) = fc_add_norm_params(&wq, &ws, &l.b, s_in, zp_in);
        self.b.op(Op::FcAddNorm(hone::ops::FcAddNorm {
            input,
            residual,
            out,
            weights: &i8_bytes(&wq),
            bias: &bias,
            scales: &scales,
            gamma: &f32_bytes(&ln.gamma),
            beta: &f32_bytes(&ln.beta),
            eps: ln.eps,
        }));
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

/// `perm[new_id] = checkpoint id` orders the table rows as the blob's sorted vocabulary.
fn embedding(g: &mut Graph<'_>, r: &Reference, perm: &[usize]) -> Result<u16> {
    let c = r.config();
    let w = &r.checkpoint.weights;
    let d = c.hidden_size;
    let mut rows = Vec::with_capacity(perm.len() * d);
    for &old in perm {
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
    let (positions, out_q): (Option<(Vec<u8>, f32, _)>, Q) = match &w.positions {
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
    g.b.op(Op::Embedding(hone::ops::Embedding {
        out,
        table: &i8_bytes(&table),
        token_scale,
        row_requant: Some(RowRequant {
            multipliers: &mults,
            shifts: &shifts,
        }),
        positions: positions.as_ref().map(|(t, scale, add)| Positions {
            table: t,
            scale: *scale,
            add: *add,
        }),
    }));
    Ok(out)
}

/// Quantises `r` into a blob named `name`, with vocabulary `vocab` and activation ranges
/// `ranges` clipped to `percentile`; `fuse` picks the BERT residual blocks that use the
/// fused op.
pub fn build(
    r: &Reference,
    ranges: &Ranges,
    percentile: f64,
    vocab: VocabPlan,
    name: &str,
    fuse: Fuse,
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
    let max_len = u16::try_from(c.max_len).context("max_len")?;
    let mut g = Graph {
        b: ModelBuilder::new(name, max_len, c.labels.clone(), vocab.spec),
        ranges,
        percentile,
    };
    let mut x = embedding(&mut g, r, &vocab.perm)?;
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
            let score_scale = g.q(q).0 * g.q(k).0 / dh.sqrt();
            g.b.op(Op::Attention(hone::ops::Attention {
                q,
                k,
                v,
                out: a,
                heads,
                score_scale,
            }));
            let probes = [p("attn_out"), p("res1"), p("ln1")];
            let probes = [&*probes[0], &*probes[1], &*probes[2]];
            let x1 = g.residual_block(fuse.attention(), a, x, &l.o, &l.ln1, probes)?;
            let h = g.fc(x1, &l.ff1, &p("ff1"), Activation::None)?;
            let (sh, zh) = g.q(h);
            let qg = g.calibrated(&p("gelu"))?;
            let gt = g.tensor(true, l.ff1.out, qg)?;
            g.b.op(Op::Lut(hone::ops::Lut {
                input: h,
                out: gt,
                table: &lut_table(gelu, sh, zh, qg.0, qg.1),
            }));
            let probes = [p("ff2"), p("res2"), p("ln2")];
            let probes = [&*probes[0], &*probes[1], &*probes[2]];
            x = g.residual_block(fuse.ffn(), gt, x1, &l.ff2, &l.ln2, probes)?;
        }
    }
    let (kind, pool_q) = match c.pooling {
        Pooling::Mean => (PoolKind::Mean, g.calibrated("pool")?),
        Pooling::First => (PoolKind::First, g.q(x)),
        Pooling::Max => (PoolKind::Max, g.q(x)),
    };
    let pooled = g.tensor(false, d, pool_q)?;
    let rescale = multiplier(f64::from(g.q(x).0) / f64::from(pool_q.0), "pool rescale")?;
    g.b.op(Op::Pool(hone::ops::Pool {
        input: x,
        out: pooled,
        kind,
        rescale,
    }));
    let mut feat = pooled;
    for (i, (m, spec)) in w.mlp.iter().zip(&c.mlp).enumerate() {
        let act = match spec.activation {
            MlpActivation::Relu => Activation::Relu,
            MlpActivation::None => Activation::None,
        };
        feat = g.fc(feat, m, &format!("mlp.{i}"), act)?;
    }
    g.b.op(Op::Head(hone::ops::Head {
        input: feat,
        weights: &f32_bytes(&w.head.w),
        bias: &f32_bytes(&w.head.b),
        normalize: c.normalize_features,
    }));
    g.b.build()
        .map_err(|e| anyhow::anyhow!("building the blob: {e}"))
}
