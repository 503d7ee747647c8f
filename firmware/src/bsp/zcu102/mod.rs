//! ZCU102 board: which peripheral sits where, and its clocks.
pub mod clocks;
pub mod memory;
pub mod pl;

use crate::drivers::cadence_uart::{BaudDivisors, CadenceUart, Setup};
use crate::drivers::sdhci::{Slot, SpeedMode};
use core::sync::atomic::{AtomicBool, Ordering};

/// UART0: the console (USB-UART interface 0 on the board, stdio in QEMU).
pub const UART0_BASE: usize = 0xff00_0000;
/// UART1: the defmt log stream (USB-UART interface 1, a file in QEMU).
pub const UART1_BASE: usize = 0xff01_0000;
/// UART reference clock of the ZCU102 reference design (Xilinx's published
/// board parameters): "100 MHz". Used when UART0/1_REF_CTRL cannot be
/// decoded (QEMU models no CRL_APB); on the board `uart_ref_hz` reads the
/// clock tree, as the SD reference clock does.
pub const UART_REF_HZ: u32 = 99_998_999;
pub const CONSOLE_BAUD: u32 = 115_200;

/// Divisors for 115200 baud from `UART_REF_HZ`, computed at compile time.
pub const CONSOLE_DIVISORS: BaudDivisors = match BaudDivisors::for_baud(UART_REF_HZ, CONSOLE_BAUD) {
    Some(d) => d,
    None => panic!("no UART divisor for the console baud rate"),
};

/// The console UART.
pub fn console_uart() -> CadenceUart {
    // SAFETY: UART0's register block is at this address and the MMU maps
    // the peripheral range as device memory.
    unsafe { CadenceUart::new(UART0_BASE) }
}

/// The log UART.
pub fn log_uart() -> CadenceUart {
    // SAFETY: as above, for UART1.
    unsafe { CadenceUart::new(UART1_BASE) }
}

/// Whether `init_uarts` kept the FSBL's setting (console, log).
static UARTS_KEPT: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];

/// The reference clock of UART0 (0) or UART1 (1) in Hz, and whether it was
/// decoded from CRL_APB (UART0/1_REF_CTRL through its PLL) rather than
/// taken from `UART_REF_HZ`. A decoded rate that is not running or too
/// slow for 115200 baud is not trusted.
pub fn uart_ref_hz(which: usize) -> (u32, bool) {
    match clocks::uart(which) {
        clocks::RefClock { active: true, hz: Some(hz), .. } if hz <= u32::MAX as u64 && BaudDivisors::for_baud(hz as u32, CONSOLE_BAUD).is_some() => {
            (hz as u32, true)
        }
        _ => (UART_REF_HZ, false),
    }
}

/// Bring both UARTs up at 115200 8N1 from their real reference clock
/// (keeping the FSBL's divisors when they already give that rate).
///
/// # Safety
/// Call once at boot, before anything prints.
pub unsafe fn init_uarts() {
    for (i, uart) in [console_uart(), log_uart()].iter().enumerate() {
        let (ref_hz, _) = uart_ref_hz(i);
        let div = BaudDivisors::for_baud(ref_hz, CONSOLE_BAUD).unwrap_or(CONSOLE_DIVISORS);
        let kept = matches!(uart.init(ref_hz, CONSOLE_BAUD, div), Setup::Kept(_));
        UARTS_KEPT[i].store(kept, Ordering::Relaxed);
    }
}

/// Whether the console (0) or log (1) UART kept the divisors it was found with.
pub fn uart_kept_fsbl_setup(which: usize) -> bool {
    UARTS_KEPT[which].load(Ordering::Relaxed)
}

/// SD1: the ZCU102's card slot (QEMU: `-drive if=sd,index=1`).
pub const SD1_BASE: usize = 0xff17_0000;
/// SD0: not wired to a slot on the ZCU102 (QEMU: `-drive if=sd,index=0`;
/// the firmware's tests use it).
pub const SD0_BASE: usize = 0xff16_0000;

