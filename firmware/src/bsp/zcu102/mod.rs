//! ZCU102 board: which peripheral sits where, and its clocks.
pub mod apu;
pub mod memory;

use crate::drivers::cadence_uart::{BaudDivisors, CadenceUart};

/// UART0: the console (USB-UART interface 0 on the board, stdio in QEMU).
pub const UART0_BASE: usize = 0xff00_0000;
/// UART1: the defmt log stream (USB-UART interface 1, a file in QEMU).
pub const UART1_BASE: usize = 0xff01_0000;
/// UART reference clock of the ZCU102 reference design (Xilinx's published
/// board parameters): "100 MHz".
pub const UART_REF_HZ: u32 = 99_998_999;
pub const CONSOLE_BAUD: u32 = 115_200;

/// Divisors for 115200 baud, computed at compile time.
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

/// Bring both UARTs up at 115200 8N1.
///
/// # Safety
/// Call once at boot, before anything prints.
pub unsafe fn init_uarts() {
    console_uart().init(CONSOLE_DIVISORS);
    log_uart().init(CONSOLE_DIVISORS);
}

/// SD1: the ZCU102's card slot (QEMU: `-drive if=sd,index=1`).
pub const SD1_BASE: usize = 0xff17_0000;

/// The card-slot controller.
pub fn sd_card() -> crate::drivers::sdhci::Sdhci {
    // SAFETY: SD1's SDHCI register block is at this address, mapped as
    // device memory; the console owns the one handle that issues commands.
    unsafe { crate::drivers::sdhci::Sdhci::new(SD1_BASE) }
}

/// CSU PCAP_STATUS (Xilinx UG1087): bit 3 PL_DONE is set once a bitstream
/// has configured the PL.
pub const CSU_PCAP_STATUS: usize = 0xffca_3010;
pub const PCAP_STATUS_PL_DONE: u32 = 1 << 3;

/// Read PCAP_STATUS.
pub fn pcap_status() -> u32 {
    // SAFETY: a read-only status register of the CSU, mapped as device
    // memory; reading it has no side effects.
    unsafe { core::ptr::read_volatile(CSU_PCAP_STATUS as *const u32) }
}

/// ZynqMP soft reset through CRL_APB.RESET_CTRL, as the PMU firmware does:
/// the whole PS restarts (returns only if the write had no effect).
pub fn soft_reset() {
    const CRL_APB_RESET_CTRL: usize = 0xff5e_0218;
    const SOFT_RESET: u32 = 1 << 4;
    // SAFETY: CRL_APB.RESET_CTRL is a device register; setting SOFT_RESET
    // resets the whole PS, which is the intent.
    unsafe { core::ptr::write_volatile(CRL_APB_RESET_CTRL as *mut u32, SOFT_RESET) };
}

/// GIC-400 distributor and CPU interface (ZynqMP UG1085, "System
/// Addresses": GICD 0xF901_0000, GICC 0xF902_0000).
pub const GICD_BASE: usize = 0xf901_0000;
pub const GICC_BASE: usize = 0xf902_0000;

/// The interrupt controller; the cores use it only to wake each other.
pub fn gic() -> crate::drivers::gic400::Gic400 {
    // SAFETY: the GIC-400's distributor and CPU interface are at these
    // addresses, inside the peripheral range the MMU maps as device memory.
    unsafe { crate::drivers::gic400::Gic400::new(GICD_BASE, GICC_BASE) }
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
