//! Core identity and waiting.
use aarch64_cpu::registers::{Readable, CurrentEL, MPIDR_EL1};

/// Cores of the APU cluster.
pub const NUM_CORES: usize = 4;

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
