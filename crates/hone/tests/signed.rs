//! Signed model envelopes (`hone::signed`) and the accepted-version record
//! (`hone::adapt::persist::AcceptedVersion`): a good signature verifies and yields the blob in
//! place; every single-bit flip, a wrong key, a lower version and every truncation are refused
//! with a typed error; a power cut while recording a version leaves the old or the new one.
#![cfg(feature = "signed")]

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use hone::adapt::persist::AcceptedVersion;
use hone::adapt::AdaptError;
use hone::signed::{self, Envelope, PublicKey, SignedError, HEADER_LEN, OVERHEAD};
use hone::Model;
use hone_build::signed::Keypair;
use hone_build::testutil::tiny_model;
use hone_build::HostSteps;
use proptest::prelude::*;

fn key() -> Keypair {
    Keypair::from_seed(&[0x42; 32])
}

fn other_key() -> Keypair {
    Keypair::from_seed(&[0x17; 32])
}

#[test]
fn a_good_signature_verifies_and_the_payload_is_the_blob_in_place() {
    let blob = tiny_model().unwrap();
    let env = key().sign(&blob, 7).unwrap();
    assert_eq!(env.len(), blob.len() + OVERHEAD);
    let v = signed::open(&env, &key().public_key(), None).unwrap();
    assert_eq!(v.version, 7);
    assert_eq!(v.payload, &blob[..]);
    // Zero-copy: the payload is the envelope's bytes after the header.
    assert!(core::ptr::eq(
        v.payload.as_ptr(),
        env[HEADER_LEN..].as_ptr()
    ));
    let mut steps = HostSteps::new();
    let m = Model::load(v.payload, &mut steps).unwrap();
    assert!(m.num_classes() > 0);
    let e = Envelope::parse(&env).unwrap();
    assert_eq!(e.header().version, 7);
    assert_eq!(e.header().payload_len as usize, blob.len());
}

fn flips(env: &[u8], bits: impl Iterator<Item = usize>, k: &PublicKey) -> usize {
    let mut n = 0;
    for bit in bits {
        let mut t = env.to_vec();
        t[bit / 8] ^= 1 << (bit % 8);
        let r = signed::open(&t, k, None);
        assert!(r.is_err(), "bit {bit} (byte {}) flipped: accepted", bit / 8);
        n += 1;
    }
    n
}

#[test]
fn every_single_bit_flip_is_refused() {
    // A short payload: every bit of header, payload and signature.
    let payload: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
    let env = key().sign(&payload, 1).unwrap();
    let k = key().public_key();
    assert!(signed::open(&env, &k, None).is_ok());
    assert_eq!(flips(&env, 0..env.len() * 8, &k), env.len() * 8);
}

#[test]
fn bit_flips_in_a_real_model_are_refused() {
    let blob = tiny_model().unwrap();
    let env = key().sign(&blob, 1).unwrap();
    let k = key().public_key();
    let n = env.len();
    // Every header and signature bit, and one bit in each payload byte (rotating).
    let header = 0..HEADER_LEN * 8;
    let sig = (n - 64) * 8..n * 8;
    let payload = (HEADER_LEN..n - 64).map(|b| b * 8 + b % 8);
    let total = flips(&env, header.chain(sig).chain(payload), &k);
    assert_eq!(total, OVERHEAD * 8 + blob.len());
}

#[test]
fn header_changes_are_refused_by_the_signature_or_the_structure() {
    let env = key().sign(b"payload", 5).unwrap();
    let k = key().public_key();
    let mut v = env.clone();
    v[8..12].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(signed::open(&v, &k, None), Err(SignedError::BadSignature));
    let mut f = env.clone();
    f[4] = 2;
    assert_eq!(
        signed::open(&f, &k, None),
        Err(SignedError::UnsupportedFormat(2))
    );
    let mut r = env.clone();
    r[7] = 1;
    assert!(matches!(
        signed::open(&r, &k, None),
        Err(SignedError::UnsupportedFormat(_))
    ));
    let mut m = env;
    m[0] = b'X';
    assert_eq!(signed::open(&m, &k, None), Err(SignedError::BadMagic));
}

