//! The PL as the PS sees it, before the firmware touches the accelerator's
//! window: configured (CSU PCAP_STATUS.PL_DONE), powered (PMU_GLOBAL
//! PWR_STATE.PL), not isolated from the FPD (PMU_LOCAL DOMAIN_ISO_CNTRL.
//! FP_PL, HPM0_FPD crosses it), clocked (CRL_APB PL0_REF_CTRL.CLKACT) and
//! out of reset (pl_resetn0, driven by EMIO GPIO 95). An AXI access to a PL
//! that fails one of these can stall the interconnect with no response, and
//! no exception can save the core then; so these come first.
//! Register addresses and fields: UG1087 (CSU, PMU_GLOBAL, PMU_LOCAL,
//! CRL_APB, GPIO).
use super::clocks::{self, RefClock};
use crate::arch::aarch64::probe::{self, Fault};
use crate::arch::aarch64::time;
use core::time::Duration;
use embedded_hal::delay::DelayNs;

/// CSU PCAP_STATUS: bit 3 PL_DONE, set once a bitstream configured the PL.
pub const CSU_PCAP_STATUS: u64 = 0xffca_3010;
pub const PCAP_STATUS_PL_DONE: u32 = 1 << 3;
/// PMU_GLOBAL PWR_STATE: bit 23, the PL power island is on.
const PMU_GLOBAL_PWR_STATE: u64 = 0xffd8_0100;
const PWR_STATE_PL: u32 = 1 << 23;
/// PMU_LOCAL DOMAIN_ISO_CNTRL: bit 5 FP_PL, the FPD-PL isolation wall.
/// PMU firmware may keep PMU_LOCAL from the APU (XPPU): read via a probe.
const PMU_LOCAL_DOMAIN_ISO_CNTRL: u64 = 0xffd6_00f0;
const ISO_FP_PL: u32 = 1 << 5;

/// GPIO (UG1087 GPIO): bank 5 holds EMIO 64..95; pl_resetn0 is EMIO 95,
/// bank 5 bit 31 (psu_ps_pl_reset_config_data in psu_init.c).
const GPIO: u64 = 0xff0a_0000;
const MASK_DATA_5_MSW: u64 = GPIO + 0x02c;
const DATA_5_RO: u64 = GPIO + 0x074;
const DIRM_5: u64 = GPIO + 0x344;
const OEN_5: u64 = GPIO + 0x348;
const PL_RESETN0: u32 = 1 << 31;
/// How long pl_resetn0 is held low, and given to settle after release:
/// proc_sys_reset needs a few cycles of its slowest clock; psu_init waits
/// 1 us; a millisecond is far beyond both and costs nothing.
pub const PL_RESET_PULSE: Duration = Duration::from_millis(1);

/// Snapshot of the PL's state.
#[derive(Clone, Copy, Debug)]
pub struct PlStatus {
    pub pcap_status: u32,
    pub pwr_state: Option<u32>,
    pub iso_cntrl: Result<u32, Fault>,
    pub pl0: RefClock,
    /// GPIO bank 5 direction and pin value of pl_resetn0.
    pub resetn_output: Option<bool>,
    pub resetn_high: Option<bool>,
}

/// What keeps the firmware from touching the PL window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlProblem {
    NotConfigured { pcap_status: u32 },
    NotPowered { pwr_state: u32 },
    Isolated { iso_cntrl: u32 },
    ClockStopped { pl0_ref_ctrl: u32 },
    HeldInReset,
}

impl core::fmt::Display for PlProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            PlProblem::NotConfigured { pcap_status } => write!(f, "the PL is not configured (PCAP_STATUS 0x{pcap_status:08x}, PL_DONE clear)"),
            PlProblem::NotPowered { pwr_state } => write!(f, "the PL power island is off (PMU_GLOBAL PWR_STATE 0x{pwr_state:08x})"),
            PlProblem::Isolated { iso_cntrl } => {
                write!(f, "the FPD-PL isolation is on (PMU_LOCAL DOMAIN_ISO_CNTRL 0x{iso_cntrl:08x}); an FSBL built from the XSA with the PL removes it")
            }
            PlProblem::ClockStopped { pl0_ref_ctrl } => write!(f, "pl_clk0 is stopped (CRL_APB PL0_REF_CTRL 0x{pl0_ref_ctrl:08x}, CLKACT clear)"),
            PlProblem::HeldInReset => write!(f, "pl_resetn0 (EMIO GPIO 95) holds the PL in reset"),
        }
    }
}

impl PlStatus {
    pub fn read() -> PlStatus {
        let read = |a| probe::read_u32(a).ok();
        let dirm = read(DIRM_5);
        PlStatus {
            pcap_status: read(CSU_PCAP_STATUS).unwrap_or(0),
            pwr_state: read(PMU_GLOBAL_PWR_STATE),
            iso_cntrl: probe::read_u32(PMU_LOCAL_DOMAIN_ISO_CNTRL),
            pl0: clocks::pl0(),
            resetn_output: dirm.map(|d| d & PL_RESETN0 != 0),
            resetn_high: read(DATA_5_RO).map(|d| d & PL_RESETN0 != 0),
        }
    }

    pub fn configured(&self) -> bool {
        self.pcap_status & PCAP_STATUS_PL_DONE != 0
    }

    /// The first reason not to access the PL, if any. Registers that could
    /// not be read do not count against the PL (the FSBL may have locked
    /// them away); PL_DONE and the clock are always readable.
    pub fn problem(&self) -> Option<PlProblem> {
        if !self.configured() {
            return Some(PlProblem::NotConfigured { pcap_status: self.pcap_status });
        }
        if let Some(p) = self.pwr_state.filter(|p| p & PWR_STATE_PL == 0) {
            return Some(PlProblem::NotPowered { pwr_state: p });
        }
        if let Ok(i) = self.iso_cntrl {
            if i & ISO_FP_PL != 0 {
                return Some(PlProblem::Isolated { iso_cntrl: i });
            }
        }
        if let Some(c) = self.pl0.ctrl.filter(|_| !self.pl0.active) {
            return Some(PlProblem::ClockStopped { pl0_ref_ctrl: c });
        }
        if self.resetn_output == Some(true) && self.resetn_high == Some(false) {
            return Some(PlProblem::HeldInReset);
        }
        None
    }
}

/// Pulse pl_resetn0 (EMIO GPIO 95) low and release it, as
/// psu_ps_pl_reset_config_data does: every PL design resets from it
/// (proc_sys_reset), the HLS IP included, which is the only way to stop
/// an IP that never finishes (it has no reset register).
pub fn pulse_reset() {
    let read = |a| probe::read_u32(a).unwrap_or(0);
    // SAFETY (the writes below): GPIO bank 5 direction and output enable
    // for bit 31 only (read-modify-write), and MASK_DATA_5_MSW, whose mask
    // half (bits 31:16, 0 = write) lets only pin 31 change.
    unsafe {
        let _ = probe::write_u32(DIRM_5, read(DIRM_5) | PL_RESETN0);
        let _ = probe::write_u32(OEN_5, read(OEN_5) | PL_RESETN0);
        let _ = probe::write_u32(MASK_DATA_5_MSW, 0x7fff_0000);
    }
    time::Delay.delay_us(PL_RESET_PULSE.as_micros() as u32);
    // SAFETY: as above; pin 31 high releases the reset.
    unsafe {
        let _ = probe::write_u32(MASK_DATA_5_MSW, 0x7fff_8000);
    }
    time::Delay.delay_us(PL_RESET_PULSE.as_micros() as u32);
}
