//! `Attention`: multi-head scaled dot-product self-attention over the token rows, with integer
//! dot products and an f32 softmax. All rows are real tokens (no padding).

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, QParams, Tensor};
use crate::error::Invalid;
use crate::quant::{exp_f32, quantize_f32};

/// Longest attention head a model may declare (keeps integer dot products in i32).
pub const MAX_HEAD_DIM: usize = 4096;

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attention {
    /// Queries `[L × d]`.
    pub q: u16,
    /// Keys `[L × d]`.
    pub k: u16,
    /// Values `[L × d]`.
    pub v: u16,
    /// Output `[L × d]`.
    pub out: u16,
    /// Number of heads (divides `d`).
    pub heads: u8,
    /// `scale_q · scale_k / sqrt(d / heads)`.
    pub score_scale: f32,
}

/// Checked view: four per-token tensors of one shape, `heads` dividing the width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    heads: usize,
    score_scale: f32,
}

impl Operator<'_> for Attention {
    type Checked = Checked;

    fn operands(&self) -> Operands {
        ([Some(self.q), Some(self.k), Some(self.v)], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked, Invalid> {
        let (q, k) = (cx.tensor(self.q)?, cx.tensor(self.k)?);
        let (v, out) = (cx.tensor(self.v)?, cx.tensor(self.out)?);
        let same = q.same_shape(&k) && q.same_shape(&v) && q.same_shape(&out);
        ensure(q.per_token && same, Invalid::Shape)?;
        let heads = usize::from(self.heads);
        let d = q.cols();
        ensure(
            heads > 0 && d % heads == 0 && d / heads <= MAX_HEAD_DIM,
            Invalid::Shape,
        )?;
        let s = self.score_scale;
        ensure(s > 0.0 && super::bounds::param_ok(s), Invalid::Quant)?;
        Ok(Checked {
            q,
            k,
            v,
            out,
            heads,
            score_scale: s,
        })
    }
}

impl Eval for Checked {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        attention(
            (f.ins.get(&self.q), self.q.q().zero_point),
            (f.ins.get(&self.k), self.k.q().zero_point),
            (f.ins.get(&self.v), self.v.q()),
            self.heads,
            self.score_scale,
            self.out.q(),
            f.out,
            self.out.cols(),
            f.len,
            f.work,
        );
    }

    fn work_words(&self, max_len: usize) -> usize {
        max_len
    }
}

/// Multi-head self-attention over `rows` token rows on plain slices (`q`, `k`: codes and
/// zero point; `v`: codes and quantisation). `scores` needs `rows` f32.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    q: (&[i8], i8),
    k: (&[i8], i8),
    v: (&[i8], QParams),
    heads: usize,
    score_scale: f32,
    qo: QParams,
    out: &mut [i8],
    cols: usize,
    rows: usize,
    scores: &mut [f32],
) {
    if heads == 0 || cols == 0 || !cols.is_multiple_of(heads) {
        return;
    }
    let Some(scores) = scores.get_mut(..rows) else {
        return;
    };
    let dh = cols / heads;
    let (qz, kz, vz) = (i32::from(q.1), i32::from(k.1), i32::from(v.1.zero_point));
    let value_scale = v.1.scale / qo.scale;
    for h in 0..heads {
        let c0 = h * dh;
        for i in 0..rows {
            let Some(qi) = q.0.get(i * cols + c0..i * cols + c0 + dh) else {
                return;
            };
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                let kj = k.0.get(j * cols + c0..j * cols + c0 + dh).unwrap_or(&[]);
                let dot: i32 = qi
                    .iter()
                    .zip(kj)
                    .map(|(&a, &b)| (i32::from(a) - qz) * (i32::from(b) - kz))
                    .sum();
                *s = dot as f32 * score_scale;
                max = max.max(*s);
            }
            let mut total = 0.0f32;
            for s in scores.iter_mut() {
                *s = exp_f32(*s - max);
                total += *s;
            }
            let norm = value_scale / total;
            for c in 0..dh {
                let mut acc = 0.0f32;
                for (j, &p) in scores.iter().enumerate() {
                    let vv = v.0.get(j * cols + c0 + c).map_or(0, |&x| i32::from(x) - vz);
                    acc += p * vv as f32;
                }
                if let Some(o) = out.get_mut(i * cols + c0 + c) {
                    *o = quantize_f32(acc * norm, 1.0, qo.zero_point);
                }
            }
        }
    }
}
