//! Standard output of every subcommand.
//!
//! `out!` and `outln!` format into a locked stdout. A reader that went away (a closed
//! pipe: `hone inspect … | head`) ends the process quietly with status 0, as a Unix filter
//! does; any other write error ends it with a message and status 1. `std`'s `print!` and
//! `println!` panic in both cases, so `clippy.toml` forbids them in this crate.

use std::io::{ErrorKind, Write};
use std::process::exit;

/// Writes `args` to stdout, ending the process as the module documentation states when
/// stdout cannot take them.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        exit(1);
    }
}

/// `print!` through [`write()`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` through [`write()`].
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
