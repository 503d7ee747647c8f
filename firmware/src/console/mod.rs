//! The UART0 console: a prompt, line editing, and commands.
pub mod command;
pub mod line;

use crate::arch::aarch64::{cpu, exception::faults, mmu, semihosting, time};
use crate::bsp::zcu102::{self, memory};
use crate::storage::Storage;
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

/// Run the console forever.
pub fn run() -> ! {
    println!();
    println!("{VERSION} on ZCU102; type 'help' for commands");
    let mut editor = LineEditor::new();
    let mut buf = heapless::Vec::new();
    let mut card: Option<Storage> = None;
    let mut image: Option<xlic_model::Geometry> = None;
    FIRST_PROMPT_TICKS.store(time::ticks(), Ordering::Relaxed);
    loop {
        print!("{PROMPT}");
        match read_line(&mut editor, &mut buf) {
            None => {}
            Some(Err(e)) => println!("error: {e}"),
            Some(Ok("")) => {}
            Some(Ok(line)) => {
                defmt::debug!("console: {=str}", line);
                match command::parse(line) {
                    Ok(cmd) => execute(cmd, &mut card, &mut image),
                    Err(e) => {
                        defmt::warn!("console: rejected {=str}", line);
                        println!("error: {e}")
                    }
                }
            }
        }
    }
}

/// A progress line per MiB of a long transfer.
fn progress(file: &str) -> impl FnMut(usize, usize) + '_ {
    move |done, total| println!("  {file}: {} of {} KiB", done >> 10, total >> 10)
}

/// The mounted card, mounting it on first use (and again after an error,
/// since the card may have been changed).
fn mounted(card: &mut Option<Storage>) -> Option<&Storage> {
    if card.is_none() {
        match Storage::mount(zcu102::sd_card()) {
            Ok(s) => *card = Some(s),
            Err(e) => {
                println!("error: card: {e}");
                return None;
            }
        }
    }
    card.as_ref()
}

