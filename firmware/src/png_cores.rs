//! PNG on the four cores, with xlic-png's encoder and decoder.
//!
//! Encode: xlic-png compresses blocks of rows as independent deflate
//! segments joined by sync flushes with a combined Adler-32, so each core
//! takes the next block, compresses it with its own `BlockEncoder` into a
//! buffer, and core 0 hands the finished segments, in order, to the one
//! `PngWriter` (which feeds the card). Core 0 compresses blocks too while
//! the next one to write is not ready. The file is the one a single core
//! writes (a host test checks it decodes to the same pixels).
//!
//! Decode: the zlib stream is one serial chain, so core 0 inflates it
//! (`inflate_image_data`) and passes each finished chunk of scanlines on;
//! one core undoes the filters chunk after chunk (a row needs the row above
//! it unfiltered); the others (and cores 0 and 1 when their stage is done)
//! convert unfiltered chunks into the accelerator's input map and take the
//! CRC-32 of their RGB pixels, combined in order at the end. The three
//! stages overlap, so the time is about the slowest stage's, not the sum.
//!
//! What each stage costs is measured as core time per stage (counter
//! ticks spent in it, waits excluded): `Work`. Under QEMU's -icount with
//! one core (`cores 1`), that time is the stage's instructions, and
//! `cargo xtask bench --only cpu` derives the critical path on four cores
//! from it.
use crate::arch::aarch64::time;
use crate::smp::{self, CoreFault, SpinLock, NUM_CORES};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use xlic_model::crc32::{Crc32, ZeroShift};
use xlic_model::layout::FmShape;
use xlic_model::Geometry;
use xlic_png::{BlockEncoder, Header, Options, PngError, PngWriter, Rows, Segment, Summary};

/// Core time spent in each stage of one job (summed over cores), and into
/// how many units (chunks, blocks) the job was cut.
#[derive(Clone, Copy, Debug, Default)]
pub struct Work {
    pub cores: usize,
    pub units: usize,
    /// Decode: inflate, filters, map and CRCs. Encode: compress, write
    /// (PngWriter and the sink: the card), unused.
    pub stages: [Duration; 3],
}

/// Core time per stage, accumulated from any core.
struct Tally([AtomicU64; 3]);

impl Tally {
    fn new() -> Self {
        Tally([const { AtomicU64::new(0) }; 3])
    }
    /// Run `f` and charge its time to `stage`.
    fn work<R>(&self, stage: usize, f: impl FnOnce() -> R) -> R {
        let t = time::Instant::now();
        let r = f();
        self.0[stage].fetch_add(time::Instant::now().ticks() - t.ticks(), Ordering::Relaxed);
        r
    }
    fn finish(&self, cores: usize, units: usize) -> Work {
        let f = time::frequency().max(1) as u128;
        let d = |t: u64| Duration::from_nanos((t as u128 * 1_000_000_000 / f) as u64);
        Work { cores, units, stages: core::array::from_fn(|i| d(self.0[i].load(Ordering::Relaxed))) }
    }
}

const INFLATE: usize = 0;
const FILTERS: usize = 1;
const MAP: usize = 2;
const COMPRESS: usize = 0;
const WRITE: usize = 1;

/// Rows per encoded block: a sixteenth of the image, so four cores get
/// four blocks each and stay busy to the end, but never under 64 KiB of
/// scanlines (twice the deflate window: smaller blocks compress worse) nor
/// over xlic-png's block size. It does not depend on how many cores
/// encode: the file is the same on one core or four.
pub fn encode_block_rows(width: u32, height: u32) -> u32 {
    let row = 1 + 3 * width as usize;
    let least = (64usize << 10).div_ceil(row).max(1) as u32;
    let most = xlic_png::encode::rows_per_block(width);
    height.div_ceil(16).clamp(least.min(most), most)
}

struct EncodeShared {
    /// The next block to compress.
    next: u32,
    /// Finished blocks not yet written, by block number.
    done: Vec<Option<(Segment, Vec<u8>)>>,
    /// Buffers free for a block's deflate bytes.
    pool: Vec<Vec<u8>>,
    /// Writing failed: stop taking blocks.
    stop: bool,
}

