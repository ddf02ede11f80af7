//! Build script: selects the optimised integer kernels at compile time.
//!
//! Stable rustc does not expose Arm target features (such as `dsp`) to `cfg`, so the DSP
//! kernels are keyed on the target name instead: `thumbv7em-*` (Cortex-M4/M7, ARMv7E-M, which
//! always has the DSP extension) sets `cfg(hone_dsp)`. Every other target, including
//! `thumbv6m-*` and `thumbv7m-*`, uses the portable kernels.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(hone_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "arm" && target.starts_with("thumbv7em-") {
        println!("cargo::rustc-cfg=hone_dsp");
    }
}
