//! Puts the mps2-an386 memory map in OUT_DIR as `memory.x` and links with cortex-m-rt's and
//! defmt's linker scripts.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory-mps2.x", out.join("memory.x")).expect("copy memory map");
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
