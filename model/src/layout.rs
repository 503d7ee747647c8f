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
/// header (hls/xlic_config.h) through the generated `accel-regs` crate;
/// the model package records those that shape data in DDR and the
/// firmware refuses a package built for others. Every factor of the
/// accelerator is here, so the tiling, performance and resource models
/// are functions of this struct (and of the device) alone.
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
    /// Grid rows of one accumulator band (a tile is one or more bands).
    /// With `tile_cols`, it sizes the accumulators only: tiles are run-time
    /// registers, so the model package does not record either.
    pub tile_rows: usize,
    /// Grid columns of a full tile.
    pub tile_cols: usize,
    /// Largest stride (sizes the input tile buffer with `max_kernel`). It
    /// shapes nothing in DDR, so the model package does not record it.
    pub max_stride: usize,
    /// Output pixels computed in parallel (Pox): the step in which column
    /// tiles are trimmed. Like `max_stride`, not recorded in packages.
    pub pox: usize,
    /// Output lanes the output engine finishes per cycle (one instance of
    /// each output rule per lane): `pof / out_lanes` cycles per output
    /// pixel. Shapes nothing in DDR; not recorded in packages.
    pub out_lanes: usize,
    /// Words per bank of the input tile buffer, for each row parity (the
    /// two input ports fill even and odd input rows).
    pub in_depth: usize,
    /// Fewest pixel vectors a MAC pass walks per tap: the accumulators'
    /// read-add-write distance (shorter passes are padded with idle
    /// vectors; the kernel's DEPENDENCE pragma states the same number).
    pub acc_distance: usize,
    /// AXI4 outstanding transactions and burst length (words) of every
    /// m_axi port in its working direction.
    pub axi_outstanding: usize,
    pub axi_burst: usize,
    /// The accumulators, and the saved GDN/IGDN inputs, in UltraRAM
    /// (`RAM_S2P_URAM`) instead of block RAM: for devices that have it.
    pub acc_uram: bool,
    pub xkeep_uram: bool,
}

impl HwLimits {
    /// A configuration for this crate's own tests. Real values come from
    /// hls/xlic_config.h through `accel_regs::limits`.
    #[cfg(test)]
    pub(crate) const TEST: HwLimits = HwLimits {
        lanes: 8,
        pof: 16,
        max_channels: 128,
        max_kernel: 9,
        max_side: 4096,
        tile_rows: 8,
        tile_cols: 128,
        max_stride: 4,
        pox: 16,
        out_lanes: 16,
        in_depth: 512,
        acc_distance: 8,
        axi_outstanding: 4,
        axi_burst: 64,
        acc_uram: false,
        xkeep_uram: false,
    };

    /// Pixel vectors of one accumulator slot (one band of a full tile).
    pub const fn acc_vectors(&self) -> usize {
        self.tile_rows * self.tile_cols / self.pox
    }
    /// Accumulator slots: `pof` output channels each.
    pub const fn acc_slots(&self) -> usize {
        self.max_channels / self.pof
    }
    /// Words per accumulator bank (vectors x slots).
    pub const fn acc_depth(&self) -> usize {
        self.acc_vectors() * self.acc_slots()
    }
    /// Entries of a pass's weight buffer (the largest kernel's taps).
    pub const fn max_taps(&self) -> usize {
        self.max_kernel * self.max_kernel
    }

    /// The configuration word the kernel returns in its status (bits 31..4
    /// of `ap_return`; XLIC_CONFIG_ID in hls/xlic_layer.h, which the
    /// C-simulation checks against this): log2 of pof, pox, tile rows,
    /// tile columns, input depth and output lanes in 3, 3, 4, 4, 4 and 3
    /// bits, then a 6-bit check of the other values that shape what the
    /// firmware plans (28 bits in all).
    pub fn config_id(&self) -> u32 {
        let log2 = |v: usize| if v == 0 { 0 } else { v.ilog2().min(15) };
        let check = (self.lanes * 7 + self.max_channels * 5 + self.max_kernel * 3 + self.max_stride * 11 + log2(self.max_side) as usize * 13 + self.acc_distance) & 63;
        log2(self.pof)
            | log2(self.pox) << 3
            | log2(self.tile_rows) << 6
            | log2(self.tile_cols) << 10
            | log2(self.in_depth) << 14
            | log2(self.out_lanes) << 18
            | (check as u32) << 21
    }

