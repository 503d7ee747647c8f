//! What the card says, decoded: the R1 card status, the OCR, CID, CSD, SCR
//! and the CMD6 switch-function status (SD Physical Layer Simplified
//! Specification 3.01: 4.10.1 card status, 5.1 OCR, 5.2 CID, 5.3 CSD,
//! 5.6 SCR, 4.3.10 switch function). Pure functions, unit-tested.
use core::fmt;

/// The card status of an R1/R1b response (Physical Layer 4.10.1, table 4-42).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardStatus(pub u32);

/// The error bits of the card status, by name.
const ERRORS: [(u32, &str); 15] = [
    (31, "OUT_OF_RANGE"),
    (30, "ADDRESS_ERROR"),
    (29, "BLOCK_LEN_ERROR"),
    (28, "ERASE_SEQ_ERROR"),
    (27, "ERASE_PARAM"),
    (26, "WP_VIOLATION"),
    (24, "LOCK_UNLOCK_FAILED"),
    (23, "COM_CRC_ERROR"),
    (22, "ILLEGAL_COMMAND"),
    (21, "CARD_ECC_FAILED"),
    (20, "CC_ERROR"),
    (19, "ERROR"),
    (16, "CSD_OVERWRITE"),
    (15, "WP_ERASE_SKIP"),
    (3, "AKE_SEQ_ERROR"),
];

/// The card's state when it received the command (CURRENT_STATE, bits 12:9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardState {
    Idle,
    Ready,
    Ident,
    Stby,
    Tran,
    Data,
    Rcv,
    Prg,
    Dis,
    Reserved(u8),
}

impl CardState {
    pub fn name(self) -> &'static str {
        match self {
            CardState::Idle => "idle",
            CardState::Ready => "ready",
            CardState::Ident => "ident",
            CardState::Stby => "stby",
            CardState::Tran => "tran",
            CardState::Data => "data",
            CardState::Rcv => "rcv",
            CardState::Prg => "prg",
            CardState::Dis => "dis",
            CardState::Reserved(_) => "reserved",
        }
    }
}

impl CardStatus {
    pub const ERROR_MASK: u32 = {
        let mut m = 0;
        let mut i = 0;
        while i < ERRORS.len() {
            m |= 1 << ERRORS[i].0;
            i += 1;
        }
        m
    };

    /// The status R6 (the response to CMD3) carries: bits 15:13 are status
    /// bits 23, 22 and 19; bits 12:0 are status bits 12:0.
    pub fn from_r6(r6: u32) -> CardStatus {
        let s = r6 & 0xffff;
        CardStatus((s & 0x1fff) | ((s >> 13) & 1) << 19 | ((s >> 14) & 1) << 22 | ((s >> 15) & 1) << 23)
    }

    pub fn errors(self) -> u32 {
        self.0 & Self::ERROR_MASK
    }

    pub fn state(self) -> CardState {
        match (self.0 >> 9) & 0xf {
            0 => CardState::Idle,
            1 => CardState::Ready,
            2 => CardState::Ident,
            3 => CardState::Stby,
            4 => CardState::Tran,
            5 => CardState::Data,
            6 => CardState::Rcv,
            7 => CardState::Prg,
            8 => CardState::Dis,
            n => CardState::Reserved(n as u8),
        }
    }

    pub fn ready_for_data(self) -> bool {
        self.0 & (1 << 8) != 0
    }

    /// The card took the previous command as CMD55 (the next is an ACMD).
    pub fn app_cmd(self) -> bool {
        self.0 & (1 << 5) != 0
    }

    /// Names of the error bits that are set.
    pub fn error_names(self) -> impl Iterator<Item = &'static str> {
        ERRORS.iter().filter(move |(b, _)| self.0 & (1 << b) != 0).map(|(_, n)| *n)
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "0x{:08x} (state {}", self.0, self.state().name())?;
        for (i, n) in self.error_names().enumerate() {
            write!(f, "{}{n}", if i == 0 { "; " } else { ", " })?;
        }
        write!(f, ")")
    }
}

/// Operation conditions register (Physical Layer 5.1), from ACMD41's R3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ocr(pub u32);

