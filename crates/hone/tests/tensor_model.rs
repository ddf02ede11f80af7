//! Tensor models (format version 3): load, run, refuse the other kind, and survive corruption.

use hone::format::{IoRec, HEADER_LEN};
use hone::ops::{fully_connected, FullyConnected, Op};
use hone::{Error, Invalid, Model, Steps, TensorModel, TensorRunner};
use hone_build::testutil::{tiny_model, tiny_tensor_model};
use hone_build::{BuildError, HostSteps, TensorModelBuilder};

fn run(blob: &[u8], x: &[i8]) -> Vec<i8> {
    let mut steps = HostSteps::new();
    let m = TensorModel::load(blob, &mut steps).unwrap();
    let mut scratch = vec![0u32; m.scratch_words()];
    let mut r = TensorRunner::new(&m, &mut scratch).unwrap();
    r.input_mut(0).unwrap().copy_from_slice(x);
    r.run();
    r.output(0).unwrap().to_vec()
}

#[test]
fn runs_the_ops_in_order_as_the_plain_kernels_do() {
    let blob = tiny_tensor_model().unwrap();
    let mut steps = HostSteps::new();
    let m = TensorModel::load(&blob, &mut steps).unwrap();
    assert_eq!(m.format_version(), 3);
    assert_eq!(m.input(0).unwrap().shape(), &[1, 6]);
    assert_eq!(m.output(0).unwrap().shape(), &[1, 3]);
    let ops: Vec<Op> = m.ops().collect();
    let fc = |i: usize| match ops[i] {
        Op::FullyConnected(f) => f,
        _ => panic!("op {i} is not FC"),
    };
    let (f1, f2) = (fc(0), fc(1));
    let t = |id| m.tensor(id).unwrap();
    for x in [[0i8; 6], [127; 6], [-128; 6], [5, -7, 100, -100, 3, 0]] {
        let mut h = vec![0i8; 8];
        let eval = |f: FullyConnected, x: &[i8], out: &mut [i8]| {
            let (n_in, n_out) = (x.len(), out.len());
            let zp = t(f.out).zero_point;
            let (w, b, mu, s) = (f.weights, f.bias, f.multipliers, f.shifts);
            fully_connected(x, n_in, w, b, mu, s, f.activation, zp, out, n_out);
        };
        eval(f1, &x, &mut h);
        let mut y = vec![0i8; 3];
        eval(f2, &h, &mut y);
        assert_eq!(run(&blob, &x), y, "input {x:?}");
    }
    // A runner reused across inputs gives the same as fresh ones.
    let mut scratch = vec![0u32; m.scratch_words()];
    let mut r = TensorRunner::new(&m, &mut scratch).unwrap();
    for x in [[1i8; 6], [-3; 6]] {
        r.input_mut(0).unwrap().copy_from_slice(&x);
        r.run();
        assert_eq!(r.output(0).unwrap(), &run(&blob, &x)[..]);
    }
    assert!(r.input_mut(1).is_none() && r.output(1).is_none());
}

#[test]
fn each_loader_refuses_the_other_kind() {
    let tensor = tiny_tensor_model().unwrap();
    let text = tiny_model().unwrap();
    assert!(matches!(
        Model::load(&tensor, &mut HostSteps::new()).err(),
        Some(Error::WrongKind(_))
    ));
    assert!(matches!(
        TensorModel::load(&text, &mut HostSteps::new()).err(),
        Some(Error::WrongKind(_))
    ));
}

#[test]
fn scratch_and_capacity_are_checked() {
    let blob = tiny_tensor_model().unwrap();
    assert!(matches!(
        TensorModel::load(&blob, &mut Steps::<1>::new()).err(),
        Some(Error::OpCapacity {
            ops: 2,
            capacity: 1
        })
    ));
    let mut steps = Steps::<2>::new();
    let m = TensorModel::load(&blob, &mut steps).unwrap();
    let mut small = vec![0u32; m.scratch_words() - 1];
    assert!(matches!(
        TensorRunner::new(&m, &mut small).err(),
        Some(Error::ScratchTooSmall { .. })
    ));
}

