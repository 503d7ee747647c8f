//! The codec on the accelerator, one layer per start: where each layer
//! reads and writes in DDR, what goes into its registers, how long it may
//! take, and what it produced. Sizes and tiles come from the model crate
//! (layer table, geometry, layouts) and the generated hardware limits;
//! nothing here is a hand table.
use crate::arch::aarch64::time::Instant;
use crate::bsp::zcu102::memory::{as_i16, as_i16_mut, Arena, ArenaRegion};
use crate::drivers::xlic_accel::{self, AccelDriver, AccelError, Backend, LayerJob};
use core::time::Duration;
use xlic_model::layout::{FmShape, Tiling};
use xlic_model::{Geometry, Layer};

const HW: xlic_model::HwLimits = accel_regs::HW_LIMITS;

/// Where a checked model package's sections sit in its arena region
/// (read in place: sections are 64-byte aligned in the package, and the
/// package is the start of the model region).
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo {
    /// (weights offset, bytes, params offset, bytes) per layer, in the file.
    pub sections: [(usize, usize, usize, usize); 10],
    pub file_bytes: usize,
    /// The package's identity, which compressed files name.
    pub id: u32,
}

impl ModelInfo {
    pub fn of(p: &xlic_model::package::Package) -> ModelInfo {
        let mut sections = [(0, 0, 0, 0); 10];
        for (i, s) in sections.iter_mut().enumerate() {
            let (wo, po) = p.section_offsets(i);
            *s = (wo, p.weights_bytes(i).len(), po, p.params_bytes(i).len());
        }
        ModelInfo { sections, file_bytes: p.bytes.len(), id: p.id() }
    }

    /// Layer `l`'s weights and parameter records, borrowed from the model
    /// region.
    pub fn sections<'a>(&self, model_region: &'a [u8], l: Layer) -> (&'a [u8], &'a [u8]) {
        let (wo, wl, po, pl) = self.sections[l.index()];
        (&model_region[wo..wo + wl], &model_region[po..po + pl])
    }
}

/// The region layer `l` reads: the input map, the latent, or the map the
/// previous layer wrote.
pub fn input_region(l: Layer) -> ArenaRegion {
    match l.index() {
        0 => ArenaRegion::InputMap,
        i => output_region(Layer::ALL[i - 1]),
    }
}

/// The region layer `l` writes: the latent and the reconstruction have
/// their own; the others alternate (ping-pong), so a map is overwritten
/// two layers later.
pub fn output_region(l: Layer) -> ArenaRegion {
    match l {
        Layer::LATENT => ArenaRegion::Latent,
        Layer::Syn2 => ArenaRegion::Output,
        _ if l.index() % 2 == 0 => ArenaRegion::FmPing,
        _ => ArenaRegion::FmPong,
    }
}

pub fn input_shape(g: &Geometry, l: Layer) -> FmShape {
    FmShape::new(l.spec().cin, g.input(l), HW.lanes)
}

pub fn output_shape(g: &Geometry, l: Layer) -> FmShape {
    FmShape::new(l.spec().cout, g.output(l), HW.lanes)
}

/// Board: multiplies the performance model's time at pl_clk0's real rate.
/// The model is a floor, not a measurement (model/src/perf.rs: loop trip
/// counts at the pragma II, DDR at its board-preset rate), and nothing has
/// been measured on a board yet: an II that synthesis misses, DDR shared
/// with the A53 and the SD card's DMA, AXI latencies the model leaves out
/// could each cost a factor. A timeout that fires on a working IP is worse
/// than one that takes longer to notice a hung one, so the margin is wide:
/// 10x, with `BOARD_FLOOR` below it. `step` and `run` print each layer's
/// measured/modelled ratio ("x0.84 of model"): once a board has run every
/// layer, the largest ratio seen, times a safety factor of 2 or 3, is what
/// this can come down to.
pub const BOARD_MARGIN: f64 = 10.0;
/// Board: no layer's limit is shorter than this, whatever the model says
/// (small layers take microseconds; polling, cache maintenance and a
/// busy interconnect do not scale with them).
pub const BOARD_FLOOR: Duration = Duration::from_secs(2);
/// Board: added for the polling, and the cache maintenance around a start.
pub const BOARD_SLACK: Duration = Duration::from_millis(100);
/// Co-simulation: multiplies the model's time times the bridge's bound on
/// its own slowdown (time_scale); the C-simulation's speed depends on the
/// host and its load, which is what the generous factor is for.
pub const COSIM_MARGIN: f64 = 4.0;
pub const COSIM_SLACK: Duration = Duration::from_secs(1);

