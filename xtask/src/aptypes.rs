//! Xilinx's arbitrary-precision types (`ap_int.h`, `ap_fixed.h`,
//! `hls_stream.h`) for C-simulation, the co-simulation bridge and the
//! testbench. They are Apache-2.0 and ship inside the PyPI package hls4ml
//! (`hls4ml/templates/vivado/ap_types/`); setup downloads that wheel with
//! pip (`--no-deps`: nothing else of hls4ml is installed) and extracts only
//! that folder, plus the wheel's LICENSE, under `target/hls/ap_types`.
//! Nothing of it is committed.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hls4ml release the headers come from (the headers are Xilinx's
/// 2019 open-source release, unchanged across hls4ml 0.8..1.3).
pub const HLS4ML_VERSION: &str = "1.3.0";
const PREFIX: &str = "hls4ml/templates/vivado/ap_types/";

/// Where the headers live (`-isystem` this folder).
pub fn dir() -> PathBuf {
    crate::repo_root().join("target").join("hls").join("ap_types")
}

/// The headers the kernel includes: present means installed.
fn installed(d: &Path) -> bool {
    ["ap_int.h", "ap_fixed.h", "hls_stream.h", "etc/ap_private.h", "LICENSE"].iter().all(|f| d.join(f).is_file())
}

/// Download the wheel and extract the headers, unless they are there.
pub fn ensure() -> Result<PathBuf> {
    let d = dir();
    if installed(&d) {
        return Ok(d);
    }
    eprintln!("setup: fetching Xilinx ap_types (Apache-2.0) from the PyPI package hls4ml {HLS4ML_VERSION}");
    let dl = crate::repo_root().join("target").join("hls").join("wheel");
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::create_dir_all(&dl)?;
    let find_pip = || ["pip3", "pip"].into_iter().find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()));
    if find_pip().is_none() {
        // Debian's pip only downloads here (it installs nothing).
        crate::setup::install_debian(&["python3-pip"])?;
    }
    let pip = find_pip().context("no pip after installing python3-pip")?;
    let st = Command::new(pip)
        .args(["download", &format!("hls4ml=={HLS4ML_VERSION}"), "--no-deps", "--only-binary", ":all:", "-q", "-d"])
        .arg(&dl)
        .status()
        .with_context(|| format!("cannot run {pip}"))?;
    if !st.success() {
        bail!("`{pip} download hls4ml=={HLS4ML_VERSION} --no-deps` failed");
    }
    let wheel = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .context("pip downloaded no wheel")?;
    extract("python3", &wheel, &d)?;
    let _ = std::fs::remove_dir_all(&dl);
    if !installed(&d) {
        bail!("the hls4ml wheel lacks {PREFIX}");
    }
    Ok(d)
}

/// Extract `PREFIX*` and the wheel's licence into `out` (through a
/// temporary folder renamed at the end), with the Python that pip runs on.
fn extract(python: &str, wheel: &Path, out: &Path) -> Result<()> {
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let script = r#"
import sys, zipfile, os
wheel, out, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith('/'):
            rel = name[len(prefix):]
        elif name.endswith('.dist-info/licenses/LICENSE') or name.endswith('.dist-info/LICENSE'):
            rel = 'LICENSE'
        else:
            continue
        if '..' in rel.split('/'):
            sys.exit('unexpected path ' + name)
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(z.read(name))
        n += 1
sys.exit(0 if n else 'nothing under ' + prefix)
"#;
    let st = Command::new(python).arg("-c").arg(script).arg(wheel).arg(&tmp).arg(PREFIX).status().with_context(|| format!("cannot run {python}"))?;
    if !st.success() {
        bail!("cannot extract {PREFIX} from {}", wheel.display());
    }
    let _ = std::fs::remove_dir_all(out);
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// g++ flags every host build of the kernel uses: the headers as system
/// headers, and the two warnings their own constructors raise at -O3.
pub fn cxx_flags() -> Result<Vec<String>> {
    let d = ensure()?;
    Ok(vec![format!("-isystem{}", d.display()), "-Wno-uninitialized".into(), "-Wno-maybe-uninitialized".into()])
}
