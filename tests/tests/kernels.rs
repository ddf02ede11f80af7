//! The Arm DSP kernels against their portable definitions, bit for bit, on Cortex-M4 under
//! QEMU (`firmware/bench`, binary `kernel-check`), and the kernel benchmark firmware
//! (`kernel-bench`) end to end.
//!
//! Logs: `cargo test -p hone-tests --test kernels -- --nocapture`.

use std::{path::PathBuf, sync::OnceLock};

use hone_tests::qemu::{self, Board, Build, Run};

/// Firmware package holding both binaries.
const PACKAGE: &str = "hone-fw-bench";

/// Builds `firmware/bench` (release, Cortex-M4F) once per test process; returns its
/// output directory.
fn bench_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        Build::new(PACKAGE, Board::Mps2An386.target())
            .run()
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

fn run(bin: &str) -> Run {
    let run = qemu::run(Board::Mps2An386, &bench_dir().join(bin)).expect("run QEMU");
    println!("{bin}:\n{}{}", run.log, run.stderr);
    run
}

/// `(passed, failed)` from the `kernel-check: <n> passed, <m> failed` line.
fn summary(log: &str) -> Option<(u32, u32)> {
    let line = log.lines().find(|l| l.contains(" passed, "))?;
    let rest = line.split_once("kernel-check: ")?.1;
    let (p, f) = rest.split_once(" passed, ")?;
    Some((
        p.trim().parse().ok()?,
        f.split_whitespace().next()?.parse().ok()?,
    ))
}

#[test]
fn dsp_kernels_are_bit_exact_with_portable_on_cortex_m4() {
    let run = run("kernel-check");
    assert!(
        run.log.contains("kernel-check: backend arm-dsp"),
        "the Cortex-M4 build must select the DSP kernels"
    );
    let (passed, failed) = summary(&run.log).expect("summary line");
    assert_eq!(failed, 0, "mismatching cases (see log)");
    // 3000 matvec + 300 matmul + 2000 fully connected (with requantisation) cases.
    assert_eq!(passed, 5300, "every case ran");
    assert_eq!(run.status, Some(0));
}

#[test]
fn kernel_bench_reports_portable_and_dsp_for_every_shape() {
    let run = run("kernel-bench");
    assert_eq!(
        run.status,
        Some(0),
        "results differed or the firmware failed"
    );
    let m = run.metrics();
    // The kernel alone (fc_) and the whole op with requantisation (fcop_).
    for prefix in ["fc", "fcop"] {
        let shapes: Vec<&str> = m
            .keys()
            .filter_map(|k| {
                k.strip_prefix(prefix)?
                    .strip_prefix('_')?
                    .strip_suffix("_macs")
            })
            .collect();
        assert!(shapes.len() >= 5, "{prefix} shapes: {shapes:?}");
        for s in shapes {
            let (rows, cols) = s.split_once('x').expect("RxC");
            let (rows, cols): (u64, u64) = (rows.parse().unwrap(), cols.parse().unwrap());
            assert_eq!(m[&format!("{prefix}_{s}_macs")], rows * cols);
            for k in ["portable", "dsp"] {
                let v = m[&format!("{prefix}_{s}_{k}")];
                // Every MAC takes at least one instruction on either path.
                assert!(v >= rows * cols / 2 && v > 0, "{prefix}_{s}_{k}={v}");
            }
        }
    }
}

#[test]
fn summary_line_parses() {
    assert_eq!(
        summary("INFO  kernel-check: backend arm-dsp\nINFO  kernel-check: 12 passed, 3 failed\n"),
        Some((12, 3))
    );
    assert_eq!(summary("INFO  nothing\n"), None);
}
