//! How the accelerator's data sit in DDR, and how a layer is cut into tiles.
//!
//! Everything is little-endian, INT16 unless said otherwise, and grouped in
//! `lanes` channels (one bus word: 8 x INT16 = 128 bits).
//!
//! **Feature map** `C x H x W`: `[y][C/lanes][x][lanes]`, channels padded
//! with zeros to a multiple of `lanes`. A row of one channel group is one
//! burst of `W * lanes` values, and a band of rows is contiguous (which is
//! what the row tiles of the accelerator read, and what lets the host
//! reference split the work by rows).
//!
//! **Weights** `K x K x Cin x Cout` (conv, and the stored rotated kernel of a
//! transposed conv): `[Cout/pof][Cin/lanes][ky][kx][pof][lanes]`, padded with
//! zeros to multiples of `pof` and `lanes`: one output-channel tile's
//! weights for one input group are a single burst, read in the order the
//! kernel uses them. A GDN/IGDN gamma matrix is stored the same way as a
//! 1 x 1 kernel (`gamma[j][i]` is input j, output i).
//!
//! **Per-channel table**: `Cout` padded to `pof` records of
//! [`ChannelParams`](crate::quant::ChannelParams).
use crate::geometry::Dims;
use crate::layer::LayerSpec;

/// What the hardware was built for. The values come from the HLS config
/// header through the generated `accel-regs` crate; the model package
/// records them and the firmware refuses a package built for others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwLimits {
    /// INT16 values per bus word (the input-channel parallelism Pif).
    pub lanes: usize,
    /// Output channels computed in parallel (Pof).
    pub pof: usize,
    /// Largest channel count of any layer.
    pub max_channels: usize,
    /// Largest kernel side.
    pub max_kernel: usize,
    /// Largest image side (bounded by the accelerator's line buffers).
    pub max_side: usize,
    /// Output rows per tile.
    pub tile_rows: usize,
    /// Output columns per tile.
    pub tile_cols: usize,
    /// Largest stride (sizes the input tile buffer with `max_kernel`). It
    /// shapes nothing in DDR, so the model package does not record it.
    pub max_stride: usize,
    /// Output pixels computed in parallel (Pox): the step in which column
    /// tiles are trimmed. Like `max_stride`, not recorded in packages.
    pub pox: usize,
}

impl HwLimits {
    /// A configuration for this crate's own tests. Real values come from
    /// hls/xlic_config.h through `accel_regs::limits`.
    #[cfg(test)]
    pub(crate) const TEST: HwLimits =
        HwLimits { lanes: 8, pof: 16, max_channels: 128, max_kernel: 9, max_side: 4096, tile_rows: 16, tile_cols: 96, max_stride: 4, pox: 12 };
}

/// `c` rounded up to a multiple of `m`.
pub const fn round_up(c: usize, m: usize) -> usize {
    c.div_ceil(m) * m
}

/// Shape of a feature map in DDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FmShape {
    pub channels: usize,
    pub dims: Dims,
    pub lanes: usize,
}

impl FmShape {
    pub const fn new(channels: usize, dims: Dims, lanes: usize) -> Self {
        FmShape { channels, dims, lanes }
    }
    pub const fn groups(&self) -> usize {
        self.channels.div_ceil(self.lanes)
    }
    /// INT16 values in one row (all channel groups).
    pub const fn row_len(&self) -> usize {
        self.groups() * self.dims.w * self.lanes
    }
    /// INT16 values in the whole map.
    pub const fn len(&self) -> usize {
        self.row_len() * self.dims.h
    }
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub const fn bytes(&self) -> usize {
        self.len() * 2
    }
    /// Index of channel c at (y, x).
    #[inline(always)]
    pub const fn index(&self, c: usize, y: usize, x: usize) -> usize {
        ((y * self.groups() + c / self.lanes) * self.dims.w + x) * self.lanes + c % self.lanes
    }
    /// Index of the first lane of group g at (y, x).
    #[inline(always)]
    pub const fn group_index(&self, g: usize, y: usize, x: usize) -> usize {
        ((y * self.groups() + g) * self.dims.w + x) * self.lanes
    }
}

/// Shape of a layer's weights (or of a normaliser's gamma) in DDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightShape {
    pub k: usize,
    pub cin: usize,
    pub cout: usize,
    pub lanes: usize,
    pub pof: usize,
}

