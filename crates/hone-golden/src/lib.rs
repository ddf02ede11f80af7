//! Golden vectors: inputs together with the host build's exact outputs, in a compact format
//! that the firmware embeds in flash (`include_bytes!`) and checks bit for bit.
//!
//! A golden file is a postcard-encoded [`Header`] followed by `header.count` postcard-encoded
//! [`Vector`]s. Every numeric array is stored as little-endian bytes and borrowed zero-copy
//! from the file, so reading needs neither an allocator nor any alignment.
//!
//! Comparison rules ([`f32_matches`]): an `f32` matches when its bits are equal, except that
//! an expected NaN matches any NaN (a NaN made at run time has a different sign bit on x86
//! and Arm). Integers must be equal.
//!
//! With the `alloc` feature, [`write()`] and the `*_bytes` helpers build a golden file on the
//! host; with `generate`, [`generate::classify`] computes classification vectors with the
//! host build of `hone`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

use serde::{Deserialize, Serialize};

/// The first four bytes of every golden file.
pub const MAGIC: [u8; 4] = *b"HGLD";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;

/// The start of a golden file.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Always [`MAGIC`].
    pub magic: [u8; 4],
    /// Always [`VERSION`] for files this crate writes.
    pub version: u16,
    /// [`model_crc`] of the model blob the vectors were computed with (0 when none was used).
    pub model_crc: u32,
    /// Number of vectors that follow.
    pub count: u32,
}

/// One golden vector: inputs and the expected outputs, borrowed from the file.
///
/// New variants are only ever appended, so older files stay readable.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Vector<'a> {
    /// `hone::kernels::matvec_i8(x, w, acc)`.
    Matvec {
        /// Input vector, `i8` as bytes.
        x: &'a [u8],
        /// Row-major weights, `i8` as bytes.
        w: &'a [u8],
        /// Expected accumulators, `i32` little-endian.
        acc: &'a [u8],
    },
    /// Tokenise a prompt and classify it with the embedded model.
    Classify {
        /// The prompt text.
        prompt: &'a str,
        /// Expected token ids, `u32` little-endian.
        tokens: &'a [u8],
        /// Expected head input features (the pooled vector), `f32` bits little-endian.
        features: &'a [u8],
        /// Expected log-probabilities of every class, `f32` bits little-endian.
        log_probs: &'a [u8],
        /// Expected predicted label.
        label: u32,
    },
    /// Adaptation: collect `prompt` as an example of `label` ([`hone::adapt::Session::enrol`]).
    Enrol {
        /// The prompt.
        prompt: &'a str,
        /// Label name (enrolled if new).
        label: &'a str,
        /// Expected class id.
        class: u32,
    },
    /// Adaptation: imprint and fine-tune the enrolled classes ([`hone::adapt::Session::train`]
    /// with [`adapt::train_config`]`(epochs, seed)`).
    Train {
        /// Epochs.
        epochs: u16,
        /// Shuffle seed.
        seed: u32,
        /// Expected optimisation steps.
        steps: u32,
        /// Expected epoch of the kept head.
        best_epoch: u16,
        /// Expected validation NLL before, `f32` bits.
        val_before: u32,
        /// Expected validation NLL after, `f32` bits.
        val_after: u32,
        /// Expected rollback.
        rolled_back: bool,
    },
    /// Adaptation: classify `prompt` with the base head and with the adapted head.
    Evaluate {
        /// The prompt.
        prompt: &'a str,
        /// The true label's name (for accuracy).
        truth: &'a str,
        /// Expected label of the base model.
        before: u32,
        /// Expected label of the adapted head.
        after: u32,
        /// Expected log-probabilities of the adapted head, `f32` bits little-endian.
        log_probs: &'a [u8],
    },
    /// Adaptation: save the state through `NorFlash`, clear it, reload it and compare
    /// digests ([`hone::adapt::Session::digest`]; no expected data: the reloaded state must equal
    /// the saved one). Later vectors run on the reloaded state.
    Persist,
}

/// Why a golden file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The file does not start with [`MAGIC`].
    BadMagic,
    /// The file has another format version.
    UnsupportedVersion(u16),
    /// The header or a vector could not be decoded (truncated or corrupt file).
    Decode,
    /// Bytes remain after the last vector.
    TrailingBytes,
    /// Encoding failed (host side only).
    Encode,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BadMagic => f.write_str("not a golden file (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported golden format version {v}"),
            Error::Decode => f.write_str("truncated or corrupt golden file"),
            Error::TrailingBytes => f.write_str("trailing bytes after the last golden vector"),
            Error::Encode => f.write_str("could not encode golden vectors"),
        }
    }
}

impl core::error::Error for Error {}