#[test]
fn a_wrong_key_is_refused() {
    let env = key().sign(&tiny_model().unwrap(), 3).unwrap();
    assert_eq!(
        signed::open(&env, &other_key().public_key(), None),
        Err(SignedError::BadSignature)
    );
    // The same blob signed by the other key does not pass with the first.
    let env2 = other_key().sign(&tiny_model().unwrap(), 3).unwrap();
    assert_eq!(
        signed::open(&env2, &key().public_key(), None),
        Err(SignedError::BadSignature)
    );
}

#[test]
fn invalid_or_weak_public_keys_are_refused() {
    // y = 1: the identity point (small order).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(PublicKey::from_bytes(&identity), Err(SignedError::BadKey));
    // Not every y is on the curve: some 32-byte strings do not decompress.
    let bad = (2u8..=255)
        .map(|b| {
            let mut k = [0u8; 32];
            k[0] = b;
            k
        })
        .find(|k| PublicKey::from_bytes(k).is_err());
    assert!(bad.is_some());
}

#[test]
fn a_lower_version_is_refused_an_equal_or_higher_one_accepted() {
    let env = key().sign(b"model v4", 4).unwrap();
    let k = key().public_key();
    assert_eq!(
        signed::open(&env, &k, Some(5)),
        Err(SignedError::VersionRollback {
            got: 4,
            accepted: 5
        })
    );
    assert_eq!(signed::open(&env, &k, Some(4)).unwrap().version, 4);
    assert_eq!(signed::open(&env, &k, Some(0)).unwrap().version, 4);
    // Rollback is judged only on an authentic envelope: a forged low version is a bad
    // signature.
    let mut forged = env.clone();
    forged[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        signed::open(&forged, &k, Some(5)),
        Err(SignedError::BadSignature)
    );
}

#[test]
fn truncation_at_every_length_and_extra_bytes_are_typed_errors() {
    let blob = tiny_model().unwrap();
    let env = key().sign(&blob, 2).unwrap();
    let k = key().public_key();
    for len in 0..env.len() {
        match signed::open(&env[..len], &k, None) {
            Err(SignedError::Truncated { got, needed }) => {
                assert_eq!(got, len);
                assert!(needed > len, "len {len}: needed {needed}");
            }
            other => panic!("len {len}: {other:?}"),
        }
    }
    let mut long = env.clone();
    long.push(0);
    assert_eq!(
        signed::open(&long, &k, None),
        Err(SignedError::TrailingBytes)
    );
    // A bare blob is not an envelope.
    assert_eq!(signed::open(&blob, &k, None), Err(SignedError::BadMagic));
    // A length field pointing past the end.
    let mut huge = env;
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        signed::open(&huge, &k, None),
        Err(SignedError::Truncated { .. })
    ));
}

#[test]
fn errors_display_what_went_wrong() {
    let s = SignedError::VersionRollback {
        got: 1,
        accepted: 2,
    }
    .to_string();
    assert!(
        s.contains("rollback") && s.contains('1') && s.contains('2'),
        "{s}"
    );
    assert!(SignedError::BadSignature
        .to_string()
        .contains("bad signature"));
    assert!(SignedError::Truncated { needed: 80, got: 3 }
        .to_string()
        .contains("truncated"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                   magic in any::<bool>()) {
        let mut b = bytes;
        if magic && b.len() >= 16 {
            b[..4].copy_from_slice(&signed::MAGIC);
            b[4..8].copy_from_slice(&[1, 0, 0, 0]);
            let l = (b.len() as u32).saturating_sub(80);
            b[12..16].copy_from_slice(&l.to_le_bytes());
        }
        prop_assert!(signed::open(&b, &key().public_key(), Some(1)).is_err());
    }
}

// ---- The accepted-version record ----

const ES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut;

impl NorFlashError for Cut {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::Other
    }
}

