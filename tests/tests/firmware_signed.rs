//! Signed boot under QEMU (mps2-an386, Cortex-M4F): firmware built with a public key
//! (`HONE_FW_PUBKEY`) boots a correctly signed model and passes its golden vectors; a
//! tampered payload, a tampered signature, another key and a version lower than the one
//! already accepted in flash are each refused at boot with the typed error and exit code 4.
//! Measures the check (instructions, peak stack) and its flash cost against the unsigned
//! build of the same model, written to `target/tmp/firmware-report-signed.md`.

use std::{fs, path::Path};

use hone_build::signed::Keypair;
use hone_golden::{
    generate::{classify, ClassifyCase},
    model_crc, Vector,
};
use hone_tests::qemu::{self, Board, Embed, Run};

const BOARD: Board = Board::Mps2An386;
const VERSION: u32 = 5;
const PROMPTS: [&str; 4] = ["turn the lights off", "play music", "stop", ""];

fn build_run(embed: &Embed<'_>) -> (Run, qemu::Sizes) {
    let elf = qemu::build(BOARD, embed).unwrap_or_else(|e| panic!("{e}"));
    let r = qemu::run(BOARD, &elf).unwrap_or_else(|e| panic!("{e}"));
    println!("--- exit {:?}\n{}{}", r.status, r.log, r.stderr);
    (r, qemu::sizes(&elf).unwrap())
}

fn refused(r: &Run, variant: &str) {
    assert_eq!(r.status, Some(4), "exit status");
    assert!(
        r.log.contains("signed model refused") && r.log.contains(variant),
        "expected {variant}:\n{}",
        r.log
    );
    assert!(r.golden_results().is_empty(), "ran golden vectors");
}

fn signed_embed<'a>(
    golden: &'a Path,
    model: &'a Path,
    public_key: &'a Path,
    accepted: Option<u32>,
) -> Embed<'a> {
    Embed {
        golden: Some(golden),
        model: Some(model),
        public_key: Some(public_key),
        accepted,
    }
}

#[test]
fn signed_boot_accepts_the_good_model_and_refuses_tampering_other_keys_and_rollback() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fw-signed");
    fs::create_dir_all(&dir).unwrap();
    let blob = hone_build::testutil::tiny_transformer().unwrap();
    let cases = classify(&blob, &PROMPTS).unwrap();
    let vectors: Vec<Vector<'_>> = cases.iter().map(ClassifyCase::vector).collect();
    let golden = dir.join("golden.bin");
    fs::write(
        &golden,
        hone_golden::write(model_crc(&blob), &vectors).unwrap(),
    )
    .unwrap();

    let key = Keypair::from_seed(&[0x5a; 32]);
    let other = Keypair::from_seed(&[0xa5; 32]);
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p
    };
    let unsigned = write("model.hone", &blob);
    let pk = write("hone.pub", &key.public_file());
    let other_pk = write("other.pub", &other.public_file());
    let env = key.sign(&blob, VERSION).unwrap();
    let good = write("signed.hone", &env);
    let mut t = env.clone();
    t[16 + blob.len() / 2] ^= 0x01;
    let tampered = write("tampered-payload.hone", &t);
    let mut t = env.clone();
    *t.last_mut().unwrap() ^= 0x01;
    let tampered_sig = write("tampered-signature.hone", &t);

    let embed = |model, key, accepted| signed_embed(&golden, model, key, accepted);

    // The correctly signed model boots and matches the host bit for bit.
    let (r, signed_size) = build_run(&embed(&good, &pk, None));
    assert_eq!(r.status, Some(0), "signed boot");
    assert!(
        r.log
            .contains(&format!("signed model version {VERSION} verified")),
        "{}",
        r.log
    );
    assert!(r.log.contains(&format!("accepted version {VERSION}")));
    let n = PROMPTS.len();
    assert_eq!(
        r.golden_results(),
        (0..n).map(|i| (i, true)).collect::<Vec<_>>()
    );
    let work = r.metric("signed_verify_work").unwrap();
    let stack = r.metric("signed_verify_peak_stack_bytes").unwrap();
    // The same version as the accepted one boots again.
    let (r, _) = build_run(&embed(&good, &pk, Some(VERSION)));
    assert_eq!(r.status, Some(0), "equal version");

    refused(&build_run(&embed(&tampered, &pk, None)).0, "BadSignature");
    refused(
        &build_run(&embed(&tampered_sig, &pk, None)).0,
        "BadSignature",
    );
    refused(&build_run(&embed(&good, &other_pk, None)).0, "BadSignature");
    refused(
        &build_run(&embed(&good, &pk, Some(VERSION + 1))).0,
        "VersionRollback { got: 5, accepted: 6 }",
    );

    // Flash cost: the signed image minus the unsigned image of the same model, less the
    // envelope's 80 bytes.
    let (r, unsigned_size) = build_run(&Embed {
        golden: Some(&golden),
        model: Some(&unsigned),
        ..Default::default()
    });
    assert_eq!(r.status, Some(0), "unsigned boot");
    assert!(!r.log.contains("signed model"));
    let code = signed_size.flash as i64 - unsigned_size.flash as i64 - 80;
    let table = format!(
        "| signed boot check, {BOARD} | value |\n|---|---|\n\
         | verification (instr.; Ed25519ph over a {} B model) | {work} |\n\
         | peak stack during verification (B) | {stack} |\n\
         | extra flash: code and tables (B; envelope's 80 B excluded) | {code} |\n",
        blob.len()
    );
    println!("{table}");
    fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("firmware-report-signed.md"),
        table,
    )
    .unwrap();
    assert!(code > 0 && work > 0 && stack > 0);
}
