//! The graph IR: what the importer needs of a `.tflite` model, owned and checked (every index
//! in range, every constant the size its shape says, quantisation consistent).

use crate::opcodes::BuiltinOp;

/// Element type of a tensor (TFLite's `TensorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// `FLOAT32`.
    F32,
    /// `FLOAT16`.
    F16,
    /// `INT32`.
    I32,
    /// `UINT8`.
    U8,
    /// `INT64`.
    I64,
    /// `BOOL`.
    Bool,
    /// `INT16`.
    I16,
    /// `INT8`.
    I8,
    /// Any other type, by its TFLite code.
    Other(i8),
}

impl DType {
    /// From TFLite's `TensorType` code.
    pub fn from_code(c: i8) -> Self {
        match c {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::I32,
            3 => DType::U8,
            4 => DType::I64,
            6 => DType::Bool,
            7 => DType::I16,
            9 => DType::I8,
            c => DType::Other(c),
        }
    }

    /// Bytes per element (`None` for types hone does not size).
    pub fn size(self) -> Option<usize> {
        match self {
            DType::F32 | DType::I32 => Some(4),
            DType::F16 | DType::I16 => Some(2),
            DType::I64 => Some(8),
            DType::U8 | DType::I8 | DType::Bool => Some(1),
            DType::Other(_) => None,
        }
    }

    /// TFLite's name for the type (`int8`, `float32`, …).
    pub fn name(self) -> String {
        match self {
            DType::F32 => "float32".into(),
            DType::F16 => "float16".into(),
            DType::I32 => "int32".into(),
            DType::U8 => "uint8".into(),
            DType::I64 => "int64".into(),
            DType::Bool => "bool".into(),
            DType::I16 => "int16".into(),
            DType::I8 => "int8".into(),
            DType::Other(c) => format!("type {c}"),
        }
    }
}

/// Affine quantisation: `real = scale[c] · (q − zero_point[c])`, one entry per tensor or one
/// per slice along `axis` (per channel). Both vectors have the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Quant {
    /// Scales (finite, > 0).
    pub scale: Vec<f32>,
    /// Zero points.
    pub zero_point: Vec<i64>,
    /// The quantised dimension (meaningful when per channel).
    pub axis: usize,
}

impl Quant {
    /// One scale per slice along [`Quant::axis`] rather than one for the tensor.
    pub fn per_channel(&self) -> bool {
        self.scale.len() > 1
    }
}

/// One tensor of the main subgraph.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Its name in the file.
    pub name: String,
    /// Dimensions (TFLite's NHWC for images).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Quantisation, when the file gives scales.
    pub quant: Option<Quant>,
    /// Constant data (little-endian, `elements × dtype size` bytes), for weights and biases.
    pub data: Option<Vec<u8>>,
    /// A variable tensor (state that persists between invocations).
    pub is_variable: bool,
}

impl Tensor {
    /// Number of elements (the product of the shape; 1 for a scalar).
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The constant data as `i8` (`None` when not constant or not int8).
    pub fn i8_data(&self) -> Option<Vec<i8>> {
        (self.dtype == DType::I8).then_some(())?;
        Some(self.data.as_ref()?.iter().map(|&b| b as i8).collect())
    }

    /// The constant data as `i32` (`None` when not constant or not int32).
    pub fn i32_data(&self) -> Option<Vec<i32>> {
        (self.dtype == DType::I32).then_some(())?;
        let d = self.data.as_ref()?;
        Some(
            d.chunks_exact(4)
                .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect(),
        )
    }
}

/// A fused activation (TFLite's `ActivationFunctionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None.
    None,
    /// `RELU`.
    Relu,
    /// `RELU_N1_TO_1`.
    ReluN1To1,
    /// `RELU6`.
    Relu6,
    /// `TANH`.
    Tanh,
    /// `SIGN_BIT`.
    SignBit,
    /// An unknown code.
    Other(i8),
}

impl Activation {
    /// From TFLite's code.
    pub fn from_code(c: i8) -> Self {
        match c {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            4 => Activation::Tanh,
            5 => Activation::SignBit,
            c => Activation::Other(c),
        }
    }
}

/// Padding of convolutions and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// `SAME`.
    Same,
    /// `VALID`.
    Valid,
    /// An unknown code.
    Other(i8),
}

