//! Releasing the APU's secondary cores from reset, as the ZynqMP FSBL does
//! when it hands a partition to A53-1..3 (embeddedsw
//! lib/sw_apps/zynqmp_fsbl/src/xfsbl_handoff.c, `XFsbl_Handoff` then
//! `XFsbl_SetCpuPwrSettings(.., XFSBL_CPU_SWRST)`):
//!
//! 1. the reset vector into APU.RVBARADDRnL/H (`XFsbl_UpdateResetVector`);
//! 2. power up the core's island with the FPU and L2 bank 0 through the
//!    PMU's power-up request (`XFsbl_PowerUpIsland`: REQ_PWRUP_INT_EN,
//!    REQ_PWRUP_TRIG, then poll REQ_PWRUP_STATUS), skipped when
//!    PMU_GLOBAL.PWR_STATE already shows the islands on;
//! 3. the A53 clocks on (CRF_APB.ACPU_CTRL CLKACT_FULL | CLKACT_HALF);
//! 4. de-assert ACPUn_RESET, APU_L2_RESET and ACPUn_PWRON_RESET in
//!    CRF_APB.RST_FPD_APU (read-modify-write: the other cores' bits stay).
//!
//! The core then starts at EL3 at the reset vector (QEMU 7.2 models the
//! APU control block's RVBAR and CRF_APB's RST_FPD_APU the same way).
//! Register addresses and masks: UG1087 and xfsbl_hw.h.
use super::PMU_GLOBAL_BASE;
use crate::arch::aarch64::time::Deadline;
use core::time::Duration;

const APU_BASE: usize = 0xfd5c_0000;
const APU_RVBARADDR0L: usize = APU_BASE + 0x40;
const CRF_APB_BASE: usize = 0xfd1a_0000;
const CRF_APB_ACPU_CTRL: usize = CRF_APB_BASE + 0x60;
const ACPU_CTRL_CLKACT_FULL: u32 = 1 << 24;
const ACPU_CTRL_CLKACT_HALF: u32 = 1 << 25;
const CRF_APB_RST_FPD_APU: usize = CRF_APB_BASE + 0x104;
const RST_ACPU0: u32 = 1 << 0;
const RST_APU_L2: u32 = 1 << 8;
const RST_ACPU0_PWRON: u32 = 1 << 10;
const PMU_GLOBAL_PWR_STATE: usize = PMU_GLOBAL_BASE + 0x100;
const PMU_GLOBAL_REQ_PWRUP_STATUS: usize = PMU_GLOBAL_BASE + 0x110;
const PMU_GLOBAL_REQ_PWRUP_INT_EN: usize = PMU_GLOBAL_BASE + 0x118;
const PMU_GLOBAL_REQ_PWRUP_TRIG: usize = PMU_GLOBAL_BASE + 0x120;
const PWR_STATE_ACPU0: u32 = 1 << 0;
const PWR_STATE_L2_BANK0: u32 = 1 << 7;
const PWR_STATE_FP: u32 = 1 << 22;

/// How long the PMU may take to power an island up (it answers in
/// microseconds; this only bounds the wait).
const POWER_UP_LIMIT: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseError {
    /// Core 0 runs the firmware; cores are 1..=3.
    NoSuchCore(usize),
    /// The PMU did not complete the power-up request (no PMU firmware?).
    PowerUp { core: usize, status: u32 },
    /// The core's reset is already de-asserted: it runs (released before,
    /// or by the loader). A second release would move its reset vector
    /// under it; hold it in reset first.
    AlreadyReleased(usize),
}

impl core::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            ReleaseError::NoSuchCore(c) => write!(f, "there is no secondary core {c} (cores 1 to 3 can be released)"),
            ReleaseError::PowerUp { core, status } => write!(
                f,
                "the PMU did not power up core {core}'s island (REQ_PWRUP_STATUS 0x{status:08x}); is the PMU firmware in BOOT.BIN?"
            ),
            ReleaseError::AlreadyReleased(c) => write!(f, "core {c} is already out of reset (RST_FPD_APU); it is not released twice"),
        }
    }
}

fn read(addr: usize) -> u32 {
    // SAFETY: every address used here is a register of the APU control,
    // CRF_APB or PMU_GLOBAL blocks, mapped as device memory.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write(addr: usize, v: u32) {
    // SAFETY: as for `read`; the values follow the FSBL's sequence.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

/// Start secondary core `core` at `entry` (EL3 on the board).
pub fn release(core: usize, entry: u64) -> Result<(), ReleaseError> {
    if !(1..crate::arch::aarch64::cpu::NUM_CORES).contains(&core) {
        return Err(ReleaseError::NoSuchCore(core));
    }
    if !in_reset(core) {
        return Err(ReleaseError::AlreadyReleased(core));
    }
    write(APU_RVBARADDR0L + 8 * core, entry as u32);
    write(APU_RVBARADDR0L + 8 * core + 4, (entry >> 32) as u32);

    let islands = (PWR_STATE_ACPU0 << core) | PWR_STATE_FP | PWR_STATE_L2_BANK0;
    if read(PMU_GLOBAL_PWR_STATE) & islands != islands {
        write(PMU_GLOBAL_REQ_PWRUP_INT_EN, islands);
        write(PMU_GLOBAL_REQ_PWRUP_TRIG, islands);
        let deadline = Deadline::after(POWER_UP_LIMIT);
        loop {
            let status = read(PMU_GLOBAL_REQ_PWRUP_STATUS) & islands;
            if status == 0 {
                break;
            }
            if deadline.expired() {
                return Err(ReleaseError::PowerUp { core, status });
            }
            crate::arch::aarch64::cpu::spin_hint();
        }
    }

    write(CRF_APB_ACPU_CTRL, read(CRF_APB_ACPU_CTRL) | ACPU_CTRL_CLKACT_FULL | ACPU_CTRL_CLKACT_HALF);
    // The reset vector and clocks reach the block before the release.
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    let resets = (RST_ACPU0 << core) | RST_APU_L2 | (RST_ACPU0_PWRON << core);
    write(CRF_APB_RST_FPD_APU, read(CRF_APB_RST_FPD_APU) & !resets);
    Ok(())
}

/// Whether core `core`'s ACPUn_RESET is asserted (CRF_APB.RST_FPD_APU).
pub fn in_reset(core: usize) -> bool {
    read(CRF_APB_RST_FPD_APU) & (RST_ACPU0 << core) != 0
}

/// Put secondary core `core` back in reset (assert ACPUn_RESET, as the
/// PMU firmware's APU power-down does before it gates the island): a core
/// that did not check in, or that stopped answering, then executes nothing
/// more and touches no memory. The L2 and the other cores stay running.
/// Only the owner of EL3 may do this (as for `release`).
pub fn hold_in_reset(core: usize) -> Result<(), ReleaseError> {
    if !(1..crate::arch::aarch64::cpu::NUM_CORES).contains(&core) {
        return Err(ReleaseError::NoSuchCore(core));
    }
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    write(CRF_APB_RST_FPD_APU, read(CRF_APB_RST_FPD_APU) | (RST_ACPU0 << core));
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    Ok(())
}
