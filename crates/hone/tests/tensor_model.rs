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
