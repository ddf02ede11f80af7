//! Power-loss-safe persistence of the adaptation state through `embedded-storage`'s
//! [`NorFlash`] traits.
//!
//! # Scheme: two alternating slots
//!
//! The flash region is split into two equal, erase-aligned slots. A slot holds a 16-byte
//! header — magic, sequence number, payload length, CRC-32 of (sequence ‖ length ‖
//! payload) — followed by the payload. [`Journal::save`] always writes the slot that does
//! *not* hold the latest state: it erases it, streams the payload, and writes the header
//! last. Until the header's last word is programmed the slot fails its CRC, so a power cut
//! at any point leaves the previous state as the newest valid slot; afterwards the new
//! state, with a higher sequence number, wins. [`Journal::open`] validates both slots and
//! picks the valid one with the newer sequence (wrapping comparison).
//!
//! Why not `sequential-storage`: its map stores each item within one flash page, while this
//! state (rows, names and up to hundreds of f16 feature vectors) is one snapshot that must change atomically; two slots do
//! that with no extra dependency and no RAM beyond a 128-byte staging buffer.
//!
//! # Payload
//!
//! A sequence of small postcard records, each prefixed by its length (u16 LE): a `Meta`
//! record (format, model fingerprint, feature length, counts), then per enrolled class its
//! name and bias, its row and its prior centre in chunks of 32 values, then per stored
//! example its label and its f16 features in chunks, then `End`. Records are encoded and
//! decoded one at a time, so saving and loading need no RAM proportional to the state.
//!
//! # Sizing the region
//!
//! [`max_state_bytes`] bounds the payload of given capacities and [`Journal::region_len`]
//! turns it into a region length; [`Journal::save`] refuses a larger state with
//! [`AdaptError::StateTooLarge`] before erasing anything.

mod io;
#[cfg(feature = "signed")]
mod version;

use embedded_storage::nor_flash::NorFlash;
use half::f16;
use heapless::String;
use serde::{Deserialize, Serialize};

use self::io::{Reader, Writer, BUF, CRC};
use super::{prefix_mut, AdaptError, Example, Head, Store};
#[cfg(feature = "signed")]
pub use version::AcceptedVersion;

/// Slot header magic, `HNAD` in flash order.
pub const MAGIC: [u8; 4] = *b"HNAD";
/// Payload format version.
pub const FORMAT: u16 = 1;
const HEADER: usize = 16;
const CHUNK: usize = 32;
const REC: usize = 160;

#[derive(Debug, Serialize, Deserialize)]
enum Rec<'a> {
    Meta {
        format: u16,
        fingerprint: u32,
        dim: u16,
        new: u16,
        examples: u16,
    },
    Class {
        name: &'a str,
        bias: f32,
        prior_bias: f32,
    },
    Row([f32; CHUNK]),
    Anchor([u16; CHUNK]),
    Example {
        label: u16,
    },
    Feat([u16; CHUNK]),
    End,
}

/// Most bytes of one record (length prefix and postcard body) of each kind: an enum tag of one
/// byte, varints of at most 3 (u16) or 5 (u32) bytes, f32 as 4 bytes, arrays without a length.
const META_MAX: usize = 2 + 1 + 3 + 5 + 3 + 3 + 3;
const CLASS_MAX: usize = 2 + 1 + 2 + super::LABEL_LEN + 4 + 4;
const ROW_MAX: usize = 2 + 1 + 4 * CHUNK;
const EXAMPLE_MAX: usize = 2 + 1 + 3;
const END_MAX: usize = 2 + 1;

/// Most bytes of the u16 records (`Anchor` or `Feat`) of one `dim`-long vector: the padding
/// past `dim` is zero, one byte each.
const fn u16s_max(dim: u64) -> u64 {
    let chunks = dim.div_ceil(CHUNK as u64);
    chunks * (2 + 1) + 3 * dim + (chunks * CHUNK as u64 - dim)
}

/// An upper bound of the payload [`Journal::save`] writes for `new` enrolled classes and
/// `examples` stored examples with `dim` features each (`None` past `u32`). A region of
/// [`Journal::region_len`] of it holds any such state.
pub const fn max_state_bytes(new: usize, dim: usize, examples: usize) -> Option<u32> {
    if dim > u16::MAX as usize {
        return None;
    }
    let dim = dim as u64;
    let per_class =
        (CLASS_MAX as u64) + dim.div_ceil(CHUNK as u64) * ROW_MAX as u64 + u16s_max(dim);
    let per_example = EXAMPLE_MAX as u64 + u16s_max(dim);
    let total = ((META_MAX + END_MAX) as u64)
        .saturating_add((new as u64).saturating_mul(per_class))
        .saturating_add((examples as u64).saturating_mul(per_example));
    if total > u32::MAX as u64 {
        None
    } else {
        Some(total as u32)
    }
}

