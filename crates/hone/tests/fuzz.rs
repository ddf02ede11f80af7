//! Property tests: random, truncated and bit-flipped blobs and random prompts never panic.
//! A corrupted blob either fails to load with a typed error or loads and runs.

use hone::format::HEADER_LEN;
use hone::{Error, Invalid, Model, Runner};
use hone_build::testutil::{tiny_model, tiny_transformer};
use hone_build::HostSteps;
use hone_build::{frame, frame_version};
use proptest::prelude::*;

fn blobs() -> &'static [Vec<u8>; 2] {
    static BLOBS: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
    BLOBS.get_or_init(|| [tiny_model().unwrap(), tiny_transformer().unwrap()])
}

/// Loads `blob`; when it loads, classifies `prompts` and checks the result is well formed.
fn load_and_run(blob: &[u8], prompts: &[&str]) -> Result<(), Error> {
    let mut steps = HostSteps::new();
    let m = Model::load(blob, &mut steps)?;
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
            let mut e_steps = HostSteps::new();
            let e = Model::load(&blob[..len], &mut e_steps).err();
            assert!(e.is_some(), "truncated to {len} bytes but loaded");
        }
        assert!(Model::load(blob, &mut HostSteps::new()).is_ok());
    }
}

#[test]
fn header_errors_are_specific() {
    let blob = tiny_model().unwrap();
    let mut b = blob.clone();
    b[0] = b'X';
    assert_eq!(
        Model::load(&b, &mut HostSteps::new()).err(),
        Some(Error::BadMagic)
    );
    for v in [0u8, hone::format::FORMAT_VERSION as u8 + 1, 255] {
        let mut b = blob.clone();
        b[4] = v;
        assert_eq!(
            Model::load(&b, &mut HostSteps::new()).err(),
            Some(Error::UnsupportedVersion(u16::from(v)))
        );
    }
    let mut b = blob.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    assert_eq!(
        Model::load(&b, &mut HostSteps::new()).err(),
        Some(Error::ChecksumMismatch)
    );
    // Trailing bytes after the payload are ignored (a blob may sit in a larger flash region).
    let mut b = blob.clone();
    b.extend_from_slice(&[0xff; 64]);
    assert!(Model::load(&b, &mut HostSteps::new()).is_ok());
}

#[test]
fn versions_one_and_two_load_and_a_v2_op_needs_version_2() {
    let [v1, v2] = blobs();
    // A model of version-1 ops is written as version 1; one with `FcAddNorm` as version 2.
    assert_eq!(v1[4..6], [1, 0]);
    assert_eq!(v2[4..6], [2, 0]);
    assert_eq!(
        Model::load(v1, &mut HostSteps::new())
            .unwrap()
            .format_version(),
        1
    );
    assert_eq!(
        Model::load(v2, &mut HostSteps::new())
            .unwrap()
            .format_version(),
        2
    );
    // A version-1 payload also reads as version 2, with the same results.
    let as_v2 = frame_version(&v1[HEADER_LEN..], 2);
    let (mut steps_a, mut steps_b) = (HostSteps::new(), HostSteps::new());
    let (a, b) = (
        Model::load(v1, &mut steps_a).unwrap(),
        Model::load(&as_v2, &mut steps_b).unwrap(),
    );
    let (mut sa, mut sb) = (vec![0u32; a.scratch_words()], vec![0u32; b.scratch_words()]);
    let pa = a
        .classify("play music", &mut sa)
        .unwrap()
        .log_probs
        .to_vec();
    let pb = b
        .classify("play music", &mut sb)
        .unwrap()
        .log_probs
        .to_vec();
    assert_eq!(pa, pb);
    // The version-2 op in a version-1 blob is a typed error naming the op.
    let mut fused_steps = HostSteps::new();
    let fused = Model::load(v2, &mut fused_steps)
        .unwrap()
        .ops()
        .position(|op| op.min_version() == 2)
        .unwrap();
    let as_v1 = frame_version(&v2[HEADER_LEN..], 1);
    assert_eq!(
        Model::load(&as_v1, &mut HostSteps::new()).err(),
        Some(Error::Invalid {
            op: fused as u16,
            reason: Invalid::OpVersion
        })
    );
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
        let _ = load_and_run(&frame_version(&payload, 1), &[&prompt]);
    }

    #[test]
    fn any_prompt_classifies(prompt in any::<String>()) {
        for blob in blobs() {
            prop_assert!(load_and_run(blob, &[&prompt]).is_ok());
        }
    }
}
