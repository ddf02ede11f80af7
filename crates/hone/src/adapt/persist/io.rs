//! Aligned, buffered, CRC-tracking byte streams over a `NorFlash` region.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::adapt::{prefix, prefix_mut, AdaptError};
pub(crate) use crate::format::CRC32_STREAM as CRC;

/// Staging buffer size; `READ_SIZE` and `WRITE_SIZE` must divide it.
pub(super) const BUF: usize = 128;

fn io<E>(_: E) -> AdaptError {
    AdaptError::Storage
}

/// Writes bytes sequentially from `start`, `WRITE_SIZE`-aligned, padding the tail with 0xFF;
/// with `flash = None` it only counts and checksums (dry run).
pub(super) struct Writer<'f, Fl: NorFlash> {
    flash: Option<&'f mut Fl>,
    pos: u32,
    buf: [u8; BUF],
    len: usize,
    pub written: u32,
    pub crc: crc::Digest<'static, u32>,
}

impl<'f, Fl: NorFlash> Writer<'f, Fl> {
    pub fn new(flash: Option<&'f mut Fl>, start: u32) -> Self {
        Self {
            flash,
            pos: start,
            buf: [0xFF; BUF],
            len: 0,
            written: 0,
            crc: CRC.digest(),
        }
    }

    pub fn put(&mut self, mut bytes: &[u8]) -> Result<(), AdaptError> {
        self.crc.update(bytes);
        self.written += bytes.len() as u32;
        while !bytes.is_empty() {
            // `len < BUF` here: a full buffer is flushed at once.
            let free = self.buf.get_mut(self.len..).ok_or(AdaptError::Storage)?;
            let n = free.len().min(bytes.len());
            let ((to, _), (now, rest)) = (free.split_at_mut(n), bytes.split_at(n));
            to.copy_from_slice(now);
            self.len += n;
            bytes = rest;
            if self.len == BUF {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered, padded to `WRITE_SIZE`.
    pub fn flush(&mut self) -> Result<(), AdaptError> {
        let ws = Fl::WRITE_SIZE.max(1);
        let n = self.len.div_ceil(ws) * ws;
        // `Journal::open` checked that `WRITE_SIZE` divides `BUF`, so `len ≤ n ≤ BUF`.
        let pad = self.buf.get_mut(self.len..n).ok_or(AdaptError::Storage)?;
        pad.fill(0xFF);
        let block = prefix(&self.buf, n);
        if let Some(f) = self.flash.as_deref_mut() {
            if n > 0 {
                f.write(self.pos, block).map_err(io)?;
            }
        }
        self.pos += n as u32;
        self.len = 0;
        self.buf = [0xFF; BUF];
        Ok(())
    }
}

/// Reads bytes sequentially from `start` through `READ_SIZE`-aligned blocks, tracking a CRC.
pub(super) struct Reader<'f, Fl: ReadNorFlash> {
    flash: &'f mut Fl,
    pos: u32,
    end: u32,
    buf: [u8; BUF],
    at: usize,
    len: usize,
    pub crc: crc::Digest<'static, u32>,
}

impl<'f, Fl: ReadNorFlash> Reader<'f, Fl> {
    /// `start` must be `READ_SIZE`-aligned; reads stop at `end`.
    pub fn new(flash: &'f mut Fl, start: u32, end: u32) -> Self {
        Self {
            flash,
            pos: start,
            end,
            buf: [0; BUF],
            at: 0,
            len: 0,
            crc: CRC.digest(),
        }
    }

    /// Fills `out` with the next bytes; [`AdaptError::Storage`] past `end` or on a read error.
    pub fn take(&mut self, out: &mut [u8]) -> Result<(), AdaptError> {
        let mut want = &mut *out;
        while !want.is_empty() {
            if self.at == self.len {
                let rs = Fl::READ_SIZE.max(1);
                let left = self.end.saturating_sub(self.pos) as usize;
                let block = prefix_mut(&mut self.buf, left.div_ceil(rs) * rs);
                if block.is_empty() {
                    // Past the end of the region or payload: the stored bytes are cut short,
                    // which is a damaged state, not a missing one.
                    return Err(AdaptError::Storage);
                }
                self.flash.read(self.pos, block).map_err(io)?;
                self.pos += block.len() as u32;
                self.at = 0;
                self.len = block.len();
            }
            // `at < len ≤ BUF`: `len` is a block just read.
            let avail = self.buf.get(self.at..self.len).ok_or(AdaptError::Storage)?;
            let k = avail.len().min(want.len());
            let (now, rest) = core::mem::take(&mut want).split_at_mut(k);
            now.copy_from_slice(prefix(avail, k));
            self.at += now.len();
            want = rest;
        }
        self.crc.update(out);
        Ok(())
    }
}
