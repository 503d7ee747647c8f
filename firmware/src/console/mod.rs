//! The UART0 console: a prompt, line editing, and commands.
pub mod codec;
pub mod command;
pub mod diag;
pub mod line;

use crate::arch::aarch64::{cpu, exception::faults, mmu, semihosting, time};
use crate::bsp::zcu102::{self, memory};
use crate::storage::{Storage, StorageError};
use crate::{print, println};
use command::{Command, FaultKind, COMMANDS};
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};
use line::{Action, LineEditor, MAX_LINE};

/// Counter value when the first prompt was printed (boot cost, see `bench`).
static FIRST_PROMPT_TICKS: AtomicU64 = AtomicU64::new(0);

pub const PROMPT: &str = "xlic> ";

/// Version line: crate version and git description, fixed at build time.
pub const VERSION: &str = concat!("X-LIC firmware ", env!("CARGO_PKG_VERSION"), " (", env!("XLIC_GIT_VERSION"), ")");

/// Read one line from the console into `out`, echoing as the user types.
/// Returns None when the line was cancelled with Ctrl-C.
fn read_line<'a>(editor: &mut LineEditor, out: &'a mut heapless::Vec<u8, MAX_LINE>) -> Option<Result<&'a str, line::LineError>> {
    let uart = zcu102::console_uart();
    loop {
        match editor.feed(uart.read_byte()) {
            Action::None => {}
            Action::Echo(b) => uart.write_byte(b),
            Action::Erase => {
                for &b in b"\x08 \x08" {
                    uart.write_byte(b);
                }
            }
            Action::Bell => uart.write_byte(0x07),
            Action::Cancel => {
                println!("^C");
                return None;
            }
            Action::Submit => {
                println!();
                return Some(editor.take(out));
            }
        }
    }
}

/// A file name as typed (8.3 names fit with room to spare).
pub type FileName = heapless::String<64>;

/// What the console keeps between commands.
pub struct State {
    /// The DDR buffers: borrowed by each command for its duration.
    pub arena: memory::Arena,
    pub card: Option<Storage>,
    /// The checked model package (in its arena region) and its file name.
    pub model: Option<(crate::pipeline::ModelInfo, FileName)>,
    /// The loaded image (its input map in its region) and its file name.
    pub image: Option<(xlic_model::Geometry, FileName)>,
    /// Progress through the layers for that image.
    pub pipeline: Option<crate::pipeline::Pipeline>,
    /// How many cores work spreads over (PNG decode and encode, `--cpu`):
    /// all of them unless `cores N` says otherwise.
    pub cores: usize,
}

/// A command failed; it has printed an `error:` line saying why.
#[derive(Debug)]
pub struct Failed;

pub type Outcome = Result<(), Failed>;

/// Print `error: ...` and fail the command.
macro_rules! fail {
    ($($arg:tt)*) => {{
        $crate::println!("error: {}", format_args!($($arg)*));
        return Err($crate::console::Failed);
    }};
}
pub(crate) use fail;

/// Parse and execute one line.
fn execute_line(state: &mut State, line: &str) -> Outcome {
    defmt::debug!("console: {=str}", line);
    match command::parse(line) {
        Ok(cmd) => execute(cmd, state),
        Err(e) => {
            defmt::warn!("console: rejected {=str}", line);
            fail!("{e}")
        }
    }
}

/// Script of console commands run at boot when the card holds it.
pub const AUTORUN_FILE: &str = "AUTORUN.TXT";

