//! Host-side chores of the X-LIC project, as a library so that the xtask
//! binary and the host-side tests (which boot the firmware in QEMU) share
//! one launcher.
pub mod aptypes;
pub mod bench_entropy;
pub mod codec;
pub mod cosim;
pub mod cpu_bench;
pub mod e2e;
pub mod csim;
pub mod dse;
pub mod elf;
pub mod erratum;
pub mod jtag;
pub mod firmware;
pub mod hlslint;
pub mod hlsreport;
pub mod pkgcache;
pub mod qemu;
pub mod ratecmp;
pub mod regmap;
pub mod setup;
pub mod storage_bench;
pub mod xlc;

use std::path::PathBuf;

/// Root of the repository (the parent of xtask/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

/// Where host tools put generated files (logs, images, demo output).
pub fn work_dir() -> PathBuf {
    let d = repo_root().join("target").join("xlic");
    std::fs::create_dir_all(&d).ok();
    d
}
