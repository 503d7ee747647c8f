//! The host's fast integer engine: the layers of the integer model,
//! bit-exact with `xlic_model::reference` (which stays the readable
//! definition), on AVX2 `vpmaddwd` where the CPU has it and a scalar path
//! elsewhere, spread over every core.
//!
//! How it is exact: a `vpmaddwd` lane is the sum of two products of INT16,
//! `p = w0 x0 + w1 x1`, below 2^31 in magnitude as long as no weight is
//! -32768 (the format's weights are symmetric; [`Engine::new`] checks, and
//! a layer that breaks it runs on the reference instead). Each lane keeps
//! `S`, the wrapping i32 sum of its p, and `H`, the sum of `p >> 16`. With
//! fewer than 2^16 terms `L = sum(p & 0xffff) = S - 2^16 H (mod 2^32)` is
//! below 2^32, so the exact sum is `2^16 H + L` ([`exact`]). GDN/IGDN take
//! `|x|`, which INT16 cannot hold for x = -32768: a row that has one runs
//! on the reference.
//!
//! What it computes per output is not restated here: accumulators go
//! through `xlic_model::quant`'s `requant_conv`, `gdn_out` and `igdn_out`.
//!
//! Layout: the engine packs each layer's weights once ([`Engine::new`])
//! as `[output block of 16][tap][input pair][16 outputs][2 inputs]`, and
//! copies each input map from the accelerator's layout into a zero-padded
//! `[y][x][channel pairs]` array; outputs are written in the accelerator's
//! layout, so maps compare with the firmware's byte for byte.
//!
//! The schedule: a convolution is one *program* (a list of taps, i.e.
//! input offsets, and their weights) over the output grid; a transposed
//! convolution is one program per output phase (py, px), whose taps are
//! the kernel taps that phase uses, so no product is a stuffed zero; a
//! transposed convolution the accelerator folds (syn_2: 3 channels) is
//! folded the same way ([`PhaseFold`]): one program over the input grid
//! whose outputs are the s x s phases of every channel.
use xlic_model::geometry::{tap_source, Dims};
use xlic_model::layer::{Layer, LayerSpec, Op};
use xlic_model::layout::{FmShape, HwLimits, PhaseFold, WeightShape};
use xlic_model::quant::{gdn_out, igdn_out, requant_conv, ChannelParams};
use xlic_model::reference::{self, LayerData, ShapeError};

/// Output channels per kernel call (two AVX2 registers of 8 i32 lanes).
const BLOCK: usize = 16;
/// Output pixels per kernel call.
const NP: usize = 3;

/// Which inner kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, any CPU.
    Scalar,
    /// x86-64 AVX2 (`vpmaddwd`).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn best() -> Kernel {
        if avx2_detected() {
            return Kernel::Avx2;
        }
        Kernel::Scalar
    }

    /// `self` if a CPU with (`avx2`) or without AVX2 runs it, else the
    /// scalar kernel: the one place that decides whether the AVX2 kernel's
    /// `unsafe` call is sound.
    fn usable(self, avx2: bool) -> Kernel {
        match self {
            Kernel::Avx2 if avx2 => Kernel::Avx2,
            _ => Kernel::Scalar,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "AVX2 vpmaddwd",
        }
    }
}

/// Whether this CPU executes AVX2 (never, off x86-64).
fn avx2_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return true;
    }
    false
}

/// The exact sum of a lane's pair sums from its wrapping sum `s` and the
/// sum `h` of their high halves (see the module doc).
#[inline(always)]
fn exact(s: i32, h: i32) -> i64 {
    ((h as i64) << 16) + (s as u32).wrapping_sub((h as u32) << 16) as i64
}

/// Where a program's outputs go: grid pixel (r, j), virtual channel v.
#[derive(Clone, Copy, Debug)]
enum Mapping {
    /// Output (r, j), channel v.
    Direct,
    /// Output (r, s j + px), channel v.
    Phase { s: usize, px: usize },
    /// Output (s r + py, s j + px), channel c, where v = (py s + px) cout + c.
    Folded { s: usize, cout: usize },
}

