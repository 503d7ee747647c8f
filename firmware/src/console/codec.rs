//! Console commands of the codec: load a model and an image, run or step
//! the layers on the accelerator, look at its registers and buffers, and
//! write or check results on the card.
use super::{fail, mounted, progress, Failed, Outcome, State};
use crate::arch::aarch64::time;
use crate::bsp::zcu102::memory::{self, Arena, ArenaRegion};
use crate::drivers::xlic_accel::{AccelDriver, Backend};
use crate::drivers::xlic_accel::AccelError;
use crate::image::MapRows;
use crate::pipeline::{self, Compute, FileMapError, ModelInfo, Pipeline};
use crate::println;
use crate::storage::{Output, StorageError};
use crate::xlc;
use xlic_model::{Layer, PadMode, LAYERS};

/// What `run` writes to the card (replacing earlier results, never an
/// input: the console refuses if the loaded model or image has the name).
pub const RECON_FILE: &str = "RECON.PNG";
pub const RECON_XLC_FILE: &str = "RECON.XLC";
pub const LATENT_FILE: &str = "LATENT.BIN";

fn file_name(s: &str) -> super::FileName {
    let mut n = super::FileName::new();
    for ch in s.chars() {
        if n.push(ch.to_ascii_uppercase()).is_err() {
            break;
        }
    }
    n
}

pub fn load_model(state: &mut State, file: &str) -> Outcome {
    let s = mounted(&mut state.card)?;
    state.model = None;
    let buf = state.arena.bytes_mut(ArenaRegion::ModelFile);
    let t = match s.read_file(file, buf, false, progress(file)) {
        Ok(t) => t,
        Err(e) => fail!("load model {file}: {e}"),
    };
    println!("{file}: {} bytes in {} ms ({} KiB/s) at 0x{:09x}", t.bytes, t.micros / 1000, t.kib_per_s(), ArenaRegion::ModelFile.range().start);
    match xlic_model::package::Package::parse(&buf[..t.bytes], &accel_regs::HW_LIMITS) {
        Ok(p) => {
            println!(
                "model package ok: format version {}, {} layers, every CRC matches, built for {} lanes x {} pof",
                xlic_model::package::FORMAT_VERSION,
                LAYERS.len(),
                p.hw.lanes,
                p.hw.pof
            );
            state.model = Some((ModelInfo::of(&p), file_name(file)));
            if let Some(p) = &mut state.pipeline {
                p.restart();
            }
            Ok(())
        }
        Err(e) => fail!("load model {file}: {e}"),
    }
}

pub fn load_image(state: &mut State, file: &str, pad: PadMode) -> Outcome {
    let s = mounted(&mut state.card)?;
    // The input map stays the image's until the next load; the file and
    // decode buffers are this command's scratch.
    let b = state.arena.buffers();
    let (buf, scratch, map) = (b.image_file, b.image_decode, b.input_map);
    let t = match s.read_file(file, buf, false, progress(file)) {
        Ok(t) => t,
        Err(e) => fail!("load image {file}: {e}"),
    };
    println!("{file}: {} bytes in {} ms ({} KiB/s)", t.bytes, t.micros / 1000, t.kib_per_s());
    let hw = accel_regs::HW_LIMITS;
    state.image = None;
    state.pipeline = None;
    match crate::image::load(&buf[..t.bytes], scratch, map, pad, hw.lanes, hw.max_side, state.cores) {
        Ok(img) => {
            let g = img.geometry;
            if let Some(n) = img.note {
                println!("note: {n}");
            }
            println!(
                "image {}x{} {} 8-bit, decoded in {} ms {}; pixels CRC-32 0x{:08x}",
                g.image.w,
                g.image.h,
                img.color,
                img.decode_micros / 1000,
                work_text(&img.work, ["inflate", "filters", "map and CRCs"]).as_str(),
                img.rgb_crc
            );
            println!(
                "input map {}x{} ({} padding), {} bytes at 0x{:09x}, CRC-32 0x{:08x}; latent will be {}x{}",
                g.coded.w,
                g.coded.h,
                pad.name(),
                img.map_bytes,
                ArenaRegion::InputMap.range().start,
                img.map_crc,
                g.latent().w,
                g.latent().h
            );
            state.image = Some((g, file_name(file)));
            state.pipeline = Some(Pipeline::new(g));
            Ok(())
        }
        Err(e) => fail!("load image {file}: {e}"),
    }
}