/// SD reference clock of the ZCU102 design when the controller does not
/// say (its Capabilities base clock is 0): about 200 MHz (the board's
/// device tree: clock-frequency = <199998000>); read from the clock tree
/// when it can be.
pub const SD_REF_CLOCK_HZ: u32 = 200_000_000;

/// SD1 as the ZCU102 wires it: default speed limited to 19 MHz by the
/// level shifter (xsdps: SD_CLK_19_MHZ "for ZynqMP"), high speed allowed,
/// and no request for 1.8 V signalling (Xilinx's ZCU102 device tree,
/// linux-xlnx arch/arm64/boot/dts/xilinx/zynqmp-zcu102-revA.dts, marks
/// `&sdhci1` "SD1 with level shifter" `no-1-8-v`); a card the FSBL left at
/// 1.8 V is still handled.
pub fn sd1_slot() -> Slot {
    Slot {
        ref_clock_hz: clocks::sdio1().hz.map_or(SD_REF_CLOCK_HZ, |hz| hz as u32),
        default_speed_khz: 19_000,
        request_1v8: false,
        high_speed: true,
        // UG1182: the SD1 slot's card-detect switch reaches the controller
        // (MIO45, SD1 CD in the ZCU102 preset).
        card_detect: true,
        tap_delays: sd1_tap_delays,
    }
}

/// The card-slot controller.
pub fn sd_card() -> crate::drivers::sdhci::Sdhci {
    // SAFETY: SD1's SDHCI register block is at this address, mapped as
    // device memory; the console owns the one handle that issues commands.
    unsafe { crate::drivers::sdhci::Sdhci::new(SD1_BASE, sd1_slot()) }
}

/// IOU_SLCR registers of the SD tap delays and DLL (UG1087; xsdps_hw.h).
const IOU_SLCR: usize = 0xff18_0000;
const SD_ITAPDLY: usize = IOU_SLCR + 0x314;
const SD_OTAPDLY: usize = IOU_SLCR + 0x318;
const SD_DLL_CTRL: usize = IOU_SLCR + 0x358;

/// Tap delays for one controller: `shift` 0 for SD0, 16 for SD1 (the SD1
/// fields are the SD0 fields moved up 16 bits). XSdPs_SetTapDelay with
/// XSdPs_hsd_sdr25_tapdelay: DLL in reset, ITAP change window open, ITAP
/// enable, ITAP select (0x15), window closed, OTAP select (5), DLL out of
/// reset. Default speed and SDR12 take none: the fields are cleared (as
/// XSdPs_ConfigTapDelay does for a zero tap since sdps 3.11), so that taps
/// an FSBL left for a UHS mode do not carry over. OTAPDLYENA is cleared
/// with OTAPDLYSEL every time (sdps 3.11: "disable OTAPEN always"; TF-A's
/// pm_ioctl_sd_set_tapdelay clears it before it writes the output tap).
fn tap_delays(shift: u32, mode: SpeedMode) {
    // SAFETY: IOU_SLCR is mapped as device memory; only this controller's
    // fields change (read-modify-write), as the vendor driver does.
    tap_delay_writes(shift, mode, |a, clear, set| unsafe {
        let v = core::ptr::read_volatile(a as *const u32);
        core::ptr::write_volatile(a as *mut u32, (v & !clear) | set);
    })
}