#[test]
fn a_shape_that_does_not_match_its_tensor_is_refused() {
    let mut b = TensorModelBuilder::new("bad");
    let x = b.tensor(4, 0.1, 0).unwrap();
    let y = b.tensor(2, 0.1, 0).unwrap();
    b.input(x, &[1, 5]).unwrap().output(y, &[1, 2]).unwrap();
    let (w, bias, m, s) = (
        vec![1u8; 8],
        vec![0u8; 8],
        [(1i32 << 30).to_le_bytes(); 2].concat(),
        vec![1u8; 2],
    );
    b.op(Op::FullyConnected(FullyConnected {
        input: x,
        out: y,
        weights: &w,
        bias: &bias,
        multipliers: &m,
        shifts: &s,
        activation: hone::ops::Activation::None,
    }));
    let err = b.build().unwrap_err();
    assert_eq!(
        err,
        BuildError::Invalid(Error::Invalid {
            op: u16::MAX,
            reason: Invalid::Shape
        })
    );
}

#[test]
fn io_records_round_trip_and_refuse_bad_ranks() {
    let r = IoRec {
        tensor: 7,
        dtype: hone::format::DType::I8,
        rank: 2,
        dims: [3, 5, 0, 0],
    };
    assert_eq!(IoRec::from_bytes(&r.to_bytes()), Some(r));
    assert_eq!(r.elements(), Some(15));
    let mut b = r.to_bytes();
    b[3] = 0; // rank 0
    assert_eq!(IoRec::from_bytes(&b), None);
    let mut b = r.to_bytes();
    b[12] = 1; // a dimension past the rank
    assert_eq!(IoRec::from_bytes(&b), None);
}

#[test]
fn corrupt_blobs_give_errors_never_panics() {
    let blob = tiny_tensor_model().unwrap();
    for cut in 0..blob.len() {
        assert!(TensorModel::load(&blob[..cut], &mut HostSteps::new()).is_err());
    }
    // Flip every payload byte (fixing the CRC): each load either fails or yields a model
    // that runs.
    for i in HEADER_LEN..blob.len() {
        let mut payload = blob[HEADER_LEN..].to_vec();
        payload[i - HEADER_LEN] ^= 0x5a;
        let b = hone_build::frame_version(&payload, 3);
        let mut steps = HostSteps::new();
        if let Ok(m) = TensorModel::load(&b, &mut steps) {
            let mut scratch = vec![0u32; m.scratch_words()];
            let mut r = TensorRunner::new(&m, &mut scratch).unwrap();
            r.run();
        }
    }
}

/// A depthwise convolution (3×3, depth multiplier 2, SAME padding) then a softmax, built and
/// loaded: the runner computes what the plain kernels compute; bad parameters are refused at
/// load with typed errors.
#[test]
fn depthwise_conv_and_softmax_load_run_and_refuse_bad_parameters() {
    use hone::ops::depthwise_conv2d::CHANNEL_REC_LEN;
    use hone::ops::{depthwise_conv2d, softmax, DepthwiseConv2d, Geometry, Softmax};
    let g = Geometry {
        input: [4, 3, 2],
        output: [4, 3],
        filter: [3, 3],
        depth_multiplier: 2,
        stride: [1, 1],
        dilation: [1, 1],
        pad: [1, 1],
    };
    let w: Vec<u8> = (0..36).map(|i| (i * 37 % 251) as u8).collect();
    let channels: Vec<u8> = (0..4)
        .flat_map(|c: i32| {
            let mut r = (c * 100 - 150).to_le_bytes().to_vec();
            r.extend((1_500_000_000i32 + c).to_le_bytes());
            r.push((-8i8) as u8);
            r
        })
        .collect();
    assert_eq!(channels.len(), 4 * CHANNEL_REC_LEN);
    let build = |g: Geometry, w: &[u8], out_zp: i8, act: [i8; 2]| {
        let mut b = TensorModelBuilder::new("dw");
        let x = b.tensor(24, 0.05, -3).unwrap();
        let h = b.tensor(48, 0.1, 4).unwrap();
        let y = b.tensor(48, 1.0 / 256.0, out_zp).unwrap();
        b.input(x, &[1, 4, 3, 2]).unwrap();
        b.output(y, &[1, 4, 3, 4]).unwrap();
        b.op(Op::DepthwiseConv2d(DepthwiseConv2d {
            input: x,
            out: h,
            geometry: g,
            weights: w,
            channels: &channels,
            act_min: act[0],
            act_max: act[1],
        }));
        b.op(Op::Softmax(Softmax {
            input: h,
            out: y,
            depth: 4,
            multiplier: 1_717_986_918,
            left_shift: 23,
        }));
        b.build()
    };
    let blob = build(g, &w, -128, [-128, 127]).unwrap();
    for x in [[-128i8; 24], [127; 24], [-3; 24]] {
        let mut h = [0i8; 48];
        depthwise_conv2d(&x, &g, &w, &channels, [-3, 4], [-128, 127], &mut h);
        let mut y = [0i8; 48];
        softmax(&h, 4, 1_717_986_918, 23, &mut y);
        assert_eq!(run(&blob, &x), y);
    }
    let refused = |r: Result<Vec<u8>, BuildError>, op: u16, reason: Invalid| {
        assert_eq!(
            r.unwrap_err(),
            BuildError::Invalid(Error::Invalid { op, reason })
        );
    };
    refused(build(g, &w[..35], -128, [-128, 127]), 0, Invalid::Length);
    refused(
        build(
            Geometry {
                depth_multiplier: 0,
                ..g
            },
            &w,
            -128,
            [-128, 127],
        ),
        0,
        Invalid::Shape,
    );
    refused(
        build(
            Geometry {
                output: [3, 3],
                ..g
            },
            &w,
            -128,
            [-128, 127],
        ),
        0,
        Invalid::Shape,
    );
    refused(
        build(
            Geometry {
                stride: [0, 1],
                ..g
            },
            &w,
            -128,
            [-128, 127],
        ),
        0,
        Invalid::Shape,
    );
    refused(build(g, &w, -128, [5, 4]), 0, Invalid::Quant);
    refused(build(g, &w, 0, [-128, 127]), 1, Invalid::Quant);
}

