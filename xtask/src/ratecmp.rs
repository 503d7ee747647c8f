//! What JPEG and WebP need for the same quality: each codec's quality
//! setting is searched for the PSNR X-LIC reached, and the rate at exactly
//! that PSNR is interpolated between the two settings around it.
//!
//! JPEG: the `jpeg-encoder` crate, 4:2:0 chroma subsampling, decoded with
//! `zune-jpeg`. WebP: libwebp's lossy encoder (always 4:2:0) through the
//! `webp` crate, which builds the library from its bundled C sources.
use anyhow::{bail, Context, Result};
use xlic_ref::{psnr, Rgb8};

/// One codec at the target PSNR.
#[derive(Clone, Copy, Debug)]
pub struct AtPsnr {
    /// Bits per pixel interpolated to the target PSNR.
    pub bpp: f64,
    /// The lowest quality setting that reaches the target, and its figures.
    pub quality: u32,
    pub bpp_at_quality: f64,
    pub psnr_at_quality: f64,
}

/// Search `encode(quality) -> (bytes, psnr)` over qualities 1..=100 (PSNR
/// grows with quality) for `target`; None if even 100 falls short.
fn search(img: &Rgb8, target: f64, mut encode: impl FnMut(u32) -> Result<(usize, f64)>) -> Result<Option<AtPsnr>> {
    let px = (img.width * img.height) as f64;
    let bpp = |bytes: usize| bytes as f64 * 8.0 / px;
    let (mut lo, mut hi) = (1u32, 100u32);
    let top = encode(hi)?;
    if top.1 < target {
        return Ok(None);
    }
    let mut at_hi = top;
    // Invariant: quality hi reaches the target; lo - 1 does not (or is 0).
    while lo < hi {
        let mid = (lo + hi) / 2;
        let r = encode(mid)?;
        if r.1 >= target {
            hi = mid;
            at_hi = r;
        } else {
            lo = mid + 1;
        }
    }
    let below = if hi > 1 { Some(encode(hi - 1)?) } else { None };
    let interpolated = match below {
        Some((b, p)) if p < target && at_hi.1 > p => bpp(b) + (target - p) / (at_hi.1 - p) * (bpp(at_hi.0) - bpp(b)),
        _ => bpp(at_hi.0),
    };
    Ok(Some(AtPsnr { bpp: interpolated, quality: hi, bpp_at_quality: bpp(at_hi.0), psnr_at_quality: at_hi.1 }))
}

fn jpeg(img: &Rgb8, quality: u32) -> Result<(usize, f64)> {
    let mut out = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut out, quality as u8);
    e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    e.encode(&img.data, img.width as u16, img.height as u16, jpeg_encoder::ColorType::Rgb).context("JPEG encoding")?;
    let mut d = zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(&out));
    let pixels = d.decode().context("JPEG decoding")?;
    if pixels.len() != img.data.len() {
        bail!("the JPEG decoder returned {} values for a {}x{} RGB image", pixels.len(), img.width, img.height);
    }
    let back = Rgb8 { width: img.width, height: img.height, data: pixels };
    Ok((out.len(), psnr(img, &back)))
}

fn webp(img: &Rgb8, quality: u32) -> Result<(usize, f64)> {
    let bytes = webp::Encoder::from_rgb(&img.data, img.width as u32, img.height as u32).encode(quality as f32).to_vec();
    let decoded = webp::Decoder::new(&bytes).decode().context("WebP decoding")?;
    if decoded.is_alpha() || decoded.len() != img.data.len() {
        bail!("the WebP decoder returned an unexpected layout");
    }
    let back = Rgb8 { width: img.width, height: img.height, data: decoded.to_vec() };
    Ok((bytes.len(), psnr(img, &back)))
}

/// JPEG 4:2:0 at `target` dB.
pub fn jpeg_at(img: &Rgb8, target: f64) -> Result<Option<AtPsnr>> {
    search(img, target, |q| jpeg(img, q))
}

/// Lossy WebP at `target` dB.
pub fn webp_at(img: &Rgb8, target: f64) -> Result<Option<AtPsnr>> {
    search(img, target, |q| webp(img, q))
}
