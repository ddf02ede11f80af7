//! Signed model updates: an Ed25519-signed envelope around an unmodified `.hone` blob, with
//! rollback protection (feature `signed`).
//!
//! # Envelope format (version 1)
//!
//! All integers little-endian.
//!
//! | offset     | size | field                                                      |
//! |------------|------|------------------------------------------------------------|
//! | 0          | 4    | magic `HNSG`                                               |
//! | 4          | 2    | envelope format, [`FORMAT`] (1)                            |
//! | 6          | 2    | reserved, must be 0                                        |
//! | 8          | 4    | model version (u32), compared for rollback protection     |
//! | 12         | 4    | payload length `L` (u32)                                   |
//! | 16         | `L`  | payload: the `.hone` blob, byte for byte                   |
//! | 16 + `L`   | 64   | Ed25519 signature                                          |
//!
//! The envelope is exactly `80 + L` bytes; anything shorter is [`SignedError::Truncated`],
//! anything longer [`SignedError::TrailingBytes`]. The payload starts 16 bytes in, so a blob
//! embedded 16-byte aligned keeps its alignment and is used in place.
//!
//! The signature is Ed25519ph (RFC 8032 §5.1, pre-hashed with SHA-512) with the context
//! string [`CONTEXT`], over bytes `[0, 16 + L)`: the whole header (magic, format, reserved
//! bytes, version, length) and the payload. The context separates this use of the key from
//! any other; pre-hashing lets a signer or verifier stream the payload. Verification is
//! strict (`verify_strict`: non-canonical and small-order points are refused).
//!
//! # Use
//!
//! [`open`] checks the structure, the signature against a public key the caller holds (on a
//! device: compiled into the firmware), then the version against the last accepted one, and
//! returns the payload as a sub-slice of the envelope (zero-copy); the caller then loads it
//! with [`crate::Model::load`] and, once it is in use, records its version with
//! [`crate::adapt::persist::AcceptedVersion::accept`]. A version equal to the accepted one
//! is allowed (the same update boots again); a lower one is [`SignedError::VersionRollback`].
//!
//! No input panics; nothing is allocated.

use core::fmt;

use ed25519_dalek::{Digest, Sha512, Signature, VerifyingKey};

/// Envelope magic, `HNSG` in byte order.
pub const MAGIC: [u8; 4] = *b"HNSG";
/// Envelope format version this crate reads and writes.
pub const FORMAT: u16 = 1;
/// Header length: magic, format, reserved, version, payload length.
pub const HEADER_LEN: usize = 16;
/// Ed25519 signature length.
pub const SIGNATURE_LEN: usize = 64;
/// Ed25519 public key length.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Envelope bytes around the payload.
pub const OVERHEAD: usize = HEADER_LEN + SIGNATURE_LEN;
/// Ed25519ph context string (domain separation).
pub const CONTEXT: &[u8] = b"hone signed model v1";

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignedError {
    /// Does not start with [`MAGIC`] (not a signed envelope; perhaps a bare `.hone` blob).
    BadMagic,
    /// An envelope format this crate does not read (or non-zero reserved bytes).
    UnsupportedFormat(u16),
    /// Shorter than its header says: `needed` bytes, `got`.
    Truncated {
        /// Bytes the header (or the minimum envelope) needs.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// Bytes after the signature.
    TrailingBytes,
    /// The public key is not a valid Ed25519 point.
    BadKey,
    /// The signature does not verify with this key (tampered header, payload or signature,
    /// or signed with another key).
    BadSignature,
    /// Authentic, but older than the last accepted version.
    VersionRollback {
        /// Version of the envelope.
        got: u32,
        /// Last accepted version.
        accepted: u32,
    },
}

impl fmt::Display for SignedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SignedError::BadMagic => f.write_str("not a signed model (bad magic)"),
            SignedError::UnsupportedFormat(v) => {
                write!(f, "unsupported signed envelope format {v}")
            }
            SignedError::Truncated { needed, got } => {
                write!(f, "truncated signed envelope: {got} bytes, needs {needed}")
            }
            SignedError::TrailingBytes => f.write_str("bytes after the envelope's signature"),
            SignedError::BadKey => f.write_str("invalid Ed25519 public key"),
            SignedError::BadSignature => {
                f.write_str("bad signature (tampered, or signed with another key)")
            }
            SignedError::VersionRollback { got, accepted } => write!(
                f,
                "version rollback: model version {got} is lower than the accepted version {accepted}"
            ),
        }
    }
}