impl Ocr {
    /// Power-up finished (the busy bit, active high).
    pub fn powered_up(self) -> bool {
        self.0 & (1 << 31) != 0
    }
    /// Card capacity status: SDHC/SDXC (block addressing).
    pub fn high_capacity(self) -> bool {
        self.0 & (1 << 30) != 0
    }
    /// Switching to 1.8 V accepted: the card waits for CMD11.
    pub fn s18a(self) -> bool {
        self.0 & (1 << 24) != 0
    }
    /// The voltage window bits 23:15 (2.7 V to 3.6 V in 100 mV steps).
    pub fn window(self) -> u32 {
        (self.0 >> 15) & 0x1ff
    }
}

/// Bit `n` of a 128-bit register read through an R2 response: the
/// controller strips the CRC, so register bit n is response bit n - 8
/// (SD Host Controller 3.00, 2.2.7 "Response register", table 2-23).
fn r2_bits(r: &[u32; 4], hi: u32, lo: u32) -> u32 {
    let mut v = 0u32;
    for n in (lo..=hi).rev() {
        let i = n - 8;
        v = (v << 1) | ((r[(i / 32) as usize] >> (i % 32)) & 1);
    }
    v
}

/// Card identification register (Physical Layer 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cid(pub [u32; 4]);

impl Cid {
    pub fn manufacturer(&self) -> u8 {
        r2_bits(&self.0, 127, 120) as u8
    }
    pub fn oem(&self) -> [u8; 2] {
        let v = r2_bits(&self.0, 119, 104);
        [(v >> 8) as u8, v as u8]
    }
    pub fn product(&self) -> [u8; 5] {
        let hi = r2_bits(&self.0, 103, 96);
        let lo = r2_bits(&self.0, 95, 64);
        [hi as u8, (lo >> 24) as u8, (lo >> 16) as u8, (lo >> 8) as u8, lo as u8]
    }
    /// Product revision n.m as (n, m).
    pub fn revision(&self) -> (u8, u8) {
        let v = r2_bits(&self.0, 63, 56);
        ((v >> 4) as u8, (v & 0xf) as u8)
    }
    pub fn serial(&self) -> u32 {
        r2_bits(&self.0, 55, 24)
    }
    /// Manufacturing date (year, month).
    pub fn date(&self) -> (u16, u8) {
        let v = r2_bits(&self.0, 19, 8);
        (2000 + (v >> 4) as u16, (v & 0xf) as u8)
    }
}

fn ascii(b: u8) -> char {
    if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (o, p) = (self.oem(), self.product());
        let (rn, rm) = self.revision();
        let (y, m) = self.date();
        write!(f, "manufacturer 0x{:02x}, OEM \"{}{}\", product \"", self.manufacturer(), ascii(o[0]), ascii(o[1]))?;
        for b in p {
            write!(f, "{}", ascii(b))?;
        }
        write!(f, "\" rev {rn}.{rm}, serial 0x{:08x}, made {y}-{m:02}", self.serial())
    }
}

/// Card specific data register (Physical Layer 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Csd(pub [u32; 4]);

impl Csd {
    /// CSD_STRUCTURE: 0 = version 1.0 (SDSC), 1 = version 2.0 (SDHC/SDXC).
    pub fn version(&self) -> u32 {
        r2_bits(&self.0, 127, 126) + 1
    }

    /// Capacity in 512-byte blocks.
    pub fn blocks(&self) -> u32 {
        match r2_bits(&self.0, 127, 126) {
            // CSD 2.0: (C_SIZE + 1) * 512 KiB.
            1 => (r2_bits(&self.0, 69, 48) + 1) * 1024,
            // CSD 1.0: (C_SIZE + 1) * 2^(C_SIZE_MULT + 2) * 2^READ_BL_LEN bytes.
            _ => {
                let c_size = r2_bits(&self.0, 73, 62);
                let mult = r2_bits(&self.0, 49, 47);
                let bl_len = r2_bits(&self.0, 83, 80);
                ((c_size + 1) << (mult + 2)) << bl_len >> 9
            }
        }
    }

    /// TRAN_SPEED in kHz (Physical Layer 5.3.2, table 5-5): 25000 for
    /// default speed (0x32), 50000 once switched to high speed (0x5a).
    pub fn max_transfer_khz(&self) -> u32 {
        let v = r2_bits(&self.0, 103, 96);
        let unit_khz = [100u32, 1_000, 10_000, 100_000, 0, 0, 0, 0][(v & 7) as usize];
        let tenths = [0u32, 10, 12, 13, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80][((v >> 3) & 0xf) as usize];
        unit_khz * tenths / 10
    }

