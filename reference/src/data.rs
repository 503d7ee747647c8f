//! Where the shared data lives: `../shared/data` beside the repository by
//! default, `XLIC_DATA` or a `--data` flag otherwise. Read in place, never
//! copied into the repository.
use std::path::PathBuf;

pub fn default_dir() -> PathBuf {
    match std::env::var_os("XLIC_DATA") {
        Some(d) => PathBuf::from(d),
        None => {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
            p.canonicalize().unwrap_or(p)
        }
    }
}

pub fn model_dir(data: &std::path::Path) -> PathBuf {
    data.join("models").join("bls2017_0125")
}

pub fn images_dir(data: &std::path::Path) -> PathBuf {
    data.join("images")
}

/// The PNG files of a folder, sorted by name.
pub fn list_pngs(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    v.sort();
    Ok(v)
}