/// The tiling layer `l` runs with (the tile the performance model finds
/// fastest within the accelerator's buffers), and its modelled cost.
pub fn plan(g: &Geometry, l: Layer) -> Result<xlic_model::perf::Plan, PipelineError> {
    xlic_model::perf::plan(l.spec(), g.input(l), &HW, &accel_regs::PERF).map_err(PipelineError::Tiling)
}

/// What the performance model says a layer modelled as `perf` takes on the
/// IP: its cycles at the rate pl_clk0 really runs (`pl_clock_hz`, read
/// from CRL_APB; the model's HLS target clock when it cannot be read, and
/// never faster than that target).
pub fn model_time(perf: &xlic_model::perf::LayerPerf, pl_clock_hz: Option<u64>) -> Duration {
    let clock = pl_clock_hz.map_or(accel_regs::PERF.clock_hz, |hz| (hz as f64).min(accel_regs::PERF.clock_hz));
    Duration::from_secs_f64(perf.seconds(&xlic_model::perf::PerfConfig { clock_hz: clock, ..accel_regs::PERF }))
}

/// How long a layer modelled as `perf` may take. On the board,
/// max(`model_time` x `BOARD_MARGIN`, `BOARD_FLOOR`) + `BOARD_SLACK`.
/// Under co-simulation, the model's time at the HLS target clock x
/// time_scale x `COSIM_MARGIN` + `COSIM_SLACK`.
pub fn time_limit(perf: &xlic_model::perf::LayerPerf, backend: Backend, pl_clock_hz: Option<u64>) -> Duration {
    match backend {
        Backend::Fabric => BOARD_SLACK + model_time(perf, pl_clock_hz).mul_f64(BOARD_MARGIN).max(BOARD_FLOOR),
        Backend::Cosim { time_scale, .. } => COSIM_SLACK + model_time(perf, None).mul_f64(time_scale as f64 * COSIM_MARGIN),
    }
}

/// Measured time over modelled time.
pub fn model_ratio(elapsed: Duration, modelled: Duration) -> f64 {
    elapsed.as_secs_f64() / modelled.as_secs_f64().max(1e-9)
}

#[derive(Clone, Copy, Debug)]
pub enum PipelineError {
    /// Every layer has run.
    Finished,
    /// A map does not fit its region (cannot happen within the
    /// accelerator's side limit; checked anyway).
    DoesNotFit { region: ArenaRegion, need: usize, room: usize },
    /// No tile of the layer fits the accelerator's buffers (an image the
    /// configuration was not built for).
    Tiling(xlic_model::layout::TilingError),
    Accel { layer: Layer, error: AccelError },
    Cpu { layer: Layer, error: crate::cpu_engine::EngineError },
}

impl core::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            PipelineError::Finished => write!(f, "all 10 layers have run; 'reset' starts over at ana_0"),
            PipelineError::DoesNotFit { region, need, room } => {
                write!(f, "the {} buffer holds {room} bytes; this image needs {need}", region.name())
            }
            PipelineError::Tiling(e) => write!(f, "{e}"),
            PipelineError::Accel { layer, error } => write!(f, "{}: {error}", layer.name()),
            PipelineError::Cpu { layer, error } => write!(f, "{} on the CPU: {error}", layer.name()),
        }
    }
}

