//! Exception handling: one readable report for every fatal exception, and
//! the recoverable cases: the semihosting probe on the board, a fault at a
//! probe site (`probe`), and an SError inside a write guard.
use super::{cpu, probe, psci, semihosting};
use crate::bsp::zcu102::{self, memory};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Register state saved by `vectors.s` (layout must match CTX_SIZE there).
#[repr(C)]
pub struct ExceptionContext {
    pub gpr: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    pub sp_el0: u64,
}

const _: () = assert!(core::mem::size_of::<ExceptionContext>() == 288);

/// Name of an exception class (ESR_ELx.EC).
pub fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "Unknown reason (undefined instruction)",
        0x01 => "Trapped WFI/WFE",
        0x07 => "SIMD/FP access trapped",
        0x0e => "Illegal execution state",
        0x15 => "SVC instruction",
        0x16 => "HVC instruction",
        0x17 => "SMC instruction",
        0x18 => "Trapped MSR/MRS/system instruction",
        0x20 => "Instruction Abort, lower EL",
        0x21 => "Instruction Abort, current EL",
        0x22 => "PC alignment fault",
        0x24 => "Data Abort, lower EL",
        0x25 => "Data Abort, current EL",
        0x26 => "SP alignment fault",
        0x2c => "Floating-point exception",
        0x2f => "SError interrupt",
        0x30 | 0x31 => "Breakpoint",
        0x32 | 0x33 => "Software step",
        0x34 | 0x35 => "Watchpoint",
        0x3c => "BRK instruction",
        _ => "Reserved or unrecognised class",
    }
}

/// Fault status code (ISS[5:0]) of an instruction or data abort, in words.
pub(crate) fn fault_status(fsc: u64) -> (&'static str, Option<u64>) {
    let level = Some(fsc & 3);
    match fsc >> 2 {
        0b0000 => ("address size fault", level),
        0b0001 => ("translation fault", level),
        0b0010 => ("access flag fault", level),
        0b0011 => ("permission fault", level),
        _ => match fsc {
            0b010000 => ("synchronous external abort", None),
            0b100001 => ("alignment fault", None),
            0b110000 => ("TLB conflict abort", None),
            _ => ("other fault", None),
        },
    }
}

fn kind_name(kind: u64) -> (&'static str, &'static str) {
    let origin = match kind / 4 {
        0 => "current EL with SP_EL0",
        1 => "current EL with SP_ELx",
        2 => "lower EL, AArch64",
        _ => "lower EL, AArch32",
    };
    let ty = match kind % 4 {
        0 => "synchronous",
        1 => "IRQ",
        2 => "FIQ",
        _ => "SError",
    };
    (ty, origin)
}

/// Write the report of one exception. Public so tests can check the text.
pub fn write_report(out: &mut impl Write, ctx: &ExceptionContext, kind: u64) -> fmt::Result {
    let ec = (ctx.esr >> 26) & 0x3f;
    let (ty, origin) = kind_name(kind);
    writeln!(out, "*** CPU EXCEPTION on core {} at EL{}: {}, {}", cpu::core_id(), cpu::current_el(), ty, origin)?;
    writeln!(out, "    class   0x{:02x} {}", ec, class_name(ec))?;
    let is_abort = matches!(ec, 0x20 | 0x21 | 0x24 | 0x25);
    if is_abort {
        let (what, level) = fault_status(ctx.esr & 0x3f);
        let access = if ec >= 0x24 {
            if ctx.esr & (1 << 6) != 0 { ", write" } else { ", read" }
        } else {
            ", instruction fetch"
        };
        match level {
            Some(l) => writeln!(out, "    detail  {what}, level {l}{access}")?,
            None => writeln!(out, "    detail  {what}{access}")?,
        }
    }
    writeln!(out, "    ESR     0x{:016x}", ctx.esr)?;
    writeln!(out, "    ELR     0x{:016x}", ctx.elr)?;
    writeln!(out, "    FAR     0x{:016x}", ctx.far)?;
    writeln!(out, "    SPSR    0x{:016x}", ctx.spsr)?;
    writeln!(out, "    SP_EL0  0x{:016x}", ctx.sp_el0)?;
    if kind % 4 == 3 {
        writeln!(out, "    cause   an asynchronous external abort: most often a write that a device or the PL answered with")?;
        writeln!(out, "            SLVERR/DECERR (an unclocked, isolated or missing IP); ELR is where it was noticed, not the write")?;
    }
    if is_abort {
        if let Some((core, stack)) = memory::stack_guard_owner(ctx.far) {
            writeln!(out, "    cause   stack overflow: core {core} {} stack ran into its guard page", stack.name())?;
        } else if memory::null_guard().contains(&ctx.far) {
            writeln!(out, "    cause   NULL pointer access (FAR inside the unmapped null guard)")?;
        }
    }
    Ok(())
}

