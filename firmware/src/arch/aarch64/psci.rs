//! PSCI (Arm Power State Coordination Interface, DEN0022D) as far as the
//! firmware needs it: starting a secondary core when the firmware does not
//! own EL3.
//!
//! When the firmware is entered at EL3 (the FSBL hands over at EL3, or
//! QEMU's `secure=on`), it owns the reset vector and releases cores 1-3
//! itself (bsp::zcu102::apu). Entered at EL2 or EL1 (behind TF-A's BL31,
//! a hypervisor, or `cargo xtask run --el 1|2`), RVBAR belongs to the
//! software at EL3: a core released behind its back would start at EL3 in
//! our code with none of the secure world's setup. There, the only
//! architected way to start a core is PSCI CPU_ON (DEN0022D 5.1.4), through
//! the conduit of the firmware above:
//!
//! - entered at EL2, the firmware is the hypervisor: the PSCI provider can
//!   only be at EL3, so the conduit is SMC (DEN0022D 5.2.1; SMC Calling
//!   Convention DEN0028, 2.6);
//! - entered at EL1 with EL2 implemented (ID_AA64PFR0_EL1.EL2), whatever
//!   put us at EL1 is a hypervisor, whose PSCI conduit is HVC (as for
//!   Linux guests under KVM and Xen); with no EL2, SMC.
//!
//! Without a device tree the conduit cannot be told, so PSCI_VERSION is
//! called first at a probe site (`probe`): if the `smc`/`hvc` is undefined
//! (no EL3/EL2 behind it) the exception handler resumes after it and there
//! is no PSCI; the firmware then runs on core 0 alone and says so.
use core::sync::atomic::{AtomicU64, Ordering};

/// Function IDs (DEN0022D 5.1, SMC64 where the call takes addresses).
const PSCI_VERSION: u64 = 0x8400_0000;
const CPU_ON_64: u64 = 0xc400_0003;

core::arch::global_asm!(
    ".section .text.psci, \"ax\"",
    // (fid, a1, a2, a3) -> x0. SMCCC: x0-x17 may be changed, x18-x30 and
    // SP are preserved, so an AAPCS64 call is enough.
    ".global xlic_psci_smc",
    "xlic_psci_smc:",
    ".global __probe_site_smc",
    "__probe_site_smc:",
    "    smc     #0",
    "    ret",
    ".global xlic_psci_hvc",
    "xlic_psci_hvc:",
    ".global __probe_site_hvc",
    "__probe_site_hvc:",
    "    hvc     #0",
    "    ret",
);

extern "C" {
    fn xlic_psci_smc(fid: u64, a1: u64, a2: u64, a3: u64) -> u64;
    fn xlic_psci_hvc(fid: u64, a1: u64, a2: u64, a3: u64) -> u64;
    static __probe_site_smc: u8;
    static __probe_site_hvc: u8;
}

/// How calls reach the PSCI implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Smc,
    Hvc,
}

impl Conduit {
    pub fn name(self) -> &'static str {
        match self {
            Conduit::Smc => "SMC",
            Conduit::Hvc => "HVC",
        }
    }

    /// The conduit for firmware entered at `entry_el` (see the module text).
    pub fn for_entry_el(entry_el: u8) -> Conduit {
        let pfr0: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe { core::arch::asm!("mrs {0}, id_aa64pfr0_el1", out(reg) pfr0) };
        let el2_implemented = (pfr0 >> 8) & 0xf != 0;
        if entry_el == 1 && el2_implemented {
            Conduit::Hvc
        } else {
            Conduit::Smc
        }
    }

    fn site(self) -> u64 {
        match self {
            Conduit::Smc => core::ptr::addr_of!(__probe_site_smc) as u64,
            Conduit::Hvc => core::ptr::addr_of!(__probe_site_hvc) as u64,
        }
    }
}

/// The probe site that faulted last (set by `fault_at_site`), so a call's
/// result can be told from an ESR the handler put into x0.
static FAULTED_SITE: AtomicU64 = AtomicU64::new(0);

/// Called by the exception handler for a synchronous exception: whether
/// `elr` is one of the PSCI call sites (the call is then skipped).
pub(super) fn fault_at_site(elr: u64) -> bool {
    let hit = elr == Conduit::Smc.site() || elr == Conduit::Hvc.site();
    if hit {
        FAULTED_SITE.store(elr, Ordering::SeqCst);
    }
    hit
}

