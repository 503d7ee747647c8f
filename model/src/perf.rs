//! Performance model of the accelerator (hls/xlic_layer.cpp), cycle by
//! cycle from its loop structure and schedule:
//!
//! ```text
//! prologue: the first step's loads
//! per step (a tile of rows x cols of the layer's grid, see layout::Tiling,
//! and one input group g), concurrently:
//!   compute, phase by phase / conv / GDN:
//!     load pass 0's weights                  taps * pof words
//!     per output-channel pass t, concurrently:
//!       compute                              taps_used * pixels / pox + depth
//!       load pass t+1's weights              taps * pof words
//!   compute, folded transposed conv (layout::PhaseFold):
//!     per pass                               fold taps^2 * pixels / pox + depth
//!   load the next step's input tile          in_rows * in_cols words
//!   (folded: and its rearranged weights      fold taps^2 * passes + k^2 * pof * tiles)
//! after a tile's last group: store           stored pixels * output groups words
//! ```
//!
//! The first tap of the first group writes the accumulators instead of
//! adding to them, so no cycles go to clearing them.
//!
//! A memory port moves at most one 128-bit word per cycle, and all ports
//! together at most the DDR bandwidth (ZCU102 PS DDR4-2400, 64 bit:
//! 19.2 GB/s peak); loads that exceed compute time make a layer
//! memory-bound, and the model says so.
use crate::geometry::{layer_output, Dims};
use crate::layer::{LayerSpec, Op};
use crate::layout::{HwLimits, Tiling, WeightShape};

/// What the model needs beyond [`HwLimits`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerfConfig {
    pub clock_hz: f64,
    /// Peak DDR bandwidth, bytes per second.
    pub ddr_bytes_per_s: f64,
    /// Fill/drain of one pipelined compute loop.
    pub pipeline_depth: u64,
}

