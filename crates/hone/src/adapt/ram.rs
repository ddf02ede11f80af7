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
