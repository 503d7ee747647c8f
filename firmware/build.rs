//! Points the linker at linker/ (the one memory map) and records the build
//! version that `info` prints.
use std::{env, path::PathBuf, process::Command};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let linker_dir = manifest.join("../linker").canonicalize().expect("linker/ folder");
    println!("cargo:rustc-link-search={}", linker_dir.display());
    println!("cargo:rerun-if-changed={}", linker_dir.join("zcu102.ld").display());

    let git = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .current_dir(&manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=XLIC_GIT_VERSION={git}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-env-changed=DEFMT_LOG");
}
