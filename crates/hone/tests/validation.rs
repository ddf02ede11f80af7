//! The loader rejects inconsistent graphs with the specific reason, and the exporter's arena
//! plan reuses memory between tensors whose lifetimes do not overlap.

use hone::format::Multiplier;
use hone::ops::{Activation, Op, PoolKind};
use hone::{Error, Invalid, Model};
use hone_build::testutil::{tiny_transformer, vocab};
use hone_build::HostSteps;
use hone_build::{BuildError, ModelBuilder, TokenizerSpec};

fn spec() -> TokenizerSpec {
    let vocab = vocab();
    let unk = vocab.iter().position(|t| t == "[UNK]").unwrap() as u16;
    TokenizerSpec {
        vocab,
        lowercase: true,
        strip_accents: true,
        unk,
        cls: None,
        sep: None,
        max_chars_per_word: 100,
    }
}

const ONE: Multiplier = Multiplier {
    multiplier: 1 << 30,
    shift: 1,
};

/// Builds `embedding → pool → [fc] → head` with the given FC weights/multiplier, returning
/// the loader's verdict.
fn build(
    fc_weights: usize,
    fc_shift: i8,
    head_cols_extra: usize,
    pool_out_per_token: bool,
) -> Result<Vec<u8>, BuildError> {
    let d = 4usize;
    let v = vocab().len();
    let table = vec![1u8; v * d];
    let w = vec![1u8; fc_weights];
    let bias = vec![0u8; 4 * 3];
    let mults: Vec<u8> = (0..3).flat_map(|_| (1i32 << 30).to_le_bytes()).collect();
    let shifts = vec![fc_shift as u8; 3];
    let head_w = vec![0u8; 4 * 2 * (3 + head_cols_extra)];
    let head_b = vec![0u8; 8];
    let mut b = ModelBuilder::new("t", 8, vec!["a".into(), "b".into()], spec());
    let e = b.tensor(true, d as u16, 0.1, 0);
    let p = b.tensor(pool_out_per_token, d as u16, 0.1, 0);
    let h = b.tensor(false, 3, 0.1, 0);
    b.op(Op::Embedding(hone::ops::Embedding {
        out: e,
        table: &table,
        token_scale: 0.1,
        row_requant: None,
        positions: None,
    }))
    .op(Op::Pool(hone::ops::Pool {
        input: e,
        out: p,
        kind: PoolKind::Mean,
        rescale: ONE,
    }))
    .op(Op::FullyConnected(hone::ops::FullyConnected {
        input: p,
        out: h,
        weights: &w,
        bias: &bias,
        multipliers: &mults,
        shifts: &shifts,
        activation: Activation::None,
    }))
    .op(Op::Head(hone::ops::Head {
        input: h,
        weights: &head_w,
        bias: &head_b,
        normalize: false,
    }));
    b.build()
}

fn reason(r: Result<Vec<u8>, BuildError>) -> Invalid {
    match r {
        Err(BuildError::Invalid(Error::Invalid { reason, .. })) => reason,
        other => panic!("expected an invalid model, got {other:?}"),
    }
}

#[test]
fn a_consistent_graph_loads() {
    let blob = build(12, 0, 0, false).unwrap();
    assert_eq!(
        Model::load(&blob, &mut HostSteps::new())
            .unwrap()
            .num_classes(),
        2
    );
}

#[test]
fn wrong_lengths_shapes_and_quantisation_are_named() {
    assert_eq!(reason(build(11, 0, 0, false)), Invalid::Length);
    assert_eq!(reason(build(12, 0, 1, false)), Invalid::Length);
    assert_eq!(reason(build(12, 31, 0, false)), Invalid::Quant);
    assert_eq!(reason(build(12, 0, 0, true)), Invalid::Shape);
}

