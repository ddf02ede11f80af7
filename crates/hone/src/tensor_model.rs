//! [`TensorModel`]: a validated, zero-copy view of a tensor-model blob (format version 3,
//! [`Kind::Tensor`]): int8 input tensors → operations → int8 output tensors; and
//! [`TensorRunner`], which runs it in a caller-owned scratch buffer.
//!
//! It shares the text model's graph check, table of checked steps ([`Steps`]), arena plan and
//! operators; it has no tokenizer and no float head.

use crate::error::{Error, Invalid};
use crate::format::{IoRec, Kind, TensorModelDesc, TensorRec, IO_REC_LEN, TENSOR_REC_LEN};
use crate::graph;
use crate::model::{invalid, unframe, words, Steps};
use crate::ops::{Io, Op, Step};

/// Most inputs, and most outputs, a tensor model may declare.
pub const MAX_IO: usize = 8;

/// A validated tensor model borrowing its weights from the blob and its checked operations
/// from a caller's [`Steps`].
///
/// ```
/// use hone::{Steps, TensorModel, TensorRunner};
/// # let blob = hone_build::testutil::tiny_tensor_model().unwrap();
/// let mut steps = Steps::<4>::new();
/// let model = TensorModel::load(&blob, &mut steps)?;
/// let mut scratch = vec![0u32; model.scratch_words()];
/// let mut runner = TensorRunner::new(&model, &mut scratch)?;
/// runner.input_mut(0).unwrap().fill(3); // set the input before every run
/// runner.run();
/// let y = runner.output(0).unwrap();
/// assert_eq!(y.len(), model.output(0).unwrap().elements().unwrap());
/// # Ok::<(), hone::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TensorModel<'a> {
    desc: TensorModelDesc<'a>,
    steps: &'a [Step<'a>],
    inputs: heapless::Vec<IoRec, MAX_IO>,
    outputs: heapless::Vec<IoRec, MAX_IO>,
    /// Scratch words: the arena, then the largest working memory of any op.
    arena_words: usize,
    work_words: usize,
    version: u16,
}

/// Decodes and checks an input or output table: each record valid, its tensor in range and
/// its element count the tensor's.
fn io_table(bytes: &[u8], tensors: &[u8]) -> Result<heapless::Vec<IoRec, MAX_IO>, Error> {
    if !bytes.len().is_multiple_of(IO_REC_LEN) || bytes.is_empty() {
        return Err(invalid(Invalid::Structure));
    }
    let mut out = heapless::Vec::new();
    for rec in bytes.chunks_exact(IO_REC_LEN) {
        let io = IoRec::from_bytes(rec).ok_or(invalid(Invalid::TensorRecord))?;
        let t = tensors
            .get(usize::from(io.tensor) * TENSOR_REC_LEN..)
            .and_then(TensorRec::from_bytes)
            .ok_or(invalid(Invalid::TensorIndex))?;
        if t.per_token || io.elements() != Some(usize::from(t.cols)) {
            return Err(invalid(Invalid::Shape));
        }
        out.push(io).map_err(|_| invalid(Invalid::Limit))?;
    }
    Ok(out)
}

impl<'a> TensorModel<'a> {
    /// Parses and validates a tensor-model blob, filling `steps` with its checked operations.
    /// Never panics; returns a typed error for any malformed input ([`Error::WrongKind`] for
    /// a text classifier).
    pub fn load<'b: 'a, const N: usize>(
        blob: &'b [u8],
        steps: &'a mut Steps<'b, N>,
    ) -> Result<Self, Error> {
        let (version, kind, payload) = unframe(blob)?;
        if kind != Kind::Tensor {
            return Err(Error::WrongKind(kind));
        }
        let desc: TensorModelDesc<'b> = postcard::from_bytes(payload).map_err(|_| Error::Decode)?;
        Self::validate(desc, version, steps)
    }

    fn validate<'b: 'a, const N: usize>(
        desc: TensorModelDesc<'b>,
        version: u16,
        steps: &'a mut Steps<'b, N>,
    ) -> Result<Self, Error> {
        let inputs = io_table(desc.inputs, desc.tensors)?;
        let outputs = io_table(desc.outputs, desc.tensors)?;
        let ids = |t: &heapless::Vec<IoRec, MAX_IO>| -> heapless::Vec<u16, MAX_IO> {
            t.iter().map(|r| r.tensor).collect()
        };
        let (ins, outs) = (ids(&inputs), ids(&outputs));
        steps.table.clear();
        let g = graph::Graph {
            arena_bytes: desc.arena_bytes,
            tensors: desc.tensors,
            ops: desc.ops,
            max_len: 1,
            vocab: 0,
        };
        let rule = (graph::tensor_placement as graph::Placement, 1);
        graph::check(&g, version, (&ins, &outs), rule, &mut steps.table)?;
        let steps: &'a Steps<'b, N> = steps;
        let steps = steps.table.as_slice();
        let work_words = steps.iter().map(|s| s.work_words(1)).max().unwrap_or(0);
        Ok(Self {
            arena_words: words(desc.arena_bytes as usize),
            desc,
            steps,
            inputs,
            outputs,
            work_words,
            version,
        })
    }

