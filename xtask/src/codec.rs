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

/// The accelerator's modelled figures: per layer the time and what bounds
/// it (768x512 and 2048x1365), the resources per array and in total
/// against the device, and one summary line for scripts.
pub fn bench_accelerator() -> Result<()> {
    use xlic_model::perf::{self, Bound};
    use xlic_model::resources;
    let cfg = accel_regs::PERF;
    let dev = accel_regs::BOARD.device;
    let mhz = cfg.clock_hz / 1e6;
    println!(
        "\naccelerator model: {} lanes x {} pof x {} pox MAC array, {}x{} accumulator tiles, at {mhz:.0} MHz on {} ({})",
        HW.lanes, HW.pof, HW.pox, HW.tile_rows, HW.tile_cols, dev.part, accel_regs::BOARD.name
    );
    println!(
        "  assumed: DDR {:.1} GB/s x {:.0} % shared by all ports, {:.2} words/cycle per port, {} cycles per burst (xlic_model::perf)",
        cfg.ddr_bytes_per_s / 1e9,
        cfg.ddr_efficiency * 100.0,
        cfg.port_words_per_cycle,
        cfg.burst_latency
    );
    let res = resources::estimate(&HW);
    let dsp = res.dsp();
    let mut total_2048 = (0.0, 0u64);
    for (w, h) in [(768, 512), (2048, 1365)] {
        let g = xlic_model::Geometry::new(w, h, PadMode::Edge, HW.max_side).expect("size");
        println!("{w}x{h}: {:<7} {:>11} {:>9}  {:<40} {:>8} {:>8}", "layer", "cycles", "ms", "what bounds it (share of cycles)", "MB read", "MB write");
        let (mut cycles, mut macs) = (0u64, 0u64);
        let mut rule_cycles = 0u64;
        for l in Layer::ALL {
            let plan = perf::plan(l.spec(), g.input(l), &HW, &cfg)?;
            let p = plan.perf;
            let rule = xlic_model::layout::Tiling::of(l.spec(), g.output(l), &HW)?;
            rule_cycles += perf::layer_tiled(l.spec(), g.input(l), &HW, &cfg, &rule).cycles;
            cycles += p.cycles;
            macs += layer_macs(l.spec(), g.output(l));
            let mut why: Vec<(u64, Bound)> = Bound::ALL.iter().map(|&b| (p.bound_cycles[b as usize], b)).filter(|x| x.0 > 0).collect();
            why.sort_by(|a, b| b.0.cmp(&a.0));
            let why: Vec<String> =
                why.iter().take(3).map(|(c, b)| format!("{} {:.0}%", b.name(), 100.0 * *c as f64 / p.cycles.max(1) as f64)).collect();
            println!(
                "{:>9} {:<7} {:>11} {:>9.2}  {:<40} {:>8.1} {:>8.1}",
                "",
                l.name(),
                p.cycles,
                p.seconds(&cfg) * 1e3,
                why.join(", "),
                p.bytes_read as f64 / 1e6,
                p.bytes_written as f64 / 1e6
            );
        }
        let secs = cycles as f64 / cfg.clock_hz;
        // What a perfect array of the same DSPs would take.
        let bound = macs as f64 / ((HW.lanes * HW.pof * HW.pox) as f64 * cfg.clock_hz);
        println!(
            "{:>9} total   {cycles:>11} {:>9.2} ms for {:.1} GMAC ({:.0} GMAC/s); compute bound {:.1} ms (MACs / ({} DSP x {mhz:.0} MHz)): {:.0} % efficient",
            "",
            secs * 1e3,
            macs as f64 / 1e9,
            macs as f64 / 1e9 / secs,
            bound * 1e3,
            HW.lanes * HW.pof * HW.pox,
            100.0 * bound / secs
        );
        println!(
            "{:>9} tiles chosen per layer by the model (perf::plan): {:.2} ms; the fixed rule's tiles (Tiling::of) would take {:.2} ms",
            "",
            secs * 1e3,
            rule_cycles as f64 / cfg.clock_hz * 1e3
        );
        // The clock is an assumption until a synthesis closes it: the same
        // configuration at 200 MHz, the seed design's clock.
        let at200 = xlic_model::perf::PerfConfig { clock_hz: 200e6, ..cfg };
        let mut c200 = 0u64;
        for l in Layer::ALL {
            c200 += perf::plan(l.spec(), g.input(l), &HW, &at200)?.perf.cycles;
        }
        println!("{:>9} at 200 MHz instead: {:.2} ms", "", c200 as f64 / 200e6 * 1e3);
        total_2048 = (secs, cycles);
    }
    // How cheap the models are: one layer plan (every candidate tile of
    // the ten layers at 2048x1365) and the resource estimate. The sweep's
    // own speed is `cargo xtask bench --only dse`.
    let g = xlic_model::Geometry::new(2048, 1365, PadMode::Edge, HW.max_side)?;
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < 0.5 {
        for l in Layer::ALL {
            perf::plan(l.spec(), g.input(l), &HW, &cfg)?;
        }
        std::hint::black_box(resources::estimate(&HW));
        n += 1;
    }
    println!(
        "model speed: {:.1} ms to plan the tiles of 10 layers at 2048x1365 (every candidate tile through the cycle model) + resources",
        t.elapsed().as_secs_f64() / n as f64 * 1e3
    );
    println!("resources (estimate, xlic_model::resources) against {}:", dev.part);
    println!("  {:<14} {:>6} {:>7} {:>5} {:>8}  what", "part", "DSP", "BRAM18", "URAM", "LUT");
    for it in res.items() {
        println!("  {:<14} {:>6} {:>7} {:>5} {:>8}  {}", it.name, it.dsp, it.bram18, it.uram, it.lut, it.what);
    }
    let (bram, lut) = (res.bram18(), res.lut());
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b as f64;
    println!(
        "  {:<14} {:>6} {:>7} {:>5} {:>8}  of {} DSP48E2, {} BRAM18, {} LUT ({:.0} %, {:.0} %, {:.0} %)",
        "total",
        dsp,
        bram,
        res.uram(),
        lut,
        dev.dsp,
        dev.bram18,
        dev.lut,
        pct(dsp, dev.dsp),
        pct(bram, dev.bram18),
        pct(lut, dev.lut)
    );
    let ms = total_2048.0 * 1e3;
    let met = total_2048.0 <= resources::TARGET_SECONDS && res.within_target(&dev);
    println!(
        "target: 2048x1365 in <= {:.0} ms at {mhz:.0} MHz with <= {} DSP48E2, <= {:.0} % BRAM18, <= {:.0} % LUT: {} (stretch {:.0} ms: {})",
        resources::TARGET_SECONDS * 1e3,
        resources::TARGET_DSP,
        resources::TARGET_BRAM_FRACTION * 100.0,
        resources::TARGET_LUT_FRACTION * 100.0,
        if met { "met" } else { "NOT met" },
        150.0,
        if ms <= 150.0 { "met" } else { "not met" }
    );
    println!(
        "model 2048x1365: {ms:.1} ms at {mhz:.0} MHz, {dsp} DSP48E2, {bram} BRAM18 ({:.1} % of {}), {lut} LUT ({:.1} %)",
        pct(bram, dev.bram18),
        dev.bram18,
        pct(lut, dev.lut)
    );
    Ok(())
}
