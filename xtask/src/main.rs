//! `cargo xtask <command>`: every host-side chore of the project.
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use xtask::firmware::{self, BuildOptions};
use xtask::qemu::{self, BootEl, Qemu, Session, PROMPT};
use xlic_model::PadMode;
use xtask::codec::{self, Arith};
use xtask::{elf, setup};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "X-LIC: build, run and test the ZCU102 firmware")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct FirmwareArgs {
    /// Build with optimisations.
    #[arg(long)]
    release: bool,
    /// defmt log level compiled in: trace, debug, info, warn, error, off.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log: String,
}

impl FirmwareArgs {
    fn options(&self) -> BuildOptions {
        BuildOptions { release: self.release, log_level: Some(self.log.clone()), target_dir: None }
    }
}

#[derive(clap::Args, Clone)]
struct DataArg {
    /// Shared data folder (models/, images/); default ../shared/data or $XLIC_DATA.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

impl DataArg {
    fn dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(xlic_ref::data::default_dir)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what a fresh machine lacks (Debian packages, defmt-print).
    Setup,
    /// Build the firmware ELF.
    Build {
        #[command(flatten)]
        fw: FirmwareArgs,
    },
    /// Boot the firmware in QEMU with the console on this terminal (or
    /// stdin/stdout when piped: `printf 'help\nexit\n' | cargo xtask run`).
    Run {
        #[command(flatten)]
        fw: FirmwareArgs,
        /// Exception level QEMU enters the firmware at.
        #[arg(long, value_enum, default_value = "3")]
        el: BootEl,
        /// SD card image to insert (see `cargo xtask card`).
        #[arg(long, value_name = "IMG")]
        card: Option<PathBuf>,
        /// Without the accelerator's co-simulation (plain DDR).
        #[arg(long)]
        no_cosim: bool,
    },
    /// Write an SD card image (MBR + FAT32) holding FILEs, or by default the
    /// model package and the test images (8.3 names, printed).
    Card {
        #[arg(long, value_name = "IMG")]
        out: PathBuf,
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = xlic_cardimg::DEFAULT_SIZE_MIB, value_name = "MIB")]
        size: u64,
        #[command(flatten)]
        data: DataArg,
    },
    /// Copy one file out of a card image.
    CardGet {
        img: PathBuf,
        name: String,
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// The main job: code an image on the firmware in QEMU with the HLS
    /// accelerator co-simulated; writes DIR/recon.png, recon.xlc,
    /// latent.bin, compare.png and console.txt, prints per-layer times, the
    /// PSNR, bpp and compression ratio.
    Demo {
        /// Image to code (default: DATA/images/astronaut.png).
        #[arg(long, value_name = "PATH")]
        image: Option<PathBuf>,
        /// Output folder (default: target/demo).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long, default_value = "edge", value_parser = codec::parse_pad)]
        pad: PadMode,
        /// Compute the layers on the four A53 cores (the firmware's NEON
        /// engine, `run --cpu`) instead of the co-simulated accelerator.
        #[arg(long)]
        cpu: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// Every test: host crates, firmware under QEMU (entered at EL3, EL2 and
    /// EL1), and the console driven from the host.
    Test,
    /// Print figures: firmware sizes, boot cost, clean build time; model
    /// quality (INT16 vs float PSNR), host integer-codec speed, .XLC figures.
    Bench {
        #[command(flatten)]
        data: DataArg,
        /// Only one part: firmware, storage, accelerator, dse, model, e2e, entropy or cpu.
        #[arg(long, value_parser = ["firmware", "storage", "accelerator", "dse", "model", "e2e", "entropy", "cpu"])]
        only: Option<String>,
    },
    /// Calibrate on images and write the model package the firmware loads.
    Quantize {
        #[command(flatten)]
        data: DataArg,
        /// Calibration images (default: DATA/images).
        #[arg(long, value_name = "DIR")]
        images: Option<PathBuf>,
        /// Padding mode the calibration assumes.
        #[arg(long, default_value = "edge", value_parser = codec::parse_pad)]
        pad: PadMode,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Code one image on the host (float reference or INT16 integer
    /// reference); writes DIR/recon.png, DIR/latent.bin, DIR/compare.png.
    Codec {
        image: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// float32 reference (default).
        #[arg(long, conflicts_with = "int")]
        float: bool,
        /// INT16 pipeline: exactly what the accelerator computes.
        #[arg(long)]
        int: bool,
        #[arg(long, default_value = "edge", value_parser = codec::parse_pad)]
        pad: PadMode,
        /// Model package for --int (default: calibrated on DATA/images, cached in target/).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Compress an image into an .XLC file on the host: the integer model
    /// (analysis), then the entropy coder the firmware runs.
    Compress {
        image: PathBuf,
        /// Refused if it exists (unless --force) or is an input.
        #[arg(long, value_name = "F.xlc")]
        out: PathBuf,
        /// Replace an existing --out (never an input).
        #[arg(long)]
        force: bool,
        #[arg(long, default_value = "edge", value_parser = codec::parse_pad)]
        pad: PadMode,
        /// Model package (default: calibrated on DATA/images, cached in target/).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Decompress an .XLC file (from the host or the firmware) into a PNG.
    Decompress {
        file: PathBuf,
        /// Refused if it exists (unless --force) or is an input.
        #[arg(long, value_name = "R.png")]
        out: PathBuf,
        /// Replace an existing --out (never an input).
        #[arg(long)]
        force: bool,
        /// Model package (default: the cached package for the file's padding mode).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Regenerate hls/xxlic_layer_hw.h from the HLS top function's
    /// signature and pragmas (the register map accel-regs is built from).
    Regs,
    /// Build and run the HLS C-simulation testbench against vectors from
    /// the integer reference: random shapes of every layer type and the
    /// whole codec chain on a real image.
    Csim {
        /// Image for the chain (default: DATA/images/chelsea.png).
        #[arg(long)]
        image: Option<PathBuf>,
        /// Random cases per layer type.
        #[arg(long, default_value_t = 6)]
        cases: usize,
        /// Also the configurations `dse` picks for the other boards.
        #[arg(long)]
        configs: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// Static checks of the HLS kernel for what C-simulation forgives
    /// (hls-patterns.md): 64-bit types, run-time division, misplaced
    /// pragmas, partitions, static banking, m_axi settings, shared bundles.
    HlsLint,
    /// Vivado HLS 2019.2's synthesis report (after `cd hls && vivado_hls
    /// -f script.tcl`) beside the model: loop IIs, latencies, resources;
    /// fails on a missed II or an exceeded budget. Not part of CI.
    HlsReport {
        /// The solution folder (default: hls/xlic_hls/solution1).
        dir: Option<PathBuf>,
    },
    /// Design-space exploration: sweep the accelerator's factors for a
    /// board, print the Pareto front (latency vs DSP vs BRAM), draw it in
    /// target/dse/, and with --write put the chosen configuration into
    /// hls/xlic_config.h.
    Dse(DseArgs),
    /// PSNR between two PNG images of the same size.
    Psnr { a: PathBuf, b: PathBuf },
    /// Load the firmware onto a ZCU102 over JTAG (boot/jtag.tcl with xsdb):
    /// JTAG boot mode and reset, bitstream, PMU firmware, FSBL or psu_init,
    /// firmware at EL3.
    Jtag(xtask::jtag::JtagArgs),
    /// Cargo runner for firmware/ (`cargo run`, `cargo test`): boots ELF in
    /// QEMU. XLIC_QEMU_EL picks the entry level (default 3), XLIC_QEMU_TIMEOUT
    /// a limit in seconds (default 120 for test binaries), XLIC_QEMU_ICOUNT
    /// an -icount shift.
    #[command(hide = true)]
    QemuRunner {
        elf: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

#[derive(clap::Args)]
struct DseArgs {
    /// zcu102, zcu104, kv260, ultra96v2, or all.
    #[arg(long, default_value = "zcu102")]
    board: String,
    /// Accelerator clock (default: the board's planned clock).
    #[arg(long, value_name = "MHZ")]
    clock: Option<f64>,
    /// Image size the latency is modelled for.
    #[arg(long, value_name = "WxH", default_value = "2048x1365", value_parser = xtask::dse::parse_image)]
    image: xlic_model::geometry::Dims,
    /// Largest share of the device's BRAM18 (and UltraRAM) a configuration may use.
    #[arg(long, value_name = "PCT", default_value_t = 80.0)]
    max_bram: f64,
    /// Largest share of the device's DSP48E2.
    #[arg(long, value_name = "PCT", default_value_t = 90.0)]
    max_dsp: f64,
    /// Largest share of the device's LUTs.
    #[arg(long, value_name = "PCT", default_value_t = 70.0)]
    max_lut: f64,
    /// Write the chosen configuration into hls/xlic_config.h.
    #[arg(long)]
    write: bool,
}

fn dse(a: DseArgs) -> Result<i32> {
    use xlic_model::device::Board;
    let boards: Vec<Board> = if a.board == "all" {
        Board::ALL.to_vec()
    } else {
        vec![Board::by_key(&a.board).with_context(|| format!("unknown board '{}': zcu102, zcu104, kv260, ultra96v2 or all", a.board))?]
    };
    if a.write && boards.len() != 1 {
        bail!("--write needs one board");
    }
    for board in boards {
        let budget = xtask::dse::Budget { dsp: a.max_dsp / 100.0, bram: a.max_bram / 100.0, uram: a.max_bram / 100.0, lut: a.max_lut / 100.0 };
        let opts = xtask::dse::Options { board, clock_hz: a.clock.map_or(board.clock_hz, |m| m * 1e6), image: a.image, budget };
        xtask::dse::run(&opts, a.write)?;
        println!();
    }
    Ok(0)
}

fn main() {
    let cli = Cli::parse();
    match dispatch(cli.cmd) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Setup => setup::ensure().map(|_| 0),
        Cmd::Build { fw } => {
            setup::ensure()?;
            let elf = firmware::build(&fw.options())?;
            println!("{}", elf.display());
            Ok(0)
        }
        Cmd::Run { fw, el, card, no_cosim } => {
            setup::ensure()?;
            let elf = firmware::build(&fw.options())?;
            let mut q = Qemu::new(elf, el);
            q.card = card;
            if !no_cosim {
                q.cosim = Some(xtask::cosim::CosimOptions { echo: true, ..Default::default() });
            }
            qemu::run_console(q, None)
        }
        Cmd::Card { out, files, size, data } => card(&data.dir(), &out, &files, size).map(|_| 0),
        Cmd::CardGet { img, name, out } => {
            let bytes = xlic_cardimg::read(&img, &name)?;
            xlic_ref::image::write_atomic(&out, &bytes)?;
            println!("{name}: {} bytes -> {}", bytes.len(), out.display());
            Ok(0)
        }
        Cmd::QemuRunner { elf, rest: _ } => runner(elf),
        Cmd::Demo { image, out, pad, cpu, data } => demo(&data.dir(), image, out, pad, cpu),
        Cmd::Test => test(),
        Cmd::Bench { data, only } => bench(&data.dir(), only.as_deref()),
        Cmd::Quantize { data, images, pad, out } => codec::quantize(&data.dir(), images, pad, &out).map(|_| 0),
        Cmd::Codec { image, out, float: _, int, pad, model, data } => {
            let arith = if int { Arith::Int } else { Arith::Float };
            codec::codec(&data.dir(), &image, &out, arith, pad, model.as_deref()).map(|_| 0)
        }
        Cmd::HlsLint => xtask::hlslint::run(),
        Cmd::HlsReport { dir } => xtask::hlsreport::run(dir),
        Cmd::Dse(args) => dse(args),
        Cmd::Psnr { a, b } => codec::psnr_cmd(&a, &b).map(|_| 0),
        Cmd::Compress { image, out, force, pad, model, data } => xtask::xlc::compress_cmd(&data.dir(), &image, &out, pad, model.as_deref(), force).map(|_| 0),
        Cmd::Decompress { file, out, force, model, data } => xtask::xlc::decompress_cmd(&data.dir(), &file, &out, model.as_deref(), force).map(|_| 0),
        Cmd::Jtag(args) => xtask::jtag::run(&args),
        Cmd::Regs => {
            let text = xtask::regmap::generate()?;
            let path = xtask::regmap::header_path();
            xlic_ref::image::write_atomic(&path, text.as_bytes())?;
            println!("{}", path.display());
            Ok(0)
        }
        Cmd::Csim { image, cases, configs, data } => {
            setup::ensure()?;
            xtask::csim::run(&data.dir(), image, cases, configs)
        }
    }
}

/// Card contents: the given files, or the model package and the images.
fn card(data: &std::path::Path, out: &std::path::Path, files: &[PathBuf], size: u64) -> Result<()> {
    // (name on the card, bytes) and where each came from.
    let (mut entries, mut sources) = (Vec::new(), Vec::new());
    let images = xlic_ref::data::images_dir(data);
    if files.is_empty() {
        entries.push(("MODEL.PKG".to_string(), xtask::pkgcache::package(data, &images, PadMode::Edge)?));
        sources.push("model package (cargo xtask quantize)".to_string());
    }
    let paths = if files.is_empty() { xlic_ref::data::list_pngs(&images)? } else { files.to_vec() };
    for p in paths {
        let name = p.file_name().context("file without a name")?.to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        entries.push((xlic_cardimg::short_name(&name), bytes));
        sources.push(p.display().to_string());
    }
    xlic_cardimg::build(out, &entries, size)?;
    println!("card image {} ({size} MiB, MBR + FAT32):", out.display());
    for ((n, b), from) in entries.iter().zip(&sources) {
        println!("  {n:<12} {:>9} bytes  {from}", b.len());
    }
    Ok(())
}

fn runner(elf: PathBuf) -> Result<i32> {
    let el = match std::env::var("XLIC_QEMU_EL") {
        Ok(v) => BootEl::from_number(&v).with_context(|| format!("XLIC_QEMU_EL={v}: use 1, 2 or 3"))?,
        Err(_) => BootEl::El3,
    };
    let is_test = elf.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "deps");
    let timeout = match std::env::var("XLIC_QEMU_TIMEOUT") {
        Ok(v) => Some(Duration::from_secs(v.parse().context("XLIC_QEMU_TIMEOUT is seconds")?)),
        Err(_) if is_test => Some(Duration::from_secs(120)),
        Err(_) => None,
    };
    let mut q = Qemu::new(&elf, el);
    q.semihost_arg = Some(format!("expect-el={}", el.number()));
    if let Ok(v) = std::env::var("XLIC_QEMU_ICOUNT") {
        q.icount_shift = Some(v.parse().context("XLIC_QEMU_ICOUNT is the -icount shift (0: 1 ns per instruction)")?);
    }
    // Test binaries get a card on SD0 for the SD driver's tests
    // (firmware/src/drivers/sdhci/tests.rs); SD1 stays empty as before.
    let card0 = is_test.then(|| xtask::work_dir().join(format!("sd0-test-card-{}.img", std::process::id())));
    if let Some(img) = &card0 {
        let pattern: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        xlic_cardimg::build(img, &[("PATTERN.BIN".to_string(), pattern)], xlic_cardimg::DEFAULT_SIZE_MIB)?;
        q.card0 = Some(img.clone());
    }
    let code = qemu::run_console(q, timeout);
    if let Some(img) = card0 {
        let _ = std::fs::remove_file(img);
    }
    code
}

fn demo(data: &std::path::Path, image: Option<PathBuf>, out: Option<PathBuf>, pad: PadMode, cpu: bool) -> Result<i32> {
    use xlic_ref::{psnr, Rgb8};
    setup::ensure()?;
    let image = image.unwrap_or_else(|| xlic_ref::data::images_dir(data).join("astronaut.png"));
    let out = out.unwrap_or_else(|| xtask::repo_root().join("target").join("demo"));
    let png = std::fs::read(&image).with_context(|| format!("cannot read {}", image.display()))?;
    let original = codec::load_image(&image)?;
    let elf = firmware::build(&BuildOptions { release: true, ..Default::default() })?;
    println!("[demo] model package: calibrated on {} ({} padding; cached in target/xlic/packages)", xlic_ref::data::images_dir(data).display(), pad.name());
    let package = xtask::pkgcache::default_package(data, pad)?;
    let engine = if cpu { xtask::e2e::Engine::Cpu(4) } else { xtask::e2e::Engine::Cosim };
    println!(
        "[demo] {} ({}x{}) on the firmware in QEMU's ZCU102, {}",
        image.display(),
        original.width,
        original.height,
        if cpu { "layers on the four A53 cores (NEON integer engine), no co-simulation" } else { "accelerator = hls/xlic_layer.cpp co-simulated" }
    );
    let run = xtask::e2e::codec_in_qemu_on(&elf, &xtask::e2e::scratch("demo"), &package, &png, pad, true, engine)?;
    println!();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| xlic_ref::image::write_atomic(&out.join(name), bytes).with_context(|| format!("cannot write {}", out.join(name).display()));
    write("recon.png", &run.recon_png)?;
    write("latent.bin", &run.latent)?;
    write("recon.xlc", &run.recon_xlc)?;
    write("console.txt", run.transcript.as_bytes())?;
    let (recon, _) = Rgb8::decode_png(&run.recon_png, std::path::Path::new("RECON.PNG"))?;
    Rgb8::comparison(&original, &recon, 8).save_png(&out.join("compare.png"))?;

    // The same image through the host's integer reference: what the
    // accelerator must have computed, bit for bit.
    let model = xlic_quant::IntModel::from_package(&package, &codec::HW)?;
    let reference = xlic_quant::pipeline::codec(&model, &original, pad)?;
    let d = reference.geometry.latent();
    let exact = recon.data == reference.recon.data && run.latent == codec::int_latent_file(&reference);
    // The compressed file the A53 wrote: the host's, byte for byte.
    let host_xlc = xtask::xlc::compress(&model, &original, pad)?;
    let xlc = xlic_model::bitstream::parse(&run.recon_xlc, model.id, codec::HW.max_side)?.header;
    let xlc_same = run.recon_xlc == host_xlc.file;

    println!("[demo] per layer (guest time on {}):", if cpu { "the four A53 cores" } else { "the co-simulated accelerator" });
    for l in &run.layers {
        println!("  {:<7} {:>10.1} ms  CRC-32 0x{:08x}", l.name, l.ms, l.crc);
    }
    let wall = run.wall.as_secs_f64();
    if cpu {
        println!("[demo] wall time {wall:.1} s: QEMU running the firmware (boot, card, PNG, ten layers on four cores)");
    } else {
        println!(
            "[demo] wall time {wall:.1} s: HLS kernel (C-simulation) {:.1} s, QEMU firmware and card I/O {:.1} s",
            run.kernel_seconds,
            wall - run.kernel_seconds
        );
    }
    println!(
        "[demo] {}: recon.png, recon.xlc ({} bytes), latent.bin ({}x{}x{}), compare.png (original | reconstruction | error x8), console.txt",
        out.display(),
        xlc.file_len(),
        xlic_model::Layer::LATENT.spec().cout,
        d.w,
        d.h
    );
    println!(
        "[demo] bit-exact with the host's integer reference (reconstruction and latent): {}",
        if exact { "yes" } else { "NO" }
    );
    println!("[demo] RECON.XLC (entropy-coded on the A53) equals the host's `cargo xtask compress` file: {}", if xlc_same { "yes" } else { "NO" });
    println!(
        "PSNR: {:.3} dB  bpp: {:.4}  compression ratio: {:.1}:1 (vs 24-bit RGB)",
        psnr(&original, &recon),
        xlc.bits_per_pixel(),
        xlc.compression_ratio()
    );
    if !exact {
        bail!("the {}'s result differs from the integer reference", if cpu { "CPU engine" } else { "accelerator" });
    }
    if !xlc_same {
        bail!("the firmware's RECON.XLC differs from the host's file");
    }
    Ok(0)
}

fn cargo_host() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Passed and failed test counts, read from the closing lines of cargo's
/// test harness ("test result: ok. N passed; M failed") and of the
/// firmware's ("N passed, M failed").
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    fn scan_line(&mut self, line: &str) {
        let count = |key: &str| -> Option<u64> {
            let i = line.find(key)?;
            line[..i].trim_end().rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        };
        let harness = line.starts_with("test result:");
        let firmware = !harness && line.contains(" passed, ") && line.trim_end().ends_with(" failed");
        if harness || firmware {
            self.passed += count(" passed").unwrap_or(0);
            self.failed += count(" failed").unwrap_or(0);
        }
    }
}

/// Run a test command with its stdout streamed through, counting results.
fn run_counted(cmd: &mut Command, tally: &mut Tally) -> Result<bool> {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn()?;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line?;
        println!("{line}");
        tally.scan_line(&line);
    }
    Ok(child.wait()?.success())
}

fn test() -> Result<i32> {
    setup::ensure()?;
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    let opts = BuildOptions::default();
    for el in BootEl::ALL {
        println!("\n== firmware tests in QEMU, entered at EL{} ==", el.number());
        let mut cmd = firmware::cargo(&opts, "test");
        cmd.arg("--no-fail-fast").env("XLIC_QEMU_EL", el.number().to_string());
        if !run_counted(&mut cmd, &mut tally)? {
            failures.push(format!("firmware tests entered at EL{}", el.number()));
            tally.failed += 1;
        }
    }
    println!("\n== HLS lint: what C-simulation forgives, checked statically ==");
    if xtask::hlslint::run()? == 0 {
        tally.passed += 1;
    } else {
        tally.failed += 1;
        failures.push("hls-lint".into());
    }
    println!("\n== HLS C-simulation: the kernel against the integer reference ==");
    for mut cmd in xtask::csim::prepare(&xlic_ref::data::default_dir(), None, 6)? {
        if !run_counted(&mut cmd, &mut tally)? {
            failures.push("HLS C-simulation".into());
        }
    }
    println!("\n== HLS C-simulation of the configurations `dse` picks for the other boards ==");
    for (what, mut cmd) in xtask::csim::prepare_configs(&xlic_ref::data::default_dir())? {
        println!("-- {what}");
        if !run_counted(&mut cmd, &mut tally)? {
            failures.push(format!("HLS C-simulation, {what}"));
        }
    }
    println!("\n== host tests (including the console driven in QEMU) ==");
    let elf = firmware::build(&opts)?;
    let mut cmd = cargo_host();
    cmd.current_dir(xtask::repo_root()).args(["test", "--workspace", "--no-fail-fast"]).env("XLIC_FIRMWARE_ELF", &elf);
    if !run_counted(&mut cmd, &mut tally)? {
        failures.push("host tests".into());
    }
    println!("\n== {:.0} s ==", started.elapsed().as_secs_f64());
    if !failures.is_empty() {
        eprintln!("failed: {}", failures.join(", "));
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn bench(data: &std::path::Path, only: Option<&str>) -> Result<i32> {
    let part = |p: &str| only.is_none_or(|o| o == p);
    if part("firmware") {
        bench_firmware()?;
    }
    if part("storage") {
        xtask::storage_bench::run(data)?;
    }
    if part("accelerator") {
        codec::bench_accelerator()?;
    }
    if part("dse") {
        xtask::dse::bench()?;
    }
    if part("model") {
        codec::bench(data)?;
    }
    if part("e2e") {
        bench_e2e(data)?;
    }
    if part("entropy") {
        xtask::bench_entropy::run(data)?;
    }
    if part("cpu") {
        xtask::cpu_bench::run(data)?;
    }
    Ok(0)
}

/// The whole path for a 768x512 image (a crop of the Hubble test image):
/// wall time split into the HLS kernel's C-simulation and everything else
/// (QEMU running the firmware: card I/O, PNG decode/encode, polling),
/// per-layer guest times, and the bytes each layer moves.
fn bench_e2e(data: &std::path::Path) -> Result<()> {
    use xlic_model::Layer;
    setup::ensure()?;
    let elf = firmware::build(&BuildOptions { release: true, ..Default::default() })?;
    let (w, h) = (768, 512);
    let src = xlic_ref::data::images_dir(data).join("hubble_deep_field.png");
    let img = codec::load_image(&src)?.crop(w, h);
    let png = img.encode_png();
    let package = xtask::pkgcache::default_package(data, PadMode::Edge)?;
    let run = xtask::e2e::codec_in_qemu(&elf, &xtask::e2e::scratch("bench-e2e"), &package, &png, PadMode::Edge, false)?;
    let wall = run.wall.as_secs_f64();
    println!("\nend to end, {w}x{h} (crop of {}), edge padding, release firmware under QEMU + co-simulation:", src.display());
    println!(
        "  wall {wall:.1} s (target 60 s: {}) = HLS kernel C-simulation {:.1} s + QEMU firmware (boot, card, PNG, checks) {:.1} s",
        if wall <= 60.0 { "met" } else { "NOT met" },
        run.kernel_seconds,
        wall - run.kernel_seconds
    );
    let g = xlic_model::Geometry::new(w, h, PadMode::Edge, codec::HW.max_side)?;
    println!("  {:<7} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}", "layer", "guest ms", "in KiB", "w+p KiB", "out KiB", "IP rd KiB", "IP wr KiB");
    for (l, line) in Layer::ALL.iter().zip(&run.layers) {
        let spec = l.spec();
        let (ins, outs, ws) = xlic_model::reference::shapes(spec, g.input(*l), &codec::HW);
        let constants = 2 * ws.len() + 16 * ws.cout_padded();
        let p = xlic_model::perf::layer(spec, g.input(*l), &codec::HW, &accel_regs::PERF)?;
        println!(
            "  {:<7} {:>10.1} {:>10} {:>10} {:>10} {:>12} {:>12}",
            line.name,
            line.ms,
            ins.bytes() >> 10,
            constants >> 10,
            outs.bytes() >> 10,
            p.bytes_read >> 10,
            p.bytes_written >> 10
        );
    }
    println!("  (in/w+p/out: the buffers each start touches; IP rd/wr: the DDR traffic the tiled IP generates, from the performance model)");
    Ok(())
}

fn bench_firmware() -> Result<()> {
    setup::ensure()?;
    let opts = BuildOptions { release: true, ..Default::default() };
    let elf = firmware::build(&opts)?;
    let bytes = std::fs::read(&elf)?;
    let s = elf::sizes(&bytes)?;
    println!("firmware ELF ({}), release:", elf.display());
    println!("  text    {:>9} bytes", s.text);
    println!("  rodata  {:>9} bytes", s.rodata);
    println!("  data    {:>9} bytes", s.data);
    println!("  bss     {:>9} bytes (includes the MMU tables)", s.bss);
    println!("  stacks  {:>9} bytes (4 cores, guards included)", s.stacks);

    // With -icount shift=0 QEMU's virtual clock advances 1 ns per guest
    // instruction, so the counter value at the first prompt is a
    // deterministic instruction count.
    let mut q = Qemu::new(&elf, BootEl::El3);
    q.icount_shift = Some(0);
    let mut sess = Session::start(&q)?;
    sess.expect(PROMPT, Duration::from_secs(60))?;
    let info = sess.command("info", Duration::from_secs(30))?;
    sess.send(b"exit\n")?;
    sess.wait(Duration::from_secs(30))?;
    let ticks = field(&info, "first prompt at counter tick ").context("`info` lacks the boot tick")?;
    let freq_mhz = field_f64(&info, "CNTFRQ ").context("`info` lacks CNTFRQ")?;
    let insns = ticks as f64 * 1e3 / freq_mhz;
    println!("boot to prompt (entered at EL3): {:.0} guest instructions (QEMU -icount shift=0; {} ticks of {:.3} MHz)", insns, ticks, freq_mhz);

    let dir = xtask::work_dir().join("bench-build");
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    firmware::build(&BuildOptions { release: true, log_level: None, target_dir: Some(dir.clone()) })?;
    println!("clean release build of the firmware (core/alloc included): {:.1} s", t.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn field(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn field_f64(text: &str, key: &str) -> Option<f64> {
    let rest = &text[text.find(key)? + key.len()..];
    rest.split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?.parse().ok()
}