    /// Whether the kernel (hls/xlic_layer.cpp) can be built with these
    /// values; the first rule they break otherwise. The design-space
    /// explorer only proposes configurations that pass.
    pub fn check(&self) -> Result<(), HwLimitsError> {
        use HwLimitsError::*;
        let pow2 = |v: usize| v.is_power_of_two();
        if self.lanes != 8 {
            return Err(Lanes);
        }
        if self.pof != 8 && self.pof != 16 {
            return Err(Pof);
        }
        if !pow2(self.pox) || self.pox < 2 || self.pox > 32 {
            return Err(Pox);
        }
        if !pow2(self.out_lanes) || self.out_lanes < 2 || self.out_lanes > self.pof {
            return Err(OutLanes);
        }
        if !pow2(self.tile_rows) || !pow2(self.tile_cols) || self.tile_cols < self.pox || self.tile_cols % self.max_stride != 0 {
            return Err(Tiles);
        }
        if !pow2(self.in_depth) || self.in_depth < 64 || self.in_depth > 16384 {
            return Err(InDepth);
        }
        if self.acc_vectors() < self.acc_distance || !pow2(self.acc_depth()) {
            return Err(Accumulators);
        }
        if self.max_channels % self.pof != 0 || !pow2(self.acc_slots()) {
            return Err(AccSlots);
        }
        if !pow2(self.axi_outstanding) || self.axi_outstanding > 32 || !pow2(self.axi_burst) || self.axi_burst < 2 || self.axi_burst > 256 {
            return Err(Axi);
        }
        Ok(())
    }
}

/// The rule of [`HwLimits::check`] a configuration breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwLimitsError {
    Lanes,
    Pof,
    Pox,
    OutLanes,
    Tiles,
    InDepth,
    Accumulators,
    AccSlots,
    Axi,
}

impl core::fmt::Display for HwLimitsError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        use HwLimitsError::*;
        f.write_str(match self {
            Lanes => "lanes must be 8: a bus word is 128 bits (the HP ports' width), 8 x INT16",
            Pof => "pof must be 8 or 16: the output engine writes pof / lanes words per pixel on two write ports",
            Pox => "pox must be a power of two from 2 to 32 (pixel pairs share an accumulator word)",
            OutLanes => "out_lanes must be a power of two from 2 to pof (the output engine takes pof / out_lanes cycles per pixel)",
            Tiles => "tile rows and columns must be powers of two, columns a multiple of pox and of the largest stride",
            InDepth => "the input buffer depth must be a power of two from 64 to 16384 words",
            Accumulators => "the accumulators must hold at least the dependence distance in vectors, a power of two in all",
            AccSlots => "max_channels must be a multiple of pof, and max_channels / pof a power of two",
            Axi => "m_axi outstanding (1..32) and burst length (2..256) must be powers of two",
        })?;
        f.write_str("; change hls/xlic_config.h (`cargo xtask dse` proposes configurations that pass)")
    }
}

impl core::error::Error for HwLimitsError {}

/// What a configuration word (`HwLimits::config_id`) says, for messages:
/// pof, pox, tile rows, tile columns, input depth, output lanes, and the
/// check of the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigId(pub u32);

impl core::fmt::Display for ConfigId {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        let v = self.0;
        let p = |shift: u32, bits: u32| 1u32 << ((v >> shift) & ((1 << bits) - 1));
        write!(
            f,
            "pof {}, pox {}, {}x{} accumulator tiles, input depth {}, {} output lanes (other limits: check {})",
            p(0, 3),
            p(3, 3),
            p(6, 4),
            p(10, 4),
            p(14, 4),
            p(18, 3),
            (v >> 21) & 63
        )
    }
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

/// How a layer's MAC passes walk their grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileKind {
    /// A convolution (or a folded transposed convolution) over the grid.
    Conv,
    /// A transposed convolution phase by phase: the outputs of phase
    /// (py, px) only meet the taps with ky = P - py (mod s).
    Phases,
    /// GDN / IGDN: a 1x1 pass over |x| with gamma; the input groups are the
    /// pass's taps, all loaded in one step.
    Pointwise,
}

/// The tile of one layer, as the firmware writes it to the accelerator's
/// tile registers (`band_rows`, `bands`, `tile_cols`, `unit_passes`):
/// everything else of a [`Tiling`] follows from it. Chosen per layer
/// within the buffers the hardware was built with ([`TileNeeds::fits`]):
/// by a fixed rule ([`Tiling::of`]) or by the performance model
/// (`perf::plan`, what the firmware does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileChoice {
    /// Grid rows of one accumulator band (a power of two; a transposed
    /// convolution computed phase by phase: at least its stride).
    pub band_rows: usize,
    /// Bands of a tile (a power of two; GDN/IGDN: 1).
    pub bands: usize,
    /// Grid columns of a tile: a power-of-two multiple of the column step
    /// ([`Tiling::column_step`]), or the whole map in one column tile.
    pub tile_cols: usize,
    /// Output passes (`pof` channels each) of a unit: a power of two or
    /// all of them (folded and GDN/IGDN layers: all of them).
    pub passes: usize,
}

