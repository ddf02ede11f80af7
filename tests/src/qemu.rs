//! Build the firmware, run it under QEMU and read what it printed.
//!
//! Needs `qemu-system-arm`, `defmt-print`, `arm-none-eabi-size`, `timeout` and the thumb
//! rustup targets (all installed by `tests/run-all.sh`). QEMU always runs inside `timeout`
//! (a HardFault with a default handler would loop forever) and never with `-nographic`
//! (which fails without a terminal).

use std::{
    collections::BTreeMap,
    env, fmt,
    hash::{Hash, Hasher},
    io::{self, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
};

/// `-icount shift` passed to QEMU; must match `hone_fw::measure::ICOUNT_SHIFT`.
pub const ICOUNT_SHIFT: u32 = 10;

/// Seconds a firmware run may take before `timeout` kills QEMU.
pub const RUN_TIMEOUT_S: u32 = 300;

/// A board the firmware is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Board {
    /// QEMU `mps2-an386`: Cortex-M4F, `thumbv7em-none-eabihf`.
    Mps2An386,
    /// QEMU `microbit`: Cortex-M0 (no FPU), `thumbv6m-none-eabi`, 16 KiB RAM.
    Microbit,
    /// A real nRF52840 (built and size-checked only).
    Nrf52840,
    /// `mps2-an386` running the variant that receives its model at run time (`hone-fw-heap`).
    Mps2An386Heap,
}

impl Board {
    /// Rust target triple.
    pub fn target(self) -> &'static str {
        match self {
            Board::Mps2An386 | Board::Nrf52840 | Board::Mps2An386Heap => "thumbv7em-none-eabihf",
            Board::Microbit => "thumbv6m-none-eabi",
        }
    }

    /// Firmware package (and binary) name.
    pub fn package(self) -> &'static str {
        match self {
            Board::Mps2An386 | Board::Microbit => "hone-fw-qemu",
            Board::Nrf52840 => "hone-fw-nrf52840",
            Board::Mps2An386Heap => "hone-fw-heap",
        }
    }

    /// QEMU machine and CPU arguments, if QEMU emulates this board.
    pub fn qemu_machine(self) -> Option<&'static [&'static str]> {
        match self {
            Board::Mps2An386 | Board::Mps2An386Heap => {
                Some(&["-machine", "mps2-an386", "-cpu", "cortex-m4"])
            }
            Board::Microbit => Some(&["-machine", "microbit"]),
            Board::Nrf52840 => None,
        }
    }

    /// Flash and RAM of the part, in bytes (for `mps2-an386`: the RAM its memory map gives
    /// the firmware, 64 KiB, the product target; the run-time-model variant has 4 MiB).
    pub fn memory(self) -> (u64, u64) {
        match self {
            Board::Mps2An386 => (4 << 20, 64 << 10),
            Board::Mps2An386Heap => (4 << 20, 4 << 20),
            Board::Microbit => (256 << 10, 16 << 10),
            Board::Nrf52840 => (1 << 20, 256 << 10),
        }
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Board::Mps2An386 => "mps2-an386 (Cortex-M4F)",
            Board::Microbit => "microbit (Cortex-M0)",
            Board::Nrf52840 => "nrf52840 (Cortex-M4F)",
            Board::Mps2An386Heap => "mps2-an386 (Cortex-M4F), model received at run time",
        })
    }
}