impl WeightShape {
    pub const fn of(spec: &LayerSpec, hw: &HwLimits) -> Self {
        WeightShape { k: spec.op.kernel(), cin: spec.cin, cout: spec.cout, lanes: hw.lanes, pof: hw.pof }
    }
    pub const fn in_groups(&self) -> usize {
        self.cin.div_ceil(self.lanes)
    }
    pub const fn out_tiles(&self) -> usize {
        self.cout.div_ceil(self.pof)
    }
    /// Output channels including padding.
    pub const fn cout_padded(&self) -> usize {
        self.out_tiles() * self.pof
    }
    pub const fn cin_padded(&self) -> usize {
        self.in_groups() * self.lanes
    }
    /// INT16 values of one (output tile, input group) block: K*K*pof*lanes.
    pub const fn block_len(&self) -> usize {
        self.k * self.k * self.pof * self.lanes
    }
    pub const fn len(&self) -> usize {
        self.out_tiles() * self.in_groups() * self.block_len()
    }
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index of the first value of block (output tile t, input group g).
    #[inline(always)]
    pub const fn block_index(&self, t: usize, g: usize) -> usize {
        (t * self.in_groups() + g) * self.block_len()
    }
    /// Index of W[ky][kx][ci][co].
    #[inline(always)]
    pub const fn index(&self, ky: usize, kx: usize, ci: usize, co: usize) -> usize {
        self.block_index(co / self.pof, ci / self.lanes)
            + ((ky * self.k + kx) * self.pof + co % self.pof) * self.lanes
            + ci % self.lanes
    }
}

/// A transposed convolution with few output channels, computed the way
/// the accelerator does it: as a stride-1 convolution over its *input*
/// grid whose output channels are the `stride x stride` output phases of
/// every real channel (channel `(py * s + px) * cout + c` of grid pixel
/// (m, n) is output pixel (s m + py, s n + px), channel c). Output row
/// `s m + py` reads input rows `m + (py + ky - P) / s` for the taps with
/// `py + ky - P` divisible by s, so every phase's taps lie in the same
/// window of input offsets `first ..= first + taps - 1`; a phase with
/// fewer taps gets zero weights in the rest of the window.
///
/// syn_2 (9x9 / 4, 3 channels) otherwise fills 3 of the 16 output lanes
/// for 81 taps; folded it fills 48 lanes (3 passes) for 9 taps: a third
/// of the MAC cycles. Layers with many channels (syn_0, syn_1) keep the
/// phase-by-phase schedule, which never multiplies by a padding zero.
/// The weights stay in the layout above; the accelerator rearranges each
/// block on chip as it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseFold {
    pub stride: usize,
    /// Taps per side of the equivalent convolution.
    pub taps: usize,
    /// Input offset of its first tap (negative: above/left of the pixel).
    pub first: isize,
    /// Folded output channels: stride^2 x cout.
    pub channels: usize,
}

impl PhaseFold {
    /// The rule (hls/xlic_layer.cpp states it the same way): fold a
    /// transposed convolution when the folded channels fit the
    /// accumulator, the folded weights fit the weight buffer, and it takes
    /// fewer MAC cycles per grid pixel (taps^2 x folded pof tiles) than
    /// the phase-by-phase schedule (k^2 x pof tiles).
    pub fn of(spec: &LayerSpec, hw: &HwLimits) -> Option<PhaseFold> {
        let crate::Op::TConv { k, stride: s } = spec.op else { return None };
        let pad = k / 2;
        // Input offsets (py + ky - P) / s over the divisible cases.
        let first = -((pad / s) as isize);
        let last = ((s + k - 2) as isize - pad as isize).div_euclid(s as isize);
        let taps = (last - first + 1) as usize;
        let channels = s * s * spec.cout;
        let folded_tiles = channels.div_ceil(hw.pof);
        let fits = s > 1 && channels <= hw.max_channels && folded_tiles * taps * taps <= hw.max_kernel * hw.max_kernel;
        let cheaper = taps * taps * folded_tiles < k * k * spec.cout.div_ceil(hw.pof);
        (fits && cheaper).then_some(PhaseFold { stride: s, taps, first, channels })
    }

    /// Which folded channel holds output phase (py, px) of channel `c`.
    pub const fn channel(&self, cout: usize, py: usize, px: usize, c: usize) -> usize {
        (py * self.stride + px) * cout + c
    }
}

/// How the accelerator (hls/xlic_layer.cpp) cuts one layer into tiles:
/// rows x columns of its *grid* (the output map, or for a folded
/// transposed convolution its input map, see [`PhaseFold`]) x
/// output-channel passes, each accumulating over every input-channel group.
///
/// Tiles are full height (edge tiles compute rows beyond the map and do
/// not store them). The last column tile is only as wide as the map needs,
/// rounded up to whole pixel vectors (`pox`, times the stride for a
/// transposed convolution's phases): the maps of a 2048-wide image are
/// 512, 256 and 128 pixels wide, which 96-column tiles would pad by 12-50%.
///
/// A layer with few output channels (syn_2, 48 folded channels) would
/// leave most of the accumulators idle and reload its weights for every
/// small tile; instead its tile is `bands` times taller, the extra rows
/// held in the unused channel slots, as long as the input rows still fit
/// the input tile buffer. (GDN/IGDN keep one band: their saved inputs are
/// sized for one.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Grid rows per tile: `hw.tile_rows * bands`.
    pub tile_rows: usize,
    pub bands: usize,
    /// Grid columns of a full tile.
    pub tile_cols: usize,
    /// Grid columns of the last column tile.
    pub last_tile_cols: usize,
    pub row_tiles: usize,
    pub col_tiles: usize,
    /// Passes of `pof` output channels per input group.
    pub out_tiles: usize,
    pub in_groups: usize,
    /// Input rows one row tile reads (with the kernel's halo).
    pub in_tile_rows: usize,
    /// Input columns one full column tile reads (with the kernel's halo).
    pub in_tile_cols: usize,
    pub fold: Option<PhaseFold>,
}

