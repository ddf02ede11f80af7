//! What golden adaptation vectors script: the steps of a [`hone::adapt::Session`], run by
//! host (`generate`) and device in the order of the golden file.
//!
//! [`Vector::Enrol`](crate::Vector::Enrol) collects a prompt under a label (enrolling the
//! label if new), [`Vector::Train`](crate::Vector::Train) imprints the new classes and
//! fine-tunes them by NLL with [`train_config`],
//! [`Vector::Evaluate`](crate::Vector::Evaluate) classifies a prompt with the base head and
//! with the adapted head, and [`Vector::Persist`](crate::Vector::Persist) saves the state
//! through `NorFlash`, clears it, reloads it and compares its
//! [`Session::digest`](hone::adapt::Session::digest) (evaluation vectors after it then run
//! on the reloaded state).
//!
//! The device builds the session at `F` = the embedded model's feature length, the host at
//! the bucket [`hone::adapt::with_feature_capacity`] picks; results do not depend on `F`, so
//! both sides agree bit for bit.

use hone::adapt::TrainConfig;

/// The training configuration of a [`crate::Vector::Train`]: the runtime's defaults with the
/// given epochs and shuffle seed.
pub fn train_config(epochs: u16, seed: u32) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        ..TrainConfig::default()
    }
}
