//! What the driver did to bring the card up, step by step with the counter
//! value of each step, so a test (or `diag` on the board) can check the
//! sequence and its delays against the timer.
use crate::arch::aarch64::time;
use core::fmt;

/// One step of the initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Attempt `n` (1 or 2) begins; its power-off lasts `power_off_ms`.
    Attempt { n: u8, power_off_ms: u32 },
    /// Bus power off (Power Control = 0).
    PowerOff,
    /// Software reset for all, completed.
    ResetAll,
    /// Present State says the card detect is stable.
    CardStable,
    /// Bus power on at this voltage.
    PowerOn { millivolts: u16 },
    /// A wait of at least `us` microseconds ends.
    Waited { why: &'static str, us: u32 },
    /// Internal clock stable and SD clock running at this rate.
    Clock { khz: u32 },
    /// SD clock stopped.
    ClockStopped,
    /// A command was issued (app: after CMD55).
    Command { index: u8, app: bool, arg: u32 },
    /// Its response, word 0.
    Response { index: u8, r0: u32 },
    /// Host Control 2 "1.8 V signalling enable" set.
    Signalling1v8,
    /// Present State: CMD and DAT[3:0] low (true) or high (false).
    Lines { low: bool },
    /// The bus is this many bits wide.
    BusWidth(u8),
    /// The bus now runs in this mode.
    Speed(super::SpeedMode),
    /// An error, and the recovery of the SD Host Controller spec (3.10.1):
    /// error interrupt status, and whether CMD12 was sent to abort.
    Recovery { status: u16, abort: bool },
    /// The attempt failed (the error follows in the driver's result).
    Failed,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Step::Attempt { n, power_off_ms } => write!(f, "attempt {n} (power off for {power_off_ms} ms)"),
            Step::PowerOff => write!(f, "bus power off"),
            Step::ResetAll => write!(f, "software reset for all done"),
            Step::CardStable => write!(f, "card detect stable, card inserted"),
            Step::PowerOn { millivolts } => write!(f, "bus power on at {}.{} V", millivolts / 1000, millivolts % 1000 / 100),
            Step::Waited { why, us } => write!(f, "waited >= {}.{:03} ms: {why}", us / 1000, us % 1000),
            Step::Clock { khz } => write!(f, "SD clock on at {khz} kHz"),
            Step::ClockStopped => write!(f, "SD clock stopped"),
            Step::Command { index, app, arg } => write!(f, "{}CMD{index} arg 0x{arg:08x}", if app { "A" } else { "" }),
            Step::Response { index, r0 } => write!(f, "  response to CMD{index}: 0x{r0:08x}"),
            Step::Signalling1v8 => write!(f, "Host Control 2: 1.8 V signalling enable set"),
            Step::Lines { low } => write!(f, "CMD and DAT[3:0] {}", if low { "low" } else { "high" }),
            Step::BusWidth(w) => write!(f, "{w}-bit bus"),
            Step::Speed(m) => write!(f, "bus speed mode: {}", m.name()),
            Step::Recovery { status, abort } => {
                write!(f, "error recovery (error status 0x{status:04x}){}", if abort { ", CMD12 abort" } else { "" })
            }
            Step::Failed => write!(f, "attempt failed"),
        }
    }
}

/// A step and the counter value when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub ticks: u64,
    pub step: Step,
}

/// The steps of the last initialisation (the first `CAPACITY`).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    events: heapless::Vec<Event, { Trace::CAPACITY }>,
    dropped: usize,
}

impl Trace {
    pub const CAPACITY: usize = 96;

    pub const fn new() -> Trace {
        Trace { events: heapless::Vec::new(), dropped: 0 }
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.dropped = 0;
    }

    pub fn record(&mut self, step: Step) {
        if self.events.push(Event { ticks: time::ticks(), step }).is_err() {
            self.dropped += 1;
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Steps that did not fit.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Index of the first step at or after `from` that `pred` accepts.
    pub fn find(&self, from: usize, pred: impl Fn(&Step) -> bool) -> Option<usize> {
        self.events.iter().skip(from).position(|e| pred(&e.step)).map(|i| i + from)
    }

    /// Microseconds between events `a` and `b`.
    pub fn micros_between(&self, a: usize, b: usize) -> u64 {
        let t = self.events[b].ticks.saturating_sub(self.events[a].ticks);
        (t as u128 * 1_000_000 / time::frequency().max(1) as u128) as u64
    }

    /// Print one line per step: milliseconds since the first step, the step.
    pub fn write(&self, out: &mut impl fmt::Write, indent: &str) -> fmt::Result {
        for (i, e) in self.events.iter().enumerate() {
            let us = self.micros_between(0, i);
            writeln!(out, "{indent}{:>5}.{:03} ms  {}", us / 1000, us % 1000, e.step)?;
        }
        if self.dropped > 0 {
            writeln!(out, "{indent}({} more steps not kept)", self.dropped)?;
        }
        Ok(())
    }
}
