//! Calibrated model packages, built once and kept in `target/xlic/packages/`.
//!
//! Calibrating runs the float model over every image (retina-sized images
//! take a minute), and the host codec commands, the card, the demo and the
//! tests all need the same package. A package is stored under a key that
//! hashes everything it was calibrated from: the weight files' bytes, the
//! calibration images' names and bytes, the padding mode, the hardware
//! limits, the package format version, and the source of the code that
//! turns those into the package (quantizer, float reference, integer
//! format). Change any of them and the key changes; the stale file is
//! simply not found again.
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use xlic_model::PadMode;

/// The code a package depends on, beside its data.
const RECIPE: &[&[u8]] = &[
    include_bytes!("../../quantizer/src/scales.rs"),
    include_bytes!("../../quantizer/src/calibrate.rs"),
    include_bytes!("../../reference/src/float.rs"),
    include_bytes!("../../reference/src/weights.rs"),
    include_bytes!("../../model/src/quant.rs"),
    include_bytes!("../../model/src/layout.rs"),
    include_bytes!("../../model/src/package.rs"),
];

/// 64-bit FNV-1a over each input's length and CRC-32: a cache key, not a
/// checksum against malice. (The CRC runs in the optimised model crate;
/// a byte loop here would cost a tenth of a second per command in xtask's
/// debug build.)
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn add(&mut self, bytes: &[u8]) {
        let digest = [(bytes.len() as u64).to_le_bytes(), (xlic_model::crc32::crc32(bytes) as u64).to_le_bytes()];
        for &b in digest.iter().flatten() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The folder of cached packages.
pub fn dir() -> PathBuf {
    crate::work_dir().join("packages")
}

/// The cache key of a package calibrated on `images_dir` from the data in
/// `data_dir`.
pub fn key(data_dir: &Path, images_dir: &Path, pad: PadMode) -> Result<String> {
    let mut h = Fnv::new();
    let model = xlic_ref::data::model_dir(data_dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&model)
        .with_context(|| format!("cannot list the weights in {}", model.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    for f in files.iter().chain(&xlic_ref::data::list_pngs(images_dir).with_context(|| format!("cannot list {}", images_dir.display()))?) {
        h.add(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.add(&std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?);
    }
    h.add(&pad.code().to_le_bytes());
    h.add(format!("{:?}", crate::codec::HW).as_bytes());
    h.add(&xlic_model::package::FORMAT_VERSION.to_le_bytes());
    for src in RECIPE {
        h.add(src);
    }
    Ok(format!("{:016x}-{}", h.0, pad.name()))
}

/// The package calibrated on `images_dir` in `pad` mode: from the cache,
/// or built now and stored.
pub fn package(data_dir: &Path, images_dir: &Path, pad: PadMode) -> Result<Vec<u8>> {
    let key = key(data_dir, images_dir, pad)?;
    let path = dir().join(format!("{key}.pkg"));
    if let Ok(bytes) = std::fs::read(&path) {
        // A damaged cache file is rebuilt, never used.
        if xlic_model::package::Package::parse(&bytes, &crate::codec::HW).is_ok() {
            return Ok(bytes);
        }
    }
    let bytes = crate::codec::build_package(data_dir, images_dir, pad)?;
    std::fs::create_dir_all(dir())?;
    // Unique temporary name: tests in several processes may fill the
    // same entry at once; the rename makes either complete copy win.
    let tmp = dir().join(format!("{key}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("model package cached as {}", path.display());
    Ok(bytes)
}

/// The package of the shared test images (what the card, the demo and
/// the codec commands use by default).
pub fn default_package(data_dir: &Path, pad: PadMode) -> Result<Vec<u8>> {
    package(data_dir, &xlic_ref::data::images_dir(data_dir), pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_padding_mode_and_the_data() {
        let data = xlic_ref::data::default_dir();
        let images = xlic_ref::data::images_dir(&data);
        let edge = key(&data, &images, PadMode::Edge).unwrap();
        assert_eq!(edge, key(&data, &images, PadMode::Edge).unwrap(), "the key is deterministic");
        assert_ne!(edge, key(&data, &images, PadMode::Zero).unwrap());
        // Another set of calibration images: a folder with one of them.
        let one = std::env::temp_dir().join(format!("xlic-pkgcache-{}", std::process::id()));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::copy(images.join("chelsea.png"), one.join("chelsea.png")).unwrap();
        assert_ne!(edge, key(&data, &one, PadMode::Edge).unwrap());
        std::fs::remove_dir_all(&one).ok();
    }
}
