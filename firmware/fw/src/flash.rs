//! `embedded-storage` [`NorFlash`] over the flash region the linker reserves for persistent
//! state (`STORAGE` in each board's memory file, between `_hone_storage_start` and
//! `_hone_storage_end`).
//!
//! Two backends with NOR semantics (erase sets a page to `0xFF`; programming can only clear
//! bits, a word at a time):
//! - [`Emulated`]: the MPS2 boards, whose "flash" is plain SSRAM under QEMU; erase and program
//!   are done with ordinary stores that enforce NOR rules (program = AND);
//! - [`Nvmc`]: the nRF51/nRF52 non-volatile memory controller (micro:bit under QEMU, a real
//!   nRF52840), with the part's page size.

use core::{
    ptr,
    sync::atomic::{AtomicBool, Ordering},
};

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

extern "C" {
    static _hone_storage_start: u32;
    static _hone_storage_end: u32;
}

/// How a board erases a page and programs a word at an absolute address.
pub trait Backend {
    /// Erase page size in bytes.
    const PAGE: usize;
    /// Erases the page at `addr` (page-aligned, inside the storage region).
    fn erase_page(&mut self, addr: usize);
    /// Programs the word at `addr` (word-aligned, inside the storage region): bits can only be
    /// cleared.
    fn program_word(&mut self, addr: usize, value: u32);
}

/// Error of a storage access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum Error {
    /// Offset or length not aligned to the read/write/erase size.
    NotAligned,
    /// Beyond the storage region.
    OutOfBounds,
}

impl NorFlashError for Error {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Error::NotAligned => NorFlashErrorKind::NotAligned,
            Error::OutOfBounds => NorFlashErrorKind::OutOfBounds,
        }
    }
}

/// The storage region as a [`NorFlash`].
pub struct Storage<B> {
    start: usize,
    len: usize,
    backend: B,
}

static TAKEN: AtomicBool = AtomicBool::new(false);

impl<B: Backend> Storage<B> {
    /// The storage region with `backend`, once: later calls return `None`, so no two
    /// handles ever write the region.
    pub fn take(backend: B) -> Option<Self> {
        let first = cortex_m::interrupt::free(|_| {
            let taken = TAKEN.load(Ordering::Relaxed);
            TAKEN.store(true, Ordering::Relaxed);
            !taken
        });
        let start = ptr::addr_of!(_hone_storage_start) as usize;
        let end = ptr::addr_of!(_hone_storage_end) as usize;
        (first
            && end > start
            && start.is_multiple_of(B::PAGE)
            && (end - start).is_multiple_of(B::PAGE))
        .then_some(Self {
            start,
            len: end - start,
            backend,
        })
    }

    /// Absolute address of the region's first byte.
    pub fn address(&self) -> usize {
        self.start
    }

    fn range(&self, offset: u32, len: usize, align: usize) -> Result<usize, Error> {
        let offset = offset as usize;
        if !offset.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(Error::NotAligned);
        }
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(self.start + offset),
            _ => Err(Error::OutOfBounds),
        }
    }
}

impl<B> ErrorType for Storage<B> {
    type Error = Error;
}

impl<B: Backend> ReadNorFlash for Storage<B> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        let addr = self.range(offset, bytes.len(), 1)?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: `range` checked that `addr + i` lies inside the storage region, which
            // the linker reserves for this purpose and which is always mapped.
            *b = unsafe { ptr::read_volatile((addr + i) as *const u8) };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len
    }
}

impl<B: Backend> NorFlash for Storage<B> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = B::PAGE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(Error::OutOfBounds)?;
        let addr = self.range(from, len, B::PAGE)?;
        for page in (addr..addr + len).step_by(B::PAGE) {
            self.backend.erase_page(page);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let addr = self.range(offset, bytes.len(), 4)?;
        for (i, w) in bytes.chunks_exact(4).enumerate() {
            let value = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            self.backend.program_word(addr + 4 * i, value);
        }
        Ok(())
    }
}

/// NOR rules over plain memory (MPS2 under QEMU, where the flash is SSRAM).
pub struct Emulated;

impl Backend for Emulated {
    const PAGE: usize = 4096;

    fn erase_page(&mut self, addr: usize) {
        for a in (addr..addr + Self::PAGE).step_by(4) {
            // SAFETY: `Storage` passes only page-aligned pages inside the reserved region.
            unsafe { ptr::write_volatile(a as *mut u32, u32::MAX) };
        }
    }

    fn program_word(&mut self, addr: usize, value: u32) {
        let p = addr as *mut u32;
        // SAFETY: `Storage` passes only aligned words inside the reserved region.
        unsafe { ptr::write_volatile(p, ptr::read_volatile(p) & value) };
    }
}

