//! The four A53 cores at work: core 0 runs the console and releases cores
//! 1-3 at boot (bsp::zcu102::apu, as the FSBL hands a partition to a
//! core); each secondary initialises itself in boot.s (errata bits and
//! SMPEN at EL3, its caches cleaned by set/way, its stacks and vectors, the
//! MMU on with core 0's tables) and then waits in its mailbox for jobs.
//!
//! A job is a closure that borrows what it works on for its duration:
//! [`scope`] lends data to jobs on other cores and joins them all before it
//! returns, so the borrow checker proves no job outlives its data (the same
//! shape as `std::thread::scope`). Panics do not unwind in this firmware
//! (the handler reports and halts), so the join cannot be skipped.
//!
//! The mailbox protocol, per core (one cache line each):
//! - core 0 stores the job, then `posted = n` (Release), `dsb`, and makes
//!   the wake-up SGI pending on the core (drivers::gic400: `wfi` really
//!   sleeps under QEMU, where `wfe` only yields);
//! - the core acknowledges its SGIs, reads `posted` (Acquire), runs the
//!   job, stores `done = n` (Release), `dsb`, and wakes core 0;
//! - core 0 waits for `done >= n` the same way.
//! A pending SGI survives until acknowledged, and each side acknowledges
//! before it checks, so no wake-up is lost between the check and `wfi`.
//!
//! A core that faults or panics in a job prints the exception report
//! naming it and ends the run (QEMU exits with failure); on the board,
//! where there is no host to exit to, it marks its mailbox faulted, wakes
//! core 0 and stops, and the job's scope returns [`CoreFault`].
//!
//! Jobs must not use the defmt logger (it admits one writer); `println!`
//! works but interleaves with the console.
use crate::arch::aarch64::{cpu, mmu, time};
use crate::bsp::zcu102;
use alloc::boxed::Box;
use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

pub use cpu::NUM_CORES;

/// Where a core is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreState {
    /// Not released, or did not check in.
    Offline,
    /// Waiting for a job.
    Idle,
    /// Running a job.
    Busy,
    /// Faulted or panicked; halted until reset.
    Faulted,
}

impl CoreState {
    fn from_u32(v: u32) -> CoreState {
        match v {
            1 => CoreState::Idle,
            2 => CoreState::Busy,
            3 => CoreState::Faulted,
            _ => CoreState::Offline,
        }
    }
    fn code(self) -> u32 {
        match self {
            CoreState::Offline => 0,
            CoreState::Idle => 1,
            CoreState::Busy => 2,
            CoreState::Faulted => 3,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CoreState::Offline => "offline",
            CoreState::Idle => "idle",
            CoreState::Busy => "busy",
            CoreState::Faulted => "faulted (halted)",
        }
    }
}

/// A job in a mailbox: a thin pointer to this (from `Box::into_raw`).
type Job = Box<dyn FnOnce() + Send + 'static>;

#[repr(C, align(64))]
struct Mailbox {
    state: AtomicU32,
    /// Exception level the core entered at (3 on the board).
    entry_el: AtomicU32,
    /// Sequence number of the last job posted (by core 0 only).
    posted: AtomicU64,
    /// Sequence number of the last job finished (by the core only).
    done: AtomicU64,
    /// `*mut Job` of the posted job, valid while `done < posted`.
    job: AtomicUsize,
}

impl Mailbox {
    const fn new() -> Self {
        Mailbox { state: AtomicU32::new(0), entry_el: AtomicU32::new(0), posted: AtomicU64::new(0), done: AtomicU64::new(0), job: AtomicUsize::new(0) }
    }
    fn state(&self) -> CoreState {
        CoreState::from_u32(self.state.load(Ordering::Acquire))
    }
}

static MAILBOXES: [Mailbox; NUM_CORES] = [const { Mailbox::new() }; NUM_CORES];

/// Why a secondary core is not running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    Release(zcu102::apu::ReleaseError),
    /// Released, but it did not check in within the limit.
    NoCheckIn { core: usize },
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            StartError::Release(e) => write!(f, "{e}"),
            StartError::NoCheckIn { core } => write!(f, "core {core} was released but did not check in within {} ms", CHECK_IN_LIMIT.as_millis()),
        }
    }
}

