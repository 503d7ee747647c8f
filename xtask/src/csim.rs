//! C-simulation of the HLS kernel: test vectors from the model crate's
//! integer reference, the testbench compiled with g++, run, compared bit
//! for bit (hls/tb/xlic_tb.cpp reads the vector format written here).
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use xlic_model::geometry::{layer_output, Dims};
use xlic_model::layer::{Layer, LayerSpec, Op};
use xlic_model::layout::{FmShape, HwLimits, TileChoice, Tiling, WeightShape};
use xlic_model::quant::ChannelParams;
use xlic_model::reference::{run_layer_parallel, LayerData};
use xlic_model::PadMode;
use xlic_quant::IntModel;
// Seeded: the same vectors every run.
use xlic_ref::rng::SeededRng as Rng;

const MAGIC: &[u8; 8] = b"XLICTV05";
const FLAG_CHAIN: u32 = 1;
/// The tile does not fit the buffers: the kernel must refuse it, write
/// nothing, and return the status that says so.
const FLAG_REFUSED: u32 = 2;
/// With FLAG_REFUSED: the layer itself is outside the kernel's limits.
const FLAG_LAYER_REFUSED: u32 = 4;

pub fn dir() -> PathBuf {
    crate::work_dir().join("csim")
}

/// One test vector: a layer's registers, input, constants and expected output.
struct Vector<'a> {
    name: &'a str,
    spec: &'a LayerSpec,
    in_dims: Dims,
    flags: u32,
    /// The tile registers' values.
    tile: TileChoice,
    input: &'a [i16],
    weights: &'a [i16],
    params: &'a [ChannelParams],
    expected: &'a [i16],
}

/// The kernel's status word for a vector's flags.
fn expected_status(flags: u32, hw: &HwLimits) -> u32 {
    use accel_regs::status;
    let code = if flags & FLAG_LAYER_REFUSED != 0 {
        status::LAYER_REFUSED
    } else if flags & FLAG_REFUSED != 0 {
        status::TILE_REFUSED
    } else {
        status::DONE
    };
    code | hw.config_id() << status::CONFIG_SHIFT
}

fn write_vector(path: &Path, v: &Vector, hw: &HwLimits) -> Result<()> {
    let out_dims = layer_output(v.spec.op, v.in_dims);
    let mut b = Vec::with_capacity(2 * (v.input.len() + v.weights.len() + v.expected.len()) + 256);
    b.extend_from_slice(MAGIC);
    let words = |n: usize| (n / hw.lanes) as u32;
    let header = [
        v.spec.op.code(),
        v.spec.op.kernel() as u32,
        v.spec.op.stride() as u32,
        v.spec.cin as u32,
        v.spec.cout as u32,
        v.in_dims.h as u32,
        v.in_dims.w as u32,
        out_dims.h as u32,
        out_dims.w as u32,
        v.flags,
        v.tile.band_rows as u32,
        v.tile.bands as u32,
        v.tile.tile_cols as u32,
        v.tile.passes as u32,
        words(v.input.len()),
        words(v.weights.len()),
        v.params.len() as u32,
        words(v.expected.len()),
        // The status the kernel must return (hls/xlic_layer.h): what
        // happened, and the configuration it was built with, as the
        // firmware computes it (HwLimits::config_id).
        expected_status(v.flags, hw),
    ];
    header.iter().for_each(|h| b.extend_from_slice(&h.to_le_bytes()));
    // The performance model's loop counts for this layer and tile: the
    // testbench fails a case whose kernel run counts differently (a
    // refused tile: nothing).
    let out = layer_output(v.spec.op, v.in_dims);
    let c = match Tiling::with(v.spec, out, hw, v.tile) {
        _ if v.flags & FLAG_LAYER_REFUSED != 0 => Default::default(),
        Ok(t) if v.flags & FLAG_REFUSED == 0 => xlic_model::perf::layer_tiled(v.spec, v.in_dims, hw, &accel_regs::PERF, &t).counts,
        Ok(_) => bail!("{}: a tile meant to be refused fits", v.name),
        Err(_) if v.flags & FLAG_REFUSED != 0 => Default::default(),
        Err(e) => bail!("{}: {e}", v.name),
    };
    [c.mac_iterations, c.input_words, c.weight_words, c.output_words, c.input_runs, c.weight_runs, c.output_runs]
        .iter()
        .for_each(|n| b.extend_from_slice(&n.to_le_bytes()));
    let mut name = [0u8; 48];
    name[..v.name.len().min(47)].copy_from_slice(&v.name.as_bytes()[..v.name.len().min(47)]);
    b.extend_from_slice(&name);
    for s in [v.input, v.weights] {
        s.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    }
    v.params.iter().for_each(|p| b.extend_from_slice(&p.to_le_bytes()));
    v.expected.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    std::fs::write(path, b).with_context(|| format!("cannot write {}", path.display()))
}