/// What a [`TileChoice`] needs of the hardware's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TileNeeds {
    /// Pixel vectors of one accumulator slot (one band of a tile).
    pub vectors: usize,
    /// Accumulator slots: bands x passes.
    pub slots: usize,
    /// Input-buffer words per bank and row parity.
    pub in_words: usize,
    /// GDN/IGDN: saved-input words per bank (vectors x input groups).
    pub keep_words: usize,
}

impl TileNeeds {
    /// Whether a kernel built with `hw` holds this tile.
    pub fn fits(&self, hw: &HwLimits) -> bool {
        self.vectors <= hw.acc_vectors() && self.slots <= hw.acc_slots() && self.in_words <= hw.in_depth && self.keep_words <= hw.acc_depth()
    }
}

/// Why a layer cannot be tiled as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilingError {
    /// The tile values break a rule of the kernel's schedule.
    Invalid { layer: &'static str, what: &'static str },
    /// They are valid but need more than the buffers hold.
    TooBig { layer: &'static str, choice: TileChoice, needs: TileNeeds },
    /// No tile of this layer fits the buffers at all.
    NoFit { layer: &'static str },
}

impl core::fmt::Display for TilingError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            TilingError::Invalid { layer, what } => write!(f, "{layer}: invalid tile: {what}"),
            TilingError::TooBig { layer, choice: c, needs: n } => write!(
                f,
                "{layer}: a tile of {} x {} rows by {} columns, {} passes needs {} vectors per slot, {} slots, {} input words per bank and {} saved-input words: more than the accelerator's buffers hold",
                c.bands, c.band_rows, c.tile_cols, c.passes, n.vectors, n.slots, n.in_words, n.keep_words
            ),
            TilingError::NoFit { layer } => {
                write!(f, "{layer}: no tile fits this accelerator's buffers (input tile, accumulators): build it with larger ones")
            }
        }
    }
}

impl core::error::Error for TilingError {}

/// How the accelerator (hls/xlic_layer.cpp) cuts one layer into tiles, for
/// one [`TileChoice`]; the kernel derives the same counts from its tile
/// registers and the C-simulation checks the loop counts the performance
/// model derives from them.
///
/// A tile is `tile_rows x tile_cols` pixels of the layer's *grid* (the
/// output map, or for a folded transposed convolution its input map, see
/// [`PhaseFold`]), held in the accumulators as `bands` bands of
/// `band_rows` rows: band b of the tile uses the accumulator slots
/// `b * passes_per_unit ..` (a slot is `pof` channels of `acc_vectors`
/// pixel vectors). A *unit* is one tile for `passes_per_unit` output
/// passes (a channel tile); each unit accumulates over every input group,
/// one *step* per group (GDN/IGDN: one step for all groups). While a
/// unit computes, the previous unit's outputs are stored from the other
/// accumulator buffer, so stores overlap compute.
///
/// - The input rows of a tile must fit the input buffer, its vectors one
///   accumulator slot, its bands x passes the slots ([`TileNeeds`]).
/// - The last row and column tiles are trimmed to the map, in whole rows
///   and pixel vectors (per phase for a transposed convolution).
/// - Every tile side is a power of two, or the map's width: the kernel
///   counts tiles with shifts.
///
/// The fixed rule of [`Tiling::of`] (the one the kernel had built in
/// before tiles became registers): layers with few output channels take
/// several bands (fewer, taller tiles reload their weights less often); a
/// transposed convolution computed phase by phase takes at least two
/// bands, half its channels at a time, because each weight word then
/// serves twice the pixels; bands, then band rows, halve until the input
/// fits; GDN/IGDN tiles are as wide as the map and as many rows as fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    pub kind: TileKind,
    pub fold: Option<PhaseFold>,
    /// A convolution with few input channels (at most lanes / 2: the
    /// image's 3) and an even stride pairs adjacent input columns in one
    /// word (lanes 0-3 and 4-7), and kernel columns 2j and 2j + 1 in one
    /// MAC step: ana_0's 9x9 taps take 9 x 5 steps instead of 81.
    pub pair: bool,
    /// Grid rows per band.
    pub band_rows: usize,
    pub bands: usize,
    /// Grid rows of a full tile: `band_rows * bands`.
    pub tile_rows: usize,
    /// Grid columns of a full tile.
    pub tile_cols: usize,
    /// Grid rows and columns of the last row and column tiles.
    pub last_tile_rows: usize,
    pub last_tile_cols: usize,
    pub row_tiles: usize,
    pub col_tiles: usize,
    /// Passes of `pof` output channels in all.
    pub out_tiles: usize,
    /// Passes of one unit (a channel tile), and channel tiles.
    pub passes_per_unit: usize,
    pub channel_tiles: usize,
    pub in_groups: usize,
    /// Steps of one unit: one per input group (GDN/IGDN: one).
    pub steps_per_unit: usize,
    /// Input rows (GDN/IGDN: row x group runs) and columns one full tile
    /// reads, with the kernel's halo.
    pub in_tile_rows: usize,
    pub in_tile_cols: usize,
    /// Column planes of the input buffer (a stride-s convolution deals its
    /// input columns into s planes) and words per bank of one plane row.
    pub planes: usize,
    pub plane_words: usize,
}