enum Claim {
    /// A block was compressed.
    Worked,
    /// Every block is taken, or writing stopped.
    Finished,
    /// No buffer is free until core 0 writes one out.
    Wait,
}

/// Encode `src` as a PNG into `sink` on up to `cores` cores. The outer
/// error is a core that faulted; the inner one the sink's.
pub fn encode<E>(src: &(impl Rows + Sync), opts: Options, cores: usize, sink: impl FnMut(&[u8]) -> Result<(), E>) -> Result<Result<(Summary, Work), E>, CoreFault> {
    let (w, h) = (src.width(), src.height());
    let ids = smp::online_ids();
    let cores = cores.clamp(1, ids.len());
    let step = encode_block_rows(w, h);
    let blocks = h.div_ceil(step);
    let block_bytes = step as usize * (1 + 3 * w as usize);
    let shared = SpinLock::new(EncodeShared {
        next: 0,
        done: (0..blocks).map(|_| None).collect(),
        // Deflate adds at most 5 bytes per 16 KiB stored block, and a sync
        // flush; the buffers grow if ever needed.
        pool: (0..cores + 2).map(|_| Vec::with_capacity(block_bytes + block_bytes / 1024 + 64)).collect(),
        stop: false,
    });
    let tally = Tally::new();
    let claim = |enc: &mut BlockEncoder| -> Claim {
        let (b, mut buf) = {
            let mut s = shared.lock();
            if s.stop || s.next >= blocks {
                return Claim::Finished;
            }
            let Some(buf) = s.pool.pop() else { return Claim::Wait };
            s.next += 1;
            (s.next - 1, buf)
        };
        tally.work(COMPRESS, || {
            buf.clear();
            let rows = b * step..((b + 1) * step).min(h);
            let seg = enc.encode(src, rows, b + 1 == blocks, &mut |bytes: &[u8]| {
                buf.extend_from_slice(bytes);
                Ok::<(), core::convert::Infallible>(())
            });
            let Ok(seg) = seg;
            shared.lock().done[b as usize] = Some((seg, buf));
        });
        // Core 0 may be waiting for this block.
        smp::wake(0);
        Claim::Worked
    };
    let mut sink = sink;
    let since = smp::lost();
    let stop_all = || {
        shared.lock().stop = true;
        (1..NUM_CORES).for_each(smp::wake);
    };
    let written = smp::scope(|s| {
        for &core in &ids[1..cores] {
            let claim = &claim;
            let shared = &shared;
            s.spawn(core, move || {
                let mut enc = BlockEncoder::new(w, opts);
                loop {
                    match claim(&mut enc) {
                        Claim::Worked => smp::progress(),
                        Claim::Finished => break,
                        Claim::Wait => {
                            let waited = smp::wait_until(since, || {
                                let s = shared.lock();
                                s.stop || !s.pool.is_empty()
                            });
                            // A core was lost: the file cannot be whole.
                            if waited.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        // Core 0: write finished blocks in order; compress one itself when
        // the next to write is not ready.
        let mut enc = BlockEncoder::new(w, opts);
        let mut png = match tally.work(WRITE, || PngWriter::new(w, h, opts.level, &mut sink)) {
            Ok(p) => p,
            Err(e) => {
                stop_all();
                return Some(Err(e));
            }
        };
        let mut next = 0;
        while next < blocks {
            let ready = shared.lock().done[next as usize].take();
            match ready {
                Some((seg, buf)) => {
                    if let Err(e) = tally.work(WRITE, || png.data(&buf)) {
                        stop_all();
                        return Some(Err(e));
                    }
                    png.segment_done(&seg);
                    shared.lock().pool.push(buf);
                    (1..NUM_CORES).for_each(smp::wake);
                    next += 1;
                }
                None => {
                    if let Claim::Finished | Claim::Wait = claim(&mut enc) {
                        // The block's core may be lost (faulted, or held
                        // in reset after the hang limit): its block never
                        // comes. Stop the others; the scope reports which.
                        if smp::wait_until(since, || shared.lock().done[next as usize].is_some()).is_err() {
                            stop_all();
                            return None;
                        }
                    }
                }
            }
        }
        Some(tally.work(WRITE, || png.finish()))
    })?;
    // None only when a core was lost, which the scope returned above.
    let written = written.expect("a lost core ends the scope with its fault");
    Ok(written.map(|summary| (summary, tally.finish(cores, blocks as usize))))
}

/// What `decode_to_map` found.
#[derive(Clone, Copy, Debug)]
pub struct Decoded {
    /// CRC-32 of the RGB pixels, row-major (gray images: the gray value
    /// three times), as the host's decoder gives it.
    pub rgb_crc: u32,
    /// CRC-32 of the input map's bytes.
    pub map_crc: u32,
    pub work: Work,
}

/// A stage's shared state in the decoder.
struct DecodeShared<'a> {
    /// Inflated chunks (filtered), in order, for the unfilter stage.
    inflated: SpinLock<VecDeque<(usize, &'a mut [u8])>>,
    inflate_done: AtomicBool,
    /// Unfiltered chunks for the converters.
    unfiltered: SpinLock<VecDeque<(usize, &'a [u8])>>,
    unfilter_done: AtomicBool,
    /// Each chunk's piece of the input map, taken by its converter.
    pieces: SpinLock<Vec<Option<&'a mut [u8]>>>,
    /// Each chunk's CRC-32 of its RGB pixels and of its map piece.
    crcs: SpinLock<Vec<(u32, u32)>>,
    error: SpinLock<Option<PngError>>,
    abort: AtomicBool,
}

impl DecodeShared<'_> {
    fn fail(&self, e: PngError) {
        self.error.lock().get_or_insert(e);
        self.abort.store(true, Ordering::Release);
        (0..NUM_CORES).for_each(smp::wake);
    }
    /// A core was lost: every stage stops (the scope reports which).
    fn abandon(&self) {
        self.abort.store(true, Ordering::Release);
        (0..NUM_CORES).for_each(smp::wake);
    }
    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }
}

/// Decode the image data of a PNG (its IHDR `header` already checked: 8
/// bits, not interlaced, not indexed) into the input map of `geometry`
/// (`map`, exactly its bytes) on up to `cores` cores, with `scratch` for
/// the inflated scanlines. The outer error is a core that faulted.
pub fn decode_to_map(png: &[u8], header: &Header, scratch: &mut [u8], map: &mut [u8], geometry: &Geometry, lanes: usize, cores: usize) -> Result<Result<Decoded, PngError>, CoreFault> {
    let stride = header.row_bytes() + 1;
    let h = header.height as usize;
    let channels = header.color_type.channels();
    let need = stride * h;
    if scratch.len() < need {
        return Ok(Err(PngError::Buffer { need, have: scratch.len() }));
    }
    let shape = FmShape::new(3, geometry.coded, lanes);
    let map_row = 2 * shape.row_len();
    assert_eq!(map.len(), map_row * shape.dims.h, "the map is exactly the input map's bytes");
    // Chunks of about 32 KiB of scanlines.
    let rows = ((32 << 10) / stride).max(1);
    let chunks = h.div_ceil(rows);
    let chunk_rows = |k: usize| k * rows..((k + 1) * rows).min(h);
    // Map piece k: the map rows chunk k's rows fill; the last also the
    // rows below the image (edge mode repeats the last image row there).
    let mut pieces = Vec::with_capacity(chunks);
    let mut rest = map;
    for k in 0..chunks {
        let n = if k + 1 == chunks { shape.dims.h - k * rows } else { rows };
        let (piece, r) = core::mem::take(&mut rest).split_at_mut(n * map_row);
        pieces.push(Some(piece));
        rest = r;
    }
    let state = DecodeShared {
        inflated: SpinLock::new(VecDeque::with_capacity(chunks)),
        inflate_done: AtomicBool::new(false),
        unfiltered: SpinLock::new(VecDeque::with_capacity(chunks)),
        unfilter_done: AtomicBool::new(false),
        pieces: SpinLock::new(pieces),
        crcs: SpinLock::new(alloc::vec![(0, 0); chunks]),
        error: SpinLock::new(None),
        abort: AtomicBool::new(false),
    };
    let shared = &state;
    let ids = smp::online_ids();
    let cores = cores.clamp(1, ids.len());
    let tally_state = Tally::new();
    let tally = &tally_state;
    let unfilter_core = if cores >= 2 { ids[1] } else { 0 };
    let since = smp::lost();
    let converters: heapless::Vec<usize, NUM_CORES> = ids[..cores].iter().copied().filter(|&c| c != unfilter_core).collect();

    // The unfilter stage: chunks in order, each row against the one above.
    let unfilter = || {
        let mut prev: Option<&[u8]> = None;
        for k in 0..chunks {
            let mut got = None;
            let waited = smp::wait_until(since, || {
                got = shared.inflated.lock().pop_front();
                got.is_some() || shared.aborted()
            });
            if waited.is_err() {
                shared.abandon();
            }
            let Some((kk, chunk)) = got else { break };
            debug_assert_eq!(kk, k);
            let r = tally.work(FILTERS, || {
                for (i, y) in chunk_rows(k).enumerate() {
                    let (above, row) = chunk.split_at_mut(i * stride);
                    let up = if i == 0 { prev } else { Some(&above[(i - 1) * stride + 1..]) };
                    xlic_png::unfilter_row(header, y as u32, &mut row[..stride], up)?;
                }
                Ok(())
            });
            if let Err(e) = r {
                shared.fail(e);
                break;
            }
            let chunk: &[u8] = chunk;
            prev = Some(&chunk[chunk.len() - stride + 1..]);
            shared.unfiltered.lock().push_back((k, chunk));
            smp::progress();
            converters.iter().for_each(|&c| smp::wake(c));
        }
        shared.unfilter_done.store(true, Ordering::Release);
        converters.iter().for_each(|&c| smp::wake(c));
    };

    // The converters: RGB CRC and input-map rows of unfiltered chunks.
    let convert = || loop {
        let mut got = None;
        let waited = smp::wait_until(since, || {
            got = shared.unfiltered.lock().pop_front();
            got.is_some() || shared.aborted() || (shared.unfilter_done.load(Ordering::Acquire) && shared.unfiltered.lock().is_empty())
        });
        if waited.is_err() {
            shared.abandon();
        }
        let Some((k, chunk)) = got else { break };
        if shared.aborted() {
            break;
        }
        fault_injection(k);
        tally.work(MAP, || {
            let first = k * rows;
            let px = |x: usize, y: usize, c: usize| chunk[(y - first) * stride + 1 + x * channels + if channels >= 3 { c } else { 0 }];
            // The RGB bytes of each row, then their CRC (8 bytes at a time).
            let mut crc = Crc32::default();
            let mut rgb = [0u8; 3 * 512];
            for y in chunk_rows(k) {
                for x0 in (0..header.width as usize).step_by(512) {
                    let n = (header.width as usize - x0).min(512);
                    for (x, out) in (x0..x0 + n).zip(rgb.chunks_exact_mut(3)) {
                        out.copy_from_slice(&[px(x, y, 0), px(x, y, 1), px(x, y, 2)]);
                    }
                    crc.update(&rgb[..3 * n]);
                }
            }
            let piece = shared.pieces.lock()[k].take().expect("each chunk is converted once");
            let map_rows = first..first + piece.len() / map_row;
            let base = first * map_row / 2;
            piece.fill(0);
            geometry.for_each_input_value_in(lanes, map_rows, |i, sx, sy, c| {
                piece[2 * (i - base)..2 * (i - base) + 2].copy_from_slice(&(px(sx, sy, c) as i16).to_le_bytes())
            });
            shared.crcs.lock()[k] = (crc.finish(), xlic_model::crc32::crc32(piece));
        });
        smp::progress();
    };

    let mut rest = &mut scratch[..need];
    let mut inflate = move || {
        let (mut k, mut filled) = (0usize, 0usize);
        let r = tally.work(INFLATE, || {
            xlic_png::inflate_image_data(png, header, |mut bytes| {
                if shared.aborted() {
                    return Err(shared.error.lock().unwrap_or(PngError::Deflate));
                }
                while !bytes.is_empty() {
                    let len = chunk_rows(k).len() * stride;
                    let n = bytes.len().min(len - filled);
                    rest[filled..filled + n].copy_from_slice(&bytes[..n]);
                    (filled, bytes) = (filled + n, &bytes[n..]);
                    if filled == len {
                        let (chunk, r) = core::mem::take(&mut rest).split_at_mut(len);
                        rest = r;
                        shared.inflated.lock().push_back((k, chunk));
                        smp::wake(unfilter_core);
                        (k, filled) = (k + 1, 0);
                    }
                }
                Ok(())
            })
        });
        if let Err(e) = r {
            shared.fail(e);
        }
        shared.inflate_done.store(true, Ordering::Release);
    };

    smp::scope(|s| {
        if unfilter_core != 0 {
            s.spawn(unfilter_core, || {
                unfilter();
                convert();
            });
        }
        for &c in converters.iter().filter(|&&c| c != 0) {
            s.spawn(c, &convert);
        }
        inflate();
        if unfilter_core == 0 {
            unfilter();
        }
        convert();
    })?;
    if let Some(e) = state.error.into_inner() {
        return Ok(Err(e));
    }
    // The chunks' CRCs, combined in order (all but the last chunk and map
    // piece are as long as the first).
    let crcs = state.crcs.into_inner();
    let rgb_len = |k: usize| (chunk_rows(k).len() * header.width as usize * 3) as u64;
    let map_len = |k: usize| if k + 1 == chunks { ((shape.dims.h - k * rows) * map_row) as u64 } else { (rows * map_row) as u64 };
    let rgb_crc = combine_in_order(crcs.iter().map(|c| c.0), rgb_len);
    let map_crc = combine_in_order(crcs.iter().map(|c| c.1), map_len);
    Ok(Ok(Decoded { rgb_crc, map_crc, work: tally.finish(cores, chunks) }))
}

/// A fault to raise in the decoder's convert stage, for the tests that a
/// fault on a secondary core mid-pipeline comes back to core 0 as a
/// [`CoreFault`] (bit 8+core: that core; bits 0-7: at which chunk). 0: none.
static INJECT_FAULT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Test support: make core `core` fault (a real data abort, the null
/// guard) when it converts chunk `chunk` of the next decode.
#[doc(hidden)]
pub fn inject_convert_fault(core: usize, chunk: u8) {
    INJECT_FAULT.store((1 << (8 + core)) | chunk as u32, Ordering::SeqCst);
}

fn fault_injection(chunk: usize) {
    let f = INJECT_FAULT.load(Ordering::Relaxed);
    let me = crate::arch::aarch64::cpu::core_id();
    if f != 0 && f & (1 << (8 + me)) != 0 && chunk >= (f & 0xff) as usize {
        INJECT_FAULT.store(0, Ordering::SeqCst);
        crate::arch::aarch64::exception::faults::null_read();
    }
}

/// The CRC-32 of pieces laid end to end, from each piece's CRC-32 and
/// length (all as long as the first, but maybe the last).
fn combine_in_order(crcs: impl Iterator<Item = u32>, len: impl Fn(usize) -> u64) -> u32 {
    let shift = ZeroShift::new(len(0));
    crcs.enumerate().fold(0, |acc, (k, c)| match k {
        0 => c,
        _ if len(k) == len(0) => shift.combine(acc, c),
        _ => xlic_model::crc32::combine(acc, c, len(k)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsp::zcu102::memory::ArenaRegion;
    use crate::image::MapRows;
    use alloc::vec;
    use xlic_model::PadMode;
    use xlic_png::Filter;

    const LANES: usize = 8;

    /// A test image with texture and edges (so every filter and deflate
    /// have work), `w` x `h`, into an input map of `g`.
    fn pattern_map(g: &Geometry, map: &mut [u8]) {
        let shape = FmShape::new(3, g.coded, LANES);
        map[..shape.bytes()].fill(0);
        g.for_each_input_value(LANES, |i, x, y, c| {
            let v = ((x * 7 + y * 13 + c * 50) ^ (x * y >> 3)) as u8;
            map[2 * i..2 * i + 2].copy_from_slice(&(v as i16).to_le_bytes());
        });
    }

    /// CRC-32 bit by bit (the definition), to check the table and the
    /// CRC32 instructions against.
    fn crc_bitwise(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test_case]
    fn crc32_with_the_armv8_instructions_is_the_definition() {
        let data: alloc::vec::Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        for (start, end) in [(0, 0), (0, 9), (1, 1000), (3, 517), (7, 8), (5, 999)] {
            assert_eq!(xlic_model::crc32::crc32(&data[start..end]), crc_bitwise(&data[start..end]), "{start}..{end}");
        }
        assert_eq!(xlic_model::crc32::crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test_case]
    fn encoding_on_four_cores_writes_the_same_file_as_one_core() {
        crate::test_support::with_arena(|arena| {
            let g = Geometry::new(301, 517, PadMode::Edge, 4096).unwrap();
            let map = arena.bytes_mut(ArenaRegion::FmPing);
            pattern_map(&g, map);
            let rows = MapRows { map: &map[..], shape: FmShape::new(3, g.coded, LANES), w: 301, h: 517 };
            for filter in [Filter::Average, Filter::Paeth, Filter::Adaptive] {
                let opts = Options { filter, level: 1 };
                let mut want = vec![];
                xlic_png::encode::encode_in_blocks(&rows, opts, encode_block_rows(301, 517), |b: &[u8]| {
                    want.extend_from_slice(b);
                    Ok::<(), ()>(())
                })
                .unwrap();
                for cores in [1, 2, 4] {
                    let mut got = vec![];
                    let (summary, work) = encode(&rows, opts, cores, |b: &[u8]| {
                        got.extend_from_slice(b);
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                    .unwrap();
                    assert!(got == want, "{filter:?} on {cores} cores: {} bytes, one core {}", got.len(), want.len());
                    assert_eq!(summary.bytes as usize, got.len());
                    assert_eq!((work.cores, work.units), (cores, 517usize.div_ceil(encode_block_rows(301, 517) as usize)));
                }
            }
        });
    }

    /// F12: at level 6 (the deepest level the bench measures) the file on
    /// four cores is byte for byte the single-core block path's
    /// (`encode_in_blocks` with the same block rows: the blocks do not
    /// depend on the number of cores). It is not the bytes of
    /// `xlic_png::encode`, which compresses the whole image as one deflate
    /// stream: there the matcher may reach back across what are block
    /// boundaries here (each block starts with an empty window, joined by
    /// a sync flush), so the bytes differ by design; the two files decode
    /// to the same pixels, which is checked instead.
    #[test_case]
    fn level_6_on_four_cores_is_the_single_core_file_and_decodes_to_the_pixels() {
        crate::test_support::with_arena(|arena| {
            let mut b = arena.buffers();
            let (src, out) = (b.take(ArenaRegion::FmPing), b.take(ArenaRegion::ImageDecode));
            let (w, h) = (301, 517);
            let g = Geometry::new(w, h, PadMode::Edge, 4096).unwrap();
            pattern_map(&g, src);
            let rows = MapRows { map: &src[..], shape: FmShape::new(3, g.coded, LANES), w, h };
            let opts = Options { filter: crate::image::DEFAULT_ENCODE.filter, level: 6 };
            let collect = |f: &mut dyn FnMut(&mut dyn FnMut(&[u8]) -> Result<(), ()>)| {
                let mut v = vec![];
                f(&mut |b: &[u8]| {
                    v.extend_from_slice(b);
                    Ok(())
                });
                v
            };
            let one = collect(&mut |sink| {
                xlic_png::encode::encode_in_blocks(&rows, opts, encode_block_rows(w as u32, h as u32), sink).unwrap();
            });
            let four = collect(&mut |sink| {
                encode(&rows, opts, 4, sink).unwrap().unwrap();
            });
            assert!(four == one, "level 6: {} bytes on four cores, {} on one", four.len(), one.len());
            let stream = collect(&mut |sink| {
                xlic_png::encode(&rows, opts, sink).unwrap();
            });
            let pixels = |png: &[u8], out: &mut [u8]| {
                let d = xlic_png::decode_into(png, out).unwrap();
                let mut crc = xlic_model::crc32::Crc32::default();
                for y in 0..h {
                    crc.update(&out[d.offset(y, 0)..d.offset(y, 3 * w)]);
                }
                crc.finish()
            };
            let want = {
                let mut crc = xlic_model::crc32::Crc32::default();
                let mut row = vec![0u8; 3 * w];
                for y in 0..h as u32 {
                    xlic_png::Rows::row(&rows, y, &mut row);
                    crc.update(&row);
                }
                crc.finish()
            };
            assert_eq!(pixels(&four, out), want, "the four-core file does not decode to the source pixels");
            assert_eq!(pixels(&stream, out), want, "the one-stream file does not decode to the source pixels");
        });
    }

    #[test_case]
    fn a_failing_sink_stops_every_core() {
        crate::test_support::with_arena(|arena| {
            let g = Geometry::new(640, 480, PadMode::Edge, 4096).unwrap();
            let map = arena.bytes_mut(ArenaRegion::FmPing);
            pattern_map(&g, map);
            let rows = MapRows { map: &map[..], shape: FmShape::new(3, g.coded, LANES), w: 640, h: 480 };
            let mut written = 0;
            let r = encode(&rows, Options { filter: Filter::Average, level: 1 }, 4, |b: &[u8]| {
                written += b.len();
                if written > 100_000 { Err("card full") } else { Ok(()) }
            });
            assert!(matches!(r, Ok(Err("card full"))), "{r:?}");
            // Every core is back in its mailbox, idle.
            assert_eq!(smp::online(), NUM_CORES);
        });
    }

    #[test_case]
    fn decoding_on_four_cores_gives_the_single_core_map_and_checksums() {
        crate::test_support::with_arena(|arena| {
            let mut b = arena.buffers();
            let (src, png_buf, scratch, map) = (b.take(ArenaRegion::FmPing), b.take(ArenaRegion::ImageFile), b.take(ArenaRegion::ImageDecode), b.take(ArenaRegion::FmPong));
            for (w, h, filter) in [(301, 517, Filter::Paeth), (64, 17, Filter::Sub), (1000, 40, Filter::Adaptive)] {
                let g = Geometry::new(w, h, PadMode::Edge, 4096).unwrap();
                pattern_map(&g, src);
                let shape = FmShape::new(3, g.coded, LANES);
                let rows = MapRows { map: &src[..], shape, w, h };
                let mut n = 0;
                xlic_png::encode(&rows, Options { filter, level: 1 }, |b: &[u8]| {
                    png_buf[n..n + b.len()].copy_from_slice(b);
                    n += b.len();
                    Ok::<(), ()>(())
                })
                .unwrap();
                let png = &png_buf[..n];
                let header = xlic_png::read_header(png).unwrap();
                // The reference: decode on one core, the map from the
                // pixels the way the firmware did before it used cores.
                let d = xlic_png::decode_into(png, scratch).unwrap();
                let mut rgb = xlic_model::crc32::Crc32::default();
                for y in 0..h {
                    for x in 0..w {
                        rgb.update(&scratch[d.offset(y, 3 * x)..d.offset(y, 3 * x + 3)]);
                    }
                }
                let want_rgb = rgb.finish();
                let want_map = xlic_model::crc32::crc32(&src[..shape.bytes()]);
                for cores in [1, 2, 3, 4] {
                    map[..shape.bytes()].fill(0x55);
                    let got = decode_to_map(png, &header, scratch, &mut map[..shape.bytes()], &g, LANES, cores).unwrap().unwrap();
                    assert!(map[..shape.bytes()] == src[..shape.bytes()], "{w}x{h} on {cores} cores: the map differs");
                    assert_eq!((got.rgb_crc, got.map_crc), (want_rgb, want_map), "{w}x{h} on {cores} cores");
                }
                // A damaged file: the same error as on one core, and the
                // cores come back.
                let mut bad = vec![0u8; n];
                bad.copy_from_slice(png);
                let at = n / 2;
                bad[at] ^= 0x40;
                let want = xlic_png::decode_into(&bad, scratch).unwrap_err();
                let got = decode_to_map(&bad, &header, scratch, &mut map[..shape.bytes()], &g, LANES, 4).unwrap().unwrap_err();
                assert_eq!(got, want, "{w}x{h}");
                assert_eq!(smp::online(), NUM_CORES);
            }
        });
    }
}
