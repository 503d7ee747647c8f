//! Float32 reference of bls2017 exactly as FORMAT.md defines it, on maps
//! stored pixel-major (`[y][x][c]`), with output rows spread over threads.
use crate::image::Rgb8;
use crate::weights::{FloatWeights, Kernel, LayerWeights, Normaliser};
use xlic_model::geometry::{layer_output, tap_source as source, Dims, Geometry};
use xlic_model::layer::{Layer, Op, LAYERS};
use xlic_model::PadMode;

/// A float feature map, `[y][x][c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fm {
    pub c: usize,
    pub dims: Dims,
    pub data: Vec<f32>,
}

impl Fm {
    pub fn zeros(c: usize, dims: Dims) -> Fm {
        Fm { c, dims, data: vec![0.0; c * dims.pixels()] }
    }
    #[inline(always)]
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(y * self.dims.w + x) * self.c + c]
    }
    /// Largest |value| of each channel.
    pub fn channel_maxabs(&self) -> Vec<f32> {
        let mut m = vec![0f32; self.c];
        for px in self.data.chunks_exact(self.c) {
            for (a, &v) in m.iter_mut().zip(px) {
                *a = a.max(v.abs());
            }
        }
        m
    }
}

/// The coded input map of an image: values v/255, edge-replicated up to a
/// multiple of 16 in `Edge` mode.
pub fn input_map(img: &Rgb8, g: &Geometry) -> Fm {
    let mut fm = Fm::zeros(3, g.coded);
    for y in 0..g.coded.h {
        for x in 0..g.coded.w {
            let (sx, sy) = g.source_pixel(x, y);
            for c in 0..3 {
                fm.data[(y * g.coded.w + x) * 3 + c] = img.at(sx, sy, c) as f32 / 255.0;
            }
        }
    }
    fm
}

/// Split `out` into bands of rows and compute them on every core.
fn par_rows(out: &mut Fm, f: impl Fn(usize, &mut [f32]) + Sync) {
    let row = out.dims.w * out.c;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let band = out.dims.h.div_ceil(threads * 8).max(1);
    let bands = std::sync::Mutex::new(out.data.chunks_mut(band * row).enumerate());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some((i, chunk)) = bands.lock().unwrap().next() else { break };
                for (r, rowbuf) in chunk.chunks_mut(row).enumerate() {
                    f(i * band + r, rowbuf);
                }
            });
        }
    });
}

/// Convolution or transposed convolution (gather form).
pub fn conv(op: Op, input: &Fm, k: &Kernel, bias: Option<&[f32]>) -> Fm {
    assert_eq!(input.c, k.cin);
    let mut out = Fm::zeros(k.cout, layer_output(op, input.dims));
    let (cout, cin, kk) = (k.cout, k.cin, k.k);
    par_rows(&mut out, |oy, row| {
        for (ox, px) in row.chunks_exact_mut(cout).enumerate() {
            match bias {
                Some(b) => px.copy_from_slice(b),
                None => px.fill(0.0),
            }
            for ky in 0..kk {
                let Some(iy) = source(op, oy, ky, input.dims.h) else { continue };
                for kx in 0..kk {
                    let Some(ix) = source(op, ox, kx, input.dims.w) else { continue };
                    let x = &input.data[(iy * input.dims.w + ix) * cin..][..cin];
                    let w = &k.w[(ky * kk + kx) * cin * cout..][..cin * cout];
                    for (ci, &xv) in x.iter().enumerate() {
                        for (a, &wv) in px.iter_mut().zip(&w[ci * cout..][..cout]) {
                            *a += xv * wv;
                        }
                    }
                }
            }
        }
    });
    out
}

/// GDN (`divide`) or IGDN: norm[i] = beta[i] + sum_j gamma[j][i] |x[j]|.
pub fn normalise(input: &Fm, n: &Normaliser, divide: bool) -> Fm {
    let c = input.c;
    let mut out = Fm::zeros(c, input.dims);
    par_rows(&mut out, |y, row| {
        let mut norm = vec![0f32; c];
        for (x, px) in row.chunks_exact_mut(c).enumerate() {
            let xs = &input.data[(y * input.dims.w + x) * c..][..c];
            norm.copy_from_slice(&n.beta);
            for (j, &xj) in xs.iter().enumerate() {
                let a = xj.abs();
                for (nv, &g) in norm.iter_mut().zip(&n.gamma[j * c..][..c]) {
                    *nv += g * a;
                }
            }
            for i in 0..c {
                px[i] = if divide { xs[i] / norm[i] } else { xs[i] * norm[i] };
            }
        }
    });
    out
}

/// Run one layer.
pub fn run_layer(w: &FloatWeights, l: Layer, input: &Fm) -> Fm {
    match (w.layer(l), LAYERS[l.index()].op) {
        (LayerWeights::Conv { kernel, bias }, op) => conv(op, input, kernel, bias.as_deref()),
        (LayerWeights::Norm(n), Op::Gdn) => normalise(input, n, true),
        (LayerWeights::Norm(n), _) => normalise(input, n, false),
    }
}

/// Round half to even, as tf.round.
pub fn round_latent(y: &Fm) -> Fm {
    Fm { c: y.c, dims: y.dims, data: y.data.iter().map(|v| v.round_ties_even()).collect() }
}

