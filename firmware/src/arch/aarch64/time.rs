//! ARMv8 generic timer: a monotonic clock for measurements and an
//! embedded-hal `DelayNs`.
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

/// Counter frequency in Hz (set by firmware at EL3: the FSBL's boot.S on
/// the board, QEMU's model under emulation, or this firmware's boot.s when
/// it found 0 there).
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The frequency boot.s wrote to CNTFRQ_EL0 at EL3: the system counter's
/// BASE_FREQUENCY_ID, or the ZCU102 value when CNTFRQ_EL0 was 0 and the
/// counter has no such register (0: not written; entered below EL3, or
/// QEMU's value kept). In .data: core 0 zeroes .bss after boot.s wrote it.
#[no_mangle]
#[link_section = ".data.boot_state"]
static CNTFRQ_SET_AT_EL3: AtomicU32 = AtomicU32::new(0);

/// `Some(Hz)` when this firmware wrote CNTFRQ_EL0 at EL3.
pub fn programmed_at_boot() -> Option<u32> {
    // The store was made with the MMU (and so the caches) off; this core has
    // not touched the line since, so the cached view is the memory's.
    match CNTFRQ_SET_AT_EL3.load(Ordering::Relaxed) {
        0 => None,
        hz => Some(hz),
    }
}

/// Current counter value. The `isb` keeps the read from being hoisted
/// above earlier instructions, so intervals measure what they enclose.
pub fn ticks() -> u64 {
    barrier::isb(barrier::SY);
    CNTPCT_EL0.get()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    let f = frequency().max(1);
    let secs = ticks / f;
    let nanos = ((ticks % f) as u128 * 1_000_000_000 / f as u128) as u32;
    Duration::new(secs, nanos)
}

fn duration_to_ticks(d: Duration) -> u64 {
    (d.as_nanos() * frequency() as u128 / 1_000_000_000).min(u64::MAX as u128) as u64
}

/// A point on the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(u64);

impl Instant {
    pub fn now() -> Self {
        Instant(ticks())
    }
    pub fn elapsed(self) -> Duration {
        Instant::now().duration_since(self)
    }
    pub fn duration_since(self, earlier: Instant) -> Duration {
        ticks_to_duration(self.0.saturating_sub(earlier.0))
    }
    pub fn ticks(self) -> u64 {
        self.0
    }
}

/// Time since the counter started (power-on on the board, QEMU start).
pub fn uptime() -> Duration {
    ticks_to_duration(ticks())
}

/// Busy-wait delay on the generic timer.
#[derive(Default, Clone, Copy)]
pub struct Delay;

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let end = ticks().saturating_add(duration_to_ticks(Duration::from_nanos(ns as u64)).max(1));
        while ticks() < end {
            core::hint::spin_loop();
        }
    }
}

/// A deadline for polling loops ("every wait has a timeout").
#[derive(Clone, Copy, Debug)]
pub struct Deadline(u64);

impl Deadline {
    pub fn after(d: Duration) -> Self {
        Deadline(ticks().saturating_add(duration_to_ticks(d)))
    }
    pub fn expired(self) -> bool {
        ticks() >= self.0
    }
}

/// Make this core's virtual timer interrupt pending after `d`, to end a
/// `wfi` that no other core may end (a bounded wait). The interrupt is
/// never taken (PSTATE.I stays masked): a pending one only wakes `wfi`
/// (ARM ARM D1.16.2). CNTV_TVAL_EL0 counts from now whatever CNTVOFF_EL2
/// holds (ARM ARM D11.2.4); the GIC routes it as PPI 27 (UG1085, "Interrupt
/// Controller": virtual timer), which `drivers::gic400` lets through.
pub fn wake_after(d: Duration) {
    let t = duration_to_ticks(d).clamp(1, i32::MAX as u64);
    // SAFETY: this core's own virtual timer; ENABLE=1, IMASK=0.
    unsafe { core::arch::asm!("msr cntv_tval_el0, {t}", "msr cntv_ctl_el0, {c}", "isb", t = in(reg) t, c = in(reg) 1u64) };
}

/// Stop the timer of `wake_after` (its interrupt is level: it stays
/// asserted, and would keep `wfi` from sleeping, until the timer stops).
pub fn cancel_wake() {
    // SAFETY: disables this core's own virtual timer.
    unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "isb") };
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::delay::DelayNs;

    #[test_case]
    fn counter_runs_at_a_known_frequency() {
        assert!(frequency() > 0, "CNTFRQ_EL0 is 0: nobody set the timer frequency at EL3");
        // QEMU sets it before entry and models no IOU_SCNTRS (its
        // frequency register reads 0), so boot.s keeps QEMU's value; only
        // the cntfrq_zero test entry makes it program one.
        assert_eq!(programmed_at_boot(), None);
    }

    #[test_case]
    fn counter_is_monotonic() {
        let mut last = ticks();
        for _ in 0..10_000 {
            let now = ticks();
            assert!(now >= last, "counter went back from {last} to {now}");
            last = now;
        }
    }

    #[test_case]
    fn delay_waits_at_least_as_long_as_asked() {
        let start = Instant::now();
        Delay.delay_ms(5);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(5), "5 ms delay took {took:?}");
        assert!(took < Duration::from_secs(2), "5 ms delay took {took:?}");
    }

    #[test_case]
    fn deadline_expires() {
        let start = Instant::now();
        let d = Deadline::after(Duration::from_millis(1));
        while !d.expired() {
            assert!(start.elapsed() < Duration::from_secs(2), "deadline never expired");
        }
        assert!(start.elapsed() >= Duration::from_millis(1));
    }
}
