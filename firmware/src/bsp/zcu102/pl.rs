//! The PL as the PS sees it, before the firmware touches the accelerator's
//! window: configured (CSU PCAP_STATUS.PL_DONE), powered (PMU_GLOBAL
//! PWR_STATE.PL), clocked (CRL_APB PL0_REF_CTRL.CLKACT) and not held in
//! reset (pl_resetn0, driven by EMIO GPIO 95). An AXI access to a PL that
//! fails one of these can stall the interconnect with no response, and no
//! exception can save the core then; so these come first.
//!
//! What is not checked from here: the FPD-PL isolation. Its state is in
//! PMU_LOCAL DOMAIN_ISO_CNTRL, and the PMU interconnect lets other masters
//! reach only the PMU RAM and the PMU_GLOBAL registers (UG1085, "PMU
//! Interconnect"); the APU cannot read PMU_LOCAL. The PL power state (the
//! PMU removes the isolation when it powers the PL up) and the accelerator
//! probe stand in for it.
//!
//! Register addresses and fields: UG1087 (CSU, PMU_GLOBAL, CRL_APB, GPIO).
use super::clocks::{self, RefClock};
use crate::arch::aarch64::probe;
use crate::arch::aarch64::time;
use core::time::Duration;
use embedded_hal::delay::DelayNs;

/// CSU PCAP_STATUS: bit 3 PL_DONE, set once a bitstream configured the PL.
pub const CSU_PCAP_STATUS: u64 = 0xffca_3010;
pub const PCAP_STATUS_PL_DONE: u32 = 1 << 3;
/// PMU_GLOBAL PWR_STATE: bit 23, the PL power island is on.
const PMU_GLOBAL_PWR_STATE: u64 = 0xffd8_0100;
const PWR_STATE_PL: u32 = 1 << 23;

/// FPD_SLCR ATB_RESP_EN (UG1087): whether the FPD AXI timeout block
/// answers for a slave that never responds; bit 1 (afifs0) is the FPD main
/// switch to M_AXI_HPM0_FPD, the accelerator's path. Read only: enabling
/// the block also needs ATB_CMD_STORE_EN, ATB_RESP_TYPE and ATB_PRESCALE,
/// whose fields could not be checked against UG1087 or Xilinx code here
/// (boot/README.md, "A PL that never answers").
pub const FPD_SLCR_ATB_RESP_EN: u64 = 0xfd61_6014;
pub const ATB_RESP_EN_HPM0_FPD: u32 = 1 << 1;

/// Whether the FPD timeout block answers for HPM0_FPD (ATB_RESP_EN as
/// read), or None if FPD_SLCR cannot be read.
pub fn hpm0_timeout_response() -> Option<u32> {
    probe::read_u32(FPD_SLCR_ATB_RESP_EN).ok()
}

/// GPIO (UG1087 GPIO): bank 5 holds EMIO 64..95; pl_resetn0 is EMIO 95,
/// bank 5 bit 31 (psu_ps_pl_reset_config_data in psu_init.c).
const GPIO: u64 = 0xff0a_0000;
const MASK_DATA_5_MSW: u64 = GPIO + 0x02c;
/// The output latch: what the PS drives on the pin. Not DATA_5_RO (+0x74):
/// for an EMIO pin the input side is a separate PL signal (emio_gpio_i),
/// which a design that only uses pl_resetn0 leaves tied off, so it says
/// nothing about the reset the PL sees.
const DATA_5: u64 = GPIO + 0x054;
const DIRM_5: u64 = GPIO + 0x344;
const OEN_5: u64 = GPIO + 0x348;
const PL_RESETN0: u32 = 1 << 31;
/// MASK_DATA_5_MSW values that change pin 31 only: the upper half is a
/// mask (1: leave that pin alone), the lower half the data (UG1085 GPIO,
/// "Writing to the mask data registers").
const MASK_DATA_RESETN_LOW: u32 = 0x7fff_0000;
const MASK_DATA_RESETN_HIGH: u32 = 0x7fff_8000;
/// How long pl_resetn0 is held low, and given to settle after release:
/// proc_sys_reset needs a few cycles of its slowest clock; psu_init waits
/// 1 us; a millisecond is far beyond both and costs nothing.
pub const PL_RESET_PULSE: Duration = Duration::from_millis(1);

/// pl_resetn0 as the GPIO registers describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetPin {
    /// DIRM_5, OEN_5 and DATA_5 as read.
    pub dirm: u32,
    pub oen: u32,
    pub data: u32,
}

impl ResetPin {
    /// The PS drives the pin: an output (DIRM) with its driver on (OEN).
    pub fn driven(&self) -> bool {
        self.dirm & self.oen & PL_RESETN0 != 0
    }
    /// The output latch holds pl_resetn0 high (released).
    pub fn latch_high(&self) -> bool {
        self.data & PL_RESETN0 != 0
    }
    /// The PS drives pl_resetn0 low: the PL design is held in reset.
    pub fn holds_reset(&self) -> bool {
        self.driven() && !self.latch_high()
    }
}

