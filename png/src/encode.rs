//! The streaming encoder: 8-bit RGB rows in, PNG bytes out through a sink,
//! in fixed memory.
//!
//! The image data is one zlib stream (RFC 1950) made of independent
//! deflate segments, one per block of rows:
//!
//! ```text
//! 78 xx | segment 0 ... sync flush | segment 1 ... sync flush | ... | last segment, BFINAL | Adler-32
//! ```
//!
//! Each segment comes from a compressor reset at its first row, so it
//! refers to nothing before it; every segment but the last ends with a
//! sync flush (an empty stored block: byte-aligned, not final), so the
//! segments concatenate into one valid deflate stream (RFC 1951 3.2.3-4).
//! The Adler-32 of the whole is combined from each segment's
//! ([`crate::adler::combine`]). A block's filters read the row above it
//! from the row source, not from the previous block's output.
//!
//! So encoding on several cores is: give each core a [`BlockEncoder`]
//! and a block of rows, collect the segments, and hand them to one
//! [`PngWriter`] in order. [`encode`] does exactly that on one core.
use crate::{adler, paeth};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use miniz_oxide::deflate::core::{compress, CompressionStrategy, CompressorOxide, TDEFLFlush, TDEFLStatus};
use miniz_oxide::DataFormat;
use xlic_model::crc32::Crc32;

/// The rows of an 8-bit RGB image.
pub trait Rows {
    fn width(&self) -> u32;
    fn height(&self) -> u32;
    /// Row `y` as R, G, B bytes (`3 * width` of them) into `out`.
    fn row(&self, y: u32, out: &mut [u8]);
}

/// The scanline filter (PNG 9.2), or the per-row choice the PNG
/// specification suggests (12.7: the filter whose output has the least
/// sum of absolute values, as signed bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    None,
    Sub,
    Up,
    Average,
    Paeth,
    Adaptive,
}

impl Filter {
    pub const ALL: [Filter; 6] = [Filter::None, Filter::Sub, Filter::Up, Filter::Average, Filter::Paeth, Filter::Adaptive];

    pub fn name(self) -> &'static str {
        match self {
            Filter::None => "none",
            Filter::Sub => "sub",
            Filter::Up => "up",
            Filter::Average => "avg",
            Filter::Paeth => "paeth",
            Filter::Adaptive => "adaptive",
        }
    }

    pub fn from_name(s: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Filter and deflate level (0 to 9, miniz_oxide's levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub filter: Filter,
    pub level: u8,
}

/// What one block of rows became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Adler-32 of the block's filtered scanlines (filter bytes included).
    pub adler: u32,
    /// Their length in bytes.
    pub raw_len: u64,
    /// Deflate bytes produced.
    pub deflate_len: u64,
}

/// Raw bytes of image data per block: rows are grouped so each block
/// holds about this much (at least one row). Each block starts a fresh
/// 32 KiB deflate window; measured on the three test photographs
/// (chelsea, hubble_deep_field, astronaut) with Average/level 1 and
/// Paeth/level 6, 256 KiB blocks make files within 0.3 % of one block
/// for the whole image, and a 4096-wide image still has 195 blocks to
/// share among cores.
pub const BLOCK_BYTES: usize = 256 << 10;

/// Rows per block for an image `width` pixels wide.
pub fn rows_per_block(width: u32) -> u32 {
    (BLOCK_BYTES / (1 + 3 * width as usize)).max(1) as u32
}

/// Deflate output is staged in pieces of this size.
const STAGE: usize = 32 << 10;

/// Compresses blocks of rows into deflate segments. Its memory (the
/// compressor's tables, four scanlines, a staging buffer) is allocated
/// once and depends only on the image width.
pub struct BlockEncoder {
    comp: Box<CompressorOxide>,
    opts: Options,
    prev: Vec<u8>,
    cur: Vec<u8>,
    /// Filter byte and filtered bytes of the row; with `Adaptive`, one
    /// candidate per filter type.
    out: Vec<u8>,
    candidates: Vec<u8>,
    stage: Vec<u8>,
}

impl BlockEncoder {
    pub fn new(width: u32, opts: Options) -> BlockEncoder {
        let n = 3 * width as usize;
        let comp = Box::new(CompressorOxide::with_params(DataFormat::Raw, opts.level.min(9), CompressionStrategy::Default, 15));
        let candidates = if opts.filter == Filter::Adaptive { vec![0; 5 * (n + 1)] } else { Vec::new() };
        BlockEncoder { comp, opts, prev: vec![0; n], cur: vec![0; n], out: vec![0; n + 1], candidates, stage: vec![0; STAGE] }
    }