/// NOR flash with 4-byte words and 256-byte pages whose power is cut after `budget` steps
/// (word programs and page erases); the step that is cut is torn (half done).
#[derive(Debug, Clone)]
struct Flash {
    mem: Vec<u8>,
    budget: usize,
}

impl Flash {
    fn new() -> Self {
        Self {
            mem: vec![0xFF; 4 * ES],
            budget: usize::MAX,
        }
    }
    fn step(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }
}

impl ErrorType for Flash {
    type Error = Cut;
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Cut> {
        let o = offset as usize;
        bytes.copy_from_slice(self.mem.get(o..o + bytes.len()).ok_or(Cut)?);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = ES;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Cut> {
        for p in (from as usize..to as usize).step_by(ES) {
            if !self.step() {
                self.mem[p..p + ES / 2].fill(0xFF);
                return Err(Cut);
            }
            self.mem[p..p + ES].fill(0xFF);
        }
        Ok(())
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Cut> {
        for (i, w) in bytes.chunks(4).enumerate() {
            let at = offset as usize + 4 * i;
            assert!(
                self.mem[at..at + 4].iter().all(|&b| b == 0xFF),
                "programmed twice"
            );
            if !self.step() {
                self.mem[at..at + 2].copy_from_slice(&w[..2]);
                return Err(Cut);
            }
            self.mem[at..at + 4].copy_from_slice(w);
        }
        Ok(())
    }
}

/// The record in the second half of the flash (pages 2 and 3).
fn open(f: Flash) -> AcceptedVersion<Flash> {
    AcceptedVersion::open(f, 2 * ES as u32, 2 * ES as u32).unwrap()
}

#[test]
fn the_accepted_version_persists_and_never_goes_down() {
    let mut v = open(Flash::new());
    assert_eq!(v.get(), None);
    v.accept(3).unwrap();
    v.accept(2).unwrap();
    assert_eq!(v.get(), Some(3));
    let v = open(v.into_inner());
    assert_eq!(v.get(), Some(3));
    // Equal and lower versions write nothing.
    let mut f = v.into_inner();
    let before = f.mem.clone();
    f.budget = 0;
    let mut v = open(f);
    v.accept(3).unwrap();
    v.accept(1).unwrap();
    assert_eq!(v.into_inner().mem, before);
    // Many updates alternate the slots.
    let mut v = open(Flash::new());
    for n in 1..=20 {
        v.accept(n).unwrap();
        v = open(v.into_inner());
        assert_eq!(v.get(), Some(n));
    }
    // The first half of the flash was never touched.
    assert!(v.into_inner().mem[..2 * ES].iter().all(|&b| b == 0xFF));
}

#[test]
fn a_power_cut_while_accepting_leaves_the_old_or_the_new_version() {
    let mut base = open(Flash::new());
    base.accept(4).unwrap();
    let base = base.into_inner();
    let mut cuts = 0;
    for budget in 0.. {
        let mut f = base.clone();
        f.budget = budget;
        let mut v = open(f);
        let done = v.accept(9).is_ok();
        let mut f = v.into_inner();
        f.budget = usize::MAX;
        let got = open(f).get();
        if done {
            assert_eq!(got, Some(9));
            break;
        }
        assert!(got == Some(4) || got == Some(9), "budget {budget}: {got:?}");
        cuts += 1;
    }
    assert!(cuts > 3, "{cuts}");
}

#[test]
fn a_corrupted_record_or_a_bad_region_is_not_read_as_a_version() {
    let mut v = open(Flash::new());
    v.accept(1).unwrap();
    let mut f = v.into_inner();
    // A corrupted record fails its CRC: the slot is ignored (nothing accepted yet) rather
    // than read as a version.
    let slot = 2 * ES;
    f.mem[slot + 16] ^= 0xFF;
    assert_eq!(open(f).get(), None);
    // Misaligned or too small regions.
    assert!(matches!(
        AcceptedVersion::open(Flash::new(), 1, 2 * ES as u32),
        Err(AdaptError::Storage)
    ));
}
