//! Accesses that may fail, turned into errors instead of fatal exceptions.
//!
//! On a misconfigured board some accesses are expected to fail: a read of
//! the PL window with no IP behind it (or an interconnect that answers
//! DECERR/SLVERR) is a synchronous external abort on the A53; a system
//! register a lower exception level may not read traps as undefined. A
//! probe performs such an access at a known instruction (a "probe site");
//! when the exception handler sees a synchronous exception at a probe site
//! it records the syndrome and resumes after the instruction, and the probe
//! returns `Err`. The semihosting probe uses the same trick.
//!
//! Writes are different: the Cortex-A53 reports external aborts on stores
//! asynchronously, as an SError (Cortex-A53 TRM, "L1 memory system: external
//! aborts"). [`serror_guarded`] runs a closure with SError recording on and
//! ends with DSB SY + ISB: the DSB completes only when the writes' responses
//! are back, so an SError they caused is pending by then and taken at the
//! ISB (SError is unmasked at boot, boot.s), inside the guard. Outside a
//! guard an SError stays fatal: it is reported and the system halts.
//!
//! QEMU's ZCU102 ignores failed bus transactions (unmapped addresses read
//! as zero), so under QEMU these paths run only with faults QEMU does make
//! (translation faults in the tests) and the PL probe also checks that the
//! window holds what is written (`drivers::xlic_accel`).
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A failed probe: the exception's syndrome and, for aborts, the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub esr: u64,
    pub far: u64,
    /// Reported as SError (a write's external abort) rather than at the access.
    pub asynchronous: bool,
}

impl Fault {
    /// Exception class (ESR_ELx.EC).
    pub fn class(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }

    /// A bus error from the device or interconnect (DECERR/SLVERR), as
    /// opposed to an MMU fault or a trapped instruction.
    pub fn is_external_abort(&self) -> bool {
        self.asynchronous || (matches!(self.class(), 0x24 | 0x25) && self.esr & 0x3f == 0b010000)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.asynchronous {
            return write!(f, "SError (asynchronous external abort on a write), ESR 0x{:08x}", self.esr);
        }
        match self.class() {
            0x24 | 0x25 => {
                let (what, level) = super::exception::fault_status(self.esr & 0x3f);
                write!(f, "{what}")?;
                if let Some(l) = level {
                    write!(f, " (level {l})")?;
                }
                write!(f, " on a {} at 0x{:x}", if self.esr & (1 << 6) != 0 { "write" } else { "read" }, self.far)
            }
            0x00 | 0x18 => write!(f, "the instruction trapped ({}), ESR 0x{:08x}", super::exception::class_name(self.class()), self.esr),
            c => write!(f, "{} (ESR 0x{:08x})", super::exception::class_name(c), self.esr),
        }
    }
}

core::arch::global_asm!(
    ".section .text.probe, \"ax\"",
    // read32(addr: u64, out: *mut u32) -> u64: 0, or the ESR of the fault.
    ".global xlic_probe_read32",
    "xlic_probe_read32:",
    "    mov     x2, x0",
    "    mov     x0, #0",
    ".global __probe_site_read32",
    "__probe_site_read32:",
    "    ldr     w3, [x2]",
    "    cbnz    x0, 1f",
    "    str     w3, [x1]",
    "1:  ret",
    // write32(addr: u64, value: u32) -> u64: 0, or the ESR of a synchronous fault.
    ".global xlic_probe_write32",
    "xlic_probe_write32:",
    "    mov     x2, x0",
    "    mov     x0, #0",
    ".global __probe_site_write32",
    "__probe_site_write32:",
    "    str     w1, [x2]",
    "    ret",
    // CPUECTLR_EL1 (S3_1_C15_C2_1) and CPUACTLR_EL1 (S3_1_C15_C2_0) of the
    // Cortex-A53 (TRM 4.3.65, 4.3.64): (out: *mut u64) -> u64 status.
    ".global xlic_probe_cpuectlr",
    "xlic_probe_cpuectlr:",
    "    mov     x1, x0",
    "    mov     x0, #0",
    ".global __probe_site_cpuectlr",
    "__probe_site_cpuectlr:",
    "    mrs     x2, s3_1_c15_c2_1",
    "    cbnz    x0, 1f",
    "    str     x2, [x1]",
    "1:  ret",
    ".global xlic_probe_cpuactlr",
    "xlic_probe_cpuactlr:",
    "    mov     x1, x0",
    "    mov     x0, #0",
    ".global __probe_site_cpuactlr",
    "__probe_site_cpuactlr:",
    "    mrs     x2, s3_1_c15_c2_0",
    "    cbnz    x0, 1f",
    "    str     x2, [x1]",
    "1:  ret",
);