impl Tiling {
    /// Input rows (or columns) `t` grid rows (columns) of this layer read,
    /// with the kernel's halo (GDN/IGDN rows: per input group).
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
        pox * Self::row_step(spec, fold)
    }

    /// Row tiles are trimmed in steps of this many grid rows (whole phase
    /// rows for a transposed convolution).
    pub fn row_step(spec: &LayerSpec, fold: Option<PhaseFold>) -> usize {
        match (spec.op, fold) {
            (crate::Op::TConv { stride, .. }, None) => stride,
            _ => 1,
        }
    }

    fn kind_of(spec: &LayerSpec, fold: Option<PhaseFold>) -> TileKind {
        match (spec.op, fold) {
            (crate::Op::Gdn | crate::Op::Igdn, _) => TileKind::Pointwise,
            (crate::Op::TConv { .. }, None) => TileKind::Phases,
            _ => TileKind::Conv,
        }
    }

    /// Whether the layer pairs input columns (see [`Tiling::pair`]).
    pub fn pairs(spec: &LayerSpec, fold: Option<PhaseFold>, hw: &HwLimits) -> bool {
        let s = spec.op.stride();
        Self::kind_of(spec, fold) == TileKind::Conv && fold.is_none() && spec.cin <= hw.lanes / 2 && (s == 2 || s == 4) && spec.op.kernel() > 1
    }

    /// Input-buffer words per bank and row parity that `rows x cols` grid
    /// pixels need, with the planes and plane words of that shape.
    fn input_words(spec: &LayerSpec, fold: Option<PhaseFold>, hw: &HwLimits, rows: usize, cols: usize) -> (usize, usize, usize) {
        let kind = Self::kind_of(spec, fold);
        let pair = Self::pairs(spec, fold, hw);
        let in_rows = match kind {
            TileKind::Pointwise => rows * spec.cin.div_ceil(hw.lanes),
            _ => Self::input_extent(spec, fold, rows),
        };
        let in_cols = Self::input_extent(spec, fold, cols);
        let in_cols = if pair { in_cols.div_ceil(2) } else { in_cols };
        let s = spec.op.stride();
        let planes = if kind == TileKind::Conv && fold.is_none() { if pair { s / 2 } else { s } } else { 1 };
        let plane_words = in_cols.div_ceil(planes).div_ceil(hw.pox);
        (in_rows.div_ceil(2) * planes * plane_words, planes, plane_words)
    }

    /// The layer's grid: its output map, or a folded layer's input map.
    fn grid(fold: Option<PhaseFold>, out: Dims) -> Dims {
        let scale = fold.map_or(1, |f| f.stride);
        Dims::new(out.h / scale, out.w / scale)
    }

    /// Output passes (`pof` channels each) of the layer.
    fn out_tiles(spec: &LayerSpec, fold: Option<PhaseFold>, hw: &HwLimits) -> usize {
        fold.map_or(spec.cout, |f| f.channels).div_ceil(hw.pof)
    }

    /// The tile the fixed rule picks (see [`Tiling`]); an error when no
    /// tile fits the input buffer.
    pub fn rule(spec: &LayerSpec, out: Dims, hw: &HwLimits) -> Result<TileChoice, TilingError> {
        let fold = PhaseFold::of(spec, hw);
        let kind = Self::kind_of(spec, fold);
        let grid = Self::grid(fold, out);
        let out_tiles = Self::out_tiles(spec, fold, hw);
        let in_groups = spec.cin.div_ceil(hw.lanes);
        let slots = hw.acc_slots();
        if kind == TileKind::Pointwise {
            // As wide as the map, as many rows as the accumulators and the
            // saved inputs (a word per pixel vector, group and bank) hold.
            let vecs = (1..=12).map(|i| 1usize << i).filter(|&v| v <= hw.acc_vectors() && v * in_groups <= hw.acc_depth()).max().unwrap_or(1);
            let map_vecs = grid.w.div_ceil(hw.pox);
            return Ok(if map_vecs <= vecs {
                let rows = (1..=12).map(|i| 1usize << i).filter(|&r| r * map_vecs <= vecs).max().unwrap_or(1);
                TileChoice { band_rows: rows, bands: 1, tile_cols: map_vecs * hw.pox, passes: out_tiles }
            } else {
                TileChoice { band_rows: 1, bands: 1, tile_cols: vecs * hw.pox, passes: out_tiles }
            });
        }
        let min_bands = if kind == TileKind::Phases { 2 } else { 1 };
        let passes = out_tiles.min(slots / min_bands);
        let mut bands = (1..=3).map(|i| 1usize << i).filter(|&b| b * passes <= slots).max().unwrap_or(1);
        let mut band_rows = hw.tile_rows;
        let step = Self::row_step(spec, fold);
        while Self::input_words(spec, fold, hw, band_rows * bands, hw.tile_cols).0 > hw.in_depth {
            if bands > 1 {
                bands /= 2;
            } else if band_rows / 2 >= step && band_rows % 2 == 0 {
                band_rows /= 2;
            } else {
                return Err(TilingError::NoFit { layer: spec.name });
            }
        }
        Ok(TileChoice { band_rows, bands, tile_cols: hw.tile_cols, passes })
    }

    /// The fixed rule's tiling (see [`Tiling`]).
    pub fn of(spec: &LayerSpec, out: Dims, hw: &HwLimits) -> Result<Tiling, TilingError> {
        Self::with(spec, out, hw, Self::rule(spec, out, hw)?)
    }

    /// What tile `c` needs of the buffers, or the rule it breaks (whatever
    /// the buffers' sizes).
    pub fn needs(spec: &LayerSpec, out: Dims, hw: &HwLimits, c: TileChoice) -> Result<TileNeeds, TilingError> {
        let fold = PhaseFold::of(spec, hw);
        let kind = Self::kind_of(spec, fold);
        let grid = Self::grid(fold, out);
        let out_tiles = Self::out_tiles(spec, fold, hw);
        let bad = |what| Err(TilingError::Invalid { layer: spec.name, what });
        let pow2 = |v: usize| v.is_power_of_two();
        let col_step = Self::column_step(spec, fold, hw.pox);
        if !pow2(c.band_rows) || !pow2(c.bands) || c.bands > 8 {
            return bad("band rows and bands must be powers of two, at most 8 bands");
        }
        if c.band_rows < Self::row_step(spec, fold) {
            return bad("a band of a transposed convolution is at least one row per phase (its stride)");
        }
        if c.tile_cols == 0 || c.tile_cols % col_step != 0 || !(pow2(c.tile_cols) || c.tile_cols >= grid.w) {
            return bad("tile columns must be a power-of-two multiple of pox (x the stride of a transposed convolution), or the whole map");
        }
        if (kind == TileKind::Pointwise || fold.is_some()) && (c.passes != out_tiles || c.bands != 1 && kind == TileKind::Pointwise) {
            return bad("GDN/IGDN and folded layers compute all their passes in one band");
        }
        if c.passes == 0 || c.passes > out_tiles || !(pow2(c.passes) || c.passes == out_tiles) {
            return bad("passes per unit must be a power of two or all of them");
        }
        let vectors = c.band_rows * c.tile_cols / hw.pox;
        let in_groups = spec.cin.div_ceil(hw.lanes);
        Ok(TileNeeds {
            vectors,
            slots: c.bands * c.passes,
            in_words: Self::input_words(spec, fold, hw, c.band_rows * c.bands, c.tile_cols).0,
            keep_words: if kind == TileKind::Pointwise { vectors * in_groups } else { 0 },
        })
    }

    /// The tiling of tile `c`, checked against the rules and the buffers.
    pub fn with(spec: &LayerSpec, out: Dims, hw: &HwLimits, c: TileChoice) -> Result<Tiling, TilingError> {
        let needs = Self::needs(spec, out, hw, c)?;
        if !needs.fits(hw) {
            return Err(TilingError::TooBig { layer: spec.name, choice: c, needs });
        }
        let fold = PhaseFold::of(spec, hw);
        let kind = Self::kind_of(spec, fold);
        let grid = Self::grid(fold, out);
        let out_tiles = Self::out_tiles(spec, fold, hw);
        let in_groups = spec.cin.div_ceil(hw.lanes);
        let tile_rows = c.band_rows * c.bands;
        let (row_tiles, col_tiles) = (grid.h.div_ceil(tile_rows), grid.w.div_ceil(c.tile_cols));
        let last_rows = grid.h - (row_tiles - 1) * tile_rows;
        let last_cols = grid.w - (col_tiles - 1) * c.tile_cols;
        let (_, planes, plane_words) = Self::input_words(spec, fold, hw, tile_rows, c.tile_cols);
        Ok(Tiling {
            kind,
            fold,
            pair: Self::pairs(spec, fold, hw),
            band_rows: c.band_rows,
            bands: c.bands,
            tile_rows,
            tile_cols: c.tile_cols,
            last_tile_rows: round_up(last_rows, Self::row_step(spec, fold)).min(tile_rows),
            last_tile_cols: round_up(last_cols, Self::column_step(spec, fold, hw.pox)).min(c.tile_cols),
            row_tiles,
            col_tiles,
            out_tiles,
            passes_per_unit: c.passes,
            channel_tiles: out_tiles.div_ceil(c.passes),
            in_groups,
            steps_per_unit: if kind == TileKind::Pointwise { 1 } else { in_groups },
            in_tile_rows: match kind {
                TileKind::Pointwise => tile_rows * in_groups,
                _ => Self::input_extent(spec, fold, tile_rows),
            },
            in_tile_cols: Self::input_extent(spec, fold, c.tile_cols),
            planes,
            plane_words,
        })
    }

    /// The registers' values of this tiling.
    pub fn choice(&self) -> TileChoice {
        TileChoice { band_rows: self.band_rows, bands: self.bands, tile_cols: self.tile_cols, passes: self.passes_per_unit }
    }

    /// Every tile that follows the rules for this layer and is not
    /// dominated by a smaller one (columns past the map's width, rows past
    /// its height): the candidates `perf::plan` and the design-space
    /// explorer weigh. `hw` gives the layout (lanes, pof, pox); whether a
    /// candidate fits its buffers is [`TileNeeds::fits`]'s to say.
    pub fn choices(spec: &LayerSpec, out: Dims, hw: &HwLimits, mut f: impl FnMut(TileChoice)) {
        let fold = PhaseFold::of(spec, hw);
        let kind = Self::kind_of(spec, fold);
        let grid = Self::grid(fold, out);
        let out_tiles = Self::out_tiles(spec, fold, hw);
        let step = Self::row_step(spec, fold);
        let col_step = Self::column_step(spec, fold, hw.pox);
        let whole = round_up(grid.w, col_step);
        let max_rows = grid.h.next_power_of_two().max(step);
        let all_passes = kind == TileKind::Pointwise || fold.is_some();
        let max_bands = if kind == TileKind::Pointwise { 1 } else { 8 };
        let mut band_rows = step;
        while band_rows <= max_rows {
            let mut bands = 1;
            while bands <= max_bands && band_rows * bands <= max_rows {
                let mut cols = col_step;
                loop {
                    let tile_cols = cols.min(whole);
                    let mut passes = if all_passes { out_tiles } else { 1 };
                    while passes <= out_tiles {
                        f(TileChoice { band_rows, bands, tile_cols, passes });
                        passes = if passes == out_tiles { out_tiles + 1 } else { (passes * 2).min(out_tiles) };
                    }
                    if cols >= whole {
                        break;
                    }
                    cols *= 2;
                }
                bands *= 2;
            }
            band_rows *= 2;
        }
    }

    /// Grid rows of row tile `i`.
    pub fn rows_of(&self, i: usize) -> usize {
        if i + 1 == self.row_tiles { self.last_tile_rows } else { self.tile_rows }
    }

    /// Grid columns of column tile `j`.
    pub fn cols_of(&self, j: usize) -> usize {
        if j + 1 == self.col_tiles { self.last_tile_cols } else { self.tile_cols }
    }

    /// Output pixels per grid pixel along each side.
    pub fn scale(&self) -> usize {
        self.fold.map_or(1, |f| f.stride)
    }

    /// Units (tile x channel tile) and steps of the whole layer.
    pub fn units(&self) -> usize {
        self.row_tiles * self.col_tiles * self.channel_tiles
    }
    pub fn steps(&self) -> usize {
        self.units() * self.steps_per_unit
    }

    /// Passes of channel tile `c`.
    pub fn passes_of(&self, c: usize) -> usize {
        self.passes_per_unit.min(self.out_tiles - c * self.passes_per_unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LAYERS;

    /// Every factor the firmware plans with changes the configuration word
    /// when it alone changes (the output lanes too: perf::plan times the
    /// output engine by them), the word fits above the status code's 4
    /// bits, and its text names the fields it holds.
    #[test]
    fn the_configuration_word_tells_apart_every_planned_factor() {
        let base = HwLimits::TEST;
        let id = base.config_id();
        assert!(id < 1 << 28, "{id:#x}");
        let variants: [(&str, HwLimits); 9] = [
            ("out_lanes 2", HwLimits { out_lanes: 2, ..base }),
            ("out_lanes 4", HwLimits { out_lanes: 4, ..base }),
            ("out_lanes 8", HwLimits { out_lanes: 8, ..base }),
            ("pof 8", HwLimits { pof: 8, out_lanes: 8, ..base }),
            ("pox 8", HwLimits { pox: 8, ..base }),
            ("tile rows 16", HwLimits { tile_rows: 16, ..base }),
            ("tile cols 64", HwLimits { tile_cols: 64, ..base }),
            ("input depth 1024", HwLimits { in_depth: 1024, ..base }),
            ("acc distance 4", HwLimits { acc_distance: 4, ..base }),
        ];
        let mut seen = std::vec![id];
        for (what, hw) in variants {
            assert_eq!(hw.check(), Ok(()), "{what}");
            let other = hw.config_id();
            assert!(!seen.contains(&other), "{what}: {other:#x} not told apart");
            assert!(other < 1 << 28, "{what}: {other:#x}");
            seen.push(other);
        }
        // Every valid output-lane count of either pof, all else equal.
        for pof in [8usize, 16] {
            let ids: std::vec::Vec<u32> = (1..=pof.ilog2()).map(|l| HwLimits { pof, out_lanes: 1 << l, ..base }.config_id()).collect();
            assert!(ids.iter().enumerate().all(|(i, a)| ids[i + 1..].iter().all(|b| a != b)), "pof {pof}: {ids:x?}");
        }
        let text = std::format!("{}", ConfigId(HwLimits { out_lanes: 2, ..base }.config_id()));
        assert!(text.starts_with("pof 16, pox 16, 8x128 accumulator tiles, input depth 512, 2 output lanes"), "{text}");
    }

    #[test]
    fn each_broken_rule_is_its_own_error() {
        let ok = HwLimits::TEST;
        assert_eq!(ok.check(), Ok(()));
        let cases = [
            (HwLimits { lanes: 16, ..ok }, HwLimitsError::Lanes),
            (HwLimits { pof: 32, ..ok }, HwLimitsError::Pof),
            (HwLimits { pox: 64, ..ok }, HwLimitsError::Pox),
            (HwLimits { out_lanes: 2 * ok.pof, ..ok }, HwLimitsError::OutLanes),
            (HwLimits { tile_cols: 96, ..ok }, HwLimitsError::Tiles),
            (HwLimits { in_depth: 32, ..ok }, HwLimitsError::InDepth),
            (HwLimits { acc_distance: ok.acc_vectors() + 1, ..ok }, HwLimitsError::Accumulators),
            (HwLimits { max_channels: 136, ..ok }, HwLimitsError::AccSlots),
            (HwLimits { axi_burst: 512, ..ok }, HwLimitsError::Axi),
        ];
        for (hw, want) in cases {
            assert_eq!(hw.check(), Err(want));
            // The rule, then what to do.
            let text = std::format!("{want}");
            assert!(text.ends_with("change hls/xlic_config.h (`cargo xtask dse` proposes configurations that pass)"), "{text}");
        }
    }

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
            let t = Tiling::of(l, g.outputs[i], &hw).unwrap();
            let grid = Dims::new(g.outputs[i].h / t.scale(), g.outputs[i].w / t.scale());
            assert_eq!(grid.h * t.scale(), g.outputs[i].h);
            assert!(t.row_tiles * t.tile_rows >= grid.h && (t.row_tiles - 1) * t.tile_rows < grid.h);
            // The trimmed last column tile still covers the map, in whole
            // pixel vectors (per phase), and is not wider than a full one.
            let covered: usize = (0..t.col_tiles).map(|j| t.cols_of(j)).sum();
            assert!(covered >= grid.w && covered - grid.w < Tiling::column_step(l, t.fold, hw.pox), "{}", l.name);
            assert!(t.last_tile_cols <= t.tile_cols && t.last_tile_cols % Tiling::column_step(l, t.fold, hw.pox) == 0);
            // The input of a full tile fits the input buffer, the extra
            // rows of several bands fit the accumulator's slots, and a
            // tile's pixel vectors fit one slot.
            assert!(Tiling::input_words(l, t.fold, &hw, t.tile_rows, t.tile_cols).0 <= hw.in_depth, "{}: input fits", l.name);
            assert!(t.bands * t.passes_per_unit <= hw.acc_slots(), "{}: bands x passes fit the slots", l.name);
            assert!(t.band_rows * t.tile_cols / hw.pox <= hw.acc_vectors(), "{}: vectors fit a slot", l.name);
            assert!(t.channel_tiles * t.passes_per_unit >= t.out_tiles, "{}: every pass in a channel tile", l.name);
        }
        // Only syn_2 (3 channels) folds: 16 phases x 3 channels in 3 passes
        // of a 3x3 convolution over its input, two bands tall.
        let syn2 = Tiling::of(&LAYERS[9], g.outputs[9], &hw).unwrap();
        assert_eq!(syn2.fold, Some(PhaseFold { stride: 4, taps: 3, first: -1, channels: 48 }));
        assert_eq!((syn2.out_tiles, syn2.bands, syn2.tile_rows), (3, 2, 16));
        let tiling = |l: crate::Layer| Tiling::of(l.spec(), g.outputs[l.index()], &hw).unwrap();
        // The image's 3 channels pair columns (ana_0 only).
        assert!(tiling(crate::Layer::Ana0).pair && LAYERS[1..].iter().all(|l| !tiling(l.layer).pair));
        // Phase-by-phase transposed convolutions take two bands, half their
        // channels at a time; the other layers one band, all channels.
        for l in [crate::Layer::Syn0, crate::Layer::Syn1] {
            let t = tiling(l);
            assert_eq!((t.kind, t.fold, t.bands, t.passes_per_unit, t.channel_tiles), (TileKind::Phases, None, 2, 4, 2));
        }
        for l in [crate::Layer::Ana0, crate::Layer::Ana1, crate::Layer::Ana2, crate::Layer::Gdn0, crate::Layer::Igdn1] {
            let t = tiling(l);
            assert_eq!((t.bands, t.channel_tiles, t.fold), (1, 1, None), "{}", l.name());
        }
        // GDN/IGDN tiles are as wide as the map (116 columns: 8 vectors)
        // and as many rows as 32 vectors (16 groups x 32 words per bank).
        let gdn = tiling(crate::Layer::Gdn0);
        assert_eq!((gdn.kind, gdn.tile_cols, gdn.band_rows, gdn.col_tiles), (TileKind::Pointwise, 128, 4, 1));
    }

    /// Every candidate tile follows the rules and covers the map; each is
    /// the tiling `with` builds, and those that need more than the
    /// buffers hold are refused as too big, never built.
    #[test]
    fn every_choice_is_a_valid_tiling_or_refused_by_size() {
        let hw = HwLimits::TEST;
        let g = crate::Geometry::new(451, 300, crate::PadMode::Zero, 4096).unwrap();
        for (i, l) in LAYERS.iter().enumerate() {
            let (mut built, mut refused) = (0, 0);
            Tiling::choices(l, g.outputs[i], &hw, |c| {
                let needs = Tiling::needs(l, g.outputs[i], &hw, c).unwrap_or_else(|e| panic!("{e}"));
                match Tiling::with(l, g.outputs[i], &hw, c) {
                    Ok(t) => {
                        assert!(needs.fits(&hw) && t.choice() == c);
                        let grid = Dims::new(g.outputs[i].h / t.scale(), g.outputs[i].w / t.scale());
                        assert!(t.row_tiles * t.tile_rows >= grid.h && (0..t.col_tiles).map(|j| t.cols_of(j)).sum::<usize>() >= grid.w);
                        built += 1;
                    }
                    Err(TilingError::TooBig { needs: n, .. }) => {
                        assert!(!n.fits(&hw) && n == needs);
                        refused += 1;
                    }
                    Err(e) => panic!("{e}"),
                }
            });
            assert!(built >= 4, "{}: {built} tilings fit, {refused} do not", l.name);
        }
        // The rule's own tile is always among the candidates' kind, and
        // a broken one is named.
        let bad = TileChoice { band_rows: 3, bands: 1, tile_cols: 128, passes: 8 };
        assert!(matches!(Tiling::with(&LAYERS[2], g.outputs[2], &hw, bad), Err(TilingError::Invalid { .. })));
        let huge = TileChoice { band_rows: 64, bands: 8, tile_cols: 128, passes: 1 };
        assert!(matches!(Tiling::with(&LAYERS[2], g.outputs[2], &hw, huge), Err(TilingError::TooBig { .. })));
        // A buffer too small for any tile is an error, not a panic.
        let tiny = HwLimits { in_depth: 8, ..hw };
        assert_eq!(Tiling::of(&LAYERS[0], g.outputs[0], &tiny), Err(TilingError::NoFit { layer: "ana_0" }));
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
