//! The integer layers on the A53s with NEON: the same semantics as
//! `xlic_model::reference` (conv, transposed conv, GDN, IGDN) on the same
//! DDR layouts the accelerator reads and writes, so a layer computed here
//! is bit for bit the accelerator's and `step`, `dump`, `verify` and the
//! CRCs work unchanged. For boards without a bitstream, and as a second
//! implementation of the integer format on the target itself.
//!
//! What is computed, and what is not restated here: the buffers are
//! checked by `reference::check_buffers`; which input pixel a tap reads is
//! `geometry::tap_source`; every output value is finished by
//! `xlic_model::quant` (`requant_conv`, `gdn_out`, `igdn_out`), so a change
//! of the integer format there is followed here.
//!
//! Accumulators are exact, as `quant` defines them: a product of a weight
//! (|w| <= 32767) and an activation (|x| <= 32768) is below 2^30, so
//! `smull` + `smlal2` add two products per 32-bit lane without overflow,
//! and `sadalp` adds those pairs into 64-bit lanes: 8 MACs in three
//! instructions, with nothing wider than i64 needed for up to 2^33 terms.
//!
//! Work is split across the cores by output rows (`run_layer_on_cores`):
//! every core takes the next row when done with one; the input map and
//! the constants are shared read-only borrows, each core's rows an
//! exclusive one.
use crate::smp;
use crate::arch::aarch64::neon::{mac_taps, total, zero};
use core::ops::Range;
use xlic_model::geometry::{tap_source, Dims};
use xlic_model::layout::{FmShape, HwLimits, WeightShape};
use xlic_model::quant::{gdn_out, igdn_out, requant_conv, ChannelParams};
use xlic_model::reference::{check_buffers, LayerData, ShapeError, LANES};
use xlic_model::{LayerSpec, Op};

/// Output channels one pass keeps in registers: 16 accumulators of two
/// 64-bit lanes in v16-v31 (`mac16`); a smaller remainder goes through the
/// intrinsics, which the compiler keeps in registers up to about 8.
const MAX_BLOCK: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError {
    Shape(ShapeError),
    /// The input map or the weights do not start on a 16-byte word, as
    /// every buffer in DDR does (the accelerator reads 128-bit words).
    Misaligned { what: &'static str },
    Core(smp::CoreFault),
}

impl core::fmt::Display for EngineError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            EngineError::Shape(e) => write!(f, "{e}"),
            EngineError::Misaligned { what } => write!(f, "the {what} does not start on a 16-byte word"),
            EngineError::Core(e) => write!(f, "{e}"),
        }
    }
}

/// Which taps of a kernel side meet the input for output coordinate `o`:
/// `count` taps from `first` in steps of `step`, reading input
/// coordinates `src` onwards, one apart (a convolution's taps are
/// consecutive; a transposed convolution's are every stride-th).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    first: usize,
    count: usize,
    step: usize,
    src: usize,
}

/// The taps of `o`, from the one definition of what a tap reads.
fn span(op: Op, o: usize, k: usize, n: usize) -> Span {
    let mut s = Span { first: 0, count: 0, step: 1, src: 0 };
    for t in 0..k {
        if let Some(i) = tap_source(op, o, t, n) {
            match s.count {
                0 => (s.first, s.src) = (t, i),
                1 => s.step = t - s.first,
                _ => {}
            }
            debug_assert_eq!(i, s.src + s.count, "input coordinates of consecutive taps are consecutive");
            debug_assert_eq!(t, s.first + s.count * s.step, "taps are evenly spaced");
            s.count += 1;
        }
    }
    s
}

/// Where channel `c` of pixel `x` goes in an output row (FmShape::index
/// within a row, with the lane count a constant: `check_buffers` allows
/// only LANES). Channels of the last group beyond the tiles' real ones
/// keep the 0 `run_layer` wrote.
#[inline(always)]
fn out_index(outs: &FmShape, x: usize, c: usize) -> usize {
    (c / LANES * outs.dims.w + x) * LANES + c % LANES
}

/// Everything a pass over one layer needs, checked.
struct Layer<'a> {
    op: Op,
    ins: FmShape,
    outs: FmShape,
    ws: WeightShape,
    input: &'a [i16],
    data: LayerData<'a>,
}

