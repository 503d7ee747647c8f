//! AXI-Lite register map of the X-LIC accelerator.
//!
//! Not generated yet: the accelerator issue adds the generator that reads
//! the HLS top function's interface (hls/) and emits the register block and
//! the kernel's limits here at build time. Until then this crate is empty
//! on purpose, so nothing can use a hand-typed offset.
#![no_std]
