//! `cargo xtask dse`: the design-space explorer. It enumerates every
//! factor of hls/xlic_config.h that the kernel lets vary, evaluates each
//! configuration with the cycle model (xlic_model::perf, each layer tiled
//! as the firmware tiles it: perf::plan) and the resource model
//! (xlic_model::resources), drops those over the board's budgets, and
//! prints the Pareto front of latency, DSP48E2 and BRAM18 (and UltraRAM
//! on devices that have it), with a picture; `--write` puts the chosen
//! configuration into hls/xlic_config.h.
//!
//! The sweep is fast because the cycle model of a layer depends on few of
//! the factors: the array shape (pof, pox), the ports' sustained rate
//! (outstanding x burst) and the tile. For each of those it is computed
//! once per candidate tile (exactly `perf::layer_tiled`), and a
//! configuration's buffers (accumulator vectors and slots, input depth)
//! only decide which candidates it can hold: its latency is the sum over
//! layers of the fastest candidate that fits, which is what `perf::plan`
//! computes (a test checks the two agree).
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use xlic_model::device::Board;
use xlic_model::geometry::Dims;
use xlic_model::layout::{HwLimits, TileChoice, TileNeeds, Tiling};
use xlic_model::perf::{self, PerfConfig};
use xlic_model::resources::{self, Resources};
use xlic_model::{Geometry, Layer, PadMode};

/// The values each factor of xlic_config.h takes in the sweep. Factors
/// not listed are fixed, and why: XLIC_LANES (8: a 128-bit HP port word,
/// the DDR layout of every map and package), XLIC_MAX_* (what bls2017
/// and the 4096-pixel side need), XLIC_ACC_DISTANCE (8: the accumulator
/// pipeline's read-add-write latency, a property of the circuit, not a
/// choice), the idle direction's m_axi settings (the smallest), the
/// accumulator width (48 bits, proven by the number format) and the five
/// m_axi ports (the kernel's structure: two input, one weight, two output
/// ports; not a parameter of it).
pub const POF: [usize; 2] = [8, 16];
pub const POX: [usize; 5] = [2, 4, 8, 16, 32];
/// Output lanes the output engine finishes per cycle (those up to pof).
pub const OUT_LANES: [usize; 4] = [2, 4, 8, 16];
pub const TILE_ROWS: [usize; 5] = [4, 8, 16, 32, 64];
pub const TILE_COLS: [usize; 6] = [16, 32, 64, 128, 256, 512];
pub const IN_DEPTH: [usize; 6] = [128, 256, 512, 1024, 2048, 4096];
pub const AXI_OUTSTANDING: [usize; 5] = [1, 2, 4, 8, 16];
pub const AXI_BURST: [usize; 5] = [16, 32, 64, 128, 256];

/// The upstream X-LIC demo (sjtu-tcloud, README "Executation"): 0.467 s
/// analysis + 0.331 s synthesis for the 2048x1365 CLIC image on a ZCU102,
/// measured; a 16 (Pif) x 4 (Pof) x 16 (Pox) array. Its synthesis report
/// is not published, so it has no DSP or BRAM figure here.
pub const UPSTREAM_SECONDS: f64 = 0.798;

/// What the sweep may use of the device.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub dsp: f64,
    pub bram: f64,
    pub uram: f64,
    pub lut: f64,
}

impl Default for Budget {
    /// DSP 90 % (issue 11's 2300 of 2520), BRAM 80 %, UltraRAM 80 % and
    /// LUT 70 % (Xilinx's timing-closure guidance, as Xilinx/finn's
    /// platform limits use it).
    fn default() -> Self {
        Budget { dsp: 0.90, bram: 0.80, uram: 0.80, lut: 0.70 }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub board: Board,
    pub clock_hz: f64,
    pub image: Dims,
    pub budget: Budget,
}

/// One evaluated configuration.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub hw: HwLimits,
    /// Modelled cycles of the ten layers, each tiled by perf::plan.
    pub cycles: u64,
    /// The same with the fixed rule's tiles (Tiling::of), if it fits.
    pub rule_cycles: Option<u64>,
    pub dsp: usize,
    pub bram18: usize,
    pub uram: usize,
    pub lut: usize,
}