impl Padding {
    /// From TFLite's code.
    pub fn from_code(c: i8) -> Self {
        match c {
            0 => Padding::Same,
            1 => Padding::Valid,
            c => Padding::Other(c),
        }
    }
}

/// Spatial geometry shared by convolutions and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Padding.
    pub padding: Padding,
    /// Horizontal stride.
    pub stride_w: i32,
    /// Vertical stride.
    pub stride_h: i32,
    /// Horizontal dilation (1 for pools).
    pub dilation_w: i32,
    /// Vertical dilation (1 for pools).
    pub dilation_h: i32,
}

/// An operator's builtin options, for the operators hone reads options of.
#[derive(Debug, Clone, PartialEq)]
pub enum Options {
    /// No options in the file.
    None,
    /// `CONV_2D`.
    Conv2D {
        /// Strides, dilation, padding.
        window: Window,
        /// Fused activation.
        activation: Activation,
        /// `quantized_bias_type` (0: default, int32 for int8 models).
        quantized_bias_type: i8,
    },
    /// `DEPTHWISE_CONV_2D`.
    DepthwiseConv2D {
        /// Strides, dilation, padding.
        window: Window,
        /// Output channels per input channel.
        depth_multiplier: i32,
        /// Fused activation.
        activation: Activation,
    },
    /// `AVERAGE_POOL_2D`, `MAX_POOL_2D`.
    Pool2D {
        /// Strides, padding (dilation 1).
        window: Window,
        /// Window width.
        filter_w: i32,
        /// Window height.
        filter_h: i32,
        /// Fused activation.
        activation: Activation,
    },
    /// `FULLY_CONNECTED`.
    FullyConnected {
        /// Fused activation.
        activation: Activation,
        /// `weights_format` (0: default, row-major `[out × in]`).
        weights_format: i8,
        /// Keep the input's leading dimensions in the output.
        keep_num_dims: bool,
        /// Hybrid (float) models only.
        asymmetric_quantize_inputs: bool,
        /// `quantized_bias_type` (0: default).
        quantized_bias_type: i8,
    },
    /// `SOFTMAX`.
    Softmax {
        /// Inverse temperature.
        beta: f32,
    },
    /// `ADD`.
    Add {
        /// Fused activation.
        activation: Activation,
    },
    /// `RESHAPE` (the target may instead be the op's second input).
    Reshape {
        /// Target shape, when given as an option.
        new_shape: Option<Vec<i32>>,
    },
    /// `MEAN` and the other reductions.
    Reducer {
        /// Keep reduced dimensions as 1.
        keep_dims: bool,
    },
    /// Options whose table hone does not read, by their `BuiltinOptions` tag (255: a tag past
    /// the schema subset's union).
    Other(u8),
}

/// One operator of the main subgraph, in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    /// Position in the subgraph's operator list.
    pub index: usize,
    /// What it computes.
    pub op: BuiltinOp,
    /// The operator code's version.
    pub version: i32,
    /// Input tensors (`None`: an omitted optional input).
    pub inputs: Vec<Option<usize>>,
    /// Output tensors.
    pub outputs: Vec<usize>,
    /// Builtin options.
    pub options: Options,
}

impl Operator {
    /// Input `k`, when present.
    pub fn input(&self, k: usize) -> Option<usize> {
        self.inputs.get(k).copied().flatten()
    }
}

/// The main subgraph of a model, as the importer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The model's description string.
    pub description: String,
    /// Tensors of the main subgraph.
    pub tensors: Vec<Tensor>,
    /// Operators, in execution order.
    pub operators: Vec<Operator>,
    /// Input tensors.
    pub inputs: Vec<usize>,
    /// Output tensors.
    pub outputs: Vec<usize>,
    /// Subgraphs in the file (the first is the main one; others are called by control flow).
    pub subgraphs: usize,
}

impl Graph {
    /// Tensor `i` (every index in the graph was checked at parse time).
    pub fn tensor(&self, i: usize) -> &Tensor {
        &self.tensors[i]
    }

    /// Builtin operators used, in first-use order, with how often each appears.
    pub fn op_counts(&self) -> Vec<(BuiltinOp, usize)> {
        let mut counts: Vec<(BuiltinOp, usize)> = Vec::new();
        for o in &self.operators {
            match counts.iter_mut().find(|(op, _)| *op == o.op) {
                Some((_, n)) => *n += 1,
                None => counts.push((o.op.clone(), 1)),
            }
        }
        counts
    }
}
