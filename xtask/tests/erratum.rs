//! Cortex-A53 erratum 835769 in the shipped image: the release ELF's
//! disassembly must not contain a load/store directly followed by a 64-bit
//! multiply-accumulate (xtask/src/erratum.rs says why and how).
use xtask::erratum;
use xtask::firmware::{self, BuildOptions};

#[test]
fn the_release_elf_has_no_load_store_before_a_64_bit_multiply_accumulate() {
    let elf = firmware::build(&BuildOptions { release: true, ..Default::default() }).expect("release build");
    let text = erratum::disassemble(&elf).expect("disassembly");
    let s = erratum::scan(&text);
    // The scan saw real code: the codec, the PNG coder and boot.s use 64-bit
    // multiply-accumulates, and boot.s's is behind its hand-placed nop.
    assert!(s.instructions > 10_000, "only {} instructions disassembled", s.instructions);
    assert!(s.macs > 10, "only {} 64-bit multiply-accumulates: is this the firmware?", s.macs);
    assert!(s.macs_after_nop >= 1, "no nop-guarded multiply-accumulate (boot.s has one)");
    let list: Vec<String> = s.findings.iter().map(|f| format!("  {:x}: {}\n  {:x}: {}", f.mem.0, f.mem.1, f.mac.0, f.mac.1)).collect();
    assert!(
        s.findings.is_empty(),
        "{} erratum-835769 pairs in {}:\n{}",
        s.findings.len(),
        elf.display(),
        list.join("\n")
    );
    println!("{}: {} instructions, {} 64-bit multiply-accumulates ({} after a nop), no load/store directly before one", elf.display(), s.instructions, s.macs, s.macs_after_nop);
}