/// Which slot holds the latest valid state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Latest {
    slot: u32,
    seq: u32,
    len: u32,
}

/// The adaptation state's home in flash: two alternating slots in `[base, base + len)`.
#[derive(Debug)]
pub struct Journal<Fl: NorFlash> {
    flash: Fl,
    base: u32,
    slot_size: u32,
    header: u32,
    latest: Option<Latest>,
}

fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Identifies the pre-trained head the state extends: CRC-32 of its weights, biases and shape.
pub fn fingerprint<const NEW: usize, const F: usize>(head: &Head<'_, '_, NEW, F>) -> u32 {
    let m = head.classifier();
    let (weights, bias) = m.raw();
    let mut d = CRC.digest();
    d.update(&(m.feature_dim() as u32).to_le_bytes());
    d.update(&(m.num_classes() as u32).to_le_bytes());
    d.update(weights);
    d.update(bias);
    d.finalize()
}

impl<Fl: NorFlash> Journal<Fl> {
    /// Bytes of a slot header: 16, rounded up to the write size.
    fn header_len() -> u32 {
        let ws = Fl::WRITE_SIZE.max(1);
        (HEADER.div_ceil(ws) * ws) as u32
    }

    /// The smallest region length whose slots each hold a payload of `state_bytes` (e.g.
    /// [`max_state_bytes`]); `None` past `u32`.
    pub fn region_len(state_bytes: u32) -> Option<u32> {
        let es = (Fl::ERASE_SIZE as u32).max(1);
        let slot = Self::header_len()
            .checked_add(state_bytes)?
            .checked_next_multiple_of(es)?;
        slot.checked_mul(2)
    }

    /// Uses `[base, base + len)` of `flash` (erase-aligned) and finds the latest complete
    /// state in it, if any. Fails with [`AdaptError::Storage`] when the region is misaligned,
    /// outside the device, or too small for two slots.
    pub fn open(mut flash: Fl, base: u32, len: u32) -> Result<Self, AdaptError> {
        let (es, ws, rs) = (Fl::ERASE_SIZE as u32, Fl::WRITE_SIZE, Fl::READ_SIZE);
        let header = Self::header_len() as usize;
        let slot_size = (len / 2) / es.max(1) * es.max(1);
        let aligned = es > 0
            && base.is_multiple_of(es)
            && BUF.is_multiple_of(ws.max(1))
            && BUF.is_multiple_of(rs.max(1));
        let fits = u64::from(base) + u64::from(len) <= flash.capacity() as u64;
        if !aligned || !fits || header > BUF || slot_size as usize <= header {
            return Err(AdaptError::Storage);
        }
        let mut latest: Option<Latest> = None;
        for slot in 0..2 {
            let start = base + slot * slot_size;
            if let Some((seq, len)) = Self::check(&mut flash, start, slot_size, header as u32)? {
                if latest.is_none_or(|l| newer(seq, l.seq)) {
                    latest = Some(Latest { slot, seq, len });
                }
            }
        }
        Ok(Self {
            flash,
            base,
            slot_size,
            header: header as u32,
            latest,
        })
    }

    /// Reads slot header and payload at `start`: `Some((seq, len))` if complete and intact.
    fn check(
        flash: &mut Fl,
        start: u32,
        slot_size: u32,
        header: u32,
    ) -> Result<Option<(u32, u32)>, AdaptError> {
        let mut h = [[0u8; 4]; HEADER / 4];
        Reader::new(flash, start, start + header).take(h.as_flattened_mut())?;
        let [magic, seq_le, len_le, crc] = h;
        let (seq, len, crc) = (
            u32::from_le_bytes(seq_le),
            u32::from_le_bytes(len_le),
            u32::from_le_bytes(crc),
        );
        if magic != MAGIC || len > slot_size - header {
            return Ok(None);
        }
        let mut r = Reader::new(flash, start + header, start + header + len);
        r.crc.update(&seq_le);
        r.crc.update(&len_le);
        let mut buf = [0u8; BUF];
        let mut left = len as usize;
        while left > 0 {
            let chunk = prefix_mut(&mut buf, left);
            r.take(chunk)?;
            left -= chunk.len();
        }
        Ok((r.crc.finalize() == crc).then_some((seq, len)))
    }