/// The firmware workspace.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// Blobs embedded into a firmware build.
#[derive(Debug, Default, Clone)]
pub struct Embed<'a> {
    /// Golden file (`HONE_FW_GOLDEN`).
    pub golden: Option<&'a Path>,
    /// Model blob (`HONE_FW_MODEL`).
    pub model: Option<&'a Path>,
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Builds the firmware for `board` (release) with `embed`, returning the ELF path.
///
/// Builds share `firmware/target` and each writes the same output file, so they are
/// serialised here, and each build's ELF is copied to a name of its own (`<package>-<hash of
/// board and embedded files>`) before the next build can overwrite it.
pub fn build(board: Board, embed: &Embed<'_>) -> io::Result<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = firmware_dir();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let abs = |p: Option<&Path>| -> io::Result<std::ffi::OsString> {
        Ok(match p {
            Some(p) => p.canonicalize()?.into_os_string(),
            None => "".into(),
        })
    };
    let (golden, model) = (abs(embed.golden)?, abs(embed.model)?);
    let out = Command::new(cargo)
        .current_dir(&dir)
        // Not `--locked`: firmware/Cargo.lock pins versions, but crates/hone's dependencies
        // change under it; cargo then adds the new ones and keeps every pinned version.
        .args(["build", "--release", "-p", board.package()])
        .args(["--target", board.target()])
        .env("HONE_FW_GOLDEN", &golden)
        .env("HONE_FW_MODEL", &model)
        .env("DEFMT_LOG", "info")
        .output()?;
    if !out.status.success() {
        return Err(other(format!(
            "firmware build for {board} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let release = dir.join("target").join(board.target()).join("release");
    let mut h = std::hash::DefaultHasher::new();
    (board.package(), &golden, &model).hash(&mut h);
    let elf = release.join(format!("{}-{:016x}", board.package(), h.finish()));
    std::fs::copy(release.join(board.package()), &elf)?;
    Ok(elf)
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
    /// `metric <name>=<value>` lines.
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

    /// `(index, passed)` for every `golden <i>: … PASS|FAIL …` line.
    pub fn golden_results(&self) -> Vec<(usize, bool)> {
        parse_golden(&self.log)
    }
}

/// Runs `elf` under QEMU for `board` (inside `timeout`) and decodes its defmt output.
pub fn run(board: Board, elf: &Path) -> io::Result<Run> {
    run_with_args(board, elf, &[])
}

/// [`run`], passing `args` as the firmware's semihosting command line (after its name).
pub fn run_with_args(board: Board, elf: &Path, args: &[&str]) -> io::Result<Run> {
    let mut semihosting = String::from("enable=on,target=native");
    if !args.is_empty() {
        semihosting += &format!(",arg={}", board.package());
        for a in args {
            if a.contains(',') {
                return Err(other(format!(
                    "QEMU cannot pass an argument with a comma: {a}"
                )));
            }
            semihosting += &format!(",arg={a}");
        }
    }
    let machine = board
        .qemu_machine()
        .ok_or_else(|| other(format!("QEMU does not emulate {board}")))?;
    let qemu = Command::new("timeout")
        .arg(RUN_TIMEOUT_S.to_string())
        .arg("qemu-system-arm")
        .args(machine)
        .args(["-display", "none", "-serial", "null", "-monitor", "none"])
        .args(["-icount", &format!("shift={ICOUNT_SHIFT}")])
        .args(["-semihosting-config", &semihosting])
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .output()?;
    let mut decoder = Command::new("defmt-print")
        .arg("-e")
        .arg(elf)
        .args(["--log-format", "{L} {s}"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = decoder
        .stdin
        .take()
        .ok_or_else(|| other("defmt-print stdin".into()))?;
    // Feed the frames from another thread so a large log cannot fill both pipes.
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

/// Parses `metric <name>=<value>` lines.
pub fn parse_metrics(log: &str) -> BTreeMap<String, u64> {
    log.lines()
        .filter_map(|l| l.split_once("metric ")?.1.split_once('='))
        .filter_map(|(k, v)| Some((k.trim().to_owned(), v.trim().parse().ok()?)))
        .collect()
}

/// Parses `golden <i>: … PASS|FAIL …` lines into `(i, passed)`.
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

/// Section sizes of a firmware ELF and what they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes written to flash: `.vector_table`, `.text`, `.rodata`, `.data` (its load image).
    pub flash: u64,
    /// RAM reserved before the stack: `.data`, `.bss`, `.uninit`.
    pub static_ram: u64,
    /// Every allocated section (name, size).
    pub sections: Vec<(String, u64)>,
}

/// Reads section sizes with `arm-none-eabi-size -A`.
pub fn sizes(elf: &Path) -> io::Result<Sizes> {
    let out = Command::new("arm-none-eabi-size")
        .arg("-A")
        .arg(elf)
        .output()?;
    if !out.status.success() {
        return Err(other(format!(
            "arm-none-eabi-size failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(parse_size_a(&String::from_utf8_lossy(&out.stdout)))
}

/// Demangled symbol names of an ELF (`arm-none-eabi-nm -C`), one per line.
pub fn symbols(elf: &Path) -> io::Result<String> {
    let out = Command::new("arm-none-eabi-nm")
        .arg("-C")
        .arg(elf)
        .output()?;
    if !out.status.success() {
        return Err(other(format!(
            "arm-none-eabi-nm failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses the output of `size -A` (lines `name size addr`).
pub fn parse_size_a(text: &str) -> Sizes {
    let sections: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, size, _addr) = (f.next()?, f.next()?, f.next()?);
            name.starts_with('.')
                .then(|| Some((name.to_owned(), size.parse().ok()?)))
                .flatten()
        })
        .collect();
    let sum = |names: &[&str]| -> u64 {
        sections
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, s)| s)
            .sum()
    };
    Sizes {
        flash: sum(&[".vector_table", ".text", ".rodata", ".data"]),
        static_ram: sum(&[".data", ".bss", ".uninit"]),
        sections,
    }
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

    #[test]
    fn sums_flash_and_static_ram() {
        let text = "app  :\nsection size addr\n.vector_table 1024 0\n.text 5000 1024\n\
                    .rodata 300 6024\n.data 8 536870912\n.bss 100 536870920\n\
                    .uninit 0 536871020\n.defmt 40 0\n.debug_info 9999 0\nTotal 16471\n";
        let s = parse_size_a(text);
        assert_eq!(s.flash, 1024 + 5000 + 300 + 8);
        assert_eq!(s.static_ram, 8 + 100);
        assert_eq!(s.sections.len(), 8);
    }
}