/// A random layer of type `op`. `narrow`: a transposed convolution with
/// few output channels, which the kernel folds into a stride-1 convolution
/// (xlic_model::layout::PhaseFold); its cases are as tall as several bands.
fn random_case(rng: &mut Rng, op: Op, index: usize, narrow: bool, hw: &HwLimits) -> (LayerSpec, Dims, Vec<i16>, Vec<i16>, Vec<ChannelParams>) {
    let (op, cin, cout) = match op {
        // Few input channels and an even stride: the kernel pairs input
        // columns (xlic_model::layout::Tiling::pair), as for the image.
        Op::Conv { .. } if narrow => {
            let k = rng.pick(&[3, 5, 9]);
            (Op::Conv { k, stride: rng.pick(&[2, 4]) }, rng.range(1, (hw.lanes / 2) as i64) as usize, rng.range(1, 128) as usize)
        }
        Op::TConv { .. } if narrow => {
            let (k, stride) = rng.pick(&[(9, 4), (5, 2), (3, 2), (3, 4)]);
            let most = (hw.max_channels / (stride * stride)).min(8) as i64;
            (Op::TConv { k, stride }, rng.range(1, 128) as usize, rng.range(1, most) as usize)
        }
        Op::Conv { .. } => {
            let k = rng.pick(&[1, 3, 5, 9]);
            (Op::Conv { k, stride: rng.pick(&[1, 2, 4]) }, rng.range(1, 128) as usize, rng.range(1, 128) as usize)
        }
        Op::TConv { .. } => {
            let k = rng.pick(&[3, 5, 9]);
            (Op::TConv { k, stride: rng.pick(&[1, 2, 4]) }, rng.range(1, 128) as usize, rng.range(1, 128) as usize)
        }
        norm => {
            let c = rng.range(1, 128) as usize;
            (norm, c, c)
        }
    };
    // Every third case is large enough to span several tiles.
    let big = index % 3 == 2;
    let in_dims = random_dims(rng, op, narrow, big);
    let spec = LayerSpec { layer: Layer::Ana0, name: "random", op, cin, cout, bias: true };
    let (input, weights, params) = random_data(rng, &spec, in_dims, hw);
    (spec, in_dims, input, weights, params)
}

/// A random input size for `op` (`big`: several tiles).
fn random_dims(rng: &mut Rng, op: Op, narrow: bool, big: bool) -> Dims {
    let s = op.stride();
    let (mh, mw) = match op {
        Op::TConv { .. } if narrow => (if big { 160 } else { 20 }, if big { 220 } else { 40 }),
        Op::TConv { .. } => (if big { 48 / s } else { 12 }, if big { 200 / s } else { 30 }),
        _ => (if big { 40 } else { 20 }, if big { 260 } else { 60 }),
    };
    Dims::new(rng.range(1, mh as i64) as usize, rng.range(1, mw as i64) as usize)
}