impl PerfConfig {
    /// PS DDR4-2400 on a 64-bit bus.
    pub const ZCU102_DDR_BYTES_PER_S: f64 = 19.2e9;
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerPerf {
    pub cycles: u64,
    /// Cycles the MAC array is busy.
    pub compute_cycles: u64,
    /// Cycles spent waiting for loads and stores beyond compute.
    pub memory_stall_cycles: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Multiply-accumulates the array executes (padding included).
    pub array_macs: u64,
    /// The kernel's loop trip counts this model is built from, which the
    /// C-simulation counts too (hls/xlic_layer.h, `xlic_counts`) and the
    /// testbench compares: iterations of the pipelined MAC loop, words
    /// loaded into the input buffer (halo zeros included), weight words
    /// read from DDR, output words stored.
    pub counts: LoopCounts,
}

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
    pub fn memory_bound(&self) -> bool {
        self.memory_stall_cycles > self.compute_cycles / 10
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

/// Words per cycle the DDR sustains at this clock (16-byte words).
fn ddr_words_per_cycle(cfg: &PerfConfig) -> f64 {
    cfg.ddr_bytes_per_s / cfg.clock_hz / 16.0
}

/// Cycles to move `words` through one port while others may share DDR.
fn transfer(words: u64, cfg: &PerfConfig) -> u64 {
    let per_cycle = ddr_words_per_cycle(cfg).min(1.0);
    // (no f64::ceil in core: this crate is also built for the firmware)
    let x = words as f64 / per_cycle;
    let t = x as u64;
    if (t as f64) < x { t + 1 } else { t }
}

/// The model of one layer on an input of `in_dims`.
pub fn layer(spec: &LayerSpec, in_dims: Dims, hw: &HwLimits, cfg: &PerfConfig) -> LayerPerf {
    let out = layer_output(spec.op, in_dims);
    let t = Tiling::of(spec, out, hw);
    let (k, s) = (spec.op.kernel(), spec.op.stride());
    let passes = t.out_tiles as u64;
    let out_groups = spec.cout.div_ceil(hw.lanes) as u64;
    let pox = hw.pox as u64;
    let scale = t.scale();
    let ws = WeightShape::of(spec, hw);
    // Bus words of one (output tile, input group) weight block.
    let w_words = (ws.block_len() / hw.lanes) as u64;
    // A folded layer's weights for one input group: read, and rearranged
    // on arrival after zeroing the fold's taps.
    let fold_read = t.fold.map_or(0, |_| w_words * ws.out_tiles() as u64);
    let fold_words = t.fold.map_or(0, |f| (f.taps * f.taps) as u64 * passes + fold_read);
    let in_words = |col_tile: usize| {
        (Tiling::input_extent(spec, t.fold, t.tile_rows) * Tiling::input_extent(spec, t.fold, t.cols_of(col_tile))) as u64
    };
    let mut p = LayerPerf::default();
    // Prologue: the first step's loads.
    p.cycles = transfer(in_words(0), cfg).max(transfer(fold_words, cfg));
    let c = &mut p.counts;
    c.input_words = in_words(0);
    c.weight_words = fold_read;
    for row_tile in 0..t.row_tiles {
        // Output rows of this tile inside the map (the rest is not stored).
        let stored_rows = (out.h - row_tile * t.tile_rows * scale).min(t.tile_rows * scale) as u64;
        for col_tile in 0..t.col_tiles {
            let cols = t.cols_of(col_tile);
            let stored_cols = (out.w - col_tile * t.tile_cols * scale).min(cols * scale) as u64;
            let pix = (t.tile_rows * cols) as u64;
            // One pass of the MAC array over the tile for `pof` channels.
            let pass = cfg.pipeline_depth
                + match (spec.op, t.fold) {
                    (_, Some(f)) => (f.taps * f.taps) as u64 * pix.div_ceil(pox),
                    (Op::Conv { .. }, None) => (k * k) as u64 * pix.div_ceil(pox),
                    (Op::TConv { .. }, None) => tconv_tap_entries(k, s) * (pix / (s * s) as u64).div_ceil(pox),
                    (Op::Gdn | Op::Igdn, _) => pix.div_ceil(pox),
                };
            // All passes of a step; unfolded, pass t+1's weights load
            // while pass t computes.
            let compute = match t.fold {
                Some(_) => passes * pass,
                None => {
                    let w = transfer(w_words, cfg);
                    w + (passes - 1) * pass.max(w) + pass
                }
            };
            for g in 0..t.in_groups {
                // The loads of the step after this one, if any.
                let last_group = g + 1 == t.in_groups;
                let next_col = if last_group { (col_tile + 1) % t.col_tiles } else { col_tile };
                let more = !(last_group && row_tile + 1 == t.row_tiles && col_tile + 1 == t.col_tiles);
                let (next_in, next_w) = if more { (in_words(next_col), fold_words) } else { (0, 0) };
                p.cycles += compute.max(transfer(next_in, cfg)).max(transfer(next_w, cfg));
                p.compute_cycles += passes * pass;
                let c = &mut p.counts;
                c.mac_iterations += passes * (pass - cfg.pipeline_depth);
                c.input_words += next_in;
                c.weight_words += if t.fold.is_some() { if more { fold_read } else { 0 } } else { passes * w_words };
            }
            let stored = stored_rows * stored_cols * out_groups;
            p.cycles += transfer(stored, cfg);
            p.counts.output_words += stored;
        }
    }
    p.bytes_read = 16 * (p.counts.input_words + p.counts.weight_words);
    p.bytes_written = 16 * p.counts.output_words;
    p.memory_stall_cycles = p.cycles.saturating_sub(p.compute_cycles);
    p.array_macs = p.compute_cycles * pox * (hw.pof * hw.lanes) as u64;
    p
}

/// DSP48E2 slices of the MAC array: one INT16 multiply each.
pub fn dsp_count(hw: &HwLimits) -> usize {
    hw.lanes * hw.pof * hw.pox
}

/// BRAM18 blocks of the on-chip buffers, from their sizes and the
/// partitioning the kernel's pragmas ask for (a BRAM18 holds 512 x 36 bits).
pub fn bram18_count(hw: &HwLimits) -> usize {
    let blocks = |width_bits: usize, depth: usize, banks: usize| -> usize {
        banks * width_bits.div_ceil(36) * depth.div_ceil(banks).div_ceil(512)
    };
    let word = 16 * hw.lanes;
    let pix = hw.tile_rows * hw.tile_cols;
    // ibuf: 2 x in_rows x max_stride column planes x plane columns,
    // cyclic by pox on the plane columns.
    let in_rows = (hw.tile_rows - 1) * hw.max_stride + hw.max_kernel;
    let plane_cols = hw.tile_cols + hw.max_kernel;
    let ibuf = 2 * blocks(word, in_rows * hw.max_stride * plane_cols, hw.pox);
    // wbuf, wfold: 2 + 2 x taps x pof words, complete on pof.
    let wbuf = 4 * blocks(word, hw.max_kernel * hw.max_kernel * hw.pof, hw.pof);
    // acc: 48-bit accumulators, cyclic by pox (columns) and pof (channels).
    let acc = blocks(48, pix * hw.max_channels, hw.pox * hw.pof);
    // xkeep: the GDN inputs of one tile, one word per pixel and group,
    // cyclic by pox on columns.
    let xkeep = blocks(word, pix * hw.max_channels / hw.lanes, hw.pox);
    ibuf + wbuf + acc + xkeep
}
