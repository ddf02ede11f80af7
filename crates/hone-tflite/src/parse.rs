//! `.tflite` bytes → [`Graph`]: reads the flatbuffer through the generated schema code
//! (`generated.rs`, planus) and checks what the IR promises.

use planus::ReadAsRoot;

use crate::generated::tflite as fb;
use crate::ir::{Activation, DType, Graph, Operator, Options, Padding, Quant, Tensor, Window};
use crate::opcodes::BuiltinOp;
use crate::ParseError;

type Result<T> = std::result::Result<T, ParseError>;

/// `what` of the flatbuffer failed to decode.
fn fb_err(what: impl Into<String>) -> impl FnOnce(planus::Error) -> ParseError {
    let what = what.into();
    move |e| ParseError::Flatbuffer {
        what,
        reason: e.to_string(),
    }
}

/// Parses a `.tflite` file's bytes. The main (first) subgraph becomes the graph.
/// Most elements a tensor may have (2^31).
pub const MAX_ELEMENTS: usize = 1 << 31;

pub fn parse(bytes: &[u8]) -> Result<Graph> {
    if bytes.len() < 8 {
        return Err(ParseError::Truncated { len: bytes.len() });
    }
    if &bytes[4..8] != b"TFL3" {
        return Err(ParseError::NotTflite);
    }
    let model = fb::ModelRef::read_as_root(bytes).map_err(fb_err("the model table"))?;
    let codes = opcodes(&model)?;
    let buffers = buffers(&model, bytes)?;
    let subgraphs = model
        .subgraphs()
        .map_err(fb_err("the subgraph list"))?
        .ok_or(ParseError::NoSubgraph)?;
    let n_subgraphs = subgraphs.len();
    let sg = subgraphs
        .iter()
        .next()
        .ok_or(ParseError::NoSubgraph)?
        .map_err(fb_err("subgraph 0"))?;
    let tensors = tensors(&sg, &buffers)?;
    let n = tensors.len();
    let index_list = |v: Option<planus::Vector<'_, i32>>, what: &str| -> Result<Vec<usize>> {
        v.map_or(Ok(Vec::new()), |v| {
            v.iter()
                .map(|i| tensor_index(i, n, what))
                .collect::<Result<Vec<_>>>()
        })
    };
    let inputs = index_list(sg.inputs().map_err(fb_err("the inputs"))?, "model input")?;
    let outputs = index_list(sg.outputs().map_err(fb_err("the outputs"))?, "model output")?;
    let mut operators = Vec::new();
    if let Some(ops) = sg.operators().map_err(fb_err("the operator list"))? {
        for (index, o) in ops.iter().enumerate() {
            let o = o.map_err(fb_err(format!("operator {index}")))?;
            operators.push(operator(index, &o, &codes, n)?);
        }
    }
    let description = model
        .description()
        .map_err(fb_err("the description"))?
        .unwrap_or_default()
        .to_string();
    Ok(Graph {
        description,
        tensors,
        operators,
        inputs,
        outputs,
        subgraphs: n_subgraphs,
    })
}

fn tensor_index(i: i32, n: usize, what: &str) -> Result<usize> {
    usize::try_from(i)
        .ok()
        .filter(|&i| i < n)
        .ok_or_else(|| ParseError::TensorIndex {
            what: what.to_string(),
            index: i64::from(i),
            tensors: n,
        })
}

fn opcodes(model: &fb::ModelRef<'_>) -> Result<Vec<(BuiltinOp, i32)>> {
    let Some(codes) = model
        .operator_codes()
        .map_err(fb_err("the operator codes"))?
    else {
        return Ok(Vec::new());
    };
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let c = c.map_err(fb_err(format!("operator code {i}")))?;
            let what = || format!("operator code {i}");
            let old = c.deprecated_builtin_code().map_err(fb_err(what()))?;
            let new = c.builtin_code().map_err(fb_err(what()))?;
            let code = new.max(i32::from(old));
            let custom = c.custom_code().map_err(fb_err(what()))?.map(str::to_string);
            let custom = custom.filter(|_| code == BuiltinOp::CUSTOM);
            Ok((
                BuiltinOp { code, custom },
                c.version().map_err(fb_err(what()))?,
            ))
        })
        .collect()
}

/// Every buffer's bytes (empty when it has none); data stored after the flatbuffer (models
/// over 2 GB) is read from `file` at the buffer's offset.
fn buffers(model: &fb::ModelRef<'_>, file: &[u8]) -> Result<Vec<Vec<u8>>> {
    let Some(list) = model.buffers().map_err(fb_err("the buffer list"))? else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            let what = || format!("buffer {i}");
            let b = b.map_err(fb_err(what()))?;
            let (offset, size) = (
                b.offset().map_err(fb_err(what()))?,
                b.size().map_err(fb_err(what()))?,
            );
            if offset > 1 {
                let range = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(size).ok())
                    .and_then(|(o, s)| file.get(o..o.checked_add(s)?));
                return range.map(<[u8]>::to_vec).ok_or(ParseError::BufferRange {
                    buffer: i,
                    offset,
                    size,
                    file: file.len(),
                });
            }
            Ok(b.data()
                .map_err(fb_err(what()))?
                .unwrap_or_default()
                .to_vec())
        })
        .collect()
}

