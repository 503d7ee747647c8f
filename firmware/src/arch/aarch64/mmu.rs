//! Identity-mapped translation tables (4 KiB granule, 39-bit VA, start at
//! level 1) built from the linker's memory map.
//!
//! | range                    | attributes                                    |
//! |--------------------------|-----------------------------------------------|
//! | null guard, stack guards | not mapped: an access faults                  |
//! | .text                    | normal write-back, read-only, executable      |
//! | .rodata                  | normal write-back, read-only, execute-never   |
//! | rest of low/high DDR     | normal write-back, read-write, execute-never  |
//! | co-sim register window   | device-nGnRE (each access reaches the file)   |
//! | peripherals              | device-nGnRE                                  |
//! | PL window (HPM0_FPD)     | device-nGnRnE: no early write acknowledgement |
use crate::bsp::zcu102::memory;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;

const PAGE: u64 = 4096;
const L2_BLOCK: u64 = 2 << 20;
const L1_BLOCK: u64 = 1 << 30;
const ENTRIES: usize = 512;
/// L2 tables cover the 32-bit space (low DDR, PL windows, peripherals) at
/// 2 MiB granularity; L3 tables cover the firmware region.
const L2_TABLES: usize = 4;
const L3_TABLES: usize = 16;

// Descriptor bits (ARM ARM D8.3).
const DESC_TABLE: u64 = 0b11;
const DESC_BLOCK: u64 = 0b01;
const DESC_PAGE: u64 = 0b11;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 0b11 << 8;
const AP_RO: u64 = 0b10 << 6;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

/// MAIR_EL1 attribute indices.
pub const ATTR_NORMAL_WB: u64 = 0;
pub const ATTR_DEVICE_NGNRE: u64 = 1;
pub const ATTR_NORMAL_NC: u64 = 2;
pub const ATTR_DEVICE_NGNRNE: u64 = 3;
/// MAIR encodings of the indices above (index n in byte n).
pub const MAIR_NORMAL_WB: u8 = 0xff;
pub const MAIR_DEVICE_NGNRE: u8 = 0x04;
pub const MAIR_NORMAL_NC: u8 = 0x44;
pub const MAIR_DEVICE_NGNRNE: u8 = 0x00;

/// How a range of memory is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    Unmapped,
    Code,
    ReadOnly,
    ReadWrite,
    Device,
    /// Device-nGnRnE: a write completes only when the endpoint answered. With
    /// early write acknowledgement (the "E" of nGnRE) an interconnect buffer
    /// may acknowledge a write to the PL and a SLVERR/DECERR from the IP
    /// never reaches the CPU (ARM ARM B2.7.2); without it the error comes
    /// back as an SError, which the PL driver catches (`probe`).
    DeviceStrict,
}

impl Mapping {
    fn bits(self) -> u64 {
        let normal = (ATTR_NORMAL_WB << 2) | SH_INNER | AF;
        match self {
            Mapping::Unmapped => 0,
            Mapping::Code => normal | AP_RO | UXN,
            Mapping::ReadOnly => normal | AP_RO | PXN | UXN,
            Mapping::ReadWrite => normal | PXN | UXN,
            Mapping::Device => (ATTR_DEVICE_NGNRE << 2) | AF | PXN | UXN,
            Mapping::DeviceStrict => (ATTR_DEVICE_NGNRNE << 2) | AF | PXN | UXN,
        }
    }
}

/// The mapping the firmware wants for one 4 KiB page of the firmware region.
fn firmware_page(addr: u64) -> Mapping {
    if memory::null_guard().contains(&addr) || memory::stack_guard_owner(addr).is_some() {
        Mapping::Unmapped
    } else if memory::text().contains(&addr) {
        Mapping::Code
    } else if memory::rodata().contains(&addr) {
        Mapping::ReadOnly
    } else {
        Mapping::ReadWrite
    }
}