/// What computes the layers.
#[derive(Clone, Copy)]
pub enum Compute<'a> {
    /// The accelerator (the PL, or its co-simulation under QEMU); with
    /// `read_back`, every register is compared after it is written.
    Accel { driver: &'a AccelDriver, read_back: bool },
    /// The NEON engine on up to `cores` A53 cores.
    Cpu { cores: usize },
}

/// What one layer did.
#[derive(Clone, Copy, Debug)]
pub struct LayerReport {
    /// Cores that computed it, or None for the accelerator.
    pub cpu_cores: Option<usize>,
    pub layer: Layer,
    pub input: FmShape,
    pub output: FmShape,
    pub tiling: Tiling,
    pub job: LayerJob,
    /// Start to done, as polled.
    pub elapsed: Duration,
    /// The accelerator's time limit (zero on the CPU, where nothing is polled).
    pub limit: Duration,
    /// What the performance model says it takes (`model_time`).
    pub modelled: Duration,
    /// CRC-32 of the output map's bytes (layout::FmShape, padding included).
    pub crc: u32,
    /// Smallest and largest output value over the real channels.
    pub min: i16,
    pub max: i16,
    /// Bytes the layer's buffers hold: input map, weights + params, output.
    pub bytes_in: usize,
    pub bytes_constants: usize,
    pub bytes_out: usize,
}

/// Progress through the 10 layers for one loaded image.
pub struct Pipeline {
    pub geometry: Geometry,
    /// Index of the first layer this pipeline runs: 0, or the first
    /// synthesis layer when the latent came from a file.
    pub first: usize,
    /// Index of the next layer to run (10: finished).
    pub next: usize,
    pub reports: [Option<LayerReport>; 10],
    /// A layer that was started and did not complete: it may have written
    /// part of its output region.
    pub interrupted: Option<Layer>,
}

/// The output map of a finished layer, as bytes.
pub fn map_bytes<'a>(arena: &'a Arena, g: &Geometry, l: Layer) -> &'a [u8] {
    map_of(arena.bytes(output_region(l)), g, l)
}

/// Layer `l`'s output map within its region's bytes.
pub fn map_of<'a>(region: &'a [u8], g: &Geometry, l: Layer) -> &'a [u8] {
    &region[..output_shape(g, l).bytes()]
}

impl Pipeline {
    pub fn new(geometry: Geometry) -> Pipeline {
        Pipeline { geometry, first: 0, next: 0, reports: [None; 10], interrupted: None }
    }

    /// The synthesis layers on a latent already in its region (decoded
    /// from a compressed file): the analysis layers never ran.
    pub fn from_latent(geometry: Geometry) -> Pipeline {
        let first = Layer::LATENT.index() + 1;
        Pipeline { geometry, first, next: first, reports: [None; 10], interrupted: None }
    }

    pub fn next_layer(&self) -> Option<Layer> {
        Layer::ALL.get(self.next).copied()
    }

    pub fn finished(&self) -> bool {
        self.next == Layer::ALL.len()
    }

    /// Whether `l`'s output is still in its region (ran, and no later
    /// layer that ran, or was started and interrupted, wrote the region).
    pub fn holds(&self, l: Layer) -> bool {
        let i = l.index();
        let overwritten = (i + 1..self.next).map(|k| Layer::ALL[k]).chain(self.interrupted).any(|k| output_region(k) == output_region(l));
        (self.first..self.next).contains(&i) && !overwritten
    }

    /// Back to the first layer (the input map and the model stay).
    pub fn restart(&mut self) {
        self.next = self.first;
        self.reports = [None; 10];
        self.interrupted = None;
    }

    /// The layer that last wrote region `r`, if its output is still there.
    pub fn holder(&self, r: ArenaRegion) -> Option<Layer> {
        Layer::ALL.into_iter().find(|&l| output_region(l) == r && self.holds(l))
    }