extern "C" {
    fn xlic_probe_read32(addr: u64, out: *mut u32) -> u64;
    fn xlic_probe_write32(addr: u64, value: u32) -> u64;
    fn xlic_probe_cpuectlr(out: *mut u64) -> u64;
    fn xlic_probe_cpuactlr(out: *mut u64) -> u64;
    static __probe_site_read32: u8;
    static __probe_site_write32: u8;
    static __probe_site_cpuectlr: u8;
    static __probe_site_cpuactlr: u8;
}

/// FAR of the last fault at a probe site (the handler stores it).
static LAST_FAR: AtomicU64 = AtomicU64::new(0);

/// Called by the exception handler for a synchronous exception: whether
/// `elr` is a probe site (then the fault's address is recorded).
pub(super) fn fault_at_site(elr: u64, far: u64) -> bool {
    let sites = [
        core::ptr::addr_of!(__probe_site_read32) as u64,
        core::ptr::addr_of!(__probe_site_write32) as u64,
        core::ptr::addr_of!(__probe_site_cpuectlr) as u64,
        core::ptr::addr_of!(__probe_site_cpuactlr) as u64,
    ];
    let hit = sites.contains(&elr);
    if hit {
        LAST_FAR.store(far, Ordering::Relaxed);
    }
    hit
}

fn result(status: u64) -> Result<(), Fault> {
    match status {
        0 => Ok(()),
        esr => Err(Fault { esr, far: LAST_FAR.load(Ordering::Relaxed), asynchronous: false }),
    }
}

/// Read a 32-bit device register; a bus error or MMU fault is returned.
pub fn read_u32(addr: u64) -> Result<u32, Fault> {
    let mut v = 0u32;
    // SAFETY: the probe routine reads `addr` once; a fault there is caught
    // by the exception handler (probe site) and returned as a status.
    result(unsafe { xlic_probe_read32(addr, &mut v) }).map(|_| v)
}

/// Write a 32-bit device register; a synchronous fault is returned (an
/// asynchronous one only inside [`serror_guarded`]).
///
/// # Safety
/// The write must be harmless to the device at `addr`.
pub unsafe fn write_u32(addr: u64, value: u32) -> Result<(), Fault> {
    // SAFETY: as for `read_u32`; the caller vouches for the write's effect.
    result(unsafe { xlic_probe_write32(addr, value) })
}

/// CPUECTLR_EL1 (SMPEN is bit 6), or the trap if EL1 may not read it.
pub fn cpuectlr() -> Result<u64, Fault> {
    let mut v = 0u64;
    // SAFETY: an `mrs` at a probe site; a trap is caught and returned.
    result(unsafe { xlic_probe_cpuectlr(&mut v) }).map(|_| v)
}

/// CPUACTLR_EL1 (the A53 erratum workaround bits), or the trap.
pub fn cpuactlr() -> Result<u64, Fault> {
    let mut v = 0u64;
    // SAFETY: as for `cpuectlr`.
    result(unsafe { xlic_probe_cpuactlr(&mut v) }).map(|_| v)
}

/// Per core: an SError is asynchronous and taken by the core whose write
/// caused it, so each core has its own guard and its own record (a guard
/// on one core must neither catch nor hide another core's SError).
static SERROR_GUARD: [AtomicBool; super::cpu::NUM_CORES] = [const { AtomicBool::new(false) }; super::cpu::NUM_CORES];
/// A function the handler calls after recording a guarded SError (tests:
/// handler code that uses FP/SIMD registers, to show the vectors keep the
/// interrupted code's).
static GUARDED_SERROR_OBSERVER: AtomicUsize = AtomicUsize::new(0);
/// ESR of an SError taken inside the guard, with bit 63 set as "seen".
static SERROR_SEEN: [AtomicU64; super::cpu::NUM_CORES] = [const { AtomicU64::new(0) }; super::cpu::NUM_CORES];
const SEEN: u64 = 1 << 63;

/// Called by the exception handler for an SError: inside a guard it is
/// recorded (and execution resumes), outside it is fatal.
pub(super) fn serror_in_guard(esr: u64) -> bool {
    let me = super::cpu::core_id();
    if SERROR_GUARD[me].load(Ordering::SeqCst) {
        SERROR_SEEN[me].store(esr | SEEN, Ordering::SeqCst);
        let f = GUARDED_SERROR_OBSERVER.load(Ordering::SeqCst);
        if f != 0 {
            // SAFETY: stored from an `extern "C" fn()` by `observe_guarded_serror`.
            unsafe { core::mem::transmute::<usize, extern "C" fn()>(f)() };
        }
        true
    } else {
        false
    }
}