/// The read-modify-writes of `tap_delays`, in order: (register, bits
/// cleared, bits set).
fn tap_delay_writes(shift: u32, mode: SpeedMode, mut rmw: impl FnMut(usize, u32, u32)) {
    const DLL_RST: u32 = 1 << 2;
    const ITAPCHGWIN: u32 = 1 << 9;
    const ITAPDLYENA: u32 = 1 << 8;
    const ITAPDLYSEL: u32 = 0xff;
    const OTAPDLYENA: u32 = 1 << 6;
    const OTAPDLYSEL: u32 = 0x3f;
    let (itap, otap) = match mode {
        SpeedMode::HighSpeed | SpeedMode::Sdr25 => (0x15, 0x05),
        SpeedMode::DefaultSpeed | SpeedMode::Sdr12 => (0, 0),
    };
    let enable = if itap != 0 { ITAPDLYENA } else { 0 };
    rmw(SD_DLL_CTRL, 0, DLL_RST << shift);
    rmw(SD_ITAPDLY, 0, ITAPCHGWIN << shift);
    rmw(SD_ITAPDLY, ITAPDLYENA << shift, enable << shift);
    rmw(SD_ITAPDLY, ITAPDLYSEL << shift, itap << shift);
    rmw(SD_ITAPDLY, ITAPCHGWIN << shift, 0);
    rmw(SD_OTAPDLY, (OTAPDLYENA | OTAPDLYSEL) << shift, otap << shift);
    rmw(SD_DLL_CTRL, DLL_RST << shift, 0);
}

pub fn sd0_tap_delays(mode: SpeedMode) {
    tap_delays(0, mode)
}

pub fn sd1_tap_delays(mode: SpeedMode) {
    tap_delays(16, mode)
}

/// FPD system watchdog (UG1087 FPD_SWDT) and the PMU_GLOBAL block whose
/// error logic turns its timeout into a system reset.
pub const FPD_SWDT_BASE: usize = 0xfd4d_0000;
pub const PMU_GLOBAL_BASE: usize = 0xffd8_0000;
/// The SWDT's clock (its APB clock, topsw_lsbus, in the ZCU102 reference
/// design: "100 MHz", 99 999 001 Hz in Xilinx's device tree for it).
pub const FPD_SWDT_CLOCK_HZ: u32 = 99_999_001;

/// The boot watchdog (see drivers::swdt).
pub fn boot_watchdog() -> crate::drivers::swdt::Swdt {
    // SAFETY: the FPD SWDT and PMU_GLOBAL blocks sit at these addresses in
    // the peripheral range, mapped as device memory; only the console's
    // boot path uses them.
    unsafe { crate::drivers::swdt::Swdt::new(FPD_SWDT_BASE, PMU_GLOBAL_BASE, FPD_SWDT_CLOCK_HZ) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IOU_SLCR's tap registers in RAM, as an FSBL may leave them for a UHS
    /// mode on both controllers: output tap enabled, taps selected.
    fn run(shift: u32, mode: SpeedMode) -> [u32; 3] {
        let fsbl = |v: u32| v | v << 16;
        let mut regs = [(SD_ITAPDLY, fsbl(0x100 | 0x3d)), (SD_OTAPDLY, fsbl(0x40 | 0x03)), (SD_DLL_CTRL, 0)];
        tap_delay_writes(shift, mode, |a, clear, set| {
            let r = regs.iter_mut().find(|(r, _)| *r == a).expect("an IOU_SLCR tap register");
            r.1 = (r.1 & !clear) | set;
        });
        [regs[0].1, regs[1].1, regs[2].1]
    }

    /// Default speed clears SD1's taps and both enables (the output tap's
    /// too: sdps 3.11), high speed sets the HSD taps with OTAPDLYENA clear;
    /// SD0's fields are left alone; the DLL ends out of reset.
    #[test_case]
    fn tap_delays_clear_otapdlyena_and_touch_only_their_controller() {
        let [itap, otap, dll] = run(16, SpeedMode::DefaultSpeed);
        assert_eq!((itap >> 16, otap >> 16, dll), (0, 0, 0));
        assert_eq!((itap & 0xffff, otap & 0xffff), (0x13d, 0x43), "SD0's fields changed");
        let [itap, otap, dll] = run(16, SpeedMode::HighSpeed);
        assert_eq!((itap >> 16, otap >> 16, dll), (0x100 | 0x15, 0x05, 0));
        let [itap, otap, _] = run(0, SpeedMode::Sdr25);
        assert_eq!((itap & 0xffff, otap & 0xffff), (0x115, 0x05));
    }
}
