//! The four A53 cores at work: core 0 runs the console and starts cores
//! 1-3 at boot (bsp::zcu102::apu when the firmware owns EL3, as the FSBL
//! hands a partition to a core; PSCI CPU_ON below EL3, arch::aarch64::psci);
//! each secondary initialises itself in boot.s (errata bits and SMPEN at
//! EL3, its caches cleaned by set/way, its stacks and vectors, the MMU on
//! with core 0's tables) and then waits in its mailbox for jobs.
//!
//! A job is a closure that borrows what it works on for its duration:
//! [`scope`] lends data to jobs on other cores and joins them all before it
//! returns, so the borrow checker proves no job outlives its data (the same
//! shape as `std::thread::scope`). Panics do not unwind in this firmware
//! (the handler reports and halts), so the join cannot be skipped.
//!
//! The mailbox, per core (one cache line each), is a single slot with an
//! explicit state ([`CoreState`]): Offline -> Idle at check-in; then per
//! job Idle -> Posted (core 0, after storing the job; Release) -> Running
//! (the core, Acquire) -> Done (the core, Release) -> Idle (core 0, when it
//! joins: the result is consumed). [`post`] refuses with [`PostError`] when
//! the slot is not Idle, so a job is never written over one that is posted,
//! running or not yet joined. A core that faults goes to Faulted and never
//! leaves it; one that stopped answering and was held in reset, to Stopped.
//! Wake-ups: after each transition the side that made it `dsb`s and makes
//! the wake-up SGI pending on the other (drivers::gic400: `wfi` really
//! sleeps under QEMU, where `wfe` only yields). A pending SGI survives
//! until acknowledged, and each side acknowledges before it checks, so no
//! wake-up is lost between the check and `wfi`.
//!
//! Every wait of core 0 is bounded: it wakes at least once a second (its
//! virtual timer), returns [`CoreFault`] as soon as a core it waits on has
//! faulted, prints "core N busy" lines while a job runs for long, and gives
//! up on a core that shows no progress (jobs call [`progress`]) for
//! [`hang_limit`]: at EL3 that core is held in reset, so nothing it still
//! borrows is touched after the scope returns.
//!
//! A core that faults or panics in a job prints the exception report
//! naming it and ends the run (QEMU exits with failure); on the board,
//! where there is no host to exit to, it marks its mailbox faulted, wakes
//! the other cores and stops, and the job's scope returns [`CoreFault`].
//!
//! Jobs must not use the defmt logger (it admits one writer); `println!`
//! works but interleaves with the console.
use crate::arch::aarch64::{cpu, mmu, psci, time};
use crate::bsp::zcu102;
use alloc::boxed::Box;
use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

pub use cpu::NUM_CORES;

/// Where a core's mailbox is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreState {
    /// Not started, or did not check in.
    Offline,
    /// Waiting for a job: the only state [`post`] accepts.
    Idle,
    /// A job is in the slot; the core has not taken it yet.
    Posted,
    /// Running a job.
    Running,
    /// The job finished; core 0 has not joined it yet.
    Done,
    /// Faulted or panicked; halted until reset.
    Faulted,
    /// Showed no progress for the hang limit; held in reset.
    Stopped,
}

impl CoreState {
    const ALL: [CoreState; 7] = [CoreState::Offline, CoreState::Idle, CoreState::Posted, CoreState::Running, CoreState::Done, CoreState::Faulted, CoreState::Stopped];
    fn from_u32(v: u32) -> CoreState {
        CoreState::ALL.get(v as usize).copied().unwrap_or(CoreState::Offline)
    }
    const fn code(self) -> u32 {
        self as u32
    }
    pub fn name(self) -> &'static str {
        match self {
            CoreState::Offline => "offline",
            CoreState::Idle => "idle",
            CoreState::Posted => "posted",
            CoreState::Running => "busy",
            CoreState::Done => "done",
            CoreState::Faulted => "faulted (halted)",
            CoreState::Stopped => "stopped (held in reset)",
        }
    }
    /// Faulted or stopped: out until reboot.
    fn is_lost(self) -> bool {
        matches!(self, CoreState::Faulted | CoreState::Stopped)
    }
}

