//! Sizes for any image, including sides that are not multiples of 16.
use crate::layer::{Layer, Op, DOWNSAMPLING, LAYERS};

/// How the image is extended before coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PadMode {
    /// Replicate the edge pixels up to a multiple of 16 (the default: the
    /// borders code as well as the interior; +2.9 dB on chelsea 451x300 in
    /// float).
    #[default]
    Edge,
    /// Code the image as it is, zero-padded inside every convolution:
    /// exactly the TensorFlow model, for cross-checks against float.
    Zero,
}

impl PadMode {
    pub fn name(self) -> &'static str {
        match self {
            PadMode::Edge => "edge",
            PadMode::Zero => "zero",
        }
    }
    pub fn from_name(s: &str) -> Option<PadMode> {
        match s {
            "edge" => Some(PadMode::Edge),
            "zero" => Some(PadMode::Zero),
            _ => None,
        }
    }
    pub const fn code(self) -> u32 {
        match self {
            PadMode::Edge => 0,
            PadMode::Zero => 1,
        }
    }
}

/// Height and width of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub h: usize,
    pub w: usize,
}

impl Dims {
    pub const fn new(h: usize, w: usize) -> Self {
        Dims { h, w }
    }
    pub const fn pixels(self) -> usize {
        self.h * self.w
    }
}

/// Output size of one layer for an input of `d`.
pub const fn layer_output(op: Op, d: Dims) -> Dims {
    match op {
        // ceil(H / s) = (H - 1) / s + 1: output (0,0) is centred on input (0,0).
        Op::Conv { stride, .. } => Dims::new((d.h - 1) / stride + 1, (d.w - 1) / stride + 1),
        Op::TConv { stride, .. } => Dims::new(d.h * stride, d.w * stride),
        Op::Gdn | Op::Igdn => d,
    }
}

/// The input row (or column) that output row `o` reads through kernel tap
/// `t`, if any, for an input of `n` rows. A cross-correlation reads
/// `s*o + t - P`; a transposed convolution with the stored (rotated)
/// kernel reads the zero-stuffed input at `o + t - P`, which is input row
/// `(o + t - P) / s` when divisible and nothing otherwise. Zero padding:
/// `None` outside the input.
#[inline(always)]
pub fn tap_source(op: Op, o: usize, t: usize, n: usize) -> Option<usize> {
    let (s, p) = (op.stride(), op.pad());
    match op {
        Op::Conv { .. } => (s * o + t).checked_sub(p).filter(|&i| i < n),
        _ => (o + t).checked_sub(p).filter(|&u| u % s == 0).map(|u| u / s).filter(|&i| i < n),
    }
}

/// Smallest side accepted (one latent pixel).
pub const MIN_SIDE: usize = DOWNSAMPLING;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryError {
    TooSmall { w: usize, h: usize },
    TooLarge { w: usize, h: usize, max: usize },
}

impl core::fmt::Display for GeometryError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            GeometryError::TooSmall { w, h } => {
                write!(f, "image {w}x{h} is too small: both sides must be at least {MIN_SIDE} pixels")
            }
            GeometryError::TooLarge { w, h, max } => {
                write!(f, "image {w}x{h} is too large: the accelerator supports sides up to {max} pixels")
            }
        }
    }
}

/// Every size the codec needs for one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The image as given.
    pub image: Dims,
    pub pad: PadMode,
    /// The map fed to ana_0 (the image, or its edge-replicated extension).
    pub coded: Dims,
    /// Input and output size of each layer, in table order.
    pub inputs: [Dims; 10],
    pub outputs: [Dims; 10],
}

