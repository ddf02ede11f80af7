//! [`Runner`]: inference over a caller-owned scratch buffer.

use crate::error::Error;
use crate::format::{Op, TensorRec};
use crate::model::{Layout, Model};
use crate::ops::{self, QParams};

/// The result of [`Runner::classify`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prediction<'r> {
    /// Index of the most likely class.
    pub label: usize,
    /// Its name (empty if the model has no name for it).
    pub name: &'r str,
    /// Log-probabilities of every class (`Σ exp = 1`).
    pub log_probs: &'r [f32],
}

impl Prediction<'_> {
    /// Probability of the predicted class.
    pub fn confidence(&self) -> f32 {
        crate::quant::exp_f32(
            self.log_probs
                .get(self.label)
                .copied()
                .unwrap_or(f32::NEG_INFINITY),
        )
    }
}

/// Runs a [`Model`] in a scratch buffer the caller owns.
///
/// Create it once per model and buffer; each call reuses the buffer. After [`Runner::new`]
/// succeeds, no method can fail or panic.
#[derive(Debug)]
pub struct Runner<'m, 'a, 's> {
    model: &'m Model<'a>,
    scratch: &'s mut [u32],
    len: usize,
}

fn tensor(model: &Model<'_>, id: u16) -> TensorRec {
    // Every id reaching here was validated at load; the fallback is never used.
    model.tensor(id).unwrap_or(TensorRec {
        offset: 0,
        cols: 0,
        per_token: false,
        zero_point: 0,
        scale: 1.0,
    })
}

/// Applies the head to the features in `scratch` and writes the log-probabilities.
fn predict<'r, 'a: 'r>(model: &Model<'a>, scratch: &'r mut [u32]) -> Prediction<'r> {
    let h = model.head;
    let l = model.layout;
    let (front, back) = scratch.split_at_mut(l.logits.0.min(scratch.len()));
    let feats: &[f32] = bytemuck::cast_slice(front.get(l.features.0..l.features.1).unwrap_or(&[]));
    let logits: &mut [f32] = bytemuck::cast_slice_mut(back.get_mut(..h.classes).unwrap_or(&mut []));
    ops::head_logits(h.weights, h.bias, feats, logits);
    ops::log_softmax(logits);
    let label = ops::argmax(logits);
    Prediction {
        label,
        name: model.labels().get(label).unwrap_or(""),
        log_probs: logits,
    }
}

fn region(s: &mut [u32], r: (usize, usize)) -> &mut [u32] {
    s.get_mut(r.0..r.1).unwrap_or(&mut [])
}

impl<'m, 'a, 's> Runner<'m, 'a, 's> {
    /// Binds `model` to `scratch`, which must hold at least [`Model::scratch_words`] words.
    pub fn new(model: &'m Model<'a>, scratch: &'s mut [u32]) -> Result<Self, Error> {
        let need = model.scratch_words();
        if scratch.len() < need {
            return Err(Error::ScratchTooSmall {
                need: need as u32,
                got: scratch.len().min(u32::MAX as usize) as u32,
            });
        }
        Ok(Self {
            model,
            scratch,
            len: 0,
        })
    }

    /// The model this runner executes.
    pub fn model(&self) -> &'m Model<'a> {
        self.model
    }

    fn layout(&self) -> Layout {
        self.model.layout
    }

    /// Tokenizes `text` into the scratch buffer; returns the token count.
    pub fn tokenize(&mut self, text: &str) -> usize {
        let max_len = self.model.max_len();
        let ids = region(self.scratch, self.layout().ids);
        let ids: &mut [u16] = bytemuck::cast_slice_mut(ids);
        let n = self
            .model
            .tokenizer()
            .tokenize(text, ids.get_mut(..max_len).unwrap_or(&mut []));
        self.len = n;
        n
    }

    /// Token ids of the last prompt.
    pub fn tokens(&self) -> &[u16] {
        let ids = self
            .scratch
            .get(self.layout().ids.0..self.layout().ids.1)
            .unwrap_or(&[]);
        let ids: &[u16] = bytemuck::cast_slice(ids);
        ids.get(..self.len).unwrap_or(&[])
    }

    /// Runs the encoder on `text` and returns the head's input features: the pooled vector,
    /// dequantised (and L2-normalised when the model says so).
    pub fn features(&mut self, text: &str) -> &[f32] {
        self.tokenize(text);
        self.encode();
        let l = self.layout();
        let f: &[f32] =
            bytemuck::cast_slice(self.scratch.get(l.features.0..l.features.1).unwrap_or(&[]));
        f
    }

