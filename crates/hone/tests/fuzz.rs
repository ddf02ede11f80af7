//! Property tests: random, truncated and bit-flipped blobs and random prompts never panic.
//! A corrupted blob either fails to load with a typed error or loads and runs.

use hone::builder::frame;
use hone::format::HEADER_LEN;
use hone::testutil::{tiny_model, tiny_transformer};
use hone::{Error, Model, Runner};
use proptest::prelude::*;

fn blobs() -> &'static [Vec<u8>; 2] {
    static BLOBS: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
    BLOBS.get_or_init(|| [tiny_model().unwrap(), tiny_transformer().unwrap()])
}

/// Loads `blob`; when it loads, classifies `prompts` and checks the result is well formed.
fn load_and_run(blob: &[u8], prompts: &[&str]) -> Result<(), Error> {
    let m = Model::from_bytes(blob)?;
    let mut scratch = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(&m, &mut scratch)?;
    for p in prompts {
        let pred = r.classify(p);
        assert!(pred.label < m.num_classes());
        assert_eq!(pred.log_probs.len(), m.num_classes());
        assert!(r.tokens().len() <= m.max_len());
    }
    Ok(())
}

#[test]
fn every_truncation_is_refused() {
    for blob in blobs() {
        for len in 0..blob.len() {
            let e = Model::from_bytes(&blob[..len]).err();
            assert!(e.is_some(), "truncated to {len} bytes but loaded");
        }
        assert!(Model::from_bytes(blob).is_ok());
    }
}

#[test]
fn header_errors_are_specific() {
    let blob = tiny_model().unwrap();
    let mut b = blob.clone();
    b[0] = b'X';
    assert_eq!(Model::from_bytes(&b).err(), Some(Error::BadMagic));
    let mut b = blob.clone();
    b[4] = 2;
    assert_eq!(
        Model::from_bytes(&b).err(),
        Some(Error::UnsupportedVersion(2))
    );
    let mut b = blob.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    assert_eq!(Model::from_bytes(&b).err(), Some(Error::ChecksumMismatch));
    // Trailing bytes after the payload are ignored (a blob may sit in a larger flash region).
    let mut b = blob.clone();
    b.extend_from_slice(&[0xff; 64]);
    assert!(Model::from_bytes(&b).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = load_and_run(&bytes, &["turn the lights off"]);
        // With a valid header in front, the payload decoder and validator see the bytes.
        let _ = load_and_run(&frame(&bytes), &["turn the lights off"]);
    }

    #[test]
    fn bit_flipped_payloads_with_valid_crc_fail_cleanly_or_run(
        which in 0usize..2,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        prompt in "\\PC{0,40}",
    ) {
        let blob = &blobs()[which];
        let mut payload = blob[HEADER_LEN..].to_vec();
        for (i, bit) in flips {
            let i = i.index(payload.len());
            payload[i] ^= 1 << bit;
        }
        let _ = load_and_run(&frame(&payload), &[&prompt, "", "play music"]);
    }

    #[test]
    fn any_prompt_classifies(prompt in any::<String>()) {
        for blob in blobs() {
            prop_assert!(load_and_run(blob, &[&prompt]).is_ok());
        }
    }
}
