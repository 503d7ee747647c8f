//! Arasan SDHCI (SD Host Controller Simplified Specification 3.00, "SDHC")
//! of the ZynqMP, as on the ZCU102's card slot (SD1), and the SD card behind
//! it: whole 512-byte blocks in and out ([`Sdhci::read_into`],
//! [`Sdhci::write_from`]), which `storage`'s card device gives the FAT
//! layer (xlic-fat).
//!
//! Bring-up follows Xilinx's xsdps driver (embeddedsw 2019.2, sdps v3.8:
//! XSdPs_CfgInitialize, XSdPs_CardInitialize, XSdPs_IdentifyCard and
//! XSdPs_Switch_Voltage in xsdps.c; XSdPs_Change_ClkFreq,
//! XSdPs_Change_BusSpeed, XSdPs_Get_BusWidth, XSdPs_Get_BusSpeed,
//! XSdPs_Pullup, XSdPs_SetTapDelay and XSdPs_hsd_sdr25_tapdelay in
//! xsdps_options.c) and the SD Physical Layer Simplified Specification 3.01
//! ("PLSS") where the FSBL may have left the card in a state xsdps never
//! meets at power-on:
//!
//! 1. SD clock off, bus power off, and off for at least 10 ms (PLSS
//!    6.4.1.2 asks for VDD below 0.5 V for 1 ms; xsdps waits 1 ms): only a
//!    power cycle takes a card back from 1.8 V signalling;
//! 2. software reset for all (SDHC 2.2.22); card detect stable (SDHC
//!    2.2.9: Card Inserted is valid only once Card State Stable is set),
//!    for a slot whose card-detect pin is wired (`Slot::card_detect`; xsdps
//!    checks Card Inserted only when its design says CardDetect, and never
//!    for an embedded slot);
//! 3. bus power on at 3.3 V, then 1 ms for the supply to ramp (PLSS 6.4.1.1);
//! 4. internal clock on and stable, SD clock at 400 kHz or less, then at
//!    least 1 ms of clocks before CMD0 (PLSS 6.4.1.1: the longest of 1 ms,
//!    74 clocks and the ramp time; XSdPs_IdentifyCard waits 10 ms);
//! 5. CMD0; CMD8 (a card that echoes 0x1AA is version 2.00 or later; one
//!    that does not answer is a version 1.x card: reset the CMD line, as
//!    xsdps does); ACMD41 until the card has powered up (at most 1 s, PLSS
//!    4.2.3), asking for 1.8 V (S18R) when the slot allows it;
//! 6. if the card accepts 1.8 V (S18A): CMD11 and the signal voltage switch
//!    (PLSS 4.2.4.2, SDHC 3.6.1): CMD and DAT[3:0] go low, SD clock off,
//!    Host Control 2 "1.8 V signalling enable", at least 5 ms, the bit must
//!    have stayed set, SD clock on, after 1 ms DAT[3:0] must be high;
//! 7. CMD2 (CID), CMD3 (RCA), CMD9 (CSD), bus clock to default speed
//!    (19 MHz on the ZCU102: its level shifter, xsdps SD_CLK_19_MHZ), CMD7
//!    (select), ACMD51 (SCR), ACMD6 (4-bit bus). No ACMD42: the card's DAT3
//!    pull-up stays connected, as xsdps has done since sdps 3.10 ("Modified
//!    code to prevent removing pull up on D3 line") and Linux's mmc core
//!    does;
//! 8. CMD6: high speed (50 MHz) when the card supports it, with the tap
//!    delays of XSdPs_hsd_sdr25_tapdelay. High Speed Enable (Host Control 1)
//!    and UHS Mode Select (Host Control 2) change only while the SD clock
//!    is stopped, between clock-off and clock-on (Linux sdhci_set_ios: "Reset
//!    SD Clock Enable", set_uhs_signaling, set_clock; SDHC 3.00 asks for
//!    the clock off to avoid glitches). A card whose CMD6 status lists
//!    UHS-I modes was left at 1.8 V signalling by the FSBL (a 3.3 V card
//!    does not list them, PLSS 4.3.10.4; Linux's mmc_sd_card_using_v18 is
//!    the same test): the host switches its side to 1.8 V too;
//! 9. CMD16 (512-byte blocks) for SDSC cards.
//!
//! An attempt that fails is retried once after a longer power-off (250 ms),
//! without asking for 1.8 V. The R1 card status of every response is
//! checked. Errors recover as SDHC 3.10.1 says: CMD and/or DAT line reset,
//! CMD12 to abort a data command, CMD13 to read (and clear) the card
//! status, DAT lines checked high.
//!
//! Every delay and recovery above also runs under QEMU, which needs none of
//! them; they cost milliseconds there. Under QEMU the card cannot switch
//! voltage: the 1.8 V paths are tested with a register-level double over
//! QEMU's controller (tests.rs).
//!
//! Standard-capacity cards (SDSC, byte addressing) and SDHC/SDXC (block
//! addressing) are both handled; QEMU presents images up to 2 GiB as SDSC.
pub mod card;
pub mod trace;
#[cfg(test)]
mod tests;

use crate::arch::aarch64::time::{self, Deadline};
use card::{CardStatus, Cid, Csd, Ocr, Scr, SwitchStatus};
use core::cell::{Cell, RefCell};
use core::time::Duration;
use embedded_hal::delay::DelayNs;
use tock_registers::register_bitfields;
use tock_registers::LocalRegisterCopy;
use trace::{Step, Trace};