const CHECK_IN_LIMIT: Duration = Duration::from_millis(500);

/// How each secondary core's start went (index 0 unused).
static START_ERRORS: [AtomicU32; NUM_CORES] = [const { AtomicU32::new(0) }; NUM_CORES];

extern "C" {
    /// The entry of every core (boot.s).
    fn _start();
}

/// At boot, on core 0 with its MMU on: set up the GIC, publish the MMU
/// configuration, release cores 1-3 and wait for each to check in. A core
/// that does not come up is left out; jobs meant for it run on core 0.
pub fn start_secondaries() -> [Result<(), StartError>; NUM_CORES] {
    let gic = zcu102::gic();
    gic.init_distributor();
    gic.init_this_core();
    MAILBOXES[0].state.store(CoreState::Busy.code(), Ordering::Release);
    mmu::publish_for_secondaries();
    let mut result = [Ok(()); NUM_CORES];
    for (core, r) in result.iter_mut().enumerate().skip(1) {
        *r = start_one(core);
        START_ERRORS[core].store(r.is_err() as u32, Ordering::Relaxed);
    }
    result
}

fn start_one(core: usize) -> Result<(), StartError> {
    zcu102::apu::release(core, _start as *const () as usize as u64).map_err(StartError::Release)?;
    let deadline = time::Deadline::after(CHECK_IN_LIMIT);
    while MAILBOXES[core].state() == CoreState::Offline {
        if deadline.expired() {
            return Err(StartError::NoCheckIn { core });
        }
        cpu::spin_hint();
    }
    Ok(())
}

/// First Rust code on a secondary core: boot.s has run the per-core
/// initialisation and turned its MMU on with core 0's tables.
#[no_mangle]
extern "C" fn _secondary_rust(core: u64, entry_el: u64) -> ! {
    let core = core as usize;
    let mb = &MAILBOXES[core];
    zcu102::gic().init_this_core();
    mb.entry_el.store(entry_el as u32, Ordering::Relaxed);
    mb.state.store(CoreState::Idle.code(), Ordering::Release);
    job_loop(mb)
}

fn dsb() {
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
}

/// Sleep until an SGI is pending (returns at once if one already is).
fn wfi() {
    aarch64_cpu::asm::wfi();
}

fn job_loop(mb: &Mailbox) -> ! {
    let gic = zcu102::gic();
    let mut last = mb.done.load(Ordering::Relaxed);
    loop {
        gic.acknowledge_all();
        // The GIC read is a device access: order it before the check.
        dsb();
        let seq = mb.posted.load(Ordering::Acquire);
        if seq == last {
            wfi();
            continue;
        }
        mb.state.store(CoreState::Busy.code(), Ordering::Relaxed);
        // SAFETY: core 0 stored a `Box<Job>` from `Box::into_raw` before
        // publishing `seq` (Release, read above with Acquire); it is taken
        // exactly once, here, and the scope that posted it outlives it.
        let job = unsafe { Box::from_raw(mb.job.load(Ordering::Relaxed) as *mut Job) };
        (*job)();
        last = seq;
        mb.state.store(CoreState::Idle.code(), Ordering::Relaxed);
        mb.done.store(seq, Ordering::Release);
        dsb();
        gic.wake(0);
    }
}

/// Called by the exception and panic paths on a secondary core once the
/// report is out and no host ended the run: mark the core faulted, wake
/// core 0 (waiting for this core's job) and stop for good.
pub fn halt_faulted_core() -> ! {
    let core = cpu::core_id();
    MAILBOXES[core].state.store(CoreState::Faulted.code(), Ordering::Release);
    dsb();
    zcu102::gic().wake(0);
    loop {
        wfi();
        zcu102::gic().acknowledge_all();
    }
}

/// A core faulted (its report is on the console) while running a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreFault {
    pub core: usize,
}

