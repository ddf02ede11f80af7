//! The last accepted signed-model version, kept in flash for rollback protection
//! ([`crate::signed`]).
//!
//! The record lives in a [`Journal`] region of its own (two erase-aligned slots, distinct
//! from the adaptation state's region), so it inherits the journal's power-loss guarantee: a
//! cut during [`AcceptedVersion::accept`] leaves either the previous version or the new one.
//! Its payload is 8 bytes: the tag `HNVR` and the version (u32 LE).
//!
//! Erasing the region forgets the version (the next signed model of any version is
//! accepted): the region must be one that only the firmware's update path writes.

use embedded_storage::nor_flash::NorFlash;

use super::Journal;
use crate::adapt::AdaptError;

/// Payload tag of the version record.
pub const TAG: [u8; 4] = *b"HNVR";

/// The last accepted model version in a flash region `[base, base + len)`.
#[derive(Debug)]
pub struct AcceptedVersion<Fl: NorFlash> {
    journal: Journal<Fl>,
    accepted: Option<u32>,
}

impl<Fl: NorFlash> AcceptedVersion<Fl> {
    /// Opens the record in `[base, base + len)` of `flash` (erase-aligned, room for two
    /// slots: at least two erase pages). A region where nothing was saved yet has no
    /// accepted version. Fails with [`AdaptError::Storage`] when the region is unusable or
    /// unreadable and with [`AdaptError::Incompatible`] when its latest complete state is
    /// not a version record (the region holds something else).
    pub fn open(flash: Fl, base: u32, len: u32) -> Result<Self, AdaptError> {
        let mut journal = Journal::open(flash, base, len)?;
        let mut buf = [0u8; 8];
        let accepted = match journal.load_bytes(&mut buf) {
            Ok(8) if buf[..4] == TAG => Some(u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]])),
            Ok(_) => return Err(AdaptError::Incompatible),
            Err(AdaptError::NoSavedState) => None,
            Err(e) => return Err(e),
        };
        Ok(Self { journal, accepted })
    }

    /// The last accepted version (`None`: none yet).
    pub fn get(&self) -> Option<u32> {
        self.accepted
    }

    /// Records `version` as accepted if it is higher than the current one; an equal or lower
    /// version writes nothing (booting the same model again costs no flash wear, and the
    /// record never goes down).
    pub fn accept(&mut self, version: u32) -> Result<(), AdaptError> {
        if self.accepted.is_some_and(|a| version <= a) {
            return Ok(());
        }
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&TAG);
        buf[4..].copy_from_slice(&version.to_le_bytes());
        self.journal.save_bytes(&buf)?;
        self.accepted = Some(version);
        Ok(())
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> Fl {
        self.journal.into_inner()
    }
}