impl Layer<'_> {
    /// One block of `N` output channels (`c0 ..`, inside tile `tile`) of
    /// output pixel (`oy`, `ox`) of a conv or transposed conv: the exact
    /// sums before requantization. The innermost loop runs over whichever
    /// is longer, the input groups or the kernel columns that meet the
    /// input, so each kernel call does as many taps as it can.
    #[inline(always)]
    fn conv_sums<const N: usize>(&self, rows: Span, cols: Span, tile: usize, c0: usize) -> [i64; N] {
        let (k, pof, groups) = (self.ws.k, self.ws.pof, self.ws.in_groups());
        let mut acc = [zero(); N];
        let (x, w) = (self.input, self.data.weights);
        let w_tile = self.ws.block_index(tile, 0) + (c0 - tile * pof) * LANES;
        // `check_buffers` proved the input holds every group of every row
        // and column, and the weights every (tile, group, ky, kx, channel)
        // block; `span` keeps iy, ix inside the input and ky, kx inside the
        // kernel, and c0 + N <= the tile's channels; both slices start on a
        // 16-byte word (`run_layer` checks) and every offset is a whole
        // number of 8-value words. `neon::mac_taps` checks the same again
        // (once per call) before its loads.
        if groups >= cols.count {
            let (x_step, w_step) = (self.ins.dims.w * LANES, self.ws.block_len());
            for r in 0..rows.count {
                let (ky, iy) = (rows.first + r * rows.step, rows.src + r);
                for c in 0..cols.count {
                    let (kx, ix) = (cols.first + c * cols.step, cols.src + c);
                    let xo = self.ins.group_index(0, iy, ix);
                    let wo = w_tile + (ky * k + kx) * pof * LANES;
                    mac_taps::<N, false>(&mut acc, x, xo, x_step, w, wo, w_step, groups);
                }
            }
        } else {
            let w_step = cols.step * pof * LANES;
            for g in 0..groups {
                for r in 0..rows.count {
                    let (ky, iy) = (rows.first + r * rows.step, rows.src + r);
                    let xo = self.ins.group_index(g, iy, cols.src);
                    let wo = w_tile + g * self.ws.block_len() + (ky * k + cols.first) * pof * LANES;
                    mac_taps::<N, false>(&mut acc, x, xo, LANES, w, wo, w_step, cols.count);
                }
            }
        }
        core::array::from_fn(|co| total(acc[co]))
    }

    /// The normaliser's sums `sum_j gamma[j][c] * |x[j]|` for channels
    /// `c0 .. c0 + N` at pixel (`y`, `x`), exact.
    #[inline(always)]
    fn norm_sums<const N: usize>(&self, y: usize, x: usize, tile: usize, c0: usize) -> [i64; N] {
        let pof = self.ws.pof;
        let mut acc = [zero(); N];
        let groups = self.ws.in_groups();
        let x0 = self.ins.group_index(0, y, x);
        let w0 = self.ws.block_index(tile, 0) + (c0 - tile * pof) * LANES;
        // As in `conv_sums`: pixel (y, x) of every input group, and the
        // 1x1 blocks of every group of this tile (consecutive blocks).
        let had_min = mac_taps::<N, true>(&mut acc, self.input, x0, self.ins.dims.w * LANES, self.data.weights, w0, self.ws.block_len(), groups);
        if had_min {
            // |-32768| does not fit a lane: this pixel, exactly, in i64.
            return core::array::from_fn(|co| {
                (0..groups * LANES)
                    .map(|j| {
                        let g = self.data.weights[self.ws.block_index(tile, j / LANES) + (c0 - tile * pof + co) * LANES + j % LANES];
                        g as i64 * (self.input[self.ins.index(j, y, x)] as i64).abs()
                    })
                    .sum()
            });
        }
        core::array::from_fn(|co| total(acc[co]))
    }

    fn conv_block<const N: usize>(&self, oy_span: Span, row: &mut [i16], tile: usize, c0: usize) {
        let params = &self.data.params[c0..c0 + N];
        let lanes = (self.outs.groups() * LANES).min(c0 + N);
        for ox in 0..self.outs.dims.w {
            let cols = span(self.op, ox, self.ws.k, self.ins.dims.w);
            let sums = self.conv_sums::<N>(oy_span, cols, tile, c0);
            for c in c0..lanes {
                row[out_index(&self.outs, ox, c)] = requant_conv(sums[c - c0], &params[c - c0]);
            }
        }
    }

    fn norm_block<const N: usize>(&self, y: usize, row: &mut [i16], tile: usize, c0: usize) {
        let params = &self.data.params[c0..c0 + N];
        let (in_lanes, lanes) = (self.ins.groups() * LANES, (self.outs.groups() * LANES).min(c0 + N));
        let in_row = self.ins.group_index(0, y, 0);
        // The input value of channel c at x (FmShape::index with a
        // constant lane count); 0 beyond the input's channels.
        let xi = |c: usize, x: usize| if c < in_lanes { self.input[in_row + (c / LANES * self.ins.dims.w + x) * LANES + c % LANES] } else { 0 };
        for x in 0..self.outs.dims.w {
            let sums = self.norm_sums::<N>(y, x, tile, c0);
            if self.op == Op::Gdn {
                for c in c0..lanes {
                    let p = &params[c - c0];
                    row[out_index(&self.outs, x, c)] = gdn_out(xi(c, x), p.bias + sums[c - c0], p);
                }
            } else {
                for c in c0..lanes {
                    let p = &params[c - c0];
                    row[out_index(&self.outs, x, c)] = igdn_out(xi(c, x), p.bias + sums[c - c0], p);
                }
            }
        }
    }

    /// Output row `oy` into `row` (one row of the output map).
    fn row(&self, oy: usize, row: &mut [i16]) {
        let pof = self.ws.pof;
        let rows = span(self.op, oy, self.ws.k, self.ins.dims.h);
        for tile in 0..self.ws.out_tiles() {
            // Channels beyond `cout` are 0 by definition: convolutions
            // compute only the real ones (as the reference), normalisers
            // all of the tile (their padding parameters give 0).
            let end = if self.op.is_normaliser() { (tile + 1) * pof } else { self.ws.cout.min((tile + 1) * pof) };
            let mut c0 = tile * pof;
            while c0 < end {
                let n = (end - c0).min(MAX_BLOCK);
                macro_rules! block {
                    ($($n:literal)*) => {
                        match n {
                            $($n => if self.op.is_normaliser() { self.norm_block::<$n>(oy, row, tile, c0) } else { self.conv_block::<$n>(rows, row, tile, c0) },)*
                            _ => unreachable!(),
                        }
                    };
                }
                block!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
                c0 += n;
            }
        }
    }
}

