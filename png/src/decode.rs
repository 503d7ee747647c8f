//! The decoder: chunks with their CRCs, IHDR's rules (PNG specification
//! 11.2.1), the zlib stream across IDAT chunks inflated into exactly the
//! bytes the IHDR implies, and the scanline filters undone in place.
use crate::{paeth, SIGNATURE};
use core::fmt;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use xlic_model::crc32::Crc32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorType {
    Gray = 0,
    Rgb = 2,
    Indexed = 3,
    GrayAlpha = 4,
    Rgba = 6,
}

impl ColorType {
    pub fn channels(self) -> usize {
        match self {
            ColorType::Gray | ColorType::Indexed => 1,
            ColorType::GrayAlpha => 2,
            ColorType::Rgb => 3,
            ColorType::Rgba => 4,
        }
    }
    /// Bit depths PNG allows for the colour type (table 11.1).
    fn allows(self, depth: u8) -> bool {
        match self {
            ColorType::Gray => matches!(depth, 1 | 2 | 4 | 8 | 16),
            ColorType::Indexed => matches!(depth, 1 | 2 | 4 | 8),
            _ => matches!(depth, 8 | 16),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ColorType::Gray => "greyscale",
            ColorType::Rgb => "truecolour",
            ColorType::Indexed => "indexed-colour",
            ColorType::GrayAlpha => "greyscale with alpha",
            ColorType::Rgba => "truecolour with alpha",
        }
    }
}

/// The IHDR chunk, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    pub color_type: ColorType,
    pub interlaced: bool,
}

impl Header {
    /// Bytes of one scanline without its filter-type byte.
    pub fn row_bytes(&self) -> usize {
        (self.width as usize * self.color_type.channels() * self.bit_depth as usize).div_ceil(8)
    }
    /// Bytes the image data inflates to: every scanline with its filter
    /// byte (non-interlaced). None when that does not fit the address space.
    pub fn raw_bytes(&self) -> Option<usize> {
        (self.row_bytes() + 1).checked_mul(self.height as usize)
    }
    /// Bytes per complete pixel, at least 1 (what the filters step by).
    fn filter_step(&self) -> usize {
        (self.color_type.channels() * self.bit_depth as usize).div_ceil(8).max(1)
    }
}

/// Why a file is not a PNG this decoder accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PngError {
    NotPng,
    /// The file ends inside a chunk (or before one was complete).
    Truncated { at: usize },
    ChunkLength { chunk: [u8; 4], len: u32 },
    Crc { chunk: [u8; 4], at: usize, stored: u32, computed: u32 },
    FirstNotIhdr { chunk: [u8; 4] },
    IhdrLength(u32),
    ZeroSize,
    SideTooLarge { width: u32, height: u32 },
    BadColorType(u8),
    BadDepth { color: ColorType, depth: u8 },
    Compression(u8),
    FilterMethod(u8),
    InterlaceMethod(u8),
    UnknownCritical([u8; 4]),
    Duplicate([u8; 4]),
    IdatNotConsecutive,
    /// Adam7 interlacing, which this decoder does not undo.
    Interlaced,
    /// PLTE after the image data, or with a length that is not 1 to 256
    /// entries of 3 bytes.
    Palette { after_idat: bool, len: u32 },
    /// An indexed-colour image without a PLTE chunk before its data.
    NoPalette,
    NoIdat,
    NoIend,
    /// The buffer given is smaller than the image data.
    Buffer { need: usize, have: usize },
    ZlibHeader { cmf: u8, flg: u8 },
    /// The deflate data cannot be inflated (miniz_oxide's verdict).
    Deflate,
    /// The zlib stream stops before its end (the IDAT chunks run out).
    StreamTruncated { got: usize, need: usize },
    Adler { stored: u32, computed: u32 },
    /// A complete zlib stream holding fewer bytes than the image needs.
    TooLittleData { got: usize, need: usize, rows: usize, height: u32 },
    /// The zlib stream goes on past the image's bytes.
    TooMuchData { need: usize },
    /// Bytes after the end of the zlib stream in the IDAT chunks.
    AfterStream { bytes: usize },
    BadFilter { row: u32, filter: u8 },
}

fn chunk_name(c: &[u8; 4]) -> &str {
    core::str::from_utf8(c).ok().filter(|s| s.bytes().all(|b| b.is_ascii_alphabetic())).unwrap_or("????")
}

