//! Copies the blobs the firmware embeds into OUT_DIR:
//! `HONE_FW_GOLDEN` (a golden file from `hone golden`) and `HONE_FW_MODEL` (a model blob).
//! An unset variable embeds an empty blob; the firmware then reports that nothing was embedded.
//! Also writes `scratch.rs`: the model's exact inference scratch size (`SCRATCH_WORDS`), its
//! feature length (`FEATURES`, the adaptation state's feature capacity), its number of
//! classes (`CLASSES`) and of operations (`OPS`, the capacity of `hone::Model`'s table of
//! checked ops), so the firmware reserves exactly what the model needs.
//!
//! `HONE_FW_PUBKEY` (a `hone.pub` from `hone keygen`): the firmware is built with this
//! public key (`pubkey.bin`) and `cfg(hone_fw_signed)`; the embedded model is then a signed
//! envelope (`hone sign`), verified at boot. Its sizes come from the payload; a payload that
//! does not load (tampered) gets no-model sizes, and the device refuses it at boot.
//! `HONE_FW_ACCEPTED` (tests): a version the device records as already accepted before it
//! checks the embedded envelope, as if an earlier update had been installed.
//!
//! `cfg(hone_fw_adapt)`: the adaptation state is linked (every target but `thumbv6m`, whose
//! 16 KiB micro:bit has no room for it).
use std::{env, fs, path::PathBuf};

fn main() {
    // `cfg(armv6m)`: Cortex-M0/M0+ (no DWT cycle counter, no atomic read-modify-write).
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    println!("cargo::rustc-check-cfg=cfg(hone_fw_adapt)");
    println!("cargo::rustc-check-cfg=cfg(hone_fw_signed)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) {
        println!("cargo:rustc-cfg=armv6m");
    } else {
        println!("cargo:rustc-cfg=hone_fw_adapt");
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let signed = public_key(&out);
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
            let none = (0, 0, 0, 2);
            let mut steps = hone::Steps::<1024>::new();
            let (words, features, classes, ops) = if bytes.is_empty() {
                none
            } else if signed {
                let env = hone::signed::Envelope::parse(&bytes)
                    .unwrap_or_else(|e| panic!("{var}: not a signed envelope: {e}"));
                match hone::Model::load(env.payload(), &mut steps) {
                    Ok(m) => sizes(&m),
                    Err(e) => {
                        println!("cargo:warning={var}: payload does not load ({e}); embedded anyway, the device will refuse it");
                        none
                    }
                }
            } else {
                let m = hone::Model::load(&bytes, &mut steps)
                    .unwrap_or_else(|e| panic!("{var}: invalid model: {e:?}"));
                sizes(&m)
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

fn sizes(m: &hone::Model<'_>) -> (usize, usize, usize, usize) {
    (
        m.scratch_words(),
        m.feature_dim(),
        m.num_classes(),
        m.op_count(),
    )
}

/// Writes `pubkey.bin` and `accepted.rs`; returns whether the build checks signatures.
fn public_key(out: &std::path::Path) -> bool {
    println!("cargo:rerun-if-env-changed=HONE_FW_PUBKEY");
    println!("cargo:rerun-if-env-changed=HONE_FW_ACCEPTED");
    let key = match env::var_os("HONE_FW_PUBKEY") {
        Some(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            let raw = fs::read(&path).unwrap_or_else(|e| panic!("HONE_FW_PUBKEY={path:?}: {e}"));
            match raw.split_first_chunk::<4>() {
                Some((b"HNPK", k)) if k.len() == 32 => {
                    hone::signed::PublicKey::from_bytes(k.try_into().expect("32 bytes"))
                        .unwrap_or_else(|e| panic!("HONE_FW_PUBKEY: {e}"));
                    Some(k.to_vec())
                }
                _ => panic!("HONE_FW_PUBKEY={path:?}: not a hone public key file (hone keygen)"),
            }
        }
        _ => None,
    };
    let accepted = match env::var("HONE_FW_ACCEPTED") {
        Ok(v) if !v.is_empty() => {
            let n: u32 = v
                .parse()
                .unwrap_or_else(|e| panic!("HONE_FW_ACCEPTED={v}: {e}"));
            format!("Some({n})")
        }
        _ => "None".into(),
    };
    fs::write(
        out.join("accepted.rs"),
        format!(
            "/// Version recorded as accepted before the boot check (tests; `None` normally).\n\
             pub const PRESET_ACCEPTED: Option<u32> = {accepted};\n"
        ),
    )
    .expect("write accepted.rs");
    let signed = key.is_some();
    fs::write(out.join("pubkey.bin"), key.unwrap_or_default()).expect("write pubkey.bin");
    if signed {
        println!("cargo:rustc-cfg=hone_fw_signed");
    }
    signed
}
