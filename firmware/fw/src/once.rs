//! [`TakeOnce`]: a `static` whose contents can be borrowed mutably once.
//!
//! Large working memory (the adaptation state) lives in such a static: its `const`
//! initialiser puts it in `.bss` (or `.data`) at link time, so it is never built on the stack
//! and copied, and the static RAM figure of the ELF accounts for it.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A value that [`TakeOnce::take`] hands out as `&'static mut` at most once.
pub struct TakeOnce<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reachable through `take`, which hands out at most one reference
// (the flag is tested and set inside a critical section), so it is never shared between
// contexts; `T: Send` because that one reference may be used from any context.
unsafe impl<T: Send> Sync for TakeOnce<T> {}

impl<T> TakeOnce<T> {
    /// Wraps `value` (evaluated at compile time when used as a `static` initialiser).
    pub const fn new(value: T) -> Self {
        Self {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, the first time; `None` afterwards.
    // A `&mut` out of `&self` is this type's purpose: the flag makes it unique.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut T> {
        cortex_m::interrupt::free(|_| {
            if self.taken.load(Ordering::Relaxed) {
                return None;
            }
            self.taken.store(true, Ordering::Relaxed);
            // SAFETY: `taken` was false and is now true, inside a critical section: no other
            // reference to the value was ever handed out, and none will be.
            Some(unsafe { &mut *self.value.get() })
        })
    }
}
