#![no_std]
#![forbid(unsafe_code)]

pub mod kernels;
pub mod tokenizer;
