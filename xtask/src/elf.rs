//! Section sizes of an ELF64 file (what `size -A` reports), without a
//! dependency: the benchmark prints text/data/bss of the firmware.
use anyhow::{bail, Result};

#[derive(Debug, Default, Clone, Copy)]
pub struct Sizes {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
    pub stacks: u64,
}

fn u16_at(b: &[u8], o: usize) -> u16 { u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) }
fn u32_at(b: &[u8], o: usize) -> u32 { u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) }
fn u64_at(b: &[u8], o: usize) -> u64 { u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) }

/// Sum section sizes by name prefix.
pub fn sizes(bytes: &[u8]) -> Result<Sizes> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        bail!("not a little-endian ELF64 file");
    }
    let shoff = u64_at(bytes, 0x28) as usize;
    let shentsize = u16_at(bytes, 0x3a) as usize;
    let shnum = u16_at(bytes, 0x3c) as usize;
    let shstrndx = u16_at(bytes, 0x3e) as usize;
    if shoff + shnum * shentsize > bytes.len() || shstrndx >= shnum {
        bail!("truncated ELF section table");
    }
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(bytes, sh(shstrndx) + 0x18) as usize;
    let mut s = Sizes::default();
    for i in 0..shnum {
        let name_off = strtab + u32_at(bytes, sh(i)) as usize;
        let end = bytes[name_off..].iter().position(|&c| c == 0).map(|p| name_off + p).unwrap_or(name_off);
        let name = std::str::from_utf8(&bytes[name_off..end]).unwrap_or("");
        let size = u64_at(bytes, sh(i) + 0x20);
        match name {
            ".text" => s.text += size,
            ".rodata" => s.rodata += size,
            ".data" => s.data += size,
            ".bss" => s.bss += size,
            ".stacks" => s.stacks += size,
            _ => {}
        }
    }
    Ok(s)
}