/// Why PSCI could not start a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// The `smc`/`hvc` trapped as undefined: nothing answers PSCI calls.
    NoPsci { conduit: Conduit, esr: u64 },
    /// PSCI_VERSION answered NOT_SUPPORTED or a version before 0.2, which
    /// has no standard CPU_ON function ID (DEN0022D 5.1.1).
    NoCpuOn { version: u32 },
    /// CPU_ON returned an error code (DEN0022D 5.2.2).
    CpuOn { code: i32 },
}

impl core::fmt::Display for PsciError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            PsciError::NoPsci { conduit, esr } => write!(f, "no PSCI firmware answers {} (the call trapped, ESR 0x{esr:08x})", conduit.name()),
            PsciError::NoCpuOn { version } => write!(f, "the PSCI firmware (PSCI_VERSION 0x{version:08x}) has no CPU_ON"),
            PsciError::CpuOn { code } => write!(f, "PSCI CPU_ON returned {code} ({})", code_name(*code)),
        }
    }
}

/// DEN0022D table 5.2.2 (return codes).
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "SUCCESS",
        -1 => "NOT_SUPPORTED",
        -2 => "INVALID_PARAMETERS",
        -3 => "DENIED",
        -4 => "ALREADY_ON",
        -5 => "ON_PENDING",
        -6 => "INTERNAL_FAILURE",
        -7 => "NOT_PRESENT",
        -8 => "DISABLED",
        -9 => "INVALID_ADDRESS",
        _ => "unknown",
    }
}

fn call(conduit: Conduit, fid: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, PsciError> {
    FAULTED_SITE.store(0, Ordering::SeqCst);
    // SAFETY: a PSCI call through the conduit; if the instruction is
    // undefined here, the exception handler skips it (probe site) and
    // records the site, so the result is not taken for an answer.
    let r = unsafe {
        match conduit {
            Conduit::Smc => xlic_psci_smc(fid, a1, a2, a3),
            Conduit::Hvc => xlic_psci_hvc(fid, a1, a2, a3),
        }
    };
    if FAULTED_SITE.swap(0, Ordering::SeqCst) == conduit.site() {
        return Err(PsciError::NoPsci { conduit, esr: r });
    }
    Ok(r)
}

/// PSCI_VERSION (major << 16 | minor), or why nothing answers.
pub fn version(conduit: Conduit) -> Result<u32, PsciError> {
    call(conduit, PSCI_VERSION, 0, 0, 0).map(|v| v as u32)
}

/// Whether a PSCI_VERSION answer has the standard CPU_ON (0.2 and later;
/// a negative answer, NOT_SUPPORTED, has nothing).
pub fn has_cpu_on(version: u32) -> bool {
    (version as i32) >= 2
}

/// CPU_ON: start the core with affinity `target` (MPIDR's affinity fields)
/// at physical address `entry`, at the caller's (non-secure) EL or the
/// highest one below the PSCI firmware (DEN0022D 6.4.3).
pub fn cpu_on(conduit: Conduit, target: u64, entry: u64) -> Result<(), PsciError> {
    match call(conduit, CPU_ON_64, target, entry, 0)? as i64 as i32 {
        0 => Ok(()),
        code => Err(PsciError::CpuOn { code }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU answers PSCI through SMC below EL3 (its built-in PSCI, as
    /// TF-A's BL31 does on the board): PSCI 0.2 or later, which has
    /// CPU_ON. An `hvc` with no EL2 behind it (entered at EL1 on the
    /// plain machine, or from Secure EL1 at EL3 entry, where HVC is
    /// undefined) comes back as "no PSCI" instead of a fatal exception.
    /// (No `smc` at EL3 entry: that would enter the firmware's own EL3,
    /// which has no vectors.)
    #[test_case]
    fn psci_answers_through_its_conduit_and_a_dead_conduit_is_an_error() {
        let el = crate::entry_el();
        if el < 3 {
            let v = version(Conduit::Smc).expect("PSCI through SMC below EL3");
            assert!(has_cpu_on(v), "PSCI version 0x{v:x} has no CPU_ON");
            assert_eq!(Conduit::for_entry_el(el), Conduit::Smc, "QEMU's EL{el} has no EL2 above EL1 to be a hypervisor");
        }
        if el != 2 {
            assert!(matches!(version(Conduit::Hvc), Err(PsciError::NoPsci { conduit: Conduit::Hvc, .. })));
        }
        assert!(has_cpu_on(0x0000_0002) && has_cpu_on(0x0001_0001));
        assert!(!has_cpu_on(0x0000_0001) && !has_cpu_on(-1i32 as u32));
    }
}