/// A parsed golden file: its header and a reader over its vectors.
#[derive(Debug, Clone, Copy)]
pub struct Golden<'a> {
    /// The file's header.
    pub header: Header,
    body: &'a [u8],
}

impl<'a> Golden<'a> {
    /// Reads the header of `bytes`; the vectors are decoded lazily by [`Golden::vectors`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let (header, body) =
            postcard::take_from_bytes::<Header>(bytes).map_err(|_| Error::Decode)?;
        if header.magic != MAGIC {
            return Err(Error::BadMagic);
        }
        if header.version != VERSION {
            return Err(Error::UnsupportedVersion(header.version));
        }
        Ok(Self { header, body })
    }

    /// The vectors, in file order. After the last one, leftover bytes yield
    /// [`Error::TrailingBytes`]; a decoding error ends the iteration.
    pub fn vectors(&self) -> Vectors<'a> {
        Vectors {
            rest: self.body,
            left: self.header.count,
            failed: false,
        }
    }
}

/// Iterator over the vectors of a [`Golden`] file.
#[derive(Debug, Clone)]
pub struct Vectors<'a> {
    rest: &'a [u8],
    left: u32,
    failed: bool,
}

impl<'a> Iterator for Vectors<'a> {
    type Item = Result<Vector<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(Error::TrailingBytes));
        }
        match postcard::take_from_bytes::<Vector<'a>>(self.rest) {
            Ok((v, rest)) => {
                self.rest = rest;
                self.left -= 1;
                Some(Ok(v))
            }
            Err(_) => {
                self.failed = true;
                Some(Err(Error::Decode))
            }
        }
    }
}

/// CRC-32 of a model blob ([`hone::format::CRC32`]), recorded in [`Header::model_crc`].
pub fn model_crc(blob: &[u8]) -> u32 {
    hone::format::CRC32.checksum(blob)
}

/// The first difference between expected and actual values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mismatch {
    /// Different number of values.
    Length {
        /// Number of expected values.
        expected: usize,
        /// Number of computed values.
        actual: usize,
    },
    /// The value at `index` differs; both shown as raw 32-bit patterns.
    Value {
        /// Position of the first differing value.
        index: usize,
        /// Expected bits.
        expected: u32,
        /// Computed bits.
        actual: u32,
    },
}

/// Little-endian 32-bit words of `bytes` (a trailing partial word is ignored; lengths are
/// checked separately by the `check_*` functions).
pub fn words(bytes: &[u8]) -> impl ExactSizeIterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// Whether a computed `f32` matches the expected bits: equal bits, or both NaN.
pub fn f32_matches(expected_bits: u32, actual: f32) -> bool {
    let expected = f32::from_bits(expected_bits);
    if expected.is_nan() {
        actual.is_nan()
    } else {
        expected_bits == actual.to_bits()
    }
}

fn check_words(
    expected: &[u8],
    actual: impl ExactSizeIterator<Item = u32>,
    same: impl Fn(u32, u32) -> bool,
) -> Result<(), Mismatch> {
    if !expected.len().is_multiple_of(4) || expected.len() / 4 != actual.len() {
        return Err(Mismatch::Length {
            expected: expected.len() / 4,
            actual: actual.len(),
        });
    }
    for (index, (e, a)) in words(expected).zip(actual).enumerate() {
        if !same(e, a) {
            return Err(Mismatch::Value {
                index,
                expected: e,
                actual: a,
            });
        }
    }
    Ok(())
}

/// Compares computed `f32`s with expected little-endian bits ([`f32_matches`]).
pub fn check_f32(expected: &[u8], actual: &[f32]) -> Result<(), Mismatch> {
    check_words(expected, actual.iter().map(|v| v.to_bits()), |e, a| {
        f32_matches(e, f32::from_bits(a))
    })
}

/// Compares computed `i32`s with expected little-endian values.
pub fn check_i32(expected: &[u8], actual: &[i32]) -> Result<(), Mismatch> {
    check_words(
        expected,
        actual.iter().map(|&v| u32::from_ne_bytes(v.to_ne_bytes())),
        |e, a| e == a,
    )
}

/// Compares computed `u32`s with expected little-endian values.
pub fn check_u32(
    expected: &[u8],
    actual: impl ExactSizeIterator<Item = u32>,
) -> Result<(), Mismatch> {
    check_words(expected, actual, |e, a| e == a)
}

pub mod adapt;
#[cfg(feature = "generate")]
pub mod generate;
#[cfg(feature = "alloc")]
mod write;
#[cfg(feature = "alloc")]
pub use write::{f32_bytes, i32_bytes, i8_bytes, u32_bytes, write};

#[cfg(test)]
mod tests;