impl Point {
    fn objectives(&self) -> [u64; 4] {
        [self.cycles, self.dsp as u64, self.bram18 as u64, self.uram as u64]
    }
    pub fn seconds(&self, cfg: &PerfConfig) -> f64 {
        self.cycles as f64 / cfg.clock_hz
    }
}

/// Why configurations were dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dropped {
    pub invalid: u64,
    pub dsp: u64,
    pub bram: u64,
    pub uram: u64,
    pub lut: u64,
    pub no_tile: u64,
}

pub struct Sweep {
    pub evaluated: u64,
    pub dropped: Dropped,
    pub points: Vec<Point>,
    pub seconds: f64,
    pub cfg: PerfConfig,
}

/// The configurations the sweep enumerates, from the fixed factors of
/// `base` (hls/xlic_config.h) and the board's device.
pub fn configurations(base: &HwLimits, board: &Board) -> Vec<HwLimits> {
    let uram: &[(bool, bool)] = if board.device.uram > 0 { &[(false, false), (false, true), (true, false), (true, true)] } else { &[(false, false)] };
    let mut v = Vec::new();
    for &pof in &POF {
        for &pox in &POX {
            for &out_lanes in OUT_LANES.iter().filter(|&&o| o <= pof) {
                for &tile_rows in &TILE_ROWS {
                    for &tile_cols in &TILE_COLS {
                        for &in_depth in &IN_DEPTH {
                            for &axi_outstanding in &AXI_OUTSTANDING {
                                for &axi_burst in &AXI_BURST {
                                    for &(acc_uram, xkeep_uram) in uram {
                                        v.push(HwLimits {
                                            pof,
                                            pox,
                                            out_lanes,
                                            tile_rows,
                                            tile_cols,
                                            in_depth,
                                            axi_outstanding,
                                            axi_burst,
                                            acc_uram,
                                            xkeep_uram,
                                            ..*base
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

/// Every candidate tile of one layer for one array shape and port rate:
/// what it needs of the buffers and its modelled cycles, fastest first.
struct LayerTable {
    by_speed: Vec<(TileNeeds, u64)>,
    by_choice: HashMap<TileChoice, u64>,
}

/// The model of every candidate tile of every layer for one (pof, pox,
/// port rate), computed with buffers large enough for all of them (the
/// buffers' sizes change which tiles fit, not what a tile costs).
fn tables(spec_hw: &HwLimits, g: &Geometry, cfg: &PerfConfig) -> Vec<LayerTable> {
    let roomy = HwLimits { tile_rows: 1 << 12, tile_cols: 1 << 12, in_depth: 1 << 20, ..*spec_hw };
    Layer::ALL
        .iter()
        .map(|&l| {
            let (spec, out) = (l.spec(), g.output(l));
            let mut by_speed = Vec::new();
            let mut by_choice = HashMap::new();
            Tiling::choices(spec, out, spec_hw, |c| {
                let needs = Tiling::needs(spec, out, spec_hw, c).expect("candidates follow the rules");
                if needs.slots > spec_hw.acc_slots() {
                    return; // bands x passes never fit this pof's slots
                }
                let t = Tiling::with(spec, out, &roomy, c).expect("a candidate tile fits roomy buffers");
                let cycles = perf::layer_tiled(spec, g.input(l), spec_hw, cfg, &t).cycles;
                by_speed.push((needs, cycles));
                by_choice.insert(c, cycles);
            });
            by_speed.sort_by_key(|e| e.1);
            LayerTable { by_speed, by_choice }
        })
        .collect()
}

/// The key of a tables() result: what the cycles of a tile depend on
/// (the array shape, the output engine's lanes, the ports' rate).
fn table_key(hw: &HwLimits, cfg: &PerfConfig) -> (usize, usize, usize, u64) {
    (hw.pof, hw.pox, hw.out_lanes, cfg.for_ports(hw).port_words_per_cycle.to_bits())
}

/// Evaluate every configuration for the board.
pub fn sweep(opts: &Options, base: &HwLimits) -> Result<Sweep> {
    let started = Instant::now();
    let cfg = PerfConfig::board(&opts.board, opts.clock_hz);
    let g = Geometry::new(opts.image.w, opts.image.h, PadMode::Edge, base.max_side)?;
    let configs = configurations(base, &opts.board);
    // The tables, one per (pof, pox, output lanes, port rate), built on
    // two threads.
    let mut keys: Vec<(HwLimits, (usize, usize, usize, u64))> = Vec::new();
    for hw in &configs {
        let k = table_key(hw, &cfg);
        if hw.check().is_ok() && !keys.iter().any(|(_, kk)| *kk == k) {
            keys.push((*hw, k));
        }
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
    let built: Vec<((usize, usize, usize, u64), Vec<LayerTable>)> = std::thread::scope(|s| {
        let chunks: Vec<_> = keys.chunks(keys.len().div_ceil(threads).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (g, cfg) = (&g, &cfg);
                s.spawn(move || chunk.iter().map(|(hw, k)| (*k, tables(hw, g, cfg))).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("table thread")).collect()
    });
    let tables: HashMap<_, _> = built.into_iter().collect();
    let dev = opts.board.device;
    let b = opts.budget;
    let mut dropped = Dropped::default();
    let mut points = Vec::new();
    for hw in &configs {
        if hw.check().is_err() {
            dropped.invalid += 1;
            continue;
        }
        let r = resources::estimate(hw);
        if let Some(why) = over_budget(&r, &dev, &b) {
            match why {
                Over::Dsp => dropped.dsp += 1,
                Over::Bram => dropped.bram += 1,
                Over::Uram => dropped.uram += 1,
                Over::Lut => dropped.lut += 1,
            }
            continue;
        }
        let t = &tables[&table_key(hw, &cfg)];
        let mut cycles = 0u64;
        let mut rule = Some(0u64);
        let mut fits = true;
        for (i, &l) in Layer::ALL.iter().enumerate() {
            match t[i].by_speed.iter().find(|(n, _)| n.fits(hw)) {
                Some((_, c)) => cycles += c,
                None => {
                    fits = false;
                    break;
                }
            }
            rule = match (rule, Tiling::rule(l.spec(), g.output(l), hw)) {
                (Some(sum), Ok(c)) if Tiling::needs(l.spec(), g.output(l), hw, c).is_ok_and(|n| n.fits(hw)) => {
                    let cost = match t[i].by_choice.get(&c) {
                        Some(&v) => v,
                        None => perf::layer_tiled(l.spec(), g.input(l), hw, &cfg, &Tiling::with(l.spec(), g.output(l), hw, c)?).cycles,
                    };
                    Some(sum + cost)
                }
                _ => None,
            };
        }
        if !fits {
            dropped.no_tile += 1;
            continue;
        }
        points.push(Point { hw: *hw, cycles, rule_cycles: rule, dsp: r.dsp(), bram18: r.bram18(), uram: r.uram(), lut: r.lut() });
    }
    Ok(Sweep { evaluated: configs.len() as u64, dropped, points, seconds: started.elapsed().as_secs_f64(), cfg })
}

enum Over {
    Dsp,
    Bram,
    Uram,
    Lut,
}

fn over_budget(r: &Resources, dev: &xlic_model::device::Device, b: &Budget) -> Option<Over> {
    if r.dsp() as f64 > b.dsp * dev.dsp as f64 {
        Some(Over::Dsp)
    } else if r.bram18() as f64 > b.bram * dev.bram18 as f64 {
        Some(Over::Bram)
    } else if r.uram() as f64 > b.uram * dev.uram as f64 {
        Some(Over::Uram)
    } else if r.lut() as f64 > b.lut * dev.lut as f64 {
        Some(Over::Lut)
    } else {
        None
    }
}

/// When nothing fits: the configuration that misses the budget by the
/// least (its worst resource over its budget, as a fraction), and by how
/// much it misses each budget it exceeds.
pub fn closest_miss(base: &HwLimits, board: &Board, b: &Budget) -> String {
    let dev = board.device;
    let budgets = [("DSP48E2", b.dsp * dev.dsp as f64), ("BRAM18", b.bram * dev.bram18 as f64), ("URAM", b.uram * dev.uram as f64), ("LUT", b.lut * dev.lut as f64)];
    let usage = |r: &Resources| [r.dsp() as f64, r.bram18() as f64, r.uram() as f64, r.lut() as f64];
    let worst = |u: &[f64; 4]| u.iter().zip(&budgets).map(|(&x, &(_, cap))| if x == 0.0 { 0.0 } else if cap <= 0.0 { f64::INFINITY } else { x / cap }).fold(0.0, f64::max);
    let best = configurations(base, board)
        .into_iter()
        .filter(|hw| hw.check().is_ok())
        .map(|hw| {
            let u = usage(&resources::estimate(&hw));
            (worst(&u), hw, u)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, hw, u)) = best else {
        return "no valid configuration".into();
    };
    let over: Vec<String> = u
        .iter()
        .zip(&budgets)
        .filter(|(&x, &(_, cap))| x > cap)
        .map(|(&x, &(name, cap))| format!("{name} {x:.0} > budget {cap:.0} (+{:.0}, +{:.0} %)", x - cap, 100.0 * (x - cap) / cap.max(1.0)))
        .collect();
    format!("the configuration closest to it, {}, needs {}", describe(&hw).split_whitespace().collect::<Vec<_>>().join(" "), over.join(", "))
}

/// The Pareto front: no other point is at least as good in every
/// objective (cycles, DSP, BRAM18, UltraRAM) and better in one; among
/// equal points (the same hardware reached through tile rows and columns
/// of the same product, or m_axi FIFOs of the same cost and speed) the
/// one of `prefer` (the current configuration) if any, else the first.
/// Sorted by latency.
pub fn front(points: &[Point], prefer: &HwLimits) -> Vec<Point> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by_key(|p| (p.objectives(), p.hw != *prefer));
    let mut front: Vec<Point> = Vec::new();
    for p in sorted {
        let o = p.objectives();
        let dominated = front.iter().any(|q| {
            let r = q.objectives();
            r.iter().zip(&o).all(|(a, b)| a <= b)
        });
        if !dominated {
            front.push(*p);
        }
    }
    front
}

/// The configuration `--write` picks: the fastest point of the front, or
/// a cheaper one (fewer DSP48E2, then BRAM18) within 2 % of its latency.
pub fn choose(front: &[Point]) -> Option<Point> {
    let best = front.iter().map(|p| p.cycles).min()?;
    front.iter().filter(|p| p.cycles as f64 <= best as f64 * 1.02).min_by_key(|p| (p.dsp, p.bram18 + 16 * p.uram, p.cycles)).copied()
}

/// The factors of a configuration, for the table.
fn describe(hw: &HwLimits) -> String {
    let uram = match (hw.acc_uram, hw.xkeep_uram) {
        (false, false) => "",
        (true, false) => " acc:URAM",
        (false, true) => " keep:URAM",
        (true, true) => " acc+keep:URAM",
    };
    format!(
        "{}x{}x{} out{:<2} {:>2}x{:<3} in{:<4} axi {:>2}x{:<3}{uram}",
        hw.lanes, hw.pof, hw.pox, hw.out_lanes, hw.tile_rows, hw.tile_cols, hw.in_depth, hw.axi_outstanding, hw.axi_burst
    )
}

/// Evaluate one configuration the slow way (perf::plan per layer), for
/// the current configuration's row and for checking the sweep.
pub fn evaluate(hw: &HwLimits, g: &Geometry, cfg: &PerfConfig) -> Result<Point> {
    let r = resources::estimate(hw);
    let mut cycles = 0;
    let mut rule = Some(0u64);
    for l in Layer::ALL {
        cycles += perf::plan(l.spec(), g.input(l), hw, cfg)?.perf.cycles;
        rule = match (rule, Tiling::of(l.spec(), g.output(l), hw)) {
            (Some(s), Ok(t)) => Some(s + perf::layer_tiled(l.spec(), g.input(l), hw, cfg, &t).cycles),
            _ => None,
        };
    }
    Ok(Point { hw: *hw, cycles, rule_cycles: rule, dsp: r.dsp(), bram18: r.bram18(), uram: r.uram(), lut: r.lut() })
}

/// `cargo xtask dse`.
pub fn run(opts: &Options, write: bool) -> Result<i32> {
    let base = accel_regs::HW_LIMITS;
    let board = opts.board;
    let dev = board.device;
    let s = sweep(opts, &base)?;
    let cfg = s.cfg;
    let f = front(&s.points, &base);
    let chosen = choose(&f);
    let g = Geometry::new(opts.image.w, opts.image.h, PadMode::Edge, base.max_side)?;
    let current = evaluate(&base, &g, &cfg);
    let mhz = opts.clock_hz / 1e6;
    println!(
        "dse: {} ({}, {} DSP48E2, {} BRAM18, {} URAM, {} LUT; PS DDR {}, {:.1} GB/s) at {mhz:.0} MHz, image {}x{}",
        board.name,
        dev.part,
        dev.dsp,
        dev.bram18,
        dev.uram,
        dev.lut,
        board.ddr,
        board.ddr_bytes_per_s() / 1e9,
        opts.image.w,
        opts.image.h
    );
    println!(
        "  budget: DSP {:.0} %, BRAM18 {:.0} %, URAM {:.0} %, LUT {:.0} %; DDR bandwidth is inside the cycle model (every step lasts at least its words over the shared DDR)",
        opts.budget.dsp * 100.0,
        opts.budget.bram * 100.0,
        opts.budget.uram * 100.0,
        opts.budget.lut * 100.0
    );
    println!("  resources are the estimates of xlic_model::resources and latency the cycle model of xlic_model::perf: no synthesis, nothing measured (hls/README.md, \"What to expect\")");
    let d = s.dropped;
    println!(
        "  {} configurations in {:.2} s ({:.0} per second): {} fit; dropped {} over DSP, {} over BRAM18, {} over URAM, {} over LUT, {} with a layer no tile fits, {} invalid",
        s.evaluated,
        s.seconds,
        s.evaluated as f64 / s.seconds,
        s.points.len(),
        d.dsp,
        d.bram,
        d.uram,
        d.lut,
        d.no_tile,
        d.invalid
    );
    let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let ms = |c: u64| c as f64 / cfg.clock_hz * 1e3;
    println!("\nPareto front (latency vs DSP48E2 vs BRAM18{}): * chosen, = current (hls/xlic_config.h)", if dev.uram > 0 { " vs URAM" } else { "" });
    println!(
        "  {:>2} {:>9} {:>9} {:>12} {:>12} {:>5} {:>12}  {}",
        "", "ms", "rule ms", "DSP", "BRAM18", "URAM", "LUT", "lanes x pof x pox, output lanes, tile rows x cols, input depth, m_axi outstanding x burst"
    );
    let row = |mark: &str, p: &Point| {
        println!(
            "  {:>2} {:>9.1} {:>9} {:>5} ({:>3.0}%) {:>5} ({:>3.0}%) {:>5} {:>6} ({:>2.0}%)  {}",
            mark,
            ms(p.cycles),
            p.rule_cycles.map_or("-".to_string(), |c| format!("{:.1}", ms(c))),
            p.dsp,
            pct(p.dsp, dev.dsp),
            p.bram18,
            pct(p.bram18, dev.bram18),
            p.uram,
            p.lut,
            pct(p.lut, dev.lut),
            describe(&p.hw)
        );
    };
    let is_current = |p: &Point| p.hw == base;
    for p in &f {
        let mark = match (chosen.is_some_and(|c| c.hw == p.hw), is_current(p)) {
            (true, true) => "*=",
            (true, false) => "*",
            (false, true) => "=",
            _ => "",
        };
        row(mark, p);
    }
    match &current {
        Ok(c) if !f.iter().any(is_current) => {
            let fits = over_budget(&resources::estimate(&base), &dev, &opts.budget).is_none();
            print!("  current configuration, {}:\n", if fits { "within budget, not on the front" } else { "over this board's budget" });
            row("=", c);
        }
        Ok(_) => {}
        Err(e) => println!("  current configuration: does not run this image on this board ({e})"),
    }
    println!(
        "  upstream X-LIC demo, measured on a ZCU102 (2048x1365, 16x4x16 array at 200 MHz; no synthesis report published): {:.0} ms",
        UPSTREAM_SECONDS * 1e3
    );
    println!("  (ms: each layer tiled by perf::plan, as the firmware does; rule ms: the fixed rule's tiles, Tiling::of)");
    let Some(chosen) = chosen else {
        bail!("no configuration fits {} within the budget: {}", board.name, closest_miss(&base, &board, &opts.budget));
    };
    println!("\nchosen: {:.1} ms, {}; tiles per layer:", ms(chosen.cycles), describe(&chosen.hw));
    for l in Layer::ALL {
        let p = perf::plan(l.spec(), g.input(l), &chosen.hw, &cfg)?;
        let c = p.tiling.choice();
        println!(
            "  {:<7} {:>2} band(s) of {:>2} rows x {:>4} columns, {} of {} passes per unit: {:>7.2} ms, bound by {}",
            l.name(),
            c.bands,
            c.band_rows,
            c.tile_cols,
            c.passes,
            p.tiling.out_tiles,
            p.perf.seconds(&cfg) * 1e3,
            p.perf.bound().name()
        );
    }
    let svg = plot(opts, &f, &chosen, current.as_ref().ok(), &cfg)?;
    println!("\npicture: {}", svg.display());
    if write {
        let path = crate::repo_root().join("hls/xlic_config.h");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let new = config_header(&text, &chosen.hw, &board, opts.clock_hz)?;
        xlic_ref::image::write_atomic(&path, new.as_bytes())?;
        println!("wrote {} ({}, {mhz:.0} MHz); `cargo xtask csim` and `cargo xtask test` build with it", path.display(), board.name);
    }
    Ok(0)
}

/// hls/xlic_config.h with the factors of `hw`, the board and the clock;
/// every comment and every other define kept.
pub fn config_header(text: &str, hw: &HwLimits, board: &Board, clock_hz: f64) -> Result<String> {
    let period = (1e12 / clock_hz).round() as u64;
    let numbers: [(&str, u64); 12] = [
        ("XLIC_LANES", hw.lanes as u64),
        ("XLIC_POF", hw.pof as u64),
        ("XLIC_POX", hw.pox as u64),
        ("XLIC_OUT_LANES", hw.out_lanes as u64),
        ("XLIC_TILE_ROWS", hw.tile_rows as u64),
        ("XLIC_TILE_COLS", hw.tile_cols as u64),
        ("XLIC_IN_DEPTH", hw.in_depth as u64),
        ("XLIC_AXI_OUTSTANDING", hw.axi_outstanding as u64),
        ("XLIC_AXI_BURST", hw.axi_burst as u64),
        ("XLIC_ACC_URAM", hw.acc_uram as u64),
        ("XLIC_XKEEP_URAM", hw.xkeep_uram as u64),
        ("XLIC_CLOCK_PERIOD_PS", period),
    ];
    let strings = [("XLIC_BOARD", board.key), ("XLIC_PART", board.device.part)];
    let mut seen = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let new = if w.len() == 3 && w[0] == "#define" {
            if let Some((n, v)) = numbers.iter().find(|(n, _)| *n == w[1]) {
                seen.push(*n);
                Some(format!("#define {n} {v}"))
            } else if let Some((n, v)) = strings.iter().find(|(n, _)| *n == w[1]) {
                seen.push(*n);
                Some(format!("#define {n} \"{v}\""))
            } else {
                None
            }
        } else {
            None
        };
        out.push_str(new.as_deref().unwrap_or(line));
        out.push('\n');
    }
    for n in numbers.iter().map(|e| e.0).chain(strings.iter().map(|e| e.0)) {
        if !seen.contains(&n) {
            bail!("hls/xlic_config.h has no `#define {n} <value>` line to set");
        }
    }
    Ok(out)
}

/// The front as an SVG: modelled latency against DSP48E2, marker area
/// growing with BRAM18 (+ 16 per UltraRAM, its capacity in RAMB18s); the
/// chosen and the current configuration labelled; the upstream demo's
/// measured latency as a line.
fn plot(opts: &Options, front: &[Point], chosen: &Point, current: Option<&Point>, cfg: &PerfConfig) -> Result<PathBuf> {
    use plotters::prelude::*;
    let dir = crate::repo_root().join("target/dse");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("front-{}-{}x{}.svg", opts.board.key, opts.image.w, opts.image.h));
    let ms = |p: &Point| p.seconds(cfg) * 1e3;
    let dev = opts.board.device;
    let mut pts: Vec<&Point> = front.iter().collect();
    if let Some(c) = current {
        pts.push(c);
    }
    let x_max = pts.iter().map(|p| ms(p)).fold(UPSTREAM_SECONDS * 1e3, f64::max) * 1.08;
    let y_max = pts.iter().map(|p| p.dsp).max().unwrap_or(1).max(dev.dsp) as f64 * 1.05;
    let bram_max = pts.iter().map(|p| p.bram18 + 16 * p.uram).max().unwrap_or(1).max(1) as f64;
    {
        let root = SVGBackend::new(&path, (1000, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let caption = format!(
            "X-LIC design space, {} ({}), {}x{} at {:.0} MHz: Pareto front ({} points)",
            opts.board.name,
            dev.name,
            opts.image.w,
            opts.image.h,
            opts.clock_hz / 1e6,
            front.len()
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("modelled latency, ms (10 layers)")
            .y_desc("DSP48E2")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        macro_rules! e {
            ($r:expr) => {
                $r.map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
            };
        }
        // The device's DSPs and the budget.
        e!(chart.draw_series(LineSeries::new([(0.0, dev.dsp as f64), (x_max, dev.dsp as f64)], BLACK.mix(0.4))))?;
        let budget = opts.budget.dsp * dev.dsp as f64;
        e!(chart.draw_series(LineSeries::new([(0.0, budget), (x_max, budget)], RED.mix(0.3))))?;
        let up = UPSTREAM_SECONDS * 1e3;
        e!(chart.draw_series(LineSeries::new([(up, 0.0), (up, y_max)], BLUE.mix(0.5))))?;
        e!(chart.draw_series(std::iter::once(Text::new(
            format!("upstream demo: {up:.0} ms measured (ZCU102, 2048x1365)"),
            (up + x_max * 0.01, y_max * 0.6),
            ("sans-serif", 13).into_font().color(&BLUE),
        ))))?;
        e!(chart.draw_series(std::iter::once(Text::new(
            format!("{} DSP48E2 ({:.0} % budget below)", dev.dsp, opts.budget.dsp * 100.0),
            (x_max * 0.55, dev.dsp as f64 * 1.01),
            ("sans-serif", 12).into_font(),
        ))))?;
        let size = |p: &Point| 3.0 + 12.0 * ((p.bram18 + 16 * p.uram) as f64 / bram_max).sqrt();
        e!(chart.draw_series(front.iter().map(|p| Circle::new((ms(p), p.dsp as f64), size(p) as i32, GREEN.mix(0.5).filled()))))?;
        e!(chart.draw_series(LineSeries::new(front.iter().map(|p| (ms(p), p.dsp as f64)), GREEN.mix(0.3))))?;
        let label = |p: &Point, text: String, color: RGBColor| {
            let (x, y) = (ms(p), p.dsp as f64);
            (Circle::new((x, y), size(p) as i32 + 3, color.stroke_width(2)), Text::new(text, (x + x_max * 0.01, y + y_max * 0.02), ("sans-serif", 13).into_font().color(&color)))
        };
        let same = current.is_some_and(|c| c.hw == chosen.hw);
        let name = if same { "chosen = current" } else { "chosen" };
        let (c1, t1) = label(chosen, format!("{name}: {:.1} ms, {} DSP, {} BRAM18", ms(chosen), chosen.dsp, chosen.bram18), RED);
        e!(chart.draw_series(std::iter::once(c1)))?;
        e!(chart.draw_series(std::iter::once(t1)))?;
        if let Some(c) = current.filter(|c| c.hw != chosen.hw) {
            let over = if over_budget(&resources::estimate(&c.hw), &dev, &opts.budget).is_some() { " (over this board's budget)" } else { "" };
            let (c2, t2) = label(c, format!("current{over}: {:.1} ms, {} DSP, {} BRAM18", ms(c), c.dsp, c.bram18), BLACK);
            e!(chart.draw_series(std::iter::once(c2)))?;
            e!(chart.draw_series(std::iter::once(t2)))?;
        }
        e!(chart.draw_series(std::iter::once(Text::new(
            "marker area: BRAM18 (+16 per UltraRAM)".to_string(),
            (x_max * 0.55, y_max * 0.05),
            ("sans-serif", 12).into_font(),
        ))))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(path)
}

/// `--image WxH`.
pub fn parse_image(s: &str) -> std::result::Result<Dims, String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or("expected WxH, e.g. 2048x1365")?;
    let (w, h) = (w.parse::<usize>().map_err(|e| e.to_string())?, h.parse::<usize>().map_err(|e| e.to_string())?);
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return Err("sides from 1 to 4096".into());
    }
    Ok(Dims::new(h, w))
}

/// `cargo xtask bench --only dse`: the sweep's speed on every board.
pub fn bench() -> Result<()> {
    let base = accel_regs::HW_LIMITS;
    let (mut n, mut secs, mut every_sweep_met) = (0u64, 0.0, true);
    println!("\ndesign-space sweep, 2048x1365 (every configuration: cycle model of 10 layers, each tiled by perf::plan, + resources):");
    for board in Board::ALL {
        let opts = Options { board, clock_hz: board.clock_hz, image: Dims::new(1365, 2048), budget: Budget::default() };
        let s = sweep(&opts, &base)?;
        println!(
            "  {:<10} {:>7} configurations in {:>5.2} s: {:>8.0} configurations/s ({} within budget, front of {})",
            board.name,
            s.evaluated,
            s.seconds,
            s.evaluated as f64 / s.seconds,
            s.points.len(),
            front(&s.points, &base).len()
        );
        n += s.evaluated;
        secs += s.seconds;
        every_sweep_met &= s.evaluated >= 100_000 && s.seconds <= 10.0;
    }
    println!("  all boards: {n} configurations in {secs:.2} s: {:.0} configurations/s", n as f64 / secs);
    println!("  target, per board's sweep: >= 100000 configurations in <= 10 s: {}", if every_sweep_met { "met" } else { "NOT met" });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep's shortcut (each tile's cycles computed once per array
    /// shape and port rate, the fastest that fits taken per layer) gives
    /// exactly what perf::plan gives configuration by configuration.
    #[test]
    fn the_sweep_is_the_model() {
        let base = accel_regs::HW_LIMITS;
        let opts = Options { board: Board::ULTRA96V2, clock_hz: 200e6, image: Dims::new(200, 300), budget: Budget { dsp: 10.0, bram: 10.0, uram: 10.0, lut: 10.0 } };
        let s = sweep(&opts, &base).unwrap();
        let g = Geometry::new(300, 200, PadMode::Edge, base.max_side).unwrap();
        assert!(s.points.len() > 1000);
        for p in s.points.iter().step_by(s.points.len() / 40) {
            let slow = evaluate(&p.hw, &g, &s.cfg).unwrap();
            assert_eq!((p.cycles, p.rule_cycles, p.dsp, p.bram18, p.lut), (slow.cycles, slow.rule_cycles, slow.dsp, slow.bram18, slow.lut), "{:?}", p.hw);
        }
    }

    /// A budget nothing fits is explained: which configuration comes
    /// closest and which budget it exceeds by how much.
    #[test]
    fn a_budget_nothing_fits_is_explained() {
        let tight = Budget { dsp: 0.9, bram: 0.8, uram: 0.8, lut: 0.30 };
        let why = closest_miss(&accel_regs::HW_LIMITS, &Board::ULTRA96V2, &tight);
        assert!(why.contains("8x8x2") && why.contains("LUT") && why.contains("> budget 21168"), "{why}");
        assert!(!why.contains("DSP48E2"), "the DSPs fit: {why}");
    }

    #[test]
    fn the_front_is_not_dominated_and_the_header_round_trips() {
        let pt = |cycles, dsp, bram18| Point { hw: accel_regs::HW_LIMITS, cycles, rule_cycles: None, dsp, bram18, uram: 0, lut: 0 };
        let f = front(&[pt(10, 5, 5), pt(9, 6, 5), pt(11, 5, 5), pt(10, 5, 5), pt(8, 9, 9)], &accel_regs::HW_LIMITS);
        assert_eq!(f.iter().map(|p| p.cycles).collect::<Vec<_>>(), [8, 9, 10]);
        assert_eq!(choose(&f).unwrap().cycles, 8);
        let text = std::fs::read_to_string(crate::repo_root().join("hls/xlic_config.h")).unwrap();
        let hw = HwLimits { pof: 8, pox: 4, tile_rows: 16, acc_uram: true, ..accel_regs::HW_LIMITS };
        let new = config_header(&text, &hw, &Board::KV260, 200e6).unwrap();
        assert!(new.contains("#define XLIC_POF 8\n") && new.contains("#define XLIC_ACC_URAM 1\n"));
        assert!(new.contains("#define XLIC_PART \"xck26-sfvc784-2LV-c\"") && new.contains("#define XLIC_CLOCK_PERIOD_PS 5000\n"));
        assert_eq!(new.lines().count(), text.lines().count(), "only values change");
        assert_eq!(config_header(&text, &accel_regs::HW_LIMITS, &accel_regs::BOARD, accel_regs::PERF.clock_hz).unwrap(), text);
    }
}