fn accelerator() -> Result<AccelDriver, Failed> {
    match AccelDriver::probe() {
        Ok(a) => Ok(a),
        Err(e) => fail!("{e}"),
    }
}

/// What computes the layers, as the command asked: the accelerator, or
/// (`--cpu[=N]`) the NEON engine on N of the A53 cores.
enum Engine {
    Accel(AccelDriver),
    Cpu(usize),
}

impl Engine {
    fn pick(cpu: Option<usize>) -> Result<Engine, Failed> {
        if let Some(n) = cpu {
            return Ok(Engine::Cpu(n));
        }
        match AccelDriver::probe() {
            Ok(a) => Ok(Engine::Accel(a)),
            Err(e @ AccelError::NoAccelerator { .. }) => fail!(
                "{e}\n       without it, 'run --cpu' (or 'step --cpu') computes the same layers, bit for bit, on the {} A53 cores",
                crate::smp::online()
            ),
            Err(e) => fail!("{e}"),
        }
    }

    fn compute(&self) -> Compute<'_> {
        match self {
            Engine::Accel(driver) => Compute::Accel { driver, read_back: true },
            Engine::Cpu(cores) => Compute::Cpu { cores: *cores },
        }
    }

    fn text(&self) -> heapless::String<80> {
        use core::fmt::Write;
        let mut s = heapless::String::new();
        let _ = match self {
            Engine::Accel(a) => write!(s, "the accelerator ({})", backend_text(a.backend)),
            Engine::Cpu(n) => write!(s, "{} A53 core{} (NEON integer engine)", n.min(&crate::smp::online()), if *n == 1 { "" } else { "s" }),
        };
        s
    }
}

/// The model, the pipeline of the loaded image and the arena, or a
/// message saying what to load first.
fn ready(state: &mut State) -> Result<(ModelInfo, &mut Pipeline, &mut Arena), Failed> {
    let Some((model, _)) = state.model else { fail!("no model loaded (use 'load model FILE' first)") };
    let Some(p) = state.pipeline.as_mut() else { fail!("no image loaded (use 'load image FILE' first)") };
    Ok((model, p, &mut state.arena))
}

fn op_text(l: Layer) -> heapless::String<16> {
    use core::fmt::Write;
    let spec = l.spec();
    let mut s = heapless::String::new();
    let k = spec.op.kernel();
    let _ = match spec.op {
        xlic_model::Op::Conv { .. } => write!(s, "conv {k}x{k}/{}", spec.op.stride()),
        xlic_model::Op::TConv { .. } => write!(s, "tconv {k}x{k}/{}", spec.op.stride()),
        xlic_model::Op::Gdn => write!(s, "gdn"),
        xlic_model::Op::Igdn => write!(s, "igdn"),
    };
    s
}

