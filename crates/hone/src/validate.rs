//! Load-time validation of the operation graph: everything the forward pass relies on is
//! checked here, once, so that inference needs no error path.

use crate::error::{Error, Invalid};
use crate::format::{AddParams, ModelDesc, Op, PoolKind, TensorRec, TENSOR_REC_LEN};
use crate::model::{mult_ok, ops_of, read_f32, read_i32, HeadView, MAX_CLASSES, MAX_TENSORS};
use crate::quant::multiplier_ok;

/// Longest attention head a model may declare (keeps integer dot products in i32).
pub const MAX_HEAD_DIM: usize = 4096;

/// Largest accumulator scale of an [`Op::FcAddNorm`] (`2^16`; real models use scales far
/// below 1): with i32 accumulators the dequantised values stay below `2^47`, so their
/// squares summed over a row stay far from f32 overflow.
pub const MAX_ACC_SCALE: f32 = 65_536.0;

fn err(op: usize, reason: Invalid) -> Error {
    Error::Invalid {
        op: op as u16,
        reason,
    }
}

fn rec(desc: &ModelDesc<'_>, id: u16) -> Option<TensorRec> {
    let i = usize::from(id) * TENSOR_REC_LEN;
    TensorRec::from_bytes(desc.tensors.get(i..)?)
}

fn add_ok(p: &AddParams) -> bool {
    p.left_shift <= 24 && multiplier_ok(p.a, -31, 0) && multiplier_ok(p.b, -31, 0) && mult_ok(p.out)
}

fn all_finite(bytes: &[u8]) -> bool {
    (0..bytes.len() / 4).all(|i| read_f32(bytes, i).is_finite())
}

fn row_mults_ok(mults: &[u8], shifts: &[u8], n: usize) -> bool {
    mults.len() == 4 * n
        && shifts.len() == n
        && (0..n).all(|r| {
            mult_ok(crate::format::Multiplier {
                multiplier: read_i32(mults, r),
                shift: shifts[r] as i8,
            })
        })
}

/// Checks tensors, operation order, shapes, parameters and the arena plan of a blob of
/// format `version`. Returns the head.
pub(crate) fn check_graph<'a>(
    desc: &ModelDesc<'a>,
    vocab: usize,
    version: u16,
) -> Result<HeadView<'a>, Error> {
    const M: usize = u16::MAX as usize;
    let max_len = usize::from(desc.max_len);
    if !desc.tensors.len().is_multiple_of(TENSOR_REC_LEN) {
        return Err(err(M, Invalid::TensorRecord));
    }
    let n_tensors = desc.tensors.len() / TENSOR_REC_LEN;
    if n_tensors == 0 || n_tensors > MAX_TENSORS {
        return Err(err(M, Invalid::Limit));
    }
    let arena = desc.arena_bytes as usize;
    for id in 0..n_tensors {
        let t = rec(desc, id as u16).ok_or(err(M, Invalid::TensorRecord))?;
        let rows = if t.per_token { max_len } else { 1 };
        let end = (t.offset as usize).checked_add(rows * usize::from(t.cols));
        let scale_ok = t.scale.is_finite() && t.scale > 0.0;
        if t.offset % 4 != 0 || t.cols == 0 || !scale_ok || end.is_none_or(|e| e > arena) {
            return Err(err(M, Invalid::TensorRecord));
        }
    }
    let count = usize::from(desc.ops.count);
    if count < 2 {
        return Err(err(M, Invalid::Structure));
    }
    // Pass 1: decode every op, check order (each tensor written once, before it is read) and
    // record where each tensor is written and last read.
    let mut written = [u16::MAX; MAX_TENSORS];
    let mut last_read = [0u16; MAX_TENSORS];
    let mut rest = desc.ops.bytes;
    for i in 0..count {
        let (op, r) = postcard::take_from_bytes::<Op<'a>>(rest).map_err(|_| Error::Decode)?;
        rest = r;
        if op.min_version() > version {
            return Err(err(i, Invalid::OpVersion));
        }
        let first = i == 0;
        let last = i + 1 == count;
        if matches!(op, Op::Embedding { .. }) != first || matches!(op, Op::Head { .. }) != last {
            return Err(err(i, Invalid::Structure));
        }
        let (ins, out) = op.operands();
        for t in ins.into_iter().flatten() {
            let t = usize::from(t);
            if t >= n_tensors {
                return Err(err(i, Invalid::TensorIndex));
            }
            if written[t] == u16::MAX {
                return Err(err(i, Invalid::Order));
            }
            last_read[t] = i as u16;
        }
        if let Some(o) = out {
            let o = usize::from(o);
            if o >= n_tensors {
                return Err(err(i, Invalid::TensorIndex));
            }
            if written[o] != u16::MAX {
                return Err(err(i, Invalid::Order));
            }
            written[o] = i as u16;
        }
        check_op(desc, &op, i, vocab)?;
    }
    if !rest.is_empty() {
        return Err(err(M, Invalid::Structure));
    }
    // Pass 2: an output must not overlap any tensor that is still live (written earlier and
    // read at or after this op).
    for (i, op) in ops_of(desc).enumerate() {
        let Some(o) = op.operands().1 else { continue };
        let out = span(desc, o, max_len);
        for t in 0..n_tensors {
            let live = written[t] != u16::MAX && usize::from(written[t]) < i;
            if t != usize::from(o) && live && usize::from(last_read[t]) >= i {
                let other = span(desc, t as u16, max_len);
                if out.0 < other.1 && other.0 < out.1 {
                    return Err(err(i, Invalid::Overlap));
                }
            }
        }
    }
    match ops_of(desc).last() {
        Some(Op::Head {
            input,
            weights,
            bias,
            normalize,
        }) => {
            let features = rec(desc, input).map_or(0, |t| usize::from(t.cols));
            Ok(HeadView {
                weights,
                bias,
                normalize,
                features,
                classes: bias.len() / 4,
            })
        }
        _ => Err(err(count - 1, Invalid::Structure)),
    }
}

