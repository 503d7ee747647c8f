//! The one definition of what the X-LIC accelerator computes.
//!
//! Shared, `no_std` and allocation-free, by the firmware, the host tools,
//! the HLS testbench's reference files and every test:
//!
//! - [`layer`]: the 10 layers of bls2017 (kernel, stride, padding, channels);
//! - [`geometry`]: sizes for any image, and the two input padding modes;
//! - [`quant`]: the INT16 format and its integer rounding/saturation rules;
//! - [`layout`]: feature maps, weights and per-channel tables in DDR, and
//!   the per-layer tiling arithmetic, parametrised by the hardware limits;
//! - [`perf`], [`resources`]: the accelerator's cycle and resource models;
//! - [`device`]: the boards and devices those models are checked against;
//! - [`reference`]: the integer reference of conv, transposed conv, GDN and
//!   IGDN on those layouts: the definition the accelerator must match;
//! - [`package`]: the versioned model package the firmware loads;
//! - [`latent`]: the latent file format;
//! - [`rangecoder`], [`entropy`], [`bitstream`]: the compressed `.XLC`
//!   file: binary range coder, entropy model of the latent, file format;
//! - [`fmfile`]: a feature map as a file (dumps and reference files);
//! - [`crc32`]: the checksum of the package sections.
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(all(test, not(feature = "std")))]
extern crate std;

pub mod bitstream;
pub mod crc32;
pub mod device;
pub mod entropy;
pub mod fmfile;
pub mod geometry;
pub mod latent;
pub mod layer;
pub mod layout;
pub mod package;
pub mod perf;
pub mod quant;
pub mod rangecoder;
pub mod reference;
pub mod resources;

pub use geometry::{Geometry, PadMode};
pub use layer::{Layer, LayerSpec, Op, LAYERS};
pub use layout::HwLimits;