    pub fn job(&self, model: &ModelInfo, l: Layer, tiling: &Tiling) -> LayerJob {
        let spec = l.spec();
        let (i, o) = (self.geometry.input(l), self.geometry.output(l));
        let (wo, _, po, _) = model.sections[l.index()];
        let file = ArenaRegion::ModelFile.range().start;
        let (w, p) = (file + wo as u64, file + po as u64);
        LayerJob {
            fm_in: input_region(l).range().start,
            weights: w,
            params: p,
            fm_out: output_region(l).range().start,
            op: spec.op.code(),
            kernel: spec.op.kernel() as u32,
            stride: spec.op.stride() as u32,
            cin: spec.cin as u32,
            cout: spec.cout as u32,
            in_h: i.h as u32,
            in_w: i.w as u32,
            out_h: o.h as u32,
            out_w: o.w as u32,
            tile: {
                let c = tiling.choice();
                [c.band_rows as u32, c.bands as u32, c.tile_cols as u32, c.passes as u32]
            },
        }
    }

    /// Run the next layer to completion.
    pub fn step(&mut self, arena: &mut Arena, compute: Compute, model: &ModelInfo) -> Result<LayerReport, PipelineError> {
        let l = self.next_layer().ok_or(PipelineError::Finished)?;
        let g = self.geometry;
        let (ins, outs) = (input_shape(&g, l), output_shape(&g, l));
        for (region, need) in [(input_region(l), ins.bytes()), (output_region(l), outs.bytes())] {
            let r = region.range();
            let room = (r.end - r.start) as usize;
            if need > room {
                return Err(PipelineError::DoesNotFit { region, need, room });
            }
        }
        let plan = plan(&g, l)?;
        let job = self.job(model, l, &plan.tiling);
        let mut buffers = arena.buffers();
        let (weights, params) = model.sections(buffers.take(ArenaRegion::ModelFile), l);
        let (input, out) = buffers.read_write(input_region(l), output_region(l));
        let input = &input[..ins.bytes()];
        // Forget what this layer is about to overwrite before the start:
        // a failed layer leaves no stale "holds" behind.
        self.reports[l.index()] = None;
        let (elapsed, limit, modelled, out, cpu_cores) = match compute {
            Compute::Accel { driver, read_back } => {
                let line = crate::arch::aarch64::cache::line();
                let out = &mut out[..outs.bytes().next_multiple_of(line)];
                xlic_accel::prepare_buffers(&[input, weights, params], out);
                let pl_hz = match driver.backend {
                    Backend::Fabric => crate::bsp::zcu102::clocks::pl0().hz,
                    Backend::Cosim { .. } => None,
                };
                let limit = time_limit(&plan.perf, driver.backend, pl_hz);
                let modelled = model_time(&plan.perf, pl_hz);
                let t = Instant::now();
                driver.start(&job, read_back).map_err(|error| PipelineError::Accel { layer: l, error })?;
                self.interrupted = Some(l);
                let waited = driver.wait_done(&job, limit).map_err(|error| PipelineError::Accel { layer: l, error });
                let elapsed = t.elapsed();
                waited?;
                self.interrupted = None;
                xlic_accel::complete_buffers(out);
                (elapsed, limit, modelled, &out[..outs.bytes()], None)
            }
            Compute::Cpu { cores } => {
                let out = &mut out[..outs.bytes()];
                let params_v = crate::cpu_engine::params_of(params);
                let data = xlic_model::reference::LayerData { weights: as_i16(weights), params: &params_v };
                let t = Instant::now();
                self.interrupted = Some(l);
                crate::cpu_engine::run_layer_on_cores(l.spec(), &HW, g.input(l), as_i16(input), data, as_i16_mut(out), cores)
                    .map_err(|error| PipelineError::Cpu { layer: l, error })?;
                self.interrupted = None;
                // Beside it, what the IP would take at its HLS target clock.
                (t.elapsed(), Duration::ZERO, model_time(&plan.perf, None), &*out, Some(cores.min(crate::smp::online())))
            }
        };
        let (min, max) = min_max(out, &outs);
        let report = LayerReport {
            cpu_cores,
            layer: l,
            input: ins,
            output: outs,
            tiling: plan.tiling,
            job,
            elapsed,
            limit,
            modelled,
            crc: xlic_model::crc32::crc32(out),
            min,
            max,
            bytes_in: ins.bytes(),
            bytes_constants: weights.len() + params.len(),
            bytes_out: outs.bytes(),
        };
        self.reports[l.index()] = Some(report);
        self.next += 1;
        Ok(report)
    }
}