/// Run AUTORUN.TXT from the card, line by line as if typed (empty lines
/// and lines starting with '#' are skipped; a line must meet the rules
/// of a typed one); stop at the first failing command. `reboot` and
/// `fault`, which would end every boot there, are refused. Without a
/// card or the file, nothing happens; a card that cannot be mounted is
/// reported and the console comes up without it.
///
/// The boot watchdog (FPD SWDT, see drivers::swdt) covers the mount and
/// the script's reading; it is off before the script's commands run
/// (each has its own time limits, as when typed) and at the prompt. If
/// it reset the last boot, this boot leaves the card alone: a card that
/// hangs the boot would otherwise reset the board again and again.
fn autorun(state: &mut State) {
    let watchdog = zcu102::boot_watchdog();
    if watchdog.take_expired() {
        println!("boot: the boot watchdog reset the board during the last boot, while it read the card; the card is left alone this time ('card' or 'ls' mounts it, AUTORUN.TXT is not run)");
        return;
    }
    let armed = watchdog.start(BOOT_WATCHDOG);
    let mut buf = [0u8; AUTORUN_MAX];
    let script = read_autorun(state, &mut buf);
    watchdog.stop();
    if !armed {
        defmt::info!("boot watchdog: FPD SWDT not present (QEMU does not model it)");
    }
    let Some(n) = script else { return };
    let lines = buf[..n].split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    // Lines as `str::lines` counts them (no empty one after the last newline).
    let count = buf[..n].iter().filter(|&&b| b == b'\n').count() + (n > 0 && buf[n - 1] != b'\n') as usize;
    println!("autorun: {AUTORUN_FILE} ({count} lines)");
    for (i, raw) in lines.enumerate() {
        let stop = || println!("autorun: stopped at line {} of {AUTORUN_FILE}", i + 1);
        let raw = raw.trim_ascii();
        if raw.is_empty() || raw.starts_with(b"#") {
            continue;
        }
        let line = match line::check(raw) {
            Ok(l) => l,
            Err(e) => {
                println!("error: {e}");
                stop();
                return;
            }
        };
        println!("{PROMPT}{line}");
        if let Ok(cmd @ (Command::Reboot | Command::Fault { .. })) = command::parse(line) {
            let what = if cmd == Command::Reboot { "restart" } else { "halt" };
            println!("error: '{line}' is not run from {AUTORUN_FILE}: it would {what} the board at every boot; type it at the prompt");
            stop();
            return;
        }
        if execute_line(state, line).is_err() {
            stop();
            return;
        }
    }
    println!("autorun: done");
}

/// Largest AUTORUN.TXT run.
const AUTORUN_MAX: usize = 4096;

/// How long the boot may take from the watchdog's start to the script
/// read (SD identification, mount, one small file: well under a second
/// on the board).
const BOOT_WATCHDOG: core::time::Duration = core::time::Duration::from_secs(10);

/// Mount the card and read AUTORUN.TXT; the mount's failure is printed.
fn read_autorun(state: &mut State, script: &mut [u8]) -> Option<usize> {
    let mut s = match mount_card() {
        Ok(s) => s,
        Err(StorageError::Card(crate::drivers::sdhci::SdError::NoCard)) => return None,
        Err(e) => {
            println!("card: {e}");
            println!("autorun: {AUTORUN_FILE} not looked for; the console works without the card");
            return None;
        }
    };
    let r = s.read_file(AUTORUN_FILE, script, false, |_, _| {});
    state.card = Some(s);
    match r {
        Ok(t) => Some(t.bytes),
        Err(e) if e.is_not_found() => None,
        Err(StorageError::TooLarge { size, room }) => {
            println!("autorun: {AUTORUN_FILE} is {size} bytes, more than the {room} a script may have; not run");
            None
        }
        Err(e) => {
            println!("autorun: cannot read {AUTORUN_FILE}: {e}");
            None
        }
    }
}

/// Run the console forever.
pub fn run() -> ! {
    println!();
    println!("{VERSION} on ZCU102; type 'help' for commands");
    let mut editor = LineEditor::new();
    let mut buf = heapless::Vec::new();
    let arena = memory::Arena::take().expect("the console is the arena's one owner");
    let mut state = State { arena, card: None, model: None, image: None, pipeline: None, cores: cpu::NUM_CORES };
    autorun(&mut state);
    FIRST_PROMPT_TICKS.store(time::ticks(), Ordering::Relaxed);
    loop {
        print!("{PROMPT}");
        match read_line(&mut editor, &mut buf) {
            None => {}
            Some(Err(e)) => println!("error: {e}"),
            Some(Ok("")) => {}
            Some(Ok(line)) => {
                let _ = execute_line(&mut state, line);
            }
        }
    }
}

/// A progress line per MiB of a long transfer.
fn progress(file: &str) -> impl FnMut(usize, usize) + '_ {
    move |done, total| println!("  {file}: {} of {} KiB", done >> 10, total >> 10)
}

