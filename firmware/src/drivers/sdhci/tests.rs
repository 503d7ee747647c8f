//! The SD driver against QEMU's SDHCI with a real card image on SD0 (the
//! test runner attaches one to every firmware test binary; SD1, the board's
//! slot, stays as the other tests expect it), and, for what QEMU cannot do,
//! against a register-level double over that same controller.
//!
//! QEMU's SD card cannot switch to 1.8 V signalling: it never sets S18A,
//! does not know CMD11's line handshake, keeps its DAT lines high, and its
//! SDHCI ignores 16-bit writes to Host Control 2. `VoltageDouble` stands in
//! for exactly those registers and passes everything else through to QEMU,
//! so the identification, the reads and the card's answers stay QEMU's.
use super::card::{CardState, FN_HIGH_SPEED_SDR25};
use super::*;
use crate::bsp::zcu102;
use core::cell::RefCell;
use crate::println;

fn sd0_slot(request_1v8: bool) -> Slot {
    Slot { ref_clock_hz: zcu102::SD_REF_CLOCK_HZ, default_speed_khz: 19_000, request_1v8, high_speed: true, card_detect: true, tap_delays: zcu102::sd0_tap_delays }
}

fn sd0(request_1v8: bool) -> Sdhci {
    // SAFETY: SD0's register block, mapped as device memory; no other code
    // uses SD0.
    unsafe { Sdhci::new(zcu102::SD0_BASE, sd0_slot(request_1v8)) }
}

fn print_trace(t: &Trace) {
    let mut out = crate::bsp::zcu102::console_uart();
    let _ = t.write(&mut out, "    ");
}

/// Index of the first step at or after `from` that matches, or a panic
/// naming what was missing.
fn step(t: &Trace, from: usize, what: &str, pred: impl Fn(&Step) -> bool) -> usize {
    match t.find(from, pred) {
        Some(i) => i,
        None => {
            print_trace(t);
            panic!("no step '{what}' after step {from} in the trace above");
        }
    }
}

fn command(index: u8) -> impl Fn(&Step) -> bool {
    move |s| matches!(s, Step::Command { index: i, .. } if *i == index)
}

/// The MBR the card builder wrote ends in 0x55 0xAA.
fn read_mbr<R: Regs>(sd: &Sdhci<R>) {
    let mut b = [Block::new()];
    sd.read_blocks(0, &mut b).expect("read block 0");
    assert_eq!(&b[0].contents[510..], &[0x55, 0xaa], "block 0 is not the card image's MBR");
}

/// The power-up sequence of the module comment, in order, with its
/// minimum delays checked against the generic timer.
#[test_case]
fn init_runs_the_spec_sequence_with_its_delays() {
    let mut sd = sd0(false);
    let info = sd.init().expect("SD0 init");
    let t = sd.trace();
    println!();
    print_trace(&t);
    let off = step(&t, 0, "power off", |s| *s == Step::PowerOff);
    let reset = step(&t, off, "reset", |s| *s == Step::ResetAll);
    assert!(t.micros_between(off, reset) >= POWER_OFF.as_micros() as u64, "power was off {} us", t.micros_between(off, reset));
    let stable = step(&t, reset, "card stable", |s| *s == Step::CardStable);
    let on = step(&t, stable, "power on", |s| *s == Step::PowerOn { millivolts: 3300 });
    let clock = step(&t, on, "400 kHz clock", |s| matches!(s, Step::Clock { khz } if *khz <= 400));
    assert!(t.micros_between(on, clock) >= POWER_RAMP.as_micros() as u64);
    let cmd0 = step(&t, clock, "CMD0", command(0));
    assert!(t.micros_between(clock, cmd0) >= INIT_CLOCKS.as_micros() as u64, "CMD0 {} us after the clock", t.micros_between(clock, cmd0));
    // The commands of the identification, in order.
    let mut at = cmd0;
    // No ACMD42: the DAT3 pull-up stays on (sdps 3.10).
    for (index, app) in [(8, false), (41, true), (2, false), (3, false), (9, false), (7, false), (51, true), (6, true), (6, false), (6, false), (16, false)] {
        at = step(&t, at + 1, "next command", move |s| matches!(s, Step::Command { index: i, app: a, .. } if *i == index && *a == app));
    }
    // Default speed until CMD6 switched the card, then 50 MHz.
    let hs = step(&t, cmd0, "high speed", |s| *s == Step::Speed(SpeedMode::HighSpeed));
    assert!(t.find(hs, |s| matches!(s, Step::Recovery { .. } | Step::Failed)).is_none(), "errors in a clean init");
    assert_eq!(t.find(0, command(11)), None, "no CMD11 without a request for 1.8 V");
    assert_eq!(t.find(0, command(42)), None, "ACMD42 would disconnect the DAT3 pull-up");
    assert_eq!((info.bus_width, info.speed, info.signalling, info.attempts), (4, SpeedMode::HighSpeed, Signalling::V3_3, 1));
    // QEMU's controller reports a 100 MHz base clock: 50 MHz is divisor 1.
    assert_eq!(info.clock_khz, 50_000);
    assert!(info.ocr.powered_up());
    // QEMU's card model is a Physical Layer 2.00 card (its default
    // spec_version): CMD6 exists, UHS-I does not.
    assert_eq!(info.scr.version_text(), "2.00");
    assert!(info.scr.has_switch_function() && info.scr.four_bit());
    assert_eq!(info.blocks, (xlic_cardimg_size_mib() << 20) / 512);
    drop(t);
    read_mbr(&sd);
}

