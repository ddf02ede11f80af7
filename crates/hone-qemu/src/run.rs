//! Running a firmware ELF on `qemu-system-arm` and decoding its defmt log with
//! `defmt-print`.

use std::{
    collections::BTreeMap,
    io::{self, Write},
    path::Path,
    process::{Command, Stdio},
};

use crate::{other, parse_golden, parse_metrics, Board, ICOUNT_SHIFT};

/// Seconds a firmware run may take before `timeout` kills QEMU ([`run()`],
/// [`run_with_args`]).
pub const RUN_TIMEOUT_S: u32 = 300;

/// A machine QEMU emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `mps2-an386` with a Cortex-M4 (FPU).
    Mps2An386,
    /// `microbit` (nRF51, Cortex-M0).
    Microbit,
}

impl Machine {
    /// QEMU's `-machine` (and `-cpu`) arguments.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Machine::Mps2An386 => &["-machine", "mps2-an386", "-cpu", "cortex-m4"],
            Machine::Microbit => &["-machine", "microbit"],
        }
    }
}

/// What a firmware run printed and how it ended.
#[derive(Debug, Clone)]
pub struct Run {
    /// QEMU's exit status (the firmware's semihosting exit code; 124 after a time-out).
    pub status: Option<i32>,
    /// Decoded defmt log, one line per message (`LEVEL message`).
    pub log: String,
    /// QEMU's and defmt-print's standard error.
    pub stderr: String,
}

impl Run {
    /// `metric <name>=<value>` lines ([`parse_metrics`]).
    pub fn metrics(&self) -> BTreeMap<String, u64> {
        parse_metrics(&self.log)
    }

    /// One metric, or an error naming it.
    pub fn metric(&self, name: &str) -> io::Result<u64> {
        self.metrics()
            .get(name)
            .copied()
            .ok_or_else(|| other(format!("no metric {name} in:\n{}", self.log)))
    }

    /// `(index, passed)` for every `golden <i>: … PASS|FAIL …` line ([`parse_golden`]).
    pub fn golden_results(&self) -> Vec<(usize, bool)> {
        parse_golden(&self.log)
    }
}

/// Runs `elf` under QEMU for `board` (within [`RUN_TIMEOUT_S`]) and decodes its log.
pub fn run(board: Board, elf: &Path) -> io::Result<Run> {
    run_with_args(board, elf, &[])
}

/// [`run()`], passing `args` as the firmware's semihosting command line (after its name,
/// the board's package).
pub fn run_with_args(board: Board, elf: &Path, args: &[&str]) -> io::Result<Run> {
    let machine = board
        .machine()
        .ok_or_else(|| other(format!("QEMU does not emulate {board}")))?;
    let mut argv = Vec::new();
    if !args.is_empty() {
        argv.push(board.package());
        argv.extend_from_slice(args);
    }
    run_elf(machine, elf, &argv, RUN_TIMEOUT_S)
}

/// Runs `elf` on `machine` inside `timeout timeout_s`, with `-icount shift=`[`ICOUNT_SHIFT`]
/// and semihosting (its command line `argv`, program name first; none when empty), and
/// decodes the defmt frames it writes to standard output with `defmt-print`. An error when
/// a tool cannot be started, `argv` holds a comma (QEMU cannot pass one) or `defmt-print`
/// fails; the firmware's own failure is [`Run::status`].
pub fn run_elf(machine: Machine, elf: &Path, argv: &[&str], timeout_s: u32) -> io::Result<Run> {
    let mut semihosting = String::from("enable=on,target=native");
    for a in argv {
        if a.contains(',') {
            return Err(other(format!(
                "QEMU cannot pass an argument with a comma: {a}"
            )));
        }
        semihosting += &format!(",arg={a}");
    }
    let qemu = Command::new("timeout")
        .arg(timeout_s.to_string())
        .arg("qemu-system-arm")
        .args(machine.args())
        .args(["-display", "none", "-serial", "null", "-monitor", "none"])
        .args(["-icount", &format!("shift={ICOUNT_SHIFT}")])
        .args(["-semihosting-config", &semihosting])
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            other(format!(
                "running qemu-system-arm (apt-get install qemu-system-arm): {e}"
            ))
        })?;
    let mut decoder = Command::new("defmt-print")
        .arg("-e")
        .arg(elf)
        .args(["--log-format", "{L} {s}"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            other(format!(
                "running defmt-print (cargo install defmt-print): {e}"
            ))
        })?;
    let mut stdin = decoder
        .stdin
        .take()
        .ok_or_else(|| other("defmt-print stdin".into()))?;
    // Feed the frames from another thread so that a large log cannot fill both pipes.
    let frames = qemu.stdout;
    let feeder = std::thread::spawn(move || stdin.write_all(&frames));
    let decoded = decoder.wait_with_output()?;
    feeder
        .join()
        .map_err(|_| other("defmt-print feeder panicked".into()))??;
    if !decoded.status.success() {
        return Err(other(format!(
            "defmt-print failed: {}",
            String::from_utf8_lossy(&decoded.stderr)
        )));
    }
    Ok(Run {
        status: qemu.status.code(),
        log: String::from_utf8_lossy(&decoded.stdout).into_owned(),
        stderr: format!(
            "{}{}",
            String::from_utf8_lossy(&qemu.stderr),
            String::from_utf8_lossy(&decoded.stderr)
        ),
    })
}
