//! Building and testing the firmware with Debian's toolchain.
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

pub const TARGET: &str = "aarch64-unknown-none";
pub const BIN: &str = "xlic-firmware";

pub fn dir() -> PathBuf {
    crate::repo_root().join("firmware")
}

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub release: bool,
    /// defmt level filter (DEFMT_LOG): trace, debug, info, warn, error, off.
    pub log_level: Option<String>,
    /// Separate target directory (e.g. for a clean-build measurement).
    pub target_dir: Option<PathBuf>,
}

impl BuildOptions {
    pub fn profile(&self) -> &'static str {
        if self.release { "release" } else { "debug" }
    }
    fn target_dir(&self) -> PathBuf {
        self.target_dir.clone().unwrap_or_else(|| dir().join("target"))
    }
    /// Path of the firmware ELF this configuration builds.
    pub fn elf(&self) -> PathBuf {
        self.target_dir().join(TARGET).join(self.profile()).join(BIN)
    }
}

/// `cargo` for the firmware: Debian's, with Debian's rustc, and none of
/// the variables the rustup cargo that runs xtask has set for itself.
pub fn cargo(opts: &BuildOptions, subcommand: &str) -> Command {
    let mut cmd = Command::new("/usr/bin/cargo");
    cmd.current_dir(dir())
        .arg(subcommand)
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", opts.target_dir())
        .env("DEFMT_LOG", opts.log_level.as_deref().unwrap_or("info"));
    for var in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC_WRAPPER", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "LD_LIBRARY_PATH"] {
        cmd.env_remove(var);
    }
    if opts.release {
        cmd.arg("--release");
    }
    // `cargo run`/`cargo test` boot through this xtask's QEMU runner.
    if let Ok(me) = std::env::current_exe() {
        cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_NONE_RUNNER", format!("{} qemu-runner", me.display()));
    }
    cmd
}

/// Build the firmware image and return the ELF path.
pub fn build(opts: &BuildOptions) -> Result<PathBuf> {
    let status = cargo(opts, "build").arg("--bin").arg(BIN).status().context("cannot start /usr/bin/cargo (run `cargo xtask setup`)")?;
    if !status.success() {
        bail!("firmware build failed ({status})");
    }
    Ok(opts.elf())
}

/// The firmware ELF for host tests that boot it: `XLIC_FIRMWARE_ELF` (set
/// by `cargo xtask test`), or a debug build made on first use.
pub fn elf_for_tests() -> PathBuf {
    static ELF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ELF.get_or_init(|| match std::env::var_os("XLIC_FIRMWARE_ELF") {
        Some(p) => PathBuf::from(p),
        None => build(&BuildOptions::default()).expect("firmware build (run `cargo xtask setup` first)"),
    })
    .clone()
}