/// The mapping of any address outside the firmware region.
fn block_mapping(addr: u64) -> Mapping {
    if memory::pl_window().contains(&addr) {
        Mapping::DeviceStrict
    } else if memory::cosim_window().contains(&addr) || memory::peripherals().contains(&addr) {
        Mapping::Device
    } else if memory::ddr_low().contains(&addr) || memory::ddr_high().contains(&addr) {
        Mapping::ReadWrite
    } else {
        Mapping::Unmapped
    }
}

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

struct Tables {
    l1: Table,
    l2: [Table; L2_TABLES],
    l3: [Table; L3_TABLES],
}

static mut TABLES: Tables = Tables {
    l1: Table([0; ENTRIES]),
    l2: [const { Table([0; ENTRIES]) }; L2_TABLES],
    l3: [const { Table([0; ENTRIES]) }; L3_TABLES],
};

fn fill(t: &mut Tables) {
    let fw = memory::firmware_region();
    assert!(
        fw.start == 0 && fw.end == L3_TABLES as u64 * L2_BLOCK,
        "linker firmware region does not match the MMU's L3 table count"
    );
    for (i, l3) in t.l3.iter_mut().enumerate() {
        for (j, e) in l3.0.iter_mut().enumerate() {
            let addr = i as u64 * L2_BLOCK + j as u64 * PAGE;
            let m = firmware_page(addr);
            *e = if m == Mapping::Unmapped { 0 } else { addr | m.bits() | DESC_PAGE };
        }
    }
    let l3_base = t.l3.as_ptr() as u64;
    for (i, l2) in t.l2.iter_mut().enumerate() {
        for (j, e) in l2.0.iter_mut().enumerate() {
            let addr = i as u64 * L1_BLOCK + j as u64 * L2_BLOCK;
            *e = if fw.contains(&addr) {
                (l3_base + (addr / L2_BLOCK) * PAGE) | DESC_TABLE
            } else {
                match block_mapping(addr) {
                    Mapping::Unmapped => 0,
                    m => addr | m.bits() | DESC_BLOCK,
                }
            };
        }
    }
    let l2_base = t.l2.as_ptr() as u64;
    for (i, e) in t.l1.0.iter_mut().enumerate() {
        let addr = i as u64 * L1_BLOCK;
        *e = if i < L2_TABLES {
            (l2_base + i as u64 * PAGE) | DESC_TABLE
        } else {
            match block_mapping(addr) {
                Mapping::Unmapped => 0,
                m => addr | m.bits() | DESC_BLOCK,
            }
        };
    }
}

/// Build the tables and turn on the MMU and both caches.
///
/// # Safety
/// Call once, on core 0, with the MMU off, before any code depends on
/// memory attributes.
pub unsafe fn enable_identity_map() {
    // SAFETY: single caller at boot (see above); nothing else references
    // TABLES until the MMU walks them.
    let t = unsafe { &mut *core::ptr::addr_of_mut!(TABLES) };
    fill(t);
    MAIR_EL1.set(
        (MAIR_NORMAL_WB as u64) << (8 * ATTR_NORMAL_WB)
            | (MAIR_DEVICE_NGNRE as u64) << (8 * ATTR_DEVICE_NGNRE)
            | (MAIR_NORMAL_NC as u64) << (8 * ATTR_NORMAL_NC)
            | (MAIR_DEVICE_NGNRNE as u64) << (8 * ATTR_DEVICE_NGNRNE),
    );
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(25)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD0::EnableTTBR0Walks
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS::Bits_40,
    );
    TTBR0_EL1.set_baddr(t.l1.0.as_ptr() as u64);
    barrier::dsb(barrier::ISHST);
    // SAFETY: invalidating all EL1 TLB entries is always permitted here.
    unsafe { core::arch::asm!("tlbi vmalle1", "dsb ish", "isb") };
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}