#[test]
fn structure_and_order_are_checked() {
    let v = vocab().len();
    let table = vec![0u8; v * 4];
    let head_w = vec![0u8; 4 * 4];
    let head_b = vec![0u8; 4];
    // Head reading a tensor nobody wrote.
    let mut b = ModelBuilder::new("t", 8, vec!["a".into()], spec());
    let e = b.tensor(true, 4, 0.1, 0);
    let p = b.tensor(false, 4, 0.1, 0);
    b.op(Op::Embedding(hone::ops::Embedding {
        out: e,
        table: &table,
        token_scale: 0.1,
        row_requant: None,
        positions: None,
    }))
    .op(Op::Head(hone::ops::Head {
        input: p,
        weights: &head_w,
        bias: &head_b,
        normalize: false,
    }));
    assert_eq!(reason(b.build()), Invalid::Order);
    // No embedding first.
    let mut b = ModelBuilder::new("t", 8, vec!["a".into()], spec());
    let p = b.tensor(false, 4, 0.1, 0);
    b.op(Op::Head(hone::ops::Head {
        input: p,
        weights: &head_w,
        bias: &head_b,
        normalize: false,
    }));
    assert!(matches!(
        b.build(),
        Err(BuildError::Invalid(Error::Invalid {
            reason: Invalid::Structure,
            ..
        }))
    ));
    // Labels must match the head rows.
    let mut b = ModelBuilder::new("t", 8, vec!["a".into(), "b".into()], spec());
    let e = b.tensor(true, 4, 0.1, 0);
    let p = b.tensor(false, 4, 0.1, 0);
    b.op(Op::Embedding(hone::ops::Embedding {
        out: e,
        table: &table,
        token_scale: 0.1,
        row_requant: None,
        positions: None,
    }))
    .op(Op::Pool(hone::ops::Pool {
        input: e,
        out: p,
        kind: PoolKind::Mean,
        rescale: ONE,
    }))
    .op(Op::Head(hone::ops::Head {
        input: p,
        weights: &head_w,
        bias: &head_b,
        normalize: false,
    }));
    assert_eq!(reason(b.build()), Invalid::Labels);
}