/// A check the current test installs when the fault is the expected result.
static EXPECTED_FAULT: AtomicUsize = AtomicUsize::new(0);

/// Make the next fatal exception a test verdict: the report text is passed
/// to `check`, and QEMU exits 0 when it returns true, 1 otherwise.
pub fn expect_fault(check: fn(&str) -> bool) {
    EXPECTED_FAULT.store(check as usize, Ordering::SeqCst);
}

/// A check for the next fault on a secondary core (tests of what core 0
/// does then): if the report passes, the core halts as it does on the
/// board, where no host ends the run, and core 0 goes on; if not, the run
/// fails.
static EXPECTED_SECONDARY_FAULT: AtomicUsize = AtomicUsize::new(0);

/// Make the next fault on a secondary core behave as on the board (the
/// core halts, the run goes on) when its report passes `check`.
pub fn expect_secondary_fault(check: fn(&str) -> bool) {
    EXPECTED_SECONDARY_FAULT.store(check as usize, Ordering::SeqCst);
}

fn conclude(report: &str) -> ! {
    let mut out = zcu102::console_uart();
    if cpu::core_id() != 0 {
        let hook = EXPECTED_SECONDARY_FAULT.swap(0, Ordering::SeqCst);
        if hook != 0 {
            // SAFETY: the value was stored from a `fn(&str) -> bool` above.
            let check: fn(&str) -> bool = unsafe { core::mem::transmute(hook) };
            if check(report) {
                let _ = writeln!(out, "[ok] core {}'s fault report is the expected one; it halts as on the board", cpu::core_id());
                REPORTING.store(0, Ordering::Release);
                crate::smp::halt_faulted_core()
            }
            let _ = writeln!(out, "[failed] core {}'s fault report is not the expected one\n0 passed, 1 failed", cpu::core_id());
            semihosting::exit(1);
        }
    }
    let hook = EXPECTED_FAULT.load(Ordering::SeqCst);
    if hook != 0 {
        // SAFETY: the value was stored from a `fn(&str) -> bool` above.
        let check: fn(&str) -> bool = unsafe { core::mem::transmute(hook) };
        if check(report) {
            let _ = writeln!(out, "[ok] the fault report is the expected one\n1 passed, 0 failed");
            semihosting::exit(0);
        } else {
            let _ = writeln!(out, "[failed] the fault report is not the expected one\n0 passed, 1 failed");
        }
    }
    halt(out)
}

#[no_mangle]
extern "C" fn exception_handler(ctx: &mut ExceptionContext, kind: u64) {
    let ec = (ctx.esr >> 26) & 0x3f;
    if kind % 4 == 0 && probe::fault_at_site(ctx.elr, ctx.far) {
        // An access expected to fail did: hand the syndrome back to the
        // probe (never 0, which means success) and skip the instruction.
        ctx.gpr[0] = ctx.esr.max(1);
        ctx.elr += 4;
        return;
    }
    if kind % 4 == 0 && psci::fault_at_site(ctx.elr) {
        // A PSCI call with nothing behind its conduit (undefined `smc` or
        // `hvc`): the caller learns there is no PSCI.
        ctx.gpr[0] = ctx.esr.max(1);
        ctx.elr += 4;
        return;
    }
    if kind % 4 == 3 && probe::serror_in_guard(ctx.esr) {
        // A guarded write failed; the guard returns the error.
        return;
    }
    if kind % 4 == 0 && ec == 0 && ctx.elr == semihosting::hlt_address() {
        // No debugger/QEMU behind `hlt`: semihosting is absent; resume.
        semihosting::mark_unavailable();
        ctx.gpr[0] = u64::MAX;
        ctx.elr += 4;
        return;
    }
    let mut report: heapless::String<1024> = heapless::String::new();
    let _ = write_report(&mut report, ctx, kind);
    begin_report();
    let _ = zcu102::console_uart().write_str(&report);
    conclude(&report)
}

/// One report on the console at a time: two cores faulting together would
/// interleave their lines. Holds the reporting core's number + 1 (0: free);
/// the same core may enter again (a panic inside its own report).
static REPORTING: AtomicUsize = AtomicUsize::new(0);

fn begin_report() {
    let me = cpu::core_id() + 1;
    while let Err(holder) = REPORTING.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
        if holder == me {
            return;
        }
        cpu::spin_hint();
    }
}

