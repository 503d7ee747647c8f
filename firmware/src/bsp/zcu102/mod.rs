//! ZCU102 board: which peripheral sits where, and its clocks.
pub mod memory;

use crate::drivers::cadence_uart::{BaudDivisors, CadenceUart, Setup};
use core::sync::atomic::{AtomicBool, Ordering};

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

/// Whether `init_uarts` kept the FSBL's setting (console, log).
static UARTS_KEPT: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];

/// Bring both UARTs up at 115200 8N1 (keeping the FSBL's divisors when
/// they already give that rate).
///
/// # Safety
/// Call once at boot, before anything prints.
pub unsafe fn init_uarts() {
    for (i, uart) in [console_uart(), log_uart()].iter().enumerate() {
        let kept = matches!(uart.init(UART_REF_HZ, CONSOLE_BAUD, CONSOLE_DIVISORS), Setup::Kept(_));
        UARTS_KEPT[i].store(kept, Ordering::Relaxed);
    }
}

/// Whether the console (0) or log (1) UART kept the divisors it was found with.
pub fn uart_kept_fsbl_setup(which: usize) -> bool {
    UARTS_KEPT[which].load(Ordering::Relaxed)
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
