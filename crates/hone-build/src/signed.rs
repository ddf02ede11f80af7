//! Signing model updates on the host: Ed25519 key pairs and signed envelopes
//! ([`hone::signed`] documents the envelope and verifies it on the device).
//!
//! Key files are 36 bytes: a 4-byte tag then the 32 key bytes, so a public key passed where
//! the secret key is expected (or the reverse) is refused by name.
//! - secret key (`hone.key`): `HNSK` ‖ Ed25519 seed (32 bytes); keep it off devices;
//! - public key (`hone.pub`): `HNPK` ‖ Ed25519 public key (32 bytes), compiled into firmware.

use std::fmt;

use ed25519_dalek::SigningKey;
use hone::signed::{self, Header, PublicKey, CONTEXT, PUBLIC_KEY_LEN};

/// Tag of a secret key file.
pub const SECRET_TAG: [u8; 4] = *b"HNSK";
/// Tag of a public key file.
pub const PUBLIC_TAG: [u8; 4] = *b"HNPK";
/// Length of either key file.
pub const KEY_FILE_LEN: usize = 36;

/// Why a key could not be made or read, or a blob not signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The operating system's random source failed.
    Random,
    /// A key file of the wrong kind or length (`expected` names the kind).
    KeyFile {
        /// "secret key" or "public key".
        expected: &'static str,
        /// What the bytes look like instead.
        found: &'static str,
    },
    /// The public key is not a valid Ed25519 key.
    BadKey,
    /// The payload is longer than a u32 length can say.
    TooLarge(usize),
    /// The input is already a signed envelope.
    AlreadySigned,
    /// Ed25519 signing failed.
    Sign,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Random => f.write_str("the system random source failed"),
            SignError::KeyFile { expected, found } => {
                write!(f, "not a hone {expected} file ({found})")
            }
            SignError::BadKey => f.write_str("invalid Ed25519 public key"),
            SignError::TooLarge(n) => write!(f, "model of {n} bytes is too large to sign"),
            SignError::AlreadySigned => f.write_str("the model is already a signed envelope"),
            SignError::Sign => f.write_str("Ed25519 signing failed"),
        }
    }
}

impl std::error::Error for SignError {}

/// An Ed25519 key pair for signing model updates.
pub struct Keypair(SigningKey);

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public_bytes())
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// A new key pair from the operating system's random source.
    pub fn generate() -> Result<Self, SignError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| SignError::Random)?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self(key))
    }

    /// The key pair of a 32-byte seed (deterministic; for tests).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// Reads a secret key file ([`Keypair::secret_file`]).
    pub fn from_secret_file(bytes: &[u8]) -> Result<Self, SignError> {
        let seed = key_bytes(bytes, SECRET_TAG, "secret key")?;
        Ok(Self::from_seed(&seed))
    }

    /// The secret key file: [`SECRET_TAG`] ‖ seed.
    pub fn secret_file(&self) -> Vec<u8> {
        [&SECRET_TAG[..], self.0.as_bytes()].concat()
    }

    /// The public key file: [`PUBLIC_TAG`] ‖ public key.
    pub fn public_file(&self) -> Vec<u8> {
        [&PUBLIC_TAG[..], &self.public_bytes()[..]].concat()
    }

    /// The 32 public key bytes.
    pub fn public_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.verifying_key().to_bytes()
    }

    /// The public key as the runtime checks it.
    pub fn public_key(&self) -> PublicKey {
        // A key derived from a seed is always a valid, non-weak point.
        PublicKey::from_bytes(&self.public_bytes()).unwrap_or_else(|_| unreachable!())
    }

    /// Wraps `model` (a `.hone` blob, unchanged) in a signed envelope of `version`.
    pub fn sign(&self, model: &[u8], version: u32) -> Result<Vec<u8>, SignError> {
        if model.starts_with(&signed::MAGIC) {
            return Err(SignError::AlreadySigned);
        }
        let payload_len =
            u32::try_from(model.len()).map_err(|_| SignError::TooLarge(model.len()))?;
        let header = Header {
            version,
            payload_len,
        };
        let sig = self
            .0
            .sign_prehashed(signed::prehash(&header, model), Some(CONTEXT))
            .map_err(|_| SignError::Sign)?;
        let mut out = Vec::with_capacity(model.len() + signed::OVERHEAD);
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(model);
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

fn key_bytes(bytes: &[u8], tag: [u8; 4], expected: &'static str) -> Result<[u8; 32], SignError> {
    let other = if tag == SECRET_TAG {
        PUBLIC_TAG
    } else {
        SECRET_TAG
    };
    let found = if bytes.len() != KEY_FILE_LEN {
        "wrong length"
    } else if bytes[..4] == tag {
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes[4..]);
        return Ok(k);
    } else if bytes[..4] == other {
        if tag == SECRET_TAG {
            "it is a public key"
        } else {
            "it is a secret key"
        }
    } else {
        "unknown tag"
    };
    Err(SignError::KeyFile { expected, found })
}

/// Reads a public key file ([`Keypair::public_file`]).
pub fn public_key_from_file(bytes: &[u8]) -> Result<PublicKey, SignError> {
    let k = key_bytes(bytes, PUBLIC_TAG, "public key")?;
    PublicKey::from_bytes(&k).map_err(|_| SignError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_open() {
        let k = Keypair::from_seed(&[7; 32]);
        let blob = b"not really a model".to_vec();
        let env = k.sign(&blob, 3).unwrap();
        let v = signed::open(&env, &k.public_key(), Some(3)).unwrap();
        assert_eq!((v.version, v.payload), (3, &blob[..]));
        assert_eq!(k.sign(&env, 4), Err(SignError::AlreadySigned));
    }

    #[test]
    fn key_files_round_trip_and_are_not_confused() {
        let k = Keypair::generate().unwrap();
        let again = Keypair::from_secret_file(&k.secret_file()).unwrap();
        assert_eq!(again.public_bytes(), k.public_bytes());
        assert_eq!(
            public_key_from_file(&k.public_file()).unwrap(),
            k.public_key()
        );
        assert!(matches!(
            Keypair::from_secret_file(&k.public_file()),
            Err(SignError::KeyFile {
                found: "it is a public key",
                ..
            })
        ));
        assert!(public_key_from_file(&k.secret_file()).is_err());
        assert!(public_key_from_file(&[0; 3]).is_err());
    }
}
