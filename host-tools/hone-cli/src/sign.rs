//! `hone keygen` and `hone sign`: Ed25519 keys and signed model envelopes
//! ([`hone::signed`] documents the format); [`open`] is how `inspect` reads an envelope.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use hone::signed::{self, Envelope};
use hone_build::signed::{public_key_from_file, Keypair};

/// Arguments of `hone keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for `hone.key` (secret) and `hone.pub` (public); created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing key pair (the old secret key is lost).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `hone sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The `.hone` blob to sign (unchanged inside the envelope).
    pub model: PathBuf,
    /// Secret key file (`hone.key` from `hone keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Model version: devices refuse a version lower than the last one they accepted.
    #[arg(long)]
    pub version: u32,
    /// Output file (the signed envelope).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `hone keygen`.
pub fn keygen(a: &KeygenArgs) -> Result<()> {
    let (sk, pk) = (a.out.join("hone.key"), a.out.join("hone.pub"));
    if !a.force {
        for p in [&sk, &pk] {
            if p.exists() {
                bail!(
                    "{} already exists: refusing to overwrite a key (pass --force to replace it)",
                    p.display()
                );
            }
        }
    }
    fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let k = Keypair::generate()?;
    write_secret(&sk, &k.secret_file())
        .with_context(|| format!("cannot write {}", sk.display()))?;
    fs::write(&pk, k.public_file()).with_context(|| format!("cannot write {}", pk.display()))?;
    outln!(
        "wrote {} (secret: keep it off devices) and {} (public key {})",
        sk.display(),
        pk.display(),
        hex(&k.public_bytes())
    );
    Ok(())
}

/// Writes a secret key readable by its owner only (where the platform has permissions).
fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(bytes)
}

/// `hone sign`.
pub fn sign(a: &SignArgs) -> Result<()> {
    let blob = crate::blob::read_valid(&a.model)?;
    let key = fs::read(&a.key).with_context(|| format!("cannot read {}", a.key.display()))?;
    let k = Keypair::from_secret_file(&key).with_context(|| a.key.display().to_string())?;
    let env = k.sign(&blob, a.version)?;
    fs::write(&a.output, &env).with_context(|| format!("cannot write {}", a.output.display()))?;
    outln!(
        "signed {} as version {}: {} ({} bytes, public key {})",
        a.model.display(),
        a.version,
        a.output.display(),
        env.len(),
        hex(&k.public_bytes())
    );
    Ok(())
}

/// What `inspect` knows about a signed envelope.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SignedInfo {
    /// Signed model version.
    pub version: u32,
    /// Whether the signature was checked (with `--public-key`) and is good.
    pub verified: bool,
}

/// Reads `bytes` as a model for `inspect`: a bare blob as is; a signed envelope verified
/// with `public_key` if given (an error if it does not verify), else unverified. Asking to
/// verify a bare blob is an error.
pub fn open<'a>(
    bytes: &'a [u8],
    public_key: Option<&Path>,
) -> Result<(&'a [u8], Option<SignedInfo>)> {
    let is_envelope = bytes.starts_with(&signed::MAGIC);
    match (public_key, is_envelope) {
        (None, false) => Ok((bytes, None)),
        (Some(_), false) => {
            bail!("not a signed model (no HNSG envelope) but --public-key was given")
        }
        (None, true) => {
            let e = Envelope::parse(bytes)?;
            let info = SignedInfo {
                version: e.header().version,
                verified: false,
            };
            Ok((e.payload(), Some(info)))
        }
        (Some(p), true) => {
            let raw = fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            let key = public_key_from_file(&raw).with_context(|| p.display().to_string())?;
            let v = signed::open(bytes, &key, None)?;
            let info = SignedInfo {
                version: v.version,
                verified: true,
            };
            Ok((v.payload, Some(info)))
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
