//! Arasan SDHCI (SD Host Controller spec 3.00) of the ZynqMP, as on the
//! ZCU102's card slot (SD1). Identification at 400 kHz, then transfer
//! speed; 4-bit bus; single- and multi-block reads and writes (CMD17/18,
//! CMD24/25 with auto CMD12) through the buffer data port. Every wait has
//! a timeout; error status is decoded into [`SdError`]; transient errors
//! are retried a bounded number of times. Implements embedded-sdmmc's
//! `BlockDevice`.
//!
//! Standard-capacity cards (SDSC, byte addressing) and SDHC/SDXC (block
//! addressing) are both handled; QEMU presents images up to 2 GiB as SDSC.
use crate::arch::aarch64::time::Deadline;
use core::time::Duration;
use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    PRESENT_STATE [
        CMD_INHIBIT OFFSET(0) NUMBITS(1) [],
        DAT_INHIBIT OFFSET(1) NUMBITS(1) [],
        BUF_WRITE_ENABLE OFFSET(10) NUMBITS(1) [],
        BUF_READ_ENABLE OFFSET(11) NUMBITS(1) [],
        CARD_INSERTED OFFSET(16) NUMBITS(1) [],
        CARD_STABLE OFFSET(17) NUMBITS(1) [],
        WRITE_PROTECT_N OFFSET(19) NUMBITS(1) [],
    ],
    CAPABILITIES [
        BASE_CLOCK_MHZ OFFSET(8) NUMBITS(8) [],
        SDMA OFFSET(22) NUMBITS(1) [],
        ADMA2 OFFSET(19) NUMBITS(1) [],
    ],
];

register_bitfields![u16,
    TRANSFER_MODE [
        DMA_ENABLE OFFSET(0) NUMBITS(1) [],
        BLOCK_COUNT_ENABLE OFFSET(1) NUMBITS(1) [],
        AUTO_CMD12 OFFSET(2) NUMBITS(1) [],
        READ OFFSET(4) NUMBITS(1) [],
        MULTI_BLOCK OFFSET(5) NUMBITS(1) [],
    ],
    COMMAND [
        RESPONSE OFFSET(0) NUMBITS(2) [None = 0, Long136 = 1, Short48 = 2, Short48Busy = 3],
        CRC_CHECK OFFSET(3) NUMBITS(1) [],
        INDEX_CHECK OFFSET(4) NUMBITS(1) [],
        DATA_PRESENT OFFSET(5) NUMBITS(1) [],
        INDEX OFFSET(8) NUMBITS(6) [],
    ],
    CLOCK_CONTROL [
        INTERNAL_ENABLE OFFSET(0) NUMBITS(1) [],
        INTERNAL_STABLE OFFSET(1) NUMBITS(1) [],
        SD_CLOCK_ENABLE OFFSET(2) NUMBITS(1) [],
        FREQ_SELECT_HI OFFSET(6) NUMBITS(2) [],
        FREQ_SELECT OFFSET(8) NUMBITS(8) [],
    ],
    NORMAL_INT [
        CMD_COMPLETE OFFSET(0) NUMBITS(1) [],
        TRANSFER_COMPLETE OFFSET(1) NUMBITS(1) [],
        DMA_BOUNDARY OFFSET(3) NUMBITS(1) [],
        BUF_WRITE_READY OFFSET(4) NUMBITS(1) [],
        BUF_READ_READY OFFSET(5) NUMBITS(1) [],
        ERROR OFFSET(15) NUMBITS(1) [],
    ],
    ERROR_INT [
        CMD_TIMEOUT OFFSET(0) NUMBITS(1) [],
        CMD_CRC OFFSET(1) NUMBITS(1) [],
        CMD_END_BIT OFFSET(2) NUMBITS(1) [],
        CMD_INDEX OFFSET(3) NUMBITS(1) [],
        DATA_TIMEOUT OFFSET(4) NUMBITS(1) [],
        DATA_CRC OFFSET(5) NUMBITS(1) [],
        DATA_END_BIT OFFSET(6) NUMBITS(1) [],
        CURRENT_LIMIT OFFSET(7) NUMBITS(1) [],
        AUTO_CMD12 OFFSET(8) NUMBITS(1) [],
        ADMA OFFSET(9) NUMBITS(1) [],
    ],
];

