//! Value parsers for options whose range clap's built-in parsers do not check: floats that
//! must be finite and within bounds, and options parsed into a value but reported as typed.

use std::str::FromStr;

/// An option parsed into `value`, with the `text` the user typed (for reports).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// What was typed.
    pub text: String,
    /// What it means.
    pub value: T,
}

fn number<T: FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("`{s}` is not a number"))
}

/// A finite number in `[lo, hi]` (open at `hi` when `hi_open`), for option parsers.
fn within(s: &str, lo: f64, hi: f64, hi_open: bool) -> Result<f64, String> {
    let x: f64 = number(s)?;
    let below_hi = if hi_open { x < hi } else { x <= hi };
    if x.is_finite() && x >= lo && below_hi {
        Ok(x)
    } else {
        let close = if hi_open { ')' } else { ']' };
        Err(format!("{s} is not in [{lo}, {hi}{close}"))
    }
}

/// A fraction in `[0, 1]` (thresholds on agreement).
pub fn fraction(s: &str) -> Result<f64, String> {
    within(s, 0.0, 1.0, false)
}

/// A cosine in `[-1, 1]`.
pub fn cosine(s: &str) -> Result<f64, String> {
    within(s, -1.0, 1.0, false)
}

/// A finite `f32` ≥ 0.
pub fn non_negative(s: &str) -> Result<f32, String> {
    within(s, 0.0, f64::from(f32::MAX), false).map(|x| x as f32)
}

/// A finite `f32` > 0.
pub fn positive(s: &str) -> Result<f32, String> {
    match non_negative(s)? {
        0.0 => Err(format!("{s} is not > 0")),
        x => Ok(x),
    }
}

/// A finite `f32` in `[0, 1)` (label smoothing).
pub fn unit_open(s: &str) -> Result<f32, String> {
    within(s, 0.0, 1.0, true).map(|x| x as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_what_they_do_not_hold() {
        assert_eq!(fraction("0.5"), Ok(0.5));
        assert_eq!(fraction("1"), Ok(1.0));
        for bad in ["2", "-0.1", "nan", "inf", "x"] {
            assert!(fraction(bad).is_err(), "{bad}");
        }
        assert!(cosine("-1").is_ok() && cosine("1.5").is_err());
        assert!(non_negative("0").is_ok() && non_negative("-1").is_err());
        assert!(positive("0").is_err() && positive("1e-3").is_ok());
        assert!(positive("1e39").is_err(), "past f32");
        assert!(unit_open("0").is_ok() && unit_open("1").is_err());
    }
}