    /// Classifies `text` with the pre-trained head.
    pub fn classify(&mut self, text: &str) -> Prediction<'_> {
        self.tokenize(text);
        self.encode();
        predict(self.model, self.scratch)
    }

    /// Benchmarks only (feature `bench`): [`Runner::classify`], calling `observe(i, false)`
    /// before and `observe(i, true)` after op `i` of [`Model::ops`] (to time each op).
    #[cfg(feature = "bench")]
    pub fn classify_observed(
        &mut self,
        text: &str,
        mut observe: impl FnMut(usize, bool),
    ) -> Prediction<'_> {
        self.tokenize(text);
        self.encode_observed(&mut observe);
        predict(self.model, self.scratch)
    }

    /// Classifies `text`, giving the prediction the scratch buffer's lifetime (used by
    /// [`Model::classify`]).
    pub(crate) fn into_prediction(mut self, text: &str) -> Prediction<'s>
    where
        'a: 's,
    {
        self.tokenize(text);
        self.encode();
        predict(self.model, self.scratch)
    }

    /// Runs every op but the head, then writes the features.
    fn encode(&mut self) {
        self.encode_observed(&mut |_, _| {});
    }

    /// [`Runner::encode`], calling `observe(i, false)` / `observe(i, true)` around op `i`.
    #[inline(always)]
    fn encode_observed(&mut self, observe: &mut impl FnMut(usize, bool)) {
        let l = self.layout();
        let (front, rest) = self.scratch.split_at_mut(l.arena.0);
        let (arena, rest) = rest.split_at_mut(l.arena.1 - l.arena.0);
        let ids: &[u16] = bytemuck::cast_slice(front.get(l.ids.0..l.ids.1).unwrap_or(&[]));
        let ids = ids.get(..self.len).unwrap_or(&[]);
        let arena: &mut [i8] = bytemuck::cast_slice_mut(arena);
        let (work, rest) = rest.split_at_mut(l.work.1 - l.work.0);
        let work: &mut [f32] = bytemuck::cast_slice_mut(work);
        let features: &mut [f32] = bytemuck::cast_slice_mut(
            rest.get_mut(..l.features.1 - l.features.0)
                .unwrap_or(&mut []),
        );
        let (model, len) = (self.model, self.len);
        let rec = |id: u16| tensor(model, id);
        let span = |id: u16| {
            let t = rec(id);
            let rows = if t.per_token { len } else { 1 };
            let s = t.offset as usize;
            (s, s + rows * usize::from(t.cols))
        };
        for (index, op) in model.ops().enumerate() {
            observe(index, false);
            let out_id = match op {
                Op::Embedding { out, .. }
                | Op::FullyConnected { out, .. }
                | Op::Add { out, .. }
                | Op::LayerNorm { out, .. }
                | Op::Lut { out, .. }
                | Op::Attention { out, .. }
                | Op::Pool { out, .. }
                | Op::FcAddNorm { out, .. } => out,
                Op::Head {
                    input, normalize, ..
                } => {
                    let (s, e) = span(input);
                    let x = arena.get(s..e).unwrap_or(&[]);
                    ops::dequantize(x, rec(input).into(), normalize, features);
                    observe(index, true);
                    continue;
                }
            };
            let (os, oe) = span(out_id);
            let o = rec(out_id);
            let (left, mid) = arena.split_at_mut(os.min(arena.len()));
            let (out, right) = mid.split_at_mut((oe - os).min(mid.len()));
            // Inputs never overlap the output (checked at load): they lie left or right of it.
            let view = |id: u16| -> &[i8] {
                let (s, e) = span(id);
                if e <= os {
                    left.get(s..e).unwrap_or(&[])
                } else {
                    right
                        .get(s.saturating_sub(oe)..e.saturating_sub(oe))
                        .unwrap_or(&[])
                }
            };
            let q = |id: u16| QParams::from(rec(id));
            let cols = usize::from(o.cols);
            match op {
                Op::Embedding {
                    table,
                    row_requant,
                    positions,
                    ..
                } => ops::embedding(
                    ids,
                    table,
                    row_requant.map(|r| (r.multipliers, r.shifts)),
                    positions.as_ref().map(|p| (p.table, &p.add)),
                    cols,
                    o.zero_point,
                    out,
                ),
                Op::FullyConnected {
                    input,
                    weights,
                    bias,
                    multipliers,
                    shifts,
                    activation,
                    ..
                } => ops::fully_connected(
                    view(input),
                    usize::from(rec(input).cols),
                    weights,
                    bias,
                    multipliers,
                    shifts,
                    activation,
                    o.zero_point,
                    out,
                    cols,
                ),
                Op::Add { a, b, params, .. } => ops::add(
                    view(a),
                    q(a).zero_point,
                    view(b),
                    q(b).zero_point,
                    &params,
                    out,
                    o.zero_point,
                ),
                Op::LayerNorm {
                    input,
                    gamma,
                    beta,
                    eps,
                    ..
                } => ops::layer_norm(view(input), q(input), gamma, beta, eps, o.into(), out, cols),
                Op::Lut { input, table, .. } => ops::lut(view(input), table, out),
                Op::Attention {
                    q: qi,
                    k,
                    v,
                    heads,
                    score_scale,
                    ..
                } => ops::attention(
                    (view(qi), q(qi).zero_point),
                    (view(k), q(k).zero_point),
                    (view(v), q(v)),
                    usize::from(heads),
                    score_scale,
                    o.into(),
                    out,
                    cols,
                    len,
                    work,
                ),
                Op::Pool {
                    input,
                    kind,
                    rescale,
                    ..
                } => ops::pool(
                    view(input),
                    q(input).zero_point,
                    kind,
                    rescale,
                    o.zero_point,
                    out,
                ),
                Op::FcAddNorm {
                    input,
                    residual,
                    weights,
                    bias,
                    scales,
                    gamma,
                    beta,
                    eps,
                    ..
                } => ops::fc_add_norm(
                    view(input),
                    usize::from(rec(input).cols),
                    &ops::FcAddNormParams {
                        weights,
                        bias,
                        scales,
                        gamma,
                        beta,
                        eps,
                    },
                    (view(residual), q(residual)),
                    o.into(),
                    out,
                    cols,
                    work,
                ),
                Op::Head { .. } => {}
            }
            observe(index, true);
        }
    }
}
