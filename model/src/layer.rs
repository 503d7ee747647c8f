//! The bls2017 network (128 filters): analysis ana_0 gdn_0 ana_1 gdn_1 ana_2,
//! synthesis syn_0 igdn_0 syn_1 igdn_1 syn_2.

/// Number of filters of the trained model.
pub const FILTERS: usize = 128;
/// Image channels (R, G, B).
pub const IMAGE_CHANNELS: usize = 3;
/// Total downsampling of the analysis transform: sides are coded in
/// multiples of this.
pub const DOWNSAMPLING: usize = 16;

/// What one layer computes (see FORMAT.md of the weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Cross-correlation, stride `stride`, zero padding `k / 2`.
    Conv { k: usize, stride: usize },
    /// Transposed convolution by `stride` with the stored (rotated) kernel,
    /// output exactly `stride` times the input.
    TConv { k: usize, stride: usize },
    /// x / (beta + sum gamma |x|).
    Gdn,
    /// x * (beta + sum gamma |x|).
    Igdn,
}

impl Op {
    pub const fn kernel(self) -> usize {
        match self {
            Op::Conv { k, .. } | Op::TConv { k, .. } => k,
            Op::Gdn | Op::Igdn => 1,
        }
    }
    pub const fn stride(self) -> usize {
        match self {
            Op::Conv { stride, .. } | Op::TConv { stride, .. } => stride,
            Op::Gdn | Op::Igdn => 1,
        }
    }
    /// Zero padding on each side (K // 2).
    pub const fn pad(self) -> usize {
        self.kernel() / 2
    }
    pub const fn is_normaliser(self) -> bool {
        matches!(self, Op::Gdn | Op::Igdn)
    }
    /// Code used in the package and in the accelerator's `op` register.
    pub const fn code(self) -> u32 {
        match self {
            Op::Conv { .. } => 0,
            Op::TConv { .. } => 1,
            Op::Gdn => 2,
            Op::Igdn => 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Ana0,
    Gdn0,
    Ana1,
    Gdn1,
    Ana2,
    Syn0,
    Igdn0,
    Syn1,
    Igdn1,
    Syn2,
}

/// One row of the layer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub layer: Layer,
    pub name: &'static str,
    pub op: Op,
    pub cin: usize,
    pub cout: usize,
    /// Whether a bias is added (ana_2 has none).
    pub bias: bool,
}

const fn spec(layer: Layer, name: &'static str, op: Op, cin: usize, cout: usize, bias: bool) -> LayerSpec {
    LayerSpec { layer, name, op, cin, cout, bias }
}

const F: usize = FILTERS;

/// The layer table, in execution order.
pub const LAYERS: [LayerSpec; 10] = [
    spec(Layer::Ana0, "ana_0", Op::Conv { k: 9, stride: 4 }, IMAGE_CHANNELS, F, true),
    spec(Layer::Gdn0, "gdn_0", Op::Gdn, F, F, false),
    spec(Layer::Ana1, "ana_1", Op::Conv { k: 5, stride: 2 }, F, F, true),
    spec(Layer::Gdn1, "gdn_1", Op::Gdn, F, F, false),
    spec(Layer::Ana2, "ana_2", Op::Conv { k: 5, stride: 2 }, F, F, false),
    spec(Layer::Syn0, "syn_0", Op::TConv { k: 5, stride: 2 }, F, F, true),
    spec(Layer::Igdn0, "igdn_0", Op::Igdn, F, F, false),
    spec(Layer::Syn1, "syn_1", Op::TConv { k: 5, stride: 2 }, F, F, true),
    spec(Layer::Igdn1, "igdn_1", Op::Igdn, F, F, false),
    spec(Layer::Syn2, "syn_2", Op::TConv { k: 9, stride: 4 }, F, IMAGE_CHANNELS, true),
];

impl Layer {
    pub const ALL: [Layer; 10] = [
        Layer::Ana0,
        Layer::Gdn0,
        Layer::Ana1,
        Layer::Gdn1,
        Layer::Ana2,
        Layer::Syn0,
        Layer::Igdn0,
        Layer::Syn1,
        Layer::Igdn1,
        Layer::Syn2,
    ];
    pub const fn index(self) -> usize {
        self as usize
    }
    pub const fn spec(self) -> &'static LayerSpec {
        &LAYERS[self as usize]
    }
    pub const fn name(self) -> &'static str {
        self.spec().name
    }
    pub fn from_name(name: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.name() == name)
    }
    /// The layer whose output is the rounded latent y_hat.
    pub const LATENT: Layer = Layer::Ana2;
}