/// One list of taps and its packed weights.
struct Program {
    /// Input offsets (dy, dx) of the taps, relative to the grid pixel's
    /// base input pixel.
    taps: Vec<(isize, isize)>,
    /// The taps as the kernel walks them: runs of `run_len` taps with the
    /// same dy and consecutive dx read consecutive input pixels, and their
    /// weights are consecutive too, so each run is one tap of
    /// `run_len * pairs` input pairs (fewer, longer inner loops: ana_0's
    /// 3 channels make 81 taps of 2 pairs, or 9 runs of 18).
    runs: Vec<(isize, isize)>,
    run_len: usize,
    /// `[block][tap][pair][16][2]`.
    weights: Vec<i16>,
    /// Virtual output channels (a multiple of BLOCK after padding).
    channels: usize,
    mapping: Mapping,
}

impl Program {
    fn blocks(&self) -> usize {
        self.channels.div_ceil(BLOCK)
    }
    fn block_len(&self, pairs: usize) -> usize {
        self.taps.len() * pairs * BLOCK * 2
    }
}

/// How grid rows and columns map to base input pixels.
#[derive(Clone, Copy, Debug)]
struct Grid {
    /// Grid size.
    rows: usize,
    cols: usize,
    /// Base input pixel of grid (r, j): (r * ry / dy_div, j * cx).
    row_mul: usize,
    row_div: usize,
    col_mul: usize,
}

/// A layer packed for the engine (or left to the reference).
struct PackedLayer {
    spec: LayerSpec,
    /// The package's tables the programs were packed from: the parameters
    /// every output goes through, and both for rows and layers the
    /// reference computes, so that nothing mixes two sets of tables.
    weights: Vec<i16>,
    params: Vec<ChannelParams>,
    /// Input channel pairs.
    pairs: usize,
    /// Programs, indexed by row phase then column group.
    programs: Vec<Vec<Program>>,
    /// Row phase of grid row r: r % row_phases.
    row_phases: usize,
    /// A weight is -32768: the pair-sum bound does not hold.
    use_reference: bool,
}

/// The integer model, packed.
pub struct Engine {
    pub hw: HwLimits,
    layers: Vec<PackedLayer>,
    kernel: Kernel,
    threads: usize,
}

impl Engine {
    /// Pack every layer of `layers` (the package's tables, in table order,
    /// kept by the engine) for `kernel`, or for the scalar kernel when this
    /// CPU cannot run `kernel` (asking for AVX2 without it is not undefined
    /// behaviour: [`Engine::kernel`] says what runs).
    pub fn new(hw: &HwLimits, layers: &[(Vec<i16>, Vec<ChannelParams>)], kernel: Kernel) -> Result<Engine, ShapeError> {
        if layers.len() != Layer::ALL.len() {
            return Err(ShapeError::Layers { expected: Layer::ALL.len(), got: layers.len() });
        }
        let mut packed = Vec::with_capacity(layers.len());
        for (l, (w, p)) in Layer::ALL.iter().zip(layers) {
            let ws = WeightShape::of(l.spec(), hw);
            if w.len() != ws.len() {
                return Err(ShapeError::Weights { expected: ws.len(), got: w.len() });
            }
            if p.len() != ws.cout_padded() {
                return Err(ShapeError::Params { expected: ws.cout_padded(), got: p.len() });
            }
            packed.push(pack(l.spec(), hw, w, p));
        }
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Ok(Engine { hw: *hw, layers: packed, kernel: kernel.usable(avx2_detected()), threads })
    }

