//! Section sizes and symbols of a firmware ELF (GNU Arm binutils).

use std::{io, path::Path, process::Command};

use crate::other;

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

/// Standard output of `tool arg elf`, or an error with its standard error.
fn binutil(tool: &str, arg: &str, elf: &Path) -> io::Result<String> {
    let out = Command::new(tool).arg(arg).arg(elf).output()?;
    if !out.status.success() {
        return Err(other(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads section sizes with `arm-none-eabi-size -A`.
pub fn sizes(elf: &Path) -> io::Result<Sizes> {
    Ok(parse_size_a(&binutil("arm-none-eabi-size", "-A", elf)?))
}

/// Demangled symbol names of an ELF (`arm-none-eabi-nm -C`), one per line.
pub fn symbols(elf: &Path) -> io::Result<String> {
    binutil("arm-none-eabi-nm", "-C", elf)
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