impl core::fmt::Display for CoreFault {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(f, "core {} faulted in a job (its report is above) and is halted; 'reboot' brings it back", self.core)
    }
}

/// What `info` shows for one core.
#[derive(Clone, Copy, Debug)]
pub struct CoreStatus {
    pub state: CoreState,
    pub entry_el: u32,
    pub jobs: u64,
    pub start_failed: bool,
}

pub fn status(core: usize) -> CoreStatus {
    let mb = &MAILBOXES[core];
    CoreStatus {
        state: mb.state(),
        entry_el: mb.entry_el.load(Ordering::Relaxed),
        jobs: mb.done.load(Ordering::Relaxed),
        start_failed: START_ERRORS[core].load(Ordering::Relaxed) != 0,
    }
}

/// Cores that take jobs now: core 0 and every secondary that checked in
/// and has not faulted.
pub fn online() -> usize {
    (1..NUM_CORES).filter(|&c| is_online(c)).count() + 1
}

/// The cores that take jobs now, core 0 first.
pub fn online_ids() -> heapless::Vec<usize, NUM_CORES> {
    (0..NUM_CORES).filter(|&c| is_online(c)).collect()
}

/// For jobs that wait on each other: sleep until `ready()` holds,
/// re-checking whenever another core calls [`wake`] on this one (the same
/// acknowledge-then-check order as the mailboxes, so no wake-up is lost).
pub fn wait_until(mut ready: impl FnMut() -> bool) {
    let gic = zcu102::gic();
    loop {
        gic.acknowledge_all();
        dsb();
        if ready() {
            return;
        }
        wfi();
    }
}

/// Wake `core` from [`wait_until`] (what it waits for was stored before:
/// the `dsb` makes it visible first).
pub fn wake(core: usize) {
    if core != cpu::core_id() {
        dsb();
        zcu102::gic().wake(core);
    }
}

fn is_online(core: usize) -> bool {
    core == 0 || matches!(MAILBOXES[core].state(), CoreState::Idle | CoreState::Busy)
}

/// Post a job to `core` (idle: its previous job was joined); returns the
/// job's sequence number.
fn post(core: usize, job: Job) -> u64 {
    let mb = &MAILBOXES[core];
    let seq = mb.posted.load(Ordering::Relaxed) + 1;
    mb.job.store(Box::into_raw(Box::new(job)) as usize, Ordering::Relaxed);
    mb.posted.store(seq, Ordering::Release);
    dsb();
    zcu102::gic().wake(core);
    seq
}

/// Wait until `core` finished job `seq` (or faulted).
fn wait(core: usize, seq: u64) -> Result<(), CoreFault> {
    let mb = &MAILBOXES[core];
    let gic = zcu102::gic();
    // No time limit: returning while the job runs would end the borrows
    // it still uses. A core that faults says so through its state.
    loop {
        gic.acknowledge_all();
        dsb();
        if mb.done.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        if mb.state() == CoreState::Faulted {
            return Err(CoreFault { core });
        }
        wfi();
    }
}

/// Jobs lent data for the duration of one [`scope`] call.
pub struct Scope<'scope, 'env: 'scope> {
    /// Per core: the sequence number of its job in this scope, 0 if none.
    pending: [Cell<u64>; NUM_CORES],
    fault: Cell<Option<CoreFault>>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Run `f` on `core`. Core 0 (or a core that is not online, or a call
    /// from a job on a secondary core) runs it here and now. If `core`
    /// still runs an earlier job of this scope, that one is joined first.
    pub fn spawn<F: FnOnce() + Send + 'scope>(&'scope self, core: usize, f: F) {
        if core == 0 || core >= NUM_CORES || cpu::core_id() != 0 || !is_online(core) {
            f();
            return;
        }
        self.join(core);
        if !is_online(core) {
            f();
            return;
        }
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new(f);
        // SAFETY: only the lifetime is changed. `scope` joins every job it
        // posted before 'scope ends, and a core that faults never runs
        // again, so nothing the job borrows is used after it is gone.
        let job: Job = unsafe { core::mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Job>(job) };
        self.pending[core].set(post(core, job));
    }

    fn join(&self, core: usize) {
        let seq = self.pending[core].replace(0);
        if seq != 0 {
            if let Err(e) = wait(core, seq) {
                self.fault.set(Some(e));
            }
        }
    }
}

