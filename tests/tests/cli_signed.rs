//! `hone keygen`, `hone sign` and `hone inspect --public-key`: a signed model verifies and
//! shows its version; a tampered model or signature, a wrong key, a truncated envelope, a key
//! of the wrong kind and an existing key pair are refused with status 1 and a clear message.

use std::{fs, path::Path};

use hone_tests::fixtures::{hone, hone_ok, scratch_dir};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `hone args`, expects status 1 without a panic, and returns stderr.
fn fails(args: &[&str]) -> String {
    let out = hone(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "hone {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn keygen_sign_inspect_and_every_refusal() {
    let dir = scratch_dir("cli-signed");
    let model = dir.join("model.hone");
    fs::write(&model, hone_build::testutil::tiny_model().unwrap()).unwrap();
    let keys = dir.join("keys");
    let out = hone_ok(&["keygen", "--out", s(&keys)]);
    assert!(
        out.contains("hone.key") && out.contains("hone.pub"),
        "{out}"
    );
    let (sk, pk) = (keys.join("hone.key"), keys.join("hone.pub"));
    assert_eq!(fs::read(&sk).unwrap().len(), 36);
    assert_eq!(fs::read(&pk).unwrap().len(), 36);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&sk).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "secret key readable by others: {mode:o}");
    }

    // An existing key is not overwritten without --force.
    let before = fs::read(&sk).unwrap();
    let err = fails(&["keygen", "--out", s(&keys)]);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(fs::read(&sk).unwrap(), before);

    let signed = dir.join("signed.hone");
    let out = hone_ok(&[
        "sign",
        s(&model),
        "--key",
        s(&sk),
        "--version",
        "12",
        "-o",
        s(&signed),
    ]);
    assert!(out.contains("version 12"), "{out}");
    let env = fs::read(&signed).unwrap();
    assert_eq!(&env[..4], b"HNSG");
    assert_eq!(env.len(), fs::read(&model).unwrap().len() + 80);

    let out = hone_ok(&["inspect", s(&signed), "--public-key", s(&pk)]);
    assert!(
        out.contains("signed model version 12: signature verified"),
        "{out}"
    );
    let json = hone_ok(&["inspect", s(&signed), "--public-key", s(&pk), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["signed"]["version"], 12);
    assert_eq!(v["signed"]["verified"], true);
    // Without a key the envelope is read but says it was not verified.
    let out = hone_ok(&["inspect", s(&signed)]);
    assert!(out.contains("NOT verified"), "{out}");

    // Tampered payload, tampered signature.
    for (name, at) in [("payload", 16 + 40), ("signature", env.len() - 5)] {
        let mut t = env.clone();
        t[at] ^= 0x10;
        let p = dir.join(format!("tampered-{name}.hone"));
        fs::write(&p, &t).unwrap();
        let err = fails(&["inspect", s(&p), "--public-key", s(&pk)]);
        assert!(err.contains("bad signature"), "{name}: {err}");
    }
    // A wrong key.
    let other = dir.join("other");
    hone_ok(&["keygen", "--out", s(&other)]);
    let err = fails(&[
        "inspect",
        s(&signed),
        "--public-key",
        s(&other.join("hone.pub")),
    ]);
    assert!(err.contains("bad signature"), "{err}");
    // Truncated envelopes.
    for len in [0, 3, 20, env.len() - 1] {
        let p = dir.join("truncated.hone");
        fs::write(&p, &env[..len]).unwrap();
        let err = fails(&["inspect", s(&p), "--public-key", s(&pk)]);
        assert!(
            err.contains("truncated") || (len == 0 && err.contains("not a signed model")),
            "{len}: {err}"
        );
    }
    // Keys of the wrong kind, a bare blob with --public-key, signing twice, a bad blob.
    let err = fails(&["inspect", s(&signed), "--public-key", s(&sk)]);
    assert!(err.contains("it is a secret key"), "{err}");
    let x = dir.join("x.hone");
    let err = fails(&[
        "sign",
        s(&model),
        "--key",
        s(&pk),
        "--version",
        "1",
        "-o",
        s(&x),
    ]);
    assert!(err.contains("it is a public key"), "{err}");
    let err = fails(&["inspect", s(&model), "--public-key", s(&pk)]);
    assert!(err.contains("not a signed model"), "{err}");
    let err = fails(&[
        "sign",
        s(&signed),
        "--key",
        s(&sk),
        "--version",
        "1",
        "-o",
        s(&x),
    ]);
    assert!(err.contains("cannot load"), "{err}");
    assert!(!x.exists());

    // --force replaces the pair.
    hone_ok(&["keygen", "--out", s(&keys), "--force"]);
    assert_ne!(fs::read(&sk).unwrap(), before);
}