register_bitfields![u8,
    HOST_CONTROL [
        DATA_WIDTH_4BIT OFFSET(1) NUMBITS(1) [],
        HIGH_SPEED OFFSET(2) NUMBITS(1) [],
        DMA_SELECT OFFSET(3) NUMBITS(2) [Sdma = 0, Adma2 = 2],
    ],
    POWER_CONTROL [
        POWER_ON OFFSET(0) NUMBITS(1) [],
        VOLTAGE OFFSET(1) NUMBITS(3) [V3_3 = 7, V3_0 = 6, V1_8 = 5],
    ],
    SOFTWARE_RESET [
        ALL OFFSET(0) NUMBITS(1) [],
        CMD OFFSET(1) NUMBITS(1) [],
        DAT OFFSET(2) NUMBITS(1) [],
    ],
];

register_structs! {
    pub RegisterBlock {
        (0x00 => sdma_address: ReadWrite<u32>),
        (0x04 => block_size: ReadWrite<u16>),
        (0x06 => block_count: ReadWrite<u16>),
        (0x08 => argument: ReadWrite<u32>),
        (0x0c => transfer_mode: ReadWrite<u16, TRANSFER_MODE::Register>),
        (0x0e => command: ReadWrite<u16, COMMAND::Register>),
        (0x10 => response: [ReadOnly<u32>; 4]),
        (0x20 => buffer: ReadWrite<u32>),
        (0x24 => present_state: ReadOnly<u32, PRESENT_STATE::Register>),
        (0x28 => host_control: ReadWrite<u8, HOST_CONTROL::Register>),
        (0x29 => power_control: ReadWrite<u8, POWER_CONTROL::Register>),
        (0x2a => block_gap: ReadWrite<u8>),
        (0x2b => wakeup: ReadWrite<u8>),
        (0x2c => clock_control: ReadWrite<u16, CLOCK_CONTROL::Register>),
        (0x2e => timeout_control: ReadWrite<u8>),
        (0x2f => software_reset: ReadWrite<u8, SOFTWARE_RESET::Register>),
        (0x30 => normal_int: ReadWrite<u16, NORMAL_INT::Register>),
        (0x32 => error_int: ReadWrite<u16, ERROR_INT::Register>),
        (0x34 => normal_int_enable: ReadWrite<u16>),
        (0x36 => error_int_enable: ReadWrite<u16>),
        (0x38 => normal_signal_enable: ReadWrite<u16>),
        (0x3a => error_signal_enable: ReadWrite<u16>),
        (0x3c => _reserved0),
        (0x40 => capabilities: ReadOnly<u32, CAPABILITIES::Register>),
        (0x44 => _reserved1),
        (0xfe => host_version: ReadOnly<u16>),
        (0x100 => @END),
    }
}

/// Why an SD operation failed, in words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdError {
    NoCard,
    /// A wait for the controller or the card ran out of time.
    Timeout { what: &'static str },
    CommandTimeout { cmd: u8 },
    CommandCrc { cmd: u8 },
    CommandEndBit { cmd: u8 },
    CommandIndex { cmd: u8 },
    DataTimeout,
    DataCrc,
    DataEndBit,
    AutoCmd12,
    OtherError { status: u16 },
    /// The card did not accept SD 2.0 voltage (CMD8 echo wrong).
    Unusable,
    /// A block address beyond the card.
    OutOfRange { block: u32, blocks: u32 },
    WriteProtected,
}

impl core::fmt::Display for SdError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            SdError::NoCard => write!(f, "no SD card in the slot"),
            SdError::Timeout { what } => write!(f, "SD controller timed out waiting for {what}"),
            SdError::CommandTimeout { cmd } => write!(f, "SD card did not answer CMD{cmd}"),
            SdError::CommandCrc { cmd } => write!(f, "CRC error in the response to CMD{cmd}"),
            SdError::CommandEndBit { cmd } => write!(f, "end-bit error in the response to CMD{cmd}"),
            SdError::CommandIndex { cmd } => write!(f, "wrong index in the response to CMD{cmd}"),
            SdError::DataTimeout => write!(f, "SD data transfer timed out"),
            SdError::DataCrc => write!(f, "CRC error in SD data"),
            SdError::DataEndBit => write!(f, "end-bit error in SD data"),
            SdError::AutoCmd12 => write!(f, "the card rejected the automatic stop (CMD12)"),
            SdError::OtherError { status } => write!(f, "SD controller error (status 0x{status:04x})"),
            SdError::Unusable => write!(f, "the card is not an SD 2.0 card at 3.3 V"),
            SdError::OutOfRange { block, blocks } => write!(f, "block {block} is beyond the card's {blocks} blocks"),
            SdError::WriteProtected => write!(f, "the card is write-protected"),
        }
    }
}

