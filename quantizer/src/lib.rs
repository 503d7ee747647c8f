//! The quantizer: calibrates activation ranges with the float reference,
//! chooses every INT16 scale (see xlic_model::quant for the format), and
//! writes the model package. Also the host's integer codec, which runs the
//! package through the model crate's integer reference.
pub mod calibrate;
pub mod engine;
pub mod pipeline;
pub mod scales;

pub use calibrate::Calibration;
pub use pipeline::{IntModel, IntRun};
pub use scales::{quantize, QuantError};
