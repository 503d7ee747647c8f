//! Performance model of the accelerator (hls/xlic_layer.cpp), cycle by
//! cycle from its loop structure and tile schedule:
//!
//! ```text
//! per tile (rows x cols of the layer's grid, see layout::Tiling; the last
//! column tile is trimmed to the map):
//!   per input group g:
//!     load the input tile (ping-pong)       in_rows * in_cols words
//!     phase by phase / conv / GDN: per output-channel pass t:
//!       load its weights (ping-pong)        taps * pof words
//!       compute                             taps_used * pixels / pox + depth
//!     folded transposed conv (layout::PhaseFold):
//!       load and rearrange the weights      fold taps^2 * passes + k^2 * pof * tiles
//!       compute, per pass                   fold taps^2 * pixels / pox + depth
//!     the input load overlaps the previous group's compute and each
//!     weight load the previous pass:
//!       max(load, sum over t of max(weights, compute))
//!   store                                   stored pixels * output groups words
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
use crate::layout::{HwLimits, Tiling};

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
    let groups = t.in_groups as u64;
    let passes = t.out_tiles as u64;
    let out_groups = spec.cout.div_ceil(hw.lanes) as u64;
    let pox = hw.pox as u64;
    let scale = t.scale();
    let w_words = (k * k * hw.pof) as u64;
    let mut p = LayerPerf::default();
    for row_tile in 0..t.row_tiles {
        // Output rows of this tile inside the map (the rest is not stored).
        let stored_rows = (out.h - row_tile * t.tile_rows * scale).min(t.tile_rows * scale) as u64;
        for col_tile in 0..t.col_tiles {
            let (rows, cols) = (t.tile_rows, t.cols_of(col_tile));
            let stored_cols = (out.w - col_tile * t.tile_cols * scale).min(cols * scale) as u64;
            let pix = (rows * cols) as u64;
            // One pass of the MAC array over the tile for `pof` channels.
            let pass = cfg.pipeline_depth
                + match (spec.op, t.fold) {
                    (_, Some(f)) => (f.taps * f.taps) as u64 * pix.div_ceil(pox),
                    (Op::Conv { .. }, None) => (k * k) as u64 * pix.div_ceil(pox),
                    (Op::TConv { .. }, None) => tconv_tap_entries(k, s) * (pix / (s * s) as u64).div_ceil(pox),
                    (Op::Gdn | Op::Igdn, _) => pix.div_ceil(pox),
                };
            let in_words = (Tiling::input_extent(spec, t.fold, rows) * Tiling::input_extent(spec, t.fold, cols)) as u64;
            let (weights, per_group_compute) = match t.fold {
                Some(f) => {
                    let rearrange = (f.taps * f.taps) as u64 * passes + w_words * spec.cout.div_ceil(hw.pof) as u64;
                    (rearrange, transfer(rearrange, cfg).max(passes * pass))
                }
                None => (passes * w_words, passes * pass.max(transfer(w_words, cfg))),
            };
            let per_group = transfer(in_words, cfg).max(per_group_compute);
            let stored = stored_rows * stored_cols * out_groups;
            p.cycles += groups * per_group + transfer(stored, cfg);
            p.compute_cycles += groups * passes * pass;
            p.bytes_read += 16 * groups * (in_words + weights);
            p.bytes_written += 16 * stored;
        }
    }
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
    // wbuf: 2 x taps x pof words, complete on pof.
    let wbuf = 2 * blocks(word, hw.max_kernel * hw.max_kernel * hw.pof, hw.pof);
    // acc: 48-bit accumulators, cyclic by pox (columns) and pof (channels).
    let acc = blocks(48, pix * hw.max_channels, hw.pox * hw.pof);
    // xkeep: the GDN inputs of one tile.
    let xkeep = blocks(16, pix * hw.max_channels, hw.pox);
    ibuf + wbuf + acc + xkeep
}