impl Geometry {
    pub fn new(width: usize, height: usize, pad: PadMode, max_side: usize) -> Result<Geometry, GeometryError> {
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(GeometryError::TooSmall { w: width, h: height });
        }
        if width > max_side || height > max_side {
            return Err(GeometryError::TooLarge { w: width, h: height, max: max_side });
        }
        let image = Dims::new(height, width);
        let coded = match pad {
            PadMode::Zero => image,
            PadMode::Edge => Dims::new(height.div_ceil(DOWNSAMPLING) * DOWNSAMPLING, width.div_ceil(DOWNSAMPLING) * DOWNSAMPLING),
        };
        let mut inputs = [coded; 10];
        let mut outputs = [coded; 10];
        let mut d = coded;
        for (i, l) in LAYERS.iter().enumerate() {
            inputs[i] = d;
            d = layer_output(l.op, d);
            outputs[i] = d;
        }
        Ok(Geometry { image, pad, coded, inputs, outputs })
    }
    /// The image pixel that coded-input pixel (x, y) takes its value from:
    /// the pixel itself, or in `Edge` mode beyond the image the nearest
    /// edge pixel (`Zero` mode codes the image as it is: coded = image).
    pub fn source_pixel(&self, x: usize, y: usize) -> (usize, usize) {
        (x.min(self.image.w - 1), y.min(self.image.h - 1))
    }

    /// Walk the input map (the image's 3 channels over `coded`, in the
    /// layout of [`FmShape`](crate::layout::FmShape) with `lanes`):
    /// `f(map index, image x, image y, channel)` for every value, the
    /// value being that image pixel's channel (q = pixel). One statement
    /// of the input map for the host reference and the firmware.
    pub fn for_each_input_value(&self, lanes: usize, f: impl FnMut(usize, usize, usize, usize)) {
        self.for_each_input_value_in(lanes, 0..self.coded.h, f)
    }

    /// [`Geometry::for_each_input_value`] for the map rows `rows` only (the
    /// map index stays the whole map's), so rows can be filled on several
    /// cores.
    pub fn for_each_input_value_in(&self, lanes: usize, rows: core::ops::Range<usize>, mut f: impl FnMut(usize, usize, usize, usize)) {
        let s = crate::layout::FmShape::new(crate::layer::IMAGE_CHANNELS, self.coded, lanes);
        for y in rows {
            for x in 0..self.coded.w {
                let (sx, sy) = self.source_pixel(x, y);
                // The three channels share a group when lanes >= 3 (always
                // for the accelerator): no division per value then.
                let base = s.index(0, y, x);
                for c in 0..s.channels {
                    f(if s.channels <= lanes { base + c } else { s.index(c, y, x) }, sx, sy, c);
                }
            }
        }
    }

    pub fn input(&self, l: Layer) -> Dims {
        self.inputs[l.index()]
    }
    pub fn output(&self, l: Layer) -> Dims {
        self.outputs[l.index()]
    }
    /// Size of the latent y (ceil(H/16) x ceil(W/16) of the coded map).
    pub fn latent(&self) -> Dims {
        self.output(Layer::LATENT)
    }
    /// The latent map (layer LATENT's output: its channels at
    /// [`Geometry::latent`]) in the accelerator layout of `lanes`: the one
    /// shape every coder of the latent reads and writes.
    pub fn latent_shape(&self, lanes: usize) -> crate::layout::FmShape {
        crate::layout::FmShape::new(Layer::LATENT.spec().cout, self.latent(), lanes)
    }
    /// The synthesis output before cropping to the image.
    pub fn reconstruction(&self) -> Dims {
        self.output(Layer::Syn2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked examples of FORMAT.md ("Sizes, worked through"), zero mode.
    #[test]
    fn sizes_match_the_format_tables() {
        let cases = [
            (451, 300, [(113, 75), (57, 38), (29, 19), (58, 38), (116, 76), (464, 304)]),
            (1000, 872, [(250, 218), (125, 109), (63, 55), (126, 110), (252, 220), (1008, 880)]),
            (512, 512, [(128, 128), (64, 64), (32, 32), (64, 64), (128, 128), (512, 512)]),
        ];
        for (w, h, want) in cases {
            let g = Geometry::new(w, h, PadMode::Zero, 4096).unwrap();
            let got = [Layer::Gdn0, Layer::Gdn1, Layer::Ana2, Layer::Igdn0, Layer::Igdn1, Layer::Syn2].map(|l| {
                let d = g.output(l);
                (d.w, d.h)
            });
            assert_eq!(got, want, "{w}x{h}");
        }
    }

    #[test]
    fn edge_mode_codes_a_multiple_of_16_and_latent_is_ceil() {
        for (w, h) in [(451, 300), (741, 500), (16, 16), (17, 33)] {
            let g = Geometry::new(w, h, PadMode::Edge, 4096).unwrap();
            assert_eq!(g.coded.w % 16, 0);
            assert_eq!(g.coded.h % 16, 0);
            assert_eq!(g.latent(), Dims::new(h.div_ceil(16), w.div_ceil(16)));
            assert_eq!(g.reconstruction(), g.coded);
            let z = Geometry::new(w, h, PadMode::Zero, 4096).unwrap();
            assert_eq!(z.latent(), g.latent(), "ceil(ceil(ceil(H/4)/2)/2) = ceil(H/16)");
        }
    }

    #[test]
    fn edge_pixels_repeat_beyond_the_image() {
        let g = Geometry::new(20, 17, PadMode::Edge, 4096).unwrap();
        assert_eq!((g.coded.w, g.coded.h), (32, 32));
        assert_eq!(g.source_pixel(5, 6), (5, 6));
        assert_eq!(g.source_pixel(31, 31), (19, 16));
        assert_eq!(g.source_pixel(19, 20), (19, 16));
    }

    #[test]
    fn rejects_too_small_and_too_large() {
        assert_eq!(Geometry::new(15, 100, PadMode::Edge, 4096), Err(GeometryError::TooSmall { w: 15, h: 100 }));
        assert_eq!(Geometry::new(100, 5000, PadMode::Edge, 4096), Err(GeometryError::TooLarge { w: 100, h: 5000, max: 4096 }));
    }
}

/// Multiply-accumulates of one layer producing `out` (what the hardware
/// executes: padding taps of a convolution count, the zero taps of a
/// transposed convolution's polyphase split do not).
pub fn layer_macs(spec: &crate::LayerSpec, out: Dims) -> u64 {
    let px = out.pixels() as u64;
    let (cin, cout) = (spec.cin as u64, spec.cout as u64);
    match spec.op {
        Op::Conv { k, .. } => px * cout * cin * (k * k) as u64,
        // Each output phase uses ceil-or-floor(K/s) taps per dimension; on
        // average K^2 / s^2.
        Op::TConv { k, stride } => px * cout * cin * (k * k) as u64 / (stride * stride) as u64,
        Op::Gdn | Op::Igdn => px * cout * cin,
    }
}

impl core::error::Error for GeometryError {}