impl core::error::Error for SdError {}

impl SdError {
    /// Worth another try (electrical noise); the rest will not improve.
    fn transient(self) -> bool {
        matches!(self, SdError::CommandCrc { .. } | SdError::DataCrc | SdError::DataEndBit | SdError::CommandEndBit { .. } | SdError::DataTimeout)
    }
}

const RETRIES: usize = 3;
const BLOCK: usize = 512;
const CMD_TIMEOUT: Duration = Duration::from_millis(100);
const DATA_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Copy)]
enum Resp {
    None,
    R1,
    R1b,
    R2,
    R3,
    R6,
    R7,
}

/// The card, once identified.
#[derive(Clone, Copy, Debug)]
pub struct CardInfo {
    pub rca: u16,
    /// Block (SDHC/SDXC) rather than byte (SDSC) addressing.
    pub high_capacity: bool,
    pub blocks: u32,
    pub clock_khz: u32,
    pub bus_width: u8,
}

pub struct Sdhci {
    regs: &'static RegisterBlock,
    card: Option<CardInfo>,
}

/// SDMA stops at every 512 KiB boundary of the system address (block
/// size register bits 14:12 = 7); the driver then gives it the next one.
const SDMA_BOUNDARY_512K: u16 = 7 << 12;

impl Sdhci {
    /// # Safety
    /// `base` must be an SDHCI register block mapped as device memory.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: guaranteed by the caller.
        Sdhci { regs: unsafe { &*(base as *const RegisterBlock) }, card: None }
    }

    pub fn card(&self) -> Option<CardInfo> {
        self.card
    }

    pub fn card_present(&self) -> bool {
        self.regs.present_state.is_set(PRESENT_STATE::CARD_INSERTED)
    }

    fn wait(&self, what: &'static str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<(), SdError> {
        let d = Deadline::after(limit);
        loop {
            if done() {
                return Ok(());
            }
            if d.expired() {
                return Err(SdError::Timeout { what });
            }
            core::hint::spin_loop();
        }
    }

    fn reset(&self, what: tock_registers::fields::FieldValue<u8, SOFTWARE_RESET::Register>) -> Result<(), SdError> {
        self.regs.software_reset.write(what);
        self.wait("a software reset", CMD_TIMEOUT, || self.regs.software_reset.get() == 0)
    }

    /// SD clock = base / (2 N) (SDHCI 3.00 divided clock mode).
    fn set_clock(&self, khz: u32) -> Result<u32, SdError> {
        let base_khz = self.regs.capabilities.read(CAPABILITIES::BASE_CLOCK_MHZ).max(1) * 1000;
        let n = base_khz.div_ceil(2 * khz).clamp(1, 0x3ff);
        self.regs.clock_control.set(0);
        self.regs.clock_control.write(
            CLOCK_CONTROL::FREQ_SELECT.val((n & 0xff) as u16) + CLOCK_CONTROL::FREQ_SELECT_HI.val((n >> 8) as u16) + CLOCK_CONTROL::INTERNAL_ENABLE::SET,
        );
        self.wait("the internal clock", CMD_TIMEOUT, || self.regs.clock_control.is_set(CLOCK_CONTROL::INTERNAL_STABLE))?;
        self.regs.clock_control.modify(CLOCK_CONTROL::SD_CLOCK_ENABLE::SET);
        Ok(base_khz / (2 * n))
    }

    fn decode_error(&self, cmd: u8) -> SdError {
        let e = self.regs.error_int.extract();
        let err = if e.is_set(ERROR_INT::CMD_TIMEOUT) {
            SdError::CommandTimeout { cmd }
        } else if e.is_set(ERROR_INT::CMD_CRC) {
            SdError::CommandCrc { cmd }
        } else if e.is_set(ERROR_INT::CMD_END_BIT) {
            SdError::CommandEndBit { cmd }
        } else if e.is_set(ERROR_INT::CMD_INDEX) {
            SdError::CommandIndex { cmd }
        } else if e.is_set(ERROR_INT::DATA_TIMEOUT) {
            SdError::DataTimeout
        } else if e.is_set(ERROR_INT::DATA_CRC) {
            SdError::DataCrc
        } else if e.is_set(ERROR_INT::DATA_END_BIT) {
            SdError::DataEndBit
        } else if e.is_set(ERROR_INT::AUTO_CMD12) {
            SdError::AutoCmd12
        } else {
            SdError::OtherError { status: e.get() }
        };
        // Clear the latched errors and bring the command and data lines back.
        self.regs.error_int.set(0xffff);
        self.regs.normal_int.set(0xffff);
        let _ = self.reset(SOFTWARE_RESET::CMD::SET);
        let _ = self.reset(SOFTWARE_RESET::DAT::SET);
        err
    }

    /// Issue one command; returns response word 0 (all four for R2 in `out`).
    fn command(&self, cmd: u8, arg: u32, resp: Resp, data_mode: Option<u16>) -> Result<[u32; 4], SdError> {
        let busy = matches!(resp, Resp::R1b) || data_mode.is_some();
        self.wait("the command line", CMD_TIMEOUT, || !self.regs.present_state.is_set(PRESENT_STATE::CMD_INHIBIT))?;
        if busy {
            self.wait("the data line", DATA_TIMEOUT, || !self.regs.present_state.is_set(PRESENT_STATE::DAT_INHIBIT))?;
        }
        self.regs.normal_int.set(0xffff);
        self.regs.error_int.set(0xffff);
        self.regs.argument.set(arg);
        if let Some(mode) = data_mode {
            self.regs.transfer_mode.set(mode);
        }
        use COMMAND::RESPONSE::*;
        let (kind, crc, index) = match resp {
            Resp::None => (None, false, false),
            Resp::R2 => (Long136, true, false),
            Resp::R3 => (Short48, false, false),
            Resp::R1b => (Short48Busy, true, true),
            Resp::R1 | Resp::R6 | Resp::R7 => (Short48, true, true),
        };
        let mut v = COMMAND::INDEX.val(cmd as u16) + kind;
        if crc {
            v += COMMAND::CRC_CHECK::SET;
        }
        if index {
            v += COMMAND::INDEX_CHECK::SET;
        }
        if data_mode.is_some() {
            v += COMMAND::DATA_PRESENT::SET;
        }
        self.regs.command.write(v);
        let d = Deadline::after(CMD_TIMEOUT);
        loop {
            let st = self.regs.normal_int.extract();
            if st.is_set(NORMAL_INT::ERROR) {
                return Err(self.decode_error(cmd));
            }
            if st.is_set(NORMAL_INT::CMD_COMPLETE) {
                self.regs.normal_int.write(NORMAL_INT::CMD_COMPLETE::SET);
                break;
            }
            if d.expired() {
                return Err(SdError::Timeout { what: "a command to complete" });
            }
        }
        let r = [self.regs.response[0].get(), self.regs.response[1].get(), self.regs.response[2].get(), self.regs.response[3].get()];
        if matches!(resp, Resp::R1b) {
            self.wait_transfer_complete()?;
        }
        Ok(r)
    }

    fn app_command(&self, cmd: u8, arg: u32, resp: Resp) -> Result<[u32; 4], SdError> {
        let rca = self.card.map(|c| c.rca).unwrap_or(0);
        self.command(55, (rca as u32) << 16, Resp::R1, None)?;
        self.command(cmd, arg, resp, None)
    }

    fn wait_transfer_complete(&self) -> Result<(), SdError> {
        let d = Deadline::after(DATA_TIMEOUT);
        loop {
            let st = self.regs.normal_int.extract();
            if st.is_set(NORMAL_INT::ERROR) {
                return Err(self.decode_error(0));
            }
            if st.is_set(NORMAL_INT::TRANSFER_COMPLETE) {
                self.regs.normal_int.write(NORMAL_INT::TRANSFER_COMPLETE::SET);
                return Ok(());
            }
            if d.expired() {
                return Err(SdError::Timeout { what: "a data transfer to complete" });
            }
        }
    }

    /// Identify the card and bring it to the transfer state.
    pub fn init(&mut self) -> Result<CardInfo, SdError> {
        self.card = None;
        self.reset(SOFTWARE_RESET::ALL::SET)?;
        if !self.card_present() {
            return Err(SdError::NoCard);
        }
        self.regs.power_control.write(POWER_CONTROL::VOLTAGE::V3_3 + POWER_CONTROL::POWER_ON::SET);
        self.set_clock(400)?;
        self.regs.timeout_control.set(0x0e);
        // Latch every status bit (they are polled; no interrupt is signalled).
        self.regs.normal_int_enable.set(0xffff);
        self.regs.error_int_enable.set(0xffff);
        self.regs.normal_signal_enable.set(0);
        self.regs.error_signal_enable.set(0);

        self.command(0, 0, Resp::None, None)?;
        let r7 = self.command(8, 0x1aa, Resp::R7, None)?;
        if r7[0] & 0xfff != 0x1aa {
            return Err(SdError::Unusable);
        }
        // ACMD41 with HCS until the card leaves its busy state (up to 1 s).
        let d = Deadline::after(Duration::from_secs(1));
        let ocr = loop {
            let ocr = self.app_command(41, 0x40ff_8000, Resp::R3)?[0];
            if ocr & (1 << 31) != 0 {
                break ocr;
            }
            if d.expired() {
                return Err(SdError::Timeout { what: "the card to power up (ACMD41)" });
            }
        };
        let high_capacity = ocr & (1 << 30) != 0;
        self.command(2, 0, Resp::R2, None)?;
        let rca = (self.command(3, 0, Resp::R6, None)?[0] >> 16) as u16;
        let csd = self.command(9, (rca as u32) << 16, Resp::R2, None)?;
        let blocks = csd_blocks(&csd);
        self.command(7, (rca as u32) << 16, Resp::R1b, None)?;
        self.card = Some(CardInfo { rca, high_capacity, blocks, clock_khz: 400, bus_width: 1 });
        self.app_command(6, 2, Resp::R1)?;
        self.regs.host_control.modify(HOST_CONTROL::DATA_WIDTH_4BIT::SET);
        if !high_capacity {
            self.command(16, BLOCK as u32, Resp::R1, None)?;
        }
        // Default speed; the ZCU102's level shifter limits the slot to ~19 MHz.
        let khz = self.set_clock(19_000)?;
        let info = CardInfo { rca, high_capacity, blocks, clock_khz: khz, bus_width: 4 };
        self.card = Some(info);
        Ok(info)
    }

    fn address(&self, info: &CardInfo, block: u32) -> u32 {
        if info.high_capacity { block } else { block * BLOCK as u32 }
    }

    /// Check the range, program block size, count and transfer mode, and
    /// issue the read or write command (single or multiple blocks, auto
    /// CMD12). Returns the command index, for error reports.
    fn start_transfer(&self, start: u32, count: usize, read: bool, dma: Option<u64>) -> Result<u8, SdError> {
        let info = self.card.ok_or(SdError::NoCard)?;
        if start as u64 + count as u64 > info.blocks as u64 {
            return Err(SdError::OutOfRange { block: start + count as u32 - 1, blocks: info.blocks });
        }
        if !read && !self.regs.present_state.is_set(PRESENT_STATE::WRITE_PROTECT_N) {
            return Err(SdError::WriteProtected);
        }
        let mut mode = TRANSFER_MODE::BLOCK_COUNT_ENABLE::SET;
        match dma {
            Some(addr) => {
                defmt::debug!("sdma: {=str} {=u32} blocks at {=u32} via 0x{=u64:x}", if read { "read" } else { "write" }, count as u32, start, addr);
                self.regs.sdma_address.set(addr as u32);
                self.regs.block_size.set(BLOCK as u16 | SDMA_BOUNDARY_512K);
                mode += TRANSFER_MODE::DMA_ENABLE::SET;
            }
            None => self.regs.block_size.set(BLOCK as u16),
        }
        self.regs.block_count.set(count as u16);
        let multi = count > 1;
        if read {
            mode += TRANSFER_MODE::READ::SET;
        }
        if multi {
            mode += TRANSFER_MODE::MULTI_BLOCK::SET + TRANSFER_MODE::AUTO_CMD12::SET;
        }
        let cmd = match (read, multi) {
            (true, false) => 17,
            (true, true) => 18,
            (false, false) => 24,
            (false, true) => 25,
        };
        let mut tm = tock_registers::LocalRegisterCopy::<u16, TRANSFER_MODE::Register>::new(0);
        tm.write(mode);
        self.command(cmd, self.address(&info, start), Resp::R1, Some(tm.get()))?;
        Ok(cmd)
    }

    fn transfer(&self, start: u32, count: usize, read: bool, mut each: impl FnMut(usize, &mut [u32; 128])) -> Result<(), SdError> {
        let cmd = self.start_transfer(start, count, read, None)?;
        let ready = if read { NORMAL_INT::BUF_READ_READY } else { NORMAL_INT::BUF_WRITE_READY };
        let mut words = [0u32; 128];
        for b in 0..count {
            let d = Deadline::after(DATA_TIMEOUT);
            loop {
                let st = self.regs.normal_int.extract();
                if st.is_set(NORMAL_INT::ERROR) {
                    return Err(self.decode_error(cmd));
                }
                if st.is_set(ready) {
                    break;
                }
                if d.expired() {
                    return Err(SdError::Timeout { what: "the data buffer" });
                }
            }
            self.regs.normal_int.write(if read { NORMAL_INT::BUF_READ_READY::SET } else { NORMAL_INT::BUF_WRITE_READY::SET });
            if read {
                words.iter_mut().for_each(|w| *w = self.regs.buffer.get());
                each(b, &mut words);
            } else {
                each(b, &mut words);
                words.iter().for_each(|&w| self.regs.buffer.set(w));
            }
        }
        self.wait_transfer_complete()
    }

    /// Whether transfers use SDMA (the controller offers it).
    pub fn uses_dma(&self) -> bool {
        self.regs.capabilities.is_set(CAPABILITIES::SDMA)
    }

    /// Move `count` blocks between the card and the memory at `buf` with
    /// SDMA. The caller keeps the caches coherent and the buffer alive.
    fn transfer_dma(&self, start: u32, count: usize, read: bool, buf: u64) -> Result<(), SdError> {
        let cmd = self.start_transfer(start, count, read, Some(buf))?;
        let d = Deadline::after(DATA_TIMEOUT * (1 + count as u32 / 64));
        loop {
            let st = self.regs.normal_int.extract();
            if st.is_set(NORMAL_INT::ERROR) {
                return Err(self.decode_error(cmd));
            }
            if st.is_set(NORMAL_INT::TRANSFER_COMPLETE) {
                self.regs.normal_int.write(NORMAL_INT::TRANSFER_COMPLETE::SET + NORMAL_INT::DMA_BOUNDARY::SET);
                return Ok(());
            }
            if st.is_set(NORMAL_INT::DMA_BOUNDARY) {
                // Resume at the address the controller stopped at.
                self.regs.normal_int.write(NORMAL_INT::DMA_BOUNDARY::SET);
                self.regs.sdma_address.set(self.regs.sdma_address.get());
            }
            if d.expired() {
                defmt::warn!("sdma: timeout, normal 0x{=u16:x} error 0x{=u16:x} state 0x{=u32:x}", st.get(), self.regs.error_int.get(), self.regs.present_state.get());
                return Err(SdError::Timeout { what: "an SDMA transfer to complete" });
            }
        }
    }

    /// Read `count` blocks into `buf` (cache-line aligned, below 4 GiB),
    /// by SDMA when available, retrying transient errors.
    pub fn read_into(&self, start: u32, buf: &mut [u8]) -> Result<(), SdError> {
        let count = buf.len() / BLOCK;
        if !self.uses_dma() || buf.as_ptr() as u64 > u32::MAX as u64 {
            let blocks = buf.as_mut_ptr() as *mut Block;
            // SAFETY: Block is a plain 512-byte array; `buf` holds exactly
            // `count` of them and is exclusively borrowed.
            let blocks = unsafe { core::slice::from_raw_parts_mut(blocks, count) };
            return self.read_blocks(start, blocks);
        }
        retry(|| {
            crate::arch::aarch64::cache::invalidate(buf);
            self.transfer_dma(start, count, true, buf.as_ptr() as u64)?;
            crate::arch::aarch64::cache::invalidate(buf);
            Ok(())
        })
    }

    /// Write `buf` (whole blocks) from memory below 4 GiB, by SDMA when available.
    pub fn write_from(&self, start: u32, buf: &[u8]) -> Result<(), SdError> {
        let count = buf.len() / BLOCK;
        if !self.uses_dma() || buf.as_ptr() as u64 > u32::MAX as u64 {
            // SAFETY: as in `read_into`, for a shared borrow.
            let blocks = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const Block, count) };
            return self.write_blocks(start, blocks);
        }
        crate::arch::aarch64::cache::clean(buf);
        retry(|| self.transfer_dma(start, count, false, buf.as_ptr() as u64))
    }

    /// Read `blocks.len()` blocks from `start`, retrying transient errors.
    pub fn read_blocks(&self, start: u32, blocks: &mut [Block]) -> Result<(), SdError> {
        // The block count register is 16 bits: split long runs.
        for (i, chunk) in blocks.chunks_mut(u16::MAX as usize).enumerate() {
            let first = start + (i * u16::MAX as usize) as u32;
            retry(|| {
                self.transfer(first, chunk.len(), true, |b, w| {
                    for (j, word) in w.iter().enumerate() {
                        chunk[b].contents[4 * j..4 * j + 4].copy_from_slice(&word.to_le_bytes());
                    }
                })
            })?;
        }
        Ok(())
    }

    pub fn write_blocks(&self, start: u32, blocks: &[Block]) -> Result<(), SdError> {
        for (i, chunk) in blocks.chunks(u16::MAX as usize).enumerate() {
            let first = start + (i * u16::MAX as usize) as u32;
            retry(|| {
                self.transfer(first, chunk.len(), false, |b, w| {
                    for (j, word) in w.iter_mut().enumerate() {
                        *word = u32::from_le_bytes(chunk[b].contents[4 * j..4 * j + 4].try_into().unwrap());
                    }
                })
            })?;
        }
        Ok(())
    }
}

