//! Firmware builds: which package for which board, and `cargo build --release` in
//! `firmware/` with blobs embedded.

use std::{
    env,
    ffi::OsString,
    fmt,
    hash::{Hash, Hasher},
    io,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Mutex, MutexGuard},
};

use crate::{other, Machine};

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

    /// The QEMU machine emulating this board, if any.
    pub fn machine(self) -> Option<Machine> {
        match self {
            Board::Mps2An386 | Board::Mps2An386Heap => Some(Machine::Mps2An386),
            Board::Microbit => Some(Machine::Microbit),
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

/// The firmware workspace of this repository.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware")
}

/// Blobs embedded into a firmware build (`None`: nothing embedded).
#[derive(Debug, Default, Clone)]
pub struct Embed<'a> {
    /// Golden file (`HONE_FW_GOLDEN`).
    pub golden: Option<&'a Path>,
    /// Model blob (`HONE_FW_MODEL`; a signed envelope when `public_key` is set).
    pub model: Option<&'a Path>,
    /// Public key file (`HONE_FW_PUBKEY`): the firmware verifies a signed model at boot.
    pub public_key: Option<&'a Path>,
    /// Version the firmware records as accepted before its boot check (`HONE_FW_ACCEPTED`).
    pub accepted: Option<u32>,
}

/// One `cargo build --release -p <package> --target <target>` in a firmware workspace, with
/// `DEFMT_LOG=info`.
#[derive(Debug, Clone)]
pub struct Build<'a> {
    /// The firmware workspace (default: [`firmware_dir`]).
    pub firmware: PathBuf,
    /// Package to build (all its binaries).
    pub package: &'a str,
    /// Rust target triple.
    pub target: &'a str,
    /// Blobs to embed.
    pub embed: Embed<'a>,
    /// Let cargo print its progress on standard error (otherwise its output is captured and
    /// returned in the error when the build fails).
    pub show_progress: bool,
}

/// Builds share `firmware/target`: one at a time per process.
static LOCK: Mutex<()> = Mutex::new(());

impl<'a> Build<'a> {
    /// A build of `package` for `target` in [`firmware_dir`], nothing embedded, output
    /// captured.
    pub fn new(package: &'a str, target: &'a str) -> Self {
        Self {
            firmware: firmware_dir(),
            package,
            target,
            embed: Embed::default(),
            show_progress: false,
        }
    }

    /// Where the binaries land.
    pub fn release_dir(&self) -> PathBuf {
        self.firmware
            .join("target")
            .join(self.target)
            .join("release")
    }

    /// Builds; returns [`Build::release_dir`].
    pub fn run(&self) -> io::Result<PathBuf> {
        self.run_locked().map(|(_, dir)| dir)
    }

    /// Builds and returns the lock (held until the caller has copied what it needs).
    fn run_locked(&self) -> io::Result<(MutexGuard<'static, ()>, PathBuf)> {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (golden, model) = (abs(self.embed.golden)?, abs(self.embed.model)?);
        let public_key = abs(self.embed.public_key)?;
        let accepted = self
            .embed
            .accepted
            .map(|v| v.to_string())
            .unwrap_or_default();
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.firmware)
            // Not `--locked`: firmware/Cargo.lock pins versions, but crates/hone's
            // dependencies change under it; cargo then adds the new ones and keeps every
            // pinned version.
            .args(["build", "--release", "-p", self.package])
            .args(["--target", self.target])
            .env("HONE_FW_GOLDEN", &golden)
            .env("HONE_FW_MODEL", &model)
            .env("HONE_FW_PUBKEY", &public_key)
            .env("HONE_FW_ACCEPTED", &accepted)
            .env("DEFMT_LOG", "info");
        let failed = |detail: &str| {
            other(format!(
                "building {} ({}) in {} failed{detail}",
                self.package,
                self.target,
                self.firmware.display()
            ))
        };
        if self.show_progress {
            let status = cmd.stdout(Stdio::null()).status()?;
            if !status.success() {
                return Err(failed(""));
            }
        } else {
            let out = cmd.output()?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Err(failed(&format!(":\n{stderr}")));
            }
        }
        Ok((guard, self.release_dir()))
    }
}

/// `p` made absolute (the build runs in another directory), or empty.
fn abs(p: Option<&Path>) -> io::Result<OsString> {
    Ok(match p {
        Some(p) => p
            .canonicalize()
            .map_err(|e| other(format!("{}: {e}", p.display())))?
            .into_os_string(),
        None => OsString::new(),
    })
}

/// Builds the firmware for `board` with `embed`, returning the ELF path.
///
/// Every build of a package writes the same output file, so each build's ELF is copied to a
/// name of its own (`<package>-<hash of board and embedded files>`) before another build in
/// this process can overwrite it.
pub fn build(board: Board, embed: &Embed<'_>) -> io::Result<PathBuf> {
    let mut b = Build::new(board.package(), board.target());
    b.embed = embed.clone();
    let (_guard, release) = b.run_locked()?;
    let (golden, model) = (abs(embed.golden)?, abs(embed.model)?);
    let public_key = abs(embed.public_key)?;
    let mut h = std::hash::DefaultHasher::new();
    (
        board.package(),
        &golden,
        &model,
        &public_key,
        embed.accepted,
    )
        .hash(&mut h);
    let elf = release.join(format!("{}-{:016x}", board.package(), h.finish()));
    std::fs::copy(release.join(board.package()), &elf)?;
    Ok(elf)
}