/// Convert syn_2's output to the 8-bit image: clamp(round(255 x)), cropped.
pub fn to_image(out: &Fm, width: usize, height: usize) -> Rgb8 {
    let mut img = Rgb8::new(width, height);
    for y in 0..height {
        for x in 0..width {
            for c in 0..3 {
                img.data[(y * width + x) * 3 + c] = (255.0 * out.at(c, y, x)).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

/// One image through the whole float codec.
pub struct FloatRun {
    /// Output of every layer, in table order; ana_2's is y before rounding.
    pub outputs: Vec<Fm>,
    pub y_hat: Fm,
    pub recon: Rgb8,
}

/// Analysis, rounding of y (or not, with `round = false`), synthesis.
pub fn codec(w: &FloatWeights, img: &Rgb8, pad: PadMode, round: bool) -> FloatRun {
    let g = Geometry::new(img.width, img.height, pad, usize::MAX).expect("image size");
    let mut outputs = Vec::with_capacity(10);
    let mut x = input_map(img, &g);
    let mut y_hat = None;
    for l in Layer::ALL {
        let out = run_layer(w, l, &x);
        x = if l == Layer::LATENT {
            let r = if round { round_latent(&out) } else { out.clone() };
            y_hat = Some(r.clone());
            r
        } else {
            out.clone()
        };
        outputs.push(out);
    }
    let recon = to_image(&x, img.width, img.height);
    FloatRun { outputs, y_hat: y_hat.unwrap(), recon }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data;

    fn weights() -> FloatWeights {
        FloatWeights::load(&data::model_dir(&data::default_dir())).unwrap()
    }

    fn astronaut() -> Rgb8 {
        Rgb8::load_png(&data::images_dir(&data::default_dir()).join("astronaut.png")).unwrap().0
    }

    /// FORMAT.md's end-to-end check: astronaut.png at 34.55 dB with y
    /// rounded, 35.06 dB unrounded, in zero mode (the TensorFlow model).
    #[test]
    fn astronaut_psnr_matches_format_md() {
        let w = weights();
        let img = astronaut();
        let r = codec(&w, &img, PadMode::Zero, true);
        let p = crate::psnr(&img, &r.recon);
        assert!((p - 34.55).abs() < 0.005, "rounded: {p:.4} dB");
        let u = codec(&w, &img, PadMode::Zero, false);
        let p = crate::psnr(&img, &u.recon);
        assert!((p - 35.06).abs() < 0.005, "unrounded: {p:.4} dB");
    }

    /// A non-square crop (so rows and columns cannot be confused): the
    /// optimised gather loops against FORMAT.md's formulas written out
    /// literally, raw file index for the analysis, scatter form for the
    /// synthesis.
    #[test]
    fn layers_match_format_md_formulas_on_a_non_square_image() {
        let w = weights();
        let full = astronaut();
        let img = {
            let mut c = Rgb8::new(40, 24);
            for y in 0..24 {
                for x in 0..40 {
                    for ch in 0..3 {
                        c.data[(y * 40 + x) * 3 + ch] = full.at(200 + x, 150 + y, ch);
                    }
                }
            }
            c
        };
        let run = codec(&w, &img, PadMode::Zero, true);
        // ana_0 by the raw index formula base + ((ky*K + kx)*Cin + ci)*Cout + co.
        let raw = std::fs::read(data::model_dir(&data::default_dir()).join("ana_w.bin")).unwrap();
        let rawf = |i: usize| f32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().unwrap());
        let bias = std::fs::read(data::model_dir(&data::default_dir()).join("ana_b.bin")).unwrap();
        let b = |co: usize| f32::from_le_bytes(bias[4 * co..4 * co + 4].try_into().unwrap());
        let ana0 = &run.outputs[0];
        assert_eq!((ana0.dims.w, ana0.dims.h), (10, 6));
        for (i, j, co) in [(0, 0, 0), (1, 7, 5), (5, 9, 127), (3, 2, 64)] {
            let mut s = b(co) as f64;
            for ky in 0..9 {
                for kx in 0..9 {
                    let (yy, xx) = (4 * i + ky, 4 * j + kx);
                    if yy < 4 || xx < 4 || yy - 4 >= 24 || xx - 4 >= 40 {
                        continue;
                    }
                    for ci in 0..3 {
                        let v = img.at(xx - 4, yy - 4, ci) as f64 / 255.0;
                        s += rawf(((ky * 9 + kx) * 3 + ci) * 128 + co) as f64 * v;
                    }
                }
            }
            assert!((ana0.at(co, i, j) as f64 - s).abs() < 1e-4, "ana_0[{co}][{i}][{j}] {} vs {s}", ana0.at(co, i, j));
        }
        // syn_2 in scatter form: every input pixel adds R[ky][kx] . in to
        // out at (s*a + P - ky, s*b + P - kx).
        let LayerWeights::Conv { kernel: k, bias: Some(bias) } = w.layer(Layer::Syn2) else { panic!() };
        let inp = &run.outputs[8];
        let mut scatter = Fm::zeros(3, Dims::new(inp.dims.h * 4, inp.dims.w * 4));
        for a in 0..inp.dims.h {
            for bb in 0..inp.dims.w {
                for ky in 0..9 {
                    for kx in 0..9 {
                        let (n, m) = ((4 * a + 4) as isize - ky as isize, (4 * bb + 4) as isize - kx as isize);
                        if n < 0 || m < 0 || n as usize >= scatter.dims.h || m as usize >= scatter.dims.w {
                            continue;
                        }
                        for co in 0..3 {
                            let mut s = 0f32;
                            for ci in 0..128 {
                                s += k.at(ky, kx, ci, co) * inp.at(ci, a, bb);
                            }
                            scatter.data[(n as usize * scatter.dims.w + m as usize) * 3 + co] += s;
                        }
                    }
                }
            }
        }
        let gather = &run.outputs[9];
        for (i, (g, s)) in gather.data.iter().zip(&scatter.data).enumerate() {
            let co = i % 3;
            assert!((g - (s + bias[co])).abs() < 1e-4, "syn_2 value {i}: gather {g} scatter {}", s + bias[co]);
        }
    }
}
