//! Picks the board from the target (thumbv7em → mps2-an386, thumbv6m → micro:bit), puts its
//! memory map in OUT_DIR as `memory.x` (per-board files have distinct names so none of them
//! shadows it), and links with cortex-m-rt's and defmt's linker scripts.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let board = if target.starts_with("thumbv6m") {
        "microbit"
    } else {
        "mps2"
    };
    println!("cargo::rustc-check-cfg=cfg(board, values(\"mps2\", \"microbit\"))");
    println!("cargo:rustc-cfg=board=\"{board}\"");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory = format!("memory-{board}.x");
    fs::copy(&memory, out.join("memory.x")).expect("copy memory map");
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
