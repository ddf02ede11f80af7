//! Per-character normalisation of the basic (pre-WordPiece) tokenizer.
//!
//! Reproduces Hugging Face `tokenizers`' `BertNormalizer` (clean text, CJK padding, accent
//! stripping, lowercase) and the punctuation class of its `BertPreTokenizer`, code point by
//! code point. The tables in `tables.rs` are generated from Hugging Face's own behaviour (so
//! they carry its Unicode versions: its category and decomposition data are Unicode 9.0;
//! lowercase is Rust's `char::to_lowercase`) and `tests/tests/tokenizer_unicode.rs` checks
//! every code point against it. Public so that other implementations can be cross-checked.
//!
//! Whole-string effects are not reproduced: canonical reordering of combining marks other than
//! nonspacing marks (NFD sorts them by combining class; they are kept in input order here).

use super::tables::{
    DECOMP_BITS, DECOMP_DST, DECOMP_MULTI, DECOMP_PAGE, DECOMP_RANK, DECOMP_SUP, DECOMP_SUP_START,
    DECOMP_WIDE, DROP, LOWER, MARK, PUNCT,
};

/// Most characters one input character can normalise to.
pub const MAX_EXPANSION: usize = 9;

/// What one input character becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalized {
    /// Removed (control/format character, NUL, U+FFFD, or a mark removed by accent stripping).
    Dropped,
    /// Whitespace: a word break.
    Space,
    /// `len` characters written to the output buffer; `cjk` when they form a word of their own
    /// (a CJK ideograph).
    Chars {
        /// Number of characters written.
        len: usize,
        /// The input was a CJK ideograph.
        cjk: bool,
    },
}

/// Membership in a table of packed ranges `start << 11 | (len - 1)`.
fn in_ranges(table: &[u32], code: u32) -> bool {
    let i = table.partition_point(|&e| (e >> 11) <= code);
    i > 0
        && table
            .get(i - 1)
            .is_some_and(|&e| code - (e >> 11) <= (e & 0x7FF))
}

/// `true` for characters the text cleaner removes: NUL, U+FFFD and control/format characters
/// (Hugging Face's "other" class: Cc, Cf and some private-use characters).
pub fn is_dropped(c: char) -> bool {
    in_ranges(DROP, u32::from(c))
}

/// `true` for the CJK ideographs Hugging Face's `BertNormalizer` surrounds with spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x2_0000..=0x2_A6DF
        | 0x2_A700..=0x2_B73F
        | 0x2_B740..=0x2_B81F
        | 0x2_B920..=0x2_CEAF
        | 0xF900..=0xFAFF
        | 0x2_F800..=0x2_FA1F)
}

/// `true` for characters that form a word of their own: ASCII punctuation and Unicode P*.
pub fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && in_ranges(PUNCT, u32::from(c)))
}