/// SCTLR_EL1 as it is now (for `diag`).
pub fn sctlr() -> u64 {
    SCTLR_EL1.get()
}

/// Whether the MMU and data cache are on.
pub fn is_enabled() -> bool {
    SCTLR_EL1.is_set(SCTLR_EL1::M) && SCTLR_EL1.is_set(SCTLR_EL1::C)
}

/// What the MMU says about one address (hardware `AT` walk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Translation {
    Fault,
    Mapped { pa: u64, mair_attr: u8 },
}

/// Ask the MMU how `va` translates for a read, or for a write.
pub fn translate(va: u64, write: bool) -> Translation {
    // SAFETY: `at` only performs a table walk and writes PAR_EL1.
    unsafe {
        if write {
            core::arch::asm!("at s1e1w, {0}", "isb", in(reg) va);
        } else {
            core::arch::asm!("at s1e1r, {0}", "isb", in(reg) va);
        }
    }
    let par = PAR_EL1.get();
    if par & 1 != 0 {
        Translation::Fault
    } else {
        Translation::Mapped {
            pa: (par & 0x0000_ffff_ffff_f000) | (va & 0xfff),
            mair_attr: (par >> 56) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::cpu;
    use crate::bsp::zcu102::{memory::CoreStacks, UART0_BASE};

    fn attr(va: u64, write: bool) -> Option<u8> {
        match translate(va, write) {
            Translation::Fault => None,
            Translation::Mapped { pa, mair_attr } => {
                assert_eq!(pa, va, "identity map broken at {va:#x}");
                Some(mair_attr)
            }
        }
    }

    #[test_case]
    fn mmu_and_caches_are_on() {
        assert!(is_enabled());
    }

    #[test_case]
    fn ddr_is_normal_write_back() {
        for va in [memory::arena().start, memory::arena().end - 8, memory::ddr_high().start, memory::ddr_high().end - 8] {
            assert_eq!(attr(va, true), Some(MAIR_NORMAL_WB), "at {va:#x}");
        }
    }

    #[test_case]
    fn devices_are_device_ngnre() {
        let windows = [UART0_BASE as u64, memory::cosim_window().start, memory::cosim_window().end - 4];
        for va in windows {
            assert_eq!(attr(va, true), Some(MAIR_DEVICE_NGNRE), "at {va:#x}");
        }
    }

    #[test_case]
    fn the_pl_window_has_no_early_write_acknowledgement() {
        for va in [memory::pl_window().start, memory::pl_window().end - 4] {
            assert_eq!(attr(va, true), Some(MAIR_DEVICE_NGNRNE), "at {va:#x}");
        }
    }

    #[test_case]
    fn null_guard_and_stack_guards_are_holes() {
        assert_eq!(attr(0, false), None);
        assert_eq!(attr(memory::null_guard().end - 8, false), None);
        for core in 0..cpu::NUM_CORES {
            let s = CoreStacks::of(core);
            for g in [s.main_guard(), s.exception_guard()] {
                assert_eq!(attr(g.start, false), None, "guard at {:#x}", g.start);
                assert_eq!(attr(g.end - 8, false), None, "guard end at {:#x}", g.end);
            }
            assert_eq!(attr(s.main_stack().start, true), Some(MAIR_NORMAL_WB));
            assert_eq!(attr(s.exception_stack().end - 8, true), Some(MAIR_NORMAL_WB));
        }
    }

    #[test_case]
    fn code_and_constants_are_read_only() {
        let text = memory::text().start;
        let ro = memory::rodata().start;
        assert_eq!(attr(text, false), Some(MAIR_NORMAL_WB));
        assert_eq!(attr(text, true), None, ".text is writable");
        assert_eq!(attr(ro, false), Some(MAIR_NORMAL_WB));
        assert_eq!(attr(ro, true), None, ".rodata is writable");
        assert_eq!(attr(memory::bss().start, true), Some(MAIR_NORMAL_WB));
    }
}
