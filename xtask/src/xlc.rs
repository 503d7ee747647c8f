//! `cargo xtask compress` and `decompress`: the `.XLC` file on the host,
//! with the integer model on the fast engine and the entropy coder the
//! firmware runs (xlic_model::bitstream), so both write the same bytes.
use anyhow::{Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};
use xlic_model::bitstream::{self, XlcHeader};
use xlic_model::{Geometry, Layer, PadMode};
use xlic_quant::IntModel;
use xlic_ref::image::{write_atomic, write_new};
use xlic_ref::Rgb8;

use crate::codec::HW;

/// A compressed image and what it took.
pub struct Compressed {
    pub file: Vec<u8>,
    pub header: XlcHeader,
    pub geometry: Geometry,
    /// The latent map (accelerator layout).
    pub latent: Vec<i16>,
    pub analysis: Duration,
    pub entropy: Duration,
}

/// Analysis on the engine, then entropy coding.
pub fn compress(model: &IntModel, img: &Rgb8, pad: PadMode) -> Result<Compressed> {
    let t = Instant::now();
    let (g, mut maps) = xlic_quant::pipeline::analyse(model, img, pad)?;
    let latent = maps.pop().expect("the latent is the last analysis map");
    let analysis = t.elapsed();
    let t = Instant::now();
    let shape = g.latent_shape(HW.lanes);
    let mut file = vec![0u8; bitstream::file_bound(&g)];
    let header = bitstream::write_map(model.id, &g, &shape, &latent, &mut file)?;
    file.truncate(header.file_len());
    Ok(Compressed { file, header, geometry: g, latent, analysis, entropy: t.elapsed() })
}

/// A decompressed image and what it took.
pub struct Decompressed {
    pub header: XlcHeader,
    pub image: Rgb8,
    pub geometry: Geometry,
    pub latent: Vec<i16>,
    pub entropy: Duration,
    pub synthesis: Duration,
}

/// Check the file against `model`, entropy-decode, synthesis on the engine.
pub fn decompress(model: &IntModel, file: &[u8]) -> Result<Decompressed> {
    let t = Instant::now();
    let x = bitstream::parse(file, model.id, HW.max_side)?;
    let shape = x.geometry.latent_shape(HW.lanes);
    let mut latent = vec![0i16; shape.len()];
    x.decode_map(&shape, &mut latent)?;
    let entropy = t.elapsed();
    let t = Instant::now();
    let (_, image) = xlic_quant::pipeline::synthesise(model, &x.geometry, &latent);
    Ok(Decompressed { header: x.header, image, geometry: x.geometry, latent, entropy, synthesis: t.elapsed() })
}

/// The model of `--model FILE`, or the cached package of the shared
/// images for `pad`.
pub fn load_model(data_dir: &Path, model: Option<&Path>, pad: PadMode) -> Result<IntModel> {
    let bytes = match model {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read model package {}", p.display()))?,
        None => crate::pkgcache::default_package(data_dir, pad)?,
    };
    Ok(IntModel::from_package(&bytes, &HW)?)
}

/// Whether `a` and `b` name the same existing file (hard links and
/// symbolic links included).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            (x.dev(), x.ino()) == (y.dev(), y.ino())
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => a.canonicalize().ok() == b.canonicalize().ok(),
        _ => false,
    }
}

/// Refuse, before any work, an output that is one of the inputs (even
/// with `--force`) or that exists (unless `--force`).
pub fn check_output(out: &Path, inputs: &[&Path], force: bool) -> Result<()> {
    if let Some(input) = inputs.iter().find(|i| same_file(out, i)) {
        anyhow::bail!("refusing to write {}: it is the input {}; choose another --out", out.display(), input.display());
    }
    if !force && std::fs::symlink_metadata(out).is_ok() {
        anyhow::bail!("{} already exists; choose another --out, or pass --force to replace it", out.display());
    }
    Ok(())
}

/// Write the finished output: replacing an existing file only with `--force`.
fn write_output(out: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let written = if force { write_atomic(out, bytes) } else { write_new(out, bytes) };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{} appeared while this command ran; not replaced (pass --force to replace it)", out.display())
        }
        r => r.with_context(|| format!("cannot write {}", out.display())),
    }
}

pub fn compress_cmd(data_dir: &Path, image: &Path, out: &Path, pad: PadMode, model: Option<&Path>, force: bool) -> Result<()> {
    check_output(out, &[Some(image), model].into_iter().flatten().collect::<Vec<_>>(), force)?;
    let t = Instant::now();
    let img = crate::codec::load_image(image)?;
    let m = load_model(data_dir, model, pad)?;
    let loaded = t.elapsed();
    let c = compress(&m, &img, pad)?;
    write_output(out, &c.file, force)?;
    let g = &c.geometry;
    let d = g.latent();
    println!(
        "{} {}x{} ({} padding, model 0x{:08x}) -> {}: {} bytes",
        image.display(),
        g.image.w,
        g.image.h,
        pad.name(),
        m.id,
        out.display(),
        c.file.len()
    );
    println!(
        "  load {:.0} ms, analysis {:.0} ms ({} kernel), entropy coding {:.1} ms of {}x{}x{} latent values",
        ms(loaded),
        ms(c.analysis),
        m.engine.kernel().name(),
        ms(c.entropy),
        Layer::LATENT.spec().cout,
        d.w,
        d.h
    );
    println!("bpp: {:.4}  compression ratio: {:.1}:1 (vs 24-bit RGB)", c.header.bits_per_pixel(), c.header.compression_ratio());
    Ok(())
}

pub fn decompress_cmd(data_dir: &Path, file: &Path, out: &Path, model: Option<&Path>, force: bool) -> Result<()> {
    check_output(out, &[Some(file), model].into_iter().flatten().collect::<Vec<_>>(), force)?;
    let t = Instant::now();
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The padding mode picks the default package; the full checks follow.
    let header: XlcHeader = bitstream::parse_header(&bytes).with_context(|| file.display().to_string())?;
    let m = load_model(data_dir, model, header.pad)?;
    let loaded = t.elapsed();
    let d = decompress(&m, &bytes).with_context(|| {
        let hint = if model.is_none() { " (pass --model FILE for a package other than the default)" } else { "" };
        format!("{}{hint}", file.display())
    })?;
    let t = Instant::now();
    let png = d.image.encode_png();
    write_output(out, &png, force)?;
    let g = &d.geometry;
    println!("{}: {} bytes, {}x{} ({} padding, model 0x{:08x}) -> {}", file.display(), bytes.len(), g.image.w, g.image.h, g.pad.name(), m.id, out.display());
    println!(
        "  load {:.0} ms, entropy decoding {:.1} ms, synthesis {:.0} ms ({} kernel), PNG {:.0} ms",
        ms(loaded),
        ms(d.entropy),
        ms(d.synthesis),
        m.engine.kernel().name(),
        ms(t.elapsed())
    );
    println!("bpp: {:.4}  compression ratio: {:.1}:1 (vs 24-bit RGB)", d.header.bits_per_pixel(), d.header.compression_ratio());
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
