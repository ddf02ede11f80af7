//! Copies the blobs the firmware embeds into OUT_DIR:
//! `HONE_FW_GOLDEN` (a golden file from `hone golden`) and `HONE_FW_MODEL` (a model blob).
//! An unset variable embeds an empty blob; the firmware then reports that nothing was embedded.
//! Also writes `scratch.rs`: the model's exact inference scratch size (`SCRATCH_WORDS`), its
//! feature length (`FEATURES`, the adaptation state's feature capacity), its number of
//! classes (`CLASSES`) and of operations (`OPS`, the capacity of `hone::Model`'s table of
//! checked ops), so the firmware reserves exactly what the model needs.
//!
//! `cfg(hone_fw_adapt)`: the adaptation state is linked (every target but `thumbv6m`, whose
//! 16 KiB micro:bit has no room for it).
use std::{env, fs, path::PathBuf};

fn main() {
    // `cfg(armv6m)`: Cortex-M0/M0+ (no DWT cycle counter, no atomic read-modify-write).
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    println!("cargo::rustc-check-cfg=cfg(hone_fw_adapt)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) {
        println!("cargo:rustc-cfg=armv6m");
    } else {
        println!("cargo:rustc-cfg=hone_fw_adapt");
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
        if name == "model.hone" {
            let (words, features, classes, ops) = if bytes.is_empty() {
                (0, 0, 0, 2)
            } else {
                let mut steps = hone::Steps::<1024>::new();
                let m = hone::Model::load(&bytes, &mut steps)
                    .unwrap_or_else(|e| panic!("{var}: invalid model: {e:?}"));
                (
                    m.scratch_words(),
                    m.feature_dim(),
                    m.num_classes(),
                    m.op_count(),
                )
            };
            fs::write(
                out.join("scratch.rs"),
                format!(
                    "/// Inference scratch of the embedded model, in words.\n\
                     pub const SCRATCH_WORDS: usize = {words};\n\
                     /// Feature length of the embedded model (0 without one).\n\
                     pub const FEATURES: usize = {features};\n\
                     /// Pre-trained classes of the embedded model (0 without one).\n\
                     pub const CLASSES: usize = {classes};\n\
                     /// Operations of the embedded model (the capacity of its table of checked ops).\n\
                     pub const OPS: usize = {ops};\n"
                ),
            )
            .expect("write scratch.rs");
        }
        fs::write(out.join(name), bytes).expect("write OUT_DIR blob");
    }
}
