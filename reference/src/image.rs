//! 8-bit RGB images: PNG in and out, PSNR, and the comparison picture.
use std::path::{Path, PathBuf};

/// An 8-bit RGB image, row-major, 3 bytes a pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid PNG ({reason})")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: interlaced PNGs are not supported; re-save it without interlacing")]
    Interlaced { path: PathBuf },
    #[error("{path}: {depth}-bit PNGs are not supported; convert it to 8 bits per channel")]
    Depth { path: PathBuf, depth: u8 },
    #[error("{path}: palette PNGs are not supported; convert it to RGB")]
    Palette { path: PathBuf },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// A conversion made while loading, worth telling the user about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conversion {
    GrayToRgb,
    AlphaDropped,
}

impl std::fmt::Display for Conversion {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Conversion::GrayToRgb => "grayscale image: the gray channel is used for R, G and B",
            Conversion::AlphaDropped => "image has an alpha channel: it is ignored (not blended)",
        })
    }
}

impl Rgb8 {
    pub fn new(width: usize, height: usize) -> Self {
        Rgb8 { width, height, data: vec![0; width * height * 3] }
    }
    #[inline(always)]
    pub fn at(&self, x: usize, y: usize, c: usize) -> u8 {
        self.data[(y * self.width + x) * 3 + c]
    }

    /// Decode a PNG: 8-bit RGB as is; 8-bit gray and alpha variants
    /// converted (with a note); 16-bit, palette and interlaced refused.
    pub fn load_png(path: &Path) -> Result<(Rgb8, Vec<Conversion>), ImageError> {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: path.into(), source })?;
        Self::decode_png(&bytes, path)
    }

    pub fn decode_png(bytes: &[u8], path: &Path) -> Result<(Rgb8, Vec<Conversion>), ImageError> {
        let corrupt = |e: &dyn std::fmt::Display| ImageError::Corrupt { path: path.into(), reason: e.to_string() };
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
        dec.set_transformations(png::Transformations::IDENTITY);
        let mut reader = dec.read_info().map_err(|e| corrupt(&e))?;
        let info = reader.info();
        let (w, h, interlaced, depth, color) = (info.width as usize, info.height as usize, info.interlaced, info.bit_depth, info.color_type);
        if interlaced {
            return Err(ImageError::Interlaced { path: path.into() });
        }
        if depth != png::BitDepth::Eight {
            return Err(ImageError::Depth { path: path.into(), depth: depth as u8 });
        }
        if color == png::ColorType::Indexed {
            return Err(ImageError::Palette { path: path.into() });
        }
        let size = reader.output_buffer_size().ok_or_else(|| corrupt(&"image too large"))?;
        let mut buf = vec![0u8; size];
        let out = reader.next_frame(&mut buf).map_err(|e| corrupt(&e))?;
        let src = &buf[..out.buffer_size()];
        let (channels, notes) = match color {
            png::ColorType::Rgb => (3, vec![]),
            png::ColorType::Rgba => (4, vec![Conversion::AlphaDropped]),
            png::ColorType::Grayscale => (1, vec![Conversion::GrayToRgb]),
            png::ColorType::GrayscaleAlpha => (2, vec![Conversion::GrayToRgb, Conversion::AlphaDropped]),
            png::ColorType::Indexed => unreachable!(),
        };
        let stride = out.line_size;
        let mut img = Rgb8::new(w, h);
        for y in 0..h {
            let row = &src[y * stride..][..w * channels];
            for x in 0..w {
                let p = &row[x * channels..][..channels];
                let rgb = if channels >= 3 { [p[0], p[1], p[2]] } else { [p[0]; 3] };
                img.data[(y * w + x) * 3..][..3].copy_from_slice(&rgb);
            }
        }
        Ok((img, notes))
    }

    pub fn encode_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("PNG header to memory");
        w.write_image_data(&self.data).expect("PNG data to memory");
        drop(w);
        out
    }

    /// Write a PNG atomically: to a temporary name, then renamed.
    pub fn save_png(&self, path: &Path) -> Result<(), ImageError> {
        write_atomic(path, &self.encode_png()).map_err(|e| ImageError::Write { path: path.into(), reason: e.to_string() })
    }

    /// The top-left `w x h` part.
    pub fn crop(&self, w: usize, h: usize) -> Rgb8 {
        let mut o = Rgb8::new(w, h);
        for y in 0..h {
            o.data[y * w * 3..][..w * 3].copy_from_slice(&self.data[y * self.width * 3..][..w * 3]);
        }
        o
    }

    /// Side-by-side picture: original | reconstruction | error map (|diff|
    /// amplified `gain` times, per channel), so a person can look.
    pub fn comparison(original: &Rgb8, recon: &Rgb8, gain: u32) -> Rgb8 {
        assert_eq!((original.width, original.height), (recon.width, recon.height));
        let (w, h) = (original.width, original.height);
        let mut o = Rgb8::new(3 * w, h);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let a = original.at(x, y, c);
                    let b = recon.at(x, y, c);
                    let e = ((a as i32 - b as i32).unsigned_abs() * gain).min(255) as u8;
                    for (panel, v) in [a, b, e].into_iter().enumerate() {
                        o.data[(y * 3 * w + panel * w + x) * 3 + c] = v;
                    }
                }
            }
        }
        o
    }
}