    /// Layer `l`'s tables, as given to [`Engine::new`].
    pub fn data(&self, l: Layer) -> LayerData<'_> {
        let pl = &self.layers[l.index()];
        LayerData { weights: &pl.weights, params: &pl.params }
    }

    /// The kernel that runs (the one asked for, or scalar; see [`Engine::new`]).
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Run on `threads` threads (default: every core).
    pub fn with_threads(mut self, threads: usize) -> Engine {
        self.threads = threads.max(1);
        self
    }

    /// Layer `l` on `input` (accelerator layout, `in_dims`): its output map
    /// in the accelerator layout, exactly as `reference::run_layer` makes it
    /// from [`Engine::data`].
    pub fn run_layer(&self, l: Layer, in_dims: Dims, input: &[i16]) -> Result<Vec<i16>, ShapeError> {
        let pl = &self.layers[l.index()];
        let spec = &pl.spec;
        let data = self.data(l);
        let (ins, outs, _) = reference::shapes(spec, in_dims, &self.hw);
        if input.len() != ins.len() {
            return Err(ShapeError::Input { expected: ins.len(), got: input.len() });
        }
        if pl.use_reference || self.hw.lanes != LANES {
            return reference::run_layer_parallel(spec, &self.hw, in_dims, input, data);
        }
        let grid = grid_of(spec, pl, in_dims, outs.dims);
        let padded = Padded::new(pl, &ins, input, &grid, spec.op.is_normaliser());
        let mut out = vec![0i16; outs.len()];
        // Grid rows write whole output rows (a folded grid row writes s of
        // them): hand out bands of grid rows, each with its output rows.
        let rows_per_grid_row = outs.dims.h / grid.rows;
        let band = grid.rows.div_ceil(self.threads * 8).max(1);
        let row_len = outs.row_len();
        let chunks: Vec<(usize, &mut [i16])> = out.chunks_mut(band * rows_per_grid_row * row_len).enumerate().map(|(i, c)| (i * band, c)).collect();
        let queue = std::sync::Mutex::new(chunks.into_iter());
        let failed = std::sync::Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.threads {
                s.spawn(|| loop {
                    let Some((r0, chunk)) = queue.lock().unwrap().next() else { break };
                    let rows = chunk.len() / (rows_per_grid_row * row_len);
                    let first_out_row = r0 * rows_per_grid_row;
                    for r in r0..r0 + rows {
                        if let Err(e) = self.grid_row(pl, &grid, &padded, &ins, &outs, input, r, first_out_row, chunk) {
                            *failed.lock().unwrap() = Some(e);
                        }
                    }
                });
            }
        });
        match failed.into_inner().unwrap() {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// One grid row: every program of its row phase, every block of
    /// output channels, every NP columns.
    #[allow(clippy::too_many_arguments)]
    fn grid_row(
        &self,
        pl: &PackedLayer,
        grid: &Grid,
        padded: &Padded,
        ins: &FmShape,
        outs: &FmShape,
        input: &[i16],
        r: usize,
        first_out_row: usize,
        out: &mut [i16],
    ) -> Result<(), ShapeError> {
        let spec = &pl.spec;
        let data = LayerData { weights: &pl.weights, params: &pl.params };
        let norm = spec.op.is_normaliser();
        if norm && padded.has_min[r] {
            // |x| does not fit INT16 in this row: the reference computes it.
            let row = &mut out[(r - first_out_row) * outs.row_len()..][..outs.row_len()];
            return reference::run_layer(spec, &self.hw, ins.dims, input, data, r..r + 1, row);
        }
        let base_row = r * grid.row_mul / grid.row_div;
        let cout = spec.cout;
        let mut acc = [[0i64; BLOCK]; NP];
        for prog in &pl.programs[r % pl.row_phases] {
            // Offsets of the taps in the padded array, from the base pixel.
            let taps: Vec<isize> = prog
                .runs
                .iter()
                .map(|&(dy, dx)| ((base_row as isize + dy + padded.pad_y as isize) * padded.width as isize + dx + padded.pad_x as isize) * padded.channels as isize)
                .collect();
            let step = (grid.col_mul * padded.channels) as isize;
            let block_len = prog.block_len(pl.pairs);
            for b in 0..prog.blocks() {
                let w = &prog.weights[b * block_len..][..block_len];
                for j0 in (0..grid.cols).step_by(NP) {
                    let x0 = (j0 * grid.col_mul * padded.channels) as isize;
                    self.run_kernel(&padded.data, x0, &taps, step, pl.pairs * prog.run_len, w, &mut acc);
                    for (p, a) in acc.iter().enumerate() {
                        let j = j0 + p;
                        if j >= grid.cols {
                            break;
                        }
                        let channels = (prog.channels - b * BLOCK).min(BLOCK);
                        for (k, &t) in a[..channels].iter().enumerate() {
                            let v = b * BLOCK + k;
                            let (oy, ox, co) = match prog.mapping {
                                Mapping::Direct => (r, j, v),
                                Mapping::Phase { s, px } => (r, s * j + px, v),
                                Mapping::Folded { s, cout } => {
                                    let phase = v / cout;
                                    (s * r + phase / s, s * j + phase % s, v % cout)
                                }
                            };
                            if co >= cout {
                                continue;
                            }
                            let p = &data.params[co];
                            let value = match spec.op {
                                Op::Conv { .. } | Op::TConv { .. } => requant_conv(t, p),
                                Op::Gdn => gdn_out(input[map_index(ins, co, oy, ox)], p.bias + t, p),
                                Op::Igdn => igdn_out(input[map_index(ins, co, oy, ox)], p.bias + t, p),
                            };
                            out[map_index(outs, co, oy - first_out_row, ox)] = value;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_kernel(&self, x: &[i16], x0: isize, taps: &[isize], step: isize, pairs: usize, w: &[i16], acc: &mut [[i64; BLOCK]; NP]) {
        // The padded array holds every tap of every computed pixel
        // (Padded::new sizes it so); checked once per call here.
        let last = x0 + taps.iter().copied().max().unwrap_or(0) + (NP as isize - 1) * step + 2 * pairs as isize;
        let first = x0 + taps.iter().copied().min().unwrap_or(0);
        assert!(first >= 0 && last as usize <= x.len(), "padded input too small");
        assert!(w.len() >= taps.len() * pairs * BLOCK * 2);
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: self.kernel is Avx2 only if Engine::new saw
            // is_x86_feature_detected!("avx2") (Kernel::usable with
            // avx2_detected(); the field is private and set nowhere else),
            // and every read was bounds-checked above.
            Kernel::Avx2 => unsafe { avx2::block(x.as_ptr().offset(x0), taps, step, pairs, w.as_ptr(), acc) },
            _ => scalar_block(x, x0, taps, step, pairs, w, acc),
        }
    }
}

/// `FmShape::index` for the accelerator's 8 lanes (checked in
/// `run_layer`), with shifts where the shape's runtime lane count would
/// divide: it runs once per output value.
#[inline(always)]
fn map_index(s: &FmShape, c: usize, y: usize, x: usize) -> usize {
    ((y * s.channels.div_ceil(LANES) + (c >> 3)) * s.dims.w + x) * LANES + (c & (LANES - 1))
}

const LANES: usize = 8;

/// The scalar kernel: the same sums, in i64.
fn scalar_block(x: &[i16], x0: isize, taps: &[isize], step: isize, pairs: usize, w: &[i16], acc: &mut [[i64; BLOCK]; NP]) {
    *acc = [[0; BLOCK]; NP];
    for (t, &off) in taps.iter().enumerate() {
        for j in 0..pairs {
            let wp = &w[(t * pairs + j) * BLOCK * 2..][..BLOCK * 2];
            for (p, a) in acc.iter_mut().enumerate() {
                let xi = (x0 + off + p as isize * step) as usize + 2 * j;
                let (x0v, x1v) = (x[xi] as i64, x[xi + 1] as i64);
                for (k, a) in a.iter_mut().enumerate() {
                    *a += wp[2 * k] as i64 * x0v + wp[2 * k + 1] as i64 * x1v;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{exact, BLOCK, NP};
    use core::arch::x86_64::*;

    /// NP pixels x 16 output channels over every tap and input pair.
    ///
    /// # Safety
    /// The CPU has AVX2; `x + taps[t] + p * step + 2 * pairs` stays inside
    /// the input for every tap and pixel, and `w` holds
    /// `taps.len() * pairs * 32` values.
    #[target_feature(enable = "avx2")]
    pub unsafe fn block(x: *const i16, taps: &[isize], step: isize, pairs: usize, w: *const i16, acc: &mut [[i64; BLOCK]; NP]) {
        let zero = _mm256_setzero_si256();
        let mut s = [[zero; 2]; NP];
        let mut h = [[zero; 2]; NP];
        let mut wp = w;
        for &off in taps {
            let xt = x.offset(off);
            for j in 0..pairs {
                let w0 = _mm256_loadu_si256(wp as *const __m256i);
                let w1 = _mm256_loadu_si256(wp.add(16) as *const __m256i);
                wp = wp.add(32);
                for p in 0..NP {
                    let xp = xt.offset(p as isize * step).add(2 * j) as *const i32;
                    let xv = _mm256_set1_epi32(xp.read_unaligned());
                    let m0 = _mm256_madd_epi16(w0, xv);
                    let m1 = _mm256_madd_epi16(w1, xv);
                    s[p][0] = _mm256_add_epi32(s[p][0], m0);
                    s[p][1] = _mm256_add_epi32(s[p][1], m1);
                    h[p][0] = _mm256_add_epi32(h[p][0], _mm256_srai_epi32::<16>(m0));
                    h[p][1] = _mm256_add_epi32(h[p][1], _mm256_srai_epi32::<16>(m1));
                }
            }
        }
        for p in 0..NP {
            let mut sv = [0i32; BLOCK];
            let mut hv = [0i32; BLOCK];
            _mm256_storeu_si256(sv.as_mut_ptr() as *mut __m256i, s[p][0]);
            _mm256_storeu_si256(sv.as_mut_ptr().add(8) as *mut __m256i, s[p][1]);
            _mm256_storeu_si256(hv.as_mut_ptr() as *mut __m256i, h[p][0]);
            _mm256_storeu_si256(hv.as_mut_ptr().add(8) as *mut __m256i, h[p][1]);
            for k in 0..BLOCK {
                acc[p][k] = exact(sv[k], hv[k]);
            }
        }
    }
}

/// The input map copied into `[y][x][pairs * 2]` with zero borders wide
/// enough for every tap of every computed pixel (normalisers: |x|).
struct Padded {
    data: Vec<i16>,
    width: usize,
    channels: usize,
    pad_y: usize,
    pad_x: usize,
    /// Per input row: holds -32768 (normalisers only).
    has_min: Vec<bool>,
}

impl Padded {
    fn new(pl: &PackedLayer, ins: &FmShape, input: &[i16], grid: &Grid, abs: bool) -> Padded {
        let all = pl.programs.iter().flatten().flat_map(|p| p.taps.iter());
        let (mut dy0, mut dy1, mut dx0, mut dx1) = (0isize, 0isize, 0isize, 0isize);
        for &(dy, dx) in all {
            dy0 = dy0.min(dy);
            dy1 = dy1.max(dy);
            dx0 = dx0.min(dx);
            dx1 = dx1.max(dx);
        }
        let (pad_y, pad_x) = ((-dy0) as usize, (-dx0) as usize);
        let last_row = (grid.rows - 1) * grid.row_mul / grid.row_div;
        let height = pad_y + ins.dims.h.max(last_row + dy1 as usize + 1);
        // NP - 1 columns beyond the grid are computed and dropped.
        let last_col = (grid.cols + NP - 1) * grid.col_mul;
        let width = pad_x + ins.dims.w.max(last_col + dx1 as usize + 1);
        let channels = pl.pairs * 2;
        let mut data = vec![0i16; height * width * channels];
        let mut has_min = vec![false; ins.dims.h];
        let real = ins.channels.min(channels);
        for y in 0..ins.dims.h {
            for x in 0..ins.dims.w {
                let d = ((y + pad_y) * width + x + pad_x) * channels;
                for c in 0..real {
                    let v = input[ins.index(c, y, x)];
                    if abs {
                        has_min[y] |= v == i16::MIN;
                        data[d + c] = v.unsigned_abs() as i16;
                    } else {
                        data[d + c] = v;
                    }
                }
            }
        }
        Padded { data, width, channels, pad_y, pad_x, has_min }
    }
}

/// The grid a layer's programs run over, for an input of `in_dims`.
fn grid_of(spec: &LayerSpec, pl: &PackedLayer, in_dims: Dims, out: Dims) -> Grid {
    let s = spec.op.stride();
    match (spec.op, &pl.programs[0][0].mapping) {
        (_, Mapping::Folded { .. }) => Grid { rows: in_dims.h, cols: in_dims.w, row_mul: 1, row_div: 1, col_mul: 1 },
        (Op::TConv { .. }, _) => Grid { rows: out.h, cols: in_dims.w, row_mul: 1, row_div: s, col_mul: 1 },
        _ => Grid { rows: out.h, cols: out.w, row_mul: s, row_div: 1, col_mul: s },
    }
}

/// The taps as runs of equal length with one dy and consecutive dx (or
/// every tap alone when the runs would differ in length).
fn runs_of(taps: &[(isize, isize)]) -> (Vec<(isize, isize)>, usize) {
    let mut runs: Vec<((isize, isize), usize)> = Vec::new();
    for &(dy, dx) in taps {
        match runs.last_mut() {
            Some(((y, x), n)) if *y == dy && *x + *n as isize == dx => *n += 1,
            _ => runs.push(((dy, dx), 1)),
        }
    }
    let len = runs.first().map_or(1, |r| r.1);
    if runs.iter().all(|r| r.1 == len) {
        (runs.into_iter().map(|r| r.0).collect(), len)
    } else {
        (taps.to_vec(), 1)
    }
}

/// Pack one layer's weights (package layout) into programs; keep its
/// tables (lengths checked by the caller).
fn pack(spec: &LayerSpec, hw: &HwLimits, w: &[i16], params: &[ChannelParams]) -> PackedLayer {
    let ws = WeightShape::of(spec, hw);
    let pairs = spec.cin.div_ceil(2);
    let use_reference = w.contains(&i16::MIN);
    let (k, s, pad) = (spec.op.kernel(), spec.op.stride(), spec.op.pad());
    // (dy, dx, ky, kx) of each tap, and the program's output channels:
    // weight(tap, v, ci) = W[ky][kx][ci][co(v)] or 0.
    let build = |taps: Vec<(isize, isize)>, channels: usize, mapping: Mapping, weight: &dyn Fn(usize, usize, usize) -> i16| {
        let blocks = channels.div_ceil(BLOCK);
        let mut packed = vec![0i16; blocks * taps.len() * pairs * BLOCK * 2];
        let mut i = 0;
        for b in 0..blocks {
            for t in 0..taps.len() {
                for j in 0..pairs {
                    for v in b * BLOCK..(b + 1) * BLOCK {
                        for e in 0..2 {
                            let ci = 2 * j + e;
                            if v < channels && ci < spec.cin {
                                packed[i] = weight(t, v, ci);
                            }
                            i += 1;
                        }
                    }
                }
            }
        }
        let (runs, run_len) = runs_of(&taps);
        Program { taps, runs, run_len, weights: packed, channels, mapping }
    };
    let at = |ky: usize, kx: usize, ci: usize, co: usize| w[ws.index(ky, kx, ci, co)];
    let (programs, row_phases) = match spec.op {
        Op::Gdn | Op::Igdn => (vec![vec![build(vec![(0, 0)], spec.cout, Mapping::Direct, &|_, v, ci| at(0, 0, ci, v))]], 1),
        Op::Conv { .. } => {
            let taps: Vec<(usize, usize)> = (0..k).flat_map(|ky| (0..k).map(move |kx| (ky, kx))).collect();
            let offsets = taps.iter().map(|&(ky, kx)| (ky as isize - pad as isize, kx as isize - pad as isize)).collect();
            (vec![vec![build(offsets, spec.cout, Mapping::Direct, &|t, v, ci| at(taps[t].0, taps[t].1, ci, v))]], 1)
        }
        Op::TConv { .. } => match PhaseFold::of(spec, hw) {
            Some(f) => {
                // Tap (ty, tx) reads input offset (first + ty, first + tx);
                // phase (py, px) uses it through ky = s (first + ty) + P - py.
                let n = f.taps;
                let taps: Vec<(isize, isize)> = (0..n).flat_map(|ty| (0..n).map(move |tx| (f.first + ty as isize, f.first + tx as isize))).collect();
                let kernel_tap = |d: isize, phase: usize| -> Option<usize> {
                    let kk = s as isize * d + pad as isize - phase as isize;
                    (0..k as isize).contains(&kk).then_some(kk as usize)
                };
                let t2 = taps.clone();
                let weight = move |t: usize, v: usize, ci: usize| {
                    let (phase, co) = (v / spec.cout, v % spec.cout);
                    let (py, px) = (phase / s, phase % s);
                    match (kernel_tap(t2[t].0, py), kernel_tap(t2[t].1, px)) {
                        (Some(ky), Some(kx)) => at(ky, kx, ci, co),
                        _ => 0,
                    }
                };
                (vec![vec![build(taps, f.channels, Mapping::Folded { s, cout: spec.cout }, &weight)]], 1)
            }
            None => {
                // Output row s q + py reads input row q + (py + ky - P) / s
                // for the ky that make it whole (geometry::tap_source).
                let phase_taps = |phase: usize| -> Vec<(usize, isize)> {
                    (0..k).filter_map(|kk| tap_source(spec.op, phase + s * 8, kk, usize::MAX).map(|i| (kk, i as isize - 8))).collect()
                };
                let programs = (0..s)
                    .map(|py| {
                        (0..s)
                            .map(|px| {
                                let (ty, tx) = (phase_taps(py), phase_taps(px));
                                let pairs_k: Vec<(usize, usize)> = ty.iter().flat_map(|&(ky, _)| tx.iter().map(move |&(kx, _)| (ky, kx))).collect();
                                let offsets = ty.iter().flat_map(|&(_, dy)| tx.iter().map(move |&(_, dx)| (dy, dx))).collect();
                                build(offsets, spec.cout, Mapping::Phase { s, px }, &|t, v, ci| at(pairs_k[t].0, pairs_k[t].1, ci, v))
                            })
                            .collect()
                    })
                    .collect();
                (programs, s)
            }
        },
    };
    for p in programs.iter().flatten() {
        // The exact-sum identity needs fewer than 2^16 pair sums per lane.
        assert!(p.taps.len() * pairs < 1 << 16);
    }
    PackedLayer { spec: *spec, weights: w.to_vec(), params: params.to_vec(), pairs, programs, row_phases, use_reference }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_merge_into_runs_of_consecutive_pixels() {
        let square: Vec<(isize, isize)> = (-1..=1).flat_map(|y| (-1..=1).map(move |x| (y, x))).collect();
        assert_eq!(runs_of(&square), (vec![(-1, -1), (0, -1), (1, -1)], 3));
        let ragged = [(0, 0), (0, 1), (1, 0)];
        assert_eq!(runs_of(&ragged), (ragged.to_vec(), 1));
        assert_eq!(runs_of(&[(0, 0)]), (vec![(0, 0)], 1));
    }

    #[test]
    fn exact_recovers_sums_beyond_i32() {
        let cases: [&[i64]; 3] = [&[2_000_000_000, 2_000_000_000, 2_000_000_000], &[-2_147_418_112; 5], &[123, -456, 2_147_418_112, -7]];
        for ps in cases {
            let (mut s, mut h) = (0i32, 0i32);
            for &p in ps {
                s = s.wrapping_add(p as i32);
                h += (p as i32) >> 16;
            }
            assert_eq!(exact(s, h), ps.iter().sum::<i64>());
        }
    }

    #[test]
    fn avx2_is_never_chosen_without_avx2() {
        // What a CPU without AVX2 gets, whatever the caller asked for
        // (Engine::new and IntModel::with_kernel are safe APIs).
        assert_eq!(Kernel::Avx2.usable(false), Kernel::Scalar);
        assert_eq!(Kernel::Scalar.usable(false), Kernel::Scalar);
        assert_eq!(Kernel::Avx2.usable(true), Kernel::Avx2);
        assert_eq!(Kernel::Scalar.usable(true), Kernel::Scalar);
        // And on this CPU the engine reports what it runs.
        let hw = accel_regs::HW_LIMITS;
        let layers: Vec<_> = Layer::ALL
            .iter()
            .map(|l| {
                let ws = WeightShape::of(l.spec(), &hw);
                (vec![0i16; ws.len()], vec![ChannelParams { bias: 0, mult: 1, shift: 0 }; ws.cout_padded()])
            })
            .collect();
        let e = Engine::new(&hw, &layers, Kernel::Avx2).unwrap();
        assert_eq!(e.kernel(), if avx2_detected() { Kernel::Avx2 } else { Kernel::Scalar });
    }
}