    /// Compress rows `rows` of `src` into one independent segment, passing
    /// its deflate bytes to `sink` in order. A segment ends with a sync
    /// flush, or, when `last`, ends the deflate stream.
    pub fn encode<E>(&mut self, src: &impl Rows, rows: Range<u32>, last: bool, sink: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<Segment, E> {
        self.comp.reset();
        let mut seg = Segment { adler: 1, raw_len: 0, deflate_len: 0 };
        if rows.start > 0 {
            src.row(rows.start - 1, &mut self.prev);
        } else {
            self.prev.fill(0);
        }
        for y in rows {
            src.row(y, &mut self.cur);
            let which = self.filter_row();
            let data = filtered_bytes(&self.out, &self.candidates, which);
            seg.adler = adler::update(seg.adler, data);
            seg.raw_len += data.len() as u64;
            seg.deflate_len += deflate(&mut self.comp, &mut self.stage, data, TDEFLFlush::None, sink)?;
            core::mem::swap(&mut self.prev, &mut self.cur);
        }
        let flush = if last { TDEFLFlush::Finish } else { TDEFLFlush::Sync };
        seg.deflate_len += deflate(&mut self.comp, &mut self.stage, &[], flush, sink)?;
        Ok(seg)
    }

    /// Filter `cur` against `prev`. Returns where the result is: None for
    /// `out`, Some(type) for a candidate of the adaptive choice.
    fn filter_row(&mut self) -> Option<usize> {
        match self.opts.filter {
            Filter::Adaptive => {
                let len = self.cur.len() + 1;
                let mut best = (u64::MAX, 0);
                for t in 0..5u8 {
                    let c = &mut self.candidates[t as usize * len..(t as usize + 1) * len];
                    apply(t, &self.cur, &self.prev, c);
                    let cost: u64 = c[1..].iter().map(|&b| (b as i8).unsigned_abs() as u64).sum();
                    if cost < best.0 {
                        best = (cost, t as usize);
                    }
                }
                Some(best.1)
            }
            f => {
                let t = match f {
                    Filter::None => 0,
                    Filter::Sub => 1,
                    Filter::Up => 2,
                    Filter::Average => 3,
                    _ => 4,
                };
                apply(t, &self.cur, &self.prev, &mut self.out);
                None
            }
        }
    }
}

fn filtered_bytes<'a>(out: &'a [u8], candidates: &'a [u8], which: Option<usize>) -> &'a [u8] {
    match which {
        None => out,
        Some(k) => {
            let len = out.len();
            &candidates[k * len..(k + 1) * len]
        }
    }
}

/// Filter type `t` of `cur` (above: `prev`, 3 bytes per pixel) into
/// `out` (filter byte first).
fn apply(t: u8, cur: &[u8], prev: &[u8], out: &mut [u8]) {
    const BPP: usize = 3;
    out[0] = t;
    let o = &mut out[1..];
    let n = cur.len();
    match t {
        0 => o.copy_from_slice(cur),
        1 => {
            o[..BPP.min(n)].copy_from_slice(&cur[..BPP.min(n)]);
            for i in BPP..n {
                o[i] = cur[i].wrapping_sub(cur[i - BPP]);
            }
        }
        2 => {
            for i in 0..n {
                o[i] = cur[i].wrapping_sub(prev[i]);
            }
        }
        3 => {
            for i in 0..n {
                let left = if i >= BPP { cur[i - BPP] as u16 } else { 0 };
                o[i] = cur[i].wrapping_sub(((left + prev[i] as u16) >> 1) as u8);
            }
        }
        _ => {
            for i in 0..n {
                let (a, c) = if i >= BPP { (cur[i - BPP], prev[i - BPP]) } else { (0, 0) };
                o[i] = cur[i].wrapping_sub(paeth(a, prev[i], c));
            }
        }
    }
}


/// Feed `input` to the compressor, then `flush`, passing its output to
/// `sink`; returns the bytes produced.
///
/// miniz_oxide keeps output that does not fit the staging buffer, and the
/// next call only hands that over: it neither takes input nor goes on
/// with a flush. A call that leaves the buffer not full has kept nothing.
/// So input is fed until it is used up and a call leaves the buffer not
/// full; then the flush is asked for again and again until a call that
/// was not such a hand-over leaves the buffer not full. (When a flush had
/// in fact completed before its hand-over, the call after adds one empty
/// stored block: five bytes, still a valid stream.)
fn deflate<E>(comp: &mut CompressorOxide, stage: &mut [u8], mut input: &[u8], flush: TDEFLFlush, sink: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<u64, E> {
    let mut produced = 0u64;
    let mut call = |comp: &mut CompressorOxide, input: &[u8], mode: TDEFLFlush| -> Result<(TDEFLStatus, usize, bool), E> {
        let (status, used, wrote) = compress(comp, input, stage, mode);
        // The compressor fails only on misuse (a call after Finish); the
        // encoder resets it before every block.
        debug_assert!(matches!(status, TDEFLStatus::Okay | TDEFLStatus::Done), "{status:?}");
        if wrote > 0 {
            sink(&stage[..wrote])?;
            produced += wrote as u64;
        }
        Ok((status, used, wrote == stage.len()))
    };
    loop {
        let (status, used, full) = call(comp, input, TDEFLFlush::None)?;
        input = &input[used..];
        if (input.is_empty() && !full) || status != TDEFLStatus::Okay {
            break;
        }
    }
    if flush != TDEFLFlush::None {
        // Finish ends with Done (once nothing is kept); a sync flush with
        // a call that did the work and kept nothing.
        let mut hand_over = false;
        loop {
            let (status, _, full) = call(comp, &[], flush)?;
            if status != TDEFLStatus::Okay || (!full && !hand_over && flush != TDEFLFlush::Finish) {
                break;
            }
            hand_over = full;
        }
    }
    Ok(produced)
}

/// Largest IDAT chunk written.
pub const IDAT_BYTES: usize = 64 << 10;

/// Joins segments into a PNG: signature and IHDR first, the zlib header,
/// the segments' bytes in IDAT chunks of [`IDAT_BYTES`], then the combined
/// Adler-32, the last IDAT and IEND.
pub struct PngWriter<F> {
    sink: F,
    idat: Vec<u8>,
    adler: u32,
    raw_len: u64,
    bytes: u64,
    chunks: u32,
}

/// What was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Bytes of the PNG file.
    pub bytes: u64,
    /// Bytes of filtered scanlines (before deflate).
    pub raw: u64,
    pub idat_chunks: u32,
    pub adler: u32,
}

impl<E, F: FnMut(&[u8]) -> Result<(), E>> PngWriter<F> {
    /// Start an 8-bit RGB PNG of `width` x `height`.
    pub fn new(width: u32, height: u32, level: u8, sink: F) -> Result<Self, E> {
        let mut w = PngWriter { sink, idat: Vec::with_capacity(IDAT_BYTES), adler: 1, raw_len: 0, bytes: 0, chunks: 0 };
        w.put(&crate::SIGNATURE)?;
        let mut ihdr = [0u8; 13];
        ihdr[0..4].copy_from_slice(&width.to_be_bytes());
        ihdr[4..8].copy_from_slice(&height.to_be_bytes());
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // truecolour
        w.chunk(b"IHDR", &ihdr)?;
        // RFC 1950: CM 8 (deflate), CINFO 7 (32 KiB window), FLEVEL from
        // the level, FCHECK making the pair a multiple of 31.
        let cmf = 0x78u8;
        let flevel = match level {
            0 | 1 => 0,
            2..=5 => 1,
            6 => 2,
            _ => 3,
        };
        let flg = flevel << 6;
        let flg = flg + (31 - ((cmf as u16 * 256 + flg as u16) % 31) as u8) % 31;
        w.idat.extend_from_slice(&[cmf, flg]);
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), E> {
        self.bytes += b.len() as u64;
        (self.sink)(b)
    }