#[test]
fn arena_plan_reuses_memory_and_overlaps_are_refused() {
    let blob = tiny_transformer().unwrap();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let total: usize = (0..m.num_tensors() as u16)
        .map(|i| {
            let t = m.tensor(i).unwrap();
            (if t.per_token { m.max_len() } else { 1 }) * usize::from(t.cols)
        })
        .sum();
    assert!(
        m.arena_bytes() * 2 < total,
        "arena {} vs {total} bytes of tensors",
        m.arena_bytes()
    );
    // Move every tensor to offset 0: the loader must find the clash.
    let mut desc = m.desc().clone();
    let mut recs = desc.tensors.to_vec();
    for r in recs.chunks_mut(12) {
        r[..4].copy_from_slice(&0u32.to_le_bytes());
    }
    desc.tensors = &recs;
    let err = Model::from_desc(desc, &mut HostSteps::new()).err().unwrap();
    assert!(
        matches!(
            err,
            Error::Invalid {
                reason: Invalid::Overlap,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Variations of an `FcAddNorm` graph (`embedding → FcAddNorm → pool → head`).
#[derive(Clone, Copy)]
struct Fused {
    weights: usize,
    scales: usize,
    gamma: usize,
    scale: f32,
    eps: f32,
    residual_cols: u16,
}

const FUSED_OK: Fused = Fused {
    weights: 4 * 4,
    scales: 4,
    gamma: 4,
    scale: 0.01,
    eps: 1e-12,
    residual_cols: 4,
};

fn build_fused(f: Fused) -> Result<Vec<u8>, BuildError> {
    let d = 4u16;
    let table = vec![1u8; vocab().len() * 4];
    let w = vec![3u8; f.weights];
    let bias = vec![0u8; 16];
    let f32s = |n: usize, v: f32| -> Vec<u8> { (0..n).flat_map(|_| v.to_le_bytes()).collect() };
    let (scales, gamma, beta) = (f32s(f.scales, f.scale), f32s(f.gamma, 1.0), f32s(4, 0.0));
    let head_w = vec![0u8; 4 * 2 * 4];
    let mut b = ModelBuilder::new("t", 8, vec!["a".into(), "b".into()], spec());
    let e = b.tensor(true, d, 0.1, 0);
    let r = b.tensor(true, f.residual_cols, 0.1, 0);
    let x = b.tensor(true, d, 0.05, 0);
    let p = b.tensor(false, d, 0.05, 0);
    b.op(Op::Embedding(hone::ops::Embedding {
        out: e,
        table: &table,
        token_scale: 0.1,
        row_requant: None,
        positions: None,
    }));
    if f.residual_cols != d {
        // A residual of another width, written by an op that allows it.
        b.op(Op::FullyConnected(hone::ops::FullyConnected {
            input: e,
            out: r,
            weights: &vec![1u8; 4 * usize::from(f.residual_cols)],
            bias: &vec![0u8; 4 * usize::from(f.residual_cols)],
            multipliers: &(0..f.residual_cols)
                .flat_map(|_| (1i32 << 30).to_le_bytes())
                .collect::<Vec<_>>(),
            shifts: &vec![1u8; usize::from(f.residual_cols)],
            activation: Activation::None,
        }));
    }
    let residual = if f.residual_cols == d { e } else { r };
    b.op(Op::FcAddNorm(hone::ops::FcAddNorm {
        input: e,
        residual,
        out: x,
        weights: &w,
        bias: &bias,
        scales: &scales,
        gamma: &gamma,
        beta: &beta,
        eps: f.eps,
    }))
    .op(Op::Pool(hone::ops::Pool {
        input: x,
        out: p,
        kind: PoolKind::First,
        rescale: ONE,
    }))
    .op(Op::Head(hone::ops::Head {
        input: p,
        weights: &head_w,
        bias: &[0u8; 8],
        normalize: false,
    }));
    assert_eq!(b.version(), 2);
    b.build()
}

#[test]
fn fc_add_norm_parameters_are_checked() {
    let blob = build_fused(FUSED_OK).expect("consistent fused graph");
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    assert_eq!(m.format_version(), 2);
    // Scratch: 8 token ids (4 words), the arena, the fused op's f32 row (4), features (4),
    // logits (2). No attention, so the row is what sizes the f32 workspace.
    assert_eq!(m.scratch_words(), 4 + m.arena_bytes() / 4 + 4 + 4 + 2);
    let mut scratch = vec![0u32; m.scratch_words()];
    assert!(m.classify("turn the lights off", &mut scratch).is_ok());
    let bad = |f: Fused| reason(build_fused(f));
    assert_eq!(
        bad(Fused {
            weights: 15,
            ..FUSED_OK
        }),
        Invalid::Length
    );
    assert_eq!(
        bad(Fused {
            scales: 3,
            ..FUSED_OK
        }),
        Invalid::Length
    );
    assert_eq!(
        bad(Fused {
            gamma: 5,
            ..FUSED_OK
        }),
        Invalid::Length
    );
    assert_eq!(
        bad(Fused {
            scale: f32::NAN,
            ..FUSED_OK
        }),
        Invalid::Quant
    );
    assert_eq!(
        bad(Fused {
            scale: -0.5,
            ..FUSED_OK
        }),
        Invalid::Quant
    );
    assert_eq!(
        bad(Fused {
            scale: 1e9,
            ..FUSED_OK
        }),
        Invalid::Quant
    );
    assert_eq!(
        bad(Fused {
            eps: -1.0,
            ..FUSED_OK
        }),
        Invalid::Quant
    );
    assert_eq!(
        bad(Fused {
            residual_cols: 3,
            ..FUSED_OK
        }),
        Invalid::Shape
    );
}

#[test]
fn fc_add_norm_output_must_not_overlap_its_residual() {
    let blob = build_fused(FUSED_OK).unwrap();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let (residual, out) = match m.ops().nth(1) {
        Some(Op::FcAddNorm(hone::ops::FcAddNorm { residual, out, .. })) => (residual, out),
        other => panic!("{other:?}"),
    };
    let mut desc = m.desc().clone();
    let mut recs = desc.tensors.to_vec();
    let at = m.tensor(residual).unwrap().offset.to_le_bytes();
    recs[usize::from(out) * 12..][..4].copy_from_slice(&at);
    desc.tensors = &recs;
    assert_eq!(
        Model::from_desc(desc, &mut HostSteps::new()).err(),
        Some(Error::Invalid {
            op: 1,
            reason: Invalid::Overlap
        })
    );
}