register_bitfields![u32,
    PRESENT_STATE [
        CMD_INHIBIT OFFSET(0) NUMBITS(1) [],
        DAT_INHIBIT OFFSET(1) NUMBITS(1) [],
        BUF_WRITE_ENABLE OFFSET(10) NUMBITS(1) [],
        BUF_READ_ENABLE OFFSET(11) NUMBITS(1) [],
        CARD_INSERTED OFFSET(16) NUMBITS(1) [],
        CARD_STABLE OFFSET(17) NUMBITS(1) [],
        WRITE_PROTECT_N OFFSET(19) NUMBITS(1) [],
        DAT_LEVEL OFFSET(20) NUMBITS(4) [],
        CMD_LEVEL OFFSET(24) NUMBITS(1) [],
    ],
    CAPABILITIES [
        BASE_CLOCK_MHZ OFFSET(8) NUMBITS(8) [],
        ADMA2 OFFSET(19) NUMBITS(1) [],
        HIGH_SPEED OFFSET(21) NUMBITS(1) [],
        SDMA OFFSET(22) NUMBITS(1) [],
        V3_3 OFFSET(24) NUMBITS(1) [],
        V3_0 OFFSET(25) NUMBITS(1) [],
        V1_8 OFFSET(26) NUMBITS(1) [],
        SLOT_TYPE OFFSET(30) NUMBITS(2) [Removable = 0, Embedded = 1, Shared = 2],
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
        TYPE OFFSET(6) NUMBITS(2) [Normal = 0, Abort = 3],
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
        CARD_INTERRUPT OFFSET(8) NUMBITS(1) [],
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
    HOST_CONTROL2 [
        UHS_MODE OFFSET(0) NUMBITS(3) [Sdr12 = 0, Sdr25 = 1, Sdr50 = 2, Sdr104 = 3, Ddr50 = 4],
        SIGNALLING_1V8 OFFSET(3) NUMBITS(1) [],
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

/// Register offsets (SDHC 2.1, xsdps_hw.h).
pub mod reg {
    pub const SDMA_ADDRESS: usize = 0x00;
    pub const BLOCK_SIZE: usize = 0x04;
    pub const BLOCK_COUNT: usize = 0x06;
    pub const ARGUMENT: usize = 0x08;
    pub const TRANSFER_MODE: usize = 0x0c;
    pub const COMMAND: usize = 0x0e;
    pub const RESPONSE: usize = 0x10;
    pub const BUFFER: usize = 0x20;
    pub const PRESENT_STATE: usize = 0x24;
    pub const HOST_CONTROL: usize = 0x28;
    pub const POWER_CONTROL: usize = 0x29;
    pub const CLOCK_CONTROL: usize = 0x2c;
    pub const TIMEOUT_CONTROL: usize = 0x2e;
    pub const SOFTWARE_RESET: usize = 0x2f;
    pub const NORMAL_INT: usize = 0x30;
    pub const ERROR_INT: usize = 0x32;
    pub const NORMAL_INT_ENABLE: usize = 0x34;
    pub const ERROR_INT_ENABLE: usize = 0x36;
    pub const NORMAL_SIGNAL_ENABLE: usize = 0x38;
    pub const ERROR_SIGNAL_ENABLE: usize = 0x3a;
    pub const HOST_CONTROL2: usize = 0x3e;
    pub const CAPABILITIES: usize = 0x40;
    pub const CAPABILITIES1: usize = 0x44;
    pub const HOST_VERSION: usize = 0xfe;
}

/// Access to an SDHCI register block: the controller's MMIO, or in tests a
/// double that stands in for what QEMU cannot do.
pub trait Regs {
    fn read8(&self, off: usize) -> u8;
    fn read16(&self, off: usize) -> u16;
    fn read32(&self, off: usize) -> u32;
    fn write8(&self, off: usize, v: u8);
    fn write16(&self, off: usize, v: u16);
    fn write32(&self, off: usize, v: u32);
}

/// The controller's register block in device memory.
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// # Safety
    /// `base` must be an SDHCI register block mapped as device memory, and
    /// nothing else may issue commands to it while this handle is in use.
    pub const unsafe fn new(base: usize) -> Self {
        Mmio { base }
    }
}

impl Regs for Mmio {
    // SAFETY (all six): `base + off` lies in the 256-byte register block the
    // constructor's caller vouched for; accesses are of the register's width.
    fn read8(&self, off: usize) -> u8 {
        unsafe { core::ptr::read_volatile((self.base + off) as *const u8) }
    }
    fn read16(&self, off: usize) -> u16 {
        unsafe { core::ptr::read_volatile((self.base + off) as *const u16) }
    }
    fn read32(&self, off: usize) -> u32 {
        unsafe { core::ptr::read_volatile((self.base + off) as *const u32) }
    }
    fn write8(&self, off: usize, v: u8) {
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u8, v) }
    }
    fn write16(&self, off: usize, v: u16) {
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u16, v) }
    }
    fn write32(&self, off: usize, v: u32) {
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u32, v) }
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
    /// The card reported errors in its R1 status.
    CardStatus { cmd: u8, status: CardStatus },
    /// The card did not take CMD55 as the start of an application command.
    NotAppCommand { cmd: u8 },
    /// The card echoed a wrong CMD8 check pattern or voltage.
    Unusable,
    /// The controller supports neither 3.3 V nor 3.0 V.
    NoUsableVoltage,
    /// The signal voltage switch to 1.8 V failed at `step`.
    VoltageSwitch { step: &'static str },
    /// A block address beyond the card.
    OutOfRange { block: u32, blocks: u32 },
    WriteProtected,
    /// A DMA buffer that does not start on a cache line or is not whole
    /// blocks: the cache maintenance around the transfer would lose data.
    Misaligned { addr: u64, len: usize, line: usize },
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
            SdError::CardStatus { cmd, status } => write!(f, "the SD card reported an error for CMD{cmd}: status {status}"),
            SdError::NotAppCommand { cmd } => write!(f, "the SD card did not accept CMD55 before ACMD{cmd}"),
            SdError::Unusable => write!(f, "the card answered CMD8 with a wrong check pattern: not a usable SD card"),
            SdError::NoUsableVoltage => write!(f, "the SD controller offers neither 3.3 V nor 3.0 V bus power"),
            SdError::VoltageSwitch { step } => write!(f, "the switch to 1.8 V signalling failed: {step}"),
            SdError::OutOfRange { block, blocks } => write!(f, "block {block} is beyond the card's {blocks} blocks"),
            SdError::WriteProtected => write!(f, "the card is write-protected"),
            SdError::Misaligned { addr, len, line } => write!(
                f,
                "SD DMA buffer at 0x{addr:x}, {len} bytes: it must start on a {line}-byte cache line and hold whole 512-byte blocks"
            ),
        }
    }
}

impl core::error::Error for SdError {}

impl SdError {
    /// Worth another try (electrical noise); the rest will not improve.
    fn transient(self) -> bool {
        matches!(self, SdError::CommandCrc { .. } | SdError::DataCrc | SdError::DataEndBit | SdError::CommandEndBit { .. } | SdError::DataTimeout)
    }

    /// The error an error interrupt status stands for (the first that is
    /// set, command errors before data errors).
    fn from_status(status: u16, cmd: u8) -> SdError {
        let e = LocalRegisterCopy::<u16, ERROR_INT::Register>::new(status);
        if e.is_set(ERROR_INT::CMD_TIMEOUT) {
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
            SdError::OtherError { status }
        }
    }
}

/// Error interrupt bits of the CMD line (SDHC 3.10.1 step 2) and of the DAT
/// line (step 3).
const CMD_LINE_ERRORS: u16 = 0x000f;
const DAT_LINE_ERRORS: u16 = 0x0070;

const RETRIES: usize = 3;
const BLOCK: usize = 512;

/// One 512-byte block as the card moves it (the PIO path's unit).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Block {
    pub contents: [u8; BLOCK],
}

impl Block {
    pub const fn new() -> Self {
        Block { contents: [0; BLOCK] }
    }
}
const CMD_TIMEOUT: Duration = Duration::from_millis(100);
const DATA_TIMEOUT: Duration = Duration::from_millis(500);
/// Power off before the first attempt, and before the retry.
pub const POWER_OFF: Duration = Duration::from_millis(10);
pub const POWER_OFF_RETRY: Duration = Duration::from_millis(250);
/// Supply ramp-up after power on (PLSS 6.4.1.1).
pub const POWER_RAMP: Duration = Duration::from_millis(1);
/// Clocks before the first command: max(1 ms, 74 clocks at 400 kHz).
pub const INIT_CLOCKS: Duration = Duration::from_millis(1);
/// SD clock off during the signal voltage switch (PLSS 4.2.4.2, SDHC 3.6.1).
pub const SWITCH_CLOCK_OFF: Duration = Duration::from_millis(5);
/// After the clock returns at 1.8 V the card drives DAT[3:0] high within 1 ms.
pub const SWITCH_CLOCK_ON: Duration = Duration::from_millis(1);
/// After CMD6 switched the card's bus speed, before the host follows
/// (XSDPS_MMC_DELAY_FOR_SWITCH; PLSS asks for 8 clocks).
const SWITCH_SETTLE: Duration = Duration::from_millis(1);
/// ACMD41 until the card powers up (PLSS 4.2.3: 1 s).
const ACMD41_LIMIT: Duration = Duration::from_secs(1);
/// Internal clock stable (XSdPs_EnableClock allows 150 ms).
const CLOCK_STABLE_LIMIT: Duration = Duration::from_millis(150);
/// Card detect debouncing.
const CARD_STABLE_LIMIT: Duration = Duration::from_millis(500);
/// Error recovery: "wait for more than 40 us" before checking DAT (SDHC 3.10.1 step 8).
const RECOVERY_SETTLE: Duration = Duration::from_micros(40);