/// Write `bytes` to `path` through a temporary file beside it and a
/// rename, so a failure never leaves a truncated file under the final
/// name. The temporary name is unique (`.<name>.<pid>.<n>.tmp`, created
/// only if absent, so no file of the user's is clobbered) and removed
/// when anything fails. Replaces `path` if it exists; see [`write_new`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    publish(path, bytes, |tmp, path| std::fs::rename(tmp, path))
}

/// [`write_atomic`], but fails with `AlreadyExists` instead of replacing
/// an existing `path` (checked when the finished file is published, so a
/// file that appeared meanwhile is not overwritten either).
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    publish(path, bytes, |tmp, path| {
        // A hard link, unlike a rename, refuses an existing target.
        std::fs::hard_link(tmp, path)?;
        std::fs::remove_file(tmp)
    })
}

fn publish(path: &Path, bytes: &[u8], finish: impl FnOnce(&Path, &Path) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"))?;
    let (tmp, mut file) = loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{}.tmp", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed)));
        let tmp = path.with_file_name(tmp_name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            // Someone else's file (or a leftover of a killed run): take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let result = file.write_all(bytes).and_then(|_| file.sync_all()).and_then(|_| {
        drop(file);
        finish(&tmp, path)
    });
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// PSNR in dB over all RGB values (infinite for identical images).
pub fn psnr(a: &Rgb8, b: &Rgb8) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "PSNR of images of different sizes");
    let se: u64 = a.data.iter().zip(&b.data).map(|(&x, &y)| ((x as i64 - y as i64) * (x as i64 - y as i64)) as u64).sum();
    if se == 0 {
        return f64::INFINITY;
    }
    let mse = se as f64 / a.data.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Rgb8 {
        let mut i = Rgb8::new(w, h);
        for (n, v) in i.data.iter_mut().enumerate() {
            *v = (n * 7 % 251) as u8;
        }
        i
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xlic-image-{tag}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn listing(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_leaves_other_files_alone_and_no_temporary_behind() {
        let d = scratch("atomic");
        let out = d.join("out.png");
        // A user file with the name the old temporary used.
        std::fs::write(d.join("out.png.tmp"), b"mine").unwrap();
        write_atomic(&out, b"one").unwrap();
        write_atomic(&out, b"two").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(std::fs::read(d.join("out.png.tmp")).unwrap(), b"mine");
        assert_eq!(listing(&d), ["out.png", "out.png.tmp"]);
        // A failed publish (the final name is a non-empty directory, which
        // rename cannot replace) removes its temporary.
        let blocked = d.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        assert!(write_atomic(&blocked, b"x").is_err());
        assert_eq!(listing(&d), ["blocked", "out.png", "out.png.tmp"]);
        // write_new refuses an existing file, keeps it, and cleans up.
        let e = write_new(&out, b"three").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        write_new(&d.join("new.png"), b"four").unwrap();
        assert_eq!(std::fs::read(d.join("new.png")).unwrap(), b"four");
        assert_eq!(listing(&d), ["blocked", "new.png", "out.png", "out.png.tmp"]);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn png_round_trip() {
        let img = gradient(37, 21);
        let (back, notes) = Rgb8::decode_png(&img.encode_png(), Path::new("x.png")).unwrap();
        assert_eq!(back, img);
        assert!(notes.is_empty());
    }

    #[test]
    fn psnr_of_a_known_error() {
        let a = gradient(10, 10);
        let mut b = a.clone();
        // One value off by 10 out of 300: MSE = 100/300.
        b.data[0] = b.data[0].wrapping_add(10);
        let want = 10.0 * (255.0f64 * 255.0 / (100.0 / 300.0)).log10();
        assert!((psnr(&a, &b) - want).abs() < 1e-9);
        assert!(psnr(&a, &a).is_infinite());
    }

    fn encode(color: png::ColorType, depth: png::BitDepth, interlace: bool, data: &[u8], w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(color);
            enc.set_depth(depth);
            if interlace {
                // The png crate cannot write Adam7; patch the IHDR flag and
                // its CRC below instead.
            }
            let mut wr = enc.write_header().unwrap();
            wr.write_image_data(data).unwrap();
        }
        if interlace {
            // IHDR data starts at 16; the interlace byte is its 13th byte.
            out[16 + 12] = 1;
            let crc = xlic_model::crc32::crc32(&out[12..16 + 13]);
            out[29..33].copy_from_slice(&crc.to_be_bytes());
        }
        out
    }

    #[test]
    fn gray_and_alpha_are_converted_with_a_note() {
        let gray = encode(png::ColorType::Grayscale, png::BitDepth::Eight, false, &[10, 20, 30, 40], 2, 2);
        let (img, notes) = Rgb8::decode_png(&gray, Path::new("g.png")).unwrap();
        assert_eq!(img.data[..6], [10, 10, 10, 20, 20, 20]);
        assert_eq!(notes, vec![Conversion::GrayToRgb]);
        let rgba = encode(png::ColorType::Rgba, png::BitDepth::Eight, false, &[1, 2, 3, 255, 4, 5, 6, 0], 2, 1);
        let (img, notes) = Rgb8::decode_png(&rgba, Path::new("a.png")).unwrap();
        assert_eq!(img.data, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(notes, vec![Conversion::AlphaDropped]);
    }

    #[test]
    fn unsupported_pngs_get_specific_errors() {
        let p = Path::new("bad.png");
        let deep = encode(png::ColorType::Rgb, png::BitDepth::Sixteen, false, &[0; 12], 2, 1);
        assert!(matches!(Rgb8::decode_png(&deep, p), Err(ImageError::Depth { depth: 16, .. })));
        let inter = encode(png::ColorType::Rgb, png::BitDepth::Eight, true, &[0; 6], 2, 1);
        assert!(matches!(Rgb8::decode_png(&inter, p), Err(ImageError::Interlaced { .. })));
        let good = gradient(8, 8).encode_png();
        let e = Rgb8::decode_png(&good[..good.len() / 2], p).unwrap_err();
        assert!(matches!(e, ImageError::Corrupt { .. }), "{e}");
        assert!(e.to_string().starts_with("bad.png: not a valid PNG"), "{e}");
        assert!(matches!(Rgb8::decode_png(b"GIF89a....", p), Err(ImageError::Corrupt { .. })));
    }
}
