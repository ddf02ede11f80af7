//! # hone-console
//!
//! A personalisation console for a [`hone`] model, driven by text lines: the same code
//! answers a host terminal (`hone console`) and a device's serial port. A firmware feeds it
//! each received line and sends back what it writes.
//!
//! # Protocol
//!
//! One line in, one or more lines out ([`command`] parses, [`Console::line`] answers):
//! - a prompt → `LABEL CONFIDENCE`, or `unknown CONFIDENCE` when the confidence (the adapted
//!   head's softmax probability of its top class) is under the threshold;
//! - `:teach LABEL TEXT` collects TEXT as an example of LABEL, a new label (enrolled on the
//!   spot) or an existing one;
//! - `:train` adapts the enrolled labels to the examples with the never-worse guard, reports
//!   `improved …` or `rolled back …`, and saves;
//! - `:forget LABEL` removes an enrolled label and its examples, and saves;
//! - `:labels`, `:save`, `:stats`, `:threshold [X]`, `:help`.
//!
//! Errors are one line starting with `error:`; no input stops the console or panics.
//!
//! # State
//!
//! The console borrows the model's [`hone::Runner`], the adaptation RAM
//! ([`hone::adapt::AdaptRam`], a `static` on a device) and a
//! [`NorFlash`](embedded_storage::nor_flash::NorFlash) region holding the power-safe journal
//! ([`hone::adapt::persist::Journal`], sized by [`region_len`]). At start it restores the
//! latest state saved for its model ([`Console::restored`]).
//!
//! ```
//! use hone::adapt::AdaptRam;
//! use hone::{Model, Runner, Steps};
//! use hone_console::{region_len, Console};
//! # let blob = hone_build::testutil::tiny_model().unwrap();
//! # type Flash = hone_build::flash::SimFlash<256>;
//! let mut steps = Steps::<8>::new();
//! let model = Model::load(&blob, &mut steps)?;
//! let mut scratch = vec![0u32; model.scratch_words()]; // a `static` on a device
//! let runner = Runner::new(&model, &mut scratch)?;
//! let mut ram = Box::new(AdaptRam::<16>::new()); // a `static` on a device
//! let len = region_len::<Flash>(&model).ok_or("region too large")?;
//! let flash = Flash::new(len as usize); // the device's NorFlash driver
//! let mut console = Console::new(runner, &mut ram, flash, 0, len)?;
//! let mut reply = String::new(); // e.g. a `heapless::String` on a device
//! console.line(":teach weather what is the weather today", &mut reply)?;
//! assert!(reply.starts_with("taught weather (new)"));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]

pub mod command;
mod console;

pub use console::{region_len, Console, Restored, DEFAULT_THRESHOLD};

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests;
