//! Signed boot (builds with `HONE_FW_PUBKEY`): the embedded model is a signed envelope
//! (`hone::signed`), verified against the compiled-in public key ([`blobs::PUBLIC_KEY`]) and
//! the last accepted version, which is kept in the storage region's version pages
//! ([`flash::version_region`]).
//!
//! Prints `signed model version <n> verified` or `signed model refused: <error>` (the error's
//! Display, then its variant), and the metrics `signed_verify_work`,
//! `signed_verify_peak_stack_bytes` and `signed_version`.

use hone::adapt::persist::AcceptedVersion;
use hone::signed::{self, PublicKey, SignedError};

use crate::{
    app::metric,
    blobs,
    flash::{self, Backend, Storage},
    measure::{Clock, Meter},
    stack,
};

fn record<B: Backend>(storage: &mut Storage<B>) -> Option<AcceptedVersion<&mut Storage<B>>> {
    let (base, len) = flash::version_region(storage);
    match AcceptedVersion::open(storage, base, len) {
        Ok(r) => Some(r),
        Err(e) => {
            defmt::error!("accepted version unreadable: {}", defmt::Display2Format(&e));
            None
        }
    }
}

/// Verifies `envelope` and returns its payload (in place) and version; `None` after printing
/// why it was refused.
pub fn verify<'b, C: Clock, B: Backend>(
    envelope: &'b [u8],
    storage: &mut Storage<B>,
    meter: &mut Meter<C>,
) -> Option<(&'b [u8], u32)> {
    let mut rec = record(storage)?;
    if let Some(v) = blobs::PRESET_ACCEPTED {
        if rec.accept(v).is_err() {
            defmt::error!("cannot preset the accepted version");
            return None;
        }
    }
    let accepted = rec.get();
    let ((result, work), peak) = stack::peak(|| {
        meter.measure(|| {
            let key = PublicKey::from_bytes(&blobs::PUBLIC_KEY)?;
            signed::open(envelope, &key, accepted)
        })
    });
    match result {
        Ok(v) => {
            defmt::info!(
                "signed model version {=u32} verified ({=usize} bytes)",
                v.version,
                v.payload.len()
            );
            metric("signed_verify_work", work);
            metric("signed_verify_peak_stack_bytes", u64::from(peak));
            metric("signed_version", u64::from(v.version));
            Some((v.payload, v.version))
        }
        Err(e) => {
            refused(e);
            None
        }
    }
}

fn refused(e: SignedError) {
    defmt::error!(
        "signed model refused: {} ({})",
        defmt::Display2Format(&e),
        defmt::Debug2Format(&e)
    );
}

/// Records `version` as accepted once its model has loaded (no write if it is not newer).
pub fn accept<B: Backend>(storage: &mut Storage<B>, version: u32) -> bool {
    let Some(mut rec) = record(storage) else {
        return false;
    };
    match rec.accept(version) {
        Ok(()) => {
            defmt::info!("accepted version {=u32}", rec.get().unwrap_or(0));
            true
        }
        Err(e) => {
            defmt::error!(
                "cannot record the accepted version: {}",
                defmt::Display2Format(&e)
            );
            false
        }
    }
}
