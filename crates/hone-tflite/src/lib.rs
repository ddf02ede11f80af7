//! # hone-tflite
//!
//! Reads TFLite flatbuffers (`.tflite`) on the host into a small graph IR ([`Graph`]) for
//! hone's importer (`hone import`). The flatbuffer is decoded by code that [planus] generated
//! from the project's own subset of the TFLite schema (`schema/tflite_subset.fbs`); nothing
//! here runs on a device.
//!
//! [`parse`] checks what the IR promises: every tensor, buffer and operator-code index in
//! range, constant data the size its shape and type say, quantisation parameters consistent
//! (as many scales as zero points, one per tensor or one per slice of the quantised
//! dimension, finite and positive), no sparse tensors. Whether the importer supports an
//! operator is the importer's question; the IR keeps every operator with its options.
//!
//! ```no_run
//! let bytes = std::fs::read("model.tflite").unwrap();
//! let g = hone_tflite::parse(&bytes)?;
//! for (op, n) in g.op_counts() {
//!     println!("{op} ×{n}");
//! }
//! # Ok::<(), hone_tflite::ParseError>(())
//! ```

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unused_imports,
    dead_code,
    non_camel_case_types,
    unused_qualifications
)]
#[rustfmt::skip]
mod generated;
mod ir;
mod opcodes;
mod parse;

pub use ir::{Activation, DType, Graph, Operator, Options, Padding, Quant, Tensor, Window};
pub use opcodes::BuiltinOp;
pub use parse::{parse, MAX_ELEMENTS};

/// Why a `.tflite` file could not be read. Each names the part of the file at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than a flatbuffer header.
    Truncated {
        /// The file's length.
        len: usize,
    },
    /// The file identifier is not `TFL3`.
    NotTflite,
    /// A table or vector does not decode (offsets out of range, a truncated file).
    Flatbuffer {
        /// What was being read.
        what: String,
        /// The decoder's message.
        reason: String,
    },
    /// The model has no subgraph.
    NoSubgraph,
    /// A tensor index outside the subgraph's tensor list.
    TensorIndex {
        /// Where the index was found.
        what: String,
        /// The index.
        index: i64,
        /// Tensors in the subgraph.
        tensors: usize,
    },
    /// An operator's code index outside the model's operator codes.
    OpcodeIndex {
        /// The operator.
        op: usize,
        /// The index.
        index: usize,
        /// Operator codes in the model.
        codes: usize,
    },
    /// A tensor's buffer index outside the model's buffers.
    BufferIndex {
        /// The tensor.
        tensor: usize,
        /// The index.
        buffer: usize,
        /// Buffers in the model.
        buffers: usize,
    },
    /// A buffer stored outside the flatbuffer lies past the file's end.
    BufferRange {
        /// The buffer.
        buffer: usize,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// The file's length.
        file: usize,
    },
    /// A negative dimension (a dynamic shape).
    Shape {
        /// The tensor.
        tensor: usize,
        /// Its name.
        name: String,
        /// Its shape.
        shape: Vec<i32>,
    },
    /// A shape with more than [`MAX_ELEMENTS`] elements (or whose product overflows).
    TooLarge {
        /// The tensor.
        tensor: usize,
        /// Its name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A constant's data is not `elements × element size` bytes.
    DataSize {
        /// The tensor.
        tensor: usize,
        /// Its name.
        name: String,
        /// Bytes its shape and type call for.
        expected: usize,
        /// Bytes in its buffer.
        got: usize,
    },
    /// Inconsistent quantisation parameters.
    Quantization {
        /// The tensor.
        tensor: usize,
        /// Its name.
        name: String,
        /// What is inconsistent.
        reason: String,
    },
    /// A sparse tensor (not supported).
    Sparse {
        /// The tensor.
        tensor: usize,
        /// Its name.
        name: String,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Truncated { len } => {
                write!(f, "not a TFLite model: {len} bytes is too short")
            }
            ParseError::NotTflite => {
                f.write_str("not a TFLite model: the file identifier is not TFL3")
            }
            ParseError::Flatbuffer { what, reason } => {
                write!(f, "malformed TFLite flatbuffer: {what}: {reason}")
            }
            ParseError::NoSubgraph => f.write_str("the model has no subgraph"),
            ParseError::TensorIndex {
                what,
                index,
                tensors,
            } => write!(
                f,
                "{what}: tensor index {index} is out of range ({tensors} tensors)"
            ),
            ParseError::OpcodeIndex { op, index, codes } => write!(
                f,
                "operator {op}: operator code index {index} is out of range ({codes} codes)"
            ),
            ParseError::BufferIndex {
                tensor,
                buffer,
                buffers,
            } => write!(
                f,
                "tensor {tensor}: buffer index {buffer} is out of range ({buffers} buffers)"
            ),
            ParseError::BufferRange {
                buffer,
                offset,
                size,
                file,
            } => write!(
                f,
                "buffer {buffer}: {size} bytes at offset {offset} lie past the file's end \
                 ({file} bytes)"
            ),
            ParseError::Shape {
                tensor,
                name,
                shape,
            } => write!(
                f,
                "tensor {tensor} ({name}): dynamic shape {shape:?} is not supported"
            ),
            ParseError::TooLarge {
                tensor,
                name,
                shape,
            } => write!(
                f,
                "tensor {tensor} ({name}): shape {shape:?} has more elements than any tensor \
                 hone can hold"
            ),
            ParseError::DataSize {
                tensor,
                name,
                expected,
                got,
            } => write!(
                f,
                "tensor {tensor} ({name}): constant data of {got} bytes, its shape and type \
                 call for {expected}"
            ),
            ParseError::Quantization {
                tensor,
                name,
                reason,
            } => write!(f, "tensor {tensor} ({name}): bad quantisation: {reason}"),
            ParseError::Sparse { tensor, name } => {
                write!(
                    f,
                    "tensor {tensor} ({name}): sparse tensors are not supported"
                )
            }
        }
    }
}

impl std::error::Error for ParseError {}