    /// Sequence number of the latest complete state (`None`: nothing saved yet).
    pub fn seq(&self) -> Option<u32> {
        self.latest.map(|l| l.seq)
    }

    /// Bytes available for one state's payload.
    pub fn capacity(&self) -> u32 {
        self.slot_size - self.header
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> Fl {
        self.flash
    }

    /// Saves the enrolled classes of `head` and the examples of `store` as the new latest
    /// state; returns its sequence number. A power cut at any point leaves either the
    /// previous state or this one loadable. A head with a non-finite enrolled row, bias or
    /// prior (which [`Journal::load`] would refuse) is [`AdaptError::BadFeatures`] and a
    /// state larger than a slot [`AdaptError::StateTooLarge`], both before the flash is
    /// touched.
    pub fn save<const NEW: usize, const F: usize, const N: usize>(
        &mut self,
        head: &Head<'_, '_, NEW, F>,
        store: &Store<N, F>,
    ) -> Result<u32, AdaptError> {
        self.commit(|w| emit(w, head, store))
    }

    /// Writes the payload produced by `emit` (called twice: a dry run that sizes it, then
    /// the write) as the new latest state; returns its sequence number.
    fn commit<E>(&mut self, mut emit: E) -> Result<u32, AdaptError>
    where
        E: FnMut(&mut Writer<'_, Fl>) -> Result<(), AdaptError>,
    {
        let mut dry: Writer<'_, Fl> = Writer::new(None, 0);
        emit(&mut dry)?;
        let len = dry.written;
        if len > self.capacity() {
            return Err(AdaptError::StateTooLarge {
                bytes: len,
                slot: self.capacity(),
            });
        }
        let seq = self.latest.map_or(1, |l| l.seq.wrapping_add(1));
        let slot = self.latest.map_or(0, |l| 1 - l.slot);
        let start = self.base + slot * self.slot_size;
        let erase_end =
            start + (self.header + len).div_ceil(Fl::ERASE_SIZE as u32) * Fl::ERASE_SIZE as u32;
        self.flash
            .erase(start, erase_end)
            .map_err(|_| AdaptError::Storage)?;
        let mut w = Writer::new(Some(&mut self.flash), start + self.header);
        w.crc.update(&seq.to_le_bytes());
        w.crc.update(&len.to_le_bytes());
        emit(&mut w)?;
        if w.written != len {
            return Err(AdaptError::Storage);
        }
        w.flush()?;
        let crc = w.crc.clone().finalize();
        let mut h = [0xFFu8; BUF];
        h[..4].copy_from_slice(&MAGIC);
        h[4..8].copy_from_slice(&seq.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        // `open` checked header ≤ BUF.
        let h = h.get(..self.header as usize).ok_or(AdaptError::Storage)?;
        self.flash
            .write(start, h)
            .map_err(|_| AdaptError::Storage)?;
        self.latest = Some(Latest { slot, seq, len });
        Ok(seq)
    }

    /// Saves `payload` as the new latest state (a small record of its own, e.g.
    /// [`AcceptedVersion`]); same power-loss guarantee as [`Journal::save`].
    #[cfg(feature = "signed")]
    pub(crate) fn save_bytes(&mut self, payload: &[u8]) -> Result<u32, AdaptError> {
        self.commit(|w| w.put(payload))
    }

    /// Reads the latest state's payload into `out`; returns its length. Fails with
    /// [`AdaptError::NoSavedState`] when there is none, [`AdaptError::Incompatible`] when it
    /// does not fit `out`, and [`AdaptError::Storage`] when it no longer matches its CRC.
    #[cfg(feature = "signed")]
    pub(crate) fn load_bytes(&mut self, out: &mut [u8]) -> Result<usize, AdaptError> {
        let l = self.latest.ok_or(AdaptError::NoSavedState)?;
        let out = out
            .get_mut(..l.len as usize)
            .ok_or(AdaptError::Incompatible)?;
        let start = self.base + l.slot * self.slot_size + self.header;
        let mut r = Reader::new(&mut self.flash, start, start + l.len);
        r.crc.update(&l.seq.to_le_bytes());
        r.crc.update(&l.len.to_le_bytes());
        r.take(out)?;
        let crc = r.crc.finalize();
        if crc != self.stored_crc(l)? {
            return Err(AdaptError::Storage);
        }
        Ok(out.len())
    }

    /// Loads the latest complete state into `head` (its enrolled classes) and `store`;
    /// returns its sequence number. Fails with [`AdaptError::NoSavedState`] when there is
    /// none and [`AdaptError::Incompatible`] when it was saved for another model or does not
    /// fit the capacities (both leave `head` and `store` untouched). A state that does not
    /// decode (its records cut short or malformed although its checksum holds), or flash
    /// that changed under it since [`Journal::open`], gives [`AdaptError::Storage`]: `head`
    /// and `store` are then untouched if its first record is unreadable and cleared
    /// otherwise, never left partly loaded.
    pub fn load<const NEW: usize, const F: usize, const N: usize>(
        &mut self,
        head: &mut Head<'_, '_, NEW, F>,
        store: &mut Store<N, F>,
    ) -> Result<u32, AdaptError> {
        let l = self.latest.ok_or(AdaptError::NoSavedState)?;
        let start = self.base + l.slot * self.slot_size + self.header;
        let mut r = Reader::new(&mut self.flash, start, start + l.len);
        r.crc.update(&l.seq.to_le_bytes());
        r.crc.update(&l.len.to_le_bytes());
        let mut buf = [0u8; REC];
        let (new, examples) = match next(&mut r, &mut buf)? {
            Rec::Meta {
                format,
                fingerprint: fp,
                dim,
                new,
                examples,
            } if format == FORMAT
                && fp == fingerprint(head)
                && usize::from(dim) == head.dim()
                && usize::from(new) <= NEW
                && usize::from(examples) <= N =>
            {
                (usize::from(new), usize::from(examples))
            }
            _ => return Err(AdaptError::Incompatible),
        };
        head.clear();
        store.clear();
        let done = absorb(&mut r, &mut buf, head, store, new, examples);
        let intact = r.crc.finalize() == self.stored_crc(l)?;
        if done.is_err() || !intact {
            head.clear();
            store.clear();
            return Err(AdaptError::Storage);
        }
        Ok(l.seq)
    }

    fn stored_crc(&mut self, l: Latest) -> Result<u32, AdaptError> {
        let mut h = [0u8; HEADER];
        let start = self.base + l.slot * self.slot_size;
        Reader::new(&mut self.flash, start, start + self.header).take(&mut h)?;
        Ok(u32::from_le_bytes([h[12], h[13], h[14], h[15]]))
    }
}

fn put<Fl: NorFlash>(w: &mut Writer<'_, Fl>, rec: &Rec<'_>) -> Result<(), AdaptError> {
    let mut buf = [0u8; REC];
    let n = postcard::to_slice(rec, &mut buf)
        .map_err(|_| AdaptError::Storage)?
        .len();
    w.put(&(n as u16).to_le_bytes())?;
    w.put(buf.get(..n).ok_or(AdaptError::Storage)?)
}

fn next<'b, Fl: NorFlash>(
    r: &mut Reader<'_, Fl>,
    buf: &'b mut [u8; REC],
) -> Result<Rec<'b>, AdaptError> {
    let mut n = [0u8; 2];
    r.take(&mut n)?;
    let n = usize::from(u16::from_le_bytes(n));
    let b = buf.get_mut(..n).ok_or(AdaptError::Storage)?;
    r.take(b)?;
    postcard::from_bytes(b).map_err(|_| AdaptError::Storage)
}

fn emit<Fl: NorFlash, const NEW: usize, const F: usize, const N: usize>(
    w: &mut Writer<'_, Fl>,
    head: &Head<'_, '_, NEW, F>,
    store: &Store<N, F>,
) -> Result<(), AdaptError> {
    let d = head.dim();
    // Never write a state that `load` refuses.
    for k in 0..head.num_new() {
        let (row, bias, anchor) = head.new_row(k).ok_or(AdaptError::Storage)?;
        let prior_bias = head.prior_bias(k).unwrap_or(0.0);
        let finite = bias.is_finite()
            && prior_bias.is_finite()
            && row.iter().all(|x| x.is_finite())
            && anchor.iter().all(|x| x.is_finite());
        if !finite {
            return Err(AdaptError::BadFeatures);
        }
    }
    put(
        w,
        &Rec::Meta {
            format: FORMAT,
            fingerprint: fingerprint(head),
            dim: d as u16,
            new: head.num_new() as u16,
            examples: store.len() as u16,
        },
    )?;
    for k in 0..head.num_new() {
        let (row, bias, anchor) = head.new_row(k).ok_or(AdaptError::Storage)?;
        let name = head.label(head.old_classes() + k).unwrap_or("");
        let prior_bias = head.prior_bias(k).unwrap_or(0.0);
        put(
            w,
            &Rec::Class {
                name,
                bias,
                prior_bias,
            },
        )?;
        for (rc, ac) in row.chunks(CHUNK).zip(anchor.chunks(CHUNK)) {
            let mut r = [0.0f32; CHUNK];
            r.get_mut(..rc.len())
                .ok_or(AdaptError::Storage)?
                .copy_from_slice(rc);
            put(w, &Rec::Row(r))?;
            let mut a = [0u16; CHUNK];
            for (o, x) in a.iter_mut().zip(ac) {
                *o = x.to_bits();
            }
            put(w, &Rec::Anchor(a))?;
        }
    }
    for e in store.iter() {
        put(w, &Rec::Example { label: e.label })?;
        for fc in e.feat.get(..d).ok_or(AdaptError::Storage)?.chunks(CHUNK) {
            let mut a = [0u16; CHUNK];
            for (o, x) in a.iter_mut().zip(fc) {
                *o = x.to_bits();
            }
            put(w, &Rec::Feat(a))?;
        }
    }
    put(w, &Rec::End)
}

fn absorb<Fl: NorFlash, const NEW: usize, const F: usize, const N: usize>(
    r: &mut Reader<'_, Fl>,
    buf: &mut [u8; REC],
    head: &mut Head<'_, '_, NEW, F>,
    store: &mut Store<N, F>,
    new: usize,
    examples: usize,
) -> Result<(), AdaptError> {
    let d = head.dim();
    let bad = AdaptError::Storage;
    for k in 0..new {
        let (name, bias, prior_bias) = match next(r, buf)? {
            Rec::Class {
                name,
                bias,
                prior_bias,
            } => (
                String::<{ super::LABEL_LEN }>::try_from(name).map_err(|_| bad)?,
                bias,
                prior_bias,
            ),
            _ => return Err(bad),
        };
        // Only what the adaptation API can produce: a new, non-empty name, finite values.
        if name.is_empty()
            || head.find(&name).is_some()
            || !(bias.is_finite() && prior_bias.is_finite())
        {
            return Err(bad);
        }
        let (w, b, anchor, anchor_b) = head.rows.slot_mut(k).ok_or(bad)?;
        (*b, *anchor_b) = (bias, prior_bias);
        let rows = prefix_mut(w, d).chunks_mut(CHUNK);
        for (wc, ac) in rows.zip(prefix_mut(anchor, d).chunks_mut(CHUNK)) {
            let Rec::Row(row) = next(r, buf)? else {
                return Err(bad);
            };
            let row = row.get(..wc.len()).ok_or(bad)?;
            if !row.iter().all(|x| x.is_finite()) {
                return Err(bad);
            }
            wc.copy_from_slice(row);
            let Rec::Anchor(a) = next(r, buf)? else {
                return Err(bad);
            };
            let a = a.get(..ac.len()).ok_or(bad)?;
            if !a.iter().all(|&x| f16::from_bits(x).is_finite()) {
                return Err(bad);
            }
            for (o, &x) in ac.iter_mut().zip(a) {
                *o = f16::from_bits(x);
            }
        }
        head.rows.names.push(name).map_err(|_| bad)?;
    }
    for _ in 0..examples {
        let Rec::Example { label } = next(r, buf)? else {
            return Err(bad);
        };
        if usize::from(label) >= head.num_classes() {
            return Err(bad);
        }
        let mut e = Example {
            label,
            feat: [f16::ZERO; F],
        };
        for fc in prefix_mut(&mut e.feat, d).chunks_mut(CHUNK) {
            let Rec::Feat(a) = next(r, buf)? else {
                return Err(bad);
            };
            let a = a.get(..fc.len()).ok_or(bad)?;
            if !a.iter().all(|&x| f16::from_bits(x).is_finite()) {
                return Err(bad);
            }
            for (o, &x) in fc.iter_mut().zip(a) {
                *o = f16::from_bits(x);
            }
        }
        store.push(e)?;
    }
    match next(r, buf)? {
        Rec::End => Ok(()),
        _ => Err(bad),
    }
}
