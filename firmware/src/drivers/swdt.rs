//! The ZynqMP system watchdog (Cadence SWDT), used as a boot watchdog: the
//! last resort if the boot hangs before the console's prompt.
//!
//! Register map: Xilinx embeddedsw `XilinxProcessorIPLib/drivers/wdtps/
//! src/xwdtps_hw.h` (the ZynqMP TRM UG1085 ch. 14 and UG1087 "SWDT" give
//! the same): ZMR 0x00 (WDEN, RSTEN, key 0xABC in bits 23:12), CCR 0x04
//! (prescaler in bits 1:0, counter restart value CRV in bits 13:2, key
//! 0x248 in bits 25:14), RESTART 0x08 (key 0x1999), STATUS 0x0C.
//!
//! The FPD instance (UG1087 `FPD_SWDT`, 0xFD4D_0000) signals its timeout
//! to the PMU as error FPD_SWDT (bit 13 of the PMU_GLOBAL error registers
//! of group 1); the PMU turns it into a system reset when that bit is set
//! in ERROR_SRST_EN_1 (0xFFD8_056C) and ERROR_EN_1 (0xFFD8_05A0). The
//! sequence is the FSBL's (`XFsbl_InitWdt` / `XFsbl_StopWdt` in
//! embeddedsw lib/sw_apps/zynqmp_fsbl, which does the same for its own
//! watchdog): prescaler 4096, CRV = (seconds / (4096 / clock)) >> 12,
//! reset output on, the PMU's system reset on, start, restart.
//!
//! QEMU 7.2's xlnx-zcu102 has no SWDT and no PMU_GLOBAL: its unassigned
//! addresses read 0 and ignore writes, so [`Swdt::start`] reads ZMR back
//! and reports the watchdog absent. The expiry itself is therefore tested
//! only on the board; QEMU tests the register values (against a block in
//! RAM) and that the firmware runs on without it.
use core::time::Duration;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    ZMR [
        WDEN OFFSET(0) NUMBITS(1) [],
        RSTEN OFFSET(1) NUMBITS(1) [],
        IRQEN OFFSET(2) NUMBITS(1) [],
        ZKEY OFFSET(12) NUMBITS(12) [Key = 0xabc],
    ],
    CCR [
        CLKSEL OFFSET(0) NUMBITS(2) [Div8 = 0, Div64 = 1, Div512 = 2, Div4096 = 3],
        CRV OFFSET(2) NUMBITS(12) [],
        CKEY OFFSET(14) NUMBITS(12) [Key = 0x248],
    ],
];

register_structs! {
    pub RegisterBlock {
        (0x00 => zmr: ReadWrite<u32, ZMR::Register>),
        (0x04 => ccr: ReadWrite<u32, CCR::Register>),
        (0x08 => restart: ReadWrite<u32>),
        (0x0c => status: ReadWrite<u32>),
        (0x10 => @END),
    }
}

const RESTART_KEY: u32 = 0x1999;

/// PMU_GLOBAL error-management registers (UG1087, PMU_GLOBAL module),
/// as offsets from its base 0xFFD8_0000.
pub const ERROR_SRST_EN_1: usize = 0x56c;
pub const ERROR_SRST_DIS_1: usize = 0x570;
pub const ERROR_EN_1: usize = 0x5a0;
/// Latched errors, group 1 (write 1 to clear); it keeps its bits through
/// the system reset an error causes (cleared by power-on reset only), so
/// the boot after a watchdog reset can tell. The FSBL reads it the same
/// way for its own watchdog (`XFsbl_ResetValidation`).
pub const ERROR_STATUS_1: usize = 0x530;
/// FPD_SWDT's bit in the group-1 error registers.
pub const FPD_SWDT_ERROR: u32 = 1 << 13;

