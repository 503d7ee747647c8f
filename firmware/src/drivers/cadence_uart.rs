//! Cadence UART (Xilinx `uartps`), as on the ZynqMP's UART0/UART1.
//!
//! Polled TX/RX. The handle is stateless (all state is in the device), so
//! the exception and panic paths can open their own without a lock; only
//! core 0 runs Rust code.
//!
//! Every wait on the transmitter has a limit: a UART that is not enabled in
//! the hardware design (its reference clock off, or held in reset) never
//! drains its FIFO, and boot must not hang on it. After one such timeout
//! the UART is marked stalled and later bytes are dropped at once when the
//! FIFO is full (until `init` runs again).
use crate::arch::aarch64::time::Deadline;
use core::convert::Infallible;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// Control register.
    CR [
        RXRST  OFFSET(0) NUMBITS(1) [],
        TXRST  OFFSET(1) NUMBITS(1) [],
        RX_EN  OFFSET(2) NUMBITS(1) [],
        RX_DIS OFFSET(3) NUMBITS(1) [],
        TX_EN  OFFSET(4) NUMBITS(1) [],
        TX_DIS OFFSET(5) NUMBITS(1) [],
    ],
    /// Mode register.
    MR [
        CLKSEL OFFSET(0) NUMBITS(1) [RefClk = 0, RefClkDiv8 = 1],
        CHRL   OFFSET(1) NUMBITS(2) [Bits8 = 0, Bits7 = 2, Bits6 = 3],
        PAR    OFFSET(3) NUMBITS(3) [Even = 0, Odd = 1, Space = 2, Mark = 3, None = 4],
        NBSTOP OFFSET(6) NUMBITS(2) [One = 0, OneAndHalf = 1, Two = 2],
        CHMODE OFFSET(8) NUMBITS(2) [Normal = 0, AutoEcho = 1, LocalLoopback = 2, RemoteLoopback = 3],
    ],
    /// Channel status register.
    SR [
        RXEMPTY OFFSET(1) NUMBITS(1) [],
        RXFULL  OFFSET(2) NUMBITS(1) [],
        TXEMPTY OFFSET(3) NUMBITS(1) [],
        TXFULL  OFFSET(4) NUMBITS(1) [],
        TACTIVE OFFSET(11) NUMBITS(1) [],
    ],
    BAUDGEN [ CD OFFSET(0) NUMBITS(16) [] ],
    BAUDDIV [ BDIV OFFSET(0) NUMBITS(8) [] ],
];

register_structs! {
    pub RegisterBlock {
        (0x00 => cr: ReadWrite<u32, CR::Register>),
        (0x04 => mr: ReadWrite<u32, MR::Register>),
        (0x08 => ier: WriteOnly<u32>),
        (0x0c => idr: WriteOnly<u32>),
        (0x10 => imr: ReadOnly<u32>),
        (0x14 => isr: ReadWrite<u32>),
        (0x18 => baudgen: ReadWrite<u32, BAUDGEN::Register>),
        (0x1c => rxtout: ReadWrite<u32>),
        (0x20 => rxwm: ReadWrite<u32>),
        (0x24 => modemcr: ReadWrite<u32>),
        (0x28 => modemsr: ReadWrite<u32>),
        (0x2c => sr: ReadOnly<u32, SR::Register>),
        (0x30 => fifo: ReadWrite<u32>),
        (0x34 => bauddiv: ReadWrite<u32, BAUDDIV::Register>),
        (0x38 => @END),
    }
}

/// Baud generator setting: baud = ref / (cd * (bdiv + 1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaudDivisors {
    pub cd: u16,
    pub bdiv: u8,
}

impl BaudDivisors {
    /// The setting with the smallest error, smallest BDIV first on ties:
    /// the search of Xilinx's XUartPs_SetBaudRate. None if no setting
    /// comes within 3 % (the UART's tolerance).
    pub const fn for_baud(ref_hz: u32, baud: u32) -> Option<Self> {
        let mut best: Option<(u64, BaudDivisors)> = None;
        let mut bdiv = 4u32;
        while bdiv <= 254 {
            let div = baud as u64 * (bdiv as u64 + 1);
            let cd = (ref_hz as u64 + div / 2) / div;
            if cd >= 1 && cd <= 0xffff {
                let actual = ref_hz as u64 / (cd * (bdiv as u64 + 1));
                let err = actual.abs_diff(baud as u64);
                let better = match best {
                    None => true,
                    Some((e, _)) => err < e,
                };
                if better {
                    best = Some((err, BaudDivisors { cd: cd as u16, bdiv: bdiv as u8 }));
                }
            }
            bdiv += 1;
        }
        match best {
            Some((err, d)) if err * 100 <= baud as u64 * 3 => Some(d),
            _ => None,
        }
    }