    /// Card command classes (bit 10: switch function, CMD6).
    pub fn command_classes(&self) -> u32 {
        r2_bits(&self.0, 95, 84)
    }
}

/// SD configuration register (Physical Layer 5.6), as the 8 bytes ACMD51
/// returns (first byte on the bus first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Scr(pub [u8; 8]);

impl Scr {
    /// SD_SPEC: 0 = 1.0/1.01, 1 = 1.10, 2 = 2.00 or later (see `spec3`).
    pub fn sd_spec(&self) -> u8 {
        self.0[0] & 0xf
    }
    pub fn spec3(&self) -> bool {
        self.0[2] & 0x80 != 0
    }
    /// SD_BUS_WIDTHS bit 2: the 4-bit bus.
    pub fn four_bit(&self) -> bool {
        self.0[1] & 0x4 != 0
    }
    /// CMD6 exists from version 1.10 on (xsdps: "SCR[0] != 0").
    pub fn has_switch_function(&self) -> bool {
        self.sd_spec() >= 1
    }
    pub fn version_text(&self) -> &'static str {
        match (self.sd_spec(), self.spec3()) {
            (0, _) => "1.0",
            (1, _) => "1.10",
            (2, false) => "2.00",
            (2, true) => "3.0x",
            _ => "newer than 3.0",
        }
    }
}

/// The 64-byte status CMD6 returns (Physical Layer 4.3.10.4, table 4-13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchStatus(pub [u8; 64]);

/// Function group 1 (access mode / bus speed) functions.
pub const FN_DEFAULT_SDR12: u8 = 0;
pub const FN_HIGH_SPEED_SDR25: u8 = 1;
pub const FN_SDR50: u8 = 2;
pub const FN_SDR104: u8 = 3;
pub const FN_DDR50: u8 = 4;

