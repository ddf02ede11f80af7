//! The one little-endian reader of the crate: arrays of numbers stored in a blob as bytes and
//! read in place.
//!
//! The indexed readers are total (a value past the end reads as 0; index arithmetic wraps, so
//! no input can make them panic). Code that walks a whole array uses the iterators, which
//! yield exactly `bytes.len() / 4` values.

/// The `i`-th little-endian `f32` of `bytes`, or 0.0 past the end.
#[inline]
pub fn read_f32(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(read_u32(bytes, i))
}

/// The `i`-th little-endian `i32` of `bytes`, or 0 past the end.
#[inline]
pub fn read_i32(bytes: &[u8], i: usize) -> i32 {
    read_u32(bytes, i) as i32
}

/// The `i`-th little-endian `u32` of `bytes`, or 0 past the end.
#[inline]
pub fn read_u32(bytes: &[u8], i: usize) -> u32 {
    let s = i.wrapping_mul(4);
    match bytes.get(s..s.wrapping_add(4)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// The little-endian `f32`s of `bytes`, in order (a trailing partial word is ignored).
#[inline]
pub fn f32s(bytes: &[u8]) -> impl ExactSizeIterator<Item = f32> + Clone + '_ {
    words(bytes).map(|w| f32::from_le_bytes(*w))
}

/// The little-endian `i32`s of `bytes`, in order (a trailing partial word is ignored).
#[inline]
pub fn i32s(bytes: &[u8]) -> impl ExactSizeIterator<Item = i32> + Clone + '_ {
    words(bytes).map(|w| i32::from_le_bytes(*w))
}

fn words(bytes: &[u8]) -> core::slice::Iter<'_, [u8; 4]> {
    bytes.as_chunks::<4>().0.iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_are_little_endian_and_total() {
        let b = [1, 0, 0, 0, 0, 0, 0x80, 0xbf, 9];
        assert_eq!(read_i32(&b, 0), 1);
        assert_eq!(read_f32(&b, 1), -1.0);
        assert_eq!(read_u32(&b, 2), 0);
        assert_eq!(read_u32(&b, usize::MAX), 0);
        assert_eq!(f32s(&b).len(), 2);
        assert_eq!(
            i32s(&b).collect::<heapless::Vec<i32, 4>>(),
            [1, -1_082_130_432]
        );
    }
}
