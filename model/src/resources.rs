//! Resource model of the accelerator (hls/xlic_layer.cpp): DSP48E2,
//! BRAM18 and LUTs, as pure functions of [`HwLimits`], checked against a
//! [`Device`]. Estimates from the kernel's arrays, pragmas and datapath,
//! counted the way Vivado HLS 2019.2 maps them; `cargo xtask hls-report`
//! prints them beside a real synthesis report.
//!
//! - BRAM18: every bank of a partitioned array is its own memory and is
//!   rounded up separately to the RAMB18E2 shapes (UG573: 16K x 1, 8K x 2,
//!   4K x 4, 2K x 9, 1K x 18, and 512 x 36 in simple dual-port mode, which
//!   every memory here is: one read and one write port, pinned in the
//!   kernel by `RESOURCE core=RAM_S2P_BRAM`). A bank's cost is
//!   the cheapest shape: `ceil(depth / d) * ceil(width / w)`.
//! - UltraRAM (when `HwLimits::acc_uram` / `xkeep_uram` put the
//!   accumulators or the saved GDN inputs there, `RAM_S2P_URAM`): a block
//!   is 4K x 72 bits (UG573), every bank rounded up the same way.
//! - LUTRAM (the arrays the kernel puts there: weights, parameters, taps):
//!   RAM64M8, 64 x 7 bits simple dual-port per 8 LUTs (UG574).
//! - m_axi adapters: a data FIFO of outstanding x burst words per working
//!   direction (UG1399 "Controlling AXI4 Burst Behavior"), in BRAM; the
//!   idle direction's two-word FIFO in SRLs; ~1500 LUTs of control each.
//! - DSP48E2: one per MAC (16 x 16 or 16 x 17 into the 48-bit cascade,
//!   UG579), two per 48 x 15 requantization and 48 x 16 IGDN product, and
//!   three for each 32 x 32-bit run-time multiply of the address
//!   arithmetic (the kernel's control values are `int`).
//! - LUTs: adders, muxes and dividers by their widths (one LUT6 per bit of
//!   an adder or a 4:1 mux), plus LUTRAM and fixed costs for control.
//! - Flip-flops are not estimated (the pipelines' registers are Vivado's
//!   to place; no figure here would be better than a guess). Every
//!   UltraScale+ CLB has two flip-flops per LUT (UG574), and nothing here
//!   comes near half the FFs of a device, so they are not a budget.
//!
//! Figures with no source, nothing measured (no synthesis has been run
//! here; `cargo xtask hls-report` is where a real report replaces them):
//! the ~1500 LUTs of control per m_axi adapter, the 8000 LUTs of control
//! (FSMs, counters, AXI-Lite), the 3000 LUTs around the address
//! multiplies, the count of 38 run-time 32 x 32 multiplies (read off the
//! kernel's source, not a schedule), and the LUT cost of a mux (one LUT6
//! per bit per 4 inputs) and of an adder (one LUT per bit). They are
//! written to err high: Vivado narrows multiplies whose operands it can
//! bound, which this model does not assume, and in a pipelined loop every
//! multiply is counted as its own operator. The sequential set-up code of
//! a function (before and between its loops) is counted at 2 multipliers
//! (1 in the output writers) because the kernel forces that sharing with
//! `ALLOCATION instances=mul limit=N operation` (UG902 v2019.2) in every
//! such function, N the count here; the one exception, `mac_call` (a
//! function-wide limit would take its MAC array's multiplies too), has
//! exactly 2 multiplies in its set-up. The "addresses" item lists them.
use crate::layout::HwLimits;

pub use crate::device::Device;

/// The targets of issue 11, for 2048x1365 through all ten layers.
pub const TARGET_SECONDS: f64 = 0.20;
pub const TARGET_DSP: usize = 2300;
pub const TARGET_BRAM_FRACTION: f64 = 0.80;
pub const TARGET_LUT_FRACTION: f64 = 0.70;

/// BRAM18 blocks of one memory bank of `depth` words of `width` bits, in
/// the cheapest RAMB18E2 shape (simple dual-port).
pub const fn bram18_bank(depth: usize, width: usize) -> usize {
    const SHAPES: [(usize, usize); 6] = [(512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)];
    let mut best = usize::MAX;
    let mut i = 0;
    while i < SHAPES.len() {
        let (d, w) = SHAPES[i];
        let n = depth.div_ceil(d) * width.div_ceil(w);
        if n < best {
            best = n;
        }
        i += 1;
    }
    best
}