impl fmt::Display for PngError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use PngError::*;
        match self {
            NotPng => write!(f, "not a PNG file (the 8-byte PNG signature is missing)"),
            Truncated { at } => write!(f, "the file is truncated: it ends inside a chunk at byte {at}"),
            ChunkLength { chunk, len } => write!(f, "chunk {} claims {len} bytes, more than PNG allows (2^31 - 1)", chunk_name(chunk)),
            Crc { chunk, at, stored, computed } => write!(
                f,
                "the {} chunk at byte {at} fails its CRC check (stored 0x{stored:08x}, computed 0x{computed:08x}): the file is damaged",
                chunk_name(chunk)
            ),
            FirstNotIhdr { chunk } => write!(f, "the first chunk is {}, not IHDR", chunk_name(chunk)),
            IhdrLength(n) => write!(f, "the IHDR chunk is {n} bytes long; it must be 13"),
            ZeroSize => write!(f, "IHDR gives a width or height of 0"),
            SideTooLarge { width, height } => write!(f, "IHDR gives {width}x{height}; PNG sides are at most 2^31 - 1"),
            BadColorType(c) => write!(f, "IHDR colour type {c} does not exist in PNG (0, 2, 3, 4, 6)"),
            BadDepth { color, depth } => write!(f, "IHDR bit depth {depth} is not allowed for {} images", color.name()),
            Compression(m) => write!(f, "IHDR compression method {m} is unknown (PNG defines 0, deflate)"),
            FilterMethod(m) => write!(f, "IHDR filter method {m} is unknown (PNG defines 0)"),
            InterlaceMethod(m) => write!(f, "IHDR interlace method {m} is unknown (PNG defines 0 and 1)"),
            UnknownCritical(c) => write!(f, "critical chunk {} is unknown to PNG decoders", chunk_name(c)),
            Duplicate(c) => write!(f, "a second {} chunk", chunk_name(c)),
            IdatNotConsecutive => write!(f, "the IDAT chunks are not consecutive"),
            Interlaced => write!(f, "the image is interlaced (Adam7), which this decoder does not read; save it without interlacing"),
            Palette { after_idat: true, .. } => write!(f, "the PLTE chunk comes after the image data; PNG puts it before the first IDAT"),
            Palette { len, .. } => write!(f, "the PLTE chunk is {len} bytes long; PNG palettes are 1 to 256 entries of 3 bytes"),
            NoPalette => write!(f, "the indexed-colour image has no PLTE chunk before its image data"),
            NoIdat => write!(f, "there is no IDAT chunk (no image data)"),
            NoIend => write!(f, "there is no IEND chunk: the file is truncated"),
            Buffer { need, have } => write!(f, "the image data is {need} bytes; the decode buffer holds {have}"),
            ZlibHeader { cmf, flg } => write!(f, "the image data does not start with a valid zlib header (CMF 0x{cmf:02x}, FLG 0x{flg:02x})"),
            Deflate => write!(f, "the compressed image data is corrupt (invalid deflate stream)"),
            StreamTruncated { got, need } => {
                write!(f, "the IDAT chunks end before the zlib stream does ({got} of {need} image bytes): the file is truncated")
            }
            Adler { stored, computed } => write!(
                f,
                "the image data fails its Adler-32 check (stored 0x{stored:08x}, computed 0x{computed:08x}): the file is damaged"
            ),
            TooLittleData { got, need, rows, height } => write!(
                f,
                "the image data holds {got} bytes but IHDR implies {need}: only {rows} of {height} scanlines are complete"
            ),
            TooMuchData { need } => write!(f, "the image data inflates to more than the {need} bytes IHDR implies"),
            AfterStream { bytes } => write!(f, "{bytes} bytes follow the end of the zlib stream in the IDAT chunks"),
            BadFilter { row, filter } => write!(f, "scanline {row} has filter type {filter}; PNG defines 0 to 4"),
        }
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One chunk, its CRC checked.
struct Chunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
}

