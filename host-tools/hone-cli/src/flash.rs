//! [`FileFlash`]: a NOR flash whose contents live in a file, so that an adaptation state saved
//! through `hone::adapt::persist::Journal` outlives the process (`hone demo`,
//! `hone console`).
//!
//! The flash rules are [`SimFlash`]'s (sector erase, program-once words); every erase or
//! program is written through to the file before it returns, so a process killed during a
//! save leaves the file as a device losing power would leave its flash.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use hone_build::flash::SimFlash;

/// Sector size of the file flash (a common serial NOR sector).
pub const ERASE: usize = 4096;

/// A NOR flash backed by a file.
#[derive(Debug)]
pub struct FileFlash {
    chip: SimFlash<ERASE>,
    file: File,
}

/// Why a [`FileFlash`] access failed: the flash rules ([`NorFlashErrorKind`]) or the file.
#[derive(Debug)]
pub struct FlashError(NorFlashErrorKind);

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

impl FileFlash {
    /// The flash in the file at `path`, at least `len` bytes: a missing file is created
    /// erased, a shorter one is extended with erased sectors; its contents are kept.
    pub fn open(path: &Path, len: usize) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut image = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let grow = image.len() < len;
        if grow {
            image.resize(len, 0xFF);
        }
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        if grow {
            file.write_all(&image)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(Self {
            chip: SimFlash::from_image(image),
            file,
        })
    }

    /// An erased flash of `len` bytes in a new file at `path` (an existing one is replaced).
    pub fn create(path: &Path, len: usize) -> Result<Self> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot replace {}", path.display()))
            }
            _ => {}
        }
        Self::open(path, len)
    }

    /// Writes `[from, from + len)` of the chip to the file.
    fn sync(&mut self, from: u32, len: usize) -> Result<(), FlashError> {
        let io = FlashError(NorFlashErrorKind::Other);
        let from = from as usize;
        let bytes = from
            .checked_add(len)
            .and_then(|end| self.chip.image().get(from..end))
            .ok_or(FlashError(NorFlashErrorKind::OutOfBounds))?;
        self.file
            .seek(SeekFrom::Start(from as u64))
            .and_then(|_| self.file.write_all(bytes))
            .map_err(|_| io)
    }
}

fn kind(e: impl NorFlashError) -> FlashError {
    FlashError(e.kind())
}

impl ErrorType for FileFlash {
    type Error = FlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        self.chip.read(offset, out).map_err(kind)
    }

    fn capacity(&self) -> usize {
        self.chip.capacity()
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = hone_build::flash::WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let result = self.chip.erase(from, to).map_err(kind);
        // A failed erase may have changed part of the range: the file follows the chip.
        self.sync(from, to.saturating_sub(from) as usize)?;
        result
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let result = self.chip.write(offset, data).map_err(kind);
        self.sync(offset, data.len())?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_outlive_the_handle_and_flash_rules_hold() {
        let dir = std::env::temp_dir().join(format!("hone-file-flash-{}", std::process::id()));
        let path = dir.join("chip.bin");
        let mut f = FileFlash::create(&path, 2 * ERASE).unwrap();
        f.write(8, &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            f.write(8, &[1, 2, 3, 4]).err().map(|e| e.kind()),
            Some(NorFlashErrorKind::Other),
            "a programmed word is not programmed again before an erase"
        );
        drop(f);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((bytes.len(), &bytes[8..12]), (2 * ERASE, &[1, 2, 3, 4][..]));
        // Reopened larger: contents kept, the rest erased; an erase reaches the file.
        let mut f = FileFlash::open(&path, 3 * ERASE).unwrap();
        let mut b = [0u8; 4];
        f.read(8, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        f.erase(0, ERASE as u32).unwrap();
        drop(f);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 3 * ERASE);
        assert!(bytes.iter().all(|&x| x == 0xFF));
        std::fs::remove_dir_all(&dir).ok();
    }
}