/// Random input, weights and parameters for a layer.
fn random_data(rng: &mut Rng, spec: &LayerSpec, in_dims: Dims, hw: &HwLimits) -> (Vec<i16>, Vec<i16>, Vec<ChannelParams>) {
    let (op, cin, cout) = (spec.op, spec.cin, spec.cout);
    let ins = FmShape::new(cin, in_dims, hw.lanes);
    let mut input = vec![0i16; ins.len()];
    for y in 0..in_dims.h {
        for x in 0..in_dims.w {
            for c in 0..cin {
                // Extremes included, to exercise saturation and |x| = 32768.
                input[ins.index(c, y, x)] = if rng.range(0, 50) == 0 { rng.pick(&[i16::MIN, i16::MAX]) } else { rng.range(-32768, 32767) as i16 };
            }
        }
    }
    let ws = WeightShape::of(spec, hw);
    let mut weights = vec![0i16; ws.len()];
    let nonneg = op.is_normaliser();
    for ky in 0..ws.k {
        for kx in 0..ws.k {
            for ci in 0..cin {
                for co in 0..cout {
                    weights[ws.index(ky, kx, ci, co)] = rng.range(if nonneg { 0 } else { -32767 }, 32767) as i16;
                }
            }
        }
    }
    let mut params = vec![if nonneg { ChannelParams::PAD_NORM } else { ChannelParams::PAD_CONV }; ws.cout_padded()];
    for p in params.iter_mut().take(cout) {
        *p = match op {
            Op::Gdn => ChannelParams { bias: rng.range(1, 1 << 40), mult: 1, shift: rng.range(20, 45) as i32 },
            Op::Igdn => ChannelParams { bias: rng.range(1, 1 << 40), mult: 1, shift: rng.range(30, 62) as i32 },
            _ => ChannelParams { bias: rng.range(-(1 << 40), 1 << 40), mult: rng.range(1, (1 << 15) - 1) as i32, shift: rng.range(30, 50) as i32 },
        };
        assert!(p.is_valid_for(op));
    }
    (input, weights, params)
}