/// Mount the card in the slot, saying so when the mount removed the
/// temporary files of an interrupted write.
fn mount_card() -> Result<Storage, StorageError> {
    let s = Storage::mount(zcu102::sd_card())?;
    match &s.leftovers {
        Ok(0) => {}
        Ok(n) => println!(
            "card: removed {n} temporary file{} that an interrupted write left (power lost or card pulled while writing); each name holds a whole file",
            if *n == 1 { "" } else { "s" }
        ),
        Err(e) => println!("card: the temporary files an interrupted write left were not removed: {e}"),
    }
    Ok(s)
}

/// The mounted card, mounting it on first use (and again after an error,
/// since the card may have been changed).
fn mounted(card: &mut Option<Storage>) -> Result<&mut Storage, Failed> {
    if card.is_none() {
        match mount_card() {
            Ok(s) => *card = Some(s),
            Err(e) => fail!("card: {e}"),
        }
    }
    card.as_mut().ok_or(Failed)
}

fn execute(cmd: Command, state: &mut State) -> Outcome {
    let card = &mut state.card;
    match cmd {
        Command::SaveImage { file, options } => return codec::save_image(state, file, options),
        Command::LoadModel(file) => return codec::load_model(state, file),
        Command::LoadImage { file, pad } => return codec::load_image(state, file, pad),
        Command::Run { cpu } => return codec::run(state, cpu),
        Command::Compress { image, out, pad } => return codec::compress(state, image, out, pad),
        Command::Decompress { file, out } => return codec::decompress(state, file, out),
        Command::Step { cpu } => return codec::step(state, cpu),
        Command::Reset => return codec::reset(state),
        Command::Regs => return codec::regs(),
        Command::Mem => return codec::mem(state),
        Command::Dump { layer, file } => return codec::dump(state, layer, file),
        Command::Verify(file) => return codec::verify(state, file),
        Command::Diag { force } => return diag::run(state, force),
        Command::Card => {
            *card = None;
            let s = mounted(card)?;
            let c = s.card;
            let dma = s.uses_dma();
            println!(
                "card: {} MiB ({} blocks), {}, RCA 0x{:04x}, OCR 0x{:08x}, {}-bit bus at {} kHz, {}, {} signalling, {}, FAT volume mounted",
                c.blocks / 2048,
                c.blocks,
                if c.high_capacity { "SDHC/SDXC" } else { "SDSC" },
                c.rca,
                c.ocr.0,
                c.bus_width,
                c.clock_khz,
                c.speed.name(),
                c.signalling.name(),
                if dma { "SDMA with multi-block runs" } else { "PIO" }
            );
            let v = *s.volume();
            match s.free_bytes() {
                Ok(free) => println!(
                    "volume: {} in {}, {} clusters of {} bytes, {} KiB free",
                    v.fat_type,
                    v.scheme,
                    v.clusters,
                    v.cluster_bytes(),
                    free >> 10
                ),
                Err(e) => fail!("card: {e}"),
            }
        }
        Command::Ls(dir) => {
            let s = mounted(card)?;
            let mut n = 0;
            let r = s.list(dir, |e| {
                n += 1;
                if e.is_dir() {
                    println!("  {:<12}  <dir>", e.name);
                } else {
                    println!("  {:<12} {:>10}", e.name, e.size);
                }
            });
            match r {
                Ok(()) => println!("{n} entries"),
                Err(e) => fail!("ls: {e}"),
            }
        }
        Command::Head { file, bytes } => {
            let s = mounted(card)?;
            let buf = &mut state.arena.bytes_mut(memory::ArenaRegion::ImageFile)[..bytes];
            match s.read_file(file, buf, true, |_, _| {}) {
                Ok(t) => {
                    let n = t.bytes;
                    for (i, row) in buf[..n].chunks(16).enumerate() {
                        print!("  {:06x} ", i * 16);
                        for b in row {
                            print!(" {b:02x}");
                        }
                        for _ in row.len()..16 {
                            print!("   ");
                        }
                        print!("  ");
                        for &b in row {
                            print!("{}", if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' });
                        }
                        println!();
                    }
                    println!("{file}: first {n} bytes");
                }
                Err(e) => fail!("head {file}: {e}"),
            }
        }
        Command::Copy { from, to } => {
            let s = mounted(card)?;
            let buf = state.arena.bytes_mut(memory::ArenaRegion::ImageFile);
            let r = s.copy(from, to, buf, |done, total| {
                if total >= 2 << 20 {
                    println!("  {to}: {} of {} KiB", done >> 10, total >> 10)
                }
            });
            match r {
                Ok((rd, wr)) => println!(
                    "{from} -> {to}: {} bytes; read {} KiB/s, write {} KiB/s",
                    rd.bytes,
                    rd.kib_per_s(),
                    wr.kib_per_s()
                ),
                Err(e) => fail!("cp {from} {to}: {e}"),
            }
        }
        Command::Remove(file) => {
            let s = mounted(card)?;
            match s.delete(file) {
                Ok(()) => println!("{file} deleted"),
                Err(e) => fail!("rm {file}: {e}"),
            }
        }
        Command::Help(None) => {
            println!("commands:");
            for c in COMMANDS {
                println!("  {:<24} {}", c.usage, c.summary);
            }
            println!("keys: Backspace erases, Ctrl-C cancels the line");
        }
        Command::Help(Some(name)) => {
            if let Some(c) = command::spec(name) {
                println!("usage: {}\n  {}", c.usage, c.summary);
            }
        }
        Command::Info => info(),
        Command::Layers => layers(),
        Command::Fault { kind, core } => {
            println!("raising a deliberate fault ({kind:?}) on core {core}; the report follows and the run ends");
            let raise = move || match kind {
                FaultKind::Null => {
                    faults::null_read();
                }
                FaultKind::Stack => {
                    faults::stack_overflow(0);
                }
                FaultKind::Undef => faults::undefined(),
            };
            if core != 0 && crate::smp::status(core).state != crate::smp::CoreState::Idle {
                fail!("core {core} is {}; it cannot take a job", crate::smp::status(core).state.name());
            }
            if let Err(e) = crate::smp::scope(|s| s.spawn(core, raise)) {
                fail!("{e}");
            }
        }
        Command::Cores(n) => {
            if let Some(n) = n {
                state.cores = n;
                println!("work now spreads over at most {n} core{} (PNG decode and encode, --cpu)", if n == 1 { "" } else { "s" });
            }
            cores(&mut state.arena)?
        }
        Command::Reboot => reboot(),
        Command::Exit(code) => {
            println!("bye (exit status {code})");
            let _ = zcu102::console_uart().flush_tx();
            semihosting::exit(code.into());
            fail!("exit: no host to return to (semihosting unavailable on the board); use 'reboot'");
        }
    }
    Ok(())
}

fn size(r: &Range<u64>) -> (u64, &'static str) {
    let n = r.end - r.start;
    if n >= 1 << 30 && n % (1 << 30) == 0 {
        (n >> 30, "GiB")
    } else if n >= 1 << 20 {
        (n >> 20, "MiB")
    } else {
        (n >> 10, "KiB")
    }
}

fn region(name: &str, r: Range<u64>, what: &str) {
    let (n, unit) = size(&r);
    println!("  {name:<12} 0x{:09x}..0x{:09x} {n:>5} {unit}  {what}", r.start, r.end);
}

fn info() {
    println!("{VERSION}");
    println!("board        ZCU102 (ZynqMP XCZU9EG), 4x Cortex-A53");
    println!(
        "core         {} (MPIDR 0x{:08x}) at EL{}, entered at EL{}",
        cpu::core_id(),
        cpu::mpidr(),
        cpu::current_el(),
        crate::entry_el()
    );
    print!("cores        {} of {} running: 0 console", crate::smp::online(), cpu::NUM_CORES);
    for n in 1..cpu::NUM_CORES {
        let s = crate::smp::status(n);
        match s.state {
            crate::smp::CoreState::Offline if s.start_failed == Some(crate::smp::StartFailure::NoPsci) => {
                print!("; {n} not started (entered at EL{}: only PSCI CPU_ON may start it, and nothing above offers it)", crate::entry_el())
            }
            crate::smp::CoreState::Offline if s.start_failed.is_some() => print!("; {n} did not start"),
            crate::smp::CoreState::Offline => print!("; {n} held in reset"),
            st => print!("; {n} {} (entered EL{}, {} jobs)", st.name(), s.entry_el, s.jobs),
        }
    }
    println!();
    let f = time::frequency();
    println!("timer        CNTFRQ {}.{:03} MHz, uptime {:.3} s", f / 1_000_000, (f / 1000) % 1000, time::uptime().as_secs_f64());
    let t0 = FIRST_PROMPT_TICKS.load(Ordering::Relaxed);
    println!("boot         first prompt at counter tick {t0} ({} us after reset)", t0 * 1_000_000 / f.max(1));
    let d = zcu102::console_uart().divisors();
    println!(
        "console      UART0 {} baud 8N1 (CD {}, BDIV {}{}), defmt log on UART1",
        d.actual_baud(zcu102::uart_ref_hz(0).0),
        d.cd,
        d.bdiv,
        if zcu102::uart_kept_fsbl_setup(0) { ", kept from the loader" } else { "" }
    );
    println!("mmu          {}", if mmu::is_enabled() { "on, I+D caches on, identity map" } else { "off" });
    println!("semihosting  {}", if semihosting::is_available() { "available (QEMU)" } else { "not available" });
    {
        use accel_regs::limits as l;
        println!(
            "accelerator  xlic_layer: {} argument registers (generated from hls/), {} lanes x {} pof x {} pox, tiles {}x{}",
            accel_regs::ARGUMENTS.len(),
            l::LANES,
            l::POF,
            l::POX,
            l::TILE_ROWS,
            l::TILE_COLS
        );
    }
    println!("memory map");
    region("null guard", memory::null_guard(), "unmapped");
    region("image", memory::image(), ".text .rodata .data .bss, stacks");
    region("stacks", memory::stacks(), "4 cores x [guard|exception|guard|main]");
    region("arena", memory::arena(), "normal write-back: weights, feature maps");
    region("cosim win", memory::cosim_window(), "device: accelerator registers under QEMU");
    region("high DDR", memory::ddr_high(), "normal write-back");
    region("PL window", memory::pl_window(), "device: accelerator on the board (HPM0_FPD)");
}

/// `cores`: the self-test on every core, in a 4 MiB buffer of the arena.
fn cores(arena: &mut memory::Arena) -> Outcome {
    let buf = &mut arena.bytes_mut(memory::ArenaRegion::ImageDecode)[..4 << 20];
    let t = time::Instant::now();
    let r = match crate::smp::self_test(buf) {
        Ok(r) => r,
        Err(e) => fail!("{e}"),
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    for (core, c) in r.ran() {
        println!(
            "  core {core}: job ran on core {}, counter {}.{:03} MHz {}, CRC-32 of the shared {} KiB 0x{:08x} ({})",
            c.ran_on,
            c.counter_hz / 1_000_000,
            (c.counter_hz / 1000) % 1000,
            if c.counter_advanced { "advancing" } else { "NOT advancing" },
            r.buffer_bytes >> 10,
            c.crc,
            if c.crc == r.crc { "matches core 0's write" } else { "DIFFERS from core 0's write" }
        );
    }
    println!(
        "  atomic increments: {} cores x {} = {} counted ({})",
        r.cores,
        crate::smp::RACE_ROUNDS,
        r.race_total,
        if r.race_total == r.cores as u64 * crate::smp::RACE_ROUNDS { "none lost" } else { "SOME LOST" }
    );
    if !r.passed() {
        fail!("the self-test failed on {} cores", r.cores);
    }
    println!("{} of {} cores passed the self-test in {ms:.1} ms", r.cores, cpu::NUM_CORES);
    Ok(())
}

fn layers() {
    use xlic_model::Op;
    println!("  #  layer    op        kernel stride  cin -> cout  bias");
    for (i, l) in xlic_model::LAYERS.iter().enumerate() {
        let op = match l.op {
            Op::Conv { .. } => "conv",
            Op::TConv { .. } => "tconv",
            Op::Gdn => "gdn",
            Op::Igdn => "igdn",
        };
        println!(
            "  {i}  {:<8} {op:<9} {:>4}x{} {:>6} {:>5} -> {:<4}  {}",
            l.name,
            l.op.kernel(),
            l.op.kernel(),
            l.op.stride(),
            l.cin,
            l.cout,
            if l.bias { "yes" } else { "no" }
        );
    }
}

fn reboot() -> ! {
    println!("rebooting...");
    let _ = zcu102::console_uart().flush_tx();
    zcu102::soft_reset();
    let deadline = time::Deadline::after(core::time::Duration::from_millis(100));
    while !deadline.expired() {
        cpu::spin_hint();
    }
    println!("reboot: the soft reset did not take effect; halting");
    semihosting::exit(0);
    cpu::wait_forever()
}
