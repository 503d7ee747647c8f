//! Architecture support. Only AArch64 (Cortex-A53) exists.
pub mod aarch64;