impl Tiling {
    /// Input rows (or columns) `t` grid rows (columns) of this layer read,
    /// with the kernel's halo.
    pub fn input_extent(spec: &LayerSpec, fold: Option<PhaseFold>, t: usize) -> usize {
        let (k, s) = (spec.op.kernel(), spec.op.stride());
        if let Some(f) = fold {
            return t + f.taps - 1;
        }
        match spec.op {
            crate::Op::Conv { .. } => (t - 1) * s + k,
            // Output rows n..n+t read input rows (n - P)/s .. (n + t - 1 + P)/s.
            crate::Op::TConv { .. } => (t - 1 + 2 * spec.op.pad()) / s + 2,
            _ => t,
        }
    }

    /// Column tiles are trimmed in steps of this many grid columns: whole
    /// `pox` vectors, per phase for a transposed convolution.
    pub fn column_step(spec: &LayerSpec, fold: Option<PhaseFold>, pox: usize) -> usize {
        match (spec.op, fold) {
            (crate::Op::TConv { stride, .. }, None) => pox * stride,
            _ => pox,
        }
    }

    pub fn of(spec: &LayerSpec, out: Dims, hw: &HwLimits) -> Tiling {
        let fold = PhaseFold::of(spec, hw);
        let scale = fold.map_or(1, |f| f.stride);
        let grid = Dims::new(out.h / scale, out.w / scale);
        let tc = hw.tile_cols;
        let in_buffer_rows = (hw.tile_rows - 1) * hw.max_stride + hw.max_kernel;
        let channels = fold.map_or(spec.cout, |f| f.channels);
        let out_tiles = channels.div_ceil(hw.pof);
        let mut bands = if spec.op.is_normaliser() { 1 } else { (hw.max_channels / (out_tiles * hw.pof)).max(1) };
        while bands > 1 && Self::input_extent(spec, fold, hw.tile_rows * bands) > in_buffer_rows {
            bands -= 1;
        }
        let tr = hw.tile_rows * bands;
        let col_tiles = grid.w.div_ceil(tc);
        let rest = grid.w - (col_tiles - 1) * tc;
        Tiling {
            tile_rows: tr,
            bands,
            tile_cols: tc,
            last_tile_cols: round_up(rest, Self::column_step(spec, fold, hw.pox)).min(tc),
            row_tiles: grid.h.div_ceil(tr),
            col_tiles,
            out_tiles,
            in_groups: spec.cin.div_ceil(hw.lanes),
            in_tile_rows: Self::input_extent(spec, fold, tr),
            in_tile_cols: Self::input_extent(spec, fold, tc),
            fold,
        }
    }

    /// Grid columns of column tile `j`.
    pub fn cols_of(&self, j: usize) -> usize {
        if j + 1 == self.col_tiles { self.last_tile_cols } else { self.tile_cols }
    }

