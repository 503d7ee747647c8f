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
    // The version changes with a commit (the branch's ref, or packed-refs
    // after a gc, not HEAD, which only names the branch), a checkout (HEAD)
    // and an edit (the index, for "-dirty"). Asked of git, so that a
    // worktree, whose .git is a file, is followed too.
    let git_path = |p: &str| {
        Command::new("git")
            .args(["rev-parse", "--path-format=absolute", "--git-path", p])
            .current_dir(&manifest)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let branch = Command::new("git")
        .args(["symbolic-ref", "-q", "HEAD"])
        .current_dir(&manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    for p in ["HEAD", "packed-refs", "index"].into_iter().map(String::from).chain(branch) {
        // Only files that exist: cargo reruns a script that names a
        // missing one on every build (packed-refs appears after a gc).
        if let Some(path) = git_path(&p).filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-env-changed=DEFMT_LOG");
}
