//! Activation ranges: the largest |value| of every channel at every layer
//! output, over a set of images run through the float codec.
use xlic_model::layer::Layer;
use xlic_model::PadMode;
use xlic_ref::float;
use xlic_ref::{FloatWeights, Rgb8};

#[derive(Clone, Debug)]
pub struct Calibration {
    pub pad: PadMode,
    /// Per layer (table order), per channel.
    pub maxabs: Vec<Vec<f32>>,
    pub images: usize,
}

impl Calibration {
    pub fn new(pad: PadMode) -> Self {
        Calibration { pad, maxabs: Layer::ALL.iter().map(|l| vec![0.0; l.spec().cout]).collect(), images: 0 }
    }

    /// Add one image.
    pub fn add(&mut self, w: &FloatWeights, img: &Rgb8) {
        let run = float::codec(w, img, self.pad, true);
        for (acc, out) in self.maxabs.iter_mut().zip(&run.outputs) {
            for (a, m) in acc.iter_mut().zip(out.channel_maxabs()) {
                *a = a.max(m);
            }
        }
        self.images += 1;
    }
}