/// How the bus runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpeedMode {
    /// 3.3 V default speed (up to 25 MHz; 19 MHz on the ZCU102).
    DefaultSpeed,
    /// 3.3 V high speed, 50 MHz (CMD6 function 1).
    HighSpeed,
    /// 1.8 V UHS-I SDR12 (up to 25 MHz).
    Sdr12,
    /// 1.8 V UHS-I SDR25, 50 MHz (CMD6 function 1 at 1.8 V).
    Sdr25,
}

impl SpeedMode {
    pub fn name(self) -> &'static str {
        match self {
            SpeedMode::DefaultSpeed => "default speed",
            SpeedMode::HighSpeed => "high speed",
            SpeedMode::Sdr12 => "UHS-I SDR12",
            SpeedMode::Sdr25 => "UHS-I SDR25",
        }
    }
}

/// The card's signalling voltage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signalling {
    V3_3,
    V1_8,
}

impl Signalling {
    pub fn name(self) -> &'static str {
        match self {
            Signalling::V3_3 => "3.3 V",
            Signalling::V1_8 => "1.8 V",
        }
    }
}

/// What the board puts around the controller.
#[derive(Clone, Copy)]
pub struct Slot {
    /// The SD reference clock. Used when Capabilities reports a base clock
    /// of 0, as the ZynqMP's Arasan core does (xsdps ignores the field and
    /// uses the design's XPAR_..._SDIO_CLK_FREQ_HZ).
    pub ref_clock_hz: u32,
    /// Bus clock limit in default speed (ZCU102: 19 MHz).
    pub default_speed_khz: u32,
    /// Ask the card for 1.8 V signalling (S18R in ACMD41).
    pub request_1v8: bool,
    /// Switch to high speed (CMD6) when the card supports it.
    pub high_speed: bool,
    /// The slot's card-detect pin is wired to the controller: wait for a
    /// stable card detect and require Card Inserted. Without it (or in an
    /// embedded slot, Capabilities slot type) the controller's detect says
    /// nothing and is skipped, as xsdps does when CardDetect is 0.
    pub card_detect: bool,
    /// Program the receive/transmit tap delays for a speed mode (the
    /// ZynqMP keeps them in IOU_SLCR, per controller); for default speed
    /// and SDR12, clear them.
    pub tap_delays: fn(SpeedMode),
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
    pub ocr: Ocr,
    pub cid: Cid,
    pub csd: Csd,
    pub scr: Scr,
    pub speed: SpeedMode,
    pub signalling: Signalling,
    /// The card was still at 1.8 V from an earlier initialisation.
    pub found_at_1v8: bool,
    /// 1, or 2 when the first attempt failed and the retry succeeded.
    pub attempts: u8,
}

/// What the controller says about itself (for `diag`).
#[derive(Clone, Copy, Debug)]
pub struct HostInfo {
    /// Host Controller Version: specification (bits 7:0, 2 = 3.00) and vendor.
    pub version: u16,
    pub capabilities: u32,
    pub capabilities1: u32,
    pub present_state: u32,
    pub host_control2: u16,
    /// The base clock in use (Capabilities, or the slot's reference if 0).
    pub base_clock_hz: u32,
}