/// The runner's card image size (xtask: xlic_cardimg::DEFAULT_SIZE_MIB).
fn xlic_cardimg_size_mib() -> u32 {
    64
}

/// An empty slot: the power-up runs, and the driver says there is no card
/// without a retry.
#[test_case]
fn an_empty_slot_is_no_card() {
    // SAFETY: SD1 (empty in unit tests: the runner attaches no card there).
    let mut sd = unsafe { Sdhci::new(zcu102::SD1_BASE, zcu102::sd1_slot()) };
    assert_eq!(sd.init().unwrap_err(), SdError::NoCard);
    assert_eq!(sd.trace().find(0, |s| matches!(s, Step::Attempt { n: 2, .. })), None);
}

/// A read past the end of the card: the card answers CMD17 with
/// ADDRESS_ERROR in its R1 status; the driver reports that by name, runs
/// the recovery (line resets, CMD12, CMD13), and the next read works.
#[test_case]
fn a_card_status_error_is_reported_and_recovered_from() {
    let mut sd = sd0(false);
    let info = sd.init().expect("init");
    let beyond = info.blocks + 8;
    // The driver's own range check would refuse; go one level below it.
    let e = sd.issue_transfer(&info, beyond, 1, true, None).map(|_| ()).and_then(|_| sd.pio(17, 1, true, |_, _| {}));
    match e {
        Err(SdError::CardStatus { cmd: 17, status }) => {
            assert!(status.error_names().any(|n| n == "ADDRESS_ERROR" || n == "OUT_OF_RANGE"), "{status}");
            assert_eq!(status.state(), CardState::Tran);
        }
        other => panic!("expected a card status error, got {other:?}"),
    }
    read_mbr(&sd);
    // And the range check above the card: no command at all.
    let mut b = [Block::new()];
    assert_eq!(sd.read_blocks(beyond, &mut b), Err(SdError::OutOfRange { block: beyond, blocks: info.blocks }));
}

#[test_case]
fn clock_divisors_never_exceed_the_target() {
    assert_eq!(clock_divisor(200_000_000, 400_000), 250);
    assert_eq!(clock_hz(200_000_000, 250), 400_000);
    // 19 MHz on the ZCU102's 200 MHz reference: 16.7 MHz, never 20 MHz.
    assert_eq!(clock_divisor(200_000_000, 19_000_000), 6);
    assert_eq!(clock_divisor(200_000_000, 50_000_000), 2);
    assert_eq!(clock_divisor(100_000_000, 50_000_000), 1);
    assert_eq!(clock_divisor(50_000_000, 100_000_000), 0);
    // (The slowest clock is base / 2046: 98 kHz at 200 MHz.)
    for (base, target) in [(200_000_000, 400_000), (187_481_250, 19_000_000), (100_000_000, 25_000_000), (200_000_000, 100_000)] {
        let n = clock_divisor(base, target);
        assert!(clock_hz(base, n) <= target, "{base} / {n} exceeds {target}");
    }
}

