//! The tokenizer's Unicode tables (`crates/hone/src/tokenizer/tables.rs`) against Hugging Face
//! `tokenizers`, code point by code point.
//!
//! * `tables_are_up_to_date`: regenerates the tables from Hugging Face's `BertNormalizer` and
//!   `BertPreTokenizer` (plus `char::to_lowercase`, which Hugging Face uses) and compares them
//!   with the committed file. Regenerate with
//!   `HONE_WRITE_TABLES=1 cargo test -p hone-tests --test tokenizer_unicode tables_are_up_to_date`.
//!   (When the table layout itself changes, generate while hone still compiles against the old
//!   tables, then switch `unicode.rs` over.)
//! * `every_code_point_matches_hf`: for every Unicode scalar value, hone's per-character
//!   normalisation and punctuation class equal Hugging Face's.
//!
//! End to end with the real vocabulary: `code_points_in_context_agree` in `tokenizer_vs_hf.rs`.

use std::fmt::Write as _;

use hone::tokenizer::unicode::{self, Normalized, MAX_EXPANSION};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
};

const TABLES: &str = "../crates/hone/src/tokenizer/tables.rs";

fn hf_norm(n: &BertNormalizer, s: &str) -> String {
    let mut ns = NormalizedString::from(s);
    n.normalize(&mut ns).expect("normalize");
    ns.get().to_string()
}

fn all_chars() -> impl Iterator<Item = char> {
    (0u32..=0x10_FFFF).filter_map(char::from_u32)
}

fn is_hangul_syllable(c: char) -> bool {
    (0xAC00..=0xD7A3).contains(&u32::from(c))
}

/// Packs sorted code points into ranges `start << 11 | (len - 1)` (len ≤ 2048).
fn pack_ranges(points: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let start = points[i];
        let mut len = 1;
        while i + len < points.len() && points[i + len] == start + len as u32 && len < 2048 {
            len += 1;
        }
        out.push(start << 11 | (len as u32 - 1));
        i += len;
    }
    out
}

/// Lowercase mapping as runs `(start << 11 | (len - 1) << 1 | stride2, delta)`.
fn lower_runs(map: &[(u32, u32)]) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < map.len() {
        let (start, dst) = map[i];
        let delta = dst as i64 - start as i64;
        let run = |stride: u32| {
            let mut len = 1;
            while i + len < map.len()
                && map[i + len].0 == start + stride * len as u32
                && map[i + len].1 as i64 - map[i + len].0 as i64 == delta
                && len < 1024
            {
                len += 1;
            }
            len
        };
        let (l1, l2) = (run(1), run(2));
        let (len, stride2) = if l2 > l1 { (l2, 1) } else { (l1, 0) };
        out.push((start << 11 | (len as u32 - 1) << 1 | stride2, delta as i32));
        i += len;
    }
    out
}

fn write_u32s(src: &mut String, name: &str, doc: &str, v: &[u32]) {
    write_ints(src, name, "u32", doc, v, 8);
}

fn write_ints(src: &mut String, name: &str, ty: &str, doc: &str, v: &[u32], digits: usize) {
    writeln!(src, "/// {doc}\npub(super) static {name}: &[{ty}] = &[").unwrap();
    for chunk in v.chunks(8) {
        let line: Vec<String> = chunk.iter().map(|x| format!("0x{x:0digits$X}")).collect();
        writeln!(src, "    {},", line.join(", ")).unwrap();
    }
    writeln!(src, "];\n").unwrap();
}