fn value(map: &[u8], i: usize) -> i16 {
    i16::from_le_bytes([map[2 * i], map[2 * i + 1]])
}

/// Extremes over the real channels (padding lanes are zero and would hide
/// an all-positive or all-negative map).
fn min_max(map: &[u8], s: &FmShape) -> (i16, i16) {
    let (mut lo, mut hi) = (i16::MAX, i16::MIN);
    for y in 0..s.dims.h {
        for g in 0..s.groups() {
            let lanes = (s.channels - g * s.lanes).min(s.lanes);
            for x in 0..s.dims.w {
                let base = s.group_index(g, y, x);
                for c in 0..lanes {
                    let v = value(map, base + c);
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
    }
    (lo, hi)
}

/// The latent from its map (the latent's region) into `out` as a latent
/// file ([c][y][x]); returns the file.
pub fn latent_file<'a>(map: &[u8], out: &'a mut [u8], g: &Geometry) -> Option<&'a [u8]> {
    let s = output_shape(g, Layer::LATENT);
    let h = xlic_model::latent::LatentHeader { channels: s.channels, height: s.dims.h, width: s.dims.w };
    let map = &map[..s.bytes()];
    let out = out.get_mut(..h.file_len())?;
    out[..xlic_model::latent::HEADER_BYTES].copy_from_slice(&h.encode());
    let values = &mut out[xlic_model::latent::HEADER_BYTES..];
    xlic_model::latent::for_each_in_file_order(&s, |m, f| values[2 * f..2 * f + 2].copy_from_slice(&map[2 * m..2 * m + 2]));
    Some(out)
}

/// Layer `layer`'s output map (as it lies in its region) into `out` as a
/// feature-map file (xlic_model::fmfile: header, then the map); returns
/// the file, or None when `out` cannot hold it.
pub fn fm_file<'a>(layer: Layer, map: &[u8], out: &'a mut [u8], g: &Geometry) -> Option<&'a [u8]> {
    let h = xlic_model::fmfile::FmHeader { layer, shape: output_shape(g, layer) };
    let out = out.get_mut(..h.file_len())?;
    let hb = xlic_model::fmfile::HEADER_BYTES;
    out[..hb].copy_from_slice(&h.encode());
    out[hb..].copy_from_slice(map.get(..h.shape.bytes())?);
    Some(out)
}

/// Why a file cannot be compared with this image's maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMapError {
    Latent(xlic_model::latent::LatentError),
    Fm(xlic_model::fmfile::FmFileError),
    /// A latent file of another image's latent shape (channels, width,
    /// height).
    LatentShape { file: (usize, usize, usize), mine: (usize, usize, usize) },
    /// A feature-map file of `layer` in another image's shape.
    FmShape { layer: Layer, file: FmShape, mine: FmShape },
    /// The rebuilt map does not fit the scratch buffer.
    NoRoom,
}