/// The chunk at `at`, and where the next one starts.
fn chunk_at(png: &[u8], at: usize) -> Result<(Chunk<'_>, usize), PngError> {
    if png.len() - at < 12 {
        return Err(PngError::Truncated { at: png.len() });
    }
    let len = be32(png, at);
    let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
    if len > i32::MAX as u32 {
        return Err(PngError::ChunkLength { chunk: kind, len });
    }
    let end = at + 12 + len as usize;
    if end > png.len() {
        return Err(PngError::Truncated { at: png.len() });
    }
    let data = &png[at + 8..end - 4];
    let mut crc = Crc32::default();
    crc.update(&kind);
    crc.update(data);
    let (stored, computed) = (be32(png, end - 4), crc.finish());
    if stored != computed {
        return Err(PngError::Crc { chunk: kind, at, stored, computed });
    }
    Ok((Chunk { kind, data }, end))
}

/// The signature and the IHDR, checked (PNG 11.2.1).
pub fn read_header(png: &[u8]) -> Result<Header, PngError> {
    if png.len() < 8 || png[..8] != SIGNATURE {
        return Err(PngError::NotPng);
    }
    let (c, _) = chunk_at(png, 8)?;
    if &c.kind != b"IHDR" {
        return Err(PngError::FirstNotIhdr { chunk: c.kind });
    }
    if c.data.len() != 13 {
        return Err(PngError::IhdrLength(c.data.len() as u32));
    }
    let d = c.data;
    let (width, height) = (be32(d, 0), be32(d, 4));
    if width == 0 || height == 0 {
        return Err(PngError::ZeroSize);
    }
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(PngError::SideTooLarge { width, height });
    }
    let color_type = match d[9] {
        0 => ColorType::Gray,
        2 => ColorType::Rgb,
        3 => ColorType::Indexed,
        4 => ColorType::GrayAlpha,
        6 => ColorType::Rgba,
        c => return Err(PngError::BadColorType(c)),
    };
    let bit_depth = d[8];
    if !color_type.allows(bit_depth) {
        return Err(PngError::BadDepth { color: color_type, depth: bit_depth });
    }
    if d[10] != 0 {
        return Err(PngError::Compression(d[10]));
    }
    if d[11] != 0 {
        return Err(PngError::FilterMethod(d[11]));
    }
    let interlaced = match d[12] {
        0 => false,
        1 => true,
        m => return Err(PngError::InterlaceMethod(m)),
    };
    Ok(Header { width, height, bit_depth, color_type, interlaced })
}

/// A decoded image: scanlines in the buffer, each after its (spent)
/// filter-type byte.
#[derive(Clone, Copy, Debug)]
pub struct Decoded {
    pub header: Header,
    /// Bytes from one scanline to the next (filter byte included).
    pub stride: usize,
}

impl Decoded {
    /// Byte `i` of scanline `y` in `buf`.
    #[inline]
    pub fn offset(&self, y: usize, i: usize) -> usize {
        y * self.stride + 1 + i
    }
}

/// Inflate and unfilter a non-interlaced PNG into `out` (at least
/// `header.raw_bytes()`), checking everything on the way.
pub fn decode_into(png: &[u8], out: &mut [u8]) -> Result<Decoded, PngError> {
    let header = read_header(png)?;
    if header.interlaced {
        // Its passes hold other bytes than `raw_bytes` counts: refused
        // before they are inflated as if they were rows.
        return Err(PngError::Interlaced);
    }
    let need = header.raw_bytes().ok_or(PngError::Buffer { need: usize::MAX, have: out.len() })?;
    if out.len() < need {
        return Err(PngError::Buffer { need, have: out.len() });
    }
    let mut got = 0usize;
    inflate_image_data(png, &header, |bytes| {
        out[got..got + bytes.len()].copy_from_slice(bytes);
        got += bytes.len();
        Ok(())
    })?;
    unfilter(&header, &mut out[..need])?;
    Ok(Decoded { header, stride: header.row_bytes() + 1 })
}

