//! `hone console` end to end (issue 13): the personalisation console on stdin/stdout with its
//! journal in a flash file, scripted as a user would type it, across process restarts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hone_tests::fixtures::{hone_bin, scratch_dir};

/// The shipped model.
fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/hone-intent/model.hone")
}

/// A fresh prompt of the new intent, in none of the taught examples.
const FRESH: &str = "the vegetable patch needs watering";

/// Runs `hone console` on `flash` with `input` on stdin; checks it exits with status 0 and
/// nothing on stderr; returns the banner and the reply lines (one per reply line, in order).
fn console(flash: &Path, input: &[u8]) -> (String, Vec<String>) {
    let mut child = Command::new(hone_bin())
        .args(["console", "--model"])
        .arg(shipped())
        .arg("--flash")
        .arg(flash)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hone console");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let (banner, replies) = stdout
        .split_once("type a prompt to classify it, or :help\n")
        .expect("banner");
    (
        banner.to_string(),
        replies.lines().map(str::to_string).collect(),
    )
}

#[test]
fn a_taught_intent_is_recognised_and_survives_a_restart() {
    let dir = scratch_dir("cli-console");
    let flash = dir.join("state.bin");
    let script = format!(
        "{FRESH}\n\
         :teach water_plants water the garden now\n\
         :teach water_plants start the sprinklers for ten minutes\n\
         :teach water_plants give the tomato beds some water\n\
         :train\n\
         {FRESH}\n"
    );
    let (banner, r) = console(&flash, script.as_bytes());
    assert!(banner.contains("no saved state"), "{banner}");
    assert_eq!(r.len(), 6, "{r:#?}");
    assert!(!r[0].starts_with("water_plants"), "{}", r[0]);
    assert!(
        r[1].starts_with("taught water_plants (new): 1 example"),
        "{}",
        r[1]
    );
    assert!(r[3].starts_with("taught water_plants (enrolled): 3 examples"));
    assert!(
        (r[4].starts_with("improved: ") || r[4].starts_with("rolled back to the imprinted head: "))
            && r[4].ends_with("; saved #1"),
        "{}",
        r[4]
    );
    let (label, confidence) = r[5].split_once(' ').unwrap();
    assert_eq!(label, "water_plants", "{}", r[5]);
    let confidence: f32 = confidence.parse().unwrap();
    assert!((0.0..=1.0).contains(&confidence), "{confidence}");

    // A new process on the same flash file: the state is back, the answer identical.
    let (banner, again) = console(&flash, format!("{FRESH}\n:stats\n").as_bytes());
    assert!(banner.contains("restored state #1"), "{banner}");
    assert!(banner.contains("1 enrolled, 3 examples"), "{banner}");
    assert_eq!(again[0], r[5]);
    assert!(again[1].contains("journal #1"), "{}", again[1]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_lines_get_error_lines_and_the_session_ends_cleanly_at_eof() {
    let dir = scratch_dir("cli-console-bad");
    let flash = dir.join("state.bin");
    let mut input =
        b":fly\n:teach\n:teach \"two words\" text\n:forget nobody\n:train\n:threshold 7\n\
                      :teach x \xff\xfe\n\r\n\n"
            .to_vec();
    // A last line without a line break, and a prompt in invalid UTF-8.
    input.extend_from_slice(b"\xc3(\n:labels");
    let (_, r) = console(&flash, &input);
    assert_eq!(r.len(), 10, "{r:#?}");
    for reply in &r[..6] {
        assert!(reply.starts_with("error: "), "{r:#?}");
    }
    // Invalid UTF-8 becomes U+FFFD, which the tokenizer cleans away: no tokens.
    assert!(r[6].starts_with("error: prompt has no tokens"), "{}", r[6]);
    let (label, _) = r[7].split_once(' ').unwrap();
    assert!(!label.is_empty() && label != "error:", "{}", r[7]);
    assert!(r[8].starts_with("pre-trained (135): "), "{}", r[8]);
    assert_eq!(r[9], "enrolled (0 of 16): none");
    std::fs::remove_dir_all(&dir).ok();
}
