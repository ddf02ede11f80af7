//! Copies the blobs the firmware embeds into OUT_DIR:
//! `HONE_FW_GOLDEN` (a golden file from `hone golden`) and `HONE_FW_MODEL` (a model blob).
//! An unset variable embeds an empty blob; the firmware then reports that nothing was embedded.
use std::{env, fs, path::PathBuf};

fn main() {
    // `cfg(armv6m)`: Cortex-M0/M0+ (no DWT cycle counter, no atomic read-modify-write).
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) {
        println!("cargo:rustc-cfg=armv6m");
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (var, name) in [
        ("HONE_FW_GOLDEN", "golden.bin"),
        ("HONE_FW_MODEL", "model.hone"),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        let bytes = match env::var_os(var) {
            Some(path) if !path.is_empty() => {
                println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
                fs::read(&path).unwrap_or_else(|e| panic!("{var}={path:?}: {e}"))
            }
            _ => Vec::new(),
        };
        fs::write(out.join(name), bytes).expect("write OUT_DIR blob");
    }
}
