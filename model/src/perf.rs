//! Performance model of the accelerator (hls/xlic_layer.cpp), cycle by
//! cycle from its loop structure and schedule (layout::Tiling):
//!
//! ```text
//! prologue: the parameters, the first step's input and first call's weights
//! per step (one input group of a unit; GDN/IGDN: all groups), concurrently:
//!   load_input x 2 ports   the next step's input rows (even / odd), one
//!                          burst per row inside the map, halo zeros on chip
//!   compute_step           per MAC call (a pass; a fold: all passes):
//!                            MAC loop   taps x max(vectors, distance) + depth
//!                            while the next call's weights load (one burst)
//!   store_chunk            the previous unit's output rows oy = g (mod
//!                          steps per unit): an engine making pof / 8 words
//!                          per pixel in pof / out_lanes cycles, two write
//!                          ports bursting one run each
//! drain: the last unit's whole store
//! ```
//!
//! A step lasts as long as its slowest part (they run concurrently: one
//! m_axi bundle each), and never less than the words it moves over the DDR
//! bandwidth that all ports share.
//!
//! Assumptions, with their sources (none of them measured on a board here;
//! each is a field of [`PerfConfig`], so a measurement replaces it):
//!
//! - Clock: the board's (device::Board; the ZCU102's 250 MHz is
//!   hls/script.tcl's 4 ns with 12.5 % uncertainty). Nothing here shows
//!   that a 2048-DSP array closes at 250 MHz: that is for the first
//!   synthesis and place-and-route to tell (the seed design synthesized at
//!   3.2 ns but its block design clocked the IP at 200 MHz), so the bench
//!   prints the 200 MHz figure beside it.
//! - DDR: the board's PS DDR peak (device::Board: the ZCU102's DDR4-2133
//!   on a 64-bit bus, 17.1 GB/s, as its Vivado board preset configures
//!   it; device.rs cites the preset), shared by every port, at 75 %
//!   controller efficiency. That figure is the Zynq-7000's (UG585
//!   section 22.3.2, "designed to have a maximum efficiency of
//!   approximately 75 %"); no MPSoC figure was found, so it is an
//!   assumption for the MPSoC. 12.8 GB/s is 3.2 words per 250 MHz cycle.
//! - Ports (UG1085 "PL-PS Interface Specifics"; the block design of
//!   boot/README.md): the two input masters on S_AXI_HP0_FPD and
//!   S_AXI_HP3_FPD (DDR controller ports XPI 3 and 5, shared with the
//!   DisplayPort and the FPD DMA, both idle here), the weights on
//!   S_AXI_HPC0_FPD (through the CCI, shared with the APU), the two output
//!   masters on S_AXI_HP1_FPD and S_AXI_HP2_FPD, which share XPI 4. An XPI
//!   is 128 bits at the DDR controller's clock, a quarter of the transfer
//!   rate (533 MHz for DDR4-2133; 266.7 MHz for the Ultra96-V2's
//!   LPDDR4-1066, as its design's DDR_CTRL clock shows): the two writers
//!   together sustain at most that at the same 75 % (1.6 words per 250 MHz
//!   cycle on the ZCU102: more than their 1.5, so it binds only at
//!   faster PL clocks or slower DDR).
//! - A port: 128 bits per cycle at most; sustained 0.75 words per cycle
//!   (the same 75 %: refresh, page misses, and the AFI splitting every
//!   AXI4 burst into 16-beat AXI3 bursts, UG1085 "PL-PS Interface
//!   Specifics").
//! - Burst latency: 64 cycles (256 ns at 250 MHz) from a burst loop's
//!   start to its first word, paid once per burst loop (HLS issues the next
//!   loop's request only when that loop starts). Writes pay the same before
//!   the loop's last response. This is the `latency=` of the kernel's m_axi
//!   pragmas.
//! - Within a burst loop, a port keeps `outstanding` AXI bursts of `burst`
//!   words in flight (the m_axi pragmas' num_*_outstanding and
//!   max_*_burst_length, `HwLimits::axi_*`): by Little's law it sustains
//!   at most outstanding x burst words per round trip of latency + burst /
//!   rate cycles. 4 x 64 words (256 > 64 x 0.75 + 64) leave the 0.75 words
//!   per cycle above untouched; 1 x 64 would give 0.43.
//! - Pipeline fill/drain: 24 cycles per MAC call (BRAM reads, the
//!   alignment mux, an 8-deep DSP48E2 cascade, the accumulator add and
//!   write), 40 per row of the output engine (its 16-stage divider), 3 per
//!   small mover loop, 8 per function call (start/done handshakes).
use crate::device::Board;
use crate::geometry::{layer_output, Dims};
use crate::layer::LayerSpec;
use crate::layout::{HwLimits, TileKind, Tiling, TilingError};