/// One layer, with its progress line.
fn step_once(arena: &mut Arena, engine: &Engine, model: &ModelInfo, p: &mut Pipeline, detail: bool) -> Outcome {
    let Some(l) = p.next_layer() else { fail!("{}", pipeline::PipelineError::Finished) };
    match p.step(arena, engine.compute(), model) {
        Ok(r) => {
            let (i, o) = (r.input, r.output);
            // On the CPU, the accelerator's modelled time beside it; on the
            // accelerator, how the time compares with that model.
            let (mut fpga, mut ratio): (heapless::String<40>, heapless::String<24>) = Default::default();
            {
                use core::fmt::Write;
                let _ = match r.cpu_cores {
                    Some(_) => write!(fpga, " [FPGA model {:.3} ms]", r.modelled.as_secs_f64() * 1e3),
                    None => write!(ratio, "  x{:.2} of model", pipeline::model_ratio(r.elapsed, r.modelled)),
                };
            }
            println!(
                "  {:<7} {:<12} {}x{}x{} -> {}x{}x{}  {:>9.3} ms{}  CRC-32 0x{:08x}{}",
                l.name(),
                op_text(l).as_str(),
                i.channels,
                i.dims.w,
                i.dims.h,
                o.channels,
                o.dims.w,
                o.dims.h,
                r.elapsed.as_secs_f64() * 1e3,
                fpga.as_str(),
                r.crc,
                ratio.as_str()
            );
            if let (true, Some(n)) = (detail, r.cpu_cores) {
                println!(
                    "          NEON engine on {n} core{}, output rows shared out as each core finishes one; output min {} max {}; {} bytes in, {} bytes weights+params, {} bytes out at 0x{:09x}",
                    if n == 1 { "" } else { "s" },
                    r.min,
                    r.max,
                    r.bytes_in,
                    r.bytes_constants,
                    r.bytes_out,
                    r.job.fm_out
                );
            } else if detail {
                let t = r.tiling;
                println!(
                    "          tiles {} rows x {} cols of {}x{} outputs (last column {}), {} output-channel passes x {} input groups; input tile {}x{}",
                    t.row_tiles,
                    t.col_tiles,
                    t.tile_rows * t.scale(),
                    t.tile_cols * t.scale(),
                    t.last_tile_cols * t.scale(),
                    t.out_tiles,
                    t.in_groups,
                    t.in_tile_rows,
                    t.in_tile_cols
                );
                if let Some(f) = t.fold {
                    println!(
                        "          folded: a {}x{} convolution over the input, {} phases x {} channels in the output lanes",
                        f.taps,
                        f.taps,
                        f.stride * f.stride,
                        f.channels / (f.stride * f.stride)
                    );
                }
                println!(
                    "          output min {} max {}; {} bytes in, {} bytes weights+params, {} bytes out at 0x{:09x}; model {:.3} ms, limit {} ms",
                    r.min,
                    r.max,
                    r.bytes_in,
                    r.bytes_constants,
                    r.bytes_out,
                    r.job.fm_out,
                    r.modelled.as_secs_f64() * 1e3,
                    r.limit.as_millis()
                );
            }
            if detail {
                match p.next_layer() {
                    Some(n) => println!("          next: {}", n.name()),
                    None => println!("          all layers done ('run' writes {RECON_FILE}, {RECON_XLC_FILE} and {LATENT_FILE})"),
                }
            }
            Ok(())
        }
        Err(e) => {
            fail!("{e}")
        }
    }
}

pub fn step(state: &mut State, cpu: Option<usize>) -> Outcome {
    let engine = Engine::pick(cpu.map(|n| if n == 0 { state.cores } else { n }))?;
    let (model, p, arena) = ready(state)?;
    step_once(arena, &engine, &model, p, true)
}

/// The results of `run`, replacing earlier ones.
const RUN_OUTPUTS: [Output; 3] =
    [Output { name: RECON_FILE, replace: true }, Output { name: RECON_XLC_FILE, replace: true }, Output { name: LATENT_FILE, replace: true }];

/// The results must never replace an input: an output and the loaded
/// model or image are compared as files on the card ("/RECON.PNG" and
/// "recon.png" are RECON.PNG). Then each output must be writable (not a
/// directory, not read-only), checked before any layer runs.
fn check_run_outputs(state: &mut State) -> Outcome {
    let names = [state.image.as_ref().map(|i| i.1.clone()), state.model.as_ref().map(|m| m.1.clone())];
    let s = mounted(&mut state.card)?;
    for out in RUN_OUTPUTS {
        for n in names.iter().flatten() {
            match s.same_file(n, out.name) {
                Ok(false) => {}
                Ok(true) => fail!("{} is a loaded input ({n}) and 'run' writes its result there; copy the input to another name (cp) and load that", out.name),
                Err(e) => fail!("{}: {e}", out.name),
            }
        }
    }
    for out in RUN_OUTPUTS {
        if let Err(e) = s.check_outputs(&[out]) {
            fail!("{}: {e}; 'run' writes its result there, so nothing was run", out.name);
        }
    }
    Ok(())
}

