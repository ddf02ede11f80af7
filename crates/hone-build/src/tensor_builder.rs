//! Construction of tensor-model blobs (format version 3, `Kind::Tensor`): declared tensors,
//! the model's inputs and outputs, ops; the same liveness-based arena plan as text models.

use hone::format::{
    DType, IoRec, Kind, OpsDesc, TensorModelDesc, TensorRec, FORMAT_VERSION, MAX_RANK,
};
use hone::ops::Op;

use crate::builder::{frame_version, lifetimes, plan_arena};
use crate::BuildError;

/// Collects tensors, inputs, outputs and ops of a tensor model, plans the arena and writes a
/// blob (always format version 3 or later: the first with tensor models).
#[derive(Debug)]
pub struct TensorModelBuilder {
    name: String,
    tensors: Vec<TensorRec>,
    inputs: Vec<IoRec>,
    outputs: Vec<IoRec>,
    ops: Vec<u8>,
    operands: Vec<([Option<u16>; 3], Option<u16>)>,
    encode_failed: bool,
}

impl TensorModelBuilder {
    /// Starts a model.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            tensors: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            ops: Vec::new(),
            operands: Vec::new(),
            encode_failed: false,
        }
    }

    /// Declares an int8 activation tensor of `elements` values; its arena offset is planned by
    /// [`Self::build`]. Fails past 65,535 elements (the tensor record's limit).
    pub fn tensor(
        &mut self,
        elements: usize,
        scale: f32,
        zero_point: i8,
    ) -> Result<u16, BuildError> {
        let cols = u16::try_from(elements).map_err(|_| {
            BuildError::Limit(format!("a tensor of {elements} elements (most 65535)"))
        })?;
        let id = u16::try_from(self.tensors.len())
            .map_err(|_| BuildError::Limit("more than 65535 tensors".into()))?;
        self.tensors.push(TensorRec {
            offset: 0,
            cols,
            per_token: false,
            zero_point,
            scale,
        });
        Ok(id)
    }

    /// The tensor declared as `id`.
    pub fn tensor_rec(&self, id: u16) -> Option<TensorRec> {
        self.tensors.get(usize::from(id)).copied()
    }

    fn io(&self, tensor: u16, shape: &[usize]) -> Result<IoRec, BuildError> {
        if shape.is_empty() || shape.len() > MAX_RANK {
            return Err(BuildError::Limit(format!(
                "an input or output of rank {} (1 to {MAX_RANK})",
                shape.len()
            )));
        }
        let mut dims = [0u32; MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(shape) {
            *d = u32::try_from(s).map_err(|_| BuildError::Limit(format!("dimension {s}")))?;
        }
        Ok(IoRec {
            tensor,
            dtype: DType::I8,
            rank: shape.len() as u8,
            dims,
        })
    }

    /// Declares `tensor` the model's next input, of `shape` (the product of the shape must be
    /// the tensor's element count; the loader checks).
    pub fn input(&mut self, tensor: u16, shape: &[usize]) -> Result<&mut Self, BuildError> {
        let io = self.io(tensor, shape)?;
        self.inputs.push(io);
        Ok(self)
    }

    /// Declares `tensor` the model's next output, of `shape`.
    pub fn output(&mut self, tensor: u16, shape: &[usize]) -> Result<&mut Self, BuildError> {
        let io = self.io(tensor, shape)?;
        self.outputs.push(io);
        Ok(self)
    }

    /// Appends an operation, encoded now (the data it borrows may be dropped after the call).
    pub fn op(&mut self, op: Op<'_>) -> &mut Self {
        self.operands.push(op.operands());
        match postcard::to_extend(&op, core::mem::take(&mut self.ops)) {
            Ok(v) => self.ops = v,
            Err(_) => self.encode_failed = true,
        }
        self
    }

    /// Plans the arena, serialises and checksums the blob, and validates it by loading it.
    pub fn build(mut self) -> Result<Vec<u8>, BuildError> {
        if self.encode_failed {
            return Err(BuildError::Encode);
        }
        let ids = |v: &[IoRec]| v.iter().map(|r| r.tensor).collect::<Vec<u16>>();
        let life = lifetimes(
            self.tensors.len(),
            &self.operands,
            &ids(&self.inputs),
            &ids(&self.outputs),
        );
        let arena_bytes = plan_arena(&mut self.tensors, &life, 1);
        let tensors: Vec<u8> = self.tensors.iter().flat_map(|t| t.to_bytes()).collect();
        let records = |v: &[IoRec]| v.iter().flat_map(|r| r.to_bytes()).collect::<Vec<u8>>();
        let (inputs, outputs) = (records(&self.inputs), records(&self.outputs));
        let count = u16::try_from(self.operands.len()).map_err(|_| BuildError::Encode)?;
        let desc = TensorModelDesc {
            name: &self.name,
            arena_bytes,
            tensors: &tensors,
            inputs: &inputs,
            outputs: &outputs,
            ops: OpsDesc {
                count,
                bytes: &self.ops,
            },
        };
        let payload = postcard::to_allocvec(&Kind::Tensor).map_err(|_| BuildError::Encode)?;
        let payload = postcard::to_extend(&desc, payload).map_err(|_| BuildError::Encode)?;
        let blob = frame_version(&payload, FORMAT_VERSION);
        hone::TensorModel::load(&blob, &mut crate::HostSteps::new())
            .map_err(BuildError::Invalid)?;
        Ok(blob)
    }
}