/// The platform the model assumes (see the module's assumptions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerfConfig {
    pub clock_hz: f64,
    /// Peak DDR bandwidth, bytes per second.
    pub ddr_bytes_per_s: f64,
    /// Fraction of the peak the DDR controller sustains for all ports.
    pub ddr_efficiency: f64,
    /// Peak of one DDR controller port (XPI), bytes per second: what the
    /// two output masters share (see the module).
    pub xpi_bytes_per_s: f64,
    /// Words (128 bits) per cycle one m_axi port sustains inside a burst.
    pub port_words_per_cycle: f64,
    /// Cycles from a burst loop's start to its first word.
    pub burst_latency: u64,
    /// Fill/drain of one MAC call's pipelined loop.
    pub pipeline_depth: u64,
    /// Fill/drain of the output engine's loop (per output row and pair).
    pub store_depth: u64,
    /// Fill/drain of a small mover loop.
    pub loop_fill: u64,
    /// Start/done handshake of one function call.
    pub call_overhead: u64,
}

impl PerfConfig {
    /// The ZCU102 at the default 250 MHz, with the assumptions above.
    pub const ZCU102: PerfConfig = PerfConfig::zcu102(250e6);

    /// The ZCU102's platform at another clock.
    pub const fn zcu102(clock_hz: f64) -> PerfConfig {
        Self::board(&Board::ZCU102, clock_hz)
    }

    /// A board's platform (its PS DDR, device::Board) at `clock_hz`; the
    /// other assumptions above are the same for every board.
    pub const fn board(board: &Board, clock_hz: f64) -> PerfConfig {
        PerfConfig {
            clock_hz,
            ddr_bytes_per_s: board.ddr_bytes_per_s(),
            xpi_bytes_per_s: board.xpi_bytes_per_s(),
            ddr_efficiency: 0.75,
            port_words_per_cycle: 0.75,
            burst_latency: 64,
            pipeline_depth: 24,
            store_depth: 40,
            loop_fill: 3,
            call_overhead: 8,
        }
    }

    /// The platform as a kernel built with `hw` sees it: each port's rate
    /// capped by its outstanding bursts (Little's law, see the module).
    pub fn for_ports(&self, hw: &HwLimits) -> PerfConfig {
        let inflight = (hw.axi_outstanding * hw.axi_burst) as f64;
        let round_trip = self.burst_latency as f64 + hw.axi_burst as f64 / self.port_words_per_cycle;
        PerfConfig { port_words_per_cycle: self.port_words_per_cycle.min(inflight / round_trip), ..*self }
    }

    /// Words per cycle the two output masters sustain together (their
    /// shared XPI).
    pub fn xpi_words_per_cycle(&self) -> f64 {
        self.xpi_bytes_per_s * self.ddr_efficiency / self.clock_hz / 16.0
    }

    /// Words per cycle the DDR sustains for all ports together.
    pub fn ddr_words_per_cycle(&self) -> f64 {
        self.ddr_bytes_per_s * self.ddr_efficiency / self.clock_hz / 16.0
    }

    /// Cycles of one burst loop moving `words` words.
    fn burst(&self, words: u64) -> u64 {
        if words == 0 {
            return 0;
        }
        self.burst_latency + ceil(words as f64 / self.port_words_per_cycle)
    }
}

impl Default for PerfConfig {
    fn default() -> Self {
        Self::ZCU102
    }
}

/// f64::ceil is not in core (this crate is also built for the firmware).
fn ceil(x: f64) -> u64 {
    let t = x as u64;
    if (t as f64) < x {
        t + 1
    } else {
        t
    }
}