fn tensors(sg: &fb::SubGraphRef<'_>, buffers: &[Vec<u8>]) -> Result<Vec<Tensor>> {
    let Some(list) = sg.tensors().map_err(fb_err("the tensor list"))? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let what = || format!("tensor {i}");
        let t = t.map_err(fb_err(what()))?;
        let name = t.name().map_err(fb_err(what()))?.unwrap_or_default();
        let shape: Vec<i32> = t
            .shape()
            .map_err(fb_err(what()))?
            .map_or_else(Vec::new, |s| s.iter().collect());
        let shape = shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| ParseError::Shape {
                tensor: i,
                name: name.to_string(),
                shape: shape.clone(),
            })?;
        // `Tensor::elements` multiplies the dimensions: refuse shapes whose product overflows
        // or exceeds any tensor a microcontroller model can have.
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements.is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(ParseError::TooLarge {
                tensor: i,
                name: name.to_string(),
                shape,
            });
        }
        if t.sparsity().map_err(fb_err(what()))?.is_some() {
            return Err(ParseError::Sparse {
                tensor: i,
                name: name.to_string(),
            });
        }
        let dtype = DType::from_code(t.type_().map_err(fb_err(what()))?);
        let buffer = t.buffer().map_err(fb_err(what()))? as usize;
        let data = buffers.get(buffer).ok_or(ParseError::BufferIndex {
            tensor: i,
            buffer,
            buffers: buffers.len(),
        })?;
        let mut tensor = Tensor {
            name: name.to_string(),
            dtype,
            quant: None,
            data: (!data.is_empty()).then(|| data.clone()),
            is_variable: t.is_variable().map_err(fb_err(what()))?,
            shape,
        };
        if let (Some(d), Some(size)) = (&tensor.data, dtype.size()) {
            let expected = tensor.elements().checked_mul(size);
            if expected != Some(d.len()) {
                return Err(ParseError::DataSize {
                    tensor: i,
                    name: tensor.name,
                    expected: expected.unwrap_or(usize::MAX),
                    got: d.len(),
                });
            }
        }
        if let Some(q) = t.quantization().map_err(fb_err(what()))? {
            tensor.quant = quant(i, &tensor, &q)?;
        }
        out.push(tensor);
    }
    Ok(out)
}

/// The tensor's quantisation: `None` without scales; an error when the parameters are
/// inconsistent (a count that is neither 1 nor the quantised dimension's size, scale and
/// zero-point counts that differ, a scale that is not finite and positive, another scheme).
fn quant(i: usize, t: &Tensor, q: &fb::QuantizationParametersRef<'_>) -> Result<Option<Quant>> {
    let what = || format!("tensor {i}'s quantisation");
    let bad = |reason: String| ParseError::Quantization {
        tensor: i,
        name: t.name.clone(),
        reason,
    };
    if q.details_type().map_err(fb_err(what()))? != 0 {
        return Err(bad("custom/blockwise quantisation details".into()));
    }
    let scale: Vec<f32> = q
        .scale()
        .map_err(fb_err(what()))?
        .map_or_else(Vec::new, |s| s.iter().collect());
    let zero_point: Vec<i64> = q
        .zero_point()
        .map_err(fb_err(what()))?
        .map_or_else(Vec::new, |s| s.iter().collect());
    if scale.is_empty() && zero_point.is_empty() {
        return Ok(None);
    }
    if scale.len() != zero_point.len() {
        return Err(bad(format!(
            "{} scales but {} zero points",
            scale.len(),
            zero_point.len()
        )));
    }
    if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(bad(format!("scale {s} is not finite and positive")));
    }
    let axis = q.quantized_dimension().map_err(fb_err(what()))?;
    let axis = usize::try_from(axis).map_err(|_| bad(format!("quantised dimension {axis}")))?;
    if scale.len() > 1 && t.shape.get(axis) != Some(&scale.len()) {
        return Err(bad(format!(
            "{} scales along dimension {axis} of shape {:?}",
            scale.len(),
            t.shape
        )));
    }
    Ok(Some(Quant {
        scale,
        zero_point,
        axis,
    }))
}