impl core::error::Error for SignedError {}

/// An Ed25519 public key, checked once (decompressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses a 32-byte Ed25519 public key; [`SignedError::BadKey`] if it is not a point
    /// or is of small order (a weak key any signature could match).
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, SignedError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| SignedError::BadKey)?;
        if key.is_weak() {
            return Err(SignedError::BadKey);
        }
        Ok(Self(key))
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.to_bytes()
    }
}

/// The parsed, not yet verified, header of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Model version.
    pub version: u32,
    /// Payload length in bytes.
    pub payload_len: u32,
}

impl Header {
    /// The 16 header bytes for `version` and a payload of `payload_len` bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4..6].copy_from_slice(&FORMAT.to_le_bytes());
        h[8..12].copy_from_slice(&self.version.to_le_bytes());
        h[12..16].copy_from_slice(&self.payload_len.to_le_bytes());
        h
    }
}

/// An envelope split into its parts, signature not yet checked ([`Envelope::verify`]).
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    header: Header,
    signed: &'a [u8],
    payload: &'a [u8],
    signature: &'a [u8; SIGNATURE_LEN],
}

fn le_u32(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

impl<'a> Envelope<'a> {
    /// Checks the structure of `bytes` (magic, format, lengths) without any cryptography.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SignedError> {
        let truncated = |needed: usize| SignedError::Truncated {
            needed,
            got: bytes.len(),
        };
        // Magic first, so a short bare blob still reads as "not an envelope".
        if bytes.iter().zip(MAGIC).any(|(&b, m)| b != m) {
            return Err(SignedError::BadMagic);
        }
        let (h, rest) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(truncated(OVERHEAD))?;
        let format = u16::from_le_bytes([h[4], h[5]]);
        if format != FORMAT || h[6] != 0 || h[7] != 0 {
            return Err(SignedError::UnsupportedFormat(format));
        }
        let header = Header {
            version: le_u32(h, 8),
            payload_len: le_u32(h, 12),
        };
        let len = header.payload_len as usize;
        let needed = (header.payload_len as u64).saturating_add(OVERHEAD as u64);
        let needed = usize::try_from(needed).unwrap_or(usize::MAX);
        if rest.len() < len || rest.len() - len < SIGNATURE_LEN {
            return Err(truncated(needed));
        }
        let (payload, tail) = rest.split_at(len);
        let (signature, extra) = tail
            .split_first_chunk::<SIGNATURE_LEN>()
            .ok_or(truncated(needed))?;
        if !extra.is_empty() {
            return Err(SignedError::TrailingBytes);
        }
        let signed = bytes.get(..HEADER_LEN + len).ok_or(truncated(needed))?;
        Ok(Self {
            header,
            signed,
            payload,
            signature,
        })
    }

    /// The header (unauthenticated until [`Envelope::verify`] succeeds).
    pub fn header(&self) -> Header {
        self.header
    }

    /// The payload (unauthenticated until [`Envelope::verify`] succeeds).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Verifies the signature over header and payload with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<Verified<'a>, SignedError> {
        let signature = Signature::from_bytes(self.signature);
        let mut hash = Sha512::new();
        hash.update(self.signed);
        key.0
            .verify_prehashed_strict(hash, Some(CONTEXT), &signature)
            .map_err(|_| SignedError::BadSignature)?;
        Ok(Verified {
            version: self.header.version,
            payload: self.payload,
        })
    }
}

/// An authentic payload and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// Signed model version.
    pub version: u32,
    /// The `.hone` blob, borrowed from the envelope.
    pub payload: &'a [u8],
}

/// Parses `envelope`, verifies its signature with `key`, and refuses a version lower than
/// `accepted` (the last accepted version; `None` accepts any). Returns the payload in place.
pub fn open<'a>(
    envelope: &'a [u8],
    key: &PublicKey,
    accepted: Option<u32>,
) -> Result<Verified<'a>, SignedError> {
    let v = Envelope::parse(envelope)?.verify(key)?;
    match accepted {
        Some(a) if v.version < a => Err(SignedError::VersionRollback {
            got: v.version,
            accepted: a,
        }),
        _ => Ok(v),
    }
}

/// The message hash a signer signs for `header` and `payload` (Ed25519ph with [`CONTEXT`]):
/// SHA-512 over the header bytes then the payload.
pub fn prehash(header: &Header, payload: &[u8]) -> Sha512 {
    let mut hash = Sha512::new();
    hash.update(header.to_bytes());
    hash.update(payload);
    hash
}
