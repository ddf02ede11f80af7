//! Shared by the fuzz targets and the seed generator: the models they use, a simulated NOR
//! flash and the journal's flash layout.

use std::sync::OnceLock;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Feature length of [`journal_model`] (two 32-value chunks, the second partial).
pub const JOURNAL_DIM: usize = 48;
/// Bytes of the journal's flash region (two 2 KiB slots).
pub const FLASH_BYTES: usize = 4096;
/// Control bytes in front of a journal input: flags, then material for a new class.
pub const JOURNAL_PREFIX: usize = 1 + EXTRA;
/// Bytes of material for the class the journal target enrols before saving.
pub const EXTRA: usize = 40;

fn leak(blob: Vec<u8>) -> &'static [u8] {
    Box::leak(blob.into_boxed_slice())
}

/// hone-build's static test model (16-wide embeddings, 12 features).
pub fn tiny_model() -> &'static [u8] {
    static B: OnceLock<&'static [u8]> = OnceLock::new();
    B.get_or_init(|| leak(hone_build::testutil::tiny_model().expect("tiny model builds")))
}

/// The model whose head the journal states extend: 48 features.
pub fn journal_model() -> &'static [u8] {
    static B: OnceLock<&'static [u8]> = OnceLock::new();
    B.get_or_init(|| {
        leak(
            hone_build::testutil::build_static(16, JOURNAL_DIM, 0x5eed_00f2)
                .expect("journal model builds"),
        )
    })
}

/// The shipped model's blob (its 30k-token vocabulary for the tokenizer target). Not a seed.
pub static SHIPPED: &[u8] = include_bytes!("../../models/hone-intent/model.hone");

/// Why a simulated flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// Misaligned or outside the chip.
    Bad,
    /// Programming bytes that are not erased.
    NotErased,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::Bad => NorFlashErrorKind::NotAligned,
            SimError::NotErased => NorFlashErrorKind::Other,
        }
    }
}

/// NOR flash in RAM with read unit `R`, program unit `W` and erase unit `E`: refuses
/// misaligned or out-of-chip accesses and programming bytes that are not erased.
#[derive(Debug, Clone)]
pub struct SimFlash<const R: usize, const W: usize, const E: usize> {
    /// The chip's contents.
    pub mem: Vec<u8>,
}

impl<const R: usize, const W: usize, const E: usize> SimFlash<R, W, E> {
    /// A chip holding `image`, padded with erased bytes (or cut) to `bytes`.
    pub fn with_image(image: &[u8], bytes: usize) -> Self {
        let mut mem = vec![0xFF; bytes];
        let n = image.len().min(bytes);
        mem[..n].copy_from_slice(&image[..n]);
        Self { mem }
    }
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for SimFlash<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for SimFlash<R, W, E> {
    const READ_SIZE: usize = R;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        let o = offset as usize;
        if !o.is_multiple_of(R) || !bytes.len().is_multiple_of(R) {
            return Err(SimError::Bad);
        }
        let src = self.mem.get(o..o + bytes.len()).ok_or(SimError::Bad)?;
        bytes.copy_from_slice(src);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for SimFlash<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        let (from, to) = (from as usize, to as usize);
        if !from.is_multiple_of(E) || !to.is_multiple_of(E) || from > to || to > self.mem.len() {
            return Err(SimError::Bad);
        }
        self.mem[from..to].fill(0xFF);
        Ok(())
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        let o = offset as usize;
        if !o.is_multiple_of(W)
            || !bytes.len().is_multiple_of(W)
            || o + bytes.len() > self.mem.len()
        {
            return Err(SimError::Bad);
        }
        if self.mem[o..o + bytes.len()].iter().any(|&b| b != 0xFF) {
            return Err(SimError::NotErased);
        }
        self.mem[o..o + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

/// Rewrites the CRC of the journal slot at `start` (`slot` bytes, 16-byte header) so that it
/// matches its declared sequence, length and payload, when the length fits the slot: lets
/// the fuzzer reach the record decoder behind the checksum.
pub fn fix_slot_crc(mem: &mut [u8], start: usize, slot: usize) {
    let Some(s) = mem.get_mut(start..start + slot) else {
        return;
    };
    let len = u32::from_le_bytes([s[8], s[9], s[10], s[11]]) as usize;
    if len > slot - 16 {
        return;
    }
    let mut d = hone::format::CRC32.digest();
    d.update(&s[4..12]);
    d.update(&s[16..16 + len]);
    s[12..16].copy_from_slice(&d.finalize().to_le_bytes());
}