fn operator(
    index: usize,
    o: &fb::OperatorRef<'_>,
    codes: &[(BuiltinOp, i32)],
    n: usize,
) -> Result<Operator> {
    let what = || format!("operator {index}");
    let code_index = o.opcode_index().map_err(fb_err(what()))? as usize;
    let (op, version) = codes
        .get(code_index)
        .cloned()
        .ok_or(ParseError::OpcodeIndex {
            op: index,
            index: code_index,
            codes: codes.len(),
        })?;
    let ctx = format!("input of operator {index} ({op})");
    let inputs = o
        .inputs()
        .map_err(fb_err(what()))?
        .map_or(Ok(Vec::new()), |v| {
            v.iter()
                .map(|i| match i {
                    -1 => Ok(None),
                    i => tensor_index(i, n, &ctx).map(Some),
                })
                .collect::<Result<Vec<_>>>()
        })?;
    let ctx = format!("output of operator {index} ({op})");
    let outputs = o
        .outputs()
        .map_err(fb_err(what()))?
        .map_or(Ok(Vec::new()), |v| {
            v.iter()
                .map(|i| tensor_index(i, n, &ctx))
                .collect::<Result<Vec<_>>>()
        })?;
    // An options tag past the schema subset's union does not decode: the importer reports
    // the operator as unsupported, so the parse goes on.
    let options = match o.builtin_options() {
        Ok(opts) => options(opts).map_err(fb_err(format!("operator {index}'s options")))?,
        Err(_) => Options::Other(u8::MAX),
    };
    Ok(Operator {
        index,
        op,
        version,
        inputs,
        outputs,
        options,
    })
}

fn options(o: Option<fb::BuiltinOptionsRef<'_>>) -> planus::Result<Options> {
    use fb::BuiltinOptionsRef as B;
    let act = Activation::from_code;
    Ok(match o {
        None => Options::None,
        Some(B::Conv2DOptions(c)) => Options::Conv2D {
            window: Window {
                padding: Padding::from_code(c.padding()?),
                stride_w: c.stride_w()?,
                stride_h: c.stride_h()?,
                dilation_w: c.dilation_w_factor()?,
                dilation_h: c.dilation_h_factor()?,
            },
            activation: act(c.fused_activation_function()?),
            quantized_bias_type: c.quantized_bias_type()?,
        },
        Some(B::DepthwiseConv2DOptions(c)) => Options::DepthwiseConv2D {
            window: Window {
                padding: Padding::from_code(c.padding()?),
                stride_w: c.stride_w()?,
                stride_h: c.stride_h()?,
                dilation_w: c.dilation_w_factor()?,
                dilation_h: c.dilation_h_factor()?,
            },
            depth_multiplier: c.depth_multiplier()?,
            activation: act(c.fused_activation_function()?),
        },
        Some(B::Pool2DOptions(c)) => Options::Pool2D {
            window: Window {
                padding: Padding::from_code(c.padding()?),
                stride_w: c.stride_w()?,
                stride_h: c.stride_h()?,
                dilation_w: 1,
                dilation_h: 1,
            },
            filter_w: c.filter_width()?,
            filter_h: c.filter_height()?,
            activation: act(c.fused_activation_function()?),
        },
        Some(B::FullyConnectedOptions(c)) => Options::FullyConnected {
            activation: act(c.fused_activation_function()?),
            weights_format: c.weights_format()?,
            keep_num_dims: c.keep_num_dims()?,
            asymmetric_quantize_inputs: c.asymmetric_quantize_inputs()?,
            quantized_bias_type: c.quantized_bias_type()?,
        },
        Some(B::SoftmaxOptions(c)) => Options::Softmax { beta: c.beta()? },
        Some(B::AddOptions(c)) => Options::Add {
            activation: act(c.fused_activation_function()?),
        },
        Some(B::ReshapeOptions(c)) => Options::Reshape {
            new_shape: c.new_shape()?.map(|s| s.iter().collect()),
        },
        Some(B::ReducerOptions(c)) => Options::Reducer {
            keep_dims: c.keep_dims()?,
        },
        Some(other) => Options::Other(tag(&other)),
    })
}

/// The `BuiltinOptions` tag of an options table hone does not read.
fn tag(o: &fb::BuiltinOptionsRef<'_>) -> u8 {
    use fb::BuiltinOptionsRef as B;
    match o {
        B::Options3(_) => 3,
        B::Options4(_) => 4,
        B::Options6(_) => 6,
        B::Options7(_) => 7,
        B::Options10(_) => 10,
        B::Options12(_) => 12,
        B::Options13(_) => 13,
        B::Options14(_) => 14,
        B::Options15(_) => 15,
        B::Options16(_) => 16,
        B::Options18(_) => 18,
        B::Options19(_) => 19,
        B::Options20(_) => 20,
        B::Options21(_) => 21,
        B::Options22(_) => 22,
        B::Options23(_) => 23,
        B::Options24(_) => 24,
        B::Options25(_) => 25,
        B::Options26(_) => 26,
        _ => 0,
    }
}