    /// The rate this setting produces from `ref_hz`.
    pub const fn actual_baud(self, ref_hz: u32) -> u32 {
        ref_hz / (self.cd as u32 * (self.bdiv as u32 + 1))
    }
}

/// One Cadence UART.
pub struct CadenceUart {
    regs: &'static RegisterBlock,
}

/// Longest a working transmitter takes to empty a full 64-byte FIFO and
/// its shift register: 65 characters of 10 bits at 9600 baud are 68 ms
/// (at the console's 115200 baud, 5.6 ms).
pub const TX_DRAIN_LIMIT: Duration = Duration::from_millis(100);

/// Longest a full FIFO may wait for room for one more byte: one character
/// time at 9600 baud is about 1 ms; ten times that is a stalled UART.
pub const TX_ROOM_LIMIT: Duration = Duration::from_millis(10);

/// The transmitter did not finish within its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStalled;

/// Base addresses of UARTs whose transmitter stalled (0: free slot).
static STALLED: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// How `init` left the UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// The FSBL (or another loader) had it enabled at 8N1 with divisors
    /// that give the requested rate: they were kept, and nothing was reset.
    Kept(BaudDivisors),
    /// Programmed here with these divisors.
    Programmed(BaudDivisors),
}

/// Whether a UART found with control `cr`, mode `mr` and divisors `div`
/// already runs at `baud` 8N1 from `ref_hz` (within 2 %, inside the UART's
/// tolerance), so that its divisors should be kept.
pub fn already_configured(cr: u32, mr: u32, div: BaudDivisors, ref_hz: u32, baud: u32) -> bool {
    let cr = tock_registers::LocalRegisterCopy::<u32, CR::Register>::new(cr);
    let mr = tock_registers::LocalRegisterCopy::<u32, MR::Register>::new(mr);
    let enabled = cr.is_set(CR::TX_EN) && !cr.is_set(CR::TX_DIS);
    let eight_n_one = mr.matches_all(MR::CLKSEL::RefClk + MR::CHRL::Bits8 + MR::PAR::None + MR::NBSTOP::One + MR::CHMODE::Normal);
    // BDIV below 4 and CD 0 are not valid settings (XUartPs_SetBaudRate).
    let valid = div.cd >= 1 && div.bdiv >= 4;
    enabled && eight_n_one && valid && div.actual_baud(ref_hz).abs_diff(baud) * 50 <= baud
}

