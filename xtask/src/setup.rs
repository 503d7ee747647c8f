//! Fresh-machine set-up: what the README's two commands and CI need. Every
//! step checks first and does nothing when the tool is already there.
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// Debian packages the project needs. The rustup toolchain has no aarch64
/// target and cannot fetch one, so the firmware is built by Debian's rustc
/// (rustc-web, cargo-web, rust-web-src for build-std) and linked by lld.
/// rust-web-llvm brings llvm-objdump (the erratum 835769 scan of the
/// release ELF); tcl runs boot/jtag.tcl's dry run in the tests; dosfstools
/// gives the tests `fsck.fat -n`, which checks every card the firmware wrote.
pub const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "rust-web-llvm", "lld", "qemu-system-arm", "g++", "tcl", "dosfstools"];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Install the missing Debian packages (needs root, as on these machines).
pub fn debian_packages() -> Result<()> {
    install_debian(DEBIAN_PACKAGES)
}

/// Install those of `packages` that are missing.
pub fn install_debian(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing Debian packages: {}", missing.join(" "));
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if !is_root {
        bail!("missing Debian packages: {}; run as root or: sudo apt-get install -y {}", missing.join(" "), missing.join(" "));
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    // With recommends (rust-web-llvm for rustc-web, QEMU's modules): the
    // combination this project was brought up and checked with.
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

/// `rustup toolchain link debian /usr`, so plain `cargo` inside firmware/
/// (rust-toolchain.toml: channel = "debian") uses Debian's compiler.
pub fn link_debian_toolchain() -> Result<()> {
    let list = Command::new("rustup").args(["toolchain", "list"]).output();
    match list {
        Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("debian")) => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["toolchain", "link", "debian", "/usr"])),
        // No rustup: only `cargo xtask` (which calls /usr/bin/cargo) works.
        Err(_) => Ok(()),
    }
}

/// Path of `defmt-print`, the host decoder of the firmware's log stream.
pub fn defmt_print() -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var_os("CARGO_HOME").map(|h| Path::new(&h).join("bin/defmt-print")),
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/defmt-print")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists()).or_else(|| {
        Command::new("defmt-print").arg("--version").output().ok().filter(|o| o.status.success()).map(|_| "defmt-print".into())
    })
}

/// Install defmt-print (version 1, matching the firmware's defmt 1.x).
pub fn install_defmt_print() -> Result<()> {
    if defmt_print().is_some() {
        return Ok(());
    }
    eprintln!("setup: installing defmt-print (about a minute)");
    run(Command::new("cargo").args(["install", "defmt-print", "--locked", "--version", "^1"]))
}

/// Everything above.
pub fn ensure() -> Result<()> {
    debian_packages()?;
    link_debian_toolchain()?;
    install_defmt_print()?;
    crate::aptypes::ensure()?;
    Ok(())
}