/// A latent file or a feature-map file (written by `run` or `dump`, or on
/// the host) as the layer whose output it holds, that output's shape, and
/// the map as it lies in DDR: a feature-map file's body, or the latent
/// file's values ([c][y][x]) put back in map order in `scratch` (the
/// inverse of [`latent_file`]).
pub fn file_map<'a>(file: &'a [u8], scratch: &'a mut [u8], g: &Geometry) -> Result<(Layer, FmShape, &'a [u8]), FileMapError> {
    if file.starts_with(&xlic_model::latent::MAGIC) {
        let h = xlic_model::latent::LatentHeader::parse(file).map_err(FileMapError::Latent)?;
        let shape = output_shape(g, Layer::LATENT);
        if (h.channels, h.height, h.width) != (shape.channels, shape.dims.h, shape.dims.w) {
            return Err(FileMapError::LatentShape { file: (h.channels, h.width, h.height), mine: (shape.channels, shape.dims.w, shape.dims.h) });
        }
        let map = scratch.get_mut(..shape.bytes()).ok_or(FileMapError::NoRoom)?;
        map.fill(0);
        let values = &file[xlic_model::latent::HEADER_BYTES..];
        xlic_model::latent::for_each_in_file_order(&shape, |m, f| map[2 * m..2 * m + 2].copy_from_slice(&values[2 * f..2 * f + 2]));
        Ok((Layer::LATENT, shape, map))
    } else {
        let h = xlic_model::fmfile::FmHeader::parse(file).map_err(FileMapError::Fm)?;
        let mine = output_shape(g, h.layer);
        if h.shape != mine {
            return Err(FileMapError::FmShape { layer: h.layer, file: h.shape, mine });
        }
        Ok((h.layer, h.shape, &file[xlic_model::fmfile::HEADER_BYTES..]))
    }
}

/// First difference between two maps of the same shape, and how many
/// values differ.
pub struct Mismatch {
    pub channel: usize,
    pub y: usize,
    pub x: usize,
    pub got: i16,
    pub want: i16,
    pub count: usize,
}