/// Counter restart value for `timeout` with the clock divided by 4096, as
/// the FSBL computes it (`XFsbl_ConvertTime_WdtCounter`): the 24-bit
/// counter restarts at CRV << 12 | 0xfff, so the timeout is
/// (CRV + 1) * 2^12 * 4096 / clock, just above `timeout`.
pub fn crv_for(timeout: Duration, clock_hz: u32) -> u32 {
    let ticks = timeout.as_secs_f64() * clock_hz as f64 / 4096.0;
    (ticks as u64 >> 12).clamp(1, 0xfff) as u32
}

/// The timeout a CRV gives.
pub fn timeout_of(crv: u32, clock_hz: u32) -> Duration {
    Duration::from_secs_f64((crv as f64 + 1.0) * 4096.0 * 4096.0 / clock_hz as f64)
}

pub struct Swdt {
    regs: &'static RegisterBlock,
    pmu_global: usize,
    clock_hz: u32,
}

impl Swdt {
    /// # Safety
    /// `base` must be a Cadence SWDT register block and `pmu_global` the
    /// PMU_GLOBAL block (or, in tests, plain memory of their sizes), both
    /// mapped as device memory and used by nothing else.
    pub const unsafe fn new(base: usize, pmu_global: usize, clock_hz: u32) -> Self {
        // SAFETY: guaranteed by the caller.
        Swdt { regs: unsafe { &*(base as *const RegisterBlock) }, pmu_global, clock_hz }
    }

    fn pmu(&self, offset: usize) -> *mut u32 {
        (self.pmu_global + offset) as *mut u32
    }

    /// Arm the watchdog to reset the system after `timeout` (as close as
    /// the counter allows). Returns whether it is there: false when ZMR
    /// does not read back enabled (QEMU models no SWDT).
    pub fn start(&self, timeout: Duration) -> bool {
        let crv = crv_for(timeout, self.clock_hz);
        self.regs.zmr.write(ZMR::ZKEY::Key);
        self.regs.ccr.write(CCR::CKEY::Key + CCR::CRV.val(crv) + CCR::CLKSEL::Div4096);
        // SAFETY: PMU_GLOBAL registers of the boot core's own error
        // management; read-modify-write as the FSBL does.
        unsafe {
            core::ptr::write_volatile(self.pmu(ERROR_SRST_EN_1), FPD_SWDT_ERROR);
            let en = core::ptr::read_volatile(self.pmu(ERROR_EN_1));
            core::ptr::write_volatile(self.pmu(ERROR_EN_1), en | FPD_SWDT_ERROR);
        }
        self.regs.zmr.write(ZMR::ZKEY::Key + ZMR::RSTEN::SET + ZMR::WDEN::SET);
        self.restart();
        self.regs.zmr.is_set(ZMR::WDEN)
    }

    /// Whether this watchdog's expiry is latched in PMU_GLOBAL (it reset
    /// the last boot), clearing it so that the next boot starts afresh.
    /// Under QEMU (no PMU_GLOBAL) always false. A PMU firmware that
    /// handles FPD_SWDT errors itself may clear the bit first; then a card
    /// that hangs every boot makes the board reset until it is taken out.
    pub fn take_expired(&self) -> bool {
        // SAFETY: PMU_GLOBAL's error status register; reading has no side
        // effect, writing 1 clears the bit (UG1087).
        unsafe {
            let latched = core::ptr::read_volatile(self.pmu(ERROR_STATUS_1)) & FPD_SWDT_ERROR != 0;
            if latched {
                core::ptr::write_volatile(self.pmu(ERROR_STATUS_1), FPD_SWDT_ERROR);
            }
            latched
        }
    }

    /// Feed it: the counter starts again from the restart value.
    pub fn restart(&self) {
        self.regs.restart.set(RESTART_KEY);
    }

