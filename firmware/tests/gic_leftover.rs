//! F4: GIC state a loader or an earlier run left behind must not reach
//! the cores. This test entry leaves, on every core before the firmware's
//! boot code runs (boot.s's weak EL3/EL2 entry hooks, defined here), what
//! a firmware reset in the middle of an interrupt handler leaves: SGI 1 at
//! the highest priority acknowledged and never ended (so the CPU
//! interface's running priority masks every other interrupt, the wake-up
//! SGI included), a shared interrupt (SPI 40, by core 0's hook: the
//! secondaries' run after core 0 set the distributor up) enabled and
//! pending, and the
//! distributor and CPU interface enabled. Without the clean-up the
//! secondaries would never wake for a job; with it every core's banked
//! state is clean, no shared interrupt is armed, and jobs run on all four.
//! Entered at EL1 there is no hook to run: the test checks the clean state.
#![no_std]
#![no_main]

use xlic_firmware::arch::aarch64::cpu;
use xlic_firmware::drivers::gic400::TIMER_PPI;
use xlic_firmware::smp::{self, NUM_CORES};
use xlic_firmware::{bsp::zcu102, entry_el, println, test_support};

core::arch::global_asm!(
    ".text",
    ".global __xlic_el3_entry_hook",
    "__xlic_el3_entry_hook:",
    ".global __xlic_el2_entry_hook",
    "__xlic_el2_entry_hook:",
    "    ldr     x0, =0xf9010000",        // GICD (UG1085)
    "    ldr     x1, =0xf9020000",        // GICC
    "    mov     w2, #1",
    "    str     w2, [x0]",               // GICD_CTLR: enabled
    "    str     wzr, [x0, #0x400]",      // GICD_IPRIORITYR0: SGIs 0-3 at priority 0
    "    mov     w2, #2",
    "    str     w2, [x0, #0x100]",       // GICD_ISENABLER0: SGI 1
    "    cbnz    x19, 3f",                // the shared state: core 0's hook (x19: core)
    "    mov     w2, #(1 << 8)",
    "    str     w2, [x0, #0x104]",       // GICD_ISENABLER1: SPI 40
    "    str     w2, [x0, #0x204]",       // GICD_ISPENDR1: SPI 40 pending
    "3:",
    "    ldr     w2, =0x02000001",
    "    str     w2, [x0, #0xf00]",       // GICD_SGIR: SGI 1 to this core
    "    mov     w2, #0xff",
    "    str     w2, [x1, #4]",           // GICC_PMR: everything through
    "    mov     w2, #1",
    "    str     w2, [x1]",               // GICC_CTLR: enabled
    "    dsb     sy",
    "    isb",
    "    mov     x3, #1000",
    "1:  ldr     w2, [x1, #0xc]",         // GICC_IAR: acknowledge SGI 1 ...
    "    and     w4, w2, #0x3ff",
    "    cmp     w4, #1",
    "    b.eq    2f",
    "    subs    x3, x3, #1",
    "    b.ne    1b",
    "2:  ret",                            // ... and never end it
    ".ltorg",
);

use xlic_firmware::test_support::check;

#[no_mangle]
fn kernel_main() -> ! {
    println!("test gic_leftover: entered at EL{}, with GIC state left behind by the entry hook", entry_el());
    check(smp::online() == NUM_CORES, "not every core checked in");
    let mut states = [(0, 0, 0, 0); NUM_CORES];
    let mut ran = [usize::MAX; NUM_CORES];
    let r = smp::scope(|s| {
        for (core, (st, r)) in states.iter_mut().zip(ran.iter_mut()).enumerate() {
            s.spawn(core, move || {
                *st = zcu102::gic().this_core_state();
                *r = cpu::core_id();
            });
        }
    });
    check(r.is_ok() && ran == [0, 1, 2, 3], "a job did not run on its core (a masked wake-up?)");
    for (core, &(enabled, pending, active, apr)) in states.iter().enumerate() {
        println!("  core {core}: enabled 0x{enabled:08x}, pending 0x{pending:08x}, active 0x{active:08x}, APR0 0x{apr:x}");
        check(enabled & !0xffff == 1 << TIMER_PPI, "a PPI other than the timer's is enabled");
        check(active == 0 && apr == 0, "an interrupt is still active");
        check(pending & 0x2 == 0, "SGI 1 is still pending");
    }
    check(zcu102::gic().shared_enabled_or_pending() == 0, "a shared interrupt is still enabled or pending");
    // And the cores keep answering, many times over.
    for _ in 0..50 {
        check(smp::scope(|s| (1..NUM_CORES).for_each(|c| s.spawn(c, || ()))).is_ok(), "a job failed");
    }
    println!("1 passed, 0 failed");
    test_support::exit_success()
}