/// A job in a mailbox: a thin pointer to this (from `Box::into_raw`).
type Job = Box<dyn FnOnce() + Send + 'static>;

#[repr(C, align(64))]
struct Mailbox {
    state: AtomicU32,
    /// Exception level the core entered at.
    entry_el: AtomicU32,
    /// Jobs finished (by the core only).
    jobs: AtomicU64,
    /// `*mut Job` of the posted job, valid while the state is Posted.
    job: AtomicUsize,
    /// Bumped by the running job ([`progress`]) and at each transition.
    progress: AtomicU64,
}

impl Mailbox {
    const fn new() -> Self {
        Mailbox { state: AtomicU32::new(0), entry_el: AtomicU32::new(0), jobs: AtomicU64::new(0), job: AtomicUsize::new(0), progress: AtomicU64::new(0) }
    }
    fn state(&self) -> CoreState {
        CoreState::from_u32(self.state.load(Ordering::Acquire))
    }
    fn set(&self, s: CoreState) {
        self.state.store(s.code(), Ordering::Release);
    }
}

static MAILBOXES: [Mailbox; NUM_CORES] = [const { Mailbox::new() }; NUM_CORES];

/// Cores that faulted or were stopped since boot (bit per core): a wait
/// that sees a new bit ends with [`CoreFault`].
static LOST: AtomicU32 = AtomicU32::new(0);

/// How a secondary core is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod {
    /// Entered at EL3: reset vector (RVBAR) and reset release, as the FSBL.
    Reset,
    /// Entered at EL2/EL1: PSCI CPU_ON through this conduit.
    Psci(psci::Conduit),
}

/// Why a secondary core is not running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    Release(zcu102::apu::ReleaseError),
    Psci(psci::PsciError),
    /// Released, but it did not check in within the limit (and, at EL3,
    /// was put back in reset).
    NoCheckIn { core: usize },
    /// Its mailbox is not Offline: it was started before.
    AlreadyStarted { core: usize, state: CoreState },
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            StartError::Release(e) => write!(f, "{e}"),
            StartError::Psci(e) => write!(f, "{e}"),
            StartError::NoCheckIn { core } => write!(f, "core {core} was released but did not check in within {} ms", CHECK_IN_LIMIT.as_millis()),
            StartError::AlreadyStarted { core, state } => write!(f, "core {core} was started before (it is {}); it is not started twice", state.name()),
        }
    }
}

const CHECK_IN_LIMIT: Duration = Duration::from_millis(500);

/// How each secondary core's start went (index 0 unused): 0 fine, else
/// 1 + the code of [`StartFailure`].
static START_ERRORS: [AtomicU32; NUM_CORES] = [const { AtomicU32::new(0) }; NUM_CORES];
/// How the secondaries were started (0 none, 1 reset, 2 PSCI SMC, 3 PSCI HVC).
static METHOD: AtomicU32 = AtomicU32::new(0);

/// Why `info` says a core is not running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFailure {
    Other,
    /// Below EL3 with no PSCI firmware to start it.
    NoPsci,
}

extern "C" {
    /// The entry of every core (boot.s).
    fn _start();
}

/// At boot, on core 0 with its MMU on: set up the GIC, publish the MMU
/// configuration, start cores 1-3 and wait for each to check in. A core
/// that does not come up is left out; jobs meant for it run on core 0.
pub fn start_secondaries() -> [Result<(), StartError>; NUM_CORES] {
    let gic = zcu102::gic();
    gic.init_distributor();
    gic.init_this_core();
    MAILBOXES[0].set(CoreState::Running);
    mmu::publish_for_secondaries();
    let method = match crate::entry_el() {
        3 => StartMethod::Reset,
        el => StartMethod::Psci(psci::Conduit::for_entry_el(el)),
    };
    METHOD.store(
        match method {
            StartMethod::Reset => 1,
            StartMethod::Psci(psci::Conduit::Smc) => 2,
            StartMethod::Psci(psci::Conduit::Hvc) => 3,
        },
        Ordering::Relaxed,
    );
    let mut result = [Ok(()); NUM_CORES];
    for (core, r) in result.iter_mut().enumerate().skip(1) {
        *r = start(core, method);
        let code = match r {
            Ok(()) => 0,
            Err(StartError::Psci(psci::PsciError::NoPsci { .. } | psci::PsciError::NoCpuOn { .. })) => 1 + StartFailure::NoPsci as u32,
            Err(_) => 1 + StartFailure::Other as u32,
        };
        START_ERRORS[core].store(code, Ordering::Relaxed);
    }
    result
}

