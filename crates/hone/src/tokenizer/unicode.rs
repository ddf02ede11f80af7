//! Character classes and normalisation used by the basic (pre-WordPiece) tokenizer.
//!
//! Mirrors Hugging Face's `BertNormalizer` + `BertPreTokenizer`. This first version is exact
//! for ASCII and Latin-1 and approximate elsewhere (see the module docs of `tokenizer`).

/// `true` for characters the text cleaner removes: NUL, U+FFFD and "other" (C*) characters
/// except tab, line feed and carriage return.
pub(crate) fn is_dropped(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        '\u{FFFD}' => true,
        _ => {
            c.is_control()
                || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
                    | '\u{E000}'..='\u{F8FF}')
        }
    }
}

/// `true` for CJK ideographs, which BERT splits into one token each.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
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
pub(crate) fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c, '¡' | '§' | '«' | '¶' | '·' | '»' | '¿'
            | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205E}'
            | '\u{3001}'..='\u{3003}' | '\u{3008}'..='\u{3011}')
}

/// Latin-1 Supplement letters U+00C0..=U+00FF with their accents stripped (NFD without Mn).
const LATIN1_BASE: &[u8; 64] = b"AAAAAA\xC6CEEEEIIII\xD0NOOOOO\xD7\xD8UUUUY\xDE\xDFaaaaaa\xE6ceeeeiiii\xF0nooooo\xF7\xF8uuuuy\xFEy";

/// Canonical decomposition with nonspacing marks (Mn) removed, written into `out`.
/// Returns how many characters were written (0 when `c` is itself a mark).
pub(crate) fn strip_accents(c: char, out: &mut [char; 4]) -> usize {
    let code = c as u32;
    if (0xC0..=0xFF).contains(&code) {
        out[0] = char::from(LATIN1_BASE[(code - 0xC0) as usize]);
        return 1;
    }
    if (0x300..=0x36F).contains(&code) {
        return 0;
    }
    out[0] = c;
    1
}