/// The image data of a non-interlaced PNG whose IHDR is `header` (as
/// `read_header` returned it): the chunks after IHDR, each CRC, the zlib
/// header, the stream across the IDAT run and its Adler-32 are checked,
/// and the inflated bytes, filter bytes included, are passed to `deliver`
/// in order as they come: exactly `header.raw_bytes()` of them in all when
/// this returns Ok. A stream that is too long is caught at its first extra
/// byte, before it is delivered. An error from `deliver` stops the stream
/// and is returned. (The parallel decoder in the firmware unfilters and
/// converts the rows on other cores as this delivers them.)
pub fn inflate_image_data(png: &[u8], header: &Header, mut deliver: impl FnMut(&[u8]) -> Result<(), PngError>) -> Result<(), PngError> {
    let need = header.raw_bytes().ok_or(PngError::Buffer { need: usize::MAX, have: 0 })?;
    // miniz's wrapping output mode: the 32 KiB window is the output
    // buffer, whose new bytes are passed on after each call.
    const WINDOW: usize = 32 << 10;
    let mut window = alloc::vec![0u8; WINDOW];
    let mut window_pos = 0usize;
    let mut inflater = alloc::boxed::Box::<DecompressorOxide>::default();
    let mut pos = 8;
    let mut out_pos = 0usize;
    // 0: before IDAT, 1: in the IDAT run, 2: after it.
    let mut idat_state = 0;
    let mut stream_done = false;
    let mut seen_plte = false;
    // The zlib header's two bytes, gathered across IDAT chunks (a chunk
    // may hold one byte, or none).
    let (mut zhead, mut zlen) = ([0u8; 2], 0usize);
    loop {
        let (c, next) = chunk_at(png, pos)?;
        let at = pos;
        pos = next;
        match &c.kind {
            b"IHDR" if at > 8 => return Err(PngError::Duplicate(c.kind)),
            b"IHDR" => {}
            b"PLTE" => {
                if seen_plte {
                    return Err(PngError::Duplicate(c.kind));
                }
                let len = c.data.len() as u32;
                if idat_state != 0 || len == 0 || len % 3 != 0 || len > 3 * 256 {
                    return Err(PngError::Palette { after_idat: idat_state != 0, len });
                }
                seen_plte = true;
            }
            b"IDAT" => {
                if idat_state == 2 {
                    return Err(PngError::IdatNotConsecutive);
                }
                if idat_state == 0 && header.color_type == ColorType::Indexed && !seen_plte {
                    return Err(PngError::NoPalette);
                }
                for &b in c.data.iter().take(2 - zlen) {
                    zhead[zlen] = b;
                    zlen += 1;
                    if zlen == 2 {
                        check_zlib_header(zhead[0], zhead[1])?;
                    }
                }
                idat_state = 1;
                let mut input = c.data;
                if stream_done {
                    if !input.is_empty() {
                        return Err(PngError::AfterStream { bytes: input.len() });
                    }
                    continue;
                }
                loop {
                    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32 | inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
                    let (status, used, wrote) = decompress(&mut inflater, input, &mut window, window_pos, flags);
                    input = &input[used..];
                    if wrote > 0 {
                        if out_pos + wrote > need {
                            return Err(PngError::TooMuchData { need });
                        }
                        deliver(&window[window_pos..window_pos + wrote])?;
                        out_pos += wrote;
                        window_pos = (window_pos + wrote) & (WINDOW - 1);
                    }
                    match status {
                        TINFLStatus::Done => {
                            stream_done = true;
                            if !input.is_empty() {
                                return Err(PngError::AfterStream { bytes: input.len() });
                            }
                            break;
                        }
                        // More input is in the next IDAT chunk.
                        TINFLStatus::NeedsMoreInput => break,
                        // The window's end was reached: go on writing at
                        // its start (with or without input left).
                        TINFLStatus::HasMoreOutput => {}
                        TINFLStatus::Adler32Mismatch => {
                            return Err(PngError::Adler {
                                stored: inflater.adler32_header().unwrap_or(0),
                                computed: inflater.adler32().unwrap_or(0),
                            })
                        }
                        _ => return Err(PngError::Deflate),
                    }
                    if used == 0 && wrote == 0 {
                        // miniz_oxide always consumes or produces, or
                        // reports a status handled above; this bounds the
                        // loop should it ever not.
                        return Err(PngError::Deflate);
                    }
                }
            }
            b"IEND" => {
                if idat_state == 0 {
                    return Err(PngError::NoIdat);
                }
                if !stream_done {
                    return Err(PngError::StreamTruncated { got: out_pos.min(need), need });
                }
                break;
            }
            k if k[0] & 0x20 == 0 => return Err(PngError::UnknownCritical(c.kind)),
            _ => {}
        }
        if idat_state == 1 && &c.kind != b"IDAT" {
            idat_state = 2;
        }
        if pos == png.len() {
            return Err(if idat_state == 0 {
                PngError::NoIdat
            } else if !stream_done {
                PngError::StreamTruncated { got: out_pos.min(need), need }
            } else {
                PngError::NoIend
            });
        }
    }
    if out_pos < need {
        let stride = header.row_bytes() + 1;
        return Err(PngError::TooLittleData { got: out_pos, need, rows: out_pos / stride, height: header.height });
    }
    Ok(())
}

