//! Performance model of the accelerator (hls/xlic_layer.cpp), cycle by
//! cycle from its loop structure and tile schedule:
//!
//! ```text
//! per output tile (tile_rows x tile_cols; taller for narrow layers, see
//! layout::Tiling):
//!   clear the accumulators                  acc entries / pox cycles
//!   per input group g:
//!     load the input tile (ping-pong)       in_rows * in_cols words
//!     per output-channel tile t:
//!       load weights (ping-pong)            taps * pof words
//!       compute                             taps_used * pixels / pox + depth
//!     the input load overlaps the previous group's compute:
//!       max(load, sum over t of max(weights, compute))
//!   store                                    tile pixels * output groups words
//! ```
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
    /// Output pixels computed in parallel.
    pub pox: usize,
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

/// Kernel taps used by output phase `p` of a transposed convolution.
fn phase_taps(k: usize, s: usize, p: usize) -> usize {
    let pad = k / 2;
    (0..k).filter(|&t| (p + t + s * k - pad) % s == 0).count()
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
    let (tr, tc) = (t.tile_rows, t.tile_cols);
    let (k, s) = (spec.op.kernel(), spec.op.stride());
    let groups = t.in_groups as u64;
    let out_tiles = t.out_tiles as u64;
    let out_groups = spec.cout.div_ceil(hw.lanes) as u64;
    let tiles = (t.row_tiles * t.col_tiles) as u64;
    let pix = (tr * tc) as u64;
    let pox = cfg.pox as u64;
    let compute = match spec.op {
        Op::Conv { .. } => (k * k) as u64 * pix.div_ceil(pox),
        Op::TConv { .. } => {
            let per_phase = ((tr / s) * (tc / s)) as u64;
            let taps: u64 = (0..s).flat_map(|py| (0..s).map(move |px| (py, px))).map(|(py, px)| (phase_taps(k, s, py) * phase_taps(k, s, px)) as u64).sum();
            taps * per_phase.div_ceil(pox)
        }
        Op::Gdn | Op::Igdn => pix.div_ceil(pox),
    };
    let compute = compute + cfg.pipeline_depth;
    let in_words = (t.in_tile_rows * t.in_tile_cols) as u64;
    let w_words = (k * k * hw.pof) as u64;
    let step = compute.max(transfer(w_words, cfg));
    let per_group = transfer(in_words, cfg).max(out_tiles * step);
    let store = transfer(pix * out_groups, cfg);
    // The accumulators hold one tile whatever its shape.
    let clear = (pix / t.bands as u64).div_ceil(pox);
    let per_tile = clear + groups * per_group + store;
    let cycles = tiles * per_tile;
    let compute_cycles = tiles * groups * out_tiles * compute;
    LayerPerf {
        cycles,
        compute_cycles,
        memory_stall_cycles: cycles.saturating_sub(compute_cycles + tiles * clear),
        bytes_read: 16 * tiles * groups * (in_words + out_tiles * w_words),
        bytes_written: 16 * tiles * pix * out_groups,
        array_macs: compute_cycles * pox * (hw.pof * hw.lanes) as u64,
    }
}

/// DSP48E2 slices of the MAC array: one INT16 multiply each.
pub fn dsp_count(hw: &HwLimits, cfg: &PerfConfig) -> usize {
    hw.lanes * hw.pof * cfg.pox
}

/// BRAM18 blocks of the on-chip buffers, from their sizes and the
/// partitioning the kernel's pragmas ask for (a BRAM18 holds 512 x 36 bits).
pub fn bram18_count(hw: &HwLimits, cfg: &PerfConfig) -> usize {
    let blocks = |width_bits: usize, depth: usize, banks: usize| -> usize {
        banks * width_bits.div_ceil(36) * depth.div_ceil(banks).div_ceil(512)
    };
    let in_rows = (hw.tile_rows - 1) * hw.max_stride + hw.max_kernel;
    let in_cols = (hw.tile_cols - 1) * hw.max_stride + hw.max_kernel;
    let word = 16 * hw.lanes;
    let pix = hw.tile_rows * hw.tile_cols;
    // ibuf: 2 x in_rows x in_cols words, cyclic by pox on columns.
    let ibuf = 2 * blocks(word, in_rows * in_cols, cfg.pox);
    // wbuf: 2 x taps x pof words, complete on pof.
    let wbuf = 2 * blocks(word, hw.max_kernel * hw.max_kernel * hw.pof, hw.pof);
    // acc: 48-bit accumulators, cyclic by pox (columns) and pof (channels).
    let acc = blocks(48, pix * hw.max_channels, cfg.pox * hw.pof);
    // xkeep: the GDN inputs of one tile.
    let xkeep = blocks(16, pix * hw.max_channels, cfg.pox);
    ibuf + wbuf + acc + xkeep
}
