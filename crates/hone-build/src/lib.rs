//! # hone-build
//!
//! Host-side construction of `.hone` model blobs for the [`hone`] runtime: the blob builder
//! and arena planner ([`ModelBuilder`]), quantisation in f64 for exporters ([`quant`]),
//! small deterministic test models ([`testutil`]) used by tests, docs, golden vectors and
//! firmware bring-up, Ed25519 keys and signed envelopes for model updates ([`signed`]), and
//! a NOR flash simulated in memory ([`flash`]) for the persistence of adaptation. None of
//! this runs on a device: the runtime crate only reads blobs.

pub mod builder;
pub mod flash;
pub mod quant;
pub mod signed;
pub mod tensor_builder;
pub mod testutil;

/// Operation capacity of the models loaded on the host (tools, exporters, golden vectors): large
/// enough for any model the exporters and importers write (a 12-layer transformer has about
/// 100 operations). Device firmware sizes its capacity to the blob it embeds instead.
pub const HOST_OPS: usize = 256;

/// The table of checked operations host tools load models with: [`hone::Steps`] of
/// [`HOST_OPS`] capacity (`let mut steps = HostSteps::new(); Model::load(blob, &mut steps)`).
pub type HostSteps<'a> = hone::Steps<'a, HOST_OPS>;

pub use builder::{
    frame, frame_version, sort_vocab, str_table, BuildError, ModelBuilder, TokenizerSpec,
};
pub use quant::{
    add_params, asymmetric, f32_bytes, fc_add_norm_params, fc_params, i8_bytes, lut_table,
    multiplier, multiplier_value, quantize_multiplier, quantize_rows, round_f64, FcBytes,
};
pub use tensor_builder::TensorModelBuilder;