/// RFC 1950 section 2.2: deflate with a window of at most 32 KiB, a
/// header check that divides by 31, and no preset dictionary (PNG 10.1).
fn check_zlib_header(cmf: u8, flg: u8) -> Result<(), PngError> {
    let ok = cmf & 0x0f == 8 && cmf >> 4 <= 7 && (cmf as u16 * 256 + flg as u16) % 31 == 0 && flg & 0x20 == 0;
    if ok {
        Ok(())
    } else {
        Err(PngError::ZlibHeader { cmf, flg })
    }
}


/// Undo the scanline filters (PNG 9.2) in place, row after row.
fn unfilter(h: &Header, data: &mut [u8]) -> Result<(), PngError> {
    let stride = h.row_bytes() + 1;
    for y in 0..h.height as usize {
        let (done, rest) = data.split_at_mut(y * stride);
        let prev = if y == 0 { None } else { Some(&done[(y - 1) * stride + 1..y * stride]) };
        unfilter_row(h, y as u32, &mut rest[..stride], prev)?;
    }
    Ok(())
}

/// Undo the filter of scanline `y` in place: `row` is its filter-type byte
/// and its bytes, `prev` the row above, already unfiltered (None for the
/// first row, where the row above counts as zeros).
pub fn unfilter_row(h: &Header, y: u32, row: &mut [u8], prev: Option<&[u8]>) -> Result<(), PngError> {
    let (filter, cur) = row.split_first_mut().ok_or(PngError::BadFilter { row: y, filter: 0 })?;
    if *filter > 4 {
        return Err(PngError::BadFilter { row: y, filter: *filter });
    }
    // A row is whole pixels (bytes per pixel for 8 and 16 bits, one byte
    // per step below 8 bits), so each step works on one pixel with its
    // neighbours in registers, unrolled for the pixel size and the filter.
    macro_rules! by_size {
        ($f:literal) => {
            match h.filter_step() {
                1 => unfilter_pixels::<1, $f>(cur, prev),
                2 => unfilter_pixels::<2, $f>(cur, prev),
                3 => unfilter_pixels::<3, $f>(cur, prev),
                4 => unfilter_pixels::<4, $f>(cur, prev),
                6 => unfilter_pixels::<6, $f>(cur, prev),
                _ => unfilter_pixels::<8, $f>(cur, prev),
            }
        };
    }
    match *filter {
        0 => {}
        1 => by_size!(1),
        2 => by_size!(2),
        3 => by_size!(3),
        _ => by_size!(4),
    }
    Ok(())
}

/// PNG 9.2's reconstruction, filter `F`, of one scanline of `BPP`-byte
/// pixels: the left (a), above (b) and upper-left (c) neighbours are 0
/// outside the image (above the first row: `prev` None).
fn unfilter_pixels<const BPP: usize, const F: u8>(cur: &mut [u8], prev: Option<&[u8]>) {
    let (mut a, mut c) = ([0u8; BPP], [0u8; BPP]);
    let mut step = |px: &mut [u8], b: &[u8]| {
        for i in 0..BPP {
            let pred = match F {
                1 => a[i],
                2 => b[i],
                3 => ((a[i] as u16 + b[i] as u16) >> 1) as u8,
                _ => paeth(a[i], b[i], c[i]),
            };
            px[i] = px[i].wrapping_add(pred);
            a[i] = px[i];
            c[i] = b[i];
        }
    };
    match prev {
        Some(p) => cur.chunks_exact_mut(BPP).zip(p.chunks_exact(BPP)).for_each(|(px, b)| step(px, b)),
        None => cur.chunks_exact_mut(BPP).for_each(|px| step(px, &[0; BPP])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paeth_follows_the_specification() {
        // PNG 9.4: ties go to a, then b.
        assert_eq!(paeth(10, 10, 10), 10);
        assert_eq!(paeth(1, 5, 1), 5);
        assert_eq!(paeth(5, 1, 1), 5);
        assert_eq!(paeth(100, 200, 150), 150);
    }
}