impl CadenceUart {
    /// # Safety
    /// `base` must be the address of a Cadence UART register block, mapped
    /// as device memory for the whole program.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: guaranteed by the caller.
        CadenceUart { regs: unsafe { &*(base as *const RegisterBlock) } }
    }

    fn base(&self) -> usize {
        self.regs as *const RegisterBlock as usize
    }

    fn stalled(&self) -> bool {
        STALLED.iter().any(|s| s.load(Ordering::Relaxed) == self.base())
    }

    fn mark_stalled(&self, on: bool) {
        if on {
            if !self.stalled() {
                if let Some(slot) = STALLED.iter().find(|s| s.load(Ordering::Relaxed) == 0) {
                    slot.store(self.base(), Ordering::Relaxed);
                }
            }
        } else {
            STALLED.iter().filter(|s| s.load(Ordering::Relaxed) == self.base()).for_each(|s| s.store(0, Ordering::Relaxed));
        }
    }

    /// Enable TX and RX at 8N1 and `baud` from a reference clock of
    /// `ref_hz`: keep what the FSBL set up when it already gives that rate
    /// (it computed the divisors from the design's real reference clock),
    /// else reset the transmitter and program `div`.
    pub fn init(&self, ref_hz: u32, baud: u32, div: BaudDivisors) -> Setup {
        self.mark_stalled(false);
        let found = self.divisors();
        if already_configured(self.regs.cr.get(), self.regs.mr.get(), found, ref_hz, baud) {
            // Only make sure the receiver is on too; no reset, so nothing
            // the FSBL queued is lost.
            self.regs.cr.write(CR::TX_EN::SET + CR::RX_EN::SET);
            return Setup::Kept(found);
        }
        let _ = self.flush_tx();
        self.regs.cr.write(CR::TX_DIS::SET + CR::RX_DIS::SET);
        self.regs.mr.write(MR::CLKSEL::RefClk + MR::CHRL::Bits8 + MR::PAR::None + MR::NBSTOP::One + MR::CHMODE::Normal);
        self.regs.baudgen.write(BAUDGEN::CD.val(div.cd as u32));
        self.regs.bauddiv.write(BAUDDIV::BDIV.val(div.bdiv as u32));
        self.regs.idr.set(0xffff_ffff);
        // Reset TX only: bytes already in the RX FIFO were typed (or piped)
        // before the console came up, and belong to the first command.
        self.regs.cr.write(CR::TXRST::SET);
        self.regs.cr.write(CR::TX_EN::SET + CR::RX_EN::SET);
        Setup::Programmed(div)
    }

    /// Divisors currently programmed (for `info` and tests).
    pub fn divisors(&self) -> BaudDivisors {
        BaudDivisors {
            cd: self.regs.baudgen.read(BAUDGEN::CD) as u16,
            bdiv: self.regs.bauddiv.read(BAUDDIV::BDIV) as u8,
        }
    }

    /// Queue one byte. If the FIFO stays full for `TX_ROOM_LIMIT` the
    /// transmitter is stalled: the byte is dropped, and so are later ones
    /// that find the FIFO full, without waiting again.
    pub fn write_byte(&self, b: u8) {
        if self.regs.sr.is_set(SR::TXFULL) {
            if self.stalled() {
                return;
            }
            let d = Deadline::after(TX_ROOM_LIMIT);
            while self.regs.sr.is_set(SR::TXFULL) {
                if d.expired() {
                    self.mark_stalled(true);
                    return;
                }
                core::hint::spin_loop();
            }
        }
        self.regs.fifo.set(b as u32);
    }

    pub fn try_read_byte(&self) -> Option<u8> {
        if self.regs.sr.is_set(SR::RXEMPTY) {
            None
        } else {
            Some(self.regs.fifo.get() as u8)
        }
    }

    pub fn read_byte(&self) -> u8 {
        loop {
            if let Some(b) = self.try_read_byte() {
                return b;
            }
            core::hint::spin_loop();
        }
    }

    /// Wait until the transmitter has sent everything, at most
    /// `TX_DRAIN_LIMIT`.
    pub fn flush_tx(&self) -> Result<(), TxStalled> {
        let busy = || !self.regs.sr.is_set(SR::TXEMPTY) || self.regs.sr.is_set(SR::TACTIVE);
        if busy() && self.stalled() {
            return Err(TxStalled);
        }
        let d = Deadline::after(TX_DRAIN_LIMIT);
        while busy() {
            if d.expired() {
                self.mark_stalled(true);
                return Err(TxStalled);
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    /// Enable or disable local loopback (TX looped to RX inside the UART).
    pub fn set_loopback(&self, on: bool) {
        self.regs.mr.modify(if on { MR::CHMODE::LocalLoopback } else { MR::CHMODE::Normal });
    }
}

impl embedded_io::ErrorType for CadenceUart {
    type Error = Infallible;
}

impl embedded_io::Write for CadenceUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        buf.iter().for_each(|&b| self.write_byte(b));
        Ok(buf.len())
    }
    /// A stalled transmitter is not an I/O error the caller could act on;
    /// `flush_tx` reports it to those who care.
    fn flush(&mut self) -> Result<(), Infallible> {
        let _ = self.flush_tx();
        Ok(())
    }
}

impl embedded_io::Read for CadenceUart {
    /// Blocks until at least one byte arrived, then returns what the FIFO holds.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.read_byte();
        let mut n = 1;
        while n < buf.len() {
            match self.try_read_byte() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for CadenceUart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.regs.sr.is_set(SR::RXEMPTY))
    }
}