/// The tensor-model ops are format-3 ops, and only tensor models have them: a text model
/// holding one is refused as a version-2 blob (op version) and, by the op's own check, as a
/// version-3 blob (structure).
#[test]
fn text_models_refuse_the_tensor_model_ops() {
    use hone::format::{Kind, ModelDesc, OpsDesc, TENSOR_REC_LEN};
    use hone::ops::Softmax;
    let blob = tiny_model().unwrap();
    let version = u16::from_le_bytes([blob[4], blob[5]]);
    assert!(
        version < 3,
        "the tiny text model is written as an old version"
    );
    let desc: ModelDesc = postcard::from_bytes(&blob[HEADER_LEN..]).unwrap();
    // A new tensor (a copy of the last record) for the Softmax to write; it reads tensor 0.
    let n_tensors = (desc.tensors.len() / TENSOR_REC_LEN) as u16;
    let mut tensors = desc.tensors.to_vec();
    tensors.extend_from_slice(&desc.tensors[desc.tensors.len() - TENSOR_REC_LEN..]);
    // Re-encode the ops with the Softmax before the head.
    let mut ops = Vec::new();
    let mut rest = desc.ops.bytes;
    let mut decoded = Vec::new();
    while let Ok((op, r)) = postcard::take_from_bytes::<Op>(rest) {
        decoded.push(op);
        rest = r;
        if rest.is_empty() {
            break;
        }
    }
    let at = decoded.len() - 1;
    let softmax = Op::Softmax(Softmax {
        input: 0,
        out: n_tensors,
        depth: 1,
        multiplier: 1 << 30,
        left_shift: 0,
    });
    decoded.insert(at, softmax);
    for op in &decoded {
        ops = postcard::to_extend(op, ops).unwrap();
    }
    let desc = ModelDesc {
        tensors: &tensors,
        ops: OpsDesc {
            count: decoded.len() as u16,
            bytes: &ops,
        },
        ..desc
    };
    let payload = postcard::to_allocvec(&desc).unwrap();
    let v2 = hone_build::frame_version(&payload, 2);
    let reason = |b: &[u8]| match Model::load(b, &mut HostSteps::new()) {
        Err(Error::Invalid { op, reason }) => (op, reason),
        other => panic!("{other:?}"),
    };
    assert_eq!(reason(&v2), (at as u16, Invalid::OpVersion));
    let mut tagged = postcard::to_allocvec(&Kind::Text).unwrap();
    tagged.extend_from_slice(&payload);
    let v3 = hone_build::frame_version(&tagged, 3);
    assert_eq!(reason(&v3), (at as u16, Invalid::Structure));
}
