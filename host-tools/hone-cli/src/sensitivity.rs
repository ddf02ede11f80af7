//! Which activation loses precision? `hone export --sensitivity N` fake-quantises one
//! calibrated tensor at a time in the float reference (int8 with the scale and zero point
//! the export gives it) and reports the mean feature cosine against the clean reference on
//! N calibration prompts, worst first; `*all*` quantises every tensor at once.

use hone_build::asymmetric;
use hone_reference::calib::Ranges;
use hone_reference::math::cosine;
use hone_reference::model::{NoProbe, Probe};
use hone_reference::Reference;

/// Rounds `values` of the chosen tensors to their int8 grid.
struct FakeQuant<'a> {
    target: Option<&'a str>,
    /// With `target == None`: tensors (by name suffix) left in float.
    skip: &'a [&'a str],
    ranges: &'a Ranges,
    percentile: f64,
}

impl Probe for FakeQuant<'_> {
    fn record(&mut self, name: &str, values: &mut [f32]) {
        if name == "features" || self.target.is_some_and(|t| t != name) {
            return;
        }
        if self.target.is_none() && self.skip.iter().any(|s| name.ends_with(s)) {
            return;
        }
        let Some((lo, hi)) = self.ranges.range(name, self.percentile) else {
            return;
        };
        let (scale, zp) = asymmetric(lo, hi.max(lo + 1e-6));
        let zp = f32::from(zp);
        for v in values.iter_mut() {
            let q = (*v / scale + zp).round().clamp(-128.0, 127.0);
            *v = (q - zp) * scale;
        }
    }
}

/// `(tensor, mean cosine)` rows, worst first.
pub fn analyse(
    r: &Reference,
    ranges: &Ranges,
    percentile: f64,
    texts: &[String],
) -> Vec<(String, f64)> {
    let clean: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| r.run(t, &mut NoProbe).features)
        .collect();
    let score = |target: Option<&str>, skip: &[&str]| {
        let mut p = FakeQuant {
            target,
            skip,
            ranges,
            percentile,
        };
        texts
            .iter()
            .zip(&clean)
            .map(|(t, c)| cosine(&r.run(t, &mut p).features, c))
            .sum::<f64>()
            / texts.len().max(1) as f64
    };
    let mut rows: Vec<(String, f64)> = ranges
        .names()
        .filter(|n| *n != "features")
        .map(|n| (n.to_string(), score(Some(n), &[])))
        .collect();
    rows.push(("*all*".into(), score(None, &[])));
    // What keeping the pre-LayerNorm sums in float recovers: the FFN block only, or both
    // blocks (what `hone export --fuse ffn` / `--fuse all` do with `FcAddNorm`).
    rows.push(("*all but ff2,res2*".into(), score(None, &[".ff2", ".res2"])));
    let pre_ln = [".ff2", ".res2", ".attn_out", ".res1"];
    rows.push(("*all but pre-LN*".into(), score(None, &pre_ln)));
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    rows
}

/// Prints the table.
pub fn print(rows: &[(String, f64)], ranges: &Ranges, percentile: f64) {
    outln!(
        "{:<20} {:>10} {:>12} {:>12} {:>12} {:>12}",
        "tensor",
        "cosine",
        "min",
        "max",
        "clip lo",
        "clip hi"
    );
    for (n, c) in rows {
        let (mn, mx) = ranges.min_max(n).unwrap_or((f32::NAN, f32::NAN));
        let (lo, hi) = ranges.range(n, percentile).unwrap_or((f32::NAN, f32::NAN));
        outln!("{n:<20} {c:>10.5} {mn:>12.4} {mx:>12.4} {lo:>12.4} {hi:>12.4}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_quant_rounds_only_its_target_to_the_int8_grid() {
        let mut ranges = Ranges::new();
        ranges.record("a", &mut [-1.0, 1.55]);
        ranges.record("b", &mut [-1.0, 1.55]);
        let mut p = FakeQuant {
            target: Some("a"),
            skip: &[],
            ranges: &ranges,
            percentile: 100.0,
        };
        let (scale, zp) = asymmetric(-1.0, 1.55);
        let mut v = [0.3, -0.77, 5.0];
        p.record("a", &mut v);
        for (x, orig) in v.iter().zip([0.3f32, -0.77]) {
            let q = x / scale + f32::from(zp);
            assert!((q - q.round()).abs() < 1e-3, "{x} is not on the grid");
            assert!((x - orig).abs() <= scale / 2.0 + 1e-6);
        }
        assert!(
            (v[2] - (127.0 - f32::from(zp)) * scale).abs() < 1e-5,
            "clamped"
        );
        let mut w = [0.3];
        p.record("b", &mut w);
        assert_eq!(w, [0.3]);
        let mut all = FakeQuant {
            target: None,
            skip: &["b"],
            ranges: &ranges,
            percentile: 100.0,
        };
        all.record("b", &mut w);
        assert_eq!(w, [0.3]);
    }
}
