//! Load-time check of the operation graph: the tensor table, the op order (each tensor
//! written once, before it is read), every op's own check, and the arena plan (no output
//! overlaps a tensor still to be read). Produces the checked steps the runner executes.

use heapless::Vec;

use crate::error::{Error, Invalid};
use crate::format::{ModelDesc, TensorRec, TENSOR_REC_LEN};
use crate::ops::Op;
use crate::ops::{self, Cx, Step};

/// Most activation tensors a model may declare.
pub const MAX_TENSORS: usize = 256;

const MODEL: usize = u16::MAX as usize;

fn err(op: usize, reason: Invalid) -> Error {
    Error::Invalid {
        op: u16::try_from(op).unwrap_or(u16::MAX - 1),
        reason,
    }
}

/// Iterates over the encoded operations of `desc`; ends early if one fails to decode.
pub(crate) fn decode<'a>(desc: &ModelDesc<'a>) -> impl Iterator<Item = Op<'a>> + Clone {
    let mut rest = desc.ops.bytes;
    (0..desc.ops.count).map_while(move |_| {
        let (op, r) = postcard::take_from_bytes::<Op<'a>>(rest).ok()?;
        rest = r;
        Some(op)
    })
}

/// Checks the graph of a blob of format `version` whose tokenizer has `vocab` tokens, pushing
/// the checked steps onto `steps` (empty on entry; filled in place, since a model's table of
/// steps is its largest part). Returns the head (the last step).
pub(crate) fn check<'a, const OPS: usize>(
    desc: &ModelDesc<'a>,
    vocab: usize,
    version: u16,
    steps: &mut Vec<Step<'a>, OPS>,
) -> Result<ops::head::Checked<'a>, Error> {
    let max_len = usize::from(desc.max_len);
    let n_tensors = check_tensors(desc, max_len)?;
    let count = usize::from(desc.ops.count);
    if count < 2 {
        return Err(err(MODEL, Invalid::Structure));
    }
    if count > OPS {
        return Err(Error::OpCapacity {
            ops: desc.ops.count,
            capacity: u16::try_from(OPS).unwrap_or(u16::MAX),
        });
    }
    let cx = Cx {
        desc,
        vocab,
        max_len,
    };
    // Pass 1: decode every op, check order and the op itself; record where each tensor is
    // written and last read.
    let mut written = [u16::MAX; MAX_TENSORS];
    let mut last_read = [0u16; MAX_TENSORS];
    let mut rest = desc.ops.bytes;
    for i in 0..count {
        let (op, r) = postcard::take_from_bytes::<Op<'a>>(rest).map_err(|_| Error::Decode)?;
        rest = r;
        if op.min_version() > version {
            return Err(err(i, Invalid::OpVersion));
        }
        let (first, last) = (i == 0, i + 1 == count);
        if matches!(op, Op::Embedding(_)) != first || matches!(op, Op::Head(_)) != last {
            return Err(err(i, Invalid::Structure));
        }
        let (ins, out) = op.operands();
        for t in ins.into_iter().flatten().map(usize::from) {
            let w = written.get(t).ok_or(err(i, Invalid::TensorIndex))?;
            if t >= n_tensors {
                return Err(err(i, Invalid::TensorIndex));
            }
            if *w == u16::MAX {
                return Err(err(i, Invalid::Order));
            }
            if let Some(r) = last_read.get_mut(t) {
                *r = i as u16;
            }
        }
        if let Some(o) = out.map(usize::from) {
            match written.get_mut(o) {
                Some(w) if o < n_tensors && *w == u16::MAX => *w = i as u16,
                Some(_) if o < n_tensors => return Err(err(i, Invalid::Order)),
                _ => return Err(err(i, Invalid::TensorIndex)),
            }
        }
        let step = op.check(&cx).map_err(|reason| err(i, reason))?;
        steps.push(step).map_err(|_| err(i, Invalid::Limit))?;
    }
    if !rest.is_empty() {
        return Err(err(MODEL, Invalid::Structure));
    }
    // Pass 2: an output must not overlap any tensor that is still live (written earlier and
    // read at or after this op).
    for (i, op) in decode(desc).enumerate() {
        let Some(o) = op.operands().1 else { continue };
        let out = span(desc, o, max_len);
        let records = written.iter().zip(&last_read).take(n_tensors);
        for (t, (&w, &r)) in records.enumerate() {
            let live = w != u16::MAX && usize::from(w) < i && usize::from(r) >= i;
            if t != usize::from(o) && live {
                let other = span(desc, t as u16, max_len);
                if out.0 < other.1 && other.0 < out.1 {
                    return Err(err(i, Invalid::Overlap));
                }
            }
        }
    }
    match steps.last() {
        Some(Step::Head(head)) => Ok(*head),
        _ => Err(err(count - 1, Invalid::Structure)),
    }
}

/// Checks every tensor record (alignment, width, scale, inside the arena); returns the count.
fn check_tensors(desc: &ModelDesc<'_>, max_len: usize) -> Result<usize, Error> {
    if !desc.tensors.len().is_multiple_of(TENSOR_REC_LEN) {
        return Err(err(MODEL, Invalid::TensorRecord));
    }
    let n_tensors = desc.tensors.len() / TENSOR_REC_LEN;
    if n_tensors == 0 || n_tensors > MAX_TENSORS {
        return Err(err(MODEL, Invalid::Limit));
    }
    let arena = desc.arena_bytes as usize;
    for rec in desc.tensors.chunks_exact(TENSOR_REC_LEN) {
        let t = TensorRec::from_bytes(rec).ok_or(err(MODEL, Invalid::TensorRecord))?;
        let rows = if t.per_token { max_len } else { 1 };
        let end = (t.offset as usize).checked_add(rows * usize::from(t.cols));
        let scale_ok = ops::bounds::scale_ok(t.scale);
        if t.offset % 4 != 0 || t.cols == 0 || !scale_ok || end.is_none_or(|e| e > arena) {
            return Err(err(MODEL, Invalid::TensorRecord));
        }
    }
    Ok(n_tensors)
}

/// Byte span `[start, end)` of tensor `id` in the arena at full sequence length.
fn span(desc: &ModelDesc<'_>, id: u16, max_len: usize) -> (usize, usize) {
    let i = usize::from(id) * TENSOR_REC_LEN;
    desc.tensors
        .get(i..)
        .and_then(TensorRec::from_bytes)
        .map_or((0, 0), |t| {
            let rows = if t.per_token { max_len } else { 1 };
            let s = t.offset as usize;
            (s, s + rows * usize::from(t.cols))
        })
}