/// What bounds a step: the part that took longest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bound {
    /// The MAC array.
    Compute,
    /// A MAC call waited for its weights.
    Weights,
    /// The input ports.
    Input,
    /// The output engine or write ports.
    Store,
    /// The DDR bandwidth all ports share.
    Ddr,
}

impl Bound {
    pub const ALL: [Bound; 5] = [Bound::Compute, Bound::Weights, Bound::Input, Bound::Store, Bound::Ddr];
    pub fn name(self) -> &'static str {
        match self {
            Bound::Compute => "MACs",
            Bound::Weights => "weights",
            Bound::Input => "input",
            Bound::Store => "stores",
            Bound::Ddr => "DDR",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerPerf {
    pub cycles: u64,
    /// Cycles of the MAC loop's iterations (idle padding included).
    pub compute_cycles: u64,
    /// Cycles each part bounded its steps (the prologue and drain count as
    /// input and store).
    pub bound_cycles: [u64; 5],
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Multiply-accumulates the array executes (padding included).
    pub array_macs: u64,
    /// The kernel's loop trip counts this model is built from, which the
    /// C-simulation counts too (hls/xlic_layer.h, `xlic_counts`) and the
    /// testbench compares.
    pub counts: LoopCounts,
}

/// Trip counts of the kernel's loops for one layer: MAC loop iterations,
/// words read into the input and weight buffers (parameters included),
/// words written, and the burst loops (runs) of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopCounts {
    pub mac_iterations: u64,
    pub input_words: u64,
    pub weight_words: u64,
    pub output_words: u64,
    pub input_runs: u64,
    pub weight_runs: u64,
    pub output_runs: u64,
}

impl LayerPerf {
    pub fn seconds(&self, cfg: &PerfConfig) -> f64 {
        self.cycles as f64 / cfg.clock_hz
    }
    /// The part that bounded most cycles.
    pub fn bound(&self) -> Bound {
        let mut best = Bound::Compute;
        for b in Bound::ALL {
            if self.bound_cycles[b as usize] > self.bound_cycles[best as usize] {
                best = b;
            }
        }
        best
    }
    pub fn memory_bound(&self) -> bool {
        self.bound() != Bound::Compute
    }
}

/// Taps of a transposed convolution's phase-by-phase pass: every tap
/// serves exactly one phase of each side (k^2 in all), and a phase that
/// meets no tap (k < s) takes one pass that writes zeros.
fn tconv_tap_entries(k: usize, s: usize) -> u64 {
    let pad = k / 2;
    let taps = |p: usize| (0..k).filter(|&t| (p + t + s * k - pad) % s == 0).count();
    (0..s).flat_map(|py| (0..s).map(move |px| (py, px))).map(|(py, px)| (taps(py) * taps(px)).max(1) as u64).sum()
}

/// The input side of one tile (rows or columns): where its input starts
/// (relative to the map) and how many positions it spans.
fn input_span(spec: &LayerSpec, t: &Tiling, o0: usize, n: usize) -> (i64, usize) {
    let (k, s) = (spec.op.kernel() as i64, spec.op.stride() as i64);
    let p = k / 2;
    let o0 = o0 as i64;
    let origin = match (t.kind, t.fold) {
        (_, Some(f)) => o0 + f.first as i64,
        (TileKind::Conv, None) => o0 * s - p,
        (TileKind::Phases, None) => (o0 - p).div_euclid(s),
        (TileKind::Pointwise, _) => o0,
    };
    (origin, Tiling::input_extent(spec, t.fold, n))
}

/// Positions of `origin .. origin + n` inside `0 .. size`.
fn inside(origin: i64, n: usize, size: usize) -> u64 {
    let a = origin.max(0);
    let b = (origin + n as i64).min(size as i64);
    (b - a).max(0) as u64
}

/// One row tile or column tile: its grid size, and the input it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Side {
    /// Grid rows (columns) of the tile.
    n: usize,
    /// Input rows (columns) with the halo, and those inside the map; for
    /// rows, those inside the map on port 0 and port 1 (even, odd).
    span: usize,
    inside: u64,
    inside_par: [u64; 2],
    /// Output rows (columns) stored.
    stored: u64,
}

/// Most distinct row (column) tiles a layer has: those the map's edges
/// touch differ, the others are alike.
const MAX_SIDES: usize = 16;