/// Output rows `rows` of one layer into `out` (exactly those rows), on this
/// core: the arguments and the result of `reference::run_layer`, on
/// buffers aligned as in DDR.
pub fn run_layer(spec: &LayerSpec, hw: &HwLimits, in_dims: Dims, input: &[i16], data: LayerData, rows: Range<usize>, out: &mut [i16]) -> Result<(), EngineError> {
    let (ins, outs, ws) = check_buffers(spec, hw, in_dims, input, data, &rows, out).map_err(EngineError::Shape)?;
    for (what, p) in [("input map", input.as_ptr()), ("weights", data.weights.as_ptr())] {
        if p as usize % 16 != 0 {
            return Err(EngineError::Misaligned { what });
        }
    }
    let layer = Layer { op: spec.op, ins, outs, ws, input, data };
    // Channels beyond the tiles' real ones are 0 (the store leaves them).
    out.fill(0);
    for (oy, row) in rows.zip(out.chunks_exact_mut(outs.row_len())) {
        layer.row(oy, row);
    }
    Ok(())
}

/// Every output row of one layer into `out` (the whole output map), on up
/// to `cores` cores.
pub fn run_layer_on_cores(spec: &LayerSpec, hw: &HwLimits, in_dims: Dims, input: &[i16], data: LayerData, out: &mut [i16], cores: usize) -> Result<(), EngineError> {
    let h = xlic_model::geometry::layer_output(spec.op, in_dims).h;
    check_buffers(spec, hw, in_dims, input, data, &(0..h), out).map_err(EngineError::Shape)?;
    let row_len = out.len() / h.max(1);
    // Row by row: a row is thousands to millions of MACs, so the
    // scheduling cost is nothing and uneven rows still balance.
    let failed = smp::SpinLock::new(None);
    smp::for_each_chunk_mut(out, row_len, cores, |oy, row| {
        if let Err(e) = run_layer(spec, hw, in_dims, input, data, oy..oy + 1, row) {
            *failed.lock() = Some(e);
        }
    })
    .map_err(EngineError::Core)?;
    match failed.into_inner() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A model package's parameter records of one layer as values (they are
/// little-endian bytes in DDR).
pub fn params_of(bytes: &[u8]) -> alloc::vec::Vec<ChannelParams> {
    bytes.chunks_exact(xlic_model::quant::CHANNEL_PARAMS_BYTES).map(ChannelParams::from_le_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsp::zcu102::memory::as_i16_mut;
    use alloc::vec;
    use alloc::vec::Vec;
    use xlic_model::{Layer as L, LAYERS};

    const HW: HwLimits = accel_regs::HW_LIMITS;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn i16(&mut self, lim: i32) -> i16 {
            ((self.next() >> 33) as i64 % (2 * lim as i64 + 1) - lim as i64) as i16
        }
        fn below(&mut self, n: u64) -> u64 {
            (self.next() >> 11) % n
        }
    }

    struct Case {
        spec: LayerSpec,
        dims: Dims,
        input: Vec<i16>,
        weights: Vec<i16>,
        params: Vec<ChannelParams>,
    }

    /// A random case of `spec`'s operation with fewer channels: full-range
    /// values (extremes included, where the accumulators are tightest) and
    /// parameters valid for the operation.
    fn case(rng: &mut Rng, base: &LayerSpec, cin: usize, cout: usize, dims: Dims) -> Case {
        let spec = LayerSpec { cin, cout, ..*base };
        let (ins, _, ws) = xlic_model::reference::shapes(&spec, dims, &HW);
        let pick = |rng: &mut Rng| match rng.below(8) {
            0 => i16::MIN,
            1 => i16::MAX,
            2 => -i16::MAX,
            _ => rng.i16(32767),
        };
        let mut input = vec![0i16; ins.len()];
        for y in 0..dims.h {
            for x in 0..dims.w {
                for c in 0..cin {
                    input[ins.index(c, y, x)] = pick(rng);
                }
            }
        }
        let mut weights = vec![0i16; ws.len()];
        for ky in 0..ws.k {
            for kx in 0..ws.k {
                for ci in 0..cin {
                    for co in 0..cout {
                        let w = match rng.below(6) {
                            0 => 32767,
                            1 => -32767,
                            _ => rng.i16(32767),
                        };
                        // Normalisers' gammas are not negative.
                        weights[ws.index(ky, kx, ci, co)] = if base.op.is_normaliser() { w.saturating_abs() } else { w };
                    }
                }
            }
        }
        let params = (0..ws.cout_padded())
            .map(|c| {
                if c >= cout {
                    return if base.op.is_normaliser() { ChannelParams::PAD_NORM } else { ChannelParams::PAD_CONV };
                }
                match base.op {
                    Op::Gdn => ChannelParams { bias: 1 + rng.below(1 << 40) as i64, mult: 1, shift: rng.below(46) as i32 },
                    Op::Igdn => ChannelParams { bias: 1 + rng.below(1 << 40) as i64, mult: 1, shift: 1 + rng.below(62) as i32 },
                    _ => ChannelParams { bias: rng.below(1 << 40) as i64 - (1 << 39), mult: rng.below(1 << 15) as i32, shift: 1 + rng.below(62) as i32 },
                }
            })
            .collect();
        Case { spec, dims, input, weights, params }
    }

    /// The reference on the case's vectors; the engine on copies in DDR
    /// buffers of the arena, aligned as the accelerator's data are.
    fn check(c: &Case, cores: usize) {
        let data = LayerData { weights: &c.weights, params: &c.params };
        let (_, outs, _) = xlic_model::reference::shapes(&c.spec, c.dims, &HW);
        let mut want = vec![0i16; outs.len()];
        xlic_model::reference::run_layer(&c.spec, &HW, c.dims, &c.input, data, 0..outs.dims.h, &mut want).unwrap();
        crate::test_support::with_arena(|arena| {
            let b = arena.buffers();
            let input = &mut as_i16_mut(b.fm_ping)[..c.input.len()];
            input.copy_from_slice(&c.input);
            let weights = &mut as_i16_mut(b.model)[..c.weights.len()];
            weights.copy_from_slice(&c.weights);
            let got = &mut as_i16_mut(b.fm_pong)[..outs.len()];
            got.fill(0x5555);
            run_layer_on_cores(&c.spec, &HW, c.dims, input, LayerData { weights, params: &c.params }, got, cores).unwrap();
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                panic!("{} cin {} cout {} {}x{}: value {i} is {}, the reference says {}", c.spec.name, c.spec.cin, c.spec.cout, c.dims.w, c.dims.h, got[i], want[i]);
            }
        });
    }

    #[test_case]
    fn tap_spans_match_the_tap_definition() {
        for l in LAYERS {
            let k = l.op.kernel();
            for n in [1, 2, 3, 7, 16] {
                for o in 0..xlic_model::geometry::layer_output(l.op, Dims::new(n, n)).w {
                    let s = span(l.op, o, k, n);
                    let taps: Vec<(usize, usize)> = (0..k).filter_map(|t| tap_source(l.op, o, t, n).map(|i| (t, i))).collect();
                    let from_span: Vec<(usize, usize)> = (0..s.count).map(|j| (s.first + j * s.step, s.src + j)).collect();
                    assert_eq!(taps, from_span, "{} o {o} n {n}", l.name);
                }
            }
        }
    }

    #[test_case]
    fn random_small_shapes_of_every_layer_type_match_the_reference() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        // Each layer type (conv 9x9/4, conv 5x5/2, tconv 5x5/2, tconv 9x9/4,
        // GDN, IGDN), channel counts off the lane and pof multiples, sizes
        // with edges on every side; on 1 core and on 4.
        for (i, base) in LAYERS.iter().enumerate() {
            for round in 0..3 {
                let pick = |list: [usize; 4]| list[(i + round) % 4];
                let (cin, cout) = match base.op {
                    Op::Gdn | Op::Igdn => (pick([8, 13, 24, 16]), 0),
                    _ if base.cin == 3 => (3, pick([16, 21, 5, 128])),
                    _ => (pick([3, 8, 13, 24]), pick([3, 16, 21, 5])),
                };
                let cout = if base.op.is_normaliser() { cin } else { cout };
                let dims = Dims::new(1 + rng.below(9) as usize, 1 + rng.below(11) as usize);
                let c = case(&mut rng, base, cin, cout, dims);
                check(&c, 1 + round % smp::NUM_CORES);
            }
        }
    }

    /// Every real layer's channel counts, on a tiny map.
    #[test_case]
    fn the_real_layer_shapes_match_the_reference() {
        let mut rng = Rng(0x0bad_cafe_f00d_0001);
        for l in L::ALL {
            let base = l.spec();
            let dims = Dims::new(3, 5);
            let c = case(&mut rng, base, base.cin, base.cout, dims);
            check(&c, smp::NUM_CORES);
        }
    }

    #[test_case]
    fn a_bad_buffer_is_refused_as_the_reference_refuses_it() {
        let mut rng = Rng(7);
        let c = case(&mut rng, &LAYERS[1], 8, 16, Dims::new(4, 4));
        let data = LayerData { weights: &c.weights, params: &c.params };
        let mut out = vec![0i16; 3];
        let r = run_layer_on_cores(&c.spec, &HW, c.dims, &c.input, data, &mut out, 4);
        assert!(matches!(r, Err(EngineError::Shape(ShapeError::Output { .. }))), "{r:?}");
        // Right sizes, but the input map one value off its 16-byte word.
        crate::test_support::with_arena(|arena| {
            let b = arena.buffers();
            let input = &mut as_i16_mut(b.fm_ping)[1..c.input.len() + 1];
            input.copy_from_slice(&c.input);
            let (_, outs, _) = xlic_model::reference::shapes(&c.spec, c.dims, &HW);
            let out = &mut as_i16_mut(b.fm_pong)[..outs.len()];
            let r = run_layer_on_cores(&c.spec, &HW, c.dims, input, data, out, 4);
            assert!(matches!(r, Err(EngineError::Misaligned { what: "input map" })), "{r:?}");
        });
    }
}