/// Compare a map in DDR with a reference map of the same shape.
pub fn compare_maps(s: &FmShape, got: &[u8], want: &[u8]) -> Option<Mismatch> {
    let mut first: Option<Mismatch> = None;
    let mut count = 0;
    for y in 0..s.dims.h {
        for c in 0..s.channels {
            for x in 0..s.dims.w {
                let i = s.index(c, y, x);
                let (a, b) = (value(got, i), value(want, i));
                if a != b {
                    count += 1;
                    if first.is_none() {
                        first = Some(Mismatch { channel: c, y, x, got: a, want: b, count: 0 });
                    }
                }
            }
        }
    }
    first.map(|m| Mismatch { count, ..m })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlic_model::PadMode;

    #[test_case]
    fn every_map_of_the_largest_image_fits_its_region() {
        for pad in [PadMode::Edge, PadMode::Zero] {
            let side = HW.max_side;
            let g = Geometry::new(side, side, pad, side).unwrap();
            for l in Layer::ALL {
                for (r, s) in [(input_region(l), input_shape(&g, l)), (output_region(l), output_shape(&g, l))] {
                    let room = r.range().end - r.range().start;
                    assert!(s.bytes() as u64 <= room, "{}: {} needs {} bytes, has {room}", l.name(), r.name(), s.bytes());
                }
            }
        }
    }

    #[test_case]
    fn no_layer_reads_the_region_it_writes_and_outputs_live_until_overwritten() {
        for l in Layer::ALL {
            assert_ne!(input_region(l), output_region(l), "{}", l.name());
        }
        let g = Geometry::new(64, 48, PadMode::Edge, HW.max_side).unwrap();
        let mut p = Pipeline::new(g);
        p.next = 7; // ana_0 .. igdn_0 ran
        assert!(p.holds(Layer::Ana2) && p.holds(Layer::Igdn0) && p.holds(Layer::Syn0));
        assert!(!p.holds(Layer::Gdn1), "syn_0 wrote over gdn_1's region");
        assert!(!p.holds(Layer::Syn1), "not run yet");
        assert_eq!(p.holder(ArenaRegion::Latent), Some(Layer::Ana2));
        // syn_1 started and never finished: it may have scribbled over
        // syn_0's map (the same ping-pong region); igdn_0's is intact.
        p.interrupted = Some(Layer::Syn1);
        assert!(!p.holds(Layer::Syn0) && p.holds(Layer::Igdn0));
        p.restart();
        assert!(!p.holds(Layer::Ana0) && p.interrupted.is_none());
    }

    #[test_case]
    fn time_limits_follow_the_model_with_their_documented_margins() {
        let g = Geometry::new(768, 512, PadMode::Edge, HW.max_side).unwrap();
        let l = Layer::Syn2;
        let perf = plan(&g, l).unwrap().perf;
        let modelled = perf.seconds(&accel_regs::PERF);
        let secs = |d: Duration| d.as_secs_f64();
        assert!((secs(model_time(&perf, None)) - modelled).abs() < 1e-9);
        let time_limit = |backend, hz| time_limit(&perf, backend, hz);
        let board = time_limit(Backend::Fabric, None);
        let want = 0.1 + (10.0 * modelled).max(2.0);
        assert!((secs(board) - want).abs() < 1e-6, "{board:?} for a modelled {modelled} s");
        // pl_clk0 at a tenth of the HLS target: ten times the model's time;
        // faster than the target never shortens the limit.
        let slow = time_limit(Backend::Fabric, Some((accel_regs::PERF.clock_hz / 10.0) as u64));
        assert!((secs(slow) - (0.1 + (100.0 * modelled).max(2.0))).abs() < 1e-3 * secs(slow), "{slow:?}");
        assert_eq!(time_limit(Backend::Fabric, Some(2 * accel_regs::PERF.clock_hz as u64)), board);
        // Beyond the fixed second, the co-simulation limit scales with the slowdown.
        let cosim = time_limit(Backend::Cosim { time_scale: 100, fault: 0 }, None);
        assert!((secs(cosim) - (1.0 + 400.0 * modelled)).abs() < 1e-6, "{cosim:?}");
    }

    /// A latent file and a feature-map file read back as the maps they
    /// were made from; a file of another image's shape is named.
    #[test_case]
    fn files_read_back_as_the_maps_they_were_made_from() {
        let g = Geometry::new(40, 24, PadMode::Edge, HW.max_side).unwrap();
        for l in [Layer::LATENT, Layer::Gdn1] {
            let shape = output_shape(&g, l);
            let map: alloc::vec::Vec<u8> = (0..shape.bytes()).map(|i| (i * 7 + 3) as u8).collect();
            let mut file = alloc::vec![0u8; shape.bytes() + 64];
            let file = if l == Layer::LATENT { latent_file(&map, &mut file, &g) } else { fm_file(l, &map, &mut file, &g) }.unwrap();
            let mut scratch = alloc::vec![0u8; shape.bytes()];
            let (layer, s, back) = file_map(file, &mut scratch, &g).unwrap();
            assert!(layer == l && s == shape, "{}", l.name());
            // The latent's map layout may pad: compare value by value.
            assert!(compare_maps(&shape, back, &map).is_none(), "{} read back differs", l.name());
        }
        let other = Geometry::new(96, 64, PadMode::Edge, HW.max_side).unwrap();
        let map = alloc::vec![0u8; output_shape(&other, Layer::LATENT).bytes()];
        let mut file = alloc::vec![0u8; map.len() + 64];
        let file = latent_file(&map, &mut file, &other).unwrap();
        let mut scratch = alloc::vec![0u8; map.len()];
        assert!(matches!(file_map(file, &mut scratch, &g), Err(FileMapError::LatentShape { .. })));
        assert!(fm_file(Layer::Gdn1, &map, &mut [0u8; 16], &g).is_none(), "no room: None");
    }

    /// The floor: the smallest layer of the smallest image still gets two
    /// seconds on the board, and the margin covers ten times the model.
    #[test_case]
    fn every_board_limit_has_the_floor_and_ten_times_the_model() {
        for (w, h) in [(16, 16), (768, 512), (HW.max_side, HW.max_side)] {
            let g = Geometry::new(w, h, PadMode::Edge, HW.max_side).unwrap();
            for l in Layer::ALL {
                let perf = plan(&g, l).unwrap().perf;
                let limit = time_limit(&perf, Backend::Fabric, None);
                assert!(limit >= BOARD_FLOOR + BOARD_SLACK, "{} at {w}x{h}: {limit:?}", l.name());
                assert!(limit >= model_time(&perf, None).mul_f64(10.0), "{} at {w}x{h}: {limit:?}", l.name());
            }
        }
        assert!((model_ratio(Duration::from_millis(84), Duration::from_millis(100)) - 0.84).abs() < 1e-9);
    }
}
