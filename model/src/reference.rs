//! Integer reference of the four layer types on the DDR layouts of
//! [`layout`](crate::layout): the definition the accelerator must match bit
//! for bit. Allocation-free; [`run_layer`] computes any band of output rows,
//! so the host can spread rows over threads and the firmware can compare
//! single tiles.
use crate::geometry::{tap_source as source, Dims};
use crate::layer::{LayerSpec, Op};
use crate::layout::{FmShape, HwLimits, WeightShape};
use crate::quant::{gdn_out, igdn_out, requant_conv, ChannelParams};

/// Largest supported output-channel parallelism (accumulator array size).
pub const MAX_POF: usize = 64;

/// One layer's constants, as the model package stores them.
#[derive(Clone, Copy, Debug)]
pub struct LayerData<'a> {
    pub weights: &'a [i16],
    pub params: &'a [ChannelParams],
}

/// Why a layer cannot run on the given buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeError {
    Input { expected: usize, got: usize },
    Output { expected: usize, got: usize },
    Weights { expected: usize, got: usize },
    Params { expected: usize, got: usize },
    /// A model given with another number of layers than the table's.
    Layers { expected: usize, got: usize },
    Rows,
    /// pof above MAX_POF, or lanes other than 8 (one 128-bit word).
    Pof,
}

impl core::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            ShapeError::Input { expected, got } => write!(f, "input map has {got} values, the layer needs {expected}"),
            ShapeError::Output { expected, got } => write!(f, "output buffer has {got} values, the rows need {expected}"),
            ShapeError::Weights { expected, got } => write!(f, "weights have {got} values, the layer needs {expected}"),
            ShapeError::Params { expected, got } => write!(f, "{got} channel parameter records, the layer needs {expected}"),
            ShapeError::Layers { expected, got } => write!(f, "{got} layers of tables, the layer table has {expected}"),
            ShapeError::Rows => write!(f, "row range outside the output map"),
            ShapeError::Pof => write!(f, "hardware limits unsupported by the reference (lanes must be 8, pof at most {MAX_POF})"),
        }
    }
}

impl core::error::Error for ShapeError {}

/// Shapes of one layer on an input of `in_dims`.
pub fn shapes(spec: &LayerSpec, in_dims: Dims, hw: &HwLimits) -> (FmShape, FmShape, WeightShape) {
    let out_dims = crate::geometry::layer_output(spec.op, in_dims);
    (
        FmShape::new(spec.cin, in_dims, hw.lanes),
        FmShape::new(spec.cout, out_dims, hw.lanes),
        WeightShape::of(spec, hw),
    )
}

/// The buffers a layer needs, checked: the input map, the output rows,
/// the weights and the parameter records must have exactly the layer's
/// sizes, and the hardware limits must be ones the layouts support. Any
/// implementation of the layers (this reference, the firmware's CPU
/// engine) runs only on buffers that pass.
pub fn check_buffers(
    spec: &LayerSpec,
    hw: &HwLimits,
    in_dims: Dims,
    input: &[i16],
    data: LayerData,
    rows: &core::ops::Range<usize>,
    out: &[i16],
) -> Result<(FmShape, FmShape, WeightShape), ShapeError> {
    let (ins, outs, ws) = shapes(spec, in_dims, hw);
    if input.len() != ins.len() {
        return Err(ShapeError::Input { expected: ins.len(), got: input.len() });
    }
    if rows.end > outs.dims.h || rows.start > rows.end {
        return Err(ShapeError::Rows);
    }
    if out.len() != rows.len() * outs.row_len() {
        return Err(ShapeError::Output { expected: rows.len() * outs.row_len(), got: out.len() });
    }
    if data.weights.len() != ws.len() {
        return Err(ShapeError::Weights { expected: ws.len(), got: data.weights.len() });
    }
    if data.params.len() != ws.cout_padded() {
        return Err(ShapeError::Params { expected: ws.cout_padded(), got: data.params.len() });
    }
    if hw.pof > MAX_POF || hw.lanes != LANES {
        return Err(ShapeError::Pof);
    }
    Ok((ins, outs, ws))
}

/// Compute output rows `rows` of one layer. `out` holds exactly those rows
/// (`rows.len() * out_shape.row_len()` values).
#[inline(always)]
pub fn run_layer(
    spec: &LayerSpec,
    hw: &HwLimits,
    in_dims: Dims,
    input: &[i16],
    data: LayerData,
    rows: core::ops::Range<usize>,
    out: &mut [i16],
) -> Result<(), ShapeError> {
    let (ins, outs, ws) = check_buffers(spec, hw, in_dims, input, data, &rows, out)?;
    match spec.op {
        Op::Conv { .. } | Op::TConv { .. } => conv(spec.op, &ins, &outs, &ws, input, data, rows, out),
        Op::Gdn | Op::Igdn => normalise(spec.op, &ins, &outs, &ws, input, data, rows, out),
    }
    Ok(())
}