    /// Exact scratch size in 32-bit words that [`TensorRunner::new`] needs: the activation
    /// arena and the largest working memory of any op.
    pub fn scratch_words(&self) -> usize {
        self.arena_words + self.work_words
    }

    /// The model's name.
    pub fn name(&self) -> &'a str {
        self.desc.name
    }

    /// The model's inputs, in order.
    pub fn inputs(&self) -> &[IoRec] {
        &self.inputs
    }

    /// The model's outputs, in order.
    pub fn outputs(&self) -> &[IoRec] {
        &self.outputs
    }

    /// Input `k`.
    pub fn input(&self, k: usize) -> Option<IoRec> {
        self.inputs.get(k).copied()
    }

    /// Output `k`.
    pub fn output(&self, k: usize) -> Option<IoRec> {
        self.outputs.get(k).copied()
    }

    /// Activation tensor record `id` (as validated at load).
    pub fn tensor(&self, id: u16) -> Option<TensorRec> {
        let i = usize::from(id) * TENSOR_REC_LEN;
        TensorRec::from_bytes(self.desc.tensors.get(i..)?)
    }

    /// Number of operations.
    pub fn op_count(&self) -> usize {
        self.steps.len()
    }

    /// The operations' wire parameters, in execution order (for tools that inspect a model).
    pub fn ops(&self) -> impl Iterator<Item = Op<'a>> + Clone {
        graph::decode_ops(self.desc.ops)
    }

    /// Bytes of the activation arena.
    pub fn arena_bytes(&self) -> usize {
        self.desc.arena_bytes as usize
    }

    /// The blob's format version (3 or later).
    pub fn format_version(&self) -> u16 {
        self.version
    }

    /// The wire description (for tools that inspect a model).
    pub fn desc(&self) -> &TensorModelDesc<'a> {
        &self.desc
    }

    /// Byte range of tensor `id` in the arena (validated at load to lie inside it).
    fn span(&self, id: u16) -> Option<core::ops::Range<usize>> {
        let t = self.tensor(id)?;
        let start = t.offset as usize;
        Some(start..start + usize::from(t.cols))
    }
}

/// Runs a [`TensorModel`] in a scratch buffer the caller owns.
///
/// Write each input ([`TensorRunner::input_mut`]) before every [`TensorRunner::run`]: the
/// arena plan reuses an input's bytes once the input has been read, as TFLite Micro's does.
/// After [`TensorRunner::new`] succeeds, no method can fail or panic.
#[derive(Debug)]
pub struct TensorRunner<'m, 'a, 's> {
    model: &'m TensorModel<'a>,
    arena: &'s mut [i8],
    work: &'s mut [f32],
}

impl<'m, 'a, 's> TensorRunner<'m, 'a, 's> {
    /// Binds `model` to `scratch`, which must hold at least [`TensorModel::scratch_words`]
    /// words.
    pub fn new(model: &'m TensorModel<'a>, scratch: &'s mut [u32]) -> Result<Self, Error> {
        let need = model.scratch_words();
        let got = scratch.len();
        let Some(scratch) = scratch.get_mut(..need) else {
            return Err(Error::ScratchTooSmall {
                need: need as u32,
                got: got.min(u32::MAX as usize) as u32,
            });
        };
        let (arena, work) = scratch.split_at_mut(model.arena_words);
        let arena: &mut [i8] = bytemuck::cast_slice_mut(arena);
        let arena = arena.get_mut(..model.arena_bytes()).unwrap_or_default();
        Ok(Self {
            model,
            arena,
            work: bytemuck::cast_slice_mut(work),
        })
    }

    /// The model this runner executes.
    pub fn model(&self) -> &'m TensorModel<'a> {
        self.model
    }

    /// The bytes of input `k` (`None` past the last input), to be written before a run.
    pub fn input_mut(&mut self, k: usize) -> Option<&mut [i8]> {
        let span = self.model.span(self.model.input(k)?.tensor)?;
        self.arena.get_mut(span)
    }

    /// Runs every operation on the inputs written since the last run.
    pub fn run(&mut self) {
        let mut io = Io {
            ids: &[],
            len: 1,
            arena: self.arena,
            work: self.work,
            features: &mut [],
        };
        for step in self.model.steps {
            step.eval(&mut io);
        }
    }

    /// The bytes of output `k` after a run (`None` past the last output).
    pub fn output(&self, k: usize) -> Option<&[i8]> {
        let span = self.model.span(self.model.output(k)?.tensor)?;
        self.arena.get(span)
    }
}
