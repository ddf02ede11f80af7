//! Load-time check of the operation graph: the tensor table, the op order (each tensor
//! written once, before it is read), every op's own check, and the arena plan (no output
//! overlaps a tensor still to be read). Produces the checked steps the runner executes; shared
//! by text models ([`crate::Model`]) and tensor models ([`crate::TensorModel`]).

use heapless::Vec;

use crate::error::{Error, Invalid};
use crate::format::{ModelDesc, OpsDesc, TensorRec, TENSOR_REC_LEN};
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
    decode_ops(desc.ops)
}

/// The parts of a blob that make up its graph, for either kind of model.
pub(crate) struct Graph<'a> {
    /// Bytes of the activation arena.
    pub arena_bytes: u32,
    /// The tensor records.
    pub tensors: &'a [u8],
    /// The encoded operations.
    pub ops: OpsDesc<'a>,
    /// Rows of a per-token tensor (1 for tensor models).
    pub max_len: usize,
    /// Vocabulary size of the tokenizer (0 for tensor models).
    pub vocab: usize,
}

/// Iterates over the encoded operations; ends early if one fails to decode.
pub(crate) fn decode_ops<'a>(ops: OpsDesc<'a>) -> impl Iterator<Item = Op<'a>> + Clone {
    let mut rest = ops.bytes;
    (0..ops.count).map_while(move |_| {
        let (op, r) = postcard::take_from_bytes::<Op<'a>>(rest).ok()?;
        rest = r;
        Some(op)
    })
}

/// Where an op may stand in its model's list: `(op, first, last) → allowed`.
pub(crate) type Placement = fn(&Op<'_>, bool, bool) -> bool;

/// The text model's rule: `Embedding` first, `Head` last, neither elsewhere.
pub(crate) fn text_placement(op: &Op<'_>, first: bool, last: bool) -> bool {
    matches!(op, Op::Embedding(_)) == first && matches!(op, Op::Head(_)) == last
}

/// The tensor model's rule: no `Embedding` (no tokens) and no `Head` (no float features).
pub(crate) fn tensor_placement(op: &Op<'_>, _first: bool, _last: bool) -> bool {
    !matches!(op, Op::Embedding(_) | Op::Head(_))
}

/// Checks the graph of a blob of format `version`, pushing the checked steps onto `steps`
/// (empty on entry; filled in place, since a model's table of steps is its largest part).
///
/// `inputs` are tensors written before the first op (a tensor model's inputs), `outputs`
/// tensors that must be written by an op and stay live to the end (its outputs); `place`
/// says which ops may stand where. At least `min_ops` operations are required.
pub(crate) fn check<'a, const OPS: usize>(
    g: &Graph<'a>,
    version: u16,
    (inputs, outputs): (&[u16], &[u16]),
    (place, min_ops): (Placement, usize),
    steps: &mut Vec<Step<'a>, OPS>,
) -> Result<(), Error> {
    let n_tensors = check_tensors(g)?;
    let count = usize::from(g.ops.count);
    if count < min_ops {
        return Err(err(MODEL, Invalid::Structure));
    }
    if count > OPS {
        return Err(Error::OpCapacity {
            ops: g.ops.count,
            capacity: u16::try_from(OPS).unwrap_or(u16::MAX),
        });
    }
    let cx = Cx {
        tensors: g.tensors,
        vocab: g.vocab,
        max_len: g.max_len,
    };
    // Pass 1: decode every op, check order and the op itself; record where each tensor is
    // written (`NEVER`, `INPUT` or op index + 1) and last read.
    let mut written = [NEVER; MAX_TENSORS];
    let mut last_read = [0u16; MAX_TENSORS];
    for &t in inputs {
        match written.get_mut(usize::from(t)) {
            Some(w) if usize::from(t) < n_tensors && *w == NEVER => *w = INPUT,
            Some(_) if usize::from(t) < n_tensors => return Err(err(MODEL, Invalid::Order)),
            _ => return Err(err(MODEL, Invalid::TensorIndex)),
        }
    }
    let mut rest = g.ops.bytes;
    for i in 0..count {
        let (op, r) = postcard::take_from_bytes::<Op<'a>>(rest).map_err(|_| Error::Decode)?;
        rest = r;
        if op.min_version() > version {
            return Err(err(i, Invalid::OpVersion));
        }
        if !place(&op, i == 0, i + 1 == count) {
            return Err(err(i, Invalid::Structure));
        }
        let (ins, out) = op.operands();
        for t in ins.into_iter().flatten().map(usize::from) {
            let w = written.get(t).ok_or(err(i, Invalid::TensorIndex))?;
            if t >= n_tensors {
                return Err(err(i, Invalid::TensorIndex));
            }
            if *w == NEVER {
                return Err(err(i, Invalid::Order));
            }
            if let Some(r) = last_read.get_mut(t) {
                *r = i as u16;
            }
        }
        if let Some(o) = out.map(usize::from) {
            match written.get_mut(o) {
                Some(w) if o < n_tensors && *w == NEVER => *w = i as u16 + 1,
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
    for &t in outputs {
        match (
            written.get(usize::from(t)),
            last_read.get_mut(usize::from(t)),
        ) {
            (Some(&w), Some(r)) if w != NEVER && w != INPUT => *r = count as u16,
            (Some(_), Some(_)) => return Err(err(MODEL, Invalid::Order)),
            _ => return Err(err(MODEL, Invalid::TensorIndex)),
        }
    }
    // Pass 2: an output must not overlap any tensor that is still live (written before this
    // op and read at or after it).
    for (i, op) in decode_ops(g.ops).enumerate() {
        let Some(o) = op.operands().1 else { continue };
        let out = span(g, o);
        let records = written.iter().zip(&last_read).take(n_tensors);
        for (t, (&w, &r)) in records.enumerate() {
            let live = w != NEVER && usize::from(w) <= i && usize::from(r) >= i;
            if t != usize::from(o) && live {
                let other = span(g, t as u16);
                if out.0 < other.1 && other.0 < out.1 {
                    return Err(err(i, Invalid::Overlap));
                }
            }
        }
    }
    Ok(())
}

/// `written` marks: never written, a model input (written before the first op).
const NEVER: u16 = u16::MAX;
const INPUT: u16 = 0;

/// Checks every tensor record (alignment, width, scale, inside the arena); returns the count.
fn check_tensors(g: &Graph<'_>) -> Result<usize, Error> {
    let max_len = g.max_len;
    if !g.tensors.len().is_multiple_of(TENSOR_REC_LEN) {
        return Err(err(MODEL, Invalid::TensorRecord));
    }
    let n_tensors = g.tensors.len() / TENSOR_REC_LEN;
    if n_tensors == 0 || n_tensors > MAX_TENSORS {
        return Err(err(MODEL, Invalid::Limit));
    }
    let arena = g.arena_bytes as usize;
    for rec in g.tensors.chunks_exact(TENSOR_REC_LEN) {
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
fn span(g: &Graph<'_>, id: u16) -> (usize, usize) {
    let (i, max_len) = (usize::from(id) * TENSOR_REC_LEN, g.max_len);
    g.tensors
        .get(i..)
        .and_then(TensorRec::from_bytes)
        .map_or((0, 0), |t| {
            let rows = if t.per_token { max_len } else { 1 };
            let s = t.offset as usize;
            (s, s + rows * usize::from(t.cols))
        })
}
