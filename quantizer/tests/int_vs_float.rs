//! The integer codec (model package + integer reference) against the float
//! reference: layer by layer on a non-square image, whole-image PSNR, and
//! the latent.
use std::sync::OnceLock;
use xlic_model::layer::Layer;
use xlic_model::layout::FmShape;
use xlic_model::{HwLimits, PadMode};
use xlic_quant::{scales, Calibration, IntModel};
use xlic_ref::{data, float, psnr, FloatWeights, Rgb8};

/// The accelerator's configuration (hls/xlic_config.h via accel-regs).
const HW: HwLimits = accel_regs::HW_LIMITS;

fn weights() -> &'static FloatWeights {
    static W: OnceLock<FloatWeights> = OnceLock::new();
    W.get_or_init(|| FloatWeights::load(&data::model_dir(&data::default_dir())).unwrap_or_else(|e| panic!("{e} (set XLIC_DATA to the shared data folder)")))
}

fn image(name: &str) -> Rgb8 {
    Rgb8::load_png(&data::images_dir(&data::default_dir()).join(name)).unwrap_or_else(|e| panic!("{e} (set XLIC_DATA to the shared data folder)")).0
}

/// Calibrated on two of the test images (the full set is the quantizer's
/// default; two keep the test quick and still cover both image sizes).
fn calibration(pad: PadMode) -> Calibration {
    let mut c = Calibration::new(pad);
    for name in ["chelsea.png", "astronaut.png"] {
        c.add(weights(), &image(name));
    }
    c
}

fn package(pad: PadMode) -> &'static (Calibration, Vec<u8>) {
    static EDGE: OnceLock<(Calibration, Vec<u8>)> = OnceLock::new();
    static ZERO: OnceLock<(Calibration, Vec<u8>)> = OnceLock::new();
    let cell = if pad == PadMode::Edge { &EDGE } else { &ZERO };
    cell.get_or_init(|| {
        let cal = calibration(pad);
        let layers = scales::quantize(weights(), &cal, &HW).unwrap();
        let bytes = xlic_model::package::write(&HW, pad.code(), &layers);
        (cal, bytes)
    })
}

/// The float map of an integer map (`q * scale[c]`).
fn dequantize(q: &[i16], c: usize, dims: xlic_model::geometry::Dims, scale: &[f64]) -> float::Fm {
    let shape = FmShape::new(c, dims, HW.lanes);
    let mut f = float::Fm::zeros(c, dims);
    for y in 0..dims.h {
        for x in 0..dims.w {
            for ch in 0..c {
                f.data[(y * dims.w + x) * c + ch] = (q[shape.index(ch, y, x)] as f64 * scale[ch]) as f32;
            }
        }
    }
    f
}

/// chelsea is 451 x 300: not square, not a multiple of 16. Each layer of
/// the integer codec, fed the same input as the float layer (its own
/// integer input, dequantized), must give the float layer's output to
/// INT16 precision: a transposed kernel or a layout slip shows at once.
#[test]
fn every_layer_matches_float_on_a_non_square_image() {
    let (cal, bytes) = package(PadMode::Edge);
    let model = IntModel::from_package(bytes, &HW).unwrap();
    let img = image("chelsea.png");
    let int = xlic_quant::pipeline::codec(&model, &img, PadMode::Edge).unwrap();
    let act = scales::activation_scales(cal);
    let g = int.geometry;
    let mut input = xlic_quant::pipeline::input_map(&img, &g, &HW);
    for l in Layer::ALL {
        let spec = l.spec();
        let s_in = scales::input_scales(&act, l.index());
        let f = float::run_layer(weights(), l, &dequantize(&input, spec.cin, g.input(l), &s_in));
        let q = &int.outputs[l.index()];
        let got = dequantize(q, spec.cout, g.output(l), &act[l.index()]);
        if l == Layer::LATENT {
            // The integer output is y_hat itself: it must equal round(y)
            // except where y is within INT16 noise of a tie.
            let differ = f.data.iter().zip(&got.data).filter(|(a, b)| a.round_ties_even() != **b).count();
            assert!(differ * 200 < f.data.len(), "ana_2: {differ} of {} latents differ", f.data.len());
        } else if l == Layer::Syn2 {
            // Its output is the pixel (scale 1/255): within one level of
            // the exact float value everywhere.
            let worst = f.data.iter().zip(&got.data).map(|(a, b)| ((a - b) * 255.0).abs()).fold(0f32, f32::max);
            assert!(worst <= 1.0, "syn_2: {worst} pixel levels off");
        } else {
            let err: f64 = f.data.iter().zip(&got.data).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
            let sig: f64 = f.data.iter().map(|a| (*a as f64).powi(2)).sum();
            let rel = (err / sig).sqrt();
            assert!(rel < 1e-3, "{}: relative RMS error {rel:.2e}", l.name());
        }
        input = q.clone();
    }
}

