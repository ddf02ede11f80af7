//! What operators see: at load, a check context that resolves tensor operands; at inference,
//! the frame of buffers an op reads and writes.

use core::ops::Range;

use crate::error::Invalid;
use crate::format::{TensorRec, TENSOR_REC_LEN};

/// Quantisation of one int8 tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QParams {
    /// `real = scale · (q − zero_point)`.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i8,
}

impl From<TensorRec> for QParams {
    fn from(t: TensorRec) -> Self {
        Self {
            scale: t.scale,
            zero_point: t.zero_point,
        }
    }
}

/// A tensor operand resolved at load: where it lives in the arena and how it is quantised.
/// Its span at the model's `max_len` lies inside the arena (checked by the graph check).
#[derive(Debug, Clone, Copy, PartialEq)]
/// Stored as narrow as its wire record (12 bytes on 32-bit targets): a model keeps one per
/// operand in its table of checked steps.
pub(crate) struct Tensor {
    /// Byte offset in the arena.
    offset: u32,
    /// Quantisation scale.
    scale: f32,
    /// Columns (values per row).
    cols: u16,
    /// Quantisation zero point.
    zero_point: i8,
    /// One row per token, or a single row.
    pub per_token: bool,
}

impl Tensor {
    pub(crate) fn new(t: TensorRec) -> Self {
        Self {
            offset: t.offset,
            scale: t.scale,
            cols: t.cols,
            zero_point: t.zero_point,
            per_token: t.per_token,
        }
    }

    /// Columns (values per row).
    pub fn cols(&self) -> usize {
        usize::from(self.cols)
    }

    /// Quantisation.
    pub fn q(&self) -> QParams {
        QParams {
            scale: self.scale,
            zero_point: self.zero_point,
        }
    }

    /// Rows at sequence length `len`.
    pub fn rows(&self, len: usize) -> usize {
        if self.per_token {
            len
        } else {
            1
        }
    }

    /// Byte range in the arena at sequence length `len`.
    pub fn span(&self, len: usize) -> Range<usize> {
        let start = self.offset as usize;
        start..start + self.rows(len) * self.cols()
    }

    /// Same row layout (per token or not, same columns).
    pub fn same_shape(&self, other: &Tensor) -> bool {
        self.per_token == other.per_token && self.cols == other.cols
    }
}

/// `Ok` when `ok`, else `Err(why)`: the shape of every check.
pub(crate) fn ensure(ok: bool, why: Invalid) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(why)
    }
}

/// What an op's check may consult: the model description and its limits.
pub(crate) struct Cx<'d> {
    /// The model's tensor records.
    pub tensors: &'d [u8],
    /// Vocabulary size of the model's tokenizer.
    pub vocab: usize,
    /// The model's maximum sequence length.
    pub max_len: usize,
}

impl Cx<'_> {
    /// Whether the model is a tensor model (no tokenizer: `vocab` is 0). Ops of the tensor
    /// models only (format 3: `DepthwiseConv2d`, `Softmax`) refuse text models with this.
    pub fn tensor_model(&self) -> bool {
        self.vocab == 0
    }

    /// Tensor `id`, resolved (the graph check has already bounded every record).
    pub fn tensor(&self, id: u16) -> Result<Tensor, Invalid> {
        let i = usize::from(id) * TENSOR_REC_LEN;
        self.tensors
            .get(i..)
            .and_then(TensorRec::from_bytes)
            .map(Tensor::new)
            .ok_or(Invalid::TensorIndex)
    }
}

/// The buffers of one inference, carved from the caller's scratch.
pub(crate) struct Io<'s> {
    /// Token ids of the prompt (`len` of them).
    pub ids: &'s [u16],
    /// Tokens in this inference (`≤ max_len`).
    pub len: usize,
    /// The activation arena.
    pub arena: &'s mut [i8],
    /// f32 working memory ([`super::Eval::work_words`]).
    pub work: &'s mut [f32],
    /// The head's input features.
    pub features: &'s mut [f32],
}

/// An op's view of the arena: its output tensor's bytes and, read-only, everything else.
pub(crate) struct Frame<'x> {
    /// The output tensor's bytes.
    pub out: &'x mut [i8],
    /// f32 working memory.
    pub work: &'x mut [f32],
    /// Token ids.
    pub ids: &'x [u16],
    /// Tokens in this inference.
    pub len: usize,
    /// The input tensors.
    pub ins: Inputs<'x>,
}

/// Read-only view of the arena outside an op's output.
pub(crate) struct Inputs<'x> {
    len: usize,
    left: &'x [i8],
    right: &'x [i8],
    right_at: usize,
}

// Spans were checked at load to lie inside the arena at `max_len` rows, and an output never
// overlaps a tensor still to be read; `len ≤ max_len`. The slicing below relies on that proof.
#[allow(clippy::indexing_slicing)]
impl<'s> Io<'s> {
    /// Splits the arena around `out`.
    pub fn frame(&mut self, out: &Tensor) -> Frame<'_> {
        let span = out.span(self.len);
        let (left, rest) = self.arena.split_at_mut(span.start);
        let (out, right) = rest.split_at_mut(span.len());
        Frame {
            out,
            work: self.work,
            ids: self.ids,
            len: self.len,
            ins: Inputs {
                len: self.len,
                left,
                right,
                right_at: span.end,
            },
        }
    }

    /// Dequantisation of the head's input: the features, written from tensor `t`.
    pub fn features_from(&mut self, t: &Tensor) -> (&[i8], &mut [f32]) {
        (&self.arena[t.span(self.len)], self.features)
    }
}

#[allow(clippy::indexing_slicing)]
impl Inputs<'_> {
    /// An input tensor's bytes (left or right of the output: they never overlap it).
    pub fn get(&self, t: &Tensor) -> &[i8] {
        let span = t.span(self.len);
        if span.end <= self.left.len() {
            &self.left[span]
        } else {
            &self.right[span.start - self.right_at..span.end - self.right_at]
        }
    }
}