/// How the secondaries were started at boot (None before).
pub fn start_method() -> Option<StartMethod> {
    match METHOD.load(Ordering::Relaxed) {
        1 => Some(StartMethod::Reset),
        2 => Some(StartMethod::Psci(psci::Conduit::Smc)),
        3 => Some(StartMethod::Psci(psci::Conduit::Hvc)),
        _ => None,
    }
}

/// Start secondary `core` and wait (bounded) for it to check in. A core
/// already started is refused, whatever its state; one that does not check
/// in is held in reset where the firmware owns EL3, so it cannot come up
/// later behind core 0's back.
pub fn start(core: usize, method: StartMethod) -> Result<(), StartError> {
    if !(1..NUM_CORES).contains(&core) {
        return Err(StartError::Release(zcu102::apu::ReleaseError::NoSuchCore(core)));
    }
    let state = MAILBOXES[core].state();
    if state != CoreState::Offline {
        return Err(StartError::AlreadyStarted { core, state });
    }
    let entry = _start as *const () as usize as u64;
    match method {
        StartMethod::Reset => zcu102::apu::release(core, entry).map_err(StartError::Release)?,
        StartMethod::Psci(conduit) => {
            let version = psci::version(conduit).map_err(StartError::Psci)?;
            if !psci::has_cpu_on(version) {
                return Err(StartError::Psci(psci::PsciError::NoCpuOn { version }));
            }
            let target = (cpu::mpidr() & 0xff_00ff_ff00) | core as u64;
            psci::cpu_on(conduit, target, entry).map_err(StartError::Psci)?
        }
    }
    let deadline = time::Deadline::after(CHECK_IN_LIMIT);
    while MAILBOXES[core].state() == CoreState::Offline {
        if deadline.expired() {
            if method == StartMethod::Reset {
                let _ = zcu102::apu::hold_in_reset(core);
            }
            return Err(StartError::NoCheckIn { core });
        }
        cpu::spin_hint();
    }
    Ok(())
}

/// First Rust code on a secondary core: boot.s has run the per-core
/// initialisation and turned its MMU, caches and SMPEN on, and only now
/// (coherent with core 0) does it store to shared memory.
#[no_mangle]
extern "C" fn _secondary_rust(core: u64, entry_el: u64) -> ! {
    let core = core as usize;
    let mb = &MAILBOXES[core];
    zcu102::gic().init_this_core();
    mb.entry_el.store(entry_el as u32, Ordering::Relaxed);
    mb.set(CoreState::Idle);
    job_loop(mb)
}

fn dsb() {
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
}

/// Sleep until an interrupt is pending (returns at once if one already is).
fn wfi() {
    aarch64_cpu::asm::wfi();
}

fn job_loop(mb: &Mailbox) -> ! {
    let gic = zcu102::gic();
    loop {
        gic.acknowledge_all();
        // The GIC read is a device access: order it before the check.
        dsb();
        if mb.state() != CoreState::Posted {
            wfi();
            continue;
        }
        let ptr = mb.job.swap(0, Ordering::Relaxed);
        mb.set(CoreState::Running);
        mb.progress.fetch_add(1, Ordering::Relaxed);
        // SAFETY: core 0 stored a `Box<Job>` from `Box::into_raw` before it
        // moved the slot to Posted (Release, seen above with Acquire); only
        // this core takes it, once (the slot is Running from here on), and
        // the scope that posted it joins it before its borrows end.
        let job = unsafe { Box::from_raw(ptr as *mut Job) };
        (*job)();
        mb.jobs.fetch_add(1, Ordering::Relaxed);
        mb.set(CoreState::Done);
        dsb();
        gic.wake(0);
    }
}