/// Snapshot of the PL's state.
#[derive(Clone, Copy, Debug)]
pub struct PlStatus {
    pub pcap_status: u32,
    pub pwr_state: Option<u32>,
    pub pl0: RefClock,
    /// GPIO bank 5, if it could be read.
    pub resetn: Option<ResetPin>,
}

/// What keeps the firmware from touching the PL window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlProblem {
    NotConfigured { pcap_status: u32 },
    NotPowered { pwr_state: u32 },
    ClockStopped { pl0_ref_ctrl: u32 },
    HeldInReset { data_5: u32 },
}

impl core::fmt::Display for PlProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            PlProblem::NotConfigured { pcap_status } => write!(f, "the PL is not configured (PCAP_STATUS 0x{pcap_status:08x}, PL_DONE clear)"),
            PlProblem::NotPowered { pwr_state } => {
                write!(f, "the PL power island is off (PMU_GLOBAL PWR_STATE 0x{pwr_state:08x}); an FSBL built from the XSA with the PL powers it up")
            }
            PlProblem::ClockStopped { pl0_ref_ctrl } => write!(f, "pl_clk0 is stopped (CRL_APB PL0_REF_CTRL 0x{pl0_ref_ctrl:08x}, CLKACT clear)"),
            PlProblem::HeldInReset { data_5 } => {
                write!(f, "pl_resetn0 (EMIO GPIO 95) is driven low: GPIO DATA_5 0x{data_5:08x} with the pin an enabled output holds the PL in reset")
            }
        }
    }
}

impl PlStatus {
    pub fn read() -> PlStatus {
        Self::read_with(|a| probe::read_u32(a).ok(), clocks::pl0())
    }

    /// The snapshot from register reads handed in (`None`: not readable).
    pub fn read_with(read: impl Fn(u64) -> Option<u32>, pl0: RefClock) -> PlStatus {
        let resetn = match (read(DIRM_5), read(OEN_5), read(DATA_5)) {
            (Some(dirm), Some(oen), Some(data)) => Some(ResetPin { dirm, oen, data }),
            _ => None,
        };
        PlStatus { pcap_status: read(CSU_PCAP_STATUS).unwrap_or(0), pwr_state: read(PMU_GLOBAL_PWR_STATE), pl0, resetn }
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
        if let Some(c) = self.pl0.ctrl.filter(|_| !self.pl0.active) {
            return Some(PlProblem::ClockStopped { pl0_ref_ctrl: c });
        }
        if let Some(r) = self.resetn.filter(|r| r.holds_reset()) {
            return Some(PlProblem::HeldInReset { data_5: r.data });
        }
        None
    }
}

/// 32-bit register access, so that the reset sequence can be checked
/// against a recording double.
pub trait Regs32 {
    fn read(&self, addr: u64) -> u32;
    /// # Safety
    /// The write must be one of this module's GPIO bank 5 writes.
    unsafe fn write(&self, addr: u64, value: u32);
    fn delay(&self, d: Duration);
}

/// The real registers, through `probe` (a GPIO block the platform does not
/// have reads as 0 and takes no writes instead of faulting).
struct Mmio;

impl Regs32 for Mmio {
    fn read(&self, addr: u64) -> u32 {
        probe::read_u32(addr).unwrap_or(0)
    }
    unsafe fn write(&self, addr: u64, value: u32) {
        // SAFETY: the caller's writes are GPIO bank 5 registers, changing
        // pin 31 only (read-modify-write or masked data).
        let _ = unsafe { probe::write_u32(addr, value) };
    }
    fn delay(&self, d: Duration) {
        time::Delay.delay_us(d.as_micros() as u32);
    }
}

/// Pulse pl_resetn0 (EMIO GPIO 95) low and release it: every PL design
/// resets from it (proc_sys_reset), the HLS IP included, which is the only
/// way to stop an IP that never finishes (it has no reset register).
pub fn pulse_reset() {
    pulse_reset_with(&Mmio)
}