/// Byte span `[start, end)` of tensor `id` in the arena at full sequence length.
fn span(desc: &ModelDesc<'_>, id: u16, max_len: usize) -> (usize, usize) {
    rec(desc, id).map_or((0, 0), |t| {
        let rows = if t.per_token { max_len } else { 1 };
        let s = t.offset as usize;
        (s, s + rows * usize::from(t.cols))
    })
}

fn check_op(desc: &ModelDesc<'_>, op: &Op<'_>, i: usize, vocab: usize) -> Result<(), Error> {
    let max_len = usize::from(desc.max_len);
    let t = |id: u16| rec(desc, id).ok_or(err(i, Invalid::TensorIndex));
    let same = |a: TensorRec, b: TensorRec| a.per_token == b.per_token && a.cols == b.cols;
    let shape = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(err(i, Invalid::Shape))
        }
    };
    let length = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(err(i, Invalid::Length))
        }
    };
    let quant = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(err(i, Invalid::Quant))
        }
    };
    match *op {
        Op::Embedding {
            out,
            table,
            token_scale,
            row_requant,
            positions,
        } => {
            let o = t(out)?;
            let d = usize::from(o.cols);
            shape(o.per_token)?;
            length(table.len() == vocab * d)?;
            quant(token_scale.is_finite() && token_scale > 0.0)?;
            if let Some(r) = row_requant {
                length(r.multipliers.len() == 4 * vocab && r.shifts.len() == vocab)?;
                quant(row_mults_ok(r.multipliers, r.shifts, vocab))?;
            }
            if let Some(p) = positions {
                length(p.table.len() == max_len * d)?;
                quant(add_ok(&p.add))?;
            }
        }
        Op::FullyConnected {
            input,
            out,
            weights,
            bias,
            multipliers,
            shifts,
            ..
        } => {
            let (x, o) = (t(input)?, t(out)?);
            shape(x.per_token == o.per_token)?;
            let (n_in, n_out) = (usize::from(x.cols), usize::from(o.cols));
            length(weights.len() == n_in * n_out && bias.len() == 4 * n_out)?;
            length(multipliers.len() == 4 * n_out && shifts.len() == n_out)?;
            quant(row_mults_ok(multipliers, shifts, n_out))?;
        }
        Op::Add { a, b, out, params } => {
            let (a, b, o) = (t(a)?, t(b)?, t(out)?);
            shape(same(a, b) && same(a, o))?;
            quant(add_ok(&params))?;
        }
        Op::LayerNorm {
            input,
            out,
            gamma,
            beta,
            eps,
        } => {
            let (x, o) = (t(input)?, t(out)?);
            shape(same(x, o))?;
            let n = 4 * usize::from(x.cols);
            length(gamma.len() == n && beta.len() == n)?;
            quant(eps.is_finite() && eps >= 0.0 && all_finite(gamma) && all_finite(beta))?;
        }
        Op::Lut { input, out, table } => {
            shape(same(t(input)?, t(out)?))?;
            length(table.len() == 256)?;
        }
        Op::Attention {
            q,
            k,
            v,
            out,
            heads,
            score_scale,
        } => {
            let (q, k, v, o) = (t(q)?, t(k)?, t(v)?, t(out)?);
            shape(q.per_token && same(q, k) && same(q, v) && same(q, o))?;
            let h = usize::from(heads);
            let d = usize::from(q.cols);
            shape(h > 0 && d % h == 0 && d / h <= MAX_HEAD_DIM)?;
            quant(score_scale.is_finite() && score_scale > 0.0)?;
        }
        Op::FcAddNorm {
            input,
            residual,
            out,
            weights,
            bias,
            scales,
            gamma,
            beta,
            eps,
        } => {
            let (x, r, o) = (t(input)?, t(residual)?, t(out)?);
            shape(x.per_token == o.per_token && same(r, o))?;
            let (n_in, n_out) = (usize::from(x.cols), usize::from(o.cols));
            length(weights.len() == n_in * n_out && bias.len() == 4 * n_out)?;
            let n = 4 * n_out;
            length(scales.len() == n && gamma.len() == n && beta.len() == n)?;
            let scales_ok = (0..n_out).all(|c| {
                let s = read_f32(scales, c);
                s.is_finite() && (0.0..=MAX_ACC_SCALE).contains(&s)
            });
            quant(scales_ok && eps.is_finite() && eps >= 0.0)?;
            quant(all_finite(gamma) && all_finite(beta))?;
        }
        Op::Pool {
            input,
            out,
            kind,
            rescale,
        } => {
            let (x, o) = (t(input)?, t(out)?);
            shape(x.per_token && !o.per_token && x.cols == o.cols)?;
            if kind == PoolKind::Mean {
                quant(multiplier_ok(rescale, -24, 30))?;
            }
        }
        Op::Head {
            input,
            weights,
            bias,
            ..
        } => {
            let x = t(input)?;
            shape(!x.per_token)?;
            let classes = bias.len() / 4;
            if classes == 0 || classes > MAX_CLASSES || bias.len() % 4 != 0 {
                return Err(err(i, Invalid::Limit));
            }
            length(weights.len() == 4 * classes * usize::from(x.cols))?;
            quant(all_finite(weights) && all_finite(bias))?;
        }
    }
    Ok(())
}