fn retry(mut op: impl FnMut() -> Result<(), SdError>) -> Result<(), SdError> {
    let mut last = Ok(());
    for _ in 0..RETRIES {
        last = op();
        match last {
            Err(e) if e.transient() => continue,
            _ => return last,
        }
    }
    last
}

/// Capacity in 512-byte blocks from the CSD (R2 response, CRC stripped:
/// the controller shifts the 120 bits [127:8] into response[0..4]).
fn csd_blocks(r: &[u32; 4]) -> u32 {
    let bits = |hi: u32, lo: u32| -> u32 {
        // Bit n of the CSD is bit (n - 8) of the 128-bit response value.
        let mut v = 0u32;
        for n in (lo..=hi).rev() {
            let i = n - 8;
            v = (v << 1) | ((r[(i / 32) as usize] >> (i % 32)) & 1);
        }
        v
    };
    match bits(127, 126) {
        // CSD 2.0: (C_SIZE + 1) * 512 KiB.
        1 => (bits(69, 48) + 1) * 1024,
        // CSD 1.0: (C_SIZE + 1) * 2^(C_SIZE_MULT + 2) * 2^READ_BL_LEN bytes.
        _ => {
            let c_size = bits(73, 62);
            let mult = bits(49, 47);
            let bl_len = bits(83, 80);
            ((c_size + 1) << (mult + 2)) << bl_len >> 9
        }
    }
}

impl BlockDevice for Sdhci {
    type Error = SdError;
    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), SdError> {
        self.read_blocks(start.0, blocks)
    }
    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), SdError> {
        self.write_blocks(start.0, blocks)
    }
    fn num_blocks(&self) -> Result<BlockCount, SdError> {
        self.card.map(|c| BlockCount(c.blocks)).ok_or(SdError::NoCard)
    }
}