/// Text output with terminal line endings.
impl fmt::Write for CadenceUart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsp::zcu102;

    /// Xilinx's published ZCU102 setting for 115200 baud from its UART
    /// reference clock is CD=124, BDIV=6 (../shared/notes); our search must
    /// find the same one.
    fn divisors_match_xilinx_for_115200() {
        let d = BaudDivisors::for_baud(zcu102::UART_REF_HZ, 115_200).unwrap();
        assert_eq!(d, BaudDivisors { cd: 124, bdiv: 6 });
        let err = d.actual_baud(zcu102::UART_REF_HZ).abs_diff(115_200);
        assert!(err * 1000 < 115_200, "baud error {err} is 0.1 % or more");
    }
    #[test_case]
    fn divisors_for_115200() {
        divisors_match_xilinx_for_115200()
    }

    #[test_case]
    fn divisors_reject_impossible_rates() {
        assert_eq!(BaudDivisors::for_baud(zcu102::UART_REF_HZ, 100_000_000), None);
    }

    #[test_case]
    fn console_uart_is_programmed_with_those_divisors() {
        assert_eq!(zcu102::console_uart().divisors(), zcu102::CONSOLE_DIVISORS);
    }

    /// The FSBL's setting is kept when it gives 115200 8N1 (here: the
    /// divisors Xilinx's driver computes, and a neighbour within 2 %); the
    /// reset values (9600 baud), a disabled transmitter or 7-bit frames are
    /// reprogrammed.
    #[test_case]
    fn fsbl_divisors_are_kept_only_when_they_give_the_rate() {
        let ref_hz = zcu102::UART_REF_HZ;
        let on = (CR::TX_EN::SET + CR::RX_EN::SET).value;
        let n81 = (MR::CHRL::Bits8 + MR::PAR::None + MR::NBSTOP::One).value;
        let xilinx = BaudDivisors { cd: 124, bdiv: 6 };
        assert!(already_configured(on, n81, xilinx, ref_hz, 115_200));
        assert!(already_configured(on, n81, BaudDivisors { cd: 123, bdiv: 6 }, ref_hz, 115_200));
        let reset = BaudDivisors { cd: 0x28b, bdiv: 0xf };
        assert!(!already_configured(on, n81, reset, ref_hz, 115_200), "reset values are 9600 baud");
        let disabled = (CR::TX_DIS::SET + CR::RX_DIS::SET).value;
        assert!(!already_configured(disabled, n81, xilinx, ref_hz, 115_200));
        let seven_bits = (MR::CHRL::Bits7 + MR::PAR::None + MR::NBSTOP::One).value;
        assert!(!already_configured(on, seven_bits, xilinx, ref_hz, 115_200));
        assert!(!already_configured(on, n81, BaudDivisors { cd: 0, bdiv: 6 }, ref_hz, 115_200));
    }

    /// A UART that never drains (its reference clock off: here a register
    /// block in RAM whose status says "not empty, FIFO full" forever) cannot
    /// hang a flush or a write; after the first timeout it costs nothing.
    #[test_case]
    fn a_uart_that_never_drains_times_out() {
        use crate::arch::aarch64::time::Instant;
        #[repr(C, align(8))]
        struct Block([u32; 16]);
        static mut DEAD: Block = Block([0; 16]);
        let base = core::ptr::addr_of_mut!(DEAD) as usize;
        // SAFETY: the test's own static block stands in for a UART.
        let uart = unsafe { CadenceUart::new(base) };
        // SR (0x2c): TXFULL set, TXEMPTY clear, TACTIVE set.
        // SAFETY: a write inside the test's block.
        unsafe { core::ptr::write_volatile((base + 0x2c) as *mut u32, (1 << 4) | (1 << 11)) };
        let t = Instant::now();
        assert_eq!(uart.flush_tx(), Err(TxStalled));
        let took = t.elapsed();
        assert!(took >= TX_DRAIN_LIMIT, "gave up after {took:?}");
        // Stalled now: more output is dropped without waiting.
        let t = Instant::now();
        for _ in 0..1000 {
            uart.write_byte(b'x');
        }
        assert_eq!(uart.flush_tx(), Err(TxStalled));
        assert!(t.elapsed() < TX_ROOM_LIMIT, "a stalled UART still costs {:?}", t.elapsed());
        // `init` clears the mark (and reprograms: the block shows TX disabled).
        // SAFETY: as above: TXEMPTY now, so init's flush returns at once.
        unsafe { core::ptr::write_volatile((base + 0x2c) as *mut u32, 1 << 3) };
        assert_eq!(uart.init(zcu102::UART_REF_HZ, 115_200, zcu102::CONSOLE_DIVISORS), Setup::Programmed(zcu102::CONSOLE_DIVISORS));
        assert_eq!(uart.flush_tx(), Ok(()));
        assert_eq!(uart.divisors(), zcu102::CONSOLE_DIVISORS);
    }

    /// UART1 in local loopback: what is sent comes back through the RX FIFO,
    /// through the embedded-io traits.
    #[test_case]
    fn loopback_through_embedded_io() {
        use embedded_io::{Read, ReadReady, Write};
        let mut uart = zcu102::log_uart();
        uart.flush().unwrap();
        while uart.try_read_byte().is_some() {}
        uart.set_loopback(true);
        uart.write_all(b"x-lic\n").unwrap();
        uart.flush().unwrap();
        let mut got = [0u8; 6];
        let mut n = 0;
        let deadline = crate::arch::aarch64::time::Deadline::after(core::time::Duration::from_secs(1));
        while n < got.len() && !deadline.expired() {
            if uart.read_ready().unwrap() {
                n += uart.read(&mut got[n..]).unwrap();
            }
        }
        uart.set_loopback(false);
        assert_eq!(&got[..n], b"x-lic\n");
    }
}