/// SDHC 2.2.24: a base clock field of 0 means "ask the system"; the
/// ZynqMP's Arasan reports 0 and runs from the ~200 MHz SD reference.
#[test_case]
fn a_zero_base_clock_means_the_slot_reference() {
    assert_eq!(base_clock_hz(0x37ec_0081, 200_000_000), 200_000_000);
    assert_eq!(base_clock_hz(0x37ec_6481, 200_000_000), 100_000_000);
}

/// How the double's card behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// A UHS-I card at 3.3 V: accepts 1.8 V (S18A) and switches on CMD11.
    AcceptsSwitch,
    /// The same, but the switch fails: DAT[3:0] stay low afterwards.
    SwitchFails,
    /// A card the FSBL left at 1.8 V (a power-off that does not reach it):
    /// no S18A (nothing to switch), UHS-I modes listed in its CMD6 status.
    AlreadyAt1v8,
}

/// Stands in for the registers QEMU cannot drive for a voltage switch and
/// passes the rest to SD0 (see the module comment).
struct VoltageDouble {
    inner: Mmio,
    scenario: Scenario,
    arg: Cell<u32>,
    /// Index of the last command, and whether it followed CMD55.
    last: Cell<(u8, bool)>,
    s18r: Cell<bool>,
    /// CMD11 answered by the double: Command Complete shown until cleared.
    cmd11_complete: Cell<bool>,
    /// Between CMD11 and the card releasing DAT[3:0].
    switching: Cell<bool>,
    hc2: Cell<u16>,
    clock_off_at: Cell<Option<u64>>,
    clock_on_at: Cell<Option<u64>>,
    hc2_1v8_at: Cell<Option<u64>>,
    buffer_reads: Cell<u32>,
}

impl VoltageDouble {
    fn new(scenario: Scenario) -> Self {
        VoltageDouble {
            // SAFETY: SD0's register block; the double is its only user.
            inner: unsafe { Mmio::new(zcu102::SD0_BASE) },
            scenario,
            arg: Cell::new(0),
            last: Cell::new((0, false)),
            s18r: Cell::new(false),
            cmd11_complete: Cell::new(false),
            switching: Cell::new(false),
            hc2: Cell::new(0),
            clock_off_at: Cell::new(None),
            clock_on_at: Cell::new(None),
            hc2_1v8_at: Cell::new(None),
            buffer_reads: Cell::new(0),
        }
    }

    fn micros(ticks: u64) -> u64 {
        (ticks as u128 * 1_000_000 / time::frequency() as u128) as u64
    }

    /// The card drives DAT[3:0] high again once the host gave it the clock
    /// back at 1.8 V after at least 5 ms without (PLSS 4.2.4.2), unless
    /// this card's switch fails.
    fn released(&self) -> bool {
        let (Some(off), Some(on), Some(_)) = (self.clock_off_at.get(), self.clock_on_at.get(), self.hc2_1v8_at.get()) else { return false };
        self.scenario != Scenario::SwitchFails && Self::micros(on - off) >= 5_000
    }
}

