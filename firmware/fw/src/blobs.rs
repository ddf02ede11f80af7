//! Blobs embedded in flash at build time (see `build.rs`: `HONE_FW_MODEL`, `HONE_FW_GOLDEN`).
//!
//! They live in `.rodata` (flash), aligned to 16 bytes, and are borrowed in place: nothing is
//! copied to RAM.

/// Wrapper that aligns its contents.
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.hone")));
static GOLDEN: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/golden.bin")));

/// The embedded model blob (empty when the build had none).
pub fn model() -> &'static [u8] {
    &MODEL.0
}

/// The embedded golden file (empty when the build had none).
pub fn golden() -> &'static [u8] {
    &GOLDEN.0
}

include!(concat!(env!("OUT_DIR"), "/scratch.rs"));

/// The table of checked operations of the embedded model: exactly its [`OPS`] operations.
pub type Steps<'a> = hone::Steps<'a, OPS>;

/// The public key signed models must verify with (`HONE_FW_PUBKEY`; signed builds only).
#[cfg(hone_fw_signed)]
pub static PUBLIC_KEY: [u8; hone::signed::PUBLIC_KEY_LEN] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/pubkey.bin"));

#[cfg(hone_fw_signed)]
include!(concat!(env!("OUT_DIR"), "/accepted.rs"));
