//! ARM semihosting: how a test under QEMU hands its result to the host.
//!
//! On the board (no debugger attached) `hlt #0xf000` is an undefined
//! instruction. `probe()` issues one harmless call at boot; if it traps, the
//! exception handler recognises the address of the `hlt`, marks semihosting
//! unavailable and resumes after it. So the same image runs on QEMU and on
//! the board, and `exit` degrades to "halt" where there is no host.
//!
//! With a halting debugger attached (xsdb over JTAG), `hlt` does not trap:
//! it stops the core in debug state and the board seems hung at boot. The
//! boot option `SKIP_SEMIHOSTING_PROBE` (`boot_options`, set by
//! boot/jtag.tcl or the `no-semihosting-probe` build feature) skips the
//! probe; semihosting is then unavailable.

use core::sync::atomic::{AtomicU8, Ordering};

const SYS_EXIT_EXTENDED: u64 = 0x20;
const SYS_ERRNO: u64 = 0x13;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

const UNKNOWN: u8 = 0;
const AVAILABLE: u8 = 1;
const UNAVAILABLE: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

extern "C" {
    /// Address of the `hlt` instruction in `semihost_call` (see below).
    static __semihost_hlt: u8;
}

core::arch::global_asm!(
    ".section .text.semihost, \"ax\"",
    ".global semihost_call",
    "semihost_call:",
    ".global __semihost_hlt",
    "__semihost_hlt:",
    "    hlt #0xf000",
    "    ret",
);

extern "C" {
    fn semihost_call(op: u64, arg: u64) -> u64;
}

/// Address of the semihosting `hlt`, for the exception handler.
pub fn hlt_address() -> u64 {
    // SAFETY: only the address of the linker-visible label is taken.
    unsafe { &__semihost_hlt as *const u8 as u64 }
}

/// Called by the exception handler when the `hlt` trapped.
pub fn mark_unavailable() {
    STATE.store(UNAVAILABLE, Ordering::Relaxed);
}

/// Issue one side-effect-free call to learn whether a host is listening
/// (unless the boot options say a debugger may be attached).
pub fn probe() {
    if super::boot_options::get() & super::boot_options::SKIP_SEMIHOSTING_PROBE != 0 {
        mark_unavailable();
        return;
    }
    // SAFETY: SYS_ERRNO takes no argument block; if no host answers, the
    // exception handler resumes after the `hlt` with x0 = u64::MAX.
    let _ = unsafe { semihost_call(SYS_ERRNO, 0) };
    if STATE.load(Ordering::Relaxed) == UNKNOWN {
        STATE.store(AVAILABLE, Ordering::Relaxed);
    }
}

/// Whether a semihosting host (QEMU with `-semihosting-config`) answered.
pub fn is_available() -> bool {
    STATE.load(Ordering::Relaxed) == AVAILABLE
}

/// Leave QEMU with `code` as its exit status. Returns only when there is no
/// semihosting host (on the board).
pub fn exit(code: u32) {
    if !is_available() {
        return;
    }
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: the argument block lives on this stack for the duration of the
    // call; QEMU reads it and terminates.
    unsafe { semihost_call(SYS_EXIT_EXTENDED, block.as_ptr() as u64) };
}

const SYS_GET_CMDLINE: u64 = 0x15;

/// The command line the host gives the program (QEMU: the
/// `-semihosting-config arg=` words), or None without a host.
pub fn command_line(buf: &mut [u8]) -> Option<&str> {
    if !is_available() {
        return None;
    }
    let mut block = [buf.as_mut_ptr() as u64, buf.len() as u64];
    // SAFETY: the block names a writable buffer of the stated length; the
    // host writes at most that many bytes and stores the length in block[1].
    let r = unsafe { semihost_call(SYS_GET_CMDLINE, block.as_mut_ptr() as u64) };
    if r != 0 {
        return None;
    }
    let n = (block[1] as usize).min(buf.len());
    core::str::from_utf8(&buf[..n]).ok()
}