impl Regs for VoltageDouble {
    fn read8(&self, off: usize) -> u8 {
        self.inner.read8(off)
    }
    fn read16(&self, off: usize) -> u16 {
        match off {
            reg::NORMAL_INT if self.cmd11_complete.get() => self.inner.read16(off) | NORMAL_INT::CMD_COMPLETE::SET.value,
            reg::HOST_CONTROL2 => self.hc2.get(),
            _ => self.inner.read16(off),
        }
    }
    fn read32(&self, off: usize) -> u32 {
        let v = self.inner.read32(off);
        match off {
            // CMD11's R1: state ready, no errors.
            reg::RESPONSE if self.last.get() == (11, false) => 1 << 9,
            reg::RESPONSE if self.last.get() == (41, true) && self.s18r.get() && self.scenario != Scenario::AlreadyAt1v8 => v | (1 << 24),
            reg::PRESENT_STATE if self.switching.get() => {
                if self.released() {
                    self.switching.set(false);
                    v
                } else {
                    v & !(0xf << 20) & !(1 << 24)
                }
            }
            reg::BUFFER if self.last.get().0 == 6 && !self.last.get().1 && self.scenario == Scenario::AlreadyAt1v8 => {
                let n = self.buffer_reads.get();
                self.buffer_reads.set(n + 1);
                // Word 3 holds status bytes 12..15: byte 13 lists group 1's
                // functions; a card at 1.8 V adds SDR50 and SDR104.
                if n == 3 { v | (0x0c << 8) } else { v }
            }
            _ => v,
        }
    }
    fn write8(&self, off: usize, v: u8) {
        if off == reg::POWER_CONTROL && v & 1 == 0 {
            // Power off: a card that can be powered off forgets the switch.
            self.switching.set(false);
            self.cmd11_complete.set(false);
            for c in [&self.clock_off_at, &self.clock_on_at, &self.hc2_1v8_at] {
                c.set(None);
            }
        }
        self.inner.write8(off, v)
    }
    fn write16(&self, off: usize, v: u16) {
        match off {
            reg::COMMAND => {
                let index = ((v >> 8) & 0x3f) as u8;
                let app = self.last.get() == (55, false);
                self.last.set((index, app));
                if index == 41 && app {
                    self.s18r.set(self.arg.get() & (1 << 24) != 0);
                }
                if index == 6 && !app {
                    self.buffer_reads.set(0);
                }
                if index == 11 && self.scenario != Scenario::AlreadyAt1v8 {
                    self.cmd11_complete.set(true);
                    self.switching.set(true);
                    return;
                }
                self.inner.write16(off, v)
            }
            reg::NORMAL_INT => {
                if v & NORMAL_INT::CMD_COMPLETE::SET.value != 0 {
                    self.cmd11_complete.set(false);
                }
                self.inner.write16(off, v)
            }
            reg::HOST_CONTROL2 => {
                if v & HOST_CONTROL2::SIGNALLING_1V8::SET.value != 0 && self.hc2.get() & HOST_CONTROL2::SIGNALLING_1V8::SET.value == 0 {
                    self.hc2_1v8_at.set(Some(time::ticks()));
                }
                self.hc2.set(v)
            }
            reg::CLOCK_CONTROL => {
                let sd_on = v & CLOCK_CONTROL::SD_CLOCK_ENABLE::SET.value != 0;
                if self.switching.get() {
                    if !sd_on && self.clock_off_at.get().is_none() {
                        self.clock_off_at.set(Some(time::ticks()));
                    } else if sd_on && self.clock_off_at.get().is_some() && self.clock_on_at.get().is_none() {
                        self.clock_on_at.set(Some(time::ticks()));
                    }
                }
                self.inner.write16(off, v)
            }
            _ => self.inner.write16(off, v),
        }
    }
    fn write32(&self, off: usize, v: u32) {
        if off == reg::ARGUMENT {
            self.arg.set(v);
        }
        self.inner.write32(off, v)
    }
}

