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
    /// A core faulted while decoding (its report is on the console).
    Core(crate::smp::CoreFault),
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
            ImageError::Core(e) => write!(f, "{e}"),
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
    /// Inflate, filters, CRCs and the input map, on `work.cores` cores.
    pub decode_micros: u64,
    /// Core time of each decode stage (png_cores::Work).
    pub work: crate::png_cores::Work,
}

/// Decode `png` with `scratch` as pixel buffer and write the input map of
/// the coded image (q = pixel, edge-replicated or zero mode) into `map`,
/// on up to `cores` cores (png_cores::decode_to_map). The header is
/// checked, and the size against the accelerator's limit and the buffers,
/// before any image data is inflated.
pub fn load(png: &[u8], scratch: &mut [u8], map: &mut [u8], pad: PadMode, lanes: usize, max_side: usize, cores: usize) -> Result<LoadedImage, ImageError> {
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
    let (color, note) = match header.color_type {
        ColorType::Rgb => ("RGB", None),
        ColorType::Rgba => ("RGBA", Some("alpha channel ignored (not blended)")),
        ColorType::Gray => ("gray", Some("gray channel used for R, G and B")),
        _ => ("gray+alpha", Some("gray channel used for R, G and B; alpha ignored")),
    };
    let (w, h) = (header.width as usize, header.height as usize);
    let geometry = Geometry::new(w, h, pad, max_side).map_err(ImageError::Geometry)?;
    let need = header.raw_bytes().unwrap_or(usize::MAX);
    if need > scratch.len() {
        return Err(ImageError::TooLarge { need, room: scratch.len() });
    }
    let shape = FmShape::new(3, geometry.coded, lanes);
    if shape.bytes() > map.len() {
        return Err(ImageError::TooLarge { need: shape.bytes(), room: map.len() });
    }
    let t = Instant::now();
    let d = crate::png_cores::decode_to_map(png, &header, scratch, &mut map[..shape.bytes()], &geometry, lanes, cores)
        .map_err(ImageError::Core)?
        .map_err(ImageError::Png)?;
    Ok(LoadedImage {
        geometry,
        color,
        note,
        rgb_crc: d.rgb_crc,
        map_crc: d.map_crc,
        map_bytes: shape.bytes(),
        decode_micros: t.elapsed().as_micros() as u64,
        work: d.work,
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
        // Channels 0-2 share a lane group (lanes >= 3): one base index per
        // pixel, and the map read as INT16 values (it is 16-byte aligned in
        // its region), not byte by byte.
        let lanes = self.shape.lanes;
        debug_assert!(lanes >= 3);
        let start = self.shape.group_index(0, y as usize, 0);
        let row = &crate::bsp::zcu102::memory::as_i16(&self.map[2 * start..2 * (start + lanes * self.w)]);
        for (px, v) in out[..3 * self.w].chunks_exact_mut(3).zip(row.chunks_exact(lanes)) {
            for (o, &q) in px.iter_mut().zip(&v[..3]) {
                *o = q.clamp(0, 255) as u8;
            }
        }
    }
}

/// Encode `rows` as a PNG into `sink`, blocks of rows on up to `cores`
/// cores (png_cores::encode; memory: each core's encoder and a few block
/// buffers, whatever the image size). Returns the summary, the heap the
/// encoders held, and the core time of each stage.
pub fn encode<E: From<crate::smp::CoreFault>>(rows: &MapRows, opts: Options, cores: usize, sink: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(xlic_png::Summary, usize, crate::png_cores::Work), E> {
    let before = crate::heap_used();
    let mut peak = 0;
    let mut sink = sink;
    let (summary, work) = crate::png_cores::encode(rows, opts, cores, |b: &[u8]| {
        peak = peak.max(crate::heap_used());
        sink(b)
    })??;
    Ok((summary, peak.saturating_sub(before), work))
}
