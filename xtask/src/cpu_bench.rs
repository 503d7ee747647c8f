//! `cargo xtask bench --only cpu`: the firmware's NEON integer engine on the
//! A53s under QEMU, with every figure's derivation printed beside it.
//!
//! - Guest instructions per MAC on one core: QEMU with `-icount shift=0`
//!   advances its virtual clock 1 ns per guest instruction, and the other
//!   cores sleep in `wfi` (they execute nothing), so a layer's guest time
//!   in ns is the instructions core 0 executed for it. MACs are the
//!   multiply-accumulates the engine executes: every tap that meets the
//!   input (edge taps excluded), times the input lanes (channels padded to
//!   8), times the real output channels (normalisers: the whole tiles).
//! - The speed-up from 1 to 4 cores: the same image under multi-threaded
//!   TCG (one host thread per core), guest time = host time.
//! - The board estimate: MACs at 2048x1365 x instructions/MAC measured here
//!   / a stated IPC / 1.2 GHz / 4 cores.
//! - The end-to-end wall time of a 256x256 crop on 4 cores.
use crate::e2e::{self, Engine, IMAGE_FILE, MODEL_FILE};
use crate::firmware::{self, BuildOptions};
use crate::qemu::{BootEl, Qemu, Session, PROMPT};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;
use xlic_model::geometry::{layer_output, tap_source, Dims};
use xlic_model::{Geometry, Layer, PadMode};

const HW: xlic_model::HwLimits = accel_regs::HW_LIMITS;
/// The crop the figures are measured on (and the end-to-end target's size).
pub const SIDE: usize = 256;
/// The A53's clock on the ZCU102 (XCZU9EG -2: APU up to 1.2 GHz as set by
/// the board's PS configuration).
const BOARD_HZ: f64 = 1.2e9;
/// Assumed instructions per cycle of the MAC loop on a Cortex-A53: it is
/// almost all 128-bit NEON (smull, smlal2, sadalp), which the A53 executes
/// in two passes of its 64-bit datapath and does not dual-issue with each
/// other. Not measured (no board here); the estimate stands on it.
const ASSUMED_IPC: f64 = 0.5;
const TARGET_INSNS_PER_MAC: f64 = 0.6;
const TARGET_E2E_SECONDS: f64 = 60.0;

/// Multiply-accumulates the engine executes for layer `l` on input `d`.
pub fn executed_macs(l: Layer, d: Dims) -> u64 {
    let spec = l.spec();
    let out = layer_output(spec.op, d);
    let lanes = spec.cin.div_ceil(HW.lanes) * HW.lanes;
    if spec.op.is_normaliser() {
        let cout = spec.cout.div_ceil(HW.pof) * HW.pof;
        return (out.h * out.w * lanes * cout) as u64;
    }
    let k = spec.op.kernel();
    let taps = |o: usize, n: usize| (0..k).filter(|&t| tap_source(spec.op, o, t, n).is_some()).count() as u64;
    let rows: u64 = (0..out.h).map(|o| taps(o, d.h)).sum();
    let cols: u64 = (0..out.w).map(|o| taps(o, d.w)).sum();
    rows * cols * (lanes * spec.cout) as u64
}

/// A `SIDE`x`SIDE` crop of the demo image, as PNG.
fn crop_png(data: &Path) -> Result<Vec<u8>> {
    let src = xlic_ref::data::images_dir(data).join("astronaut.png");
    let img = crate::codec::load_image(&src)?;
    Ok(img.crop(SIDE, SIDE).encode_png())
}

fn boot(elf: &Path, card: &Path, icount: bool) -> Result<Session> {
    let mut q = Qemu::new(elf, BootEl::El3);
    q.card = Some(card.to_path_buf());
    if icount {
        q.icount_shift = Some(0);
    }
    let mut s = Session::start(&q)?;
    s.expect(PROMPT, Duration::from_secs(120))?;
    Ok(s)
}

