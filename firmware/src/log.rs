//! defmt logging over UART1. The host decodes the stream with `defmt-print`
//! (the QEMU runner does it and names the log file). Select the level at
//! build time with DEFMT_LOG (e.g. `cargo xtask run --log debug`).
use crate::bsp::zcu102;
use core::sync::atomic::{AtomicBool, Ordering};

#[defmt::global_logger]
struct Logger;

static TAKEN: AtomicBool = AtomicBool::new(false);
static READY: AtomicBool = AtomicBool::new(false);
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();

fn write_bytes(bytes: &[u8]) {
    if READY.load(Ordering::Relaxed) {
        let uart = zcu102::log_uart();
        bytes.iter().for_each(|&b| uart.write_byte(b));
    }
}

/// Start emitting frames (UART1 is initialised by then).
pub fn init() {
    READY.store(true, Ordering::Relaxed);
}

// SAFETY: `acquire`/`release` bracket every frame and the TAKEN flag makes
// re-entry (a log call from an exception inside a log call) a panic instead
// of a corrupted stream; interrupts are masked at EL1 in this firmware.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        if TAKEN.swap(true, Ordering::Acquire) {
            panic!("defmt logger re-entered");
        }
        // SAFETY: exclusive access guaranteed by TAKEN.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).start_frame(write_bytes) }
    }
    unsafe fn flush() {}
    unsafe fn release() {
        // SAFETY: exclusive access guaranteed by TAKEN.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).end_frame(write_bytes) }
        TAKEN.store(false, Ordering::Release);
    }
    unsafe fn write(bytes: &[u8]) {
        // SAFETY: exclusive access guaranteed by TAKEN.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).write(bytes, write_bytes) }
    }
}

defmt::timestamp!("{=u64:us}", crate::arch::aarch64::time::uptime().as_micros() as u64);