/// The distinct row tiles (or column tiles) of a layer, each with how many
/// times it occurs (cheap: a design-space sweep evaluates this often).
fn sides(spec: &LayerSpec, t: &Tiling, rows: bool, in_size: usize, out_size: usize) -> ([(Side, u64); MAX_SIDES], usize) {
    let (count, full) = if rows { (t.row_tiles, t.tile_rows) } else { (t.col_tiles, t.tile_cols) };
    let scale = t.scale();
    let pointwise_rows = t.kind == TileKind::Pointwise && rows;
    let side_of = |i: usize| -> Side {
        let n = if rows { t.rows_of(i) } else { t.cols_of(i) };
        let o0 = i * full;
        let (origin, span) = input_span(spec, t, o0, n);
        let stored = (out_size as i64 - (o0 * scale) as i64).clamp(0, (n * scale) as i64) as u64;
        if pointwise_rows {
            // Row x group runs, all inside (the last row tile is trimmed).
            let runs = (n * t.in_groups) as u64;
            return Side { n, span: runs as usize, inside: runs, inside_par: [runs.div_ceil(2), runs / 2], stored };
        }
        let a = origin.max(0);
        let b = (origin + span as i64).min(in_size as i64);
        let mut par = [0u64; 2];
        if b > a {
            // Input rows j = y - origin for y in a..b, by the parity of j.
            let (j0, j1) = ((a - origin) as u64, (b - origin) as u64);
            par[0] = j1.div_ceil(2) - j0.div_ceil(2);
            par[1] = j1 / 2 - j0 / 2;
        }
        Side { n, span, inside: inside(origin, span, in_size), inside_par: par, stored }
    };
    let touches = |i: usize| {
        let (origin, span) = input_span(spec, t, i * full, full);
        i + 1 == count || origin < 0 || origin + span as i64 > in_size as i64
    };
    // Tiles [0, a) touch the start of the map, [b, count) its end; those in
    // between are alike.
    let mut a = 0;
    while a < count && touches(a) {
        a += 1;
    }
    let mut b = count;
    while b > a && touches(b - 1) {
        b -= 1;
    }
    let mut out = [(Side { n: 0, span: 0, inside: 0, inside_par: [0; 2], stored: 0 }, 0u64); MAX_SIDES];
    let mut used = 0;
    let mut add = |side: Side, mult: u64| match out[..used].iter_mut().find(|(s, _)| *s == side) {
        Some(e) => e.1 += mult,
        None => {
            assert!(used < MAX_SIDES, "{}: more distinct edge tiles than the model tracks", spec.name);
            out[used] = (side, mult);
            used += 1;
        }
    };
    for i in (0..a).chain(b..count) {
        add(side_of(i), 1);
    }
    if b > a {
        add(side_of(a), (b - a) as u64);
    }
    (out, used)
}

/// A layer's tiling and its modelled cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub tiling: Tiling,
    pub perf: LayerPerf,
}

/// The tiling the firmware gives layer `spec` on an input of `in_dims`:
/// of every tile that fits the buffers of `hw` (layout::Tiling::choices),
/// the one this model finds fastest; the fixed rule's (Tiling::of) unless
/// another is strictly faster. An error when no tile fits.
pub fn plan(spec: &LayerSpec, in_dims: Dims, hw: &HwLimits, cfg: &PerfConfig) -> Result<Plan, TilingError> {
    let out = layer_output(spec.op, in_dims);
    let mut best = Tiling::of(spec, out, hw).ok().map(|t| Plan { tiling: t, perf: layer_tiled(spec, in_dims, hw, cfg, &t) });
    Tiling::choices(spec, out, hw, |c| {
        if best.is_some_and(|b| b.tiling.choice() == c) {
            return;
        }
        if let Ok(t) = Tiling::with(spec, out, hw, c) {
            let perf = layer_tiled(spec, in_dims, hw, cfg, &t);
            if best.is_none_or(|b| perf.cycles < b.perf.cycles) {
                best = Some(Plan { tiling: t, perf });
            }
        }
    });
    best.ok_or(TilingError::NoFit { layer: spec.name })
}