fn to_char(code: u32) -> char {
    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// BMP accent stripping to one BMP character (page bitmap + rank lookup).
fn decomp_bmp(code: u32) -> Option<u32> {
    let page = u16::try_from(code >> 6).ok()?;
    let i = DECOMP_PAGE.binary_search(&page).ok()?;
    let bits = *DECOMP_BITS.get(i)?;
    let bit = code & 63;
    if (bits >> bit) & 1 == 0 {
        return None;
    }
    let below = (bits & ((1u64 << bit) - 1)).count_ones();
    let rank = usize::from(*DECOMP_RANK.get(i)?) + below as usize;
    DECOMP_DST.get(rank).map(|&d| u32::from(d))
}

/// Canonical decomposition with nonspacing marks removed, written into `out`; returns the
/// count (0 for a nonspacing mark, at most 3).
pub fn strip_accents(c: char, out: &mut [char; 3]) -> usize {
    let code = u32::from(c);
    if code < 0xC0 {
        out[0] = c;
        return 1;
    }
    if in_ranges(MARK, code) {
        return 0;
    }
    // Hangul syllables decompose algorithmically into conjoining jamo (all kept).
    let s = code.wrapping_sub(0xAC00);
    if s < 11_172 {
        out[0] = to_char(0x1100 + s / 588);
        out[1] = to_char(0x1161 + (s % 588) / 28);
        if s % 28 == 0 {
            return 2;
        }
        out[2] = to_char(0x11A7 + s % 28);
        return 3;
    }
    let mapped = if code < 0x1_0000 {
        decomp_bmp(code)
    } else if let Some(i) = code.checked_sub(DECOMP_SUP_START) {
        let i = i as usize * 3;
        DECOMP_SUP
            .get(i..)
            .and_then(<[u8]>::first_chunk::<3>)
            .map(|&[a, b, c]| u32::from(a) | u32::from(b) << 8 | u32::from(c) << 16)
    } else {
        None
    };
    let mapped = mapped.or_else(|| {
        DECOMP_WIDE
            .binary_search_by_key(&code, |&(src, _)| src)
            .ok()
            .and_then(|i| DECOMP_WIDE.get(i))
            .map(|&(_, dst)| dst)
    });
    if let Some(dst) = mapped {
        out[0] = to_char(dst);
        return 1;
    }
    if let Some(row) = DECOMP_MULTI
        .binary_search_by_key(&code, |row| row[0])
        .ok()
        .and_then(|i| DECOMP_MULTI.get(i))
    {
        let mut n = 0;
        for (slot, &part) in out.iter_mut().zip(&row[1..]).filter(|(_, &p)| p != 0) {
            *slot = to_char(part);
            n += 1;
        }
        return n;
    }
    out[0] = c;
    1
}

/// Full lowercase mapping (as `char::to_lowercase`), written into `out`; returns the count.
pub fn lowercase(c: char, out: &mut [char; 3]) -> usize {
    let code = u32::from(c);
    if c.is_ascii() {
        out[0] = c.to_ascii_lowercase();
        return 1;
    }
    if code == 0x130 {
        // LATIN CAPITAL LETTER I WITH DOT ABOVE → "i\u{307}".
        out[0] = 'i';
        out[1] = '\u{307}';
        return 2;
    }
    let i = LOWER.partition_point(|&(key, _)| (key >> 11) <= code);
    out[0] = c;
    if let Some(&(key, delta)) = i.checked_sub(1).and_then(|i| LOWER.get(i)) {
        let offset = code - (key >> 11);
        let stride = 1 + (key & 1);
        let len = ((key >> 1) & 0x3FF) + 1;
        if offset % stride == 0 && offset / stride < len {
            out[0] = to_char(code.wrapping_add_signed(delta));
        }
    }
    1
}

/// Normalises one input character as Hugging Face's `BertNormalizer` does (clean text, CJK
/// padding, then optionally strip accents and lowercase), writing the resulting characters into
/// `out`.
pub fn normalize(
    c: char,
    lowercase_text: bool,
    strip: bool,
    out: &mut [char; MAX_EXPANSION],
) -> Normalized {
    if c.is_ascii() {
        // Fast path, same result as the general one: controls other than \t \n \r (VT and
        // FF included) are dropped before whitespace is considered.
        return match c {
            '\t' | '\n' | '\r' | ' ' => Normalized::Space,
            _ if c.is_ascii_control() => Normalized::Dropped,
            _ => {
                out[0] = if lowercase_text {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                Normalized::Chars { len: 1, cjk: false }
            }
        };
    }
    if is_dropped(c) {
        return Normalized::Dropped;
    }
    if c.is_whitespace() {
        return Normalized::Space;
    }
    let mut stripped = [c; 3];
    let n = if strip {
        strip_accents(c, &mut stripped)
    } else {
        1
    };
    if n == 0 {
        return Normalized::Dropped;
    }
    let mut len = 0;
    for &s in stripped.iter().take(n) {
        let mut lowered = [s; 3];
        let m = if lowercase_text {
            lowercase(s, &mut lowered)
        } else {
            1
        };
        for &l in lowered.iter().take(m) {
            if let Some(slot) = out.get_mut(len) {
                *slot = l;
                len += 1;
            }
        }
    }
    Normalized::Chars {
        len,
        cjk: is_cjk(c),
    }
}
