//! [`SimFlash`]: NOR flash simulated in memory, for tests and host tools that exercise the
//! persistence of `hone::adapt::persist` without a device.
//!
//! It keeps the rules a flash driver enforces: reads anywhere inside the chip; erase only
//! whole `ERASE`-byte sectors (to `0xFF`); program only 4-byte aligned words that are erased
//! (NOR can clear bits once per erase, so programming a word twice is refused). A power cut
//! can be scheduled after any number of program/erase steps: the step past the budget is
//! torn — a torn word keeps only its first two bytes programmed, a torn erase leaves only the
//! first half of its sector erased (or, with a clean cut, the step does not start) — and
//! every later access fails, until [`SimFlash::reboot`].

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Program unit of a [`SimFlash`], bytes.
pub const WRITE_SIZE: usize = 4;

/// Why a [`SimFlash`] access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// Misaligned or out of bounds (the flash driver would refuse).
    Bad,
    /// Programming a word that is not erased.
    NotErased,
    /// Power was cut.
    PowerLost,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::Bad => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// NOR flash in memory with `ERASE`-byte sectors and 4-byte program words.
#[derive(Debug, Clone)]
pub struct SimFlash<const ERASE: usize = 256> {
    mem: Vec<u8>,
    budget: Option<usize>,
    clean: bool,
    steps: usize,
    dead: bool,
}

impl<const ERASE: usize> SimFlash<ERASE> {
    /// An erased chip of `bytes` bytes.
    pub fn new(bytes: usize) -> Self {
        Self::from_image(vec![0xFF; bytes])
    }

    /// A chip holding `image` (e.g. read back from a file).
    pub fn from_image(image: Vec<u8>) -> Self {
        Self {
            mem: image,
            budget: None,
            clean: false,
            steps: 0,
            dead: false,
        }
    }

    /// The same chip after a power cycle: same contents, no scheduled cut, steps counted
    /// from zero.
    pub fn reboot(&self) -> Self {
        Self::from_image(self.mem.clone())
    }

    /// The chip's contents.
    pub fn image(&self) -> &[u8] {
        &self.mem
    }

    /// The chip's contents, to corrupt on purpose (bit decay, stray writes).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.mem
    }

    /// Cuts power during the program/erase step after the next `steps` ones; with `clean`,
    /// just before that step instead of in its middle.
    pub fn cut_after(&mut self, steps: usize, clean: bool) {
        self.budget = Some(self.steps.saturating_add(steps));
        self.clean = clean;
    }

    /// Program/erase steps (word programs and sector erases) since power-up.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// `Ok(true)`: the step completes; `Ok(false)`: it is torn now.
    fn tick(&mut self) -> Result<bool, SimError> {
        if self.dead {
            return Err(SimError::PowerLost);
        }
        self.steps += 1;
        match self.budget {
            Some(b) if self.steps > b => {
                self.dead = true;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    fn span(&mut self, from: usize, len: usize) -> Result<&mut [u8], SimError> {
        let end = from.checked_add(len).ok_or(SimError::Bad)?;
        self.mem.get_mut(from..end).ok_or(SimError::Bad)
    }
}

impl<const ERASE: usize> ErrorType for SimFlash<ERASE> {
    type Error = SimError;
}

impl<const ERASE: usize> ReadNorFlash for SimFlash<ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if self.dead {
            return Err(SimError::PowerLost);
        }
        bytes.copy_from_slice(self.span(offset as usize, bytes.len())?);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const ERASE: usize> NorFlash for SimFlash<ERASE> {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        let (from, to) = (from as usize, to as usize);
        if !from.is_multiple_of(ERASE) || !to.is_multiple_of(ERASE) || from > to {
            return Err(SimError::Bad);
        }
        self.span(from, to - from)?;
        for s in (from..to).step_by(ERASE) {
            if !self.tick()? {
                if !self.clean {
                    self.span(s, ERASE / 2)?.fill(0xFF);
                }
                return Err(SimError::PowerLost);
            }
            self.span(s, ERASE)?.fill(0xFF);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        let o = offset as usize;
        if !o.is_multiple_of(WRITE_SIZE) || !bytes.len().is_multiple_of(WRITE_SIZE) {
            return Err(SimError::Bad);
        }
        self.span(o, bytes.len())?;
        for (i, word) in bytes.chunks(WRITE_SIZE).enumerate() {
            let at = o + i * WRITE_SIZE;
            if self.span(at, WRITE_SIZE)?.iter().any(|&b| b != 0xFF) {
                return Err(SimError::NotErased);
            }
            if !self.tick()? {
                if !self.clean {
                    self.span(at, 2)?.copy_from_slice(&word[..2]);
                }
                return Err(SimError::PowerLost);
            }
            self.span(at, WRITE_SIZE)?.copy_from_slice(word);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nor_rules_are_enforced() {
        let mut f = SimFlash::<256>::new(1024);
        assert_eq!(f.write(0, &[0, 1, 2, 3]), Ok(()));
        assert_eq!(f.write(0, &[0, 1, 2, 3]), Err(SimError::NotErased));
        assert_eq!(f.write(2, &[0; 4]), Err(SimError::Bad));
        assert_eq!(f.write(1024, &[0; 4]), Err(SimError::Bad));
        assert_eq!(f.erase(0, 100), Err(SimError::Bad));
        assert_eq!(f.erase(0, 2048), Err(SimError::Bad));
        assert_eq!(f.erase(0, 256), Ok(()));
        assert!(f.image()[..4].iter().all(|&b| b == 0xFF));
        let mut b = [0u8; 2];
        assert_eq!(f.read(1023, &mut b), Err(SimError::Bad));
        assert_eq!(f.steps(), 2);
    }

    #[test]
    fn a_cut_tears_one_step_and_stops_the_chip_until_reboot() {
        let mut f = SimFlash::<256>::new(512);
        f.cut_after(1, false);
        assert_eq!(f.write(0, &[0; 8]), Err(SimError::PowerLost));
        assert_eq!(&f.image()[..8], &[0, 0, 0, 0, 0, 0, 0xFF, 0xFF]);
        let mut b = [0u8; 1];
        assert_eq!(f.read(0, &mut b), Err(SimError::PowerLost));
        let mut g = f.reboot();
        assert_eq!(g.read(0, &mut b), Ok(()));
        g.cut_after(0, true);
        assert_eq!(g.erase(0, 256), Err(SimError::PowerLost));
        assert_eq!(g.image()[0], 0, "a clean cut does not start the step");
    }
}