/// UltraRAM blocks (URAM288, 4K x 72 bits) of one bank.
pub const fn uram_bank(depth: usize, width: usize) -> usize {
    depth.div_ceil(4096) * width.div_ceil(72)
}

/// LUTs of one LUTRAM bank (RAM64M8: 64 x 7 bits per 8 LUTs).
pub const fn lutram_bank(depth: usize, width: usize) -> usize {
    depth.div_ceil(64) * width.div_ceil(7) * 8
}

/// One line of the estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    /// What it is, for people.
    pub what: &'static str,
    pub dsp: usize,
    pub bram18: usize,
    pub uram: usize,
    pub lut: usize,
}

const ITEMS: usize = 16;

/// The estimate: one line per array or datapath part, and the totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    pub items: [Item; ITEMS],
    pub len: usize,
}

impl Resources {
    pub fn items(&self) -> &[Item] {
        &self.items[..self.len]
    }
    pub fn dsp(&self) -> usize {
        self.items().iter().map(|i| i.dsp).sum()
    }
    pub fn bram18(&self) -> usize {
        self.items().iter().map(|i| i.bram18).sum()
    }
    pub fn uram(&self) -> usize {
        self.items().iter().map(|i| i.uram).sum()
    }
    pub fn lut(&self) -> usize {
        self.items().iter().map(|i| i.lut).sum()
    }
    /// Whether the estimate fits issue 11's budget on `device`.
    pub fn within_target(&self, device: &Device) -> bool {
        self.dsp() <= TARGET_DSP.min(device.dsp)
            && self.bram18() as f64 <= TARGET_BRAM_FRACTION * device.bram18 as f64
            && self.uram() <= device.uram
            && self.lut() as f64 <= TARGET_LUT_FRACTION * device.lut as f64
    }
}

