//! The lines of a decoded firmware log that the host reads.

use std::collections::BTreeMap;

/// `metric <name>=<value>` lines as a map (lines whose value is not a `u64` are skipped).
pub fn parse_metrics(log: &str) -> BTreeMap<String, u64> {
    log.lines()
        .filter_map(|l| l.split_once("metric ")?.1.split_once('='))
        .filter_map(|(k, v)| Some((k.trim().to_owned(), v.trim().parse().ok()?)))
        .collect()
}

/// `golden <i>: … PASS|FAIL …` lines as `(i, passed)`, in log order.
pub fn parse_golden(log: &str) -> Vec<(usize, bool)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once("golden ")?.1;
            let (idx, tail) = rest.split_once(':')?;
            let idx = idx.trim().parse().ok()?;
            let words: Vec<&str> = tail.split_whitespace().collect();
            if words.contains(&"PASS") {
                Some((idx, true))
            } else if words.contains(&"FAIL") {
                Some((idx, false))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_firmware_lines() {
        let log = "INFO hone-fw on x\nINFO metric calibration_measured=1999997\n\
                   INFO golden 0: matvec 3x4 PASS (12 instructions)\n\
                   ERROR golden 1: matvec 2x2 FAIL Value { index: 1 }\n\
                   INFO golden summary: 1 of 2 vectors passed\nINFO metric x=notanumber\n";
        assert_eq!(parse_golden(log), vec![(0, true), (1, false)]);
        let m = parse_metrics(log);
        assert_eq!(m.get("calibration_measured"), Some(&1_999_997));
        assert_eq!(m.len(), 1);
    }
}