/// Lend data to jobs on other cores: every job spawned on `s` is joined
/// before this returns. Err if a core faulted in one of them (that core's
/// report is on the console).
pub fn scope<'env, F, T>(f: F) -> Result<T, CoreFault>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let s = Scope {
        pending: [const { Cell::new(0) }; NUM_CORES],
        fault: Cell::new(None),
        _scope: PhantomData,
        _env: PhantomData,
    };
    let r = f(&s);
    for core in 1..NUM_CORES {
        s.join(core);
    }
    match s.fault.get() {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

/// A spin lock for data shared by jobs on several cores (exclusive
/// load/store on cacheable memory: every core has SMPEN and its MMU on).
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out the value to one holder at a time, so it may
// be shared between cores whenever the value may be sent between them.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }
    pub fn lock(&self) -> SpinGuard<'_, T> {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            cpu::spin_hint();
        }
        SpinGuard { lock: self }
    }
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> core::ops::Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this holder owns the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> core::ops::DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// Run `f(index, chunk)` for every `chunk_len`-element chunk of `data` on
/// up to `cores` cores (core 0 included); each core takes the next chunk
/// when it is done with one, so uneven chunks still balance.
pub fn for_each_chunk_mut<T: Send>(data: &mut [T], chunk_len: usize, cores: usize, f: impl Fn(usize, &mut [T]) + Sync) -> Result<(), CoreFault> {
    let work = SpinLock::new(data.chunks_mut(chunk_len.max(1)).enumerate());
    let run = || loop {
        let next = work.lock().next();
        match next {
            Some((i, chunk)) => f(i, chunk),
            None => break,
        }
    };
    scope(|s| {
        for core in 1..cores.min(NUM_CORES) {
            s.spawn(core, &run);
        }
        run();
    })
}

/// What `cores` found on one core.
#[derive(Clone, Copy, Debug, Default)]
pub struct CoreCheck {
    /// The core the job ran on (MPIDR), as the job saw it.
    pub ran_on: usize,
    /// CNTFRQ_EL0 as this core sees it, and whether CNTPCT advanced
    /// during a 1 ms delay by at least that much.
    pub counter_hz: u64,
    pub counter_advanced: bool,
    /// CRC-32 of the shared buffer as this core read it.
    pub crc: u32,
}

/// The result of the `cores` self-test.
#[derive(Clone, Copy, Debug)]
pub struct SelfTest {
    pub cores: usize,
    pub checks: [CoreCheck; NUM_CORES],
    /// The shared counter after every core incremented it `RACE_ROUNDS`
    /// times (atomically): `cores * RACE_ROUNDS` if nothing was lost.
    pub race_total: u64,
    /// CRC-32 of the shared buffer as core 0 wrote it.
    pub crc: u32,
    pub buffer_bytes: usize,
}

pub const RACE_ROUNDS: u64 = 100_000;

impl SelfTest {
    pub fn passed(&self) -> bool {
        self.race_total == self.cores as u64 * RACE_ROUNDS
            && self.ran().all(|(i, c)| c.ran_on == i && c.counter_advanced && c.counter_hz == self.checks[0].counter_hz && c.crc == self.crc)
    }

    /// (core, check) of the cores that took part (the others stay default).
    pub fn ran(&self) -> impl Iterator<Item = (usize, &CoreCheck)> {
        self.checks.iter().enumerate().filter(|(i, c)| *i == 0 || c.counter_hz != 0)
    }
}