impl SwitchStatus {
    /// Whether group 1 supports function `f` (bits 415:400; byte 13 holds
    /// functions 7..0, as xsdps reads ReadBuff[13]).
    pub fn supports(&self, f: u8) -> bool {
        f < 8 && self.0[13] & (1 << f) != 0
    }
    /// The group 1 function the card selected (bits 379:376; 0xf: the
    /// requested function cannot be switched to).
    pub fn selected(&self) -> u8 {
        self.0[16] & 0xf
    }
    /// A card signalling at 3.3 V reports no support for SDR50, SDR104 and
    /// DDR50 (Physical Layer 4.3.10.4); if it does, it is still at 1.8 V
    /// from an earlier initialisation without a power cycle (the same test
    /// as Linux's mmc_sd_card_using_v18).
    pub fn card_is_at_1v8(&self) -> bool {
        self.supports(FN_SDR50) || self.supports(FN_SDR104) || self.supports(FN_DDR50)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn text(v: impl fmt::Display) -> heapless::String<200> {
        let mut s = heapless::String::new();
        write!(s, "{v}").unwrap();
        s
    }

    /// Table 4-42 of the Physical Layer: which bits are errors, and their names.
    #[test_case]
    fn r1_error_bits_are_decoded_by_name() {
        // A read past the end of the card, received in the transfer state.
        let s = CardStatus((1 << 31) | (1 << 30) | (4 << 9) | (1 << 8));
        assert_eq!(s.errors(), (1 << 31) | (1 << 30));
        assert_eq!(s.state(), CardState::Tran);
        assert!(s.ready_for_data());
        assert_eq!(text(s).as_str(), "0xc0000900 (state tran; OUT_OF_RANGE, ADDRESS_ERROR)");
        // Status bits that are not errors: CARD_IS_LOCKED (25), READY_FOR_DATA,
        // APP_CMD, the state.
        let ok = CardStatus((1 << 25) | (1 << 8) | (1 << 5) | (4 << 9));
        assert_eq!(ok.errors(), 0);
        assert!(ok.app_cmd());
        assert_eq!(text(ok).as_str(), "0x02000920 (state tran)");
        // Every documented error bit is in the mask, nothing else.
        assert_eq!(CardStatus::ERROR_MASK, 0xfdf9_8008);
        let all = CardStatus(u32::MAX);
        assert_eq!(all.error_names().count(), 15);
    }

    #[test_case]
    fn r6_carries_three_error_bits_in_its_low_half() {
        // RCA 0x1234, COM_CRC_ERROR (bit 15 -> 23), ILLEGAL_COMMAND (14 ->
        // 22), ERROR (13 -> 19), state ident (2).
        let s = CardStatus::from_r6((0x1234 << 16) | (0b111 << 13) | (2 << 9));
        assert_eq!(s.errors(), (1 << 23) | (1 << 22) | (1 << 19));
        assert_eq!(s.state(), CardState::Ident);
        assert_eq!(CardStatus::from_r6((0x1234 << 16) | (3 << 9)).errors(), 0);
    }

    #[test_case]
    fn ocr_bits() {
        let o = Ocr(0xc1ff_8000);
        assert!(o.powered_up() && o.high_capacity() && o.s18a());
        assert_eq!(o.window(), 0x1ff);
        assert!(!Ocr(0x00ff_8000).powered_up());
    }

    /// Build an R2 response value with register bits set (the inverse of
    /// `r2_bits`), so the decoders are checked against the bit positions
    /// the specification gives.
    fn r2_with(fields: &[(u32, u32, u32)]) -> [u32; 4] {
        let mut r = [0u32; 4];
        for &(hi, lo, v) in fields {
            for n in lo..=hi {
                if v >> (n - lo) & 1 != 0 {
                    let i = n - 8;
                    r[(i / 32) as usize] |= 1 << (i % 32);
                }
            }
        }
        r
    }

    #[test_case]
    fn csd_capacity_and_speed() {
        // CSD 2.0, C_SIZE 0x3b37 -> (0x3b37 + 1) * 1024 blocks (7.4 GiB),
        // TRAN_SPEED 0x32 (25 MHz), CCC 0x5b5 (class 10: switch).
        let v2 = Csd(r2_with(&[(127, 126, 1), (69, 48, 0x3b37), (103, 96, 0x32), (95, 84, 0x5b5)]));
        assert_eq!(v2.version(), 2);
        assert_eq!(v2.blocks(), (0x3b37 + 1) * 1024);
        assert_eq!(v2.max_transfer_khz(), 25_000);
        assert_ne!(v2.command_classes() & (1 << 10), 0);
        assert_eq!(Csd(r2_with(&[(103, 96, 0x5a)])).max_transfer_khz(), 50_000);
        // CSD 1.0, 64 MiB: C_SIZE 3839, C_SIZE_MULT 3 (x32), READ_BL_LEN 9.
        let v1 = Csd(r2_with(&[(73, 62, 3839), (49, 47, 3), (83, 80, 9)]));
        assert_eq!(v1.version(), 1);
        assert_eq!(v1.blocks(), 3840 * 32);
    }

    #[test_case]
    fn cid_fields() {
        let c = Cid(r2_with(&[
            (127, 120, 0x03),
            (119, 104, u32::from_be_bytes([0, 0, b'S', b'D'])),
            (103, 96, b'S' as u32),
            (95, 64, u32::from_be_bytes(*b"U32G")),
            (63, 56, 0x80),
            (55, 24, 0x1234_5678),
            (19, 8, (23 << 4) | 5),
        ]));
        assert_eq!(
            text(c).as_str(),
            "manufacturer 0x03, OEM \"SD\", product \"SU32G\" rev 8.0, serial 0x12345678, made 2023-05"
        );
    }

    #[test_case]
    fn scr_fields() {
        // An SD 3.0x card with 1- and 4-bit bus.
        let s = Scr([0x02, 0x35, 0x80, 0, 0, 0, 0, 0]);
        assert_eq!(s.version_text(), "3.0x");
        assert!(s.four_bit() && s.has_switch_function());
        assert!(!Scr([0x00, 0x01, 0, 0, 0, 0, 0, 0]).has_switch_function());
    }

    #[test_case]
    fn switch_status_group_1() {
        let mut st = [0u8; 64];
        st[13] = 0x03; // default + high speed
        st[16] = 0x01; // high speed selected
        let s = SwitchStatus(st);
        assert!(s.supports(FN_DEFAULT_SDR12) && s.supports(FN_HIGH_SPEED_SDR25));
        assert_eq!(s.selected(), FN_HIGH_SPEED_SDR25);
        assert!(!s.card_is_at_1v8());
        st[13] = 0x1f; // what a UHS-I card at 1.8 V reports
        assert!(SwitchStatus(st).card_is_at_1v8());
    }
}