/// Boundary cases of the three per-output rules, each with the value
/// xlic_model::quant computes (the testbench runs them through the
/// kernel's own output stage): hls-patterns 2.7's list for GDN's divider
/// (quotients just inside and outside the saturation limits, d = 1 and the
/// largest d, x = -32768, shifts 0 and 45, exact ties) and the extremes of
/// the requantization and IGDN (largest sums, biases, multipliers, shifts).
fn write_rules(path: &Path, rng: &mut Rng) -> Result<()> {
    use xlic_model::quant::{gdn_out, igdn_out, requant_conv, BIAS_LIMIT, MAX_ACC, MAX_GDN_NORM, MAX_GDN_SHIFT, MAX_SHIFT, MULT_BITS};
    // (op, acc, x, params)
    let mut cases: Vec<(Op, i64, i16, ChannelParams)> = Vec::new();
    let norm_case = |op: Op, norm: i64, x: i16, shift: i32| {
        // Split norm into a bias within the package's bound and a sum.
        let bias = norm.clamp(1, BIAS_LIMIT);
        (op, norm - bias, x, ChannelParams { bias, mult: 1, shift })
    };
    // GDN: quotients around +-2^15 for several (x, shift).
    for &x in &[i16::MIN, -32767, -12345, -1, 1, 777, 32767] {
        for s in [0, 1, 7, 20, 31, 44, MAX_GDN_SHIFT as i32] {
            let n = (x as i128) << s;
            // 2n + d = 2^16 d  <=>  d = 2n / (2^16 - 1); and -2^16 d: 2n / -(2^16 + 1).
            for d0 in [2 * n / 65535, 2 * n / -65537] {
                for dd in -2..=2i128 {
                    let d = d0 + dd;
                    if (1..=MAX_GDN_NORM as i128).contains(&d) {
                        cases.push(norm_case(Op::Gdn, d as i64, x, s));
                    }
                }
            }
            for d in [1, 2, 3, MAX_GDN_NORM, MAX_GDN_NORM - 1] {
                cases.push(norm_case(Op::Gdn, d, x, s));
            }
        }
    }
    // Exact ties: n / d = k + 1/2.
    for m in 1..40 {
        for x in [-32768i16, -3, 3, 32767] {
            cases.push(norm_case(Op::Gdn, 1 << m, x, m - 1));
        }
    }
    // A norm below 1 (a package with negative gamma): divides by 1.
    cases.push((Op::Gdn, -5, 100, ChannelParams { bias: 1, mult: 1, shift: 3 }));
    // Conv requantization and IGDN extremes.
    for acc in [MAX_ACC, -MAX_ACC, 0, 1, -1, 123_456_789_012] {
        for bias in [BIAS_LIMIT, -BIAS_LIMIT, 0] {
            for (mult, shift) in [((1 << MULT_BITS) - 1, MAX_SHIFT as i32), ((1 << MULT_BITS) - 1, 1), (1, 1), (0, 1), (12345, 47)] {
                cases.push((Op::Conv { k: 1, stride: 1 }, acc, 0, ChannelParams { bias, mult, shift }));
            }
        }
        for x in [i16::MIN, 32767, -1] {
            for shift in [0, 1, 40, MAX_SHIFT as i32] {
                cases.push((Op::Igdn, acc, x, ChannelParams { bias: BIAS_LIMIT, mult: 1, shift }));
            }
        }
    }
    // And random ones.
    for _ in 0..3000 {
        let x = rng.range(-32768, 32767) as i16;
        cases.push(norm_case(Op::Gdn, rng.range(1, MAX_GDN_NORM), x, rng.range(0, MAX_GDN_SHIFT as i64) as i32));
        cases.push(norm_case(Op::Igdn, rng.range(1, MAX_GDN_NORM), x, rng.range(0, MAX_SHIFT as i64) as i32));
        let p = ChannelParams { bias: rng.range(-BIAS_LIMIT, BIAS_LIMIT), mult: rng.range(0, (1 << MULT_BITS) - 1) as i32, shift: rng.range(1, MAX_SHIFT as i64) as i32 };
        cases.push((Op::Conv { k: 1, stride: 1 }, rng.range(-MAX_ACC, MAX_ACC), 0, p));
    }
    let mut b = Vec::with_capacity(12 + 32 * cases.len());
    b.extend_from_slice(b"XLICRULE");
    b.extend_from_slice(&(cases.len() as u32).to_le_bytes());
    for (op, acc, x, p) in cases {
        assert!(p.is_valid_for(op), "{op:?} {p:?}");
        let expected = match op {
            Op::Gdn => gdn_out(x, p.bias + acc, &p),
            Op::Igdn => igdn_out(x, p.bias + acc, &p),
            _ => requant_conv(acc, &p),
        };
        b.extend_from_slice(&op.code().to_le_bytes());
        b.extend_from_slice(&p.shift.to_le_bytes());
        b.extend_from_slice(&p.mult.to_le_bytes());
        b.extend_from_slice(&x.to_le_bytes());
        b.extend_from_slice(&expected.to_le_bytes());
        b.extend_from_slice(&acc.to_le_bytes());
        b.extend_from_slice(&p.bias.to_le_bytes());
    }
    std::fs::write(path, b).with_context(|| format!("cannot write {}", path.display()))
}

/// A random tile among those that fit the buffers of `hw` (each case runs
/// the kernel with another shape of tile, as the registers allow).
fn random_tile(rng: &mut Rng, spec: &LayerSpec, in_dims: Dims, hw: &HwLimits) -> Result<TileChoice> {
    let out = layer_output(spec.op, in_dims);
    let mut fits = Vec::new();
    Tiling::choices(spec, out, hw, |c| {
        if Tiling::with(spec, out, hw, c).is_ok() {
            fits.push(c)
        }
    });
    if fits.is_empty() {
        bail!("{}: no tile fits", spec.name);
    }
    Ok(fits[rng.below(fits.len())])
}

