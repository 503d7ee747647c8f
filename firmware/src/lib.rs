//! X-LIC firmware for the ZCU102 (ZynqMP, 4x Cortex-A53).
//!
//! Layering follows rust-raspberrypi-OS-tutorials: `arch` knows the CPU,
//! `bsp` knows the board (addresses come from the linker script), `drivers`
//! know one peripheral each, and everything above uses small traits.
//! `unsafe` lives only in the modules that touch hardware, each use with a
//! `// SAFETY:` line.
//!
//! The library is also the unit-test binary: `cargo test` builds it with the
//! custom test framework below and runs it in QEMU, where the result leaves
//! through the semihosting exit code.

#![no_std]
#![cfg_attr(test, no_main)]
#![feature(custom_test_frameworks)]
#![test_runner(crate::test_support::run_tests)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

pub mod arch;
#[cfg(all(test, feature = "coder-compare"))]
mod coder_compare;
pub mod bsp;
pub mod console;
pub mod cpu_engine;
pub mod diag;
pub mod drivers;
pub mod image;
pub mod log;
pub mod pipeline;
pub mod png_cores;
pub mod print;
pub mod smp;
pub mod storage;
pub mod test_support;
pub mod xlc;

use core::sync::atomic::{AtomicU8, Ordering};

/// Exception level the boot core entered at (3, 2 or 1), recorded by
/// `_start_rust` before anything else runs.
static ENTRY_EL: AtomicU8 = AtomicU8::new(0);

/// Exception level the firmware was entered at, before it dropped to EL1.
pub fn entry_el() -> u8 {
    ENTRY_EL.load(Ordering::Relaxed)
}

extern "Rust" {
    /// The binary's (or test binary's) main function, called once the CPU,
    /// memory and UARTs are up.
    fn kernel_main() -> !;
}

/// First Rust code on core 0, called from `boot.s` at EL1 with .bss zeroed,
/// FP/SIMD on and the stacks set.
#[no_mangle]
pub extern "C" fn _start_rust(entry_el: u64, _mpidr: u64) -> ! {
    ENTRY_EL.store(entry_el as u8, Ordering::Relaxed);
    // SAFETY: runs once, on core 0, before anything uses memory attributes
    // or the UARTs.
    unsafe {
        arch::aarch64::mmu::enable_identity_map();
        bsp::zcu102::init_uarts();
    }
    arch::aarch64::semihosting::probe();
    init_heap();
    log::init();
    for (core, r) in smp::start_secondaries().iter().enumerate() {
        if let Err(e) = r {
            defmt::warn!("smp: core {=usize} not started: {}", core, defmt::Display2Format(e));
        }
    }
    defmt::info!("smp: {=usize} cores online", smp::online());
    defmt::info!(
        "boot: entered at EL{=u8}, running at EL{=u8}",
        entry_el as u8,
        arch::aarch64::cpu::current_el()
    );
    defmt::info!(
        "boot: MMU {=bool}, semihosting {=bool}, timer {=u64} Hz",
        arch::aarch64::mmu::is_enabled(),
        arch::aarch64::semihosting::is_available(),
        arch::aarch64::time::frequency()
    );
    // SAFETY: `kernel_main` is defined exactly once by the binary being
    // linked (main.rs, a test binary, or the unit-test harness below).
    unsafe { kernel_main() }
}

/// The heap: a fixed arena region, for the few users of `alloc` (the PNG
/// encoder, jobs on other cores). Interrupts stay masked, so the lock is
/// only ever contended by other cores. It is the SMP spin lock, which
/// knows its holder: a core that faults inside an allocation (a heap
/// corrupted under it) leaves the others a panic that says so, not a
/// silent spin for ever.
struct Heap(smp::SpinLock<linked_list_allocator::Heap>);

// SAFETY: every allocation and release goes through linked_list_allocator's
// first-fit heap, one core at a time under the lock; what it hands out is
// a block of the layout asked for, not handed out again until released.
unsafe impl core::alloc::GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        if let Some(p) = core::ptr::NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (the
            // GlobalAlloc contract).
            unsafe { self.0.lock().deallocate(p, layout) }
        }
    }
}

#[global_allocator]
static HEAP: Heap = Heap(smp::SpinLock::new(linked_list_allocator::Heap::empty()));

/// Bytes of the heap in use (the PNG encoder reports what it held).
pub fn heap_used() -> usize {
    HEAP.0.lock().used()
}

fn init_heap() {
    let r = bsp::zcu102::memory::ArenaRegion::Heap.range();
    // SAFETY: the region is reserved for the heap and handed over once.
    unsafe { HEAP.0.lock().init(r.start as *mut u8, (r.end - r.start) as usize) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch::aarch64::exception::report_panic(info)
}

#[cfg(test)]
mod unit_test_main {
    #[no_mangle]
    fn kernel_main() -> ! {
        crate::test_main();
        crate::test_support::exit_success()
    }
}

#[cfg(test)]
mod boot_tests {
    use crate::arch::aarch64::cpu;

    /// The runner boots the same test binary at EL3, EL2 and EL1 and says
    /// which through the semihosting command line (`expect-el=N`).
    #[test_case]
    fn entered_at_the_level_the_host_chose_and_runs_at_el1() {
        let mut buf = [0u8; 64];
        let args = crate::test_support::host_args(&mut buf).expect("no semihosting command line");
        let expected = args
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix("expect-el="))
            .expect("runner did not pass expect-el=N");
        assert_eq!(crate::entry_el(), expected.parse::<u8>().unwrap());
        assert_eq!(cpu::current_el(), 1);
    }

    #[test_case]
    fn fp_simd_is_usable() {
        let x = core::hint::black_box(1.5f64);
        assert_eq!(x * 2.0, 3.0);
    }

    #[test_case]
    fn bss_was_zeroed() {
        // Interior mutability keeps it out of .rodata: it lives in .bss.
        use core::sync::atomic::{AtomicU64, Ordering};
        static ZEROED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
        let addr = ZEROED.as_ptr() as u64;
        assert!(crate::bsp::zcu102::memory::bss().contains(&addr), "not in .bss: {addr:#x}");
        assert!(ZEROED.iter().all(|v| v.load(Ordering::Relaxed) == 0));
    }
}