/// Write one output pixel's `pof` channels of tile `tile` (only the
/// channels that exist in the output map's groups).
#[inline(always)]
fn store(outs: &FmShape, out: &mut [i16], row_base: usize, tile: usize, pof: usize, ox: usize, vals: &[i16]) {
    let c0 = tile * pof;
    let mut c = 0;
    while c < pof && c0 + c < outs.groups() * outs.lanes {
        let g = (c0 + c) / outs.lanes;
        let idx = row_base + (g * outs.dims.w + ox) * outs.lanes + (c0 + c) % outs.lanes;
        out[idx] = vals[c];
        c += 1;
    }
}

/// Exact dot products of INT16 pairs, accumulated in i32 without overflow:
/// each pair sum `p` (|p| < 2^31, since |w| <= 32767) is split as
/// `(p >> 16) * 2^16 + (p & 0xffff)`, and the two halves are summed
/// separately (at most a few thousand terms: far below 2^31 each). The
/// total is `hi * 2^16 + lo`, bit-identical to an i64 sum, and the loop
/// vectorises (pmaddwd) on the host.
#[derive(Clone, Copy)]
struct SplitAcc {
    hi: [[i32; LANES / 2]; MAX_POF],
    lo: [[i32; LANES / 2]; MAX_POF],
}

/// INT16 lanes of one bus word: the only width the layouts support.
pub const LANES: usize = 8;

impl SplitAcc {
    fn new() -> Self {
        SplitAcc { hi: [[0; LANES / 2]; MAX_POF], lo: [[0; LANES / 2]; MAX_POF] }
    }
    /// acc[co] += sum_l w[co][l] * x[l] for co < pof (`w` is `[pof][8]`).
    /// Both operands stay i16 so the host compiler can use pmaddwd.
    #[inline(always)]
    fn mac(&mut self, pof: usize, w: &[i16], x: &[i16; LANES]) {
        for (co, wr) in w.chunks_exact(LANES).take(pof).enumerate() {
            let wr: &[i16; LANES] = wr.try_into().unwrap();
            let (hi, lo) = (&mut self.hi[co], &mut self.lo[co]);
            for l in 0..LANES / 2 {
                let p = wr[2 * l] as i32 * x[2 * l] as i32 + wr[2 * l + 1] as i32 * x[2 * l + 1] as i32;
                hi[l] += p >> 16;
                lo[l] += p & 0xffff;
            }
        }
    }

    /// acc[co] += sum_l g[co][l] * |x[l]| (|x| may be 32768, so i32).
    #[inline(always)]
    fn mac_abs(&mut self, pof: usize, g: &[i16], x: &[i16; LANES]) {
        let ax: [i32; LANES] = core::array::from_fn(|l| (x[l] as i32).abs());
        for (co, gr) in g.chunks_exact(LANES).take(pof).enumerate() {
            let (hi, lo) = (&mut self.hi[co], &mut self.lo[co]);
            for l in 0..LANES / 2 {
                let p = gr[2 * l] as i32 * ax[2 * l] + gr[2 * l + 1] as i32 * ax[2 * l + 1];
                hi[l] += p >> 16;
                lo[l] += p & 0xffff;
            }
        }
    }
    #[inline(always)]
    fn total(&self, co: usize) -> i64 {
        let hi: i64 = self.hi[co].iter().map(|&v| v as i64).sum();
        let lo: i64 = self.lo[co].iter().map(|&v| v as i64).sum();
        (hi << 16) + lo
    }
}

