//! Reading the PS clock tree: the rate of a reference clock, decoded from
//! the PLL and divider registers psu_init programmed (Zynq UltraScale+ TRM
//! UG1085, "Clocking"; register fields from UG1087, CRL_APB and CRF_APB).
//! Reads go through `probe`, so a register the platform does not have
//! (QEMU models neither CRL_APB nor the LPD side of CRF_APB) reads as
//! "unknown", never as a crash.
use crate::arch::aarch64::probe;

/// The ZCU102's PS_REF_CLK: a 33.3333 MHz oscillator (UG1182).
pub const PS_REF_CLK_HZ: u64 = 33_333_333;

const CRL_APB: u64 = 0xff5e_0000;
const CRF_APB: u64 = 0xfd1a_0000;
const IOPLL_CTRL: u64 = CRL_APB + 0x20;
const RPLL_CTRL: u64 = CRL_APB + 0x30;
const SDIO1_REF_CTRL: u64 = CRL_APB + 0x70;
const PL0_REF_CTRL: u64 = CRL_APB + 0xc0;
const DPLL_CTRL: u64 = CRF_APB + 0x2c;
const VPLL_CTRL: u64 = CRF_APB + 0x38;
const DPLL_TO_LPD_CTRL: u64 = CRF_APB + 0x48;
const VPLL_TO_LPD_CTRL: u64 = CRF_APB + 0x50;

/// PLL output from its xPLL_CTRL: PS_REF_CLK x FBDIV (bits 14:8), halved
/// with DIV2 (bit 16); bypassed (bit 3): the reference; in reset (bit 0):
/// none. Only PRE_SRC 0 (PS_REF_CLK) is decoded; fractional mode is not.
pub fn pll_hz(ctrl: u32) -> Option<u64> {
    let pre_src = (ctrl >> 20) & 7;
    if pre_src != 0 {
        return None;
    }
    if ctrl & (1 << 3) != 0 {
        return Some(PS_REF_CLK_HZ);
    }
    let fbdiv = ((ctrl >> 8) & 0x7f) as u64;
    if ctrl & 1 != 0 || fbdiv == 0 {
        return None;
    }
    Some(PS_REF_CLK_HZ * fbdiv / if ctrl & (1 << 16) != 0 { 2 } else { 1 })
}

/// A peripheral reference clock: its control register and what it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefClock {
    /// The control register, or None if it could not be read.
    pub ctrl: Option<u32>,
    /// CLKACT (bit 24): the clock is running.
    pub active: bool,
    /// The source PLL's name (SRCSEL, bits 2:0).
    pub source: &'static str,
    /// The rate, when every register on the way could be read.
    pub hz: Option<u64>,
}

/// A `*_REF_CTRL` (SRCSEL 2:0, DIVISOR0 13:8, DIVISOR1 21:16, CLKACT 24)
/// whose source 3 is `pll3` (DPLL or VPLL) through its `*_TO_LPD` divider.
fn ref_clock(ctrl_addr: u64, pll3: (&'static str, u64, u64)) -> RefClock {
    let Ok(ctrl) = probe::read_u32(ctrl_addr) else {
        return RefClock { ctrl: None, active: false, source: "?", hz: None };
    };
    let read = |a| probe::read_u32(a).ok();
    let (source, src_hz) = match ctrl & 7 {
        0 => ("IOPLL", read(IOPLL_CTRL).and_then(pll_hz)),
        2 => ("RPLL", read(RPLL_CTRL).and_then(pll_hz)),
        3 => (pll3.0, read(pll3.1).and_then(pll_hz).zip(read(pll3.2)).and_then(|(hz, div)| match (div >> 8) & 0x3f {
            0 => None,
            d => Some(hz / d as u64),
        })),
        _ => ("?", None),
    };
    let (d0, d1) = ((ctrl >> 8) & 0x3f, (ctrl >> 16) & 0x3f);
    let hz = src_hz.filter(|_| d0 != 0 && d1 != 0).map(|hz| hz / d0 as u64 / d1 as u64);
    RefClock { ctrl: Some(ctrl), active: ctrl & (1 << 24) != 0, source, hz }
}

/// pl_clk0, the clock the accelerator runs on.
pub fn pl0() -> RefClock {
    ref_clock(PL0_REF_CTRL, ("DPLL", DPLL_CTRL, DPLL_TO_LPD_CTRL))
}

/// SD1's reference clock (the SD controller's base clock).
pub fn sdio1() -> RefClock {
    ref_clock(SDIO1_REF_CTRL, ("VPLL", VPLL_CTRL, VPLL_TO_LPD_CTRL))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ZCU102 preset: IOPLL FBDIV 90, DIV2 -> 1500 MHz; pl_clk0 from it
    /// with divisors 5 and 1 -> 300 MHz (what psu_init's values give).
    #[test_case]
    fn pll_and_divider_arithmetic() {
        let iopll = (90 << 8) | (1 << 16);
        assert_eq!(pll_hz(iopll), Some(PS_REF_CLK_HZ * 90 / 2));
        assert_eq!(pll_hz(iopll | 1), None, "in reset");
        assert_eq!(pll_hz(iopll | (1 << 3)), Some(PS_REF_CLK_HZ), "bypassed");
        assert_eq!(pll_hz(iopll | (2 << 20)), None, "another reference");
    }
}
