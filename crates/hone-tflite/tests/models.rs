//! The five shipped `.tflite` models (`../shared/data/tflite/`, read in place) parse, with the
//! inputs, outputs and operators their README lists; malformed files give one clear error.

use std::path::PathBuf;

use hone_tflite::{parse, DType, Graph, Options, ParseError};

/// `../shared/data/tflite/` beside the repository (or `$HONE_TFLITE_DIR`).
fn dir() -> PathBuf {
    std::env::var_os("HONE_TFLITE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tflite"),
        PathBuf::from,
    )
}

fn load(name: &str) -> (Vec<u8>, Graph) {
    let path = dir().join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared models are required)", path.display()));
    let g = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    (bytes, g)
}

/// Shape and type of each of a model's inputs or outputs.
type Io = Vec<(Vec<usize>, DType)>;

/// A model, its input and output shapes and some operators it uses.
type Case<'a> = (&'a str, &'a [usize], &'a [usize], &'a [&'a str]);

fn io(g: &Graph) -> (Io, Io) {
    let f = |ids: &[usize]| {
        ids.iter()
            .map(|&i| (g.tensor(i).shape.clone(), g.tensor(i).dtype))
            .collect()
    };
    (f(&g.inputs), f(&g.outputs))
}

fn ops(g: &Graph) -> Vec<String> {
    g.op_counts().iter().map(|(op, _)| op.name()).collect()
}

#[test]
fn the_five_models_parse_with_their_documented_interfaces() {
    let cases: [Case; 5] = [
        (
            "tflm_hello_world_int8.tflite",
            &[1, 1],
            &[1, 1],
            &["FULLY_CONNECTED"],
        ),
        (
            "tflm_micro_speech_quantized.tflite",
            &[1, 1960],
            &[1, 4],
            &["RESHAPE", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"],
        ),
        (
            "tiny_kws_ref_model.tflite",
            &[1, 49, 10, 1],
            &[1, 12],
            &[
                "CONV_2D",
                "DEPTHWISE_CONV_2D",
                "AVERAGE_POOL_2D",
                "RESHAPE",
                "FULLY_CONNECTED",
                "SOFTMAX",
            ],
        ),
        (
            "tiny_ic_pretrainedResnet_quant.tflite",
            &[1, 32, 32, 3],
            &[1, 10],
            &[
                "CONV_2D",
                "ADD",
                "AVERAGE_POOL_2D",
                "RESHAPE",
                "FULLY_CONNECTED",
                "SOFTMAX",
            ],
        ),
        (
            "arduino_magic_wand.tflite",
            &[1, 32, 32, 3],
            &[1, 10],
            &["MEAN"],
        ),
    ];
    for (name, input, output, expected_ops) in cases {
        let (_, g) = load(name);
        let (ins, outs) = io(&g);
        println!("{name}: {ins:?} -> {outs:?}, ops {:?}", g.op_counts());
        assert_eq!(ins, vec![(input.to_vec(), DType::I8)], "{name} input");
        assert_eq!(outs, vec![(output.to_vec(), DType::I8)], "{name} output");
        let used = ops(&g);
        for op in expected_ops {
            assert!(used.iter().any(|u| u == op), "{name} uses {op}: {used:?}");
        }
        // Every int8 activation is quantised per tensor; every constant has its data.
        for o in &g.operators {
            for &t in &o.outputs {
                let t = g.tensor(t);
                if t.dtype == DType::I8 {
                    let q = t.quant.as_ref().expect("quantised activation");
                    assert_eq!(q.scale.len(), 1, "{name} {}", t.name);
                }
            }
        }
    }
}

#[test]
fn hello_world_is_three_fully_connected_layers() {
    let (_, g) = load("tflm_hello_world_int8.tflite");
    assert_eq!(g.operators.len(), 3);
    let acts: Vec<_> = g
        .operators
        .iter()
        .map(|o| match &o.options {
            Options::FullyConnected { activation, .. } => *activation,
            other => panic!("not FC options: {other:?}"),
        })
        .collect();
    use hone_tflite::Activation::{None as Linear, Relu};
    assert_eq!(acts, [Relu, Relu, Linear]);
    let first = &g.operators[0];
    let w = g.tensor(first.input(1).unwrap());
    assert_eq!(
        (w.shape.as_slice(), w.dtype),
        (&[16usize, 1][..], DType::I8)
    );
    assert_eq!(w.i8_data().unwrap().len(), 16);
    let b = g.tensor(first.input(2).unwrap());
    assert_eq!((b.dtype, b.i32_data().unwrap().len()), (DType::I32, 16));
}

#[test]
fn micro_speech_depthwise_has_depth_multiplier_8() {
    let (_, g) = load("tflm_micro_speech_quantized.tflite");
    let dw = g
        .operators
        .iter()
        .find_map(|o| match o.options {
            Options::DepthwiseConv2D {
                depth_multiplier, ..
            } => Some(depth_multiplier),
            _ => None,
        })
        .unwrap();
    assert_eq!(dw, 8);
}

#[test]
fn malformed_files_give_one_clear_error() {
    let (bytes, _) = load("tflm_hello_world_int8.tflite");
    assert_eq!(parse(&bytes[..4]), Err(ParseError::Truncated { len: 4 }));
    let mut wrong = bytes.clone();
    wrong[4..8].copy_from_slice(b"XXXX");
    assert_eq!(parse(&wrong), Err(ParseError::NotTflite));
    // Every truncation and many corruptions: an error or a graph, never a panic.
    for cut in (8..bytes.len()).step_by(7) {
        assert!(
            parse(&bytes[..cut]).is_err() || cut > bytes.len() - 64,
            "cut {cut}"
        );
    }
    for i in (8..bytes.len()).step_by(3) {
        let mut b = bytes.clone();
        b[i] ^= 0xa5;
        let _ = parse(&b);
    }
    // The root offset past the end names the part of the file.
    let mut b = bytes.clone();
    b[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = parse(&b).unwrap_err();
    assert!(matches!(e, ParseError::Flatbuffer { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("malformed TFLite flatbuffer: the model table"),
        "{e}"
    );
}

/// Found by the `tflite` fuzz target: dimensions whose product overflows made
/// `Tensor::elements` panic. Every 4-byte window of hello_world set to `i32::MAX` either fails
/// to parse with a typed error or gives tensors within `MAX_ELEMENTS`; some windows are
/// dimensions, and those are refused as too large.
#[test]
fn huge_dimensions_are_refused_not_overflowed() {
    let (bytes, _) = load("tflm_hello_world_int8.tflite");
    let mut too_large = 0;
    for at in 0..bytes.len() - 3 {
        let mut b = bytes.clone();
        b[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        match parse(&b) {
            Ok(g) => assert!(g
                .tensors
                .iter()
                .all(|t| t.elements() <= hone_tflite::MAX_ELEMENTS)),
            Err(ParseError::TooLarge { .. }) => too_large += 1,
            Err(_) => {}
        }
    }
    assert!(too_large > 0, "no window hit a dimension");
}
