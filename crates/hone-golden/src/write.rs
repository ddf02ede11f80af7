//! Writing golden files (host side).

use alloc::vec::Vec;

use crate::{Error, Header, Vector, MAGIC, VERSION};

/// Encodes a golden file: the header (with `model_crc`) followed by `vectors`.
pub fn write(model_crc: u32, vectors: &[Vector<'_>]) -> Result<Vec<u8>, Error> {
    let count = u32::try_from(vectors.len()).map_err(|_| Error::Encode)?;
    let header = Header {
        magic: MAGIC,
        version: VERSION,
        model_crc,
        count,
    };
    let mut out = postcard::to_allocvec(&header).map_err(|_| Error::Encode)?;
    for v in vectors {
        out.extend_from_slice(&postcard::to_allocvec(v).map_err(|_| Error::Encode)?);
    }
    Ok(out)
}

/// `i8` values as bytes.
pub fn i8_bytes(values: &[i8]) -> Vec<u8> {
    values.iter().map(|v| v.to_le_bytes()[0]).collect()
}

/// `i32` values as little-endian bytes.
pub fn i32_bytes(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `u32` values as little-endian bytes.
pub fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `f32` values as little-endian bit patterns.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| v.to_bits().to_le_bytes())
        .collect()
}
