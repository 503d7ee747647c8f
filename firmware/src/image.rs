//! PNG images from the card into the accelerator's input map.
use crate::arch::aarch64::time::Instant;
use xlic_model::geometry::{Geometry, GeometryError};
use xlic_model::layout::FmShape;
use xlic_model::PadMode;

#[derive(Debug)]
pub enum ImageError {
    Png(minipng::Error),
    Depth(u8),
    Palette,
    Geometry(GeometryError),
    TooLarge { need: usize, room: usize },
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            ImageError::Png(minipng::Error::UnsupportedInterlace) => {
                write!(f, "interlaced PNGs are not supported; re-save it without interlacing")
            }
            ImageError::Png(e) => write!(f, "not a valid PNG ({e})"),
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
pub fn load(png: &[u8], scratch: &mut [u8], map: &mut [u8], pad: PadMode, lanes: usize, max_side: usize) -> Result<LoadedImage, ImageError> {
    let header = minipng::decode_png_header(png).map_err(ImageError::Png)?;
    match header.bit_depth() {
        minipng::BitDepth::Eight => {}
        d => return Err(ImageError::Depth(d as u8)),
    }
    let (channels, color, note) = match header.color_type() {
        minipng::ColorType::Rgb => (3, "RGB", None),
        minipng::ColorType::Rgba => (4, "RGBA", Some("alpha channel ignored (not blended)")),
        minipng::ColorType::Gray => (1, "gray", Some("gray channel used for R, G and B")),
        minipng::ColorType::GrayAlpha => (2, "gray+alpha", Some("gray channel used for R, G and B; alpha ignored")),
        minipng::ColorType::Indexed => return Err(ImageError::Palette),
    };
    let (w, h) = (header.width() as usize, header.height() as usize);
    let geometry = Geometry::new(w, h, pad, max_side).map_err(ImageError::Geometry)?;
    let need = header.required_bytes();
    if need > scratch.len() {
        return Err(ImageError::TooLarge { need, room: scratch.len() });
    }
    let t = Instant::now();
    let img = minipng::decode_png(png, scratch).map_err(ImageError::Png)?;
    let decode_micros = t.elapsed().as_micros() as u64;
    let px = img.pixels();
    let stride = img.bytes_per_row();
    // Channel c of pixel (x, y); a gray image's one channel serves all three.
    let channel = |x: usize, y: usize, c: usize| px[y * stride + x * channels + if channels >= 3 { c } else { 0 }];
    let rgb = |x: usize, y: usize| [channel(x, y, 0), channel(x, y, 1), channel(x, y, 2)];
    let mut crc = xlic_model::crc32::Crc32::default();
    for y in 0..h {
        for x in 0..w {
            crc.update(&rgb(x, y));
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

/// A PNG (8-bit RGB, no row filter, deflate by miniz_oxide) from the
/// first three channels of a map of `shape` (q = pixel value, clamped to
/// 0..=255), cropped to `w x h`: the input map gives back the image
/// exactly, syn_2's map gives the reconstruction.
pub fn encode_from_map(map: &[u8], shape: &FmShape, w: usize, h: usize, level: u8) -> alloc::vec::Vec<u8> {
    let mut raw = alloc::vec::Vec::with_capacity(h * (1 + 3 * w));
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            for c in 0..3 {
                let i = 2 * shape.index(c, y, x);
                raw.push(i16::from_le_bytes([map[i], map[i + 1]]).clamp(0, 255) as u8);
            }
        }
    }
    let idat = miniz_oxide::deflate::compress_to_vec_zlib(&raw, level);
    drop(raw);
    let mut png = alloc::vec::Vec::with_capacity(idat.len() + 64);
    png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = [0u8; 13];
    ihdr[0..4].copy_from_slice(&(w as u32).to_be_bytes());
    ihdr[4..8].copy_from_slice(&(h as u32).to_be_bytes());
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // RGB
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &idat[..]), (b"IEND", &[][..])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = xlic_model::crc32::Crc32::default();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.finish().to_be_bytes());
    }
    png
}