/// The sequence of `pulse_reset`. psu_ps_pl_reset_config_data (psu_init.c)
/// makes the pin an output (DIRM, OEN) and then writes DATA_5 high, low,
/// high; it runs once at boot, where a glitch does not matter. Here the PL
/// may be running, so the latch is set high before the driver turns on
/// (a latch left at its reset value 0 would otherwise pull pl_resetn0 low
/// the moment OEN is set): the only edges the PL sees are the pulse's.
pub fn pulse_reset_with(r: &impl Regs32) {
    // SAFETY (the writes below): MASK_DATA_5_MSW with a mask that lets only
    // pin 31 change; DIRM_5 and OEN_5 read-modify-written for bit 31 only.
    unsafe {
        r.write(MASK_DATA_5_MSW, MASK_DATA_RESETN_HIGH);
        r.write(DIRM_5, r.read(DIRM_5) | PL_RESETN0);
        r.write(OEN_5, r.read(OEN_5) | PL_RESETN0);
        r.write(MASK_DATA_5_MSW, MASK_DATA_RESETN_LOW);
    }
    r.delay(PL_RESET_PULSE);
    // SAFETY: as above; pin 31 high releases the reset.
    unsafe { r.write(MASK_DATA_5_MSW, MASK_DATA_RESETN_HIGH) };
    r.delay(PL_RESET_PULSE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;

    /// GPIO bank 5 in RAM: DATA_5 follows MASK_DATA_5_MSW as the hardware
    /// does, and each step records the level pl_resetn0 has (an output
    /// with its driver on gives the latch; otherwise the pin is not driven).
    struct Bank5 {
        dirm: RefCell<u32>,
        oen: RefCell<u32>,
        data: RefCell<u32>,
        levels: RefCell<heapless::Vec<Option<bool>, 16>>,
    }

    impl Bank5 {
        fn level(&self) -> Option<bool> {
            let p = ResetPin { dirm: *self.dirm.borrow(), oen: *self.oen.borrow(), data: *self.data.borrow() };
            p.driven().then(|| p.latch_high())
        }
    }

    impl Regs32 for Bank5 {
        fn read(&self, addr: u64) -> u32 {
            match addr {
                DIRM_5 => *self.dirm.borrow(),
                OEN_5 => *self.oen.borrow(),
                DATA_5 => *self.data.borrow(),
                _ => panic!("read of 0x{addr:x}"),
            }
        }
        unsafe fn write(&self, addr: u64, value: u32) {
            match addr {
                DIRM_5 => *self.dirm.borrow_mut() = value,
                OEN_5 => *self.oen.borrow_mut() = value,
                MASK_DATA_5_MSW => {
                    let keep = value >> 16;
                    let mut d = self.data.borrow_mut();
                    *d = (*d & ((keep << 16) | 0xffff)) | ((value & 0xffff & !keep) << 16);
                }
                _ => panic!("write of 0x{addr:x}"),
            }
            let l = self.level();
            self.levels.borrow_mut().push(l).unwrap();
        }
        fn delay(&self, _: Duration) {}
    }

    /// From GPIO reset (input, latch 0) and from what psu_init leaves
    /// (output, high): pl_resetn0 goes low exactly once and ends high; no
    /// other bank 5 pin changes.
    #[test_case]
    fn the_reset_pulse_has_one_low_phase_and_no_glitch() {
        for (dirm, oen, data) in [(0, 0, 0), (PL_RESETN0 | 1, PL_RESETN0 | 1, PL_RESETN0 | 0x0001_0001)] {
            let b = Bank5 { dirm: RefCell::new(dirm), oen: RefCell::new(oen), data: RefCell::new(data), levels: RefCell::new(heapless::Vec::new()) };
            pulse_reset_with(&b);
            let levels = b.levels.borrow();
            let driven: heapless::Vec<bool, 16> = levels.iter().flatten().copied().collect();
            let mut edges = driven.windows(2).filter(|w| w[0] != w[1]);
            assert_eq!(driven.first(), Some(&true), "the first level driven is low: {levels:?}");
            assert_eq!((edges.next(), edges.next(), edges.next()), (Some(&[true, false][..]), Some(&[false, true][..]), None), "{levels:?}");
            assert_eq!(*b.data.borrow() & !PL_RESETN0, data & !PL_RESETN0, "other pins changed");
            assert!(ResetPin { dirm: *b.dirm.borrow(), oen: *b.oen.borrow(), data: *b.data.borrow() }.driven());
        }
    }

    /// "Held in reset" comes from the output latch and the direction, never
    /// from DATA_5_RO (the EMIO input, tied low in most designs).
    #[test_case]
    fn held_in_reset_is_read_from_the_output_latch() {
        let pl0 = RefClock { ctrl: Some(1 << 24), active: true, source: "IOPLL", hz: None };
        let status = |dirm: u32, oen: u32, data: u32| {
            let regs = [(CSU_PCAP_STATUS, PCAP_STATUS_PL_DONE), (PMU_GLOBAL_PWR_STATE, PWR_STATE_PL), (DIRM_5, dirm), (OEN_5, oen), (DATA_5, data), (GPIO + 0x074, 0)];
            PlStatus::read_with(|a| regs.iter().find(|(r, _)| *r == a).map(|(_, v)| *v), pl0)
        };
        // psu_init's end state: driven high, with DATA_5_RO reading 0.
        assert_eq!(status(PL_RESETN0, PL_RESETN0, PL_RESETN0).problem(), None);
        assert_eq!(status(PL_RESETN0, PL_RESETN0, 0).problem(), Some(PlProblem::HeldInReset { data_5: 0 }));
        // Not an enabled output: the PS does not drive it.
        assert_eq!(status(PL_RESETN0, 0, 0).problem(), None);
        assert_eq!(status(0, 0, 0).problem(), None);
    }
}