    /// Output pixels per grid pixel along each side.
    pub fn scale(&self) -> usize {
        self.fold.map_or(1, |f| f.stride)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LAYERS;

    #[test]
    fn feature_map_index_is_a_bijection_onto_the_padded_map() {
        let s = FmShape::new(11, Dims::new(3, 5), 8);
        let mut seen = [false; 2 * 3 * 5 * 8];
        for y in 0..3 {
            for c in 0..16 {
                for x in 0..5 {
                    let i = s.index(c, y, x);
                    assert!(!seen[i]);
                    seen[i] = true;
                }
            }
        }
        assert!(seen.iter().all(|&v| v));
        assert_eq!(s.len(), seen.len());
        // A row is contiguous across groups.
        assert_eq!(s.index(0, 1, 0), s.row_len());
    }

    #[test]
    fn weight_index_is_a_bijection_onto_the_padded_kernel() {
        let w = WeightShape { k: 3, cin: 10, cout: 20, lanes: 8, pof: 16 };
        let mut seen = vec_of(w.len());
        for ky in 0..3 {
            for kx in 0..3 {
                for ci in 0..w.cin_padded() {
                    for co in 0..w.cout_padded() {
                        let i = w.index(ky, kx, ci, co);
                        assert!(!seen[i], "twice: {ky} {kx} {ci} {co}");
                        seen[i] = true;
                    }
                }
            }
        }
        assert!(seen.iter().all(|&v| v));
    }

    fn vec_of(n: usize) -> std::vec::Vec<bool> {
        std::vec![false; n]
    }

    #[test]
    fn tiles_cover_every_output() {
        let hw = HwLimits::TEST;
        let g = crate::Geometry::new(451, 300, crate::PadMode::Zero, 4096).unwrap();
        for (i, l) in LAYERS.iter().enumerate() {
            let t = Tiling::of(l, g.outputs[i], &hw);
            let grid = Dims::new(g.outputs[i].h / t.scale(), g.outputs[i].w / t.scale());
            assert_eq!(grid.h * t.scale(), g.outputs[i].h);
            assert!(t.row_tiles * t.tile_rows >= grid.h && (t.row_tiles - 1) * t.tile_rows < grid.h);
            // The trimmed last column tile still covers the map, in whole
            // pixel vectors (per phase), and is not wider than a full one.
            let covered: usize = (0..t.col_tiles).map(|j| t.cols_of(j)).sum();
            assert!(covered >= grid.w && covered - grid.w < Tiling::column_step(l, t.fold, hw.pox), "{}", l.name);
            assert!(t.last_tile_cols <= t.tile_cols && t.last_tile_cols % Tiling::column_step(l, t.fold, hw.pox) == 0);
            assert!(t.in_tile_rows <= (hw.tile_rows - 1) * hw.max_stride + hw.max_kernel);
            let planes = if matches!(l.op, crate::Op::Conv { .. }) { l.op.stride() } else { 1 };
            assert!(Tiling::input_extent(l, t.fold, t.tile_cols).div_ceil(planes) <= hw.tile_cols + hw.max_kernel, "fits a column plane");
            assert!(t.bands * t.out_tiles * hw.pof <= hw.max_channels || t.bands == 1, "extra rows fit the accumulator's channel slots");
        }
        // Only syn_2 (3 channels) folds: 16 phases x 3 channels in 3 passes
        // of a 3x3 convolution over its input, two bands tall.
        let syn2 = Tiling::of(&LAYERS[9], g.outputs[9], &hw);
        assert_eq!(syn2.fold, Some(PhaseFold { stride: 4, taps: 3, first: -1, channels: 48 }));
        assert_eq!((syn2.out_tiles, syn2.bands, syn2.tile_rows), (3, 2, 32));
        assert!(LAYERS[..9].iter().enumerate().all(|(i, l)| {
            let t = Tiling::of(l, g.outputs[i], &hw);
            t.bands == 1 && t.fold.is_none()
        }));
    }

    /// The fold's tap window and channel map, checked against the
    /// definition of a transposed convolution (geometry::tap_source): every
    /// (output pixel, stored tap) pair that reads an input pixel lands on
    /// exactly one folded (channel, tap), at the same input pixel.
    #[test]
    fn phase_fold_reads_what_the_transposed_convolution_reads() {
        use crate::geometry::tap_source;
        for (k, s, cout) in [(9, 4, 3), (5, 2, 5), (3, 2, 8), (3, 4, 1), (3, 4, 2)] {
            let spec = LayerSpec { op: crate::Op::TConv { k, stride: s }, cout, cin: 8, ..LAYERS[9] };
            let f = PhaseFold::of(&spec, &HwLimits::TEST).unwrap_or_else(|| panic!("k{k} s{s} c{cout} folds"));
            // An interior grid pixel m: its s output rows read, through the
            // k stored taps, input rows inside the fold's window, each
            // (phase, window tap) exactly once per stored tap.
            let (n, m) = (9, 4);
            let mut used = std::vec![0u32; s * f.taps];
            for p in 0..s {
                for t in 0..k {
                    if let Some(i) = tap_source(spec.op, m * s + p, t, n) {
                        let ty = i as isize - m as isize - f.first;
                        assert!((0..f.taps as isize).contains(&ty), "k{k} s{s}: tap {t} of phase {p} outside the window");
                        used[p * f.taps + ty as usize] += 1;
                    }
                }
            }
            assert!(used.iter().all(|&u| u <= 1), "k{k} s{s}: two taps share a folded slot");
            assert_eq!(used.iter().sum::<u32>() as usize, k, "k{k} s{s}: every stored tap serves one phase");
            assert_eq!(f.channel(cout, s - 1, s - 1, cout - 1), f.channels - 1);
        }
        // Wide transposed convolutions keep the phase-by-phase schedule.
        assert_eq!(PhaseFold::of(&LAYERS[5], &HwLimits::TEST), None);
        assert_eq!(PhaseFold::of(&LAYERS[7], &HwLimits::TEST), None);
    }
}