/// Builds the text of `tables.rs` from Hugging Face's behaviour.
fn generate() -> String {
    let clean = BertNormalizer::new(true, false, Some(false), false);
    let strip = BertNormalizer::new(false, false, Some(true), false);
    let (mut drop, mut mark, mut punct) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bmp, mut sup, mut wide, mut multi, mut lower) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let chars: Vec<char> = all_chars().collect();
    let (mut cleaned, mut stripped_all, mut puncts) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in chars.chunks(4096) {
        cleaned.extend(hf_norm_each(&clean, chunk));
        stripped_all.extend(hf_norm_each(&strip, chunk));
        puncts.extend(hf_punct_each(chunk));
    }
    for (i, &c) in chars.iter().enumerate() {
        let code = u32::from(c);
        if cleaned[i].is_empty() {
            drop.push(code);
        }
        if puncts[i] {
            punct.push(code);
        }
        let stripped: Vec<u32> = stripped_all[i].chars().map(u32::from).collect();
        match stripped.as_slice() {
            [] => mark.push(code),
            [one] if *one == code => {}
            _ if is_hangul_syllable(c) => {}
            [one] if code < 0x1_0000 && *one < 0x1_0000 => bmp.push(code << 16 | one),
            [one] if (0x2_F800..=0x2_FA1F).contains(&code) => sup.push((code, *one)),
            [one] => wide.push((code, *one)),
            several => {
                assert!(several.len() <= 3, "{code:X} expands to {several:X?}");
                let mut row = [code, 0, 0, 0];
                row[1..=several.len()].copy_from_slice(several);
                multi.push(row);
            }
        }
        let lowered: Vec<char> = c.to_lowercase().collect();
        match lowered.as_slice() {
            [one] if *one == c => {}
            [one] => lower.push((code, u32::from(*one))),
            _ => assert_eq!(c, '\u{130}', "only U+0130 lowercases to several characters"),
        }
    }
    // The CJK compatibility supplement is stored densely, 3 bytes per code point.
    let sup_start = 0x2_F800;
    assert!(
        sup.iter()
            .enumerate()
            .all(|(i, (c, _))| *c == sup_start + i as u32),
        "dense block"
    );
    let mut sup_bytes = Vec::new();
    for (_, dst) in &sup {
        sup_bytes.extend_from_slice(&dst.to_le_bytes()[..3]);
    }

    let mut src = String::new();
    writeln!(
        src,
        "//! Unicode tables of the tokenizer. GENERATED — do not edit.\n//!\n//! Regenerate with \
         `HONE_WRITE_TABLES=1 cargo test -p hone-tests --test tokenizer_unicode \
         tables_are_up_to_date`:\n//! they are read off Hugging Face `tokenizers` (its \
         `BertNormalizer` and `BertPreTokenizer`) and\n//! `char::to_lowercase`, code point by \
         code point.\n"
    )
    .unwrap();
    write_u32s(
        &mut src,
        "DROP",
        "Removed by the text cleaner (control, format, some private use): packed ranges.",
        &pack_ranges(&drop),
    );
    write_u32s(
        &mut src,
        "PUNCT",
        "Punctuation (a word of its own): packed ranges.",
        &pack_ranges(&punct),
    );
    write_u32s(
        &mut src,
        "MARK",
        "Removed by accent stripping (nonspacing marks): packed ranges.",
        &pack_ranges(&mark),
    );
    // BMP → one BMP character, in pages of 64 code points: a bitmap per page and the targets
    // of all pages in order (a target's index is its page's rank plus the bits below it).
    let (mut pages, mut ranks, mut bits, mut dsts) =
        (Vec::<u32>::new(), Vec::new(), Vec::<u64>::new(), Vec::new());
    for &e in &bmp {
        let (code, dst) = (e >> 16, e & 0xFFFF);
        if pages.last() != Some(&(code >> 6)) {
            pages.push(code >> 6);
            ranks.push(dsts.len() as u32);
            bits.push(0);
        }
        *bits.last_mut().unwrap() |= 1 << (code & 63);
        dsts.push(dst);
    }
    write_ints(
        &mut src,
        "DECOMP_PAGE",
        "u16",
        "Accent stripping in the BMP: pages (`code >> 6`) that have targets, sorted.",
        &pages,
        4,
    );
    write_ints(
        &mut src,
        "DECOMP_RANK",
        "u16",
        "Index in [`DECOMP_DST`] of each page's first target.",
        &ranks,
        4,
    );
    writeln!(src, "/// Bitmap per page: bit `code & 63` is set when `code` has a target.\npub(super) static DECOMP_BITS: &[u64] = &[").unwrap();
    for chunk in bits.chunks(4) {
        let line: Vec<String> = chunk.iter().map(|x| format!("0x{x:016X}")).collect();
        writeln!(src, "    {},", line.join(", ")).unwrap();
    }
    writeln!(src, "];\n").unwrap();
    write_ints(
        &mut src,
        "DECOMP_DST",
        "u16",
        "Targets of the BMP pages, in code point order.",
        &dsts,
        4,
    );
    writeln!(src, "/// First code point of [`DECOMP_SUP`].\npub(super) const DECOMP_SUP_START: u32 = 0x{sup_start:X};\n").unwrap();
    writeln!(src, "/// Accent stripping of CJK compatibility ideographs from `DECOMP_SUP_START`: 3-byte LE targets.\npub(super) static DECOMP_SUP: &[u8] = &[").unwrap();
    for chunk in sup_bytes.chunks(16) {
        let line: Vec<String> = chunk.iter().map(|x| format!("0x{x:02X}")).collect();
        writeln!(src, "    {},", line.join(", ")).unwrap();
    }
    writeln!(src, "];\n").unwrap();
    writeln!(src, "/// Accent stripping, other supplementary characters: `(src, dst)`, sorted.\npub(super) static DECOMP_WIDE: &[(u32, u32)] = &[").unwrap();
    for (a, b) in &wide {
        writeln!(src, "    (0x{a:X}, 0x{b:X}),").unwrap();
    }
    writeln!(src, "];\n").unwrap();
    writeln!(src, "/// Accent stripping to several characters: `[src, a, b, c]` (0 = none), sorted.\npub(super) static DECOMP_MULTI: &[[u32; 4]] = &[").unwrap();
    for [a, b, c, d] in &multi {
        writeln!(src, "    [0x{a:X}, 0x{b:X}, 0x{c:X}, 0x{d:X}],").unwrap();
    }
    writeln!(src, "];\n").unwrap();
    writeln!(
        src,
        "/// Lowercase runs `(start << 11 | (len - 1) << 1 | stride_is_2, delta)`, sorted.\npub(super) static LOWER: &[(u32, i32)] = &["
    )
    .unwrap();
    for (k, d) in lower_runs(&lower) {
        writeln!(src, "    (0x{k:08X}, {d}),").unwrap();
    }
    writeln!(src, "];").unwrap();
    src
}