/// Called by the exception and panic paths on a secondary core once the
/// report is out and no host ended the run: mark the core faulted, wake
/// the other cores (core 0 may wait for this core's job, and jobs on the
/// others for its results) and stop for good.
pub fn halt_faulted_core() -> ! {
    let core = cpu::core_id();
    MAILBOXES[core].set(CoreState::Faulted);
    LOST.fetch_or(1 << core, Ordering::SeqCst);
    dsb();
    let gic = zcu102::gic();
    (0..NUM_CORES).filter(|&c| c != core).for_each(|c| gic.wake(c));
    loop {
        wfi();
        gic.acknowledge_all();
    }
}

/// Why a job on a core did not finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An exception or panic (its report is on the console).
    Fault,
    /// No progress for the hang limit; the core was held in reset.
    Hung { secs: u64 },
}

/// A core failed while running a job: it faulted (its report is on the
/// console) or stopped answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreFault {
    pub core: usize,
    pub failure: Failure,
}

impl core::fmt::Display for CoreFault {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self.failure {
            Failure::Fault => write!(f, "core {} faulted in a job (its report is above) and is halted; 'reboot' brings it back", self.core),
            Failure::Hung { secs } => write!(f, "core {} showed no progress in its job for {secs} s and was held in reset; the job is lost; 'reboot' brings it back", self.core),
        }
    }
}

fn lost_fault(core: usize) -> CoreFault {
    let failure = match MAILBOXES[core].state() {
        CoreState::Stopped => Failure::Hung { secs: hang_limit().as_secs() },
        _ => Failure::Fault,
    };
    CoreFault { core, failure }
}

/// What `info` shows for one core.
#[derive(Clone, Copy, Debug)]
pub struct CoreStatus {
    pub state: CoreState,
    pub entry_el: u32,
    pub jobs: u64,
    pub start_failed: Option<StartFailure>,
}

