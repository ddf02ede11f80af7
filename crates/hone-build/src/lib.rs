//! # hone-build
//!
//! Host-side construction of `.hone` model blobs for the [`hone`] runtime: the blob builder
//! and arena planner ([`ModelBuilder`]), quantisation in f64 for exporters ([`quant`]), and
//! small deterministic test models ([`testutil`]) used by tests, docs, golden vectors and
//! firmware bring-up. None of this runs on a device: the runtime crate only reads blobs.

pub mod builder;
pub mod quant;
pub mod testutil;

pub use builder::{
    frame, frame_version, sort_vocab, str_table, BuildError, ModelBuilder, TokenizerSpec,
};
pub use quant::{
    add_params, asymmetric, f32_bytes, fc_add_norm_params, fc_params, i8_bytes, lut_table,
    multiplier, multiplier_value, quantize_multiplier, quantize_rows, round_f64, FcBytes,
};
