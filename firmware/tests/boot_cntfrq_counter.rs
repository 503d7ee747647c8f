//! At EL3 boot.s does for the system counter what Xilinx's boot.S and
//! XTime_StartTimer do, whatever the loader left: a stopped counter gets a
//! frequency and its EN bit, and CNTFRQ_EL0 is always written from the
//! counter's BASE_FREQUENCY_ID when that is non-zero, replacing a stale
//! value. QEMU models no IOU_SCNTRS, so this test entry runs boot.s's
//! routine (`el3_counter_init_at`) at EL3 on two register frames in RAM
//! before the firmware's own call (boot.s calls the weak
//! `__xlic_el3_entry_hook`, defined here):
//! - a stopped counter with no frequency (COUNTER_CONTROL 0,
//!   BASE_FREQUENCY_ID 0): it must get the ZCU102 frequency and EN;
//! - then a running counter at 48 MHz, with CNTFRQ_EL0 stale at 12345 Hz:
//!   CNTFRQ_EL0 must become 48 MHz, and the running counter's registers
//!   must be left alone.
//! The firmware's own call then finds QEMU's (absent) counter reading 0 and
//! a CNTFRQ_EL0 that is set: it keeps it. Entered at EL2 or EL1 the hook
//! never runs and the test says so.
#![no_std]
#![no_main]

use core::ptr::{addr_of, read_volatile};
use xlic_firmware::arch::aarch64::time;
use xlic_firmware::{entry_el, println, test_support};

/// A counter register frame: COUNTER_CONTROL at +0, BASE_FREQUENCY_ID at
/// +0x20 (UG1087 IOU_SCNTRS).
#[repr(C, align(64))]
struct Frame([u32; 16]);

// In .data, not .bss: core 0 zeroes .bss after the EL3 code wrote them.
#[no_mangle]
#[link_section = ".data.test_counter_frames"]
static mut STOPPED_COUNTER: Frame = Frame([0; 16]);
#[no_mangle]
#[link_section = ".data.test_counter_frames"]
static mut RUNNING_COUNTER: Frame = Frame({
    let mut f = [0; 16];
    f[0] = 1;
    f[8] = 48_000_000;
    f
});

core::arch::global_asm!(
    ".global __xlic_el3_entry_hook",
    "__xlic_el3_entry_hook:",
    "    mov     x9, x30",
    "    ldr     x1, =STOPPED_COUNTER",
    "    bl      el3_counter_init_at",
    "    mov     x0, #12345",
    "    msr     cntfrq_el0, x0",
    "    ldr     x1, =RUNNING_COUNTER",
    "    bl      el3_counter_init_at",
    "    mov     x30, x9",
    "    ret",
    ".ltorg",
);

const ZCU102_TIMESTAMP_HZ: u32 = 99_999_001;

fn frame(f: &'static Frame) -> (u32, u32) {
    // SAFETY: reads of the test's own statics, written at EL3 with the MMU
    // off before Rust ran (the caches were off: memory holds the values).
    unsafe { (read_volatile(&f.0[0]), read_volatile(&f.0[8])) }
}

#[no_mangle]
fn kernel_main() -> ! {
    println!("test boot_cntfrq_counter: entered at EL{}", entry_el());
    // SAFETY: nothing writes the frames any more.
    let (stopped, running) = unsafe { (frame(&*addr_of!(STOPPED_COUNTER)), frame(&*addr_of!(RUNNING_COUNTER))) };
    if entry_el() == 3 {
        assert_eq!(stopped, (1, ZCU102_TIMESTAMP_HZ), "a stopped counter must be started with a frequency (EN, BASE_FREQUENCY_ID)");
        assert_eq!(running, (1, 48_000_000), "a running counter's registers were changed");
        assert_eq!(time::frequency(), 48_000_000, "CNTFRQ_EL0 stale, not rewritten from BASE_FREQUENCY_ID");
        assert_eq!(time::programmed_at_boot(), Some(48_000_000));
        println!("  stopped counter started at {} Hz; stale CNTFRQ_EL0 12345 Hz replaced by the running counter's 48 MHz", stopped.1);
    } else {
        assert_eq!((stopped, running), ((0, 0), (1, 48_000_000)), "the EL3 hook ran below EL3");
        println!("  entered below EL3: CNTFRQ_EL0 is the loader's ({} Hz)", time::frequency());
    }
    println!("1 passed, 0 failed");
    test_support::exit_success()
}
