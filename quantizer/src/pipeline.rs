//! The integer codec on the host: the model package run layer by layer,
//! exactly as the accelerator is asked to run it, on the fast engine
//! ([`crate::engine`], bit-exact with the model crate's integer reference).
use xlic_model::geometry::{Geometry, GeometryError};
use xlic_model::layer::{Layer, LAYERS};
use xlic_model::layout::{FmShape, HwLimits};
use xlic_model::package::{Package, PackageError};
use xlic_model::quant::{to_pixel, ChannelParams, CHANNEL_PARAMS_BYTES};
use xlic_model::reference::LayerData;
use crate::engine::{Engine, Kernel};
use xlic_model::PadMode;
use xlic_ref::Rgb8;

/// A parsed package with its tables decoded to native integers.
pub struct IntModel {
    pub hw: HwLimits,
    pub layers: Vec<(Vec<i16>, Vec<ChannelParams>)>,
    /// The package's identity (`Package::id`), which compressed files name.
    pub id: u32,
    pub engine: Engine,
}

impl IntModel {
    pub fn from_package(bytes: &[u8], hw: &HwLimits) -> Result<IntModel, PackageError> {
        let p = Package::parse(bytes, hw)?;
        let layers = (0..LAYERS.len())
            .map(|i| {
                let w = p.weights_bytes(i).chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                let q = p.params_bytes(i).chunks_exact(CHANNEL_PARAMS_BYTES).map(ChannelParams::from_le_bytes).collect();
                (w, q)
            })
            .collect::<Vec<_>>();
        let engine = Engine::new(&p.hw, &layers, Kernel::best()).expect("a parsed package's tables have the layer table's shapes");
        Ok(IntModel { hw: p.hw, id: p.id(), layers, engine })
    }

    /// The same model on another kernel (tests, benchmarks).
    pub fn with_kernel(mut self, kernel: Kernel) -> IntModel {
        self.engine = Engine::new(&self.hw, &self.layers, kernel).expect("a parsed package's tables have the layer table's shapes");
        self
    }

    /// Layer `l` on `input` (accelerator layout, `in_dims`).
    pub fn run_layer(&self, l: Layer, in_dims: xlic_model::geometry::Dims, input: &[i16]) -> Vec<i16> {
        self.engine.run_layer(l, in_dims, input).expect("shapes follow the geometry")
    }

    pub fn data(&self, l: Layer) -> LayerData<'_> {
        let (w, p) = &self.layers[l.index()];
        LayerData { weights: w, params: p }
    }
}

/// The image as the accelerator's input map: q = pixel (scale 1/255),
/// edge-replicated up to a multiple of 16 in `Edge` mode.
pub fn input_map(img: &Rgb8, g: &Geometry, hw: &HwLimits) -> Vec<i16> {
    let mut v = vec![0i16; FmShape::new(3, g.coded, hw.lanes).len()];
    g.for_each_input_value(hw.lanes, |i, sx, sy, c| v[i] = img.at(sx, sy, c) as i16);
    v
}

/// syn_2's output map to the cropped 8-bit image.
pub fn output_image(out: &[i16], g: &Geometry, hw: &HwLimits) -> Rgb8 {
    let s = FmShape::new(3, g.reconstruction(), hw.lanes);
    let mut img = Rgb8::new(g.image.w, g.image.h);
    for y in 0..g.image.h {
        for x in 0..g.image.w {
            for c in 0..3 {
                img.data[(y * g.image.w + x) * 3 + c] = to_pixel(out[s.index(c, y, x)]);
            }
        }
    }
    img
}

/// One image through the integer codec.
pub struct IntRun {
    pub geometry: Geometry,
    /// Every layer's output map, in the accelerator's layout.
    pub outputs: Vec<Vec<i16>>,
    pub recon: Rgb8,
}

impl IntRun {
    /// The rounded latent y_hat (ana_2's output), `[c][y][x]`.
    pub fn latent_chw(&self, hw: &HwLimits) -> Vec<i16> {
        let d = self.geometry.latent();
        let s = self.geometry.latent_shape(hw.lanes);
        let fm = &self.outputs[Layer::LATENT.index()];
        let mut v = vec![0i16; s.channels * d.pixels()];
        xlic_model::latent::for_each_in_file_order(&s, |m, f| v[f] = fm[m]);
        v
    }
}

/// The analysis layers (ana_0 .. ana_2): every output map; the last is
/// the latent.
pub fn analyse(m: &IntModel, img: &Rgb8, pad: PadMode) -> Result<(Geometry, Vec<Vec<i16>>), GeometryError> {
    let g = Geometry::new(img.width, img.height, pad, m.hw.max_side)?;
    let mut x = input_map(img, &g, &m.hw);
    let mut outputs = Vec::with_capacity(10);
    for l in Layer::ALL.into_iter().take_while(|&l| l <= Layer::LATENT) {
        x = m.run_layer(l, g.input(l), &x);
        outputs.push(x.clone());
    }
    Ok((g, outputs))
}

/// The synthesis layers (syn_0 .. syn_2) on a latent map: every output
/// map and the cropped reconstruction.
pub fn synthesise(m: &IntModel, g: &Geometry, latent: &[i16]) -> (Vec<Vec<i16>>, Rgb8) {
    let mut x = latent.to_vec();
    let mut outputs = Vec::with_capacity(5);
    for l in Layer::ALL.into_iter().filter(|&l| l > Layer::LATENT) {
        x = m.run_layer(l, g.input(l), &x);
        outputs.push(x.clone());
    }
    let recon = output_image(&x, g, &m.hw);
    (outputs, recon)
}

pub fn codec(m: &IntModel, img: &Rgb8, pad: PadMode) -> Result<IntRun, GeometryError> {
    let (g, mut outputs) = analyse(m, img, pad)?;
    let (synthesis, recon) = synthesise(m, &g, outputs.last().expect("five analysis maps"));
    outputs.extend(synthesis);
    Ok(IntRun { geometry: g, outputs, recon })
}