fn ok(s: &mut Session, cmd: &str) -> Result<String> {
    let out = s.command(cmd, Duration::from_secs(3600))?;
    if out.contains("error:") {
        bail!("`{cmd}` failed on the firmware's console:\n{out}");
    }
    Ok(out)
}

/// Per-layer guest milliseconds of `run --cpu=N` (or of ten `step`s).
fn layer_ms(text: &str) -> Result<Vec<f64>> {
    let lines = e2e::layer_lines(text);
    if lines.len() != Layer::ALL.len() {
        bail!("expected 10 layer lines, found {}:\n{text}", lines.len());
    }
    Ok(lines.iter().map(|l| l.ms).collect())
}

pub fn run(data: &Path) -> Result<()> {
    crate::setup::ensure()?;
    let elf = firmware::build(&BuildOptions { release: true, ..Default::default() })?;
    let package = crate::codec::build_package(data, &xlic_ref::data::images_dir(data), PadMode::Edge)?;
    let png = crop_png(data)?;
    let work = e2e::scratch("bench-cpu");
    let card = work.join("card.img");
    e2e::make_card(&card, &[(MODEL_FILE.into(), package.clone()), (IMAGE_FILE.into(), png.clone())])?;
    let g = Geometry::new(SIDE, SIDE, PadMode::Edge, HW.max_side)?;
    let macs: Vec<u64> = Layer::ALL.iter().map(|&l| executed_macs(l, g.input(l))).collect();

    // 1. Instructions per MAC, one core, deterministic.
    let mut s = boot(&elf, &card, true)?;
    ok(&mut s, &format!("load model {MODEL_FILE}"))?;
    ok(&mut s, &format!("load image {IMAGE_FILE}"))?;
    let mut steps = String::new();
    for _ in Layer::ALL {
        steps += &ok(&mut s, "step --cpu=1")?;
    }
    s.send(b"exit\n")?;
    s.wait(Duration::from_secs(60))?;
    let one_core_ms = layer_ms(&steps)?;
    let per_mac: Vec<f64> = one_core_ms.iter().zip(&macs).map(|(ms, &m)| ms * 1e6 / m as f64).collect();
    println!("\nNEON integer engine, {SIDE}x{SIDE} crop of astronaut.png (edge padding), release firmware under QEMU:");
    println!("guest instructions per MAC on one core (QEMU -icount shift=0: 1 ns of guest time = 1 instruction; the other");
    println!("cores sleep in wfi; MACs = taps that meet the input x input lanes x output channels, as executed):");
    println!("  {:<7} {:>14} {:>16} {:>10}", "layer", "MACs", "instructions", "per MAC");
    for (i, l) in Layer::ALL.iter().enumerate() {
        println!("  {:<7} {:>14} {:>16.0} {:>10.3}", l.name(), macs[i], one_core_ms[i] * 1e6, per_mac[i]);
    }
    let total_macs: u64 = macs.iter().sum();
    let total_insns: f64 = one_core_ms.iter().sum::<f64>() * 1e6;
    println!("  {:<7} {:>14} {:>16.0} {:>10.3}", "all", total_macs, total_insns, total_insns / total_macs as f64);
    let conv = [Layer::Ana1, Layer::Ana2];
    let worst_conv = conv.iter().map(|l| per_mac[l.index()]).fold(0.0, f64::max);
    println!(
        "  target: at most {TARGET_INSNS_PER_MAC} per MAC over a whole conv layer: ana_1 {:.3}, ana_2 {:.3} ({}); loads, tap bookkeeping,",
        per_mac[Layer::Ana1.index()],
        per_mac[Layer::Ana2.index()],
        if worst_conv <= TARGET_INSNS_PER_MAC { "met" } else { "NOT met" }
    );
    println!("  requantization and the row scheduling included. (ana_0 pads 3 channels to 8 lanes; its per-MAC figure counts the");
    println!("  padding lanes it multiplies. The floor of the MAC instructions is 3 per 8 MACs: smull, smlal2, sadalp.)");

    // 2. Speed-up from 1 to 4 cores (multi-threaded TCG, host time).
    let mut s = boot(&elf, &card, false)?;
    ok(&mut s, &format!("load model {MODEL_FILE}"))?;
    ok(&mut s, &format!("load image {IMAGE_FILE}"))?;
    let one = layer_ms(&ok(&mut s, "run --cpu=1")?)?;
    let four = layer_ms(&ok(&mut s, "run --cpu=4")?)?;
    s.send(b"exit\n")?;
    s.wait(Duration::from_secs(60))?;
    let host_cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("\nspeed-up from 1 to 4 cores under QEMU (multi-threaded TCG: a host thread per A53; guest time follows host time):");
    println!("  {:<7} {:>12} {:>12} {:>9}", "layer", "1 core ms", "4 cores ms", "speed-up");
    for (i, l) in Layer::ALL.iter().enumerate() {
        println!("  {:<7} {:>12.1} {:>12.1} {:>9.2}", l.name(), one[i], four[i], one[i] / four[i]);
    }
    let (t1, t4): (f64, f64) = (one.iter().sum(), four.iter().sum());
    println!("  {:<7} {:>12.1} {:>12.1} {:>9.2}", "all", t1, t4, t1 / t4);
    println!(
        "  limit: this machine has {host_cores} host cores, shared with other QEMU runs and builds, so four guest cores can run at most\n  {} at a time: the speed-up is bounded by about {}x here whatever the engine does; on the board each core is its own.",
        host_cores.min(4),
        host_cores.min(4)
    );

    // 3. The board, estimated.
    let big = Geometry::new(2048, 1365, PadMode::Edge, HW.max_side)?;
    let mut insns = 0.0;
    let mut big_macs = 0u64;
    for (i, &l) in Layer::ALL.iter().enumerate() {
        let m = executed_macs(l, big.input(l));
        big_macs += m;
        insns += m as f64 * per_mac[i];
    }
    let seconds = insns / ASSUMED_IPC / BOARD_HZ / 4.0;
    println!("\nboard estimate, 2048x1365 (edge padding) on the four A53s at {:.1} GHz:", BOARD_HZ / 1e9);
    println!(
        "  {big_macs} MACs x the per-layer instructions/MAC above = {:.2e} instructions; / IPC {ASSUMED_IPC} (assumed, not measured:",
        insns
    );
    println!("  the loop is 128-bit NEON, which the A53 issues in two 64-bit passes) / {:.1e} Hz / 4 cores (assumes", BOARD_HZ);
    println!("  perfect scaling: rows are independent and the weights of a tile fit the 1 MiB L2) = {seconds:.1} s for the ten layers.");
    let fpga: f64 = Layer::ALL
        .iter()
        .map(|&l| xlic_model::perf::layer(l.spec(), big.input(l), &HW, &accel_regs::PERF).seconds(&accel_regs::PERF))
        .sum();
    println!("  (the accelerator's performance model: {:.3} s for the same layers)", fpga);

    // 4. End to end, 4 cores.
    let run = e2e::codec_in_qemu_on(&elf, &e2e::scratch("bench-cpu-e2e"), &package, &png, PadMode::Edge, false, Engine::Cpu(4))?;
    let wall = run.wall.as_secs_f64();
    let layers: f64 = run.layers.iter().map(|l| l.ms).sum::<f64>() / 1e3;
    println!("\nend to end, {SIDE}x{SIDE} crop on 4 cores under QEMU (boot, card, PNG decode, 10 layers, PNG encode, card writes, exit):");
    println!(
        "  wall {wall:.1} s (target {TARGET_E2E_SECONDS} s: {}), of which the ten layers {layers:.1} s",
        if wall <= TARGET_E2E_SECONDS { "met" } else { "NOT met" }
    );
    let recon = xlic_ref::Rgb8::decode_png(&run.recon_png, Path::new("RECON.PNG")).context("RECON.PNG")?.0;
    if (recon.width, recon.height) != (SIDE, SIDE) {
        bail!("RECON.PNG is {}x{}", recon.width, recon.height);
    }
    Ok(())
}
