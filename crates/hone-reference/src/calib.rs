//! Activation ranges for post-training quantisation.
//!
//! [`Ranges`] is a [`Probe`]: run the reference over calibration prompts with it and read
//! each named tensor's range back as exact min/max or as percentiles. Percentiles come from
//! a bounded, deterministic sample of the values (every `stride`-th value; the stride
//! doubles whenever the sample fills), so memory stays bounded on large models and the same
//! prompts always give the same ranges.

use std::collections::BTreeMap;

use crate::model::Probe;

/// Values kept per tensor for percentiles (before halving).
pub const SAMPLE_CAP: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Stat {
    min: f32,
    max: f32,
    count: u64,
    stride: u64,
    sample: Vec<f32>,
}

impl Stat {
    fn new() -> Self {
        Self {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            count: 0,
            stride: 1,
            sample: Vec::new(),
        }
    }

    fn add(&mut self, values: &[f32]) {
        for &v in values {
            if !v.is_finite() {
                continue;
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            if self.count.is_multiple_of(self.stride) {
                self.sample.push(v);
                if self.sample.len() >= 2 * SAMPLE_CAP {
                    let kept: Vec<f32> = self.sample.iter().copied().step_by(2).collect();
                    self.sample = kept;
                    self.stride *= 2;
                }
            }
            self.count += 1;
        }
    }
}

/// Per-tensor activation statistics, keyed by probe name.
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    stats: BTreeMap<String, Stat>,
}

impl Probe for Ranges {
    fn record(&mut self, name: &str, values: &mut [f32]) {
        match self.stats.get_mut(name) {
            Some(s) => s.add(values),
            None => {
                let mut s = Stat::new();
                s.add(values);
                self.stats.insert(name.to_string(), s);
            }
        }
    }
}

impl Ranges {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names of the recorded tensors.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stats.keys().map(String::as_str)
    }

    /// Number of finite values seen for `name`.
    pub fn count(&self, name: &str) -> u64 {
        self.stats.get(name).map_or(0, |s| s.count)
    }

    /// Exact `(min, max)` of `name`, `None` if nothing finite was recorded.
    pub fn min_max(&self, name: &str) -> Option<(f32, f32)> {
        let s = self.stats.get(name)?;
        (s.count > 0).then_some((s.min, s.max))
    }

    /// The range of `name` clipped to the `percentile` (e.g. 99.99): `(lo, hi)` are the
    /// `(100 − p)`-th and `p`-th percentiles of the sample; `p ≥ 100` gives the exact
    /// min/max. `None` if nothing finite was recorded.
    pub fn range(&self, name: &str, percentile: f64) -> Option<(f32, f32)> {
        let s = self.stats.get(name)?;
        if s.count == 0 {
            return None;
        }
        if percentile >= 100.0 {
            return Some((s.min, s.max));
        }
        let mut v = s.sample.clone();
        v.sort_unstable_by(f32::total_cmp);
        let p = (percentile / 100.0).clamp(0.5, 1.0);
        let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        Some((at(1.0 - p), at(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_and_percentiles() {
        let mut r = Ranges::new();
        let mut v: Vec<f32> = (0..=1000).map(|i| i as f32 / 10.0).collect();
        r.record("a", &mut v);
        r.record("a", &mut [f32::NAN, 1e6]);
        assert_eq!(r.min_max("a"), Some((0.0, 1e6)));
        assert_eq!(r.count("a"), 1002);
        let (lo, hi) = r.range("a", 99.0).unwrap();
        assert!((0.9..=1.1).contains(&lo), "{lo}");
        assert!((98.9..=99.2).contains(&hi), "{hi}");
        assert_eq!(r.range("a", 100.0), Some((0.0, 1e6)));
        assert_eq!(r.range("b", 99.0), None);
        assert_eq!(r.names().collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn sample_stays_bounded_and_deterministic() {
        let mut a = Ranges::new();
        let mut b = Ranges::new();
        let mut chunk: Vec<f32> = (0..100_000)
            .map(|i| ((i * 7919) % 100_003) as f32)
            .collect();
        for _ in 0..45 {
            a.record("x", &mut chunk);
            b.record("x", &mut chunk);
        }
        let s = &a.stats["x"];
        assert!(s.sample.len() < 2 * SAMPLE_CAP);
        assert!(s.stride > 1);
        assert_eq!(a.range("x", 99.9), b.range("x", 99.9));
    }
}
