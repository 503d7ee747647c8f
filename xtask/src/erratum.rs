//! Cortex-A53 erratum 835769 (ARM, "Cortex-A53 MPCore Software Developers
//! Errata Notice", r0p0-r0p4; the ZynqMP's A53 is r0p4): a 64-bit
//! multiply-accumulate (MADD, MSUB, SMADDL, SMSUBL, UMADDL, UMSUBL with an
//! X destination and an accumulator other than XZR) directly after a load,
//! store or prefetch can produce a wrong result. The firmware is built with
//! +fix-cortex-a53-835769 (LLVM puts a NOP between such a pair) and boot.s
//! has a NOP by hand; this scans the disassembly of an ELF for the pair.
//!
//! "Directly after" is program order: consecutive instructions in a
//! section. A branch between them breaks the sequence, so a linear scan of
//! adjacent addresses is the check (as the compiler's pass does for
//! fall-through).
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A load/store and the multiply-accumulate right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub mem: (u64, String),
    pub mac: (u64, String),
}

#[derive(Debug, Default)]
pub struct Scan {
    pub instructions: usize,
    /// 64-bit multiply-accumulates (the instructions the erratum can hit).
    pub macs: usize,
    /// Of those, how many have a NOP right before them.
    pub macs_after_nop: usize,
    pub findings: Vec<Finding>,
}

/// llvm-objdump: the version of Debian's rustc (rust-web-llvm's llvm-22),
/// or any other on the machine.
pub fn objdump() -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = ["llvm-objdump-22", "llvm-objdump"].iter().map(PathBuf::from).collect();
    if let Ok(dirs) = std::fs::read_dir("/usr/lib") {
        for d in dirs.flatten() {
            if d.file_name().to_string_lossy().starts_with("llvm-") {
                candidates.push(d.path().join("bin/llvm-objdump"));
            }
        }
    }
    for c in candidates {
        if Command::new(&c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Ok(c);
        }
    }
    bail!("no llvm-objdump found (Debian: rust-web-llvm brings llvm-objdump-22; run `cargo xtask setup`)")
}

/// The disassembly of `elf` (code sections).
pub fn disassemble(elf: &Path) -> Result<String> {
    let tool = objdump()?;
    let out = Command::new(&tool)
        .args(["-d", "--no-show-raw-insn"])
        .arg(elf)
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !out.status.success() {
        bail!("{} failed on {}: {}", tool.display(), elf.display(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One instruction line of llvm-objdump: `  addr:  <tab>mnemonic<tab>operands`.
/// Data (`.word`) and labels are not instructions.
fn instruction(line: &str) -> Option<(u64, &str, &str)> {
    let (addr, rest) = line.split_once(':')?;
    let addr = u64::from_str_radix(addr.trim(), 16).ok()?;
    let mut fields = rest.split('\t').skip(1);
    let mnemonic = fields.next()?.trim();
    if mnemonic.is_empty() || mnemonic.starts_with('.') || mnemonic.starts_with('<') {
        return None;
    }
    Some((addr, mnemonic, fields.next().unwrap_or("").trim()))
}

fn is_memory_access(mnemonic: &str) -> bool {
    mnemonic.starts_with("ld") || mnemonic.starts_with("st") || mnemonic.starts_with("prfm") || mnemonic.starts_with("prfum")
}

fn is_mac64(mnemonic: &str, operands: &str) -> bool {
    if !matches!(mnemonic, "madd" | "msub" | "smaddl" | "smsubl" | "umaddl" | "umsubl") {
        return false;
    }
    let ops: Vec<&str> = operands.split(',').map(str::trim).collect();
    ops.len() == 4 && ops[0].starts_with('x') && ops[3] != "xzr"
}

/// Scan a disassembly for the erratum's pair.
pub fn scan(disassembly: &str) -> Scan {
    let mut s = Scan::default();
    let mut prev: Option<(u64, &str, &str)> = None;
    for line in disassembly.lines() {
        let Some(insn @ (addr, mnemonic, operands)) = instruction(line) else {
            // A new section, a symbol or data: no fall-through into the next.
            if !line.trim().is_empty() && !line.starts_with(' ') {
                prev = None;
            }
            continue;
        };
        s.instructions += 1;
        if is_mac64(mnemonic, operands) {
            s.macs += 1;
            if let Some((pa, pm, po)) = prev.filter(|p| p.0 + 4 == addr) {
                if pm == "nop" {
                    s.macs_after_nop += 1;
                }
                if is_memory_access(pm) {
                    s.findings.push(Finding { mem: (pa, format!("{pm}\t{po}")), mac: (addr, format!("{mnemonic}\t{operands}")) });
                }
            }
        }
        prev = Some(insn);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as llvm-objdump -d --no-show-raw-insn prints them.
    const SAMPLE: &str = "
0000000000100c00 <f>:
  100c00:      \tldr\tx2, [x0, #8]
  100c04:      \tmadd\tx1, x19, x2, x1
  100c08:      \tldr\tx2, [x0]
  100c0c:      \tnop
  100c10:      \tmsub\tx8, x9, x11, x8
  100c14:      \tstr\tw1, [x2]
  100c18:      \tmadd\tw1, w2, w3, w4
  100c1c:      \tldp\tx0, x1, [sp]
  100c20:      \tsmaddl\tx0, w1, w2, x3
  100c24:      \tprfm\tpldl1keep, [x0]
  100c28:      \tumsubl\tx0, w1, w2, xzr
  100c2c: 00 00 00 00  \t.word\t0x00000000
  100c30:      \tmadd\tx0, x1, x2, x3

0000000000100c34 <g>:
  100c34:      \tldr\tx0, [x1]
  100c38:      \tb\t0x100c40 <g+0xc>
  100c3c:      \tmadd\tx0, x1, x2, x3
";

    #[test]
    fn finds_exactly_the_forbidden_pairs() {
        let s = scan(SAMPLE);
        let at: Vec<u64> = s.findings.iter().map(|f| f.mac.0).collect();
        // ldr+madd (64-bit) and ldp+smaddl: the erratum's pairs. Not: the
        // NOP-separated msub, the 32-bit madd, umsubl into xzr (a plain
        // multiply), the madd after data, the madd after a branch.
        assert_eq!(at, vec![0x100c04, 0x100c20]);
        assert_eq!(s.macs, 5);
        assert_eq!(s.macs_after_nop, 1);
        assert_eq!(s.findings[0].mem, (0x100c00, "ldr\tx2, [x0, #8]".to_string()));
    }
}