#[test]
fn tables_are_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(TABLES);
    let fresh = generate();
    if std::env::var("HONE_WRITE_TABLES").as_deref() == Ok("1") {
        std::fs::write(&path, &fresh).expect("write tables");
        eprintln!("wrote {}", path.display());
    }
    let committed = std::fs::read_to_string(&path).expect("tables.rs");
    assert!(
        committed == fresh,
        "tables.rs differs from what Hugging Face tokenizers gives; regenerate (see module docs)"
    );
}

/// hone's normalisation of `c` as the string Hugging Face's normalizer produces.
fn ours(c: char, lowercase: bool, strip: bool) -> String {
    let mut out = ['\0'; MAX_EXPANSION];
    match unicode::normalize(c, lowercase, strip, &mut out) {
        Normalized::Dropped => String::new(),
        Normalized::Space => String::from(" "),
        Normalized::Chars { len, cjk } => {
            let s: String = out[..len].iter().collect();
            if cjk {
                format!(" {s} ")
            } else {
                s
            }
        }
    }
}

/// Hugging Face's normalisation of each of `chars`, computed in one call: the characters are
/// joined by `|` (or `ア` if `|` is among them), which every setting keeps as is and which
/// blocks canonical reordering.
fn hf_norm_each(n: &BertNormalizer, chars: &[char]) -> Vec<String> {
    let sep = ['|', 'ア']
        .into_iter()
        .find(|s| !chars.contains(s))
        .expect("a separator");
    let joined: String = chars.iter().flat_map(|&c| [c, sep]).collect();
    let out = hf_norm(n, &joined);
    let mut parts: Vec<String> = out.split(sep).map(String::from).collect();
    assert_eq!(parts.pop().as_deref(), Some(""));
    assert_eq!(parts.len(), chars.len());
    parts
}

/// Hugging Face's punctuation class of each of `chars`, in one call: segments `a{c}a` joined
/// by spaces split into 3 pieces exactly when `c` is punctuation.
fn hf_punct_each(chars: &[char]) -> Vec<bool> {
    let joined: String = chars.iter().map(|c| format!("a{c}a ")).collect();
    let mut p = PreTokenizedString::from(joined.as_str());
    BertPreTokenizer.pre_tokenize(&mut p).expect("pre_tokenize");
    let mut pieces = vec![0usize; chars.len()];
    for (_, (start, _), _) in p.get_splits(OffsetReferential::Original, OffsetType::Char) {
        pieces[start / 4] += 1;
    }
    pieces.into_iter().map(|n| n == 3).collect()
}

#[test]
fn every_code_point_matches_hf() {
    let chars: Vec<char> = all_chars().collect();
    let mut checked = 0usize;
    let mut bad = Vec::new();
    for (lowercase, strip) in [(true, true), (true, false), (false, true), (false, false)] {
        let hf = BertNormalizer::new(true, true, Some(strip), lowercase);
        for chunk in chars.chunks(4096) {
            for (&c, want) in chunk.iter().zip(hf_norm_each(&hf, chunk)) {
                checked += 1;
                let got = ours(c, lowercase, strip);
                if want != got {
                    let code = u32::from(c);
                    bad.push(format!("U+{code:04X} lowercase={lowercase} strip={strip}: hf {want:?} hone {got:?}"));
                }
            }
        }
    }
    for chunk in chars.chunks(4096) {
        for (&c, want) in chunk.iter().zip(hf_punct_each(chunk)) {
            checked += 1;
            if want != unicode::is_punctuation(c) {
                bad.push(format!(
                    "U+{:04X}: punctuation hf {want} hone {}",
                    u32::from(c),
                    !want
                ));
            }
        }
    }
    println!(
        "{checked} (code point, setting) pairs checked, {} differ",
        bad.len()
    );
    for b in bad.iter().take(30) {
        println!("  {b}");
    }
    assert_eq!(checked, 5 * chars.len());
    assert!(
        bad.is_empty(),
        "{} code points normalise differently from Hugging Face",
        bad.len()
    );
}