impl HostInfo {
    pub fn spec_text(&self) -> &'static str {
        match self.version & 0xff {
            0 => "1.00",
            1 => "2.00",
            2 => "3.00",
            _ => "newer than 3.00",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resp {
    None,
    R1,
    R1b,
    R2,
    R3,
    R6,
    R7,
}

/// One command.
#[derive(Clone, Copy)]
struct Cmd {
    index: u8,
    arg: u32,
    resp: Resp,
    /// Transfer Mode for a command with data.
    data: Option<u16>,
    /// Sent after CMD55.
    app: bool,
    /// Command Type "Abort" (CMD12 in error recovery).
    abort: bool,
    /// Part of an error recovery: no recovery of its own, no card status
    /// check, not traced.
    quiet: bool,
}

impl Cmd {
    const fn new(index: u8, arg: u32, resp: Resp) -> Cmd {
        Cmd { index, arg, resp, data: None, app: false, abort: false, quiet: false }
    }
}

/// The SD clock divisor N of SDHC 3.00's 10-bit divided clock mode (SD
/// clock = base / 2N, N = 0: the base clock itself): the smallest N whose
/// clock does not exceed `target_hz`. (XSdPs_Change_ClkFreq searches the
/// same, but takes N = DivCnt / 2 for an odd DivCnt and can overshoot:
/// 200 MHz / 11 rounded to N = 5 gives 20 MHz for a 19 MHz limit.)
pub fn clock_divisor(base_hz: u32, target_hz: u32) -> u16 {
    if base_hz <= target_hz {
        return 0;
    }
    (base_hz.div_ceil(2 * target_hz.max(1))).min(0x3ff) as u16
}

/// The SD clock a divisor gives.
pub fn clock_hz(base_hz: u32, n: u16) -> u32 {
    if n == 0 { base_hz } else { base_hz / (2 * n as u32) }
}

/// The base clock: Capabilities bits 15:8 in MHz, or the slot's reference
/// when the controller reports 0 (SDHC 2.2.24: "0: get information via
/// another method").
pub fn base_clock_hz(capabilities: u32, slot_ref_hz: u32) -> u32 {
    match LocalRegisterCopy::<u32, CAPABILITIES::Register>::new(capabilities).read(CAPABILITIES::BASE_CLOCK_MHZ) {
        0 => slot_ref_hz,
        mhz => mhz * 1_000_000,
    }
}

/// The trace of the last initialisation of any controller, for `diag`.
struct LastTrace {
    busy: core::sync::atomic::AtomicBool,
    trace: core::cell::UnsafeCell<Trace>,
}

// SAFETY: access goes through the `busy` flag (a failed try-lock skips the
// access), so there is never more than one reference.
unsafe impl Sync for LastTrace {}

static LAST_TRACE: LastTrace = LastTrace { busy: core::sync::atomic::AtomicBool::new(false), trace: core::cell::UnsafeCell::new(Trace::new()) };

impl LastTrace {
    fn with<R>(&self, f: impl FnOnce(&mut Trace) -> R) -> Option<R> {
        use core::sync::atomic::Ordering;
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: the flag was clear, so no other reference exists.
        let r = f(unsafe { &mut *self.trace.get() });
        self.busy.store(false, Ordering::Release);
        Some(r)
    }
}

/// Call `f` with the trace of the last card initialisation.
pub fn last_init_trace<R>(f: impl FnOnce(&Trace) -> R) -> Option<R> {
    LAST_TRACE.with(|t| f(t))
}

pub struct Sdhci<R: Regs = Mmio> {
    regs: R,
    slot: Slot,
    card: Option<CardInfo>,
    /// The card's address once CMD3 gave it (CMD55, CMD7, CMD13 need it).
    rca: Cell<u16>,
    /// The SD clock now, in kHz.
    clock_khz: Cell<u32>,
    /// Record steps (during `init`).
    tracing: Cell<bool>,
    trace: RefCell<Trace>,
}

/// SDMA stops at every 512 KiB boundary of the system address (block
/// size register bits 14:12 = 7); the driver then gives it the next one.
const SDMA_BOUNDARY_512K: u16 = 7 << 12;
const SDMA_BOUNDARY: u64 = 512 << 10;
/// The most blocks one command moves: the Block Count register is 16 bits.
const MAX_BLOCKS_PER_COMMAND: usize = u16::MAX as usize;

/// Where SDMA resumes after stopping at a boundary: the next boundary past
/// `addr`. Linux's sdhci_data_irq computes it this way ("force update to
/// the next DMA block boundary") rather than resuming from what the SDMA
/// System Address register reads back.
pub fn next_sdma_boundary(addr: u64) -> u64 {
    (addr & !(SDMA_BOUNDARY - 1)) + SDMA_BOUNDARY
}

/// The commands a DMA transfer of `len` bytes from block `start` is split
/// into: (first block, byte offset into the buffer, blocks), each at most
/// `MAX_BLOCKS_PER_COMMAND` blocks.
pub fn dma_chunks(start: u32, len: usize) -> impl Iterator<Item = (u32, usize, usize)> {
    let blocks = len / BLOCK;
    (0..blocks.div_ceil(MAX_BLOCKS_PER_COMMAND)).map(move |i| {
        let first = i * MAX_BLOCKS_PER_COMMAND;
        (start + first as u32, first * BLOCK, (blocks - first).min(MAX_BLOCKS_PER_COMMAND))
    })
}

impl Sdhci<Mmio> {
    /// # Safety
    /// `base` must be an SDHCI register block mapped as device memory, and
    /// this handle the only one issuing commands to it.
    pub unsafe fn new(base: usize, slot: Slot) -> Self {
        // SAFETY: guaranteed by the caller.
        Sdhci::with_regs(unsafe { Mmio::new(base) }, slot)
    }
}

impl<R: Regs> Sdhci<R> {
    pub fn with_regs(regs: R, slot: Slot) -> Self {
        Sdhci { regs, slot, card: None, rca: Cell::new(0), clock_khz: Cell::new(0), tracing: Cell::new(false), trace: RefCell::new(Trace::new()) }
    }

    pub fn card(&self) -> Option<CardInfo> {
        self.card
    }

    /// The steps of this controller's last `init`.
    pub fn trace(&self) -> core::cell::Ref<'_, Trace> {
        self.trace.borrow()
    }

    pub fn regs(&self) -> &R {
        &self.regs
    }

    fn record(&self, step: Step) {
        if self.tracing.get() {
            self.trace.borrow_mut().record(step);
        }
    }

    fn present(&self) -> LocalRegisterCopy<u32, PRESENT_STATE::Register> {
        LocalRegisterCopy::new(self.regs.read32(reg::PRESENT_STATE))
    }

    fn normal_int(&self) -> LocalRegisterCopy<u16, NORMAL_INT::Register> {
        LocalRegisterCopy::new(self.regs.read16(reg::NORMAL_INT))
    }

    fn clear_normal(&self, bits: u16) {
        self.regs.write16(reg::NORMAL_INT, bits);
    }

    pub fn card_present(&self) -> bool {
        self.present().is_set(PRESENT_STATE::CARD_INSERTED)
    }

    pub fn host_info(&self) -> HostInfo {
        let capabilities = self.regs.read32(reg::CAPABILITIES);
        HostInfo {
            version: self.regs.read16(reg::HOST_VERSION),
            capabilities,
            capabilities1: self.regs.read32(reg::CAPABILITIES1),
            present_state: self.regs.read32(reg::PRESENT_STATE),
            host_control2: self.regs.read16(reg::HOST_CONTROL2),
            base_clock_hz: base_clock_hz(capabilities, self.slot.ref_clock_hz),
        }
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

    /// A delay on the generic timer, recorded in the trace.
    fn delay(&self, d: Duration, why: &'static str) {
        time::Delay.delay_us(d.as_micros() as u32);
        self.record(Step::Waited { why, us: d.as_micros() as u32 });
    }

    /// Software reset of the lines in `bits` (SOFTWARE_RESET), waiting
    /// until the controller clears them (XSdPs_CheckResetDone).
    fn reset(&self, bits: u8) -> Result<(), SdError> {
        self.regs.write8(reg::SOFTWARE_RESET, bits);
        self.wait("a software reset", CMD_TIMEOUT, || self.regs.read8(reg::SOFTWARE_RESET) & bits == 0)
    }

    fn base_clock(&self) -> u32 {
        base_clock_hz(self.regs.read32(reg::CAPABILITIES), self.slot.ref_clock_hz)
    }

    fn sd_clock(&self, on: bool) {
        let mut c = LocalRegisterCopy::<u16, CLOCK_CONTROL::Register>::new(self.regs.read16(reg::CLOCK_CONTROL));
        c.modify(if on { CLOCK_CONTROL::SD_CLOCK_ENABLE::SET } else { CLOCK_CONTROL::SD_CLOCK_ENABLE::CLEAR });
        self.regs.write16(reg::CLOCK_CONTROL, c.get());
    }

    /// XSdPs_Change_ClkFreq with Linux's order for the bus timing: both
    /// clocks off; the tap delays of `mode` (XSdPs_SetTapDelay, not for
    /// default speed and SDR12); High Speed Enable and UHS Mode Select for
    /// `mode` while no SD clock runs (sdhci_set_ios); the divisor with the
    /// internal clock on, wait until it is stable, SD clock on. Returns the
    /// rate in kHz.
    fn set_clock(&self, khz: u32, mode: SpeedMode) -> Result<u32, SdError> {
        self.regs.write16(reg::CLOCK_CONTROL, 0);
        if !matches!(mode, SpeedMode::DefaultSpeed | SpeedMode::Sdr12) {
            (self.slot.tap_delays)(mode);
        }
        self.set_bus_timing(mode);
        let base = self.base_clock();
        let n = clock_divisor(base, khz * 1000);
        let mut c = LocalRegisterCopy::<u16, CLOCK_CONTROL::Register>::new(0);
        c.write(CLOCK_CONTROL::FREQ_SELECT.val(n & 0xff) + CLOCK_CONTROL::FREQ_SELECT_HI.val(n >> 8) + CLOCK_CONTROL::INTERNAL_ENABLE::SET);
        self.regs.write16(reg::CLOCK_CONTROL, c.get());
        self.wait("the internal clock to become stable", CLOCK_STABLE_LIMIT, || {
            LocalRegisterCopy::<u16, CLOCK_CONTROL::Register>::new(self.regs.read16(reg::CLOCK_CONTROL)).is_set(CLOCK_CONTROL::INTERNAL_STABLE)
        })?;
        self.sd_clock(true);
        let actual = clock_hz(base, n) / 1000;
        self.clock_khz.set(actual);
        self.record(Step::Clock { khz: actual });
        Ok(actual)
    }

    /// High Speed Enable (Host Control 1 bit 2) for high speed and SDR25, as
    /// Linux sets it for UHS-I modes above SDR12; UHS Mode Select (Host
    /// Control 2 bits 2:0) for the 1.8 V modes, 0 at 3.3 V. Call with the SD
    /// clock stopped.
    fn set_bus_timing(&self, mode: SpeedMode) {
        let hs = matches!(mode, SpeedMode::HighSpeed | SpeedMode::Sdr25);
        let hc = self.regs.read8(reg::HOST_CONTROL) & !HOST_CONTROL::HIGH_SPEED::SET.value;
        let hc_new = hc | if hs { HOST_CONTROL::HIGH_SPEED::SET.value } else { 0 };
        if hc_new != self.regs.read8(reg::HOST_CONTROL) {
            self.regs.write8(reg::HOST_CONTROL, hc_new);
        }
        let uhs = match mode {
            SpeedMode::Sdr25 => HOST_CONTROL2::UHS_MODE::Sdr25.value,
            _ => HOST_CONTROL2::UHS_MODE::Sdr12.value,
        };
        let hc2 = self.regs.read16(reg::HOST_CONTROL2);
        if hc2 & 0x7 != uhs {
            self.regs.write16(reg::HOST_CONTROL2, (hc2 & !0x7) | uhs);
        }
    }

    /// Error recovery of SDHC 3.10.1 after an error interrupt with `status`
    /// (0 for a timeout of our own): reset the CMD line for command errors
    /// and the DAT line for data errors (and whenever `abort`: a data
    /// command whose data phase will not run leaves the DAT circuit
    /// armed), clear the status, send CMD12 as an abort command when the
    /// failed command moved data, read the card status with CMD13 (it also
    /// clears the error bits the card latched, e.g. ILLEGAL_COMMAND for an
    /// abort the card was not in a state to take), wait 40 us and check
    /// that DAT[3:0] are high.
    fn recover(&self, status: u16, abort: bool) {
        self.record(Step::Recovery { status, abort });
        if status & CMD_LINE_ERRORS != 0 || status == 0 {
            let _ = self.reset(SOFTWARE_RESET::CMD::SET.value);
        }
        if status & DAT_LINE_ERRORS != 0 || abort {
            let _ = self.reset(SOFTWARE_RESET::DAT::SET.value);
        }
        self.regs.write16(reg::ERROR_INT, 0xffff);
        self.clear_normal(0xffff);
        if abort {
            let stop = Cmd { abort: true, quiet: true, ..Cmd::new(12, 0, Resp::R1b) };
            if let Err(e) = self.issue(stop) {
                // Not in a data state any more: the card ignores CMD12.
                defmt::debug!("sd: abort CMD12 not taken ({=str})", if matches!(e, SdError::CommandTimeout { .. }) { "no response" } else { "error" });
            }
        }
        if self.rca.get() != 0 {
            match self.issue(Cmd { quiet: true, ..Cmd::new(13, (self.rca.get() as u32) << 16, Resp::R1) }) {
                Ok(r) => defmt::debug!("sd: after recovery, card status 0x{=u32:x}", r[0]),
                Err(_) => defmt::warn!("sd: no card status after recovery"),
            }
        }
        time::Delay.delay_us(RECOVERY_SETTLE.as_micros() as u32);
        if self.present().read(PRESENT_STATE::DAT_LEVEL) != 0xf {
            defmt::warn!("sd: DAT[3:0] still low after recovery (present state 0x{=u32:x}): the card needs a power cycle (re-mount)", self.present().get());
        }
    }

    /// Issue one command and wait for its response (and the end of busy for
    /// R1b). Errors run the recovery; the R1 card status is checked.
    fn issue(&self, c: Cmd) -> Result<[u32; 4], SdError> {
        let busy = c.resp == Resp::R1b || c.data.is_some();
        self.wait("the command line", CMD_TIMEOUT, || !self.present().is_set(PRESENT_STATE::CMD_INHIBIT))?;
        if busy && !c.quiet {
            self.wait("the data line", DATA_TIMEOUT, || !self.present().is_set(PRESENT_STATE::DAT_INHIBIT))?;
        }
        self.clear_normal(0xffff);
        self.regs.write16(reg::ERROR_INT, 0xffff);
        self.regs.write32(reg::ARGUMENT, c.arg);
        self.regs.write16(reg::TRANSFER_MODE, c.data.unwrap_or(0));
        use COMMAND::RESPONSE as K;
        let (kind, crc, index) = match c.resp {
            Resp::None => (K::None, false, false),
            Resp::R2 => (K::Long136, true, false),
            Resp::R3 => (K::Short48, false, false),
            Resp::R1b => (K::Short48Busy, true, true),
            Resp::R1 | Resp::R6 | Resp::R7 => (K::Short48, true, true),
        };
        let mut v = LocalRegisterCopy::<u16, COMMAND::Register>::new(0);
        let mut f = COMMAND::INDEX.val(c.index as u16) + kind;
        if crc {
            f += COMMAND::CRC_CHECK::SET;
        }
        if index {
            f += COMMAND::INDEX_CHECK::SET;
        }
        if c.data.is_some() {
            f += COMMAND::DATA_PRESENT::SET;
        }
        if c.abort {
            f += COMMAND::TYPE::Abort;
        }
        v.write(f);
        if !c.quiet {
            self.record(Step::Command { index: c.index, app: c.app, arg: c.arg });
        }
        self.regs.write16(reg::COMMAND, v.get());
        let d = Deadline::after(CMD_TIMEOUT);
        loop {
            let st = self.normal_int();
            if st.is_set(NORMAL_INT::ERROR) {
                let status = self.regs.read16(reg::ERROR_INT);
                if c.quiet {
                    let _ = self.reset(SOFTWARE_RESET::CMD::SET.value);
                    self.regs.write16(reg::ERROR_INT, 0xffff);
                } else {
                    self.recover(status, c.data.is_some());
                }
                return Err(SdError::from_status(status, c.index));
            }
            if st.is_set(NORMAL_INT::CMD_COMPLETE) {
                self.clear_normal(NORMAL_INT::CMD_COMPLETE::SET.value);
                break;
            }
            if d.expired() {
                if c.quiet {
                    let _ = self.reset(SOFTWARE_RESET::CMD::SET.value);
                } else {
                    self.recover(0, c.data.is_some());
                }
                return Err(SdError::Timeout { what: "a command to complete" });
            }
        }
        let r = [
            self.regs.read32(reg::RESPONSE),
            self.regs.read32(reg::RESPONSE + 4),
            self.regs.read32(reg::RESPONSE + 8),
            self.regs.read32(reg::RESPONSE + 12),
        ];
        if !c.quiet && c.resp != Resp::None {
            self.record(Step::Response { index: c.index, r0: r[0] });
        }
        if c.resp == Resp::R1b {
            self.wait_transfer_complete(c.index, false, !c.quiet)?;
        }
        if c.quiet {
            return Ok(r);
        }
        let status = match c.resp {
            Resp::R1 | Resp::R1b => Some(CardStatus(r[0])),
            Resp::R6 => Some(CardStatus::from_r6(r[0])),
            _ => None,
        };
        match status {
            // CMD55: the card must take it as an application command; its
            // error bits may belong to the command before (a version 1 card
            // latches ILLEGAL_COMMAND for CMD8), so they are not judged here.
            Some(s) if c.index == 55 && !c.app => {
                if !s.app_cmd() {
                    return Err(SdError::NotAppCommand { cmd: c.index });
                }
            }
            Some(s) if s.errors() != 0 => {
                defmt::warn!("sd: CMD{=u8} card status 0x{=u32:x}", c.index, s.0);
                if c.data.is_some() {
                    self.recover(0, true);
                }
                return Err(SdError::CardStatus { cmd: c.index, status: s });
            }
            _ => {}
        }
        Ok(r)
    }

    fn command(&self, index: u8, arg: u32, resp: Resp) -> Result<[u32; 4], SdError> {
        self.issue(Cmd::new(index, arg, resp))
    }

    /// CMD55 then the application command.
    fn app_command(&self, index: u8, arg: u32, resp: Resp, data: Option<u16>) -> Result<[u32; 4], SdError> {
        let prefix = self.issue(Cmd::new(55, (self.rca.get() as u32) << 16, Resp::R1));
        match prefix {
            Err(SdError::NotAppCommand { .. }) => return Err(SdError::NotAppCommand { cmd: index }),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.issue(Cmd { data, app: true, ..Cmd::new(index, arg, resp) })
    }

    /// Wait for Transfer Complete (end of data, or of busy after R1b);
    /// errors run the recovery unless the wait is part of one.
    fn wait_transfer_complete(&self, cmd: u8, data: bool, recover: bool) -> Result<(), SdError> {
        let d = Deadline::after(DATA_TIMEOUT);
        let fail = |status: u16| {
            if recover {
                self.recover(status, data);
            } else {
                let _ = self.reset((SOFTWARE_RESET::CMD::SET + SOFTWARE_RESET::DAT::SET).value);
                self.regs.write16(reg::ERROR_INT, 0xffff);
            }
        };
        loop {
            let st = self.normal_int();
            if st.is_set(NORMAL_INT::ERROR) {
                let status = self.regs.read16(reg::ERROR_INT);
                fail(status);
                return Err(SdError::from_status(status, cmd));
            }
            if st.is_set(NORMAL_INT::TRANSFER_COMPLETE) {
                self.clear_normal(NORMAL_INT::TRANSFER_COMPLETE::SET.value);
                return Ok(());
            }
            if d.expired() {
                fail(0);
                return Err(SdError::Timeout { what: "a data transfer to complete" });
            }
        }
    }

    /// Wait for a buffer-ready bit of a PIO transfer.
    fn wait_buffer(&self, cmd: u8, ready: tock_registers::fields::Field<u16, NORMAL_INT::Register>) -> Result<(), SdError> {
        let d = Deadline::after(DATA_TIMEOUT);
        loop {
            let st = self.normal_int();
            if st.is_set(NORMAL_INT::ERROR) {
                let status = self.regs.read16(reg::ERROR_INT);
                self.recover(status, true);
                return Err(SdError::from_status(status, cmd));
            }
            if st.is_set(ready) {
                self.clear_normal(1 << ready.shift);
                return Ok(());
            }
            if d.expired() {
                self.recover(0, true);
                return Err(SdError::Timeout { what: "the data buffer" });
            }
        }
    }

    /// A command that reads one short block (the SCR, the CMD6 status)
    /// through the buffer data port.
    fn read_short(&self, index: u8, arg: u32, app: bool, out: &mut [u8]) -> Result<(), SdError> {
        self.regs.write16(reg::BLOCK_SIZE, out.len() as u16);
        self.regs.write16(reg::BLOCK_COUNT, 1);
        let mut tm = LocalRegisterCopy::<u16, TRANSFER_MODE::Register>::new(0);
        tm.write(TRANSFER_MODE::READ::SET + TRANSFER_MODE::BLOCK_COUNT_ENABLE::SET);
        if app {
            self.app_command(index, arg, Resp::R1, Some(tm.get()))?;
        } else {
            self.issue(Cmd { data: Some(tm.get()), ..Cmd::new(index, arg, Resp::R1) })?;
        }
        self.wait_buffer(index, NORMAL_INT::BUF_READ_READY)?;
        for chunk in out.chunks_mut(4) {
            let w = self.regs.read32(reg::BUFFER).to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        self.wait_transfer_complete(index, true, true)
    }

    /// Host side to 1.8 V signalling (SDHC 3.6.1 steps 5-9): SD clock off,
    /// Host Control 2 "1.8 V signalling enable", at least 5 ms, the bit must
    /// still be set (the host's regulator switched), SD clock on, 1 ms.
    fn host_to_1v8(&self) -> Result<(), SdError> {
        self.sd_clock(false);
        self.record(Step::ClockStopped);
        let hc2 = self.regs.read16(reg::HOST_CONTROL2);
        self.regs.write16(reg::HOST_CONTROL2, hc2 | HOST_CONTROL2::SIGNALLING_1V8::SET.value);
        self.record(Step::Signalling1v8);
        self.delay(SWITCH_CLOCK_OFF, "SD clock off while the signalling switches (PLSS 4.2.4.2)");
        if self.regs.read16(reg::HOST_CONTROL2) & HOST_CONTROL2::SIGNALLING_1V8::SET.value == 0 {
            return Err(SdError::VoltageSwitch { step: "the host's 1.8 V enable did not stay set" });
        }
        self.sd_clock(true);
        self.record(Step::Clock { khz: self.clock_khz.get() });
        self.delay(SWITCH_CLOCK_ON, "the card drives DAT[3:0] high within 1 ms");
        Ok(())
    }

    /// CMD11 and the signal voltage switch (PLSS 4.2.4.2, XSdPs_Switch_Voltage).
    fn switch_to_1v8(&self) -> Result<(), SdError> {
        self.command(11, 0, Resp::R1).map_err(|_| SdError::VoltageSwitch { step: "the card did not answer CMD11" })?;
        // The card drives CMD and DAT[3:0] low once it has answered.
        let lines_low = |p: LocalRegisterCopy<u32, PRESENT_STATE::Register>| p.read(PRESENT_STATE::DAT_LEVEL) == 0 && !p.is_set(PRESENT_STATE::CMD_LEVEL);
        self.wait("CMD and DAT[3:0] to go low after CMD11", CMD_TIMEOUT, || lines_low(self.present()))
            .map_err(|_| SdError::VoltageSwitch { step: "CMD and DAT[3:0] did not go low after CMD11" })?;
        self.record(Step::Lines { low: true });
        self.host_to_1v8()?;
        let p = self.present();
        if p.read(PRESENT_STATE::DAT_LEVEL) != 0xf || !p.is_set(PRESENT_STATE::CMD_LEVEL) {
            return Err(SdError::VoltageSwitch { step: "the card did not release DAT[3:0] at 1.8 V" });
        }
        self.record(Step::Lines { low: false });
        Ok(())
    }

    /// Identify the card and bring it to the transfer state: one attempt,
    /// and a retry after a longer power-off (see the module comment).
    pub fn init(&mut self) -> Result<CardInfo, SdError> {
        self.card = None;
        self.rca.set(0);
        self.trace.borrow_mut().clear();
        self.tracing.set(true);
        let mut r = self.attempt(1, POWER_OFF, self.slot.request_1v8);
        if let Err(e) = r {
            if e != SdError::NoCard {
                self.record(Step::Failed);
                defmt::warn!("sd: initialisation failed; power-cycling for {=u32} ms and trying again", POWER_OFF_RETRY.as_millis() as u32);
                self.rca.set(0);
                r = self.attempt(2, POWER_OFF_RETRY, false);
            }
        }
        if r.is_err() {
            self.record(Step::Failed);
        }
        self.tracing.set(false);
        LAST_TRACE.with(|t| t.clone_from(&self.trace.borrow()));
        self.card = r.ok();
        r
    }

    fn attempt(&self, n: u8, power_off: Duration, ask_1v8: bool) -> Result<CardInfo, SdError> {
        self.record(Step::Attempt { n, power_off_ms: power_off.as_millis() as u32 });
        // 1. SD clock off, bus power off, and the host back to 3.3 V
        //    signalling, for long enough that the card forgets an earlier
        //    1.8 V switch.
        self.regs.write16(reg::CLOCK_CONTROL, 0);
        self.regs.write8(reg::POWER_CONTROL, 0);
        self.regs.write16(reg::HOST_CONTROL2, 0);
        self.record(Step::PowerOff);
        self.delay(power_off, "bus power off (PLSS 6.4.1.2)");
        // 2. Reset everything; wait for a debounced card detect.
        self.reset(SOFTWARE_RESET::ALL::SET.value)?;
        self.record(Step::ResetAll);
        // The reset does not reach the tap delays (IOU_SLCR): clear what an
        // FSBL may have set for a faster mode.
        (self.slot.tap_delays)(SpeedMode::DefaultSpeed);
        let caps = LocalRegisterCopy::<u32, CAPABILITIES::Register>::new(self.regs.read32(reg::CAPABILITIES));
        let embedded = caps.matches_all(CAPABILITIES::SLOT_TYPE::Embedded);
        if self.slot.card_detect && !embedded {
            self.wait("the card detect to settle", CARD_STABLE_LIMIT, || self.present().is_set(PRESENT_STATE::CARD_STABLE))?;
            if !self.card_present() {
                return Err(SdError::NoCard);
            }
            self.record(Step::CardStable);
        }
        // 3. Bus power on (3.3 V; 3.0 V if that is all the host has).
        let (voltage, millivolts) = if caps.is_set(CAPABILITIES::V3_3) {
            (POWER_CONTROL::VOLTAGE::V3_3, 3300)
        } else if caps.is_set(CAPABILITIES::V3_0) {
            (POWER_CONTROL::VOLTAGE::V3_0, 3000)
        } else {
            return Err(SdError::NoUsableVoltage);
        };
        self.regs.write8(reg::POWER_CONTROL, (voltage + POWER_CONTROL::POWER_ON::SET).value);
        self.record(Step::PowerOn { millivolts });
        self.delay(POWER_RAMP, "supply ramp-up after power on (PLSS 6.4.1.1)");
        // 4. Host set-up (XSdPs_CfgInitialize): data timeout, status bits
        //    latched but not signalled (the driver polls), 1-bit bus, SDMA.
        self.regs.write8(reg::TIMEOUT_CONTROL, 0x0e);
        self.regs.write16(reg::NORMAL_INT_ENABLE, 0xffff & !NORMAL_INT::CARD_INTERRUPT::SET.value);
        self.regs.write16(reg::ERROR_INT_ENABLE, 0xf3ff);
        self.regs.write16(reg::NORMAL_SIGNAL_ENABLE, 0);
        self.regs.write16(reg::ERROR_SIGNAL_ENABLE, 0);
        self.regs.write8(reg::HOST_CONTROL, 0);
        self.set_clock(400, SpeedMode::DefaultSpeed)?;
        self.delay(INIT_CLOCKS, "at least 74 clocks before CMD0 (PLSS 6.4.1.1)");
        // 5. Identification.
        self.command(0, 0, Resp::None)?;
        let v2 = match self.command(8, 0x1aa, Resp::R7) {
            Ok(r) if r[0] & 0xfff == 0x1aa => true,
            Ok(_) => return Err(SdError::Unusable),
            // A version 1.x card does not know CMD8; the recovery reset the
            // CMD line (xsdps: XSDPS_CT_ERROR, then a CMD line reset).
            Err(SdError::CommandTimeout { .. }) => false,
            Err(e) => return Err(e),
        };
        let host_1v8 = caps.is_set(CAPABILITIES::V1_8);
        let s18r = v2 && ask_1v8 && host_1v8;
        let arg = 0x00ff_8000 | if v2 { 1 << 30 } else { 0 } | if s18r { 1 << 24 } else { 0 };
        let d = Deadline::after(ACMD41_LIMIT);
        let ocr = loop {
            let ocr = Ocr(self.app_command(41, arg, Resp::R3, None)?[0]);
            if ocr.powered_up() {
                break ocr;
            }
            if d.expired() {
                return Err(SdError::Timeout { what: "the card to power up (ACMD41)" });
            }
        };
        // 6. The voltage switch the card agreed to.
        let mut signalling = Signalling::V3_3;
        if s18r && ocr.s18a() {
            self.switch_to_1v8()?;
            signalling = Signalling::V1_8;
        }
        // 7. Card registers, address, selection, bus width.
        let cid = Cid(self.command(2, 0, Resp::R2)?);
        let mut rca = 0;
        for _ in 0..5 {
            rca = (self.command(3, 0, Resp::R6)?[0] >> 16) as u16;
            if rca != 0 {
                break;
            }
        }
        if rca == 0 {
            return Err(SdError::Timeout { what: "a relative card address other than 0 (CMD3)" });
        }
        self.rca.set(rca);
        let csd = Csd(self.command(9, (rca as u32) << 16, Resp::R2)?);
        let mut mode = if signalling == Signalling::V1_8 { SpeedMode::Sdr12 } else { SpeedMode::DefaultSpeed };
        let mut khz = self.set_clock(self.slot.default_speed_khz, mode)?;
        self.command(7, (rca as u32) << 16, Resp::R1b)?;
        let mut scr = [0u8; 8];
        self.read_short(51, 0, true, &mut scr)?;
        let scr = Scr(scr);
        let mut bus_width = 1;
        if scr.four_bit() {
            self.app_command(6, 2, Resp::R1, None)?;
            let hc = self.regs.read8(reg::HOST_CONTROL);
            self.regs.write8(reg::HOST_CONTROL, hc | HOST_CONTROL::DATA_WIDTH_4BIT::SET.value);
            bus_width = 4;
        }
        self.record(Step::BusWidth(bus_width));
        // 8. Bus speed (XSdPs_Get_BusSpeed, XSdPs_Change_BusSpeed).
        let mut found_at_1v8 = false;
        if scr.has_switch_function() && bus_width == 4 {
            let mut st = [0u8; 64];
            self.read_short(6, 0x00ff_fff0, false, &mut st)?;
            let st = SwitchStatus(st);
            if signalling == Signalling::V3_3 && st.card_is_at_1v8() {
                if !host_1v8 {
                    return Err(SdError::VoltageSwitch { step: "the card is at 1.8 V signalling and the controller has no 1.8 V" });
                }
                defmt::warn!("sd: the card is still at 1.8 V signalling (no power cycle since it switched); the host follows");
                self.host_to_1v8()?;
                signalling = Signalling::V1_8;
                mode = SpeedMode::Sdr12;
                found_at_1v8 = true;
            }
            if self.slot.high_speed && st.supports(card::FN_HIGH_SPEED_SDR25) {
                let mut sw = [0u8; 64];
                self.read_short(6, 0x80ff_fff1, false, &mut sw)?;
                if SwitchStatus(sw).selected() == card::FN_HIGH_SPEED_SDR25 {
                    self.delay(SWITCH_SETTLE, "the card switches its bus speed after CMD6");
                    // Host Control 1/2 follow inside set_clock, clock stopped.
                    mode = if signalling == Signalling::V1_8 { SpeedMode::Sdr25 } else { SpeedMode::HighSpeed };
                    khz = self.set_clock(50_000, mode)?;
                } else {
                    defmt::warn!("sd: the card did not switch to high speed (CMD6 status function {=u8})", SwitchStatus(sw).selected());
                }
            }
        }
        self.record(Step::Speed(mode));
        // 9. Block length for byte-addressed cards.
        if !ocr.high_capacity() {
            self.command(16, BLOCK as u32, Resp::R1)?;
        }
        Ok(CardInfo {
            rca,
            high_capacity: ocr.high_capacity(),
            blocks: csd.blocks(),
            clock_khz: khz,
            bus_width,
            ocr,
            cid,
            csd,
            scr,
            speed: mode,
            signalling,
            found_at_1v8,
            attempts: n,
        })
    }

    fn address(&self, info: &CardInfo, block: u32) -> u32 {
        if info.high_capacity { block } else { block * BLOCK as u32 }
    }

    /// Check the range and the write protection, then start the transfer.
    fn start_transfer(&self, start: u32, count: usize, read: bool, dma: Option<u64>) -> Result<u8, SdError> {
        let info = self.card.ok_or(SdError::NoCard)?;
        if start as u64 + count as u64 > info.blocks as u64 {
            return Err(SdError::OutOfRange { block: start + count as u32 - 1, blocks: info.blocks });
        }
        if !read && !self.present().is_set(PRESENT_STATE::WRITE_PROTECT_N) {
            return Err(SdError::WriteProtected);
        }
        self.issue_transfer(&info, start, count, read, dma)
    }

    /// Program block size, count and transfer mode, and issue the read or
    /// write command (single or multiple blocks, auto CMD12). Returns the
    /// command index, for error reports.
    fn issue_transfer(&self, info: &CardInfo, start: u32, count: usize, read: bool, dma: Option<u64>) -> Result<u8, SdError> {
        let mut mode = TRANSFER_MODE::BLOCK_COUNT_ENABLE::SET;
        match dma {
            Some(addr) => {
                defmt::debug!("sdma: {=str} {=u32} blocks at {=u32} via 0x{=u64:x}", if read { "read" } else { "write" }, count as u32, start, addr);
                self.regs.write32(reg::SDMA_ADDRESS, addr as u32);
                self.regs.write16(reg::BLOCK_SIZE, BLOCK as u16 | SDMA_BOUNDARY_512K);
                mode += TRANSFER_MODE::DMA_ENABLE::SET;
            }
            None => self.regs.write16(reg::BLOCK_SIZE, BLOCK as u16),
        }
        let Ok(count16) = u16::try_from(count) else {
            return Err(SdError::OutOfRange { block: start.saturating_add(count as u32), blocks: info.blocks });
        };
        self.regs.write16(reg::BLOCK_COUNT, count16);
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
        let mut tm = LocalRegisterCopy::<u16, TRANSFER_MODE::Register>::new(0);
        tm.write(mode);
        self.issue(Cmd { data: Some(tm.get()), ..Cmd::new(cmd, self.address(info, start), Resp::R1) })?;
        Ok(cmd)
    }

    /// PIO transfer of `count` blocks through the buffer data port.
    fn pio(&self, cmd: u8, count: usize, read: bool, mut each: impl FnMut(usize, &mut [u32; 128])) -> Result<(), SdError> {
        let ready = if read { NORMAL_INT::BUF_READ_READY } else { NORMAL_INT::BUF_WRITE_READY };
        let mut words = [0u32; 128];
        for b in 0..count {
            self.wait_buffer(cmd, ready)?;
            if read {
                words.iter_mut().for_each(|w| *w = self.regs.read32(reg::BUFFER));
                each(b, &mut words);
            } else {
                each(b, &mut words);
                words.iter().for_each(|&w| self.regs.write32(reg::BUFFER, w));
            }
        }
        self.wait_transfer_complete(cmd, true, true)
    }

    fn transfer(&self, start: u32, count: usize, read: bool, each: impl FnMut(usize, &mut [u32; 128])) -> Result<(), SdError> {
        let cmd = self.start_transfer(start, count, read, None)?;
        self.pio(cmd, count, read, each)
    }

    /// Whether transfers use SDMA (the controller offers it).
    pub fn uses_dma(&self) -> bool {
        LocalRegisterCopy::<u32, CAPABILITIES::Register>::new(self.regs.read32(reg::CAPABILITIES)).is_set(CAPABILITIES::SDMA)
    }

    /// Move `count` blocks (at most `MAX_BLOCKS_PER_COMMAND`) between the
    /// card and the memory at `buf` with SDMA. The caller keeps the caches
    /// coherent and the buffer alive.
    fn transfer_dma(&self, start: u32, count: usize, read: bool, buf: u64) -> Result<(), SdError> {
        let cmd = self.start_transfer(start, count, read, Some(buf))?;
        let d = Deadline::after(DATA_TIMEOUT * (1 + count as u32 / 64));
        let mut next = next_sdma_boundary(buf);
        loop {
            let st = self.normal_int();
            if st.is_set(NORMAL_INT::ERROR) {
                let status = self.regs.read16(reg::ERROR_INT);
                self.recover(status, true);
                return Err(SdError::from_status(status, cmd));
            }
            if st.is_set(NORMAL_INT::TRANSFER_COMPLETE) {
                self.clear_normal((NORMAL_INT::TRANSFER_COMPLETE::SET + NORMAL_INT::DMA_BOUNDARY::SET).value);
                return Ok(());
            }
            if st.is_set(NORMAL_INT::DMA_BOUNDARY) {
                // Resume at the boundary the controller stopped at: the
                // driver writes the next system address (SDHC 3.00 2.2.1),
                // computed from where the transfer started, not read back.
                self.clear_normal(NORMAL_INT::DMA_BOUNDARY::SET.value);
                self.regs.write32(reg::SDMA_ADDRESS, next as u32);
                next += SDMA_BOUNDARY;
            }
            if d.expired() {
                defmt::warn!(
                    "sdma: timeout, normal 0x{=u16:x} error 0x{=u16:x} state 0x{=u32:x}",
                    st.get(),
                    self.regs.read16(reg::ERROR_INT),
                    self.present().get()
                );
                self.recover(0, true);
                return Err(SdError::Timeout { what: "an SDMA transfer to complete" });
            }
        }
    }

    /// Whether `buf` can go by SDMA: whole blocks from a cache-line
    /// boundary (or an error saying why not: the cache maintenance around
    /// a DMA read would otherwise write a neighbour's stale line over what
    /// the card wrote, or drop what it wrote), and 32-bit addressable (or
    /// `Ok(false)`: the PIO path moves it instead).
    fn dma_usable(&self, buf: &[u8]) -> Result<bool, SdError> {
        let (addr, len, line) = (buf.as_ptr() as u64, buf.len(), crate::arch::aarch64::cache::line());
        if addr % line as u64 != 0 || len % BLOCK != 0 {
            return Err(SdError::Misaligned { addr, len, line });
        }
        Ok(self.uses_dma() && addr + len as u64 <= 1 << 32)
    }

    /// Read `buf.len() / 512` blocks into `buf` (cache-line aligned, whole
    /// blocks), by SDMA below 4 GiB when available, one command per 65535
    /// blocks, retrying transient errors.
    pub fn read_into(&self, start: u32, buf: &mut [u8]) -> Result<(), SdError> {
        if !self.dma_usable(buf)? {
            let count = buf.len() / BLOCK;
            let blocks = buf.as_mut_ptr() as *mut Block;
            // SAFETY: Block is a 512-byte array (repr(transparent), align 1); `buf` holds exactly
            // `count` of them and is exclusively borrowed.
            let blocks = unsafe { core::slice::from_raw_parts_mut(blocks, count) };
            return self.read_blocks(start, blocks);
        }
        for (first, off, count) in dma_chunks(start, buf.len()) {
            let part = &mut buf[off..off + count * BLOCK];
            retry(|| {
                crate::arch::aarch64::cache::invalidate(part);
                self.transfer_dma(first, count, true, part.as_ptr() as u64)?;
                crate::arch::aarch64::cache::invalidate(part);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Write `buf` (cache-line aligned, whole blocks) from memory below 4
    /// GiB, by SDMA when available, one command per 65535 blocks.
    pub fn write_from(&self, start: u32, buf: &[u8]) -> Result<(), SdError> {
        if !self.dma_usable(buf)? {
            // SAFETY: as in `read_into`, for a shared borrow.
            let blocks = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const Block, buf.len() / BLOCK) };
            return self.write_blocks(start, blocks);
        }
        crate::arch::aarch64::cache::clean(buf);
        for (first, off, count) in dma_chunks(start, buf.len()) {
            retry(|| self.transfer_dma(first, count, false, buf[off..].as_ptr() as u64))?;
        }
        Ok(())
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
