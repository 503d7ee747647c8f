//! An SError (an external abort on a write, reported asynchronously by the
//! A53) must be seen: inside a write guard it becomes an error the caller
//! gets back, outside it is a fatal report. QEMU's ZCU102 never raises a
//! physical SError, so this test makes a virtual one: entered at EL2, it
//! installs an EL2 service (boot.s calls the weak `__xlic_el2_entry_hook`,
//! defined here) that, on `hvc #0x5e` from EL1, sets HCR_EL2.AMO and VSE;
//! the virtual SError is then taken at EL1 exactly as a physical one would
//! be, and only if SError is unmasked there (boot.s's `msr daifclr, #4`).
//! Entered at EL3 or EL1 there is no EL2 to ask: the test says so and passes.
#![no_std]
#![no_main]

use xlic_firmware::arch::aarch64::exception::expect_fault;
use xlic_firmware::arch::aarch64::probe;
use xlic_firmware::{entry_el, println, test_support};

core::arch::global_asm!(
    ".section .text.el2_service, \"ax\"",
    ".balign 0x800",
    "el2_vectors:",
    // Current-EL entries (0x000..0x3ff): not expected; stop.
    ".rept 8",
    ".balign 0x80",
    "    b       .",
    ".endr",
    // Lower EL, AArch64, synchronous (0x400): HVC #0x5e -> raise a virtual SError.
    ".balign 0x80",
    "    mrs     x9, esr_el2",
    "    lsr     x10, x9, #26",
    "    cmp     x10, #0x16",         // EC: HVC from AArch64
    "    b.ne    .",
    "    and     x9, x9, #0xffff",
    "    cmp     x9, #0x5e",
    "    b.ne    .",
    "    mrs     x9, hcr_el2",
    "    orr     x9, x9, #(1 << 5)",  // AMO: SErrors go to EL2, virtual ones to EL1
    "    orr     x9, x9, #(1 << 8)",  // VSE: a virtual SError is pending
    "    msr     hcr_el2, x9",
    "    isb",
    "    eret",
    ".rept 7",
    ".balign 0x80",
    "    b       .",
    ".endr",
    ".text",
    ".global __xlic_el2_entry_hook",
    "__xlic_el2_entry_hook:",
    "    adr     x9, el2_vectors",
    "    msr     vbar_el2, x9",
    "    isb",
    "    ret",
);

fn raise_virtual_serror() {
    // SAFETY: the EL2 service above only sets HCR_EL2.AMO/VSE and returns.
    unsafe { core::arch::asm!("hvc #0x5e", out("x9") _, out("x10") _) };
}

fn check(report: &str) -> bool {
    report.contains("SError, current EL with SP_EL0") && report.contains("an asynchronous external abort")
}

#[no_mangle]
fn kernel_main() -> ! {
    println!("test exception_serror: entered at EL{}", entry_el());
    if entry_el() != 2 {
        println!("  no EL2 to raise a virtual SError from; the unmask itself is checked by the unit tests");
        println!("1 passed, 0 failed");
        test_support::exit_success()
    }
    // Inside a guard: an error comes back, and the system runs on.
    match probe::serror_guarded(raise_virtual_serror) {
        Err(f) if f.asynchronous && f.is_external_abort() => println!("  guarded: SError returned as an error ({f})"),
        other => {
            println!("  guarded SError not reported: {other:?}");
            test_support::exit_failure()
        }
    }
    // Outside a guard: the fatal report (the expectation ends the test).
    expect_fault(check);
    raise_virtual_serror();
    // The SError is taken at the first instruction boundary after the eret.
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("isb") };
    println!("an unguarded SError went unseen");
    test_support::exit_failure()
}