/// The model of one layer on an input of `in_dims`, tiled as the firmware
/// tiles it ([`plan`]).
pub fn layer(spec: &LayerSpec, in_dims: Dims, hw: &HwLimits, cfg: &PerfConfig) -> Result<LayerPerf, TilingError> {
    plan(spec, in_dims, hw, cfg).map(|p| p.perf)
}

/// The model of one layer on an input of `in_dims`, tiled as `t` says
/// (a tiling of this layer for this output size and `hw`).
pub fn layer_tiled(spec: &LayerSpec, in_dims: Dims, hw: &HwLimits, cfg: &PerfConfig, t: &Tiling) -> LayerPerf {
    let out = layer_output(spec.op, in_dims);
    let cfg = &cfg.for_ports(hw);
    let t = *t;
    let (k, s) = (spec.op.kernel(), spec.op.stride());
    let g = t.in_groups as u64;
    let out_groups = spec.cout.div_ceil(hw.lanes);
    let pof = hw.pof as u64;
    // Output words (groups of `lanes` channels) of one pass.
    let wpp = (hw.pof / hw.lanes) as u64;
    let n_taps = match (t.kind, t.fold) {
        (_, Some(f)) => (t.out_tiles * f.taps * f.taps) as u64,
        (TileKind::Conv, None) => (k * if t.pair { k.div_ceil(2) } else { k }) as u64,
        (TileKind::Phases, None) => tconv_tap_entries(k, s),
        (TileKind::Pointwise, _) => g,
    };
    // Words (and runs) one MAC call's weights take, and its load's cycles.
    let (w_words, w_runs, w_cycles) = match t.fold {
        Some(f) => {
            let tiles = spec.cout.div_ceil(hw.pof) as u64;
            let block = (k * k) as u64 * pof;
            let zero = (t.out_tiles * f.taps * f.taps) as u64 + cfg.loop_fill;
            (tiles * block, tiles, zero + tiles * (cfg.burst(block) + cfg.loop_fill))
        }
        None => {
            let n = if t.kind == TileKind::Pointwise { g * pof } else { (k * k) as u64 * pof };
            (n, 1, cfg.burst(n) + cfg.loop_fill)
        }
    };
    let (rows, nr) = sides(spec, &t, true, in_dims.h, out.h);
    let (cols, nc) = sides(spec, &t, false, in_dims.w, out.w);
    let mut p = LayerPerf::default();
    let c = &mut p.counts;
    // Parameters.
    let params = (t.out_tiles as u64) * pof;
    c.weight_words += params;
    c.weight_runs += 1;
    let mut cycles = cfg.burst(params) + cfg.loop_fill + cfg.call_overhead;
    let mut first_load = None;
    let mut last_store = 0;
    for &(rs, rm) in &rows[..nr] {
        for &(cs, cm) in &cols[..nc] {
            let tiles = rm * cm;
            // Input of one step: runs inside the map on each port.
            let in_cols = cs.inside;
            let runs = [rs.inside_par[0], rs.inside_par[1]];
            let in_words = (runs[0] + runs[1]) * in_cols;
            let load_port = |p: usize| -> u64 {
                // Runs of port p (input rows j = p mod 2); inside the map:
                // one burst plus the halo's zeros; outside: all zeros.
                let all = if p == 0 { rs.span.div_ceil(2) } else { rs.span / 2 } as u64;
                let span = cs.span as u64;
                let burst = if in_cols > 0 { cfg.burst(in_cols) } else { 0 };
                runs[p] * (burst + span - in_cols) + (all - runs[p]) * span + all * 3 * cfg.loop_fill
            };
            let load = load_port(0).max(load_port(1)) + cfg.call_overhead;
            first_load.get_or_insert(load);
            // MAC calls: vectors per tap.
            let (a, b) = match t.kind {
                TileKind::Phases => (rs.n / s, cs.n / (s * hw.pox)),
                _ => (rs.n, cs.n / hw.pox),
            };
            let nve = ((a * b).max(hw.acc_distance)) as u64;
            let mac = n_taps * nve;
            // Output: stored rows x groups x columns of one unit.
            let (srows, scols) = (rs.stored, cs.stored);
            for ct in 0..t.channel_tiles {
                let npass = t.passes_of(ct) as u64;
                let calls = if t.fold.is_some() { 1 } else { npass };
                let nog = if t.fold.is_some() { out_groups as u64 } else { (npass * wpp).min(out_groups as u64 - ct as u64 * t.passes_per_unit as u64 * wpp) };
                let c = &mut p.counts;
                c.mac_iterations += tiles * t.steps_per_unit as u64 * calls * mac;
                c.input_words += tiles * t.steps_per_unit as u64 * in_words;
                c.input_runs += tiles * t.steps_per_unit as u64 * if in_cols > 0 { runs[0] + runs[1] } else { 0 };
                c.weight_words += tiles * t.steps_per_unit as u64 * calls * w_words;
                c.weight_runs += tiles * t.steps_per_unit as u64 * calls * w_runs;
                c.output_words += tiles * srows * nog * scols;
                c.output_runs += tiles * srows * nog;
                // Timing of one unit: its steps, each storing a chunk of the
                // previous unit (taken to be like this one).
                let compute = calls * ((mac + cfg.pipeline_depth).max(w_cycles) + cfg.call_overhead) + cfg.call_overhead;
                let mac_only = calls * (mac + cfg.pipeline_depth + cfg.call_overhead) + cfg.call_overhead;
                // The engine makes wpp words per pixel in pof / out_lanes
                // cycles; the runs (a row of one group) alternate between
                // the two write ports.
                let (engine_rounds, port_runs) = (nog.div_ceil(wpp), nog.div_ceil(2));
                let subs = (hw.pof / hw.out_lanes) as u64;
                let mut unit = 0u64;
                let mut bounds = [0u64; 5];
                let steps = t.steps_per_unit as u64;
                for chunk in 0..steps {
                    let crows = if srows > chunk { (srows - 1 - chunk) / steps + 1 } else { 0 };
                    let engine = crows * engine_rounds * (scols * subs + cfg.store_depth);
                    let port = crows * port_runs * cfg.burst(scols);
                    let xpi = ceil((crows * nog * scols) as f64 / cfg.xpi_words_per_cycle());
                    let store = engine.max(port).max(xpi) + cfg.call_overhead;
                    let words = in_words + calls * w_words + crows * nog * scols;
                    let ddr = ceil(words as f64 / cfg.ddr_words_per_cycle());
                    let parts = [mac_only, compute, load, store, ddr];
                    let mut which = 0;
                    for (i, &v) in parts.iter().enumerate() {
                        if v > parts[which] {
                            which = i;
                        }
                    }
                    let step = parts[which] + cfg.call_overhead;
                    unit += step;
                    bounds[which] += step;
                }
                last_store = (srows * engine_rounds * (scols * subs + cfg.store_depth) + srows * port_runs * cfg.burst(scols))
                    .max(ceil((srows * nog * scols) as f64 / cfg.xpi_words_per_cycle()));
                cycles += tiles * unit;
                p.compute_cycles += tiles * steps * calls * mac;
                for (acc, b) in p.bound_cycles.iter_mut().zip(bounds) {
                    *acc += tiles * b;
                }
            }
        }
    }
    // Prologue (the first step's loads and weights) and drain (the last
    // unit's store).
    let prologue = first_load.unwrap_or(0).max(w_cycles);
    p.bound_cycles[Bound::Input as usize] += prologue;
    p.bound_cycles[Bound::Store as usize] += last_store;
    p.cycles = cycles + prologue + last_store;
    let c = &p.counts;
    p.bytes_read = 16 * (c.input_words + c.weight_words);
    p.bytes_written = 16 * c.output_words;
    p.array_macs = p.compute_cycles * (hw.pox * hw.pof * hw.lanes) as u64;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Geometry, Layer, PadMode};

    fn model(cfg: &PerfConfig, l: Layer) -> LayerPerf {
        let g = Geometry::new(2048, 1365, PadMode::Edge, 4096).unwrap();
        let t = Tiling::of(l.spec(), g.output(l), &HwLimits::TEST).unwrap();
        layer_tiled(l.spec(), g.input(l), &HwLimits::TEST, cfg, &t)
    }

    /// The parts of a step are where the model says: convolutions wait for
    /// the MAC array, normalisers for their input ports; slower ports make
    /// the memory-bound layers slower and leave the MAC-bound ones alone.
    #[test]
    fn bounds_follow_the_platform() {
        let cfg = PerfConfig::ZCU102;
        let (ana1, gdn0) = (model(&cfg, Layer::Ana1), model(&cfg, Layer::Gdn0));
        assert_eq!((ana1.bound(), gdn0.bound()), (Bound::Compute, Bound::Input));
        assert!(ana1.cycles >= ana1.compute_cycles && gdn0.cycles > gdn0.compute_cycles * 5 / 4);
        let slow = PerfConfig { port_words_per_cycle: 0.5, ..cfg };
        assert!(model(&slow, Layer::Gdn0).cycles > gdn0.cycles * 5 / 4);
        assert!(model(&slow, Layer::Ana1).cycles < ana1.cycles * 101 / 100);
        // A slower DDR bounds the normalisers by DDR.
        let ddr = PerfConfig { ddr_efficiency: 0.25, ..cfg };
        assert_eq!(model(&ddr, Layer::Gdn0).bound(), Bound::Ddr);
        // The writers' shared XPI binds only when it is slower than them.
        assert!(cfg.xpi_words_per_cycle() > 2.0 * cfg.port_words_per_cycle);
        let xpi = PerfConfig { xpi_bytes_per_s: 4e9, ..cfg };
        assert!(model(&xpi, Layer::Gdn0).cycles > gdn0.cycles * 5 / 4);
        assert_eq!(model(&xpi, Layer::Gdn0).bound(), Bound::Store);
        // Cycles do not depend on the clock (only DDR's share per cycle),
        // seconds do.
        let fast = PerfConfig::zcu102(200e6);
        assert_eq!(model(&fast, Layer::Ana1).cycles, ana1.cycles);
        assert!(model(&fast, Layer::Ana1).seconds(&fast) > ana1.seconds(&cfg));
    }

    /// Every weight and input word the layer needs is read (loads per
    /// step and pass, as the kernel does), every output word written once.
    #[test]
    fn traffic_is_the_layers_data() {
        let cfg = PerfConfig::ZCU102;
        let g = Geometry::new(2048, 1365, PadMode::Edge, 4096).unwrap();
        for l in Layer::ALL {
            let p = model(&cfg, l);
            let outs = crate::layout::FmShape::new(l.spec().cout, g.output(l), 8);
            assert_eq!(p.counts.output_words as usize, outs.len() / 8, "{}", l.name());
            let ins = crate::layout::FmShape::new(l.spec().cin, g.input(l), 8);
            assert!(p.counts.input_words as usize >= ins.len() / 8, "{}: every input word at least once", l.name());
        }
    }

    /// The firmware's plan is never slower than the fixed rule, picks a
    /// tile that fits, and a port with too few bursts in flight is slower
    /// (Little's law), one with enough is not.
    #[test]
    fn plans_beat_the_rule_and_ports_follow_littles_law() {
        let cfg = PerfConfig::ZCU102;
        let hw = HwLimits::TEST;
        let g = Geometry::new(2048, 1365, PadMode::Edge, 4096).unwrap();
        for l in Layer::ALL {
            let p = plan(l.spec(), g.input(l), &hw, &cfg).unwrap();
            let rule = model(&cfg, l);
            assert!(p.perf.cycles <= rule.cycles, "{}", l.name());
            assert!(crate::layout::Tiling::needs(l.spec(), g.output(l), &hw, p.tiling.choice()).unwrap().fits(&hw));
        }
        assert_eq!(cfg.for_ports(&hw).port_words_per_cycle, 0.75);
        let narrow = HwLimits { axi_outstanding: 1, ..hw };
        let rate = cfg.for_ports(&narrow).port_words_per_cycle;
        assert!((rate - 64.0 / (64.0 + 64.0 / 0.75)).abs() < 1e-12, "{rate}");
        let t = crate::layout::Tiling::of(Layer::Gdn0.spec(), g.output(Layer::Gdn0), &hw).unwrap();
        let slow = layer_tiled(Layer::Gdn0.spec(), g.input(Layer::Gdn0), &narrow, &cfg, &t);
        assert!(slow.cycles > model(&cfg, Layer::Gdn0).cycles * 3 / 2);
    }
}