pub fn run(state: &mut State, cpu: Option<usize>) -> Outcome {
    let engine = Engine::pick(cpu.map(|n| if n == 0 { state.cores } else { n }))?;
    // What is missing first, then where the results go, then the work.
    ready(state)?;
    check_run_outputs(state)?;
    let (model, p, arena) = ready(state)?;
    if p.finished() {
        p.restart();
    } else if p.next > 0 {
        println!("continuing at {} ({} layers already stepped)", LAYERS[p.next].name, p.next);
    }
    let g = p.geometry;
    println!("running {}x{} ({} padding) on {}", g.image.w, g.image.h, g.pad.name(), engine.text().as_str());
    let t = time::Instant::now();
    while !p.finished() {
        step_once(arena, &engine, &model, p, false)?;
    }
    let total: f64 = p.reports.iter().flatten().map(|r| r.elapsed.as_secs_f64()).sum();
    let modelled: f64 = p.reports.iter().flatten().map(|r| r.modelled.as_secs_f64()).sum();
    match &engine {
        Engine::Cpu(_) => println!(
            "10 layers: {:.3} ms on {} in all (the accelerator: {:.3} ms by its model); this command {:.3} ms with the firmware's checks",
            total * 1e3,
            engine.text().as_str(),
            modelled * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        ),
        Engine::Accel(accel) => {
            println!(
                "10 layers: {:.3} ms on the accelerator in all; this command {:.3} ms with the firmware's checks",
                total * 1e3,
                t.elapsed().as_secs_f64() * 1e3
            );
            let worst = p.reports.iter().flatten().map(|r| (pipeline::model_ratio(r.elapsed, r.modelled), r.layer)).max_by(|a, b| a.0.total_cmp(&b.0));
            if let (Some((ratio, l)), Backend::Fabric) = (worst, accel.backend) {
                println!(
                    "measured/model: at most x{ratio:.2} ({}); the board's timeout allows x{:.0} (pipeline::BOARD_MARGIN, floor {} s)",
                    l.name(),
                    pipeline::BOARD_MARGIN,
                    pipeline::BOARD_FLOOR.as_secs()
                );
            }
        }
    }
    write_results(state)
}

/// "on N cores (inflate 1.2 ms, ... of core time)": the job's cores and
/// the core time of each stage (png_cores::Work; stages without a name are
/// left out).
fn work_text(w: &crate::png_cores::Work, names: [&str; 3]) -> heapless::String<128> {
    use core::fmt::Write;
    let mut s = heapless::String::new();
    let _ = write!(s, "on {} core{} (", w.cores, if w.cores == 1 { "" } else { "s" });
    for (i, (name, d)) in names.iter().zip(w.stages).filter(|(n, _)| !n.is_empty()).enumerate() {
        let _ = write!(s, "{}{name} {:.3} ms", if i > 0 { ", " } else { "" }, d.as_secs_f64() * 1e3);
    }
    let _ = write!(s, " of core time in {} parts)", w.units);
    s
}

fn backend_text(b: Backend) -> &'static str {
    match b {
        Backend::Fabric => "the PL",
        Backend::Cosim { fault: accel_regs::cosim::FAULT_NONE, .. } => "HLS C-simulation beside QEMU",
        Backend::Cosim { .. } => "HLS C-simulation beside QEMU, with a fault injected",
    }
}

/// RECON.PNG, RECON.XLC and LATENT.BIN from the finished pipeline: all, or
/// none (each goes to a temporary name; all are renamed once all are
/// complete, so a full card leaves the earlier results as they were).
fn write_results(state: &mut State) -> Outcome {
    let Some((g, _)) = state.image.clone() else { fail!("no image loaded (use 'load image FILE' first)") };
    let Some((model, _)) = state.model else { fail!("no model loaded (use 'load model FILE' first)") };
    let cores = state.cores;
    let s = mounted(&mut state.card)?;
    // The decode scratch is free once the image is in its map. The coded
    // file first, the latent file after it: all three results are written
    // together (all or none), so both stay staged until then.
    let mut b = state.arena.buffers();
    let latent_map = pipeline::map_of(b.take(pipeline::output_region(Layer::LATENT)), &g, Layer::LATENT);
    let recon_map = pipeline::map_of(b.take(pipeline::output_region(Layer::Syn2)), &g, Layer::Syn2);
    let buf = b.take(ArenaRegion::ImageDecode);
    let coded = match xlc::encode(model.id, &g, latent_map, buf) {
        Ok(c) => c,
        Err(e) => fail!("coding {RECON_XLC_FILE}: {e}"),
    };
    print_entropy("coding", &coded);
    let h = coded.header;
    let (xlc_file, rest) = buf.split_at_mut(h.file_len());
    let Some(latent) = pipeline::latent_file(latent_map, rest, &g) else { fail!("the latent does not fit the staging buffer") };
    let n = latent.len();
    let rows = MapRows { map: recon_map, shape: pipeline::output_shape(&g, Layer::Syn2), w: g.image.w, h: g.image.h };
    let t = time::Instant::now();
    let mut encoded = None;
    let r = s.write_outputs(&RUN_OUTPUTS, |i, sink| match i {
        0 => {
            encoded = Some(crate::image::encode(&rows, crate::image::DEFAULT_ENCODE, cores, |b: &[u8]| sink.write(b))?);
            Ok(())
        }
        1 => sink.write(xlc_file),
        _ => sink.write(latent),
    });
    let ms = t.elapsed().as_millis();
    match (r, encoded) {
        (Ok(_), Some((png, _, work))) => {
            println!(
                "{RECON_FILE}: {}x{} PNG, {} bytes (encoded {} and written with {RECON_XLC_FILE} and {LATENT_FILE} in {ms} ms)",
                g.image.w,
                g.image.h,
                png.bytes,
                work_text(&work, ["compress", "write", ""]).as_str()
            );
            println!(
                "{RECON_XLC_FILE}: {} bytes, {:.4} bpp, compression ratio {:.1}:1 (vs 24-bit RGB)",
                h.file_len(),
                h.bits_per_pixel(),
                h.compression_ratio()
            );
            let d = g.latent();
            let c = Layer::LATENT.spec().cout;
            println!("{LATENT_FILE}: {c}x{}x{} latent, {n} bytes, CRC-32 0x{:08x}", d.w, d.h, xlic_model::crc32::crc32(latent));
            Ok(())
        }
        (Err(StorageError::CardFull), _) => fail!(
            "writing {RECON_FILE}, {RECON_XLC_FILE} and {LATENT_FILE}: the card is full; none was written (earlier results, if any, are unchanged)"
        ),
        (Err(e), _) => fail!("writing {RECON_FILE}, {RECON_XLC_FILE} and {LATENT_FILE}: {e}; none was written"),
        (Ok(_), None) => fail!("writing {RECON_FILE}: the encoder produced nothing"),
    }
}

