//! Progress bars on standard error (hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar.
pub type Bar = ProgressBar;

/// A bar over `len` steps labelled `what`.
pub fn bar(len: u64, what: &str) -> Bar {
    let b = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(what.to_string());
    b
}
