//! RAM accounting of adaptation.

use core::mem::size_of;

use super::{NewRows, Store, Workspace};

/// Bytes of RAM for adaptation with `NEW` enrolled classes, features up to `F`, `N` stored
/// examples and `S` optimiser slots: the head's RAM part, the store and the workspace (the
/// frozen rows stay in flash). Training also uses about `4·(F + 2·NEW)` bytes of stack, and
/// saving or loading ([`super::persist`]) about 300.
pub const fn ram_bytes<const NEW: usize, const F: usize, const N: usize, const S: usize>() -> usize
{
    size_of::<NewRows<NEW, F>>() + size_of::<Store<N, F>>() + size_of::<Workspace<NEW, F, N, S>>()
}

/// New classes the reported RAM figure is for.
pub const RAM_NEW: usize = 16;
/// Stored examples the reported RAM figure is for (10 per new class).
pub const RAM_EXAMPLES: usize = 160;
/// Feature capacities `F` for which [`ram_bytes_for_dim`] reports.
pub const FEATURE_BUCKETS: [usize; 9] = [16, 32, 48, 64, 96, 128, 256, 384, 512];

/// RAM of adaptation for [`RAM_NEW`] classes × 10 examples with `slots` optimiser slots (0:
/// SGD, 1: SGD with momentum, 2: Adam; more are capped at 2), in a build whose feature
/// capacity `F` is the smallest of [`FEATURE_BUCKETS`] that holds `dim` features. Returns
/// `(F, bytes)`, or `None` when `dim` exceeds every bucket.
pub fn ram_bytes_for_dim(dim: usize, slots: usize) -> Option<(usize, usize)> {
    macro_rules! bucket {
        ($($f:literal),*) => {
            $(
                if dim <= $f {
                    return Some(($f, match slots {
                        0 => ram_bytes::<RAM_NEW, $f, RAM_EXAMPLES, 0>(),
                        1 => ram_bytes::<RAM_NEW, $f, RAM_EXAMPLES, 1>(),
                        _ => ram_bytes::<RAM_NEW, $f, RAM_EXAMPLES, 2>(),
                    }));
                }
            )*
        };
    }
    bucket!(16, 32, 48, 64, 96, 128, 256, 384, 512);
    None
}