/// After a fatal report: end the run (QEMU exits with failure). Where no
/// host is there to exit to, core 0 stops; a secondary core stops and tells
/// core 0, whose console goes on (smp::halt_faulted_core).
fn halt(mut out: impl Write) -> ! {
    let core = cpu::core_id();
    if core == 0 {
        let _ = writeln!(out, "*** system halted");
    } else {
        let _ = writeln!(out, "*** core {core} halted");
    }
    semihosting::exit(1);
    REPORTING.store(0, Ordering::Release);
    if core == 0 {
        cpu::wait_forever()
    } else {
        crate::smp::halt_faulted_core()
    }
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Report a panic on UART0 and stop (QEMU: exit with failure).
pub fn report_panic(info: &core::panic::PanicInfo) -> ! {
    let mut out = zcu102::console_uart();
    begin_report();
    if PANICKING.swap(true, Ordering::SeqCst) {
        let _ = writeln!(out, "\n*** PANIC while panicking");
    } else {
        let _ = write!(out, "\n*** PANIC on core {}: {}", cpu::core_id(), info.message());
        if let Some(loc) = info.location() {
            let _ = write!(out, "\n    at {}:{}:{}", loc.file(), loc.line(), loc.column());
        }
        let _ = writeln!(out);
    }
    halt(out)
}

/// Deliberate faults, for the console's `fault` command and the tests of the
/// exception report. Each one goes through the real hardware path.
pub mod faults {
    use crate::bsp::zcu102::memory;

    /// Load from inside the unmapped null guard (address 8).
    pub fn null_read() -> u64 {
        let addr = memory::null_guard().start + 8;
        let value: u64;
        // SAFETY: deliberately faults; the exception handler never returns
        // here. Done in asm so no Rust reference to address 8 exists.
        unsafe { core::arch::asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) value) };
        value
    }

    /// Recurse with 4 KiB frames until the main stack's guard page is hit.
    #[inline(never)]
    #[allow(unconditional_recursion)]
    pub fn stack_overflow(depth: u64) -> u64 {
        let mut frame = [0u8; 4096];
        frame[0] = depth as u8;
        let frame = core::hint::black_box(frame);
        // Not a tail call: the frame is used after the recursive call.
        stack_overflow(depth + 1).wrapping_add(frame[depth as usize % 4096] as u64)
    }

    /// Execute a permanently undefined instruction.
    pub fn undefined() {
        // SAFETY: deliberately traps; the handler never returns here.
        unsafe { core::arch::asm!("udf #0") };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(esr: u64, far: u64, kind: u64) -> heapless::String<1024> {
        let ctx = ExceptionContext { gpr: [0; 31], elr: 0x1234, spsr: 0x3c4, esr, far, sp_el0: 0x8000 };
        let mut s = heapless::String::new();
        write_report(&mut s, &ctx, kind).unwrap();
        s
    }

    #[test_case]
    fn every_defined_class_has_a_name() {
        for ec in [0x00, 0x01, 0x07, 0x0e, 0x15, 0x16, 0x17, 0x18, 0x20, 0x21, 0x22, 0x24, 0x25, 0x26, 0x2c, 0x2f, 0x3c] {
            assert_ne!(class_name(ec), "Reserved or unrecognised class", "EC {ec:#x}");
        }
    }

    #[test_case]
    fn data_abort_report_decodes_esr() {
        // EC 0x25, IL, WnR=1 (write), DFSC 0b000110 (translation fault, level 2)
        let esr = (0x25 << 26) | (1 << 25) | (1 << 6) | 0b000110;
        let r = report_of(esr, 0xdead_0000, 4);
        assert!(r.contains("synchronous, current EL with SP_ELx"), "{r}");
        assert!(r.contains("class   0x25 Data Abort, current EL"), "{r}");
        assert!(r.contains("detail  translation fault, level 2, write"), "{r}");
        assert!(r.contains("FAR     0x00000000dead0000"), "{r}");
        assert!(r.contains("ELR     0x0000000000001234"), "{r}");
        assert!(!r.contains("cause"), "no diagnosis expected: {r}");
    }

    #[test_case]
    fn guard_page_far_is_diagnosed_as_overflow() {
        let guard = memory::CoreStacks::of(2).main_guard();
        let r = report_of((0x25 << 26) | 0b000111, guard.end - 16, 0);
        assert!(r.contains("cause   stack overflow: core 2 main stack ran into its guard page"), "{r}");
    }

    #[test_case]
    fn undefined_instruction_has_no_abort_detail() {
        let r = report_of(1 << 25, 0, 0);
        assert!(r.contains("class   0x00 Unknown reason (undefined instruction)"), "{r}");
        assert!(!r.contains("detail"), "{r}");
    }
}
