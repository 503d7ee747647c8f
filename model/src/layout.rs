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
}

impl HwLimits {
    /// A configuration for this crate's own tests. Real values come from
    /// hls/xlic_config.h through `accel_regs::limits`.
    #[cfg(test)]
    pub(crate) const TEST: HwLimits =
        HwLimits { lanes: 8, pof: 16, max_channels: 128, max_kernel: 9, max_side: 4096, tile_rows: 16, tile_cols: 96, max_stride: 4 };
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

/// How the accelerator (hls/xlic_layer.cpp) cuts one layer into tiles:
/// output rows x output columns x output-channel tiles, each accumulating
/// over every input-channel group. Tiles are always full-size (edge tiles
/// compute outputs beyond the map and do not store them), as in the kernel.
///
/// A layer with few output channels (syn_2: 3, padded to one pof tile)
/// would leave most of the on-chip accumulators idle and reload its whole
/// weight set for every small tile; instead its tile is `bands` times
/// taller, the extra rows held in the unused channel slots, as long as the
/// input rows still fit the input tile buffer. (GDN/IGDN keep one band:
/// their saved inputs are sized for one.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Output rows per tile: `hw.tile_rows * bands`.
    pub tile_rows: usize,
    pub bands: usize,
    pub tile_cols: usize,
    pub row_tiles: usize,
    pub col_tiles: usize,
    pub out_tiles: usize,
    pub in_groups: usize,
    /// Input rows one row tile reads (with the kernel's halo).
    pub in_tile_rows: usize,
    /// Input columns one column tile reads (with the kernel's halo).
    pub in_tile_cols: usize,
}

impl Tiling {
    /// Input rows (or columns) `t` output rows (columns) of this layer read,
    /// with the kernel's halo.
    pub fn input_extent(spec: &LayerSpec, t: usize) -> usize {
        let (k, s) = (spec.op.kernel(), spec.op.stride());
        match spec.op {
            crate::Op::Conv { .. } => (t - 1) * s + k,
            // Output rows n..n+t read input rows (n - P)/s .. (n + t - 1 + P)/s.
            crate::Op::TConv { .. } => (t - 1 + 2 * spec.op.pad()) / s + 2,
            _ => t,
        }
    }

    pub fn of(spec: &LayerSpec, out: Dims, hw: &HwLimits) -> Tiling {
        let tc = hw.tile_cols;
        let in_buffer_rows = (hw.tile_rows - 1) * hw.max_stride + hw.max_kernel;
        let cout_padded = spec.cout.div_ceil(hw.pof) * hw.pof;
        let mut bands = if spec.op.is_normaliser() { 1 } else { (hw.max_channels / cout_padded).max(1) };
        while bands > 1 && Self::input_extent(spec, hw.tile_rows * bands) > in_buffer_rows {
            bands -= 1;
        }
        let tr = hw.tile_rows * bands;
        Tiling {
            tile_rows: tr,
            bands,
            tile_cols: tc,
            row_tiles: out.h.div_ceil(tr),
            col_tiles: out.w.div_ceil(tc),
            out_tiles: spec.cout.div_ceil(hw.pof),
            in_groups: spec.cin.div_ceil(hw.lanes),
            in_tile_rows: Self::input_extent(spec, tr),
            in_tile_cols: Self::input_extent(spec, tc),
        }
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
        let g = crate::Geometry::new(451, 300, crate::PadMode::Zero, 4096).unwrap();
        for (i, l) in LAYERS.iter().enumerate() {
            let t = Tiling::of(l, g.outputs[i], &HwLimits::TEST);
            assert!(t.row_tiles * t.tile_rows >= g.outputs[i].h);
            assert!(t.col_tiles * t.tile_cols >= g.outputs[i].w);
            assert!((t.row_tiles - 1) * t.tile_rows < g.outputs[i].h);
            assert!(t.in_tile_rows <= (HwLimits::TEST.tile_rows - 1) * HwLimits::TEST.max_stride + HwLimits::TEST.max_kernel);
            assert!(t.bands * l.cout.div_ceil(16) * 16 <= 128 || t.bands == 1, "extra rows fit the accumulator's channel slots");
        }
        // Only syn_2 (3 channels) has room for taller tiles.
        let syn2 = Tiling::of(&LAYERS[9], g.outputs[9], &HwLimits::TEST);
        assert_eq!((syn2.bands, syn2.tile_rows), (8, 128));
        assert!(LAYERS[..9].iter().enumerate().all(|(i, l)| Tiling::of(l, g.outputs[i], &HwLimits::TEST).bands == 1));
    }
}
