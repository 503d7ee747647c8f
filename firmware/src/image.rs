//! PNG images from the card into the accelerator's input map, and maps
//! back out as PNG (streamed: rows in, IDAT chunks out).
use crate::arch::aarch64::time::Instant;
use xlic_model::geometry::{Geometry, GeometryError};
use xlic_model::layout::FmShape;
use xlic_model::PadMode;
use xlic_png::{ColorType, Filter, Options, PngError};

/// What `save image` and `run` use unless told otherwise, chosen by
/// measurement (`cargo xtask bench --only storage`: guest instructions per
/// pixel, encode and card writes, and bytes). On the test photographs the
/// Average and Paeth filters make files 20 % smaller than no filter;
/// level 1 costs about 60 % of the instructions of level 3 and 30-50 % of
/// level 6 for 2-6 % more bytes, which on the board (about 1 instruction
/// per cycle at 1.2 GHz against an SD bus of 8-25 MB/s) is the shorter
/// encode-and-write; Average at level 1 was the cheaper of the two and
/// within 0.7 % of Paeth's size on one photograph, 1.5 % below it on
/// the other.
pub const DEFAULT_ENCODE: Options = Options { filter: Filter::Average, level: 1 };

#[derive(Debug)]
pub enum ImageError {
    Png(PngError),
    Interlaced,
    Depth(u8),
    Palette,
    Geometry(GeometryError),
    TooLarge { need: usize, room: usize },
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            ImageError::Png(e) => write!(f, "not a valid PNG: {e}"),
            ImageError::Interlaced => write!(f, "interlaced (Adam7) PNGs are not supported; re-save it without interlacing"),
            ImageError::Depth(d) => write!(f, "{d}-bit PNGs are not supported; convert it to 8 bits per channel"),
            ImageError::Palette => write!(f, "palette PNGs are not supported; convert it to RGB"),
            ImageError::Geometry(e) => write!(f, "{e}"),
            ImageError::TooLarge { need, room } => write!(f, "image needs {need} bytes of buffer; {room} are reserved"),
        }
    }
}

/// What was loaded, for the console.
pub struct LoadedImage {
    pub geometry: Geometry,
    pub color: &'static str,
    pub note: Option<&'static str>,
    /// CRC-32 of the RGB pixels, row-major (compare with the host decoder).
    pub rgb_crc: u32,
    /// CRC-32 of the input map bytes (compare with the host's input map).
    pub map_crc: u32,
    pub map_bytes: usize,
    pub decode_micros: u64,
}

/// Decode `png` with `scratch` as pixel buffer and write the input map of
/// the coded image (q = pixel, edge-replicated or zero mode) into `map`.
/// The header is checked, and the size against the accelerator's limit,
/// before any image data is inflated.
pub fn load(png: &[u8], scratch: &mut [u8], map: &mut [u8], pad: PadMode, lanes: usize, max_side: usize) -> Result<LoadedImage, ImageError> {
    let header = xlic_png::read_header(png).map_err(ImageError::Png)?;
    if header.color_type == ColorType::Indexed {
        return Err(ImageError::Palette);
    }
    if header.bit_depth != 8 {
        return Err(ImageError::Depth(header.bit_depth));
    }
    if header.interlaced {
        return Err(ImageError::Interlaced);
    }
    let (channels, color, note) = match header.color_type {
        ColorType::Rgb => (3, "RGB", None),
        ColorType::Rgba => (4, "RGBA", Some("alpha channel ignored (not blended)")),
        ColorType::Gray => (1, "gray", Some("gray channel used for R, G and B")),
        _ => (2, "gray+alpha", Some("gray channel used for R, G and B; alpha ignored")),
    };
    let (w, h) = (header.width as usize, header.height as usize);
    let geometry = Geometry::new(w, h, pad, max_side).map_err(ImageError::Geometry)?;
    let need = header.raw_bytes().unwrap_or(usize::MAX);
    if need > scratch.len() {
        return Err(ImageError::TooLarge { need, room: scratch.len() });
    }
    let t = Instant::now();
    let img = xlic_png::decode_into(png, scratch).map_err(ImageError::Png)?;
    let decode_micros = t.elapsed().as_micros() as u64;
    let px: &[u8] = scratch;
    // Channel c of pixel (x, y); a gray image's one channel serves all three.
    let channel = |x: usize, y: usize, c: usize| px[img.offset(y, x * channels + if channels >= 3 { c } else { 0 })];
    let mut crc = xlic_model::crc32::Crc32::default();
    for y in 0..h {
        for x in 0..w {
            crc.update(&[channel(x, y, 0), channel(x, y, 1), channel(x, y, 2)]);
        }
    }
    let shape = FmShape::new(3, geometry.coded, lanes);
    if shape.bytes() > map.len() {
        return Err(ImageError::TooLarge { need: shape.bytes(), room: map.len() });
    }
    let map = &mut map[..shape.bytes()];
    map.fill(0);
    // Into the accelerator's layout; beyond the image the edge pixel is
    // repeated (edge mode; zero mode codes the image as is).
    geometry.for_each_input_value(lanes, |i, sx, sy, c| map[2 * i..2 * i + 2].copy_from_slice(&(channel(sx, sy, c) as i16).to_le_bytes()));
    Ok(LoadedImage {
        geometry,
        color,
        note,
        rgb_crc: crc.finish(),
        map_crc: xlic_model::crc32::crc32(map),
        map_bytes: shape.bytes(),
        decode_micros,
    })
}

/// The first three channels of a map of `shape` (q = pixel value, clamped
/// to 0..=255), cropped to `w x h`, as RGB rows: the input map gives back
/// the image exactly, syn_2's map gives the reconstruction.
pub struct MapRows<'a> {
    pub map: &'a [u8],
    pub shape: FmShape,
    pub w: usize,
    pub h: usize,
}

impl xlic_png::Rows for MapRows<'_> {
    fn width(&self) -> u32 {
        self.w as u32
    }
    fn height(&self) -> u32 {
        self.h as u32
    }
    fn row(&self, y: u32, out: &mut [u8]) {
        for x in 0..self.w {
            for c in 0..3 {
                let i = 2 * self.shape.index(c, y as usize, x);
                out[3 * x + c] = i16::from_le_bytes([self.map[i], self.map[i + 1]]).clamp(0, 255) as u8;
            }
        }
    }
}

/// Encode `rows` as a PNG into `sink`, block of rows after block (memory:
/// the encoder's fixed buffers, whatever the image size). Returns the
/// summary and the heap the encoder held.
pub fn encode<E>(rows: &MapRows, opts: Options, sink: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(xlic_png::Summary, usize), E> {
    let before = crate::heap_used();
    let mut peak = 0;
    let mut sink = sink;
    let summary = xlic_png::encode(rows, opts, |b: &[u8]| {
        peak = peak.max(crate::heap_used());
        sink(b)
    })?;
    Ok((summary, peak.saturating_sub(before)))
}