/// The nRF51/nRF52 NVMC. `PAGE` is 1024 on the nRF51 (micro:bit), 4096 on the nRF52840.
pub struct Nvmc<const PAGE: usize>;

impl<const PAGE: usize> Nvmc<PAGE> {
    const BASE: usize = 0x4001_E000;
    const READY: *const u32 = (Self::BASE + 0x400) as *const u32;
    const CONFIG: *mut u32 = (Self::BASE + 0x504) as *mut u32;
    const ERASEPAGE: *mut u32 = (Self::BASE + 0x508) as *mut u32;
    const REN: u32 = 0;
    const WEN: u32 = 1;
    const EEN: u32 = 2;

    fn wait_ready() {
        // SAFETY: READY is the NVMC's read-only status register on nRF51 and nRF52.
        while unsafe { ptr::read_volatile(Self::READY) } & 1 == 0 {}
    }

    fn config(mode: u32) {
        // SAFETY: CONFIG selects read/write/erase mode of the NVMC; the firmware's only NVMC
        // user is this type, reached through the single `Storage` handle.
        unsafe { ptr::write_volatile(Self::CONFIG, mode) };
        Self::wait_ready();
    }
}

impl<const PAGE: usize> Backend for Nvmc<PAGE> {
    const PAGE: usize = PAGE;

    fn erase_page(&mut self, addr: usize) {
        Self::config(Self::EEN);
        // SAFETY: ERASEPAGE takes the address of a page of the reserved storage region.
        unsafe { ptr::write_volatile(Self::ERASEPAGE, addr as u32) };
        Self::wait_ready();
        Self::config(Self::REN);
    }

    fn program_word(&mut self, addr: usize, value: u32) {
        Self::config(Self::WEN);
        // SAFETY: with CONFIG = WEN, a word store to flash programs it; `addr` is an aligned
        // word of the reserved storage region.
        unsafe { ptr::write_volatile(addr as *mut u32, value) };
        Self::wait_ready();
        Self::config(Self::REN);
    }
}

/// Checks NOR behaviour on the first page: erase gives `0xFF`, a write reads back, a second
/// write can only clear bits, misaligned and out-of-range accesses are refused. Returns the
/// first failed step's name.
///
/// Layout of the region: the adaptation journal from offset 0 ([`adapt_len`] bytes), then
/// [`VERSION_PAGES`] pages holding the last accepted signed-model version ([`version_region`]).
pub fn self_test<B: Backend>(s: &mut Storage<B>) -> Result<(), &'static str> {
    let page = B::PAGE as u32;
    let mut buf = [0u8; 16];
    s.erase(0, page).map_err(|_| "erase")?;
    s.read(page - 16, &mut buf).map_err(|_| "read")?;
    if buf != [0xFF; 16] {
        return Err("erased page reads 0xFF");
    }
    let pattern: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];
    s.write(8, &pattern).map_err(|_| "write")?;
    s.read(8, &mut buf[..8]).map_err(|_| "read")?;
    if buf[..8] != pattern {
        return Err("write reads back");
    }
    s.write(8, &[0xF0; 8]).map_err(|_| "rewrite")?;
    s.read(8, &mut buf[..8]).map_err(|_| "read")?;
    if buf[..8].iter().zip(&pattern).any(|(&b, &p)| b != p & 0xF0) {
        return Err("a second write only clears bits");
    }
    if s.write(2, &[0; 4]) != Err(Error::NotAligned) || s.erase(1, page) != Err(Error::NotAligned) {
        return Err("misaligned access refused");
    }
    let cap = s.capacity() as u32;
    if s.read(cap - 4, &mut buf[..8]) != Err(Error::OutOfBounds)
        || s.erase(cap, cap + page) != Err(Error::OutOfBounds)
    {
        return Err("out-of-range access refused");
    }
    s.erase(0, page).map_err(|_| "erase")
}

/// Erase pages at the end of the storage region that hold the last accepted signed-model
/// version (`hone::adapt::persist::AcceptedVersion`: two slots of one page).
pub const VERSION_PAGES: usize = 2;

/// Bytes at the start of the storage region used by the adaptation journal: all but the
/// version record's pages.
pub fn adapt_len<B: Backend>(s: &Storage<B>) -> u32 {
    s.len.saturating_sub(VERSION_PAGES * B::PAGE) as u32
}

/// `(offset, length)` of the version record's pages in the storage region.
pub fn version_region<B: Backend>(s: &Storage<B>) -> (u32, u32) {
    (adapt_len(s), (s.len as u32).saturating_sub(adapt_len(s)))
}
