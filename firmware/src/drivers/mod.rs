//! Peripheral drivers, one per file, each a tock-registers block behind a
//! small interface.
pub mod cadence_uart;
pub mod sdhci;
pub mod swdt;
pub mod xlic_accel;