#[inline(always)]
fn lanes8(s: &[i16]) -> &[i16; LANES] {
    s[..LANES].try_into().unwrap()
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv(op: Op, ins: &FmShape, outs: &FmShape, ws: &WeightShape, input: &[i16], data: LayerData, rows: core::ops::Range<usize>, out: &mut [i16]) {
    let (k, lanes, pof) = (ws.k, ws.lanes, ws.pof);
    let first = rows.start;
    for oy in rows {
        let row_base = (oy - first) * outs.row_len();
        for ox in 0..outs.dims.w {
            for tile in 0..ws.out_tiles() {
                // Output channels at or beyond `cout` (padding) are 0 by
                // definition; only the real ones are computed.
                let real = pof.min(ws.cout - tile * pof);
                let mut acc = SplitAcc::new();
                for g in 0..ws.in_groups() {
                    let block = &data.weights[ws.block_index(tile, g)..][..ws.block_len()];
                    for ky in 0..k {
                        let Some(iy) = source(op, oy, ky, ins.dims.h) else { continue };
                        for kx in 0..k {
                            let Some(ix) = source(op, ox, kx, ins.dims.w) else { continue };
                            let x = lanes8(&input[ins.group_index(g, iy, ix)..]);
                            acc.mac(real, &block[(ky * k + kx) * pof * lanes..][..pof * lanes], x);
                        }
                    }
                }
                let mut vals = [0i16; MAX_POF];
                for co in 0..real {
                    vals[co] = requant_conv(acc.total(co), &data.params[tile * pof + co]);
                }
                store(outs, out, row_base, tile, pof, ox, &vals[..pof]);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn normalise(op: Op, ins: &FmShape, outs: &FmShape, ws: &WeightShape, input: &[i16], data: LayerData, rows: core::ops::Range<usize>, out: &mut [i16]) {
    let (lanes, pof) = (ws.lanes, ws.pof);
    let first = rows.start;
    for y in rows {
        let row_base = (y - first) * outs.row_len();
        for x in 0..outs.dims.w {
            for tile in 0..ws.out_tiles() {
                let mut norm = [0i64; MAX_POF];
                for (co, n) in norm[..pof].iter_mut().enumerate() {
                    *n = data.params[tile * pof + co].bias;
                }
                let mut acc = SplitAcc::new();
                for g in 0..ws.in_groups() {
                    let block = &data.weights[ws.block_index(tile, g)..][..ws.block_len()];
                    acc.mac_abs(pof, block, lanes8(&input[ins.group_index(g, y, x)..]));
                }
                for (co, n) in norm[..pof].iter_mut().enumerate() {
                    *n += acc.total(co);
                }
                let mut vals = [0i16; MAX_POF];
                for co in 0..pof {
                    let c = tile * pof + co;
                    let xi = if c < ins.groups() * lanes { input[ins.index(c, y, x)] } else { 0 };
                    let p = &data.params[c];
                    vals[co] = if op == Op::Gdn { gdn_out(xi, norm[co], p) } else { igdn_out(xi, norm[co], p) };
                }
                store(outs, out, row_base, tile, pof, x, &vals[..pof]);
            }
        }
    }
}

/// [`run_layer`] compiled for AVX2 when the host has it: the same source
/// and the same bits, about twice the speed.
#[cfg(feature = "std")]
fn run_layer_fast(
    spec: &LayerSpec,
    hw: &HwLimits,
    in_dims: Dims,
    input: &[i16],
    data: LayerData,
    rows: core::ops::Range<usize>,
    out: &mut [i16],
) -> Result<(), ShapeError> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            spec: &LayerSpec,
            hw: &HwLimits,
            in_dims: Dims,
            input: &[i16],
            data: LayerData,
            rows: core::ops::Range<usize>,
            out: &mut [i16],
        ) -> Result<(), ShapeError> {
            run_layer(spec, hw, in_dims, input, data, rows, out)
        }
        // SAFETY: the CPU was just checked for AVX2.
        return unsafe { avx2(spec, hw, in_dims, input, data, rows, out) };
    }
    run_layer(spec, hw, in_dims, input, data, rows, out)
}

/// Run a layer over all its output rows with every available core.
#[cfg(feature = "std")]
pub fn run_layer_parallel(spec: &LayerSpec, hw: &HwLimits, in_dims: Dims, input: &[i16], data: LayerData) -> Result<std::vec::Vec<i16>, ShapeError> {
    let (_, outs, _) = shapes(spec, in_dims, hw);
    let mut out = std::vec![0i16; outs.len()];
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let h = outs.dims.h;
    // Small bands balance the cores even when rows cost differently.
    let band = h.div_ceil(threads * 8).max(1);
    let chunks: std::vec::Vec<(usize, &mut [i16])> =
        out.chunks_mut(band * outs.row_len()).enumerate().map(|(i, c)| (i * band, c)).collect();
    let chunks = std::sync::Mutex::new(chunks.into_iter());
    let result = std::sync::Mutex::new(Ok(()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some((start, chunk)) = chunks.lock().unwrap().next() else { break };
                let n = chunk.len() / outs.row_len();
                if let Err(e) = run_layer_fast(spec, hw, in_dims, input, data, start..start + n, chunk) {
                    *result.lock().unwrap() = Err(e);
                }
            });
        }
    });
    result.into_inner().unwrap().map(|_| out)
}