/// The estimate for a kernel built with `hw` (the arrays of xlic_layer()
/// and the datapaths of its functions).
pub fn estimate(hw: &HwLimits) -> Resources {
    let word = 16 * hw.lanes;
    let pairs = hw.pox / 2;
    // The output engine finishes out_lanes lanes per cycle (pof / out_lanes
    // cycles per pixel): one instance of each output rule per lane.
    let lanes_out = hw.out_lanes;
    let subs = hw.pof / hw.out_lanes;
    let mut items = [Item { name: "", what: "", dsp: 0, bram18: 0, uram: 0, lut: 0 }; ITEMS];
    let mut n = 0;
    let mut push = |it: Item| {
        items[n] = it;
        n += 1;
    };
    // A memory of `banks` banks in block RAM or UltraRAM.
    let memory = |name, what, banks: usize, depth: usize, width: usize, uram: bool| Item {
        name,
        what,
        dsp: 0,
        bram18: if uram { 0 } else { banks * bram18_bank(depth, width) },
        uram: if uram { banks * uram_bank(depth, width) } else { 0 },
        lut: 0,
    };
    // Memories.
    push(memory("ibuf", "input tile: 2 halves x 2 row parities x pox banks", 4 * hw.pox, hw.in_depth, word, false));
    push(memory(
        "acc",
        if hw.acc_uram { "accumulators: 2 halves x pox/2 x pof banks of 2 x 48 bits, UltraRAM" } else { "accumulators: 2 halves x pox/2 x pof banks of 2 x 48 bits" },
        2 * pairs * hw.pof,
        hw.acc_depth(),
        2 * 48,
        hw.acc_uram,
    ));
    push(memory(
        "xkeep",
        if hw.xkeep_uram { "GDN/IGDN inputs: 2 halves x pox banks, UltraRAM" } else { "GDN/IGDN inputs: 2 halves x pox banks" },
        2 * hw.pox,
        hw.acc_depth(),
        word,
        hw.xkeep_uram,
    ));
    push(Item {
        name: "wbuf",
        what: "weights of a pass: 2 halves x pof banks, LUTRAM",
        dsp: 0,
        bram18: 0,
        uram: 0,
        lut: 2 * hw.pof * lutram_bank(hw.max_taps(), word),
    });
    push(Item {
        name: "params, taps",
        what: "bias/mult/shift per channel, the tap table: LUTRAM",
        dsp: 0,
        bram18: 0,
        uram: 0,
        lut: hw.pof * lutram_bank(hw.acc_slots(), 48 + 15 + 6) + lutram_bank(hw.max_taps(), 36),
    });
    // m_axi adapters: 5 bundles (2 input, weights + params, 2 output), one
    // working-direction FIFO each; 2 output streams of 64 words in SRLs.
    let fifo = bram18_bank(hw.axi_outstanding * hw.axi_burst, word);
    push(Item {
        name: "m_axi x5",
        what: "outstanding x burst data FIFOs, adapters; output streams (SRL)",
        dsp: 0,
        bram18: 5 * fifo,
        uram: 0,
        lut: 5 * 1500 + 2 * word * 64usize.div_ceil(32),
    });
    // The MAC array: one DSP48E2 per MAC; the accumulator add (48 bits)
    // and the first-tap mux in fabric, conservatively; |x| for GDN.
    push(Item {
        name: "MAC array",
        what: "lanes x pof x pox 16x16 MACs; 48-bit accumulate; |x|",
        dsp: hw.lanes * hw.pof * hw.pox,
        bram18: 0,
        uram: 0,
        lut: hw.pox * hw.pof * 48 + hw.pox * hw.lanes * 17,
    });
    // Input alignment: each pixel lane picks one of pox banks (a pox:1
    // mux of 128 bits, ~pox/4 LUT6 per bit with the F7/F8 muxes), and a
    // row-parity select.
    push(Item {
        name: "alignment",
        what: "input banks to pixel lanes: rotation + parity select",
        dsp: 0,
        bram18: 0,
        uram: 0,
        lut: hw.pox * word * (hw.pox / 4 + 1),
    });
    // Output engine: the pixel mux on every accumulator bank (pox:1 of 48
    // bits); per rule lane the channel rotation (pof:1 of 48 bits) and the
    // GDN input select (of pox banks x, with fewer than `lanes` rule
    // lanes, lanes / out_lanes lane positions: 16 bits); with more than
    // one sub-cycle per pixel, the parameter select (subs:1 of 48 + 15 +
    // 6 bits) and the lane registers' write enables (pof x 16 bits,
    // registers: Vivado's FFs, no LUT counted beyond the enable decode).
    // Per rule lane the three rules: requantization (48x15: 2 DSP, a
    // 66-bit rounding shifter, saturation), IGDN (48x16: 2 DSP, the same),
    // GDN (a 63-bit shifter, 16 stages of 64-bit compare-subtract).
    let shifter = 66 * 6 / 2; // 6 levels of 2:1, two per LUT6
    let divider = 16 * 2 * 64 + shifter + 3 * 65;
    let x_sources = hw.pox * (hw.lanes / lanes_out).max(1);
    let param_mux = if subs > 1 { lanes_out * 69 * (subs / 4 + 1) + hw.pof } else { 0 };
    push(Item {
        name: "output engine",
        what: "bank and lane muxes; per output lane requant, IGDN, GDN divider",
        dsp: lanes_out * (2 + 2),
        bram18: 0,
        uram: 0,
        lut: hw.pof * 48 * (hw.pox / 4 + 1) + lanes_out * 48 * (hw.pof / 4 + 1) + lanes_out * 16 * (x_sources / 4 + 1)
            + param_mux
            + lanes_out * (2 * (49 + shifter + 20) + divider),
    });
    // Ping-pong: one shared instance of each concurrent function
    // (ALLOCATION limit=1) reads either half of its buffers: a 2:1 mux per
    // read bit (two per LUT6) on the accumulators (MAC array and output
    // engine), the input tile, the weights and the GDN inputs.
    push(Item {
        name: "ping-pong",
        what: "2:1 selects of the shared instances' memory reads",
        dsp: 0,
        bram18: 0,
        uram: 0,
        lut: (2 * pairs * hw.pof * 96 + 2 * hw.pox * word + hw.pof * word + hw.pox * word) / 2,
    });
    // Address arithmetic: the kernel's `int` (32 x 32-bit) run-time
    // multiplies, 3 DSP48E2 each (a 27 x 18 slice per partial product,
    // UG579). In a pipelined loop every multiply is its own operator:
    // weight loaders 2 x 5 (paired entry, folded entry x 3, folded
    // channel; load_constants has its own load_weights), MAC loop 6 (input
    // row and its address, accumulator vector x 2, slot band, GDN input
    // address), output engine 4: 20. (The input loaders' and the MAC
    // loop's plane offset is two shifted adds, and the writers step their
    // run addresses by counters: no multiplier in those loops.)
    // Sequential set-up code,
    // shared as each function's ALLOCATION pragma forces: top 2,
    // schedule 2, taps 2, input loaders 2 + 2, weight loaders 2 + 2 (their
    // limit is 7: the 5 of their loops and 2), output writers 1 + 1, and
    // mac_call 2 (no pragma there: its set-up has exactly two, A x B and
    // taps x vectors): 18. 38.
    push(Item { name: "addresses", what: "38 run-time 32x32 index multiplies, 3 DSP each", dsp: 3 * (20 + 18), bram18: 0, uram: 0, lut: 3000 });
    // The second weight loader (load_constants' own) and the zero fills'
    // copies of the input write path.
    push(Item {
        name: "extra copies",
        what: "load_constants' weight loader, zero fills' input writes",
        dsp: 0,
        bram18: 0,
        uram: 0,
        lut: hw.pof * word / 2 + 2 * 2 * hw.pox * word / 4,
    });
    // Control: the step loop, counters, FSMs, AXI-Lite.
    push(Item { name: "control", what: "FSMs, counters, AXI-Lite registers", dsp: 0, bram18: 0, uram: 0, lut: 8000 });
    Resources { items, len: n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bram_shapes_round_each_bank_up() {
        assert_eq!(bram18_bank(512, 128), 4, "512 x 36 mode");
        assert_eq!(bram18_bank(512, 96), 3);
        assert_eq!(bram18_bank(1024, 48), 3, "1K x 18");
        assert_eq!(bram18_bank(81, 128), 4, "a small bank still costs a whole block per 36 bits");
        assert_eq!(bram18_bank(16384, 1), 1);
        assert_eq!(bram18_bank(2484, 128), 20, "hls-patterns 2.10's example");
        assert_eq!(lutram_bank(81, 128), 2 * 19 * 8);
    }

    /// Fewer output lanes: fewer rule instances (4 DSP48E2 and a GDN
    /// divider each), a parameter select added; the MAC array unchanged.
    /// The smallest array with two output lanes fits the Ultra96-V2's
    /// XCZU3EG at the explorer's default budget (90 % DSP, 80 % BRAM18,
    /// 70 % LUT); with one rule instance per channel it did not.
    #[test]
    fn output_lanes_shrink_the_output_engine() {
        let small = HwLimits { pof: 8, pox: 2, out_lanes: 8, tile_rows: 4, tile_cols: 16, ..HwLimits::TEST };
        let (all, two) = (estimate(&small), estimate(&HwLimits { out_lanes: 2, ..small }));
        let engine = |r: &Resources| *r.items().iter().find(|i| i.name == "output engine").unwrap();
        assert_eq!(engine(&all).dsp - engine(&two).dsp, 6 * 4);
        assert!(engine(&two).lut < engine(&all).lut / 3, "{:?} {:?}", engine(&two), engine(&all));
        assert_eq!(all.dsp() - engine(&all).dsp, two.dsp() - engine(&two).dsp);
        let d = Device::XCZU3EG;
        let fits = |r: &Resources| r.dsp() as f64 <= 0.9 * d.dsp as f64 && r.bram18() as f64 <= 0.8 * d.bram18 as f64 && r.lut() as f64 <= 0.7 * d.lut as f64;
        assert!(fits(&two) && !fits(&all), "{} {} {}", two.dsp(), two.bram18(), two.lut());
    }

    #[test]
    fn the_configuration_fits_its_device() {
        let r = estimate(&HwLimits::TEST);
        assert_eq!(r.dsp() - 2048, 64 + 3 * 38, "MACs, output rules, addresses");
        assert!(r.within_target(&Device::XCZU9EG), "{r:?}");
    }
}