fn execute(cmd: Command, card: &mut Option<Storage>, image: &mut Option<xlic_model::Geometry>) {
    match cmd {
        Command::SaveImage(file) => {
            let Some(g) = *image else {
                println!("error: save image: no image loaded (use 'load image FILE' first)");
                return;
            };
            let Some(s) = mounted(card) else { return };
            // SAFETY: the console holds this region for this command only.
            let map = unsafe { memory::ArenaRegion::InputMap.bytes() };
            let t = time::Instant::now();
            let png = crate::image::encode_from_map(map, &g, accel_regs::HW_LIMITS.lanes, 6);
            let encode_ms = t.elapsed().as_millis();
            match s.write_file(file, &png, false, |_, _| {}) {
                Ok(w) => println!(
                    "{file}: {}x{} PNG, {} bytes, encoded in {encode_ms} ms, written at {} KiB/s",
                    g.image.w,
                    g.image.h,
                    png.len(),
                    w.kib_per_s()
                ),
                Err(e) => println!("error: save image {file}: {e}"),
            }
        }
        Command::Card => {
            *card = None;
            if let Some(s) = mounted(card) {
                let c = s.card;
                println!(
                    "card: {} MiB ({} blocks), {}, RCA 0x{:04x}, {}-bit bus at {} kHz, {}, FAT volume mounted",
                    c.blocks / 2048,
                    c.blocks,
                    if c.high_capacity { "SDHC/SDXC" } else { "SDSC" },
                    c.rca,
                    c.bus_width,
                    c.clock_khz,
                    if s.uses_dma() { "SDMA with multi-block runs" } else { "PIO" }
                );
            }
        }
        Command::Ls(dir) => {
            let Some(s) = mounted(card) else { return };
            let mut n = 0;
            let r = s.list(dir, |e| {
                if e.attributes.is_volume() {
                    return;
                }
                n += 1;
                if e.attributes.is_directory() {
                    println!("  {:<12}  <dir>", e.name);
                } else {
                    println!("  {:<12} {:>10}", e.name, e.size);
                }
            });
            match r {
                Ok(()) => println!("{n} entries"),
                Err(e) => {
                    println!("error: ls: {e}");
                }
            }
        }
        Command::Head { file, bytes } => {
            let Some(s) = mounted(card) else { return };
            // SAFETY: the console holds this region for this command only.
            let buf = &mut unsafe { memory::ArenaRegion::ImageFile.bytes() }[..bytes];
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
                Err(e) => println!("error: head {file}: {e}"),
            }
        }
        Command::Copy { from, to } => {
            let Some(s) = mounted(card) else { return };
            // SAFETY: the console holds this region for this command only.
            let buf = unsafe { memory::ArenaRegion::ImageFile.bytes() };
            let r = s.read_file(from, buf, false, |_, _| {}).and_then(|rd| {
                let wr = s.write_file(to, &buf[..rd.bytes], false, |done, total| {
                    if total >= 2 << 20 {
                        println!("  {to}: {} of {} KiB", done >> 10, total >> 10)
                    }
                })?;
                Ok((rd, wr))
            });
            match r {
                Ok((rd, wr)) => println!(
                    "{from} -> {to}: {} bytes; read {} KiB/s, write {} KiB/s",
                    rd.bytes,
                    rd.kib_per_s(),
                    wr.kib_per_s()
                ),
                Err(e) => println!("error: cp {from} {to}: {e}"),
            }
        }
        Command::Remove(file) => {
            let Some(s) = mounted(card) else { return };
            match s.delete(file) {
                Ok(()) => println!("{file} deleted"),
                Err(e) => println!("error: rm {file}: {e}"),
            }
        }
        Command::LoadImage { file, pad } => {
            let Some(s) = mounted(card) else { return };
            // SAFETY: the console holds these regions for this command only.
            let (buf, scratch, map) = unsafe {
                (memory::ArenaRegion::ImageFile.bytes(), memory::ArenaRegion::ImageDecode.bytes(), memory::ArenaRegion::InputMap.bytes())
            };
            let t = match s.read_file(file, buf, false, progress(file)) {
                Ok(t) => t,
                Err(e) => {
                    println!("error: load image {file}: {e}");
                    return;
                }
            };
            println!("{file}: {} bytes in {} ms ({} KiB/s)", t.bytes, t.micros / 1000, t.kib_per_s());
            let hw = accel_regs::HW_LIMITS;
            *image = None;
            match crate::image::load(&buf[..t.bytes], scratch, map, pad, hw.lanes, hw.max_side) {
                Ok(img) => {
                    let g = img.geometry;
                    *image = Some(g);
                    if let Some(n) = img.note {
                        println!("note: {n}");
                    }
                    println!(
                        "image {}x{} {} 8-bit, decoded in {} ms; pixels CRC-32 0x{:08x}",
                        g.image.w,
                        g.image.h,
                        img.color,
                        img.decode_micros / 1000,
                        img.rgb_crc
                    );
                    println!(
                        "input map {}x{} ({} padding), {} bytes at 0x{:09x}, CRC-32 0x{:08x}; latent will be {}x{}",
                        g.coded.w,
                        g.coded.h,
                        pad.name(),
                        img.map_bytes,
                        memory::ArenaRegion::InputMap.range().start,
                        img.map_crc,
                        g.latent().w,
                        g.latent().h
                    );
                }
                Err(e) => println!("error: load image {file}: {e}"),
            }
        }
        Command::LoadModel(file) => {
            let Some(s) = mounted(card) else { return };
            // SAFETY: the console holds this region for this command only.
            let buf = unsafe { memory::ArenaRegion::ModelFile.bytes() };
            let r = s.read_file(file, buf, false, progress(file));
            match r {
                Ok(t) => {
                    println!("{file}: {} bytes in {} ms ({} KiB/s) at 0x{:09x}", t.bytes, t.micros / 1000, t.kib_per_s(), memory::ArenaRegion::ModelFile.range().start);
                    match xlic_model::package::Package::parse(&buf[..t.bytes], &accel_regs::HW_LIMITS) {
                        Ok(p) => println!(
                            "model package ok: format version {}, {} layers, every CRC matches, built for {} lanes x {} pof, tiles {}x{}",
                            xlic_model::package::FORMAT_VERSION,
                            xlic_model::LAYERS.len(),
                            p.hw.lanes,
                            p.hw.pof,
                            p.hw.tile_rows,
                            p.hw.tile_cols
                        ),
                        Err(e) => println!("error: load model {file}: {e}"),
                    }
                }
                Err(e) => println!("error: load model {file}: {e}"),
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
        Command::Fault(kind) => {
            println!("raising a deliberate fault ({kind:?}); the report follows and the system halts");
            match kind {
                FaultKind::Null => {
                    faults::null_read();
                }
                FaultKind::Stack => {
                    faults::stack_overflow(0);
                }
                FaultKind::Undef => faults::undefined(),
            }
        }
        Command::Reboot => reboot(),
        Command::Exit(code) => {
            println!("bye (exit status {code})");
            zcu102::console_uart().flush_tx();
            semihosting::exit(code);
            println!("exit: no host to return to (semihosting unavailable on the board); use 'reboot'");
        }
    }
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
    print!("cores        0 running;");
    let mut parked = 0;
    for n in 1..cpu::NUM_CORES {
        if let Some(el) = cpu::parked_core(n) {
            print!(" {n} parked (entered EL{el})");
            parked += 1;
        }
    }
    if parked == 0 {
        print!(" others held in reset");
    }
    println!();
    let f = time::frequency();
    println!("timer        CNTFRQ {}.{:03} MHz, uptime {:.3} s", f / 1_000_000, (f / 1000) % 1000, time::uptime().as_secs_f64());
    let t0 = FIRST_PROMPT_TICKS.load(Ordering::Relaxed);
    println!("boot         first prompt at counter tick {t0} ({} us after reset)", t0 * 1_000_000 / f.max(1));
    let d = zcu102::console_uart().divisors();
    println!(
        "console      UART0 {} baud 8N1 (CD {}, BDIV {}), defmt log on UART1",
        d.actual_baud(zcu102::UART_REF_HZ),
        d.cd,
        d.bdiv
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

/// ZynqMP soft reset through CRL_APB.RESET_CTRL, as the PMU firmware does.
fn reboot() -> ! {
    const CRL_APB_RESET_CTRL: usize = 0xff5e_0218;
    const SOFT_RESET: u32 = 1 << 4;
    println!("rebooting...");
    zcu102::console_uart().flush_tx();
    // SAFETY: CRL_APB.RESET_CTRL is a device register; setting SOFT_RESET
    // resets the whole PS, which is the intent.
    unsafe { core::ptr::write_volatile(CRL_APB_RESET_CTRL as *mut u32, SOFT_RESET) };
    let deadline = time::Deadline::after(core::time::Duration::from_millis(100));
    while !deadline.expired() {
        cpu::spin_hint();
    }
    println!("reboot: the soft reset did not take effect; halting");
    semihosting::exit(0);
    cpu::wait_forever()
}