/// The tile the firmware gives a layer (perf::plan).
fn planned_tile(spec: &LayerSpec, in_dims: Dims, hw: &HwLimits) -> Result<TileChoice> {
    Ok(xlic_model::perf::plan(spec, in_dims, hw, &accel_regs::PERF)?.tiling.choice())
}

/// Which vectors to write.
#[derive(Clone, Copy, Debug)]
pub struct Set {
    /// Random cases per layer type.
    pub cases: usize,
    /// The per-output rules' boundary cases and the wide normalisers.
    pub full: bool,
    /// The chain on this top-left crop of the image (w, h), or all of it.
    pub crop: Option<(usize, usize)>,
}

/// Write every vector for a kernel built with `hw` into `dir`; returns
/// the files in run order.
pub fn write_vectors(data_dir: &Path, image: Option<PathBuf>, set: Set, hw: &HwLimits, dir: &Path) -> Result<Vec<PathBuf>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let mut rng = Rng::new(0x0123_4567_89ab_cdef);
    if set.full {
        let rules = dir.join("000-rules.tv");
        write_rules(&rules, &mut rng)?;
        files.push(rules);
    }
    let ops = [Op::Conv { k: 1, stride: 1 }, Op::TConv { k: 3, stride: 1 }, Op::Gdn, Op::Igdn];
    let kinds = ops.iter().map(|&op| (op, false)).chain([(Op::TConv { k: 3, stride: 2 }, true), (Op::Conv { k: 1, stride: 1 }, true)]);
    for (op, narrow) in kinds {
        for i in 0..set.cases {
            let (spec, in_dims, input, weights, params) = random_case(&mut rng, op, i, narrow, hw);
            let data = LayerData { weights: &weights, params: &params };
            let expected = run_layer_parallel(&spec, hw, in_dims, &input, data)?;
            let tile = random_tile(&mut rng, &spec, in_dims, hw)?;
            let kind = ["conv", "tconv", "gdn", "igdn"][op.code() as usize];
            let kind = if narrow { format!("{kind}-narrow") } else { kind.to_string() };
            let name = format!("random-{kind}-{i}{}", if i % 3 == 2 { "-big" } else { "" });
            let path = dir.join(format!("{:03}-{name}.tv", files.len()));
            let v = Vector { name: &name, spec: &spec, in_dims, flags: 0, tile, input: &input, weights: &weights, params: &params, expected: &expected };
            write_vector(&path, &v, hw)?;
            files.push(path);
        }
    }
    // A tile too big for the buffers (every band and row a layer could
    // want): the kernel refuses it and writes nothing.
    {
        let (spec, in_dims, input, weights, params) = random_case(&mut rng, Op::Conv { k: 3, stride: 1 }, 0, false, hw);
        let tile = TileChoice { band_rows: 4096, bands: 8, tile_cols: 4096, passes: 1 };
        let path = dir.join(format!("{:03}-refused-tile.tv", files.len()));
        let v = Vector { name: "refused-tile", spec: &spec, in_dims, flags: FLAG_REFUSED, tile, input: &input, weights: &weights, params: &params, expected: &vec![0; FmShape::new(spec.cout, layer_output(spec.op, in_dims), hw.lanes).len()] };
        write_vector(&path, &v, hw)?;
        files.push(path);
        // A layer beyond the kernel's limits (a kernel side over
        // XLIC_MAX_KERNEL) with a tile that would fit: refused as a layer.
        let wide = LayerSpec { op: Op::Conv { k: hw.max_kernel + 2, stride: 1 }, ..spec };
        let tile = TileChoice { band_rows: 1, bands: 1, tile_cols: hw.pox, passes: 1 };
        let path = dir.join(format!("{:03}-refused-layer.tv", files.len()));
        let out = vec![0; FmShape::new(wide.cout, layer_output(wide.op, in_dims), hw.lanes).len()];
        let v = Vector { name: "refused-layer", spec: &wide, in_dims, flags: FLAG_REFUSED | FLAG_LAYER_REFUSED, tile, input: &input, weights: &weights, params: &params, expected: &out };
        write_vector(&path, &v, hw)?;
        files.push(path);
    }
    // Normalisers wider than one tile (the maps of images over 2048
    // pixels): several column tiles of the largest width.
    let wide: &[(Op, usize, Dims)] = if set.full { &[(Op::Gdn, 128, Dims::new(2, 600)), (Op::Igdn, 16, Dims::new(3, 1100))] } else { &[] };
    for &(op, c, dims) in wide {
        let spec = LayerSpec { layer: Layer::Ana0, name: "wide", op, cin: c, cout: c, bias: false };
        let (input, weights, params) = random_data(&mut rng, &spec, dims, hw);
        let data = LayerData { weights: &weights, params: &params };
        let expected = run_layer_parallel(&spec, hw, dims, &input, data)?;
        let name = format!("wide-{}-big", ["conv", "tconv", "gdn", "igdn"][op.code() as usize]);
        let path = dir.join(format!("{:03}-{name}.tv", files.len()));
        let tile = planned_tile(&spec, dims, hw)?;
        write_vector(&path, &Vector { name: &name, spec: &spec, in_dims: dims, flags: 0, tile, input: &input, weights: &weights, params: &params, expected: &expected }, hw)?;
        files.push(path);
    }
    // Extreme weights: every product at its largest magnitude (+-32767 x
    // -32768) in every lane, so the pair sums of the fast paths (this
    // testbench's native build, the host reference's SplitAcc) meet their
    // bound; both testbench builds run them. (-32768 is not a weight: the
    // package parser refuses it.)
    for (i, w) in [xlic_model::quant::WEIGHT_MAX, -xlic_model::quant::WEIGHT_MAX].into_iter().enumerate() {
        let spec = LayerSpec { layer: Layer::Ana1, name: "extreme", op: Op::Conv { k: 3, stride: 1 }, cin: 128, cout: 16, bias: true };
        let dims = Dims::new(5, 20);
        let ins = FmShape::new(spec.cin, dims, hw.lanes);
        let input = vec![i16::MIN; ins.len()];
        let weights = vec![w; WeightShape::of(&spec, hw).len()];
        let params = vec![ChannelParams { bias: 0, mult: 1, shift: 30 }; WeightShape::of(&spec, hw).cout_padded()];
        let data = LayerData { weights: &weights, params: &params };
        let expected = run_layer_parallel(&spec, hw, dims, &input, data)?;
        let name = format!("extreme-weights-{i}");
        let path = dir.join(format!("{:03}-{name}.tv", files.len()));
        let tile = planned_tile(&spec, dims, hw)?;
        write_vector(&path, &Vector { name: &name, spec: &spec, in_dims: dims, flags: 0, tile, input: &input, weights: &weights, params: &params, expected: &expected }, hw)?;
        files.push(path);
    }
    // The whole codec on a real image, each layer tiled as the firmware
    // tiles it: layer 0 reads the image, every later layer reads the
    // kernel's own previous output.
    let image = image.unwrap_or_else(|| xlic_ref::data::images_dir(data_dir).join("chelsea.png"));
    let img = crate::codec::load_image(&image)?;
    let img = match set.crop {
        Some((w, h)) => img.crop(w.min(img.width), h.min(img.height)),
        None => img,
    };
    let w = crate::codec::load_weights(data_dir)?;
    let pkg = xlic_quant::scales::build_package(&w, std::slice::from_ref(&img), PadMode::Edge, hw)?;
    let model = IntModel::from_package(&pkg, hw)?;
    let run = xlic_quant::pipeline::codec(&model, &img, PadMode::Edge)?;
    let mut input = xlic_quant::pipeline::input_map(&img, &run.geometry, hw);
    for l in Layer::ALL {
        let path = dir.join(format!("{:03}-chain-{}.tv", files.len(), l.name()));
        let expected = &run.outputs[l.index()];
        let data = model.data(l);
        let in_dims = run.geometry.input(l);
        write_vector(
            &path,
            &Vector {
                name: &format!("chain-{}", l.name()),
                spec: l.spec(),
                in_dims,
                flags: if l == Layer::Ana0 { 0 } else { FLAG_CHAIN },
                tile: planned_tile(l.spec(), in_dims, hw)?,
                input: &input,
                weights: data.weights,
                params: data.params,
                expected,
            },
            hw,
        )?;
        files.push(path);
        input = expected.clone();
    }
    eprintln!("csim: {} vectors in {} (chain on {}, {}x{})", files.len(), dir.display(), image.display(), img.width, img.height);
    Ok(files)
}