/// Have `f` run inside the exception handler after each guarded SError is
/// recorded (None: nothing). For tests of the handler path.
pub fn observe_guarded_serror(f: Option<extern "C" fn()>) {
    GUARDED_SERROR_OBSERVER.store(f.map_or(0, |f| f as usize), Ordering::SeqCst);
}

/// Run `f` (device writes) and report an SError its writes caused.
pub fn serror_guarded<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
    let me = super::cpu::core_id();
    SERROR_SEEN[me].store(0, Ordering::SeqCst);
    SERROR_GUARD[me].store(true, Ordering::SeqCst);
    let r = f();
    // SAFETY: barriers only. DSB SY waits for every outstanding write's
    // response; ISB then gives a pending SError its instruction boundary.
    unsafe { core::arch::asm!("dsb sy", "isb") };
    SERROR_GUARD[me].store(false, Ordering::SeqCst);
    match SERROR_SEEN[me].swap(0, Ordering::SeqCst) {
        0 => Ok(r),
        seen => Err(Fault { esr: seen & !SEEN, far: 0, asynchronous: true }),
    }
}

/// Whether SError is unmasked (PSTATE.A clear) on this core.
pub fn serror_unmasked() -> bool {
    let daif: u64;
    // SAFETY: reading DAIF has no side effects.
    unsafe { core::arch::asm!("mrs {0}, daif", out(reg) daif) };
    daif & (1 << 8) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsp::zcu102::memory;
    use core::fmt::Write;

    fn text(f: Fault) -> heapless::String<160> {
        let mut s = heapless::String::new();
        write!(s, "{f}").unwrap();
        s
    }

    /// A real data abort (the unmapped null guard) at the read site comes
    /// back as an error through the vectors, and execution goes on.
    #[test_case]
    fn a_faulting_read_is_an_error_not_a_crash() {
        let addr = memory::null_guard().start + 0x40;
        let e = read_u32(addr).unwrap_err();
        assert_eq!(e.class(), 0x25, "{e}");
        assert_eq!(e.far, addr);
        assert!(!e.is_external_abort());
        let t = text(e);
        assert!(t.starts_with("translation fault (level 3) on a read at 0x40"), "{t}");
        // And a good read right after works.
        let uart_cr = read_u32(crate::bsp::zcu102::UART0_BASE as u64).unwrap();
        assert_ne!(uart_cr & (1 << 4), 0, "console UART TX enabled: CR 0x{uart_cr:x}");
    }

    #[test_case]
    fn a_faulting_write_is_an_error_not_a_crash() {
        let addr = memory::null_guard().start + 0x80;
        // SAFETY: the address is unmapped: the write cannot take effect.
        let e = unsafe { write_u32(addr, 0xdead) }.unwrap_err();
        assert_eq!(e.class(), 0x25);
        assert_ne!(e.esr & (1 << 6), 0, "WnR: a write");
    }

    /// How a bus error is told apart: DFSC 0b010000 on a data abort, or any
    /// SError. (QEMU's ZCU102 never raises one; the ESR is built here.)
    #[test_case]
    fn external_aborts_are_recognised_by_their_syndrome() {
        let sea = Fault { esr: (0x25 << 26) | (1 << 25) | 0b010000, far: 0xa000_0000, asynchronous: false };
        assert!(sea.is_external_abort());
        assert_eq!(text(sea).as_str(), "synchronous external abort on a read at 0xa0000000");
        let serror = Fault { esr: 0x2f << 26, far: 0, asynchronous: true };
        assert!(serror.is_external_abort());
        let undef = Fault { esr: 1 << 25, far: 0, asynchronous: false };
        assert!(!undef.is_external_abort());
    }

    #[test_case]
    fn serror_is_unmasked_after_boot() {
        assert!(serror_unmasked(), "PSTATE.A is set: an SError from a failed write would stay pending, unseen");
    }

    #[test_case]
    fn a_guard_without_serror_returns_the_value() {
        assert_eq!(serror_guarded(|| 7), Ok(7));
    }

    #[test_case]
    fn the_auxiliary_control_registers_can_be_probed() {
        // Whatever the platform answers (a value, or a trap), the probe
        // returns instead of taking the system down.
        let _ = cpuectlr();
        let _ = cpuactlr();
    }
}