/// Self-test on every online core: its counter runs, an atomic increment
/// race loses nothing, and a buffer core 0 just wrote (still in its cache)
/// reads back the same on every core.
pub fn self_test(shared: &mut [u8]) -> Result<SelfTest, CoreFault> {
    // A pattern no core computes the same by accident.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in shared.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 32) as u8;
    }
    let crc = xlic_model::crc32::crc32(shared);
    let shared = &*shared;
    let counter = AtomicU64::new(0);
    let start = AtomicBool::new(false);
    let mut checks = [CoreCheck::default(); NUM_CORES];
    let mut cores = 0;
    let check = |slot: &mut CoreCheck| {
        // Every core starts incrementing at once, so the increments race
        // (a bounded wait: a core that went offline runs its share late).
        let deadline = time::Deadline::after(Duration::from_millis(100));
        while !start.load(Ordering::Acquire) && !deadline.expired() {
            cpu::spin_hint();
        }
        for _ in 0..RACE_ROUNDS {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let t0 = time::ticks();
        embedded_hal::delay::DelayNs::delay_ms(&mut time::Delay, 1);
        let t1 = time::ticks();
        let hz = time::frequency();
        *slot = CoreCheck { ran_on: cpu::core_id(), counter_hz: hz, counter_advanced: t1 - t0 >= hz / 1000, crc: xlic_model::crc32::crc32(shared) };
    };
    scope(|s| {
        let (first, rest) = checks.split_at_mut(1);
        for (i, slot) in rest.iter_mut().enumerate() {
            if is_online(i + 1) {
                cores += 1;
                let check = &check;
                s.spawn(i + 1, move || check(slot));
            }
        }
        start.store(true, Ordering::Release);
        check(&mut first[0]);
    })?;
    let cores = cores + 1;
    Ok(SelfTest { cores, checks, race_total: counter.load(Ordering::Relaxed), crc, buffer_bytes: shared.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn every_core_checked_in_at_boot() {
        assert_eq!(online(), NUM_CORES, "cores online: {}", online());
        for core in 1..NUM_CORES {
            let s = status(core);
            assert_eq!(s.state, CoreState::Idle, "core {core}");
            assert_eq!(s.entry_el, crate::entry_el() as u32, "core {core} entered at EL{}", s.entry_el);
        }
    }

    #[test_case]
    fn a_job_runs_on_the_core_it_was_given_and_borrows_its_slice() {
        let mut ran_on = [usize::MAX; NUM_CORES];
        let mut sums = [0u64; NUM_CORES];
        let data: [u64; 1000] = core::array::from_fn(|i| i as u64);
        scope(|s| {
            for (core, (r, sum)) in ran_on.iter_mut().zip(sums.iter_mut()).enumerate() {
                let part = &data[core * 250..][..250];
                s.spawn(core, move || {
                    *r = cpu::core_id();
                    *sum = part.iter().sum();
                });
            }
        })
        .unwrap();
        assert_eq!(ran_on, [0, 1, 2, 3]);
        assert_eq!(sums.iter().sum::<u64>(), 999 * 1000 / 2);
    }

    #[test_case]
    fn many_jobs_in_a_row_on_every_core() {
        let total = AtomicU64::new(0);
        for round in 0..200u64 {
            scope(|s| {
                for core in 0..NUM_CORES {
                    let total = &total;
                    s.spawn(core, move || {
                        total.fetch_add(round * 10 + core as u64, Ordering::Relaxed);
                    });
                }
            })
            .unwrap();
        }
        let want: u64 = (0..200u64).map(|r| 4 * r * 10 + 6).sum();
        assert_eq!(total.load(Ordering::Relaxed), want);
    }

    #[test_case]
    fn chunks_are_each_visited_once_across_cores() {
        let mut data = [0u32; 1003];
        for_each_chunk_mut(&mut data, 10, NUM_CORES, |i, c| {
            for (j, v) in c.iter_mut().enumerate() {
                *v += (i * 10 + j) as u32 + 1;
            }
        })
        .unwrap();
        assert!(data.iter().enumerate().all(|(i, &v)| v == i as u32 + 1));
    }

    #[test_case]
    fn self_test_passes_on_every_core() {
        let mut buf = [0u8; 64 * 1024];
        let r = self_test(&mut buf).unwrap();
        assert_eq!(r.cores, NUM_CORES);
        assert!(r.passed(), "{r:?}");
    }
}