/// A card that accepts 1.8 V: CMD11, lines low, clock off, Host Control 2
/// bit 3, >= 5 ms, clock on, >= 1 ms, lines high; then SDR25 at 50 MHz.
/// The 1.8 V registers are the double's (QEMU cannot switch); the rest is
/// QEMU's card, which the last read shows still answers.
#[test_case]
fn a_card_that_accepts_1v8_is_switched_with_cmd11_and_its_timing() {
    let mut sd = Sdhci::with_regs(VoltageDouble::new(Scenario::AcceptsSwitch), sd0_slot(true));
    let info = sd.init().expect("init with a voltage switch");
    let t = sd.trace();
    println!();
    print_trace(&t);
    let acmd41 = step(&t, 0, "ACMD41", command(41));
    assert!(matches!(t.events()[acmd41].step, Step::Command { arg, .. } if arg & (1 << 24) != 0), "S18R not requested");
    let cmd11 = step(&t, acmd41, "CMD11", command(11));
    let low = step(&t, cmd11, "lines low", |s| *s == Step::Lines { low: true });
    let stop = step(&t, low, "clock stopped", |s| *s == Step::ClockStopped);
    let v18 = step(&t, stop, "1.8 V enable", |s| *s == Step::Signalling1v8);
    let on = step(&t, v18, "clock on", |s| matches!(s, Step::Clock { .. }));
    assert!(t.micros_between(stop, on) >= SWITCH_CLOCK_OFF.as_micros() as u64, "clock off for {} us", t.micros_between(stop, on));
    let high = step(&t, on, "lines high", |s| *s == Step::Lines { low: false });
    assert!(t.micros_between(on, high) >= SWITCH_CLOCK_ON.as_micros() as u64);
    step(&t, high, "CMD2 after the switch", command(2));
    // What the card (the double) saw: the same timing, measured on its side.
    let d = sd.regs();
    let (off, on) = (d.clock_off_at.get().unwrap(), d.clock_on_at.get().unwrap());
    assert!(VoltageDouble::micros(on - off) >= 5_000);
    assert!((off..=on).contains(&d.hc2_1v8_at.get().unwrap()), "1.8 V enabled outside the clock gap");
    assert_eq!(d.hc2.get() & 0xf, HOST_CONTROL2::SIGNALLING_1V8::SET.value | HOST_CONTROL2::UHS_MODE::Sdr25.value);
    assert_eq!((info.signalling, info.speed, info.clock_khz, info.attempts), (Signalling::V1_8, SpeedMode::Sdr25, 50_000, 1));
    assert!(info.ocr.s18a() && !info.found_at_1v8);
    drop(t);
    read_mbr(&sd);
}

/// The switch fails (DAT[3:0] stay low): the attempt fails, the bus is
/// powered off for the longer time, and the retry runs at 3.3 V without
/// asking for 1.8 V.
#[test_case]
fn a_failed_switch_is_retried_at_3v3_after_a_longer_power_off() {
    let mut sd = Sdhci::with_regs(VoltageDouble::new(Scenario::SwitchFails), sd0_slot(true));
    let info = sd.init().expect("the retry works");
    let t = sd.trace();
    let cmd11 = step(&t, 0, "CMD11", command(11));
    let failed = step(&t, cmd11, "failed attempt", |s| *s == Step::Failed);
    let second = step(&t, failed, "second attempt", |s| matches!(s, Step::Attempt { n: 2, .. }));
    let off = step(&t, second, "power off", |s| *s == Step::PowerOff);
    let reset = step(&t, off, "reset", |s| *s == Step::ResetAll);
    assert!(t.micros_between(off, reset) >= POWER_OFF_RETRY.as_micros() as u64, "retry power-off {} us", t.micros_between(off, reset));
    let acmd41 = step(&t, reset, "ACMD41", command(41));
    assert!(matches!(t.events()[acmd41].step, Step::Command { arg, .. } if arg & (1 << 24) == 0), "the retry asked for 1.8 V again");
    assert_eq!(t.find(acmd41, command(11)), None);
    assert_eq!((info.signalling, info.speed, info.attempts), (Signalling::V3_3, SpeedMode::HighSpeed, 2));
    drop(t);
    read_mbr(&sd);
}

