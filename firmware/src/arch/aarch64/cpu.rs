//! Core identity, parking of secondary cores, and waiting.
use aarch64_cpu::registers::{Readable, CurrentEL, MPIDR_EL1};
use core::sync::atomic::{AtomicU64, Ordering};

/// Cores of the APU cluster.
pub const NUM_CORES: usize = 4;

/// Written by each secondary core in `boot.s` when it parks:
/// `0x100 | entry EL`. In `.data` so that core 0 zeroing `.bss` cannot race
/// with the secondaries checking in.
#[no_mangle]
#[link_section = ".data.parking"]
static PARKED_CORES: [AtomicU64; NUM_CORES] = [const { AtomicU64::new(0) }; NUM_CORES];

/// A parked core jumps to the address written here (at EL1, on its own
/// stacks, MMU off) once it is woken with `sev`.
#[no_mangle]
#[link_section = ".data.parking"]
static CORE_MAILBOX: [AtomicU64; NUM_CORES] = [const { AtomicU64::new(0) }; NUM_CORES];

/// Exception level the CPU runs at now.
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// Number of this core inside the cluster (MPIDR Aff0).
pub fn core_id() -> usize {
    (MPIDR_EL1.get() & 0xff) as usize
}

/// Raw MPIDR_EL1.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// Secondary core `n` as seen by `info`: `Some(entry EL)` when it checked in.
pub fn parked_core(n: usize) -> Option<u8> {
    let slot = &PARKED_CORES[n];
    // The secondaries write with the MMU (and so the D-cache) off: drop any
    // stale line before reading.
    // SAFETY: `dc civac` on a valid, mapped address only cleans and
    // invalidates a cache line; it changes no memory contents.
    unsafe { core::arch::asm!("dc civac, {0}", "dsb sy", in(reg) slot as *const _ as u64) };
    let v = slot.load(Ordering::Acquire);
    (v & 0x100 != 0).then_some((v & 0xf) as u8)
}

/// Stop this core for good (low power, interrupts ignored).
pub fn wait_forever() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Spin hint for polling loops.
#[inline(always)]
pub fn spin_hint() {
    core::hint::spin_loop();
}