pub fn status(core: usize) -> CoreStatus {
    let mb = &MAILBOXES[core];
    CoreStatus {
        state: mb.state(),
        entry_el: mb.entry_el.load(Ordering::Relaxed),
        jobs: mb.jobs.load(Ordering::Relaxed),
        start_failed: match START_ERRORS[core].load(Ordering::Relaxed) {
            0 => None,
            c if c == 1 + StartFailure::NoPsci as u32 => Some(StartFailure::NoPsci),
            _ => Some(StartFailure::Other),
        },
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

/// The cores lost (faulted or stopped) so far; a pipeline takes this before
/// it spawns jobs and hands it to [`wait_until`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lost(u32);

pub fn lost() -> Lost {
    Lost(LOST.load(Ordering::SeqCst))
}

/// A job tells core 0 it is getting on (see [`hang_limit`]).
pub fn progress() {
    MAILBOXES[cpu::core_id()].progress.fetch_add(1, Ordering::Relaxed);
}

/// A job that shows no progress for this long is taken for hung.
static HANG_LIMIT_MS: AtomicU64 = AtomicU64::new(60_000);
/// A wait of core 0 longer than this prints which cores are busy, and
/// again every time as long again passes.
const BUSY_REPORT: Duration = Duration::from_secs(5);

/// How long a job may show no progress before core 0 gives up on it: a
/// minute (a chunk of rows or a PNG block takes well under a second on
/// the board and a few under QEMU).
pub fn hang_limit() -> Duration {
    Duration::from_millis(HANG_LIMIT_MS.load(Ordering::Relaxed))
}

/// "core N busy" lines printed since boot (for the test that they are).
static BUSY_LINES: AtomicU32 = AtomicU32::new(0);

pub fn busy_lines() -> u32 {
    BUSY_LINES.load(Ordering::Relaxed)
}

/// Change the hang limit (tests; a long experiment on the board).
pub fn set_hang_limit(d: Duration) {
    HANG_LIMIT_MS.store(d.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// Core 0's bookkeeping while it waits: when to say which cores are busy,
/// and each core's last progress.
struct Watch {
    start: time::Instant,
    next_report: Duration,
    seen: [(u64, u32, time::Instant); NUM_CORES],
}

impl Watch {
    fn new() -> Self {
        let now = time::Instant::now();
        Watch { start: now, next_report: BUSY_REPORT, seen: core::array::from_fn(|c| (MAILBOXES[c].progress.load(Ordering::Relaxed), MAILBOXES[c].state.load(Ordering::Relaxed), now)) }
    }

    /// After a wake-up: report busy cores now and then, and stop a core
    /// that made no progress for the hang limit (Err: that core).
    fn check(&mut self) -> Result<(), CoreFault> {
        let now = time::Instant::now();
        let waited = now.duration_since(self.start);
        let report = waited >= self.next_report;
        if report {
            self.next_report += BUSY_REPORT;
        }
        for core in 1..NUM_CORES {
            let mb = &MAILBOXES[core];
            let seen = (mb.progress.load(Ordering::Relaxed), mb.state.load(Ordering::Relaxed));
            if (seen.0, seen.1) != (self.seen[core].0, self.seen[core].1) {
                self.seen[core] = (seen.0, seen.1, now);
            }
            if !matches!(mb.state(), CoreState::Posted | CoreState::Running) {
                continue;
            }
            if report {
                crate::println!("core {core} busy: {} s into this wait, a job still running", waited.as_secs());
                BUSY_LINES.fetch_add(1, Ordering::Relaxed);
            }
            let still = now.duration_since(self.seen[core].2);
            if still >= hang_limit() {
                if start_method() == Some(StartMethod::Reset) {
                    // Held in reset, it executes nothing more: what its
                    // job borrowed may be given back.
                    let _ = zcu102::apu::hold_in_reset(core);
                    mb.set(CoreState::Stopped);
                    LOST.fetch_or(1 << core, Ordering::SeqCst);
                    return Err(CoreFault { core, failure: Failure::Hung { secs: still.as_secs() } });
                }
                if report {
                    // PSCI has no call that stops another core (CPU_OFF
                    // is for the caller), and its job still holds borrows:
                    // core 0 cannot go on safely.
                    crate::println!("core {core} made no progress for {} s and cannot be stopped from below EL3; reset the board", still.as_secs());
                }
            }
        }
        Ok(())
    }
}

/// Sleep until the next wake-up SGI, or a second at most.
fn bounded_wfi() {
    time::wake_after(Duration::from_secs(1));
    wfi();
    time::cancel_wake();
}

/// For jobs that wait on each other: sleep until `ready()` holds,
/// re-checking whenever another core calls [`wake`] on this one (the same
/// acknowledge-then-check order as the mailboxes, so no wake-up is lost).
/// Err as soon as a core was lost after `since` (a core whose results
/// this wait may depend on): the caller abandons its work. On core 0 the
/// wait is bounded as the joins are (busy lines, hang limit).
pub fn wait_until(since: Lost, mut ready: impl FnMut() -> bool) -> Result<(), CoreFault> {
    let gic = zcu102::gic();
    let mut watch = (cpu::core_id() == 0).then(Watch::new);
    loop {
        gic.acknowledge_all();
        dsb();
        if ready() {
            return Ok(());
        }
        let new = LOST.load(Ordering::SeqCst) & !since.0;
        if new != 0 {
            return Err(lost_fault(new.trailing_zeros() as usize));
        }
        match &mut watch {
            Some(w) => {
                w.check()?;
                bounded_wfi();
            }
            None => wfi(),
        }
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
    core == 0 || matches!(MAILBOXES[core].state(), CoreState::Idle | CoreState::Posted | CoreState::Running | CoreState::Done)
}

/// Why a job was not posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostError {
    /// Only cores 1 to 3 take jobs, and only core 0 posts them.
    NoSuchCore(usize),
    /// The slot holds a job (posted, running, or done and not joined), or
    /// the core is offline or lost: one job at a time.
    NotIdle { core: usize, state: CoreState },
}

impl core::fmt::Display for PostError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            PostError::NoSuchCore(c) => write!(f, "core {c} takes no jobs (cores 1 to 3 do, posted from core 0)"),
            PostError::NotIdle { core, state } => write!(f, "core {core} is {}; it takes a job only when idle", state.name()),
        }
    }
}

/// Put `job` in `core`'s mailbox, which must be Idle (from core 0 only).
/// On refusal the job comes back unrun.
fn post(core: usize, job: Job) -> Result<(), (PostError, Job)> {
    if !(1..NUM_CORES).contains(&core) || cpu::core_id() != 0 {
        return Err((PostError::NoSuchCore(core), job));
    }
    let mb = &MAILBOXES[core];
    // Only core 0 moves a slot out of Idle (to Posted), so Idle here stays
    // Idle until the exchange below, unless the core faults meanwhile.
    let state = mb.state();
    if state != CoreState::Idle {
        return Err((PostError::NotIdle { core, state }, job));
    }
    let ptr = Box::into_raw(Box::new(job));
    mb.job.store(ptr as usize, Ordering::Relaxed);
    if let Err(s) = mb.state.compare_exchange(CoreState::Idle.code(), CoreState::Posted.code(), Ordering::Release, Ordering::Acquire) {
        mb.job.store(0, Ordering::Relaxed);
        // SAFETY: the slot never became Posted, so the core never takes
        // `ptr`: it is still ours, from `Box::into_raw` just above.
        let job = unsafe { *Box::from_raw(ptr) };
        return Err((PostError::NotIdle { core, state: CoreState::from_u32(s) }, job));
    }
    dsb();
    zcu102::gic().wake(core);
    Ok(())
}

/// Wait until `core` finished its job (Done -> Idle: consumed), or was
/// lost. Bounded: see [`Watch`].
fn wait(core: usize) -> Result<(), CoreFault> {
    let mb = &MAILBOXES[core];
    let gic = zcu102::gic();
    let mut watch = Watch::new();
    loop {
        gic.acknowledge_all();
        dsb();
        match mb.state() {
            CoreState::Done => {
                mb.set(CoreState::Idle);
                return Ok(());
            }
            s if s.is_lost() => return Err(lost_fault(core)),
            CoreState::Posted | CoreState::Running => {}
            // Nothing of ours is in the slot.
            CoreState::Idle | CoreState::Offline => return Ok(()),
            _ => {}
        }
        watch.check()?;
        bounded_wfi();
    }
}

/// Jobs lent data for the duration of one [`scope`] call.
pub struct Scope<'scope, 'env: 'scope> {
    /// Per core: whether its slot holds a job of this scope.
    pending: [Cell<bool>; NUM_CORES],
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
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new(f);
        // SAFETY: only the lifetime is changed. `scope` joins every job it
        // posted before 'scope ends, and a core that is lost never runs
        // again, so nothing the job borrows is used after it is gone.
        let job: Job = unsafe { core::mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Job>(job) };
        match post(core, job) {
            Ok(()) => self.pending[core].set(true),
            // Not idle (lost meanwhile): the job runs here instead.
            Err((_, job)) => job(),
        }
    }

    fn join(&self, core: usize) {
        if self.pending[core].replace(false) {
            if let Err(e) = wait(core) {
                if self.fault.get().is_none() {
                    self.fault.set(Some(e));
                }
                // Another core was found hung while waiting for this one:
                // this one's job is still to be joined.
                if e.core != core {
                    self.pending[core].set(true);
                    self.join(core);
                }
            }
        }
    }
}