/// A card still at 1.8 V from the FSBL (its supply never went off): no
/// S18A, but its CMD6 status lists UHS-I modes. The host switches its side
/// (no CMD11: the card is there already) and runs SDR25.
#[test_case]
fn a_card_left_at_1v8_is_detected_and_the_host_follows() {
    let mut sd = Sdhci::with_regs(VoltageDouble::new(Scenario::AlreadyAt1v8), sd0_slot(false));
    let info = sd.init().expect("init of a card left at 1.8 V");
    let t = sd.trace();
    assert_eq!(t.find(0, command(11)), None);
    let cmd6 = step(&t, 0, "CMD6 (check)", command(6));
    let v18 = step(&t, cmd6, "host to 1.8 V", |s| *s == Step::Signalling1v8);
    let on = step(&t, v18, "clock on", |s| matches!(s, Step::Clock { .. }));
    assert!(t.micros_between(v18, on) >= SWITCH_CLOCK_OFF.as_micros() as u64);
    step(&t, on, "CMD6 (switch)", command(6));
    assert_eq!((info.signalling, info.speed, info.found_at_1v8), (Signalling::V1_8, SpeedMode::Sdr25, true));
    assert_ne!(sd.regs().hc2.get() & HOST_CONTROL2::SIGNALLING_1V8::SET.value, 0);
    drop(t);
    read_mbr(&sd);
    let _ = FN_HIGH_SPEED_SDR25;
}

/// Passes every access through to `inner` (QEMU's SD0, or a double over
/// it) and watches what QEMU cannot judge: whether High Speed Enable or UHS
/// Mode Select changed while the SD clock ran, how many commands were
/// issued, which SDMA System Addresses were written; and, as asked, hides
/// Present State bits, returns a wrong SDMA System Address on reads, or
/// raises SDMA boundary interrupts.
///
/// The boundary interrupts are the double's because QEMU cannot resume
/// SDMA at a boundary: since 6.0 (the CVE-2021-3409 fix) it ignores writes
/// to the SDMA System Address while a transfer is in progress, so a
/// transfer that stops at a boundary never continues. QEMU moves the data
/// in one go (its SDMA stops only for a boundary-aligned start); the double
/// then holds Transfer Complete back and shows DMA Interrupt once per
/// boundary the buffer crosses, as the controller would.
struct Spy<R: Regs> {
    inner: R,
    sd_clock_on: Cell<bool>,
    timing_changes: Cell<u32>,
    timing_changes_clock_running: Cell<u32>,
    commands: Cell<u32>,
    present_clear: u32,
    sdma_readback: Option<u32>,
    boundaries_to_raise: Cell<u32>,
    /// A boundary interrupt was shown and not yet cleared.
    boundary_shown: Cell<bool>,
    sdma_writes: RefCell<heapless::Vec<u32, 8>>,
}

impl<R: Regs> Spy<R> {
    fn new(inner: R) -> Self {
        Spy {
            inner,
            sd_clock_on: Cell::new(false),
            timing_changes: Cell::new(0),
            timing_changes_clock_running: Cell::new(0),
            commands: Cell::new(0),
            present_clear: 0,
            sdma_readback: None,
            boundaries_to_raise: Cell::new(0),
            boundary_shown: Cell::new(false),
            sdma_writes: RefCell::new(heapless::Vec::new()),
        }
    }
    fn timing_change(&self) {
        self.timing_changes.set(self.timing_changes.get() + 1);
        if self.sd_clock_on.get() {
            self.timing_changes_clock_running.set(self.timing_changes_clock_running.get() + 1);
        }
    }
}

impl<R: Regs> Regs for Spy<R> {
    fn read8(&self, off: usize) -> u8 {
        self.inner.read8(off)
    }
    fn read16(&self, off: usize) -> u16 {
        let v = self.inner.read16(off);
        if off == reg::NORMAL_INT && self.boundaries_to_raise.get() > 0 && v & NORMAL_INT::TRANSFER_COMPLETE::SET.value != 0 {
            self.boundary_shown.set(true);
            return (v & !NORMAL_INT::TRANSFER_COMPLETE::SET.value) | NORMAL_INT::DMA_BOUNDARY::SET.value;
        }
        v
    }
    fn read32(&self, off: usize) -> u32 {
        match off {
            reg::PRESENT_STATE => self.inner.read32(off) & !self.present_clear,
            reg::SDMA_ADDRESS => self.sdma_readback.unwrap_or_else(|| self.inner.read32(off)),
            _ => self.inner.read32(off),
        }
    }
    fn write8(&self, off: usize, v: u8) {
        if off == reg::HOST_CONTROL && (v ^ self.inner.read8(off)) & HOST_CONTROL::HIGH_SPEED::SET.value != 0 {
            self.timing_change();
        }
        self.inner.write8(off, v)
    }
    fn write16(&self, off: usize, v: u16) {
        match off {
            reg::CLOCK_CONTROL => self.sd_clock_on.set(v & CLOCK_CONTROL::SD_CLOCK_ENABLE::SET.value != 0),
            reg::HOST_CONTROL2 if (v ^ self.inner.read16(off)) & 0x7 != 0 => self.timing_change(),
            reg::COMMAND => self.commands.set(self.commands.get() + 1),
            reg::NORMAL_INT if v & NORMAL_INT::DMA_BOUNDARY::SET.value != 0 && self.boundary_shown.get() => {
                self.boundary_shown.set(false);
                self.boundaries_to_raise.set(self.boundaries_to_raise.get() - 1);
            }
            _ => {}
        }
        self.inner.write16(off, v)
    }
    fn write32(&self, off: usize, v: u32) {
        if off == reg::SDMA_ADDRESS {
            let _ = self.sdma_writes.borrow_mut().push(v);
        }
        self.inner.write32(off, v)
    }
}

