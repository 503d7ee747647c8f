//! Cortex-A53 support: boot, exceptions, MMU, generic timer, semihosting.
pub mod boot_options;
pub mod cache;
pub mod cpu;
pub mod exception;
pub mod mmu;
pub mod neon;
pub mod probe;
pub mod psci;
pub mod semihosting;
pub mod time;

core::arch::global_asm!(include_str!("boot.s"), BOOT_OPTIONS = const boot_options::DEFAULT);
core::arch::global_asm!(include_str!("vectors.s"));
