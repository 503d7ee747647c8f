//! Host side of the bls2017 model: the float32 weights exactly as
//! ../shared/data/models/bls2017_0125/FORMAT.md describes them, a float
//! reference of the codec, PNG in and out, PSNR, and a seeded generator
//! for test vectors.
pub mod data;
pub mod float;
pub mod image;
pub mod rng;
pub mod weights;

pub use image::{psnr, Rgb8};
pub use weights::FloatWeights;