    /// Stop it, and the PMU's reset on its error.
    pub fn stop(&self) {
        self.regs.zmr.write(ZMR::ZKEY::Key);
        // SAFETY: as in `start`.
        unsafe {
            let en = core::ptr::read_volatile(self.pmu(ERROR_EN_1));
            core::ptr::write_volatile(self.pmu(ERROR_EN_1), en & !FPD_SWDT_ERROR);
            core::ptr::write_volatile(self.pmu(ERROR_SRST_DIS_1), FPD_SWDT_ERROR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn restart_value_gives_the_timeout() {
        // 10 s at 100 MHz: 10 / (4096 / 1e8) = 244140 ticks, >> 12 = 59;
        // (59 + 1) * 2^24 / 1e8 = 10.07 s.
        assert_eq!(crv_for(Duration::from_secs(10), 100_000_000), 59);
        let t = timeout_of(59, 100_000_000).as_secs_f64();
        assert!((10.0..=10.1).contains(&t), "{t}");
        assert_eq!(crv_for(Duration::from_secs(10_000), 100_000_000), 0xfff);
        assert_eq!(crv_for(Duration::from_millis(1), 100_000_000), 1);
    }

    /// An SWDT and a PMU_GLOBAL block over the same zeroed block of RAM
    /// (QEMU has neither): its address and the driver.
    fn in_ram() -> (usize, Swdt) {
        #[repr(C, align(4096))]
        struct Blocks([u32; 0x200]);
        static mut RAM: Blocks = Blocks([0; 0x200]);
        // SAFETY: the tests run one at a time and each owns RAM while it
        // runs; the SWDT block sits at its start and the PMU registers
        // used (0x530 to 0x5a0) fit inside it.
        unsafe {
            let base = core::ptr::addr_of_mut!(RAM) as usize;
            core::ptr::write_bytes(base as *mut u32, 0, 0x200);
            (base, Swdt::new(base, base, 100_000_000))
        }
    }

    /// The register values against a block in RAM (QEMU has none): the
    /// keys, the prescaler, CRV, the reset output, the PMU's error bits.
    #[test_case]
    fn start_and_stop_write_the_keyed_values() {
        let (base, w) = in_ram();
        let word = |off: usize| unsafe { core::ptr::read_volatile((base + off) as *const u32) };
        assert!(w.start(Duration::from_secs(10)), "RAM reads back what was written");
        assert_eq!(word(0x00), 0xabc << 12 | 0b11, "ZMR: key, reset output, enabled");
        assert_eq!(word(0x04), 0x248 << 14 | 59 << 2 | 3, "CCR: key, CRV 59, divide by 4096");
        assert_eq!(word(0x08), 0x1999, "RESTART key");
        assert_eq!(word(ERROR_SRST_EN_1), 1 << 13);
        assert_eq!(word(ERROR_EN_1), 1 << 13);
        w.stop();
        assert_eq!(word(0x00), 0xabc << 12, "ZMR: key, disabled");
        assert_eq!(word(ERROR_EN_1), 0);
        assert_eq!(word(ERROR_SRST_DIS_1), 1 << 13);
    }

    /// The expiry latched in PMU_GLOBAL is seen once and cleared by
    /// writing its bit (in RAM the write shows as the bit written; other
    /// latched errors are not touched).
    #[test_case]
    fn an_expiry_of_the_last_boot_is_seen_and_cleared() {
        let (base, w) = in_ram();
        let status = (base + ERROR_STATUS_1) as *mut u32;
        // SAFETY: inside RAM.
        unsafe { core::ptr::write_volatile(status, 1 << 12) };
        assert!(!w.take_expired(), "the LPD watchdog's bit is not ours");
        // SAFETY: inside RAM.
        assert_eq!(unsafe { core::ptr::read_volatile(status) }, 1 << 12, "nothing written");
        // SAFETY: inside RAM.
        unsafe { core::ptr::write_volatile(status, FPD_SWDT_ERROR | 1 << 12) };
        assert!(w.take_expired());
        // SAFETY: inside RAM.
        assert_eq!(unsafe { core::ptr::read_volatile(status) }, FPD_SWDT_ERROR, "write-1-to-clear of the FPD bit alone");
    }
}