#[test]
fn psnr_within_0_05_db_of_float_in_both_padding_modes() {
    let img = image("chelsea.png");
    for pad in [PadMode::Edge, PadMode::Zero] {
        let model = IntModel::from_package(&package(pad).1, &HW).unwrap();
        let int = xlic_quant::pipeline::codec(&model, &img, pad).unwrap();
        let flt = float::codec(weights(), &img, pad, true);
        let (pi, pf) = (psnr(&img, &int.recon), psnr(&img, &flt.recon));
        assert!(pf - pi <= 0.05, "{}: int {pi:.3} dB vs float {pf:.3} dB", pad.name());
    }
}

#[test]
fn latent_is_ana_2_output_and_agrees_with_float_round_nearly_everywhere() {
    let model = IntModel::from_package(&package(PadMode::Zero).1, &HW).unwrap();
    let img = image("astronaut.png");
    let int = xlic_quant::pipeline::codec(&model, &img, PadMode::Zero).unwrap();
    let flt = float::codec(weights(), &img, PadMode::Zero, true);
    let lat = int.latent_chw(&HW);
    let d = int.geometry.latent();
    assert_eq!(lat.len(), 128 * d.pixels());
    let differ = (0..128)
        .flat_map(|c| (0..d.h).flat_map(move |y| (0..d.w).map(move |x| (c, y, x))))
        .filter(|&(c, y, x)| lat[(c * d.h + y) * d.w + x] as f32 != flt.y_hat.at(c, y, x))
        .count();
    // About 2 % of float latents sit within 0.01 of a tie (FORMAT.md); the
    // integer path may round those the other way, and only those.
    assert!(differ * 100 < lat.len(), "{differ} of {} latents differ", lat.len());
}

#[test]
fn packages_are_deterministic() {
    let cal = calibration(PadMode::Edge);
    let a = xlic_model::package::write(&HW, 0, &scales::quantize(weights(), &cal, &HW).unwrap());
    assert_eq!(&a, &package(PadMode::Edge).1);
}

#[test]
fn unsupported_image_sizes_are_refused() {
    let model = IntModel::from_package(&package(PadMode::Edge).1, &HW).unwrap();
    let e = xlic_quant::pipeline::codec(&model, &Rgb8::new(15, 40), PadMode::Edge).err().unwrap();
    assert_eq!(e.to_string(), "image 15x40 is too small: both sides must be at least 16 pixels");
    let e = xlic_quant::pipeline::codec(&model, &Rgb8::new(5000, 16), PadMode::Edge).err().unwrap();
    assert!(e.to_string().contains("too large"), "{e}");
}

/// The host codec runs on the fast engine (AVX2 here); the integer
/// reference is the definition. On a real image, in both padding modes,
/// every layer's map is the reference's, bit for bit, on both kernels.
#[test]
fn the_engine_and_the_reference_agree_on_a_real_image() {
    use xlic_quant::engine::Kernel;
    let img = image("chelsea.png");
    for pad in [PadMode::Edge, PadMode::Zero] {
        let bytes = &package(pad).1;
        let reference_maps = {
            let model = IntModel::from_package(bytes, &HW).unwrap();
            let g = xlic_model::Geometry::new(img.width, img.height, pad, HW.max_side).unwrap();
            let mut x = xlic_quant::pipeline::input_map(&img, &g, &HW);
            let mut maps = Vec::new();
            for l in Layer::ALL {
                x = xlic_model::reference::run_layer_parallel(l.spec(), &HW, g.input(l), &x, model.data(l)).unwrap();
                maps.push(x.clone());
            }
            maps
        };
        for kernel in [Kernel::best(), Kernel::Scalar] {
            let model = IntModel::from_package(bytes, &HW).unwrap().with_kernel(kernel);
            let run = xlic_quant::pipeline::codec(&model, &img, pad).unwrap();
            for l in Layer::ALL {
                assert!(run.outputs[l.index()] == reference_maps[l.index()], "{} ({} padding, {} kernel) differs from the reference", l.name(), pad.name(), kernel.name());
            }
        }
    }
}