fn print_entropy(what: &str, c: &xlc::Coded) {
    println!(
        "entropy {what} on the A53: {} latent values in {} us ({:.1} ns per value)",
        c.values,
        c.elapsed.as_micros(),
        c.ns_per_value()
    );
}

/// An output name must not be one of the command's inputs or the loaded
/// model (compared as files on the card, as `run` compares them), nor
/// any file already on the card: `compress` and `decompress` write new
/// files only, as `cp` and `save` do (a typo must not cost a photograph).
/// Checked before the command's work starts.
fn check_output_name(cmd: &str, out: &str, inputs: &[&str], state: &mut State) -> Outcome {
    let model = state.model.as_ref().map(|m| m.1.clone());
    let s = mounted(&mut state.card)?;
    for i in inputs.iter().copied().chain(model.as_deref()) {
        match s.same_file(i, out) {
            Ok(false) => {}
            Ok(true) => fail!("{cmd}: {out} is an input of this command (or the loaded model); write the result under another name"),
            Err(e) => fail!("{cmd}: {out}: {e}"),
        }
    }
    match s.check_outputs(&[Output { name: out, replace: false }]) {
        Ok(()) => Ok(()),
        Err(StorageError::Fs(xlic_fat::FsError::Exists)) => {
            fail!("{cmd}: {out} exists on the card and is left as it is; choose another name, or 'rm {out}' first")
        }
        Err(e) => fail!("{cmd}: {out}: {e}"),
    }
}

