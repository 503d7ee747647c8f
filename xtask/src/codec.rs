//! Host commands of the model: `quantize`, `codec`, `psnr`, and the quality
//! and speed figures of `bench`.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xlic_model::geometry::layer_macs;
use xlic_model::latent::LatentHeader;
use xlic_model::layer::Layer;
use xlic_model::{HwLimits, PadMode};
use xlic_quant::IntModel;
use xlic_ref::image::write_atomic;
use xlic_ref::{data, float, psnr, FloatWeights, Rgb8};

/// The hardware the packages are built for: the HLS configuration, through
/// the generated accel-regs limits.
pub const HW: HwLimits = accel_regs::HW_LIMITS;

pub fn parse_pad(s: &str) -> Result<PadMode, String> {
    PadMode::from_name(s).ok_or_else(|| format!("'{s}': use edge or zero"))
}

pub fn load_weights(data_dir: &Path) -> Result<FloatWeights> {
    Ok(FloatWeights::load(&data::model_dir(data_dir))?)
}

pub fn load_image(path: &Path) -> Result<Rgb8> {
    let (img, notes) = Rgb8::load_png(path)?;
    for n in notes {
        eprintln!("note: {}: {n}", path.display());
    }
    Ok(img)
}

pub fn load_images(dir: &Path) -> Result<Vec<(PathBuf, Rgb8)>> {
    let paths = data::list_pngs(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    if paths.is_empty() {
        bail!("no PNG images in {}", dir.display());
    }
    paths.into_iter().map(|p| load_image(&p).map(|i| (p, i))).collect()
}

/// Calibrate on the images of `images_dir` and return the package bytes.
pub fn build_package(data_dir: &Path, images_dir: &Path, pad: PadMode) -> Result<Vec<u8>> {
    let w = load_weights(data_dir)?;
    let imgs: Vec<Rgb8> = load_images(images_dir)?.into_iter().map(|(_, i)| i).collect();
    eprintln!("calibrating on {} images in {} ({} padding)", imgs.len(), images_dir.display(), pad.name());
    Ok(xlic_quant::scales::build_package(&w, &imgs, pad, &HW)?)
}

pub fn quantize(data_dir: &Path, images: Option<PathBuf>, pad: PadMode, out: &Path) -> Result<()> {
    let images = images.unwrap_or_else(|| data::images_dir(data_dir));
    let bytes = build_package(data_dir, &images, pad)?;
    write_atomic(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    println!("model package: {} ({} bytes, format version {})", out.display(), bytes.len(), xlic_model::package::FORMAT_VERSION);
    Ok(())
}

/// A latent file (model/src/latent.rs) from values in [c][y][x] order.
pub fn latent_file(header: &LatentHeader, values: &[i16]) -> Vec<u8> {
    let mut file = header.encode().to_vec();
    values.iter().for_each(|v| file.extend_from_slice(&v.to_le_bytes()));
    file
}

/// The latent file of an integer run: what the firmware writes as LATENT.BIN.
pub fn int_latent_file(run: &xlic_quant::IntRun) -> Vec<u8> {
    let d = run.geometry.latent();
    latent_file(&LatentHeader { channels: Layer::LATENT.spec().cout, height: d.h, width: d.w }, &run.latent_chw(&HW))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arith {
    Float,
    Int,
}

/// Code one image; write recon.png, latent.bin and compare.png to `out`;
/// return the PSNR.
pub fn codec(data_dir: &Path, image: &Path, out: &Path, arith: Arith, pad: PadMode, model: Option<&Path>) -> Result<f64> {
    let img = load_image(image)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let t = Instant::now();
    let (recon, latent, dims) = match arith {
        Arith::Float => {
            let w = load_weights(data_dir)?;
            xlic_model::Geometry::new(img.width, img.height, pad, HW.max_side)?;
            let r = float::codec(&w, &img, pad, true);
            let y = &r.y_hat;
            let mut v = Vec::with_capacity(y.data.len());
            for c in 0..y.c {
                for yy in 0..y.dims.h {
                    for x in 0..y.dims.w {
                        v.push(y.at(c, yy, x) as i16);
                    }
                }
            }
            (r.recon, v, y.dims)
        }
        Arith::Int => {
            let bytes = match model {
                Some(p) => std::fs::read(p).with_context(|| format!("cannot read model package {}", p.display()))?,
                None => crate::pkgcache::default_package(data_dir, pad)?,
            };
            let m = IntModel::from_package(&bytes, &HW)?;
            let r = xlic_quant::pipeline::codec(&m, &img, pad)?;
            let lat = r.latent_chw(&HW);
            (r.recon.clone(), lat, r.geometry.latent())
        }
    };
    let secs = t.elapsed().as_secs_f64();
    recon.save_png(&out.join("recon.png"))?;
    let header = LatentHeader { channels: Layer::LATENT.spec().cout, height: dims.h, width: dims.w };
    write_atomic(&out.join("latent.bin"), &latent_file(&header, &latent))?;
    Rgb8::comparison(&img, &recon, 8).save_png(&out.join("compare.png"))?;
    let p = psnr(&img, &recon);
    println!(
        "{} {}x{} ({} arithmetic, {} padding) in {:.1} s -> {}/recon.png, latent.bin ({}x{}x{}), compare.png (original | reconstruction | error x8)",
        image.display(),
        img.width,
        img.height,
        if arith == Arith::Int { "INT16" } else { "float32" },
        pad.name(),
        secs,
        out.display(),
        header.channels,
        header.height,
        header.width
    );
    println!("PSNR: {p:.3} dB");
    Ok(p)
}

pub fn psnr_cmd(a: &Path, b: &Path) -> Result<f64> {
    let (ia, ib) = (load_image(a)?, load_image(b)?);
    if (ia.width, ia.height) != (ib.width, ib.height) {
        bail!("{} is {}x{} but {} is {}x{}", a.display(), ia.width, ia.height, b.display(), ib.width, ib.height);
    }
    let p = psnr(&ia, &ib);
    println!("PSNR: {p:.3} dB");
    Ok(p)
}

/// Quality table (integer vs float in the same padding mode, latent
/// disagreements) and integer-reference speed.
pub fn bench(data_dir: &Path) -> Result<()> {
    let w = load_weights(data_dir)?;
    let imgs = load_images(&data::images_dir(data_dir))?;
    println!("\nquality: INT16 pipeline vs float32 reference (target: loss <= 0.05 dB on every image)");
    println!("{:<24} {:>5} {:>10} {:>10} {:>8} {:>22}", "image", "pad", "float dB", "int dB", "loss", "latent != round(y)");
    let mut worst = f64::NEG_INFINITY;
    for pad in [PadMode::Edge, PadMode::Zero] {
        let bytes = xlic_quant::scales::build_package(&w, &imgs.iter().map(|(_, i)| i.clone()).collect::<Vec<_>>(), pad, &HW)?;
        let m = IntModel::from_package(&bytes, &HW)?;
        for (path, img) in &imgs {
            let f = float::codec(&w, img, pad, true);
            let r = xlic_quant::pipeline::codec(&m, img, pad)?;
            let lat = r.latent_chw(&HW);
            let d = r.geometry.latent();
            let mut differ = 0;
            for c in 0..Layer::LATENT.spec().cout {
                for y in 0..d.h {
                    for x in 0..d.w {
                        differ += (lat[(c * d.h + y) * d.w + x] as f32 != f.y_hat.at(c, y, x)) as usize;
                    }
                }
            }
            let (pf, pi) = (psnr(img, &f.recon), psnr(img, &r.recon));
            worst = worst.max(pf - pi);
            let name = path.file_name().unwrap().to_string_lossy();
            let share = 100.0 * differ as f64 / lat.len() as f64;
            println!("{name:<24} {:>5} {pf:>10.3} {pi:>10.3} {:>8.3} {:>10} ({share:.3} %)", pad.name(), pf - pi, differ);
        }
    }
    println!("worst loss: {worst:.3} dB");

    // Speed of the host's integer codec (the fast engine, bit-exact with
    // the integer reference): a 768x512 crop of the largest image.
    let (_, big) = imgs.iter().max_by_key(|(_, i)| i.width * i.height).unwrap();
    let (cw, ch) = (768.min(big.width), 512.min(big.height));
    let crop = big.crop(cw, ch);
    let bytes = xlic_quant::scales::build_package(&w, std::slice::from_ref(&crop), PadMode::Edge, &HW)?;
    let m = IntModel::from_package(&bytes, &HW)?;
    // Best of three: the machine is shared, the minimum is the code's speed.
    let mut secs = f64::INFINITY;
    let mut r = None;
    for _ in 0..3 {
        let t = Instant::now();
        r = Some(xlic_quant::pipeline::codec(&m, &crop, PadMode::Edge)?);
        secs = secs.min(t.elapsed().as_secs_f64());
    }
    let r = r.unwrap();
    let macs: u64 = Layer::ALL.iter().map(|l| layer_macs(l.spec(), r.geometry.output(*l))).sum();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "\ninteger codec ({} kernel), {cw}x{ch}, analysis + synthesis: {secs:.2} s (best of 3), {:.2} GMAC, {:.2} GMAC/s on {threads} threads (target: <= 5 s)",
        m.engine.kernel().name(),
        macs as f64 / 1e9,
        macs as f64 / 1e9 / secs
    );
    Ok(())
}

/// Modelled accelerator figures for two image sizes.
pub fn bench_accelerator() {
    use xlic_model::perf;
    let cfg = accel_regs::PERF;
    println!(
        "\naccelerator model: {} lanes x {} pof x {} pox = {} DSP48E2 (XCZU9EG: 2520), ~{} BRAM18 (XCZU9EG: 1824), clock {:.1} MHz",
        HW.lanes,
        HW.pof,
        HW.pox,
        perf::dsp_count(&HW),
        perf::bram18_count(&HW),
        cfg.clock_hz / 1e6
    );
    let mut ms_2048 = 0.0;
    for (w, h) in [(768, 512), (2048, 1365)] {
        let g = xlic_model::Geometry::new(w, h, PadMode::Edge, HW.max_side).expect("size");
        println!("{w}x{h}: {:<7} {:>12} {:>9} {:>7} {:>10} {:>10}", "layer", "cycles", "ms", "bound", "MB read", "MB write");
        let (mut cycles, mut macs) = (0u64, 0u64);
        for l in Layer::ALL {
            let p = perf::layer(l.spec(), g.input(l), &HW, &cfg);
            cycles += p.cycles;
            macs += layer_macs(l.spec(), g.output(l));
            println!(
                "{:>9} {:<7} {:>12} {:>9.2} {:>7} {:>10.1} {:>10.1}",
                "",
                l.name(),
                p.cycles,
                p.seconds(&cfg) * 1e3,
                if p.memory_bound() { "memory" } else { "compute" },
                p.bytes_read as f64 / 1e6,
                p.bytes_written as f64 / 1e6
            );
        }
        let secs = cycles as f64 / cfg.clock_hz;
        println!("{:>9} total   {cycles:>12} {:>9.2} ms for {:.1} GMAC ({:.0} GMAC/s)", "", secs * 1e3, macs as f64 / 1e9, macs as f64 / 1e9 / secs);
        ms_2048 = secs * 1e3;
    }
    let (dsp, bram) = (perf::dsp_count(&HW), perf::bram18_count(&HW));
    let met = ms_2048 <= 250.0 && dsp <= 2000 && bram <= 1824;
    println!(
        "target: 2048x1365 in <= 250 ms with <= 2000 DSP and <= 1824 BRAM18 (board reference design: 800 ms): {} ({ms_2048:.1} ms, {dsp} DSP, ~{bram} BRAM18)",
        if met { "met" } else { "NOT met" }
    );
}
