//! A loader that skipped Xilinx's boot.S (JTAG, another bootloader) can
//! hand over at EL3 with CNTFRQ_EL0 = 0, and every deadline would expire at
//! once. This test entry zeroes CNTFRQ_EL0 at EL3 before the firmware's
//! boot code runs (boot.s calls the weak `__xlic_el3_entry_hook`, defined
//! here); the firmware must program it from the system counter
//! (IOU_SCNTRS.BASE_FREQUENCY_ID, or the ZCU102 timestamp clock when that
//! register reads 0, as it does under QEMU) and its timer must work.
//! Entered at EL2 or EL1 the hook never runs (CNTFRQ_EL0 is writable at EL3
//! only): the test checks that boot.s then left the register alone.
#![no_std]
#![no_main]

use xlic_firmware::arch::aarch64::{probe, time};
use xlic_firmware::{entry_el, println, test_support};

core::arch::global_asm!(
    ".global __xlic_el3_entry_hook",
    "__xlic_el3_entry_hook:",
    "    msr     cntfrq_el0, xzr",
    "    isb",
    "    ret",
);

/// IOU_SCNTRS.BASE_FREQUENCY_ID_REGISTER (UG1087) and the ZCU102 value boot.s
/// falls back to.
const SCNTRS_BASE_FREQUENCY_ID: u64 = 0xff26_0020;
const ZCU102_TIMESTAMP_HZ: u64 = 99_999_001;

#[no_mangle]
fn kernel_main() -> ! {
    println!("test boot_cntfrq_zero: entered at EL{}", entry_el());
    let f = time::frequency();
    if entry_el() == 3 {
        let programmed = time::programmed_at_boot();
        assert_eq!(programmed.map(u64::from), Some(f), "boot.s did not record programming CNTFRQ (now {f} Hz)");
        let base = probe::read_u32(SCNTRS_BASE_FREQUENCY_ID).map(u64::from).unwrap_or(0);
        let want = if base != 0 { base } else { ZCU102_TIMESTAMP_HZ };
        assert_eq!(f, want, "CNTFRQ_EL0 {f} Hz; the system counter says {base} Hz");
        println!("  CNTFRQ_EL0 was 0 at EL3; the firmware programmed {f} Hz (IOU_SCNTRS base frequency register: {base})");
    } else {
        assert_eq!(time::programmed_at_boot(), None);
        assert!(f > 0);
        println!("  entered below EL3: the hook did not run and boot.s left CNTFRQ_EL0 ({f} Hz) alone");
    }
    // The timer works: a deadline neither expires at once nor never.
    let t0 = time::ticks();
    let d = time::Deadline::after(core::time::Duration::from_millis(2));
    assert!(!d.expired(), "a 2 ms deadline expired at once");
    while !d.expired() {
        assert!(time::ticks().wrapping_sub(t0) < f, "a 2 ms deadline took more than a second of counter ticks");
    }
    println!("1 passed, 0 failed");
    test_support::exit_success()
}
