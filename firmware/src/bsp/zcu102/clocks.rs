//! Reading the PS clock tree: the rate of a reference clock, decoded from
//! the PLL and divider registers psu_init programmed (Zynq UltraScale+ TRM
//! UG1085, "Clocking"; register fields from UG1087, CRL_APB and CRF_APB).
//! Reads go through `probe`, so a register the platform does not have
//! (QEMU models neither CRL_APB nor the LPD side of CRF_APB) reads as
//! "unknown", never as a crash.
use crate::arch::aarch64::probe;

/// The ZCU102's PS_REF_CLK: a 33.3333 MHz oscillator (UG1182).
pub const PS_REF_CLK_HZ: u64 = 33_333_333;

// Register addresses (UG1087 CRL_APB and CRF_APB; the same offsets as
// psu_init.c's CRL_APB_*_OFFSET / CRF_APB_*_OFFSET and TF-A's zynqmp_def.h,
// whose clock registers start at CRL_APB + 0x20 and CRF_APB + 0x20). The
// test at the end pins each one.
const CRL_APB: u64 = 0xff5e_0000;
const CRF_APB: u64 = 0xfd1a_0000;
const IOPLL_CTRL: u64 = CRL_APB + 0x20;
const RPLL_CTRL: u64 = CRL_APB + 0x30;
const SDIO1_REF_CTRL: u64 = CRL_APB + 0x70;
const UART0_REF_CTRL: u64 = CRL_APB + 0x74;
const UART1_REF_CTRL: u64 = CRL_APB + 0x78;
const PL0_REF_CTRL: u64 = CRL_APB + 0xc0;
const DPLL_CTRL: u64 = CRF_APB + 0x2c;
const VPLL_CTRL: u64 = CRF_APB + 0x38;
/// CRF_APB + 0x48 is APLL_TO_LPD_CTRL; DPLL's divider is the next one.
const DPLL_TO_LPD_CTRL: u64 = CRF_APB + 0x4c;
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
    decode_ref_clock(ctrl_addr, pll3, |a| probe::read_u32(a).ok())
}

/// `ref_clock` with the register reads handed in (`None`: not readable),
/// so the decoding can be tested with register values of our choosing.
fn decode_ref_clock(ctrl_addr: u64, pll3: (&'static str, u64, u64), read: impl Fn(u64) -> Option<u32>) -> RefClock {
    let Some(ctrl) = read(ctrl_addr) else {
        return RefClock { ctrl: None, active: false, source: "?", hz: None };
    };
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

/// UART0's (0) or UART1's (1) reference clock, the rate the baud
/// generator divides (UART0/1_REF_CTRL: source 3 is DPLL through
/// DPLL_TO_LPD, as for pl_clk0).
pub fn uart(which: usize) -> RefClock {
    let ctrl = if which == 0 { UART0_REF_CTRL } else { UART1_REF_CTRL };
    ref_clock(ctrl, ("DPLL", DPLL_CTRL, DPLL_TO_LPD_CTRL))
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

    /// pl_clk0 from DPLL (source 3): the rate goes through DPLL_TO_LPD's
    /// divisor, read from CRF_APB + 0x4c; APLL_TO_LPD at + 0x48 holds
    /// another divisor and must not be used.
    #[test_case]
    fn source_3_goes_through_the_pll_to_lpd_divider() {
        let dpll = (64 << 8) | (1 << 16); // 33.3 MHz x 64 / 2
        let regs = [
            (PL0_REF_CTRL, (1 << 24) | (1 << 16) | (4 << 8) | 3),
            (DPLL_CTRL, dpll),
            (CRF_APB + 0x48, 7 << 8), // APLL_TO_LPD: a decoy
            (DPLL_TO_LPD_CTRL, 2 << 8),
        ];
        let read = |a| regs.iter().find(|(r, _)| *r == a).map(|(_, v)| *v);
        let c = decode_ref_clock(PL0_REF_CTRL, ("DPLL", DPLL_CTRL, DPLL_TO_LPD_CTRL), read);
        assert_eq!(c.source, "DPLL");
        assert!(c.active);
        assert_eq!(c.hz, Some(PS_REF_CLK_HZ * 64 / 2 / 2 / 4));
        // A register that cannot be read leaves the rate unknown, not wrong.
        let c = decode_ref_clock(UART0_REF_CTRL, ("DPLL", DPLL_CTRL, DPLL_TO_LPD_CTRL), |_| None);
        assert_eq!((c.ctrl, c.hz), (None, None));
    }

    /// The ZCU102 preset's UART reference: IOPLL (1500 MHz) / 15 / 1 =
    /// 100 MHz, what the baud generator divides; and under QEMU, which has
    /// no CRL_APB, the rate is unknown and the BSP uses the design value.
    #[test_case]
    fn uart_reference_clock_is_decoded_or_unknown() {
        let regs = [(UART0_REF_CTRL, (1 << 24) | (1 << 16) | (15 << 8)), (IOPLL_CTRL, (90 << 8) | (1 << 16))];
        let read = |a| regs.iter().find(|(r, _)| *r == a).map(|(_, v)| *v);
        let c = decode_ref_clock(UART0_REF_CTRL, ("DPLL", DPLL_CTRL, DPLL_TO_LPD_CTRL), read);
        assert_eq!((c.source, c.hz), ("IOPLL", Some(PS_REF_CLK_HZ * 90 / 2 / 15)));
        assert_eq!(uart(0).hz, None, "QEMU models no CRL_APB: {:?}", uart(0));
        assert_eq!(super::super::uart_ref_hz(0), (super::super::UART_REF_HZ, false));
    }

    /// Every clock register address against UG1087 (absolute addresses as
    /// the register reference lists them, and as psu_init.c writes them).
    #[test_case]
    fn clock_register_addresses_are_ug1087s() {
        for (name, have, want) in [
            ("CRL_APB IOPLL_CTRL", IOPLL_CTRL, 0xff5e_0020),
            ("CRL_APB RPLL_CTRL", RPLL_CTRL, 0xff5e_0030),
            ("CRL_APB SDIO1_REF_CTRL", SDIO1_REF_CTRL, 0xff5e_0070),
            ("CRL_APB UART0_REF_CTRL", UART0_REF_CTRL, 0xff5e_0074),
            ("CRL_APB UART1_REF_CTRL", UART1_REF_CTRL, 0xff5e_0078),
            ("CRL_APB PL0_REF_CTRL", PL0_REF_CTRL, 0xff5e_00c0),
            ("CRF_APB DPLL_CTRL", DPLL_CTRL, 0xfd1a_002c),
            ("CRF_APB VPLL_CTRL", VPLL_CTRL, 0xfd1a_0038),
            ("CRF_APB DPLL_TO_LPD_CTRL", DPLL_TO_LPD_CTRL, 0xfd1a_004c),
            ("CRF_APB VPLL_TO_LPD_CTRL", VPLL_TO_LPD_CTRL, 0xfd1a_0050),
        ] {
            assert_eq!(have, want, "{name}");
        }
    }
}