    fn chunk(&mut self, kind: &[u8; 4], data: &[u8]) -> Result<(), E> {
        let mut crc = Crc32::default();
        crc.update(kind);
        crc.update(data);
        self.put(&(data.len() as u32).to_be_bytes())?;
        self.put(kind)?;
        self.put(data)?;
        self.put(&crc.finish().to_be_bytes())
    }

    fn flush_idat(&mut self) -> Result<(), E> {
        if !self.idat.is_empty() {
            let data = core::mem::take(&mut self.idat);
            self.chunk(b"IDAT", &data)?;
            self.idat = data;
            self.idat.clear();
            self.chunks += 1;
        }
        Ok(())
    }

    /// Deflate bytes of the segments, in order.
    pub fn data(&mut self, mut bytes: &[u8]) -> Result<(), E> {
        while !bytes.is_empty() {
            let n = (IDAT_BYTES - self.idat.len()).min(bytes.len());
            self.idat.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.idat.len() == IDAT_BYTES {
                self.flush_idat()?;
            }
        }
        Ok(())
    }

    /// A segment's bytes have all gone through [`PngWriter::data`].
    pub fn segment_done(&mut self, s: &Segment) {
        self.adler = adler::combine(self.adler, s.adler, s.raw_len);
        self.raw_len += s.raw_len;
    }

    /// After the last segment: the Adler-32, the last IDAT, IEND.
    pub fn finish(mut self) -> Result<Summary, E> {
        let adler = self.adler;
        self.data(&adler.to_be_bytes())?;
        self.flush_idat()?;
        self.chunk(b"IEND", &[])?;
        Ok(Summary { bytes: self.bytes, raw: self.raw_len, idat_chunks: self.chunks, adler })
    }
}

/// Encode `src` as a PNG into `sink` on this core, block after block.
pub fn encode<E>(src: &impl Rows, opts: Options, sink: impl FnMut(&[u8]) -> Result<(), E>) -> Result<Summary, E> {
    encode_in_blocks(src, opts, rows_per_block(src.width()), sink)
}

/// [`encode`] with blocks of `step` rows.
pub fn encode_in_blocks<E>(src: &impl Rows, opts: Options, step: u32, sink: impl FnMut(&[u8]) -> Result<(), E>) -> Result<Summary, E> {
    let (w, h) = (src.width(), src.height());
    let mut png = PngWriter::new(w, h, opts.level, sink)?;
    let mut enc = BlockEncoder::new(w, opts);
    let step = step.max(1);
    let mut y = 0;
    while y < h {
        let end = (y + step).min(h);
        let seg = enc.encode(src, y..end, end == h, &mut |b: &[u8]| png.data(b))?;
        png.segment_done(&seg);
        y = end;
    }
    png.finish()
}