/// The g++ command every host build of the kernel uses (C-simulation
/// testbench, co-simulation bridge): -O3, C++17, Xilinx's ap_types.
pub fn gxx() -> Result<Command> {
    let mut c = Command::new("g++");
    c.args(["-std=c++17", "-O3", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-label"]);
    c.args(crate::aptypes::cxx_flags()?);
    Ok(c)
}

/// Which build of the testbench: the fast one (the MAC array on native
/// integers of the same values) or `XLIC_CSIM_AP`, the types synthesis
/// sees (ap_int<16> operands, ap_int<48> accumulators), ~40x slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    Fast,
    SynthesisTypes,
}

/// Compile the testbench and the kernel (the HLS pragmas are ignored)
/// from the sources in `src` (hls/, or a copy with another configuration)
/// into `out`.
pub fn build_testbench(build: Build, src: &Path, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let exe = out.join(if build == Build::Fast { "xlic_tb" } else { "xlic_tb_ap" });
    let mut cmd = gxx()?;
    if build == Build::SynthesisTypes {
        cmd.arg("-DXLIC_CSIM_AP");
    }
    let st = cmd
        .arg("-o")
        .arg(&exe)
        .arg(src.join("tb/xlic_tb.cpp"))
        .arg(src.join("xlic_layer.cpp"))
        .status()
        .context("cannot run g++ (run `cargo xtask setup`)")?;
    if !st.success() {
        bail!("the HLS testbench does not compile ({})", src.display());
    }
    Ok(exe)
}

/// Vectors written and both testbenches built: the commands that run
/// them. The fast build runs every vector; the build with the synthesis
/// types runs the rules, the extreme weights and the random layers (the
/// small ones: it is slow).
pub fn prepare(data_dir: &Path, image: Option<PathBuf>, cases: usize) -> Result<Vec<Command>> {
    let hls = crate::repo_root().join("hls");
    let set = Set { cases, full: true, crop: None };
    let files = write_vectors(data_dir, image, set, &crate::codec::HW, &dir())?;
    let mut fast = Command::new(build_testbench(Build::Fast, &hls, &dir())?);
    fast.args(&files);
    let mut exact = Command::new(build_testbench(Build::SynthesisTypes, &hls, &dir())?);
    let small = |p: &&PathBuf| {
        let n = p.file_name().unwrap_or_default().to_string_lossy();
        n.contains("rules") || n.contains("extreme") || n.contains("refused") || (n.contains("random") && !n.contains("-big"))
    };
    exact.args(files.iter().filter(small));
    Ok(vec![fast, exact])
}

/// The configurations the design-space explorer picks for the other
/// boards (ZCU104, KV260, Ultra96-V2; the ZCU102's is hls/xlic_config.h
/// itself), each under the default budget (`cargo xtask dse --board B`).
pub fn dse_configurations() -> Result<Vec<(xlic_model::device::Board, HwLimits)>> {
    use crate::dse::{choose, front, sweep, Budget, Options};
    use xlic_model::device::Board;
    let mut v = Vec::new();
    for board in [Board::ZCU104, Board::KV260, Board::ULTRA96V2] {
        let opts = Options { board, clock_hz: board.clock_hz, image: Dims::new(1365, 2048), budget: Budget::default() };
        let s = sweep(&opts, &crate::codec::HW)?;
        let chosen = choose(&front(&s.points, &crate::codec::HW)).with_context(|| format!("no configuration fits {}", board.name))?;
        v.push((board, chosen.hw));
    }
    Ok(v)
}

/// The kernel's sources with the configuration `hw` for `board`: hls/'s
/// files copied beside an xlic_config.h written as `dse --write` writes it.
pub fn config_sources(board: &xlic_model::device::Board, hw: &HwLimits) -> Result<PathBuf> {
    let hls = crate::repo_root().join("hls");
    let src = crate::work_dir().join("csim-configs").join(board.key);
    std::fs::create_dir_all(src.join("tb"))?;
    for f in ["xlic_layer.cpp", "xlic_layer.h", "tb/xlic_tb.cpp"] {
        std::fs::copy(hls.join(f), src.join(f)).with_context(|| format!("cannot copy {f}"))?;
    }
    let text = std::fs::read_to_string(hls.join("xlic_config.h"))?;
    std::fs::write(src.join("xlic_config.h"), crate::dse::config_header(&text, hw, board, board.clock_hz)?)?;
    Ok(src)
}

/// The ZCU102's configuration (hls/xlic_config.h) with only its output
/// lanes changed: a kernel built with it must report its own configuration
/// word, which must differ from the ZCU102's (a bitstream that differs in
/// the output lanes alone is told apart).
pub fn other_out_lanes() -> Result<HwLimits> {
    let own = crate::codec::HW;
    let hw = HwLimits { out_lanes: if own.out_lanes == 2 { own.pof } else { 2 }, ..own };
    hw.check().map_err(|e| anyhow::anyhow!("{e}"))?;
    if hw.config_id() == own.config_id() {
        bail!("output lanes {} and {} give the same configuration word {:#x}", hw.out_lanes, own.out_lanes, own.config_id());
    }
    Ok(hw)
}

/// C-simulation of the kernel built with the configurations the DSE
/// picks for the other boards, and with the ZCU102's but other output
/// lanes ([`other_out_lanes`]): random layers of every type with random
/// tiles, a refused tile, the extreme weights, and the codec chain on a
/// 96x64 crop, in the fast build (each vector checks the status word,
/// configuration included). The commands, and what each is.
pub fn prepare_configs(data_dir: &Path) -> Result<Vec<(String, Command)>> {
    let mut cmds = Vec::new();
    let mut configs = dse_configurations()?;
    configs.push((xlic_model::device::Board::ZCU102, other_out_lanes()?));
    for (board, hw) in configs {
        let src = config_sources(&board, &hw)?;
        let out = src.join("out");
        let set = Set { cases: 1, full: false, crop: Some((96, 64)) };
        let files = write_vectors(data_dir, None, set, &hw, &out.join("vectors"))?;
        let mut cmd = Command::new(build_testbench(Build::Fast, &src, &out)?);
        cmd.args(&files);
        let what = format!(
            "{}: {} x {} x {} MAC array, {} output lanes, {}x{} accumulator tiles, input depth {}{}",
            board.name,
            hw.lanes,
            hw.pof,
            hw.pox,
            hw.out_lanes,
            hw.tile_rows,
            hw.tile_cols,
            hw.in_depth,
            if hw.acc_uram || hw.xkeep_uram { ", UltraRAM" } else { "" }
        );
        cmds.push((what, cmd));
    }
    Ok(cmds)
}

pub fn run(data_dir: &Path, image: Option<PathBuf>, cases: usize, configs: bool) -> Result<i32> {
    let mut code = 0;
    for mut cmd in prepare(data_dir, image, cases)? {
        let st = cmd.status()?;
        if !st.success() {
            code = st.code().unwrap_or(1);
        }
    }
    if configs {
        for (what, mut cmd) in prepare_configs(data_dir)? {
            println!("== {what} ==");
            let st = cmd.status()?;
            if !st.success() {
                code = st.code().unwrap_or(1);
            }
        }
    }
    Ok(code)
}