fn ms(d: core::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `compress IMAGE OUT [pad]`: load the PNG, the analysis layers on the
/// accelerator, entropy coding on the A53, the file written atomically.
pub fn compress(state: &mut State, image: &str, out: &str, pad: PadMode) -> Outcome {
    check_output_name("compress", out, &[image], state)?;
    let accel = Engine::Accel(accelerator()?);
    if state.model.is_none() {
        fail!("no model loaded (use 'load model FILE' first)");
    }
    let t = time::Instant::now();
    load_image(state, image, pad)?;
    let load = t.elapsed();
    let (model, p, arena) = ready(state)?;
    println!("analysis on {}", accel.text().as_str());
    let t = time::Instant::now();
    while p.next <= Layer::LATENT.index() {
        step_once(arena, &accel, &model, p, false)?;
    }
    let analysis = t.elapsed();
    let g = p.geometry;
    // The decode scratch is free once the image is in its map.
    let (latent_region, buf) = state.arena.buffers().read_write(pipeline::output_region(Layer::LATENT), ArenaRegion::ImageDecode);
    let coded = match xlc::encode(model.id, &g, pipeline::map_of(latent_region, &g, Layer::LATENT), buf) {
        Ok(c) => c,
        Err(e) => fail!("compress: {e}"),
    };
    print_entropy("coding", &coded);
    let h = coded.header;
    let s = mounted(&mut state.card)?;
    let w = match s.write_file(out, &buf[..h.file_len()], false, progress(out)) {
        Ok(w) => w,
        Err(e) => fail!("compress: writing {out}: {e}"),
    };
    println!(
        "{out}: {} bytes, {:.4} bpp, compression ratio {:.1}:1 (vs 24-bit RGB), model 0x{:08x}",
        h.file_len(),
        h.bits_per_pixel(),
        h.compression_ratio(),
        h.model_id
    );
    println!(
        "phases: load {:.0} ms, analysis {:.1} ms (accelerator), entropy coding {:.1} ms (A53), write {:.0} ms",
        ms(load),
        ms(analysis),
        ms(coded.elapsed),
        w.micros as f64 / 1e3
    );
    Ok(())
}

/// `decompress IN OUT`: check the file against the loaded model, entropy
/// decoding on the A53 into the latent region, the synthesis layers on
/// the accelerator, the PNG written atomically.
pub fn decompress(state: &mut State, file: &str, out: &str) -> Outcome {
    check_output_name("decompress", out, &[file], state)?;
    let accel = Engine::Accel(accelerator()?);
    let Some((model, _)) = state.model else { fail!("no model loaded (use 'load model FILE' first)") };
    let cores = state.cores;
    let s = mounted(&mut state.card)?;
    // The latent and feature-map regions are about to be overwritten: a
    // loaded image's pipeline no longer holds any of its maps.
    if let Some(p) = &mut state.pipeline {
        p.restart();
    }
    // The file into the image-file buffer, decoded into the latent region
    // (the pipeline's, which this command runs).
    let mut b = state.arena.buffers();
    let buf = b.take(ArenaRegion::ImageFile);
    let read = match s.read_file(file, buf, false, progress(file)) {
        Ok(t) => t,
        Err(e) => fail!("decompress {file}: {e}"),
    };
    let x = match xlc::check(model.id, &buf[..read.bytes]) {
        Ok(x) => x,
        Err(e) => fail!("decompress {file}: {e}"),
    };
    let coded = match xlc::decode(&x, b.take(ArenaRegion::Latent)) {
        Ok(c) => c,
        Err(e) => fail!("decompress {file}: {e}"),
    };
    let (h, g) = (coded.header, coded.geometry);
    println!(
        "{file}: {} bytes, {}x{} ({} padding), latent {}x{}x{}, model 0x{:08x} (the loaded one)",
        read.bytes,
        g.image.w,
        g.image.h,
        g.pad.name(),
        h.latent.0,
        h.latent.2,
        h.latent.1,
        h.model_id
    );
    print_entropy("decoding", &coded);
    let mut p = Pipeline::from_latent(g);
    println!("synthesis on {}", accel.text().as_str());
    let t = time::Instant::now();
    while !p.finished() {
        step_once(&mut state.arena, &accel, &model, &mut p, false)?;
    }
    let synthesis = t.elapsed();
    let rows = MapRows { map: pipeline::map_bytes(&state.arena, &g, Layer::Syn2), shape: pipeline::output_shape(&g, Layer::Syn2), w: g.image.w, h: g.image.h };
    let t = time::Instant::now();
    let mut encoded = None;
    let r = s.write_outputs(&[Output { name: out, replace: false }], |_, sink| {
        encoded = Some(crate::image::encode(&rows, crate::image::DEFAULT_ENCODE, cores, |b: &[u8]| sink.write(b))?);
        Ok(())
    });
    let encode_and_write = t.elapsed();
    let png = match (r, encoded) {
        (Ok(_), Some((png, _, _))) => png,
        (Err(e), _) => fail!("decompress: writing {out}: {e}"),
        (Ok(_), None) => fail!("decompress: writing {out}: the encoder produced nothing"),
    };
    println!("{out}: {}x{} PNG, {} bytes", g.image.w, g.image.h, png.bytes);
    println!("{file}: {:.4} bpp, compression ratio {:.1}:1 (vs 24-bit RGB)", h.bits_per_pixel(), h.compression_ratio());
    println!(
        "phases: read {:.0} ms, entropy decoding {:.1} ms (A53), synthesis {:.1} ms (accelerator), PNG encode and write {:.0} ms",
        read.micros as f64 / 1e3,
        ms(coded.elapsed),
        ms(synthesis),
        ms(encode_and_write)
    );
    Ok(())
}

pub fn reset(state: &mut State) -> Outcome {
    if let Some(p) = &mut state.pipeline {
        p.restart();
    }
    match AccelDriver::find() {
        Ok(a) => match a.reset() {
            Ok(()) => println!("accelerator idle (AP_CTRL 0x{:02x}); next layer: ana_0", a.ap_ctrl()),
            Err(e) => fail!("reset: {e}"),
        },
        Err(e) => println!("pipeline reset; {e}"),
    }
    Ok(())
}

pub fn regs() -> Outcome {
    let a = accelerator()?;
    println!("xlic_layer registers at 0x{:08x} ({}):", a.base(), backend_text(a.backend));
    // AP_CTRL is read once (ap_done clears on read on the IP).
    let mut c = 0;
    a.dump(|name, offset, value| {
        if offset == 0 {
            c = value as u32;
        }
        println!("  0x{offset:02x} {name:<8} 0x{value:x} ({value})")
    });
    println!(
        "AP_CTRL: start {} done {} idle {} ready {} (done clears on read on the IP)",
        c & 1,
        (c >> 1) & 1,
        (c >> 2) & 1,
        (c >> 3) & 1
    );
    Ok(())
}

pub fn mem(state: &State) -> Outcome {
    println!("  {:<12} {:<21} {:>9}  holds", "buffer", "address", "size");
    for r in ArenaRegion::ALL {
        let range = r.range();
        let what: heapless::String<64> = describe(state, r);
        println!("  {:<12} 0x{:09x}..0x{:09x} {:>5} MiB  {}", r.name(), range.start, range.end, (range.end - range.start) >> 20, what.as_str());
    }
    let w = memory::cosim_window();
    println!("  {:<12} 0x{:09x}..0x{:09x} {:>5} KiB  accelerator registers under QEMU", "cosim win", w.start, w.end, (w.end - w.start) >> 10);
    Ok(())
}

fn describe(state: &State, r: ArenaRegion) -> heapless::String<64> {
    use core::fmt::Write;
    let mut s = heapless::String::new();
    let _ = match (r, &state.pipeline) {
        (ArenaRegion::ModelFile, _) => match &state.model {
            Some((m, name)) => write!(s, "{name}, {} bytes (weights read in place)", m.file_bytes),
            None => write!(s, "-"),
        },
        (ArenaRegion::InputMap, Some(p)) => write!(s, "input map {}x{}x3", p.geometry.coded.w, p.geometry.coded.h),
        (ArenaRegion::Heap, _) => write!(s, "PNG encoder"),
        (ArenaRegion::ImageFile | ArenaRegion::ImageDecode, _) => write!(s, "staging (card reads, decode, latent file)"),
        (_, Some(p)) => match p.holder(r) {
            Some(l) => {
                let sh = pipeline::output_shape(&p.geometry, l);
                write!(s, "{} output {}x{}x{}, {} bytes", l.name(), sh.channels, sh.dims.w, sh.dims.h, sh.bytes())
            }
            None => write!(s, "-"),
        },
        _ => write!(s, "-"),
    };
    s
}

pub fn dump(state: &mut State, layer: Layer, file: &str) -> Outcome {
    let Some(p) = &state.pipeline else { fail!("no image loaded (use 'load image FILE' first)") };
    if !p.holds(layer) {
        fail!("{}'s output is not in memory (not run yet, or overwritten by a later layer); 'reset' and 'step' up to it", layer.name());
    }
    let g = p.geometry;
    let shape = pipeline::output_shape(&g, layer);
    // The decode scratch is free once the image is in its map.
    let (map, buf) = state.arena.buffers().read_write(pipeline::output_region(layer), ArenaRegion::ImageDecode);
    let room = buf.len();
    let Some(fm) = pipeline::fm_file(layer, map, buf, &g) else {
        fail!("{}'s map is {} bytes; dumps are limited to {} bytes", layer.name(), shape.bytes(), room)
    };
    let s = mounted(&mut state.card)?;
    match s.write_file(file, fm, false, progress(file)) {
        Ok(w) => {
            println!("{file}: {} output {}x{}x{}, {} bytes (feature-map file), written at {} KiB/s", layer.name(), shape.channels, shape.dims.w, shape.dims.h, fm.len(), w.kib_per_s());
            Ok(())
        }
        Err(e) => fail!("dump {file}: {e}"),
    }
}

pub fn verify(state: &mut State, file: &str) -> Outcome {
    let s = mounted(&mut state.card)?;
    let Some(p) = &state.pipeline else { fail!("no image loaded (use 'load image FILE' first)") };
    let g = p.geometry;
    // The decode scratch is free once the image is in its map; the file is
    // read there and compared with the map it names (only a map still held
    // is compared, so any of them may be borrowed).
    let mut buffers = state.arena.buffers();
    let buf = buffers.take(ArenaRegion::ImageDecode);
    let buf_len = buf.len();
    let n = match s.read_file(file, buf, false, |_, _| {}) {
        Ok(t) => t.bytes,
        Err(e) => fail!("verify {file}: {e}"),
    };
    // The file, then (for a latent file) its map rebuilt in the free tail.
    let (file_bytes, scratch) = buf.split_at_mut(n.next_multiple_of(64));
    let (layer, shape, want) = match pipeline::file_map(&file_bytes[..n], scratch, &g) {
        Ok(m) => m,
        Err(FileMapError::Latent(e)) => fail!("verify {file}: {e}"),
        Err(FileMapError::Fm(e)) => fail!("verify {file}: {e}"),
        Err(FileMapError::LatentShape { file: (c, w, h), mine: (mc, mw, mh) }) => {
            fail!("{file} is a {c}x{w}x{h} latent; this image's latent is {mc}x{mw}x{mh}")
        }
        Err(FileMapError::FmShape { layer, file: f, mine }) => fail!(
            "{file} holds a {}x{}x{} map of {}; this image's is {}x{}x{}",
            f.channels,
            f.dims.w,
            f.dims.h,
            layer.name(),
            mine.channels,
            mine.dims.w,
            mine.dims.h
        ),
        Err(FileMapError::NoRoom) => fail!("verify {file}: the file and its map do not fit the {} bytes of the decode buffer", buf_len),
    };
    if !p.holds(layer) {
        fail!("{}'s output is not in memory (not run yet, or overwritten by a later layer)", layer.name());
    }
    let map = &buffers.take(pipeline::output_region(layer))[..shape.bytes()];
    match pipeline::compare_maps(&shape, map, want) {
        None => {
            println!("{file}: {} output matches bit for bit ({} values)", layer.name(), shape.channels * shape.dims.h * shape.dims.w);
            Ok(())
        }
        Some(m) => fail!(
            "{file}: {} output differs in {} of {} values; first at channel {} y {} x {}: {} here, {} in the file",
            layer.name(),
            m.count,
            shape.channels * shape.dims.h * shape.dims.w,
            m.channel,
            m.y,
            m.x,
            m.got,
            m.want
        ),
    }
}

/// The loaded image, encoded from its input map straight to the card
/// (rows in, IDAT chunks out: the memory does not grow with the image).
pub fn save_image(state: &mut State, file: &str, options: xlic_png::Options) -> Outcome {
    let Some((g, _)) = state.image.clone() else { fail!("save image: no image loaded (use 'load image FILE' first)") };
    let cores = state.cores;
    let s = mounted(&mut state.card)?;
    let map = state.arena.bytes(ArenaRegion::InputMap);
    let rows = MapRows { map, shape: pipeline::input_shape(&g, Layer::Ana0), w: g.image.w, h: g.image.h };
    let t = time::Instant::now();
    let mut encoded = None;
    let r = s.write_outputs(&[Output { name: file, replace: false }], |_, sink| {
        encoded = Some(crate::image::encode(&rows, options, cores, |b: &[u8]| sink.write(b))?);
        Ok(())
    });
    let ms = t.elapsed().as_millis();
    match (r, encoded) {
        (Ok(_), Some((png, heap, work))) => {
            println!(
                "{file}: {}x{} PNG, {} bytes, encoded in {ms} ms {} ({} filter, level {}; {} IDAT chunks; encoder heap {} KiB)",
                g.image.w,
                g.image.h,
                png.bytes,
                work_text(&work, ["compress", "write", ""]).as_str(),
                options.filter.name(),
                options.level,
                png.idat_chunks,
                heap >> 10
            );
            Ok(())
        }
        (Err(e), _) => fail!("save image {file}: {e}"),
        (Ok(_), None) => fail!("save image {file}: the encoder produced nothing"),
    }
}