/// High Speed Enable (3.3 V) and UHS Mode Select (1.8 V, the double's Host
/// Control 2) change only while the SD clock is stopped.
#[test_case]
fn bus_timing_changes_only_with_the_sd_clock_stopped() {
    // SAFETY: SD0's register block; no other code uses SD0.
    let mut sd = Sdhci::with_regs(Spy::new(unsafe { Mmio::new(zcu102::SD0_BASE) }), sd0_slot(false));
    assert_eq!(sd.init().expect("init").speed, SpeedMode::HighSpeed);
    let spy = sd.regs();
    assert!(spy.timing_changes.get() >= 1, "High Speed Enable was never set");
    assert_eq!(spy.timing_changes_clock_running.get(), 0, "High Speed Enable changed with SDCLK running");
    let mut sd = Sdhci::with_regs(Spy::new(VoltageDouble::new(Scenario::AcceptsSwitch)), sd0_slot(true));
    assert_eq!(sd.init().expect("init").speed, SpeedMode::Sdr25);
    let spy = sd.regs();
    assert!(spy.timing_changes.get() >= 2, "UHS Mode Select and High Speed Enable: {} changes", spy.timing_changes.get());
    assert_eq!(spy.timing_changes_clock_running.get(), 0, "bus timing changed with SDCLK running");
    read_mbr(&sd);
}

/// A slot without card detect wired (or whose detect is meaningless) is
/// initialised whatever Present State says; one with it waits for a stable
/// detect, which never comes here.
#[test_case]
fn card_detect_is_waited_for_only_when_the_slot_has_it() {
    let hide = (1 << 16) | (1 << 17); // Card Inserted, Card State Stable
    // SAFETY (both): SD0's register block; no other code uses SD0.
    let spy = Spy { present_clear: hide, ..Spy::new(unsafe { Mmio::new(zcu102::SD0_BASE) }) };
    let mut sd = Sdhci::with_regs(spy, Slot { card_detect: false, ..sd0_slot(false) });
    sd.init().expect("init without card detect");
    assert_eq!(sd.trace().find(0, |s| *s == Step::CardStable), None);
    read_mbr(&sd);
    let spy = Spy { present_clear: hide, ..Spy::new(unsafe { Mmio::new(zcu102::SD0_BASE) }) };
    let mut sd = Sdhci::with_regs(spy, sd0_slot(false));
    assert_eq!(sd.init().unwrap_err(), SdError::Timeout { what: "the card detect to settle" });
}