/// Lend data to jobs on other cores: every job spawned on `s` is joined
/// before this returns. Err if a core was lost in one of them (a fault's
/// report is on the console).
pub fn scope<'env, F, T>(f: F) -> Result<T, CoreFault>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let s = Scope {
        pending: [const { Cell::new(false) }; NUM_CORES],
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
/// It records its holder: a core spinning on a lock whose holder faulted
/// (and so never lets go) panics, saying so, instead of spinning for ever.
pub struct SpinLock<T> {
    /// 0 free, else the holder's core number + 1.
    holder: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out the value to one holder at a time, so it may
// be shared between cores whenever the value may be sent between them.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock { holder: AtomicUsize::new(0), value: UnsafeCell::new(value) }
    }
    pub fn lock(&self) -> SpinGuard<'_, T> {
        let me = cpu::core_id() + 1;
        let mut spins = 0u32;
        while let Err(h) = self.holder.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed) {
            spins = spins.wrapping_add(1);
            if h != 0 && spins % 4096 == 0 && MAILBOXES[h - 1].state().is_lost() {
                panic!("core {} was lost while it held a lock shared with this core; what it guards cannot be trusted", h - 1);
            }
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
        self.lock.holder.store(0, Ordering::Release);
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
            Some((i, chunk)) => {
                f(i, chunk);
                progress();
            }
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

    /// F2: the mailbox is one slot. A second post to a core whose job is
    /// posted or running, or done but not joined, is refused with the
    /// state, and the refused job comes back unrun; after the join the
    /// slot takes a job again.
    #[test_case]
    fn a_second_post_to_a_busy_core_is_refused_and_no_job_is_lost() {
        static GO: AtomicBool = AtomicBool::new(false);
        static RAN: AtomicU64 = AtomicU64::new(0);
        GO.store(false, Ordering::SeqCst);
        RAN.store(0, Ordering::SeqCst);
        let first: Job = Box::new(|| {
            while !GO.load(Ordering::Acquire) {
                cpu::spin_hint();
            }
            RAN.fetch_add(1, Ordering::SeqCst);
        });
        assert!(post(1, first).is_ok());
        let second: Job = Box::new(|| {
            RAN.fetch_add(100, Ordering::SeqCst);
        });
        let (e, second) = post(1, second).map(|_| ()).unwrap_err();
        assert!(matches!(e, PostError::NotIdle { core: 1, state: CoreState::Posted | CoreState::Running }), "{e:?}");
        GO.store(true, Ordering::Release);
        // Wait as `wait` does (acknowledge, check, sleep until core 1's
        // wake-up SGI after Done, or the 1 s timer), but without joining:
        // the slot must stay Done. Not a spin: under -icount QEMU runs the
        // four cores round robin on one host thread, and with core 0
        // spinning here core 1 sat in `wfi` for the whole 10 s of guest
        // time although post() had made its wake-up SGI pending (GIC trace:
        // its IRQ line raised, never acknowledged). Core 0's `wfi` hands
        // the thread on; on the board it only saves power.
        let deadline = time::Deadline::after(Duration::from_secs(10));
        let gic = zcu102::gic();
        loop {
            gic.acknowledge_all();
            dsb();
            if status(1).state == CoreState::Done {
                break;
            }
            assert!(!deadline.expired(), "the first job never finished: {:?}", status(1).state);
            bounded_wfi();
        }
        // Done, not joined: still refused.
        let (e, second) = post(1, second).map(|_| ()).unwrap_err();
        assert_eq!(e, PostError::NotIdle { core: 1, state: CoreState::Done });
        wait(1).unwrap();
        assert_eq!(status(1).state, CoreState::Idle);
        assert_eq!(RAN.load(Ordering::SeqCst), 1, "only the first job ran");
        // The refused job was handed back whole: run it through the slot.
        assert!(post(1, second).is_ok());
        wait(1).unwrap();
        assert_eq!(RAN.load(Ordering::SeqCst), 101);
        // Core 0 and cores that do not exist take no posts.
        assert!(matches!(post(0, Box::new(|| ())), Err((PostError::NoSuchCore(0), _))));
        assert!(matches!(post(NUM_CORES, Box::new(|| ())), Err((PostError::NoSuchCore(4), _))));
    }

    /// F5: a core is started once. Starting a running core again is
    /// refused (mailbox state), and below that the reset release refuses
    /// a core whose reset is already de-asserted, instead of moving its
    /// reset vector under it.
    #[test_case]
    fn starting_a_running_core_again_is_a_typed_error() {
        let method = start_method().expect("started at boot");
        for core in 1..NUM_CORES {
            assert!(matches!(start(core, method), Err(StartError::AlreadyStarted { state: CoreState::Idle, .. })), "core {core}");
        }
        assert!(matches!(start(0, method), Err(StartError::Release(zcu102::apu::ReleaseError::NoSuchCore(0)))));
        if method == StartMethod::Reset {
            for core in 1..NUM_CORES {
                assert!(!zcu102::apu::in_reset(core));
                assert_eq!(zcu102::apu::release(core, _start as *const () as usize as u64), Err(zcu102::apu::ReleaseError::AlreadyReleased(core)));
            }
        }
        // Nothing changed for the cores.
        assert_eq!(online(), NUM_CORES);
    }

    /// F3: the reset vector is the EL3 firmware's. Entered at EL3 the
    /// firmware releases the cores through RVBAR; below EL3 it starts them
    /// with PSCI CPU_ON (QEMU answers PSCI through SMC as TF-A does) and
    /// leaves RVBARADDRn at its reset value (0xffff0000, UG1087 APU).
    #[test_case]
    fn the_reset_vector_is_written_only_when_the_firmware_owns_el3() {
        let rvbar = |core: u64| crate::arch::aarch64::probe::read_u32(0xfd5c_0040 + 8 * core).unwrap();
        match crate::entry_el() {
            3 => {
                assert_eq!(start_method(), Some(StartMethod::Reset));
                for core in 1..NUM_CORES as u64 {
                    assert_eq!(rvbar(core) as usize, _start as *const () as usize, "core {core}");
                }
            }
            el => {
                assert_eq!(start_method(), Some(StartMethod::Psci(psci::Conduit::for_entry_el(el))));
                for core in 1..NUM_CORES as u64 {
                    assert_eq!(rvbar(core), 0xffff_0000, "RVBAR of core {core} was written from EL{el}");
                }
            }
        }
    }

    /// F4: every core's GIC state is what init_this_core leaves: only the
    /// wake-up SGI and the timer PPI enabled, nothing pending or active;
    /// no shared interrupt enabled or pending.
    #[test_case]
    fn every_core_starts_with_a_clean_gic() {
        let mut states = [(0, 0, 0, 0); NUM_CORES];
        scope(|s| {
            for (core, st) in states.iter_mut().enumerate() {
                s.spawn(core, move || *st = zcu102::gic().this_core_state());
            }
        })
        .unwrap();
        use crate::drivers::gic400::{TIMER_PPI, WAKE_SGI};
        for (core, (enabled, _pending, active, apr)) in states.iter().enumerate() {
            // SGIs read as enabled on the GIC-400 whatever was written.
            assert_eq!(enabled & !0xffff, 1 << TIMER_PPI, "core {core}: PPIs enabled {enabled:#x}");
            assert_ne!(enabled & (1 << WAKE_SGI), 0, "core {core}");
            assert_eq!((*active, *apr), (0, 0), "core {core}");
        }
        assert_eq!(zcu102::gic().shared_enabled_or_pending(), 0);
    }

    /// F6: SError is unmasked on every core, not only on core 0, and a
    /// guard on one core does not catch (or hide) another core's SError.
    #[test_case]
    fn serror_is_unmasked_and_guarded_per_core() {
        let mut unmasked = [false; NUM_CORES];
        let mut guarded = [None; NUM_CORES];
        scope(|s| {
            for (core, (u, g)) in unmasked.iter_mut().zip(guarded.iter_mut()).enumerate() {
                s.spawn(core, move || {
                    *u = crate::arch::aarch64::probe::serror_unmasked();
                    *g = Some(crate::arch::aarch64::probe::serror_guarded(|| cpu::core_id()));
                });
            }
        })
        .unwrap();
        assert_eq!(unmasked, [true; NUM_CORES]);
        assert_eq!(guarded, [Some(Ok(0)), Some(Ok(1)), Some(Ok(2)), Some(Ok(3))]);
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
