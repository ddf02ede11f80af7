#![no_std]
#![cfg_attr(not(hone_dsp), forbid(unsafe_code))]
// Arm DSP builds: `unsafe` only in the `#[allow(unsafe_code)]` module `kernels::arm_dsp`.
#![cfg_attr(hone_dsp, deny(unsafe_code))]

pub mod kernels;
pub mod tokenizer;