/// Blocks 1..=1536 (768 KiB) read by SDMA, the buffer crossing at least
/// one 512 KiB boundary, with the SDMA System Address reading back a wrong
/// value: at each boundary interrupt (the double's, see `Spy`) the driver
/// must write the next boundary it computes, not what the register says.
/// The data must equal what PIO reads.
#[test_case]
fn sdma_resumes_at_the_computed_boundary() {
    #[repr(C, align(64))]
    struct Buf([u8; 1536 * 512]);
    static mut BUF: Buf = Buf([0; 1536 * 512]);
    // SAFETY: only this test uses BUF.
    let buf = unsafe { &mut (*core::ptr::addr_of_mut!(BUF)).0 };
    let start = buf.as_ptr() as u64;
    let mut want: heapless::Vec<u32, 8> = heapless::Vec::new();
    want.push(start as u32).unwrap();
    let mut b = next_sdma_boundary(start);
    while b < start + buf.len() as u64 {
        want.push(b as u32).unwrap();
        b += SDMA_BOUNDARY;
    }
    assert!(want.len() >= 2, "the buffer crosses no boundary");
    // SAFETY: SD0's register block; no other code uses SD0.
    let spy = Spy { sdma_readback: Some(0x0dea_d000), ..Spy::new(unsafe { Mmio::new(zcu102::SD0_BASE) }) };
    let mut sd = Sdhci::with_regs(spy, sd0_slot(false));
    sd.init().expect("init");
    assert!(sd.uses_dma(), "QEMU's SDHCI offers SDMA");
    sd.regs().boundaries_to_raise.set(want.len() as u32 - 1);
    sd.regs().sdma_writes.borrow_mut().clear();
    buf.fill(0xa5);
    sd.read_into(1, buf).expect("SDMA read");
    assert_eq!(*sd.regs().sdma_writes.borrow(), want, "SDMA System Address writes");
    assert_eq!(sd.regs().boundaries_to_raise.get(), 0);
    let mut b: [Block; 8] = core::array::from_fn(|_| Block::new());
    for (i, chunk) in buf.chunks(8 * 512).enumerate() {
        sd.read_blocks(1 + 8 * i as u32, &mut b).expect("PIO read");
        for (j, blk) in b.iter().enumerate() {
            assert!(blk.contents[..] == chunk[512 * j..512 * (j + 1)], "block {} differs between SDMA and PIO", 1 + 8 * i + j);
        }
    }
}

/// A DMA buffer off a cache line, or not whole blocks, is refused with a
/// typed error before any command; a good one is split at 65535 blocks.
#[test_case]
fn dma_buffers_are_checked_and_split() {
    #[repr(C, align(64))]
    struct Buf([u8; 4 * 512]);
    static mut BUF: Buf = Buf([0; 4 * 512]);
    // SAFETY: only this test uses BUF.
    let buf = unsafe { &mut (*core::ptr::addr_of_mut!(BUF)).0 };
    // SAFETY: SD0's register block; no other code uses SD0.
    let mut sd = Sdhci::with_regs(Spy::new(unsafe { Mmio::new(zcu102::SD0_BASE) }), sd0_slot(false));
    sd.init().expect("init");
    let before = sd.regs().commands.get();
    let line = crate::arch::aarch64::cache::line();
    let addr = buf.as_ptr() as u64;
    assert_eq!(sd.read_into(0, &mut buf[4..4 + 512]), Err(SdError::Misaligned { addr: addr + 4, len: 512, line }));
    assert_eq!(sd.read_into(0, &mut buf[..700]), Err(SdError::Misaligned { addr, len: 700, line }));
    assert_eq!(sd.write_from(0, &buf[line..line + 512 + 1]), Err(SdError::Misaligned { addr: addr + line as u64, len: 513, line }));
    assert_eq!(sd.regs().commands.get(), before, "a command went out for a refused buffer");
    sd.read_into(0, &mut buf[..]).expect("an aligned read");
    assert_eq!(&buf[510..512], &[0x55, 0xaa]);
    // The split: 65535 blocks per command, the rest in the last.
    let chunks: heapless::Vec<(u32, usize, usize), 4> = dma_chunks(10, (2 * 65535 + 3) * 512).collect();
    assert_eq!(&chunks[..], &[(10, 0, 65535), (10 + 65535, 65535 * 512, 65535), (10 + 2 * 65535, 2 * 65535 * 512, 3)]);
    assert_eq!(dma_chunks(0, 0).count(), 0);
    assert_eq!(next_sdma_boundary(0x20_0000), 0x28_0000);
    assert_eq!(next_sdma_boundary(0x27_fe00), 0x28_0000);
}
