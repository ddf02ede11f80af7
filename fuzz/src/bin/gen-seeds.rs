//! Writes the seed corpora `seeds/<target>/` (a few KB each) from hone-build's test models:
//!
//!     cargo run --release --manifest-path fuzz/Cargo.toml --bin gen-seeds
//!
//! Deterministic: running it again rewrites the same files. Crash reproducers kept as
//! regression inputs live beside the seeds under other names and are not touched.

use std::fs;
use std::path::{Path, PathBuf};

use hone::adapt::persist::Journal;
use hone::adapt::{Head, Store};
use hone::format::HEADER_LEN;
use hone::Model;
use hone_build::testutil::{build_static, tiny_transformer, transformer_with};
use hone_build::HostSteps;
use hone_fuzz::{SimFlash, EXTRA, FLASH_BYTES, JOURNAL_DIM};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("create seed directory");
    fs::write(dir.join(name), bytes).expect("write seed");
    println!("{:>6} B  {}", bytes.len(), dir.join(name).display());
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(bytes);
    v
}

fn loader(dir: &Path) {
    let tiny = hone_fuzz::tiny_model();
    let small = build_static(8, 4, 0x5eed_0101).expect("model builds");
    let unfused = transformer_with(8, 2, 16, 0x7a7a_0101, false).expect("model builds");
    let fused = tiny_transformer().expect("model builds");
    // Mode 0: the whole blob as given.
    write(dir, "tiny-raw", &with_mode(0, tiny));
    // Modes 1/2: the payload, framed by the target with a correct header.
    write(dir, "tiny-v1", &with_mode(1, &tiny[HEADER_LEN..]));
    write(dir, "small-v1", &with_mode(1, &small[HEADER_LEN..]));
    write(dir, "transformer-v1", &with_mode(1, &unfused[HEADER_LEN..]));
    write(
        dir,
        "transformer-fused-v2",
        &with_mode(2, &fused[HEADER_LEN..]),
    );
}

fn tokenizer(dir: &Path) {
    // Control bytes: [vocabulary and configuration, buffer]; see fuzz_targets/tokenizer.rs.
    let texts: &[(&str, u8, u8, &str)] = &[
        ("ascii", 0b11110, 0, "turn the lights off, please!"),
        (
            "shipped",
            0b11111,
            0,
            "Set a timer for 10 minutes, then play music.",
        ),
        ("accents", 0b11111, 0, "Café Crème à la carte, NAÏVE façade"),
        ("cjk", 0b11011, 0x40, "播放音乐 and 天気 今日は"),
        (
            "marks",
            0b00111,
            5,
            "e\u{301}te\u{301} \u{130}stanbul STRASSE stra\u{df}e",
        ),
        (
            "controls",
            0b11001,
            0x80 | 2,
            "a\u{0}b\u{200b}c\u{feff}d\tx\r\ny\u{fffd}",
        ),
        (
            "long-word",
            0b111111,
            0,
            "supercalifragilisticexpialidocious ##ing [CLS] [SEP]",
        ),
        ("emoji", 0b11101, 1, "🎵 timer×5 — ok… ¿qué? «oui»"),
    ];
    for (name, a, b, text) in texts {
        let mut v = vec![*a, *b];
        v.extend_from_slice(text.as_bytes());
        write(dir, name, &v);
    }
    // Not UTF-8: exercised through the lossy conversion.
    write(
        dir,
        "invalid-utf8",
        &[0b11111, 0, b'a', 0xff, 0xc3, b'b', 0xe2, 0x82, b' ', 0xf0],
    );
}

/// A saved state: new class names and examples `(label, feature seed)`.
type SavedState<'s> = (&'s [&'s str], &'s [(u16, u32)]);

/// A journal with the given states saved one after the other, as the target's input with
/// `flags`.
fn journal_input(flags: u8, states: &[SavedState<'_>]) -> Vec<u8> {
    let mut steps = HostSteps::new();
    let m = Model::load(hone_fuzz::journal_model(), &mut steps).expect("model loads");
    let flash = SimFlash::<1, 4, 256>::with_image(&[], FLASH_BYTES);
    let mut j = Journal::open(flash, 0, FLASH_BYTES as u32).expect("region");
    for (names, examples) in states {
        let mut head = Head::<3, 64>::new(&m).expect("head");
        let mut store = Store::<8, 64>::new();
        for n in *names {
            head.enrol(n).expect("enrol");
        }
        for &(label, seed) in *examples {
            let mut x = seed;
            let h: Vec<f32> = (0..JOURNAL_DIM)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
                })
                .collect();
            store.add(label, &h).expect("example");
        }
        head.imprint_all(&store);
        j.save(&head, &store).expect("state fits a slot");
    }
    let mem = j.into_inner().mem;
    // Trailing erased bytes are implied (the target pads with 0xFF).
    let end = mem.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
    let mut v = vec![flags];
    let mut extra = [0u8; EXTRA];
    extra[0] = 5;
    extra[1..6].copy_from_slice(b"alarm");
    extra[EXTRA - 1] = 4;
    v.extend_from_slice(&extra);
    v.extend_from_slice(&mem[..end]);
    v
}

fn journal(dir: &Path) {
    write(dir, "blank", &journal_input(0, &[]));
    let one: SavedState<'_> = (&["weather"], &[(4, 1), (4, 2), (0, 3)]);
    let two: SavedState<'_> = (&["weather", "volume"], &[(4, 1), (5, 7), (1, 9)]);
    write(dir, "one-state", &journal_input(0, &[one]));
    write(dir, "two-states", &journal_input(0, &[one, two]));
    // CRCs recomputed by the target (flags bits 0–1), other geometry, small capacities.
    write(
        dir,
        "two-states-fixcrc-geom",
        &journal_input(0b0111, &[one, two]),
    );
    write(dir, "one-state-small", &journal_input(0b1000, &[one]));
}

fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    loader(&root.join("loader"));
    tokenizer(&root.join("tokenizer"));
    journal(&root.join("journal"));
}
