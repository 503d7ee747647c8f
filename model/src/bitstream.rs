//! The `.XLC` file: one compressed image. Written by the firmware on the
//! A53 and by the host, byte for byte alike (the payload is
//! [`entropy`](crate::entropy)'s). Documented for people in
//! model/BITSTREAM.md. All little-endian:
//!
//! ```text
//!  0  magic "XLICXLC\0"
//!  8  u16 format version (1)
//! 10  u8  coder id (1: the adaptive binary range coder of entropy.rs)
//! 11  u8  padding mode (0 edge, 1 zero)
//! 12  u32 model id: the model package's header CRC-32 (package::Package::id)
//! 16  u16 image width, u16 image height
//! 20  u16 latent channels, u16 latent height, u16 latent width
//! 26  u16 reserved (0)
//! 28  u32 payload length n
//! 32  payload, n bytes
//! 32+n u32 CRC-32 of bytes 0..32+n
//! ```
use crate::crc32::crc32;
use crate::entropy::{self, EntropyError, LatentLayout, Values, ValuesMut};
use crate::geometry::{Geometry, GeometryError, PadMode};
use crate::layer::Layer;
use crate::package::{u16_at, u32_at};

pub const MAGIC: [u8; 8] = *b"XLICXLC\0";
pub const FORMAT_VERSION: u16 = 1;
/// The coder of [`entropy`]: binarization, contexts and range coder.
pub const CODER_ID: u8 = 1;
pub const HEADER_BYTES: usize = 32;
pub const CRC_BYTES: usize = 4;
/// Header and CRC: a file's size without its payload.
pub const OVERHEAD: usize = HEADER_BYTES + CRC_BYTES;

/// What a file says about the image it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XlcHeader {
    pub model_id: u32,
    pub pad: PadMode,
    pub width: usize,
    pub height: usize,
    /// Latent channels, height, width.
    pub latent: (usize, usize, usize),
    pub payload_len: usize,
}

impl XlcHeader {
    /// The header for an image of `geometry`, coded with model `model_id`.
    pub fn new(model_id: u32, g: &Geometry) -> XlcHeader {
        let d = g.latent();
        XlcHeader { model_id, pad: g.pad, width: g.image.w, height: g.image.h, latent: (Layer::LATENT.spec().cout, d.h, d.w), payload_len: 0 }
    }

    pub fn values(&self) -> usize {
        self.latent.0 * self.latent.1 * self.latent.2
    }

    pub fn file_len(&self) -> usize {
        OVERHEAD + self.payload_len
    }

    /// Bits of the whole file per image pixel.
    pub fn bits_per_pixel(&self) -> f64 {
        self.file_len() as f64 * 8.0 / (self.width * self.height) as f64
    }

    /// The image as raw 24-bit RGB over the file: the compression ratio.
    pub fn compression_ratio(&self) -> f64 {
        (self.width * self.height * 3) as f64 / self.file_len() as f64
    }

    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[10] = CODER_ID;
        b[11] = self.pad.code() as u8;
        b[12..16].copy_from_slice(&self.model_id.to_le_bytes());
        let u16s = [self.width, self.height, self.latent.0, self.latent.1, self.latent.2, 0];
        for (k, v) in u16s.iter().enumerate() {
            b[16 + 2 * k..18 + 2 * k].copy_from_slice(&(*v as u16).to_le_bytes());
        }
        b[28..32].copy_from_slice(&(self.payload_len as u32).to_le_bytes());
        b
    }

    /// The geometry the file's image is coded in.
    pub fn geometry(&self, max_side: usize) -> Result<Geometry, GeometryError> {
        Geometry::new(self.width, self.height, self.pad, max_side)
    }
}

/// Why a file was refused or could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlcError {
    TooShort { len: usize },
    BadMagic,
    UnsupportedVersion { found: u16 },
    Length { header: usize, actual: usize },
    Crc { stored: u32, computed: u32 },
    UnknownCoder { found: u8 },
    UnknownPadMode { found: u8 },
    Reserved,
    ModelMismatch { file: u32, loaded: u32 },
    Dimensions(GeometryError),
    LatentShape { file: (usize, usize, usize), expected: (usize, usize, usize) },
    Payload(EntropyError),
    /// Writing: the output buffer is too small for the file.
    OutputTooSmall { room: usize },
}

impl core::fmt::Display for XlcError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        use XlcError::*;
        match self {
            TooShort { len } => write!(f, "not a complete .XLC file: {len} bytes, shorter than its {OVERHEAD}-byte header and checksum"),
            BadMagic => write!(f, "not an .XLC file (bad magic); make one with `compress`"),
            UnsupportedVersion { found } => {
                write!(f, ".XLC format version {found} is not supported (this build reads version {FORMAT_VERSION}); compress the image again with this build")
            }
            Length { header, actual } => write!(f, ".XLC file is {actual} bytes but its header says {header}: truncated or padded file"),
            Crc { stored, computed } => {
                write!(f, ".XLC file is corrupt: CRC-32 0x{computed:08x}, the file says 0x{stored:08x}")
            }
            UnknownCoder { found } => write!(f, ".XLC file uses coder {found}; this build knows coder {CODER_ID}"),
            UnknownPadMode { found } => write!(f, ".XLC file names padding mode {found}; known: 0 (edge), 1 (zero)"),
            Reserved => write!(f, ".XLC file has reserved header bytes set: not written by this format version"),
            ModelMismatch { file, loaded } => write!(
                f,
                ".XLC file was compressed with model package 0x{file:08x}; the loaded package is 0x{loaded:08x}: load the package it was made with"
            ),
            Dimensions(e) => write!(f, ".XLC file's image size is refused: {e}"),
            LatentShape { file, expected } => write!(
                f,
                ".XLC file holds a {}x{}x{} latent; its image size needs {}x{}x{}",
                file.0, file.2, file.1, expected.0, expected.2, expected.1
            ),
            Payload(e) => write!(f, ".XLC {e}"),
            OutputTooSmall { room } => write!(f, "the compressed file does not fit its {room}-byte buffer"),
        }
    }
}

impl core::error::Error for XlcError {}

impl From<EntropyError> for XlcError {
    fn from(e: EntropyError) -> Self {
        XlcError::Payload(e)
    }
}

/// A file that passed every check but the payload's decoding.
#[derive(Clone, Copy, Debug)]
pub struct Xlc<'a> {
    pub header: XlcHeader,
    pub geometry: Geometry,
    pub payload: &'a [u8],
}

/// The largest file an image of `g` can need (see [`entropy::payload_bound`]).
pub fn file_bound(g: &Geometry) -> usize {
    let d = g.latent();
    OVERHEAD + entropy::payload_bound(Layer::LATENT.spec().cout * d.pixels())
}

/// Write the file of the latent held in `values` (laid out as `layout`)
/// into `out`; returns the file's header (its length is `file_len()`).
pub fn write<L: LatentLayout, V: Values + ?Sized>(
    model_id: u32,
    g: &Geometry,
    layout: &L,
    values: &V,
    out: &mut [u8],
) -> Result<XlcHeader, XlcError> {
    let mut h = XlcHeader::new(model_id, g);
    if (layout.channels(), layout.height(), layout.width()) != h.latent {
        return Err(XlcError::LatentShape { file: (layout.channels(), layout.height(), layout.width()), expected: h.latent });
    }
    let room = out.len();
    if room < OVERHEAD {
        return Err(XlcError::OutputTooSmall { room });
    }
    let payload = &mut out[HEADER_BYTES..room - CRC_BYTES];
    h.payload_len = entropy::encode(layout, values, payload).map_err(|e| match e {
        EntropyError::Overflow => XlcError::OutputTooSmall { room },
        e => XlcError::Payload(e),
    })?;
    out[..HEADER_BYTES].copy_from_slice(&h.encode());
    let end = HEADER_BYTES + h.payload_len;
    let crc = crc32(&out[..end]);
    out[end..end + CRC_BYTES].copy_from_slice(&crc.to_le_bytes());
    Ok(h)
}

/// Check a file: magic, version, length, CRC, coder, padding mode, model
/// identity, image size (within `max_side`) and latent shape.
pub fn parse(file: &[u8], model_id: u32, max_side: usize) -> Result<Xlc<'_>, XlcError> {
    let h = parse_header(file)?;
    if h.model_id != model_id {
        return Err(XlcError::ModelMismatch { file: h.model_id, loaded: model_id });
    }
    let geometry = h.geometry(max_side).map_err(XlcError::Dimensions)?;
    let expected = XlcHeader::new(model_id, &geometry).latent;
    if h.latent != expected {
        return Err(XlcError::LatentShape { file: h.latent, expected });
    }
    Ok(Xlc { header: h, geometry, payload: &file[HEADER_BYTES..HEADER_BYTES + h.payload_len] })
}

/// The header of a file whose length and CRC are right, before it is
/// checked against a model and the hardware (what `parse` adds).
pub fn parse_header(file: &[u8]) -> Result<XlcHeader, XlcError> {
    if file.len() < OVERHEAD {
        return Err(XlcError::TooShort { len: file.len() });
    }
    if file[..8] != MAGIC {
        return Err(XlcError::BadMagic);
    }
    let version = u16_at(file, 8);
    if version != FORMAT_VERSION {
        return Err(XlcError::UnsupportedVersion { found: version });
    }
    let payload_len = u32_at(file, 28) as usize;
    let header_len = payload_len.saturating_add(OVERHEAD);
    if header_len != file.len() {
        return Err(XlcError::Length { header: header_len, actual: file.len() });
    }
    let end = HEADER_BYTES + payload_len;
    let (stored, computed) = (u32_at(file, end), crc32(&file[..end]));
    if stored != computed {
        return Err(XlcError::Crc { stored, computed });
    }
    if file[10] != CODER_ID {
        return Err(XlcError::UnknownCoder { found: file[10] });
    }
    let pad = match file[11] {
        0 => PadMode::Edge,
        1 => PadMode::Zero,
        found => return Err(XlcError::UnknownPadMode { found }),
    };
    if u16_at(file, 26) != 0 {
        return Err(XlcError::Reserved);
    }
    let u = |o| u16_at(file, o) as usize;
    Ok(XlcHeader { model_id: u32_at(file, 12), pad, width: u(16), height: u(18), latent: (u(20), u(22), u(24)), payload_len })
}

/// [`write`] for a latent map of INT16 in the accelerator layout (the
/// host's form), compiled here so that callers need no optimised build.
pub fn write_map(model_id: u32, g: &Geometry, shape: &crate::layout::FmShape, map: &[i16], out: &mut [u8]) -> Result<XlcHeader, XlcError> {
    write(model_id, g, shape, map, out)
}

impl Xlc<'_> {
    /// [`Xlc::decode`] into a latent map of INT16 in the accelerator layout.
    pub fn decode_map(&self, shape: &crate::layout::FmShape, map: &mut [i16]) -> Result<(), XlcError> {
        self.decode(shape, map)
    }

    /// Decode the payload into `values` (laid out as `layout`, which must
    /// have the file's latent shape).
    pub fn decode<L: LatentLayout, V: ValuesMut + ?Sized>(&self, layout: &L, values: &mut V) -> Result<(), XlcError> {
        if (layout.channels(), layout.height(), layout.width()) != self.header.latent {
            return Err(XlcError::LatentShape { file: self.header.latent, expected: (layout.channels(), layout.height(), layout.width()) });
        }
        Ok(entropy::decode(layout, self.payload, values)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::Chw;

    const MAX_SIDE: usize = 4096;

    fn sample() -> (Geometry, Chw, std::vec::Vec<i16>, std::vec::Vec<u8>) {
        let g = Geometry::new(100, 40, PadMode::Zero, MAX_SIDE).unwrap();
        let d = g.latent();
        let chw = Chw { channels: 128, height: d.h, width: d.w };
        let v: std::vec::Vec<i16> = (0..128 * d.pixels()).map(|i| ((i * 7919) % 23) as i16 - 11).collect();
        let mut out = std::vec![0u8; file_bound(&g)];
        let n = write(0xfeed_f00d, &g, &chw, &v[..], &mut out).unwrap().file_len();
        out.truncate(n);
        (g, chw, v, out)
    }

    #[test]
    fn round_trip() {
        let (g, chw, v, file) = sample();
        let x = parse(&file, 0xfeed_f00d, MAX_SIDE).unwrap();
        assert_eq!(x.geometry, g);
        assert_eq!(x.header.file_len(), file.len());
        let mut back = std::vec![0i16; v.len()];
        x.decode(&chw, &mut back[..]).unwrap();
        assert_eq!(back, v);
    }

    /// Rewrite the CRC after an edit, as a crafted file would.
    fn recrc(f: &mut [u8]) {
        let end = f.len() - CRC_BYTES;
        let c = crc32(&f[..end]);
        f[end..].copy_from_slice(&c.to_le_bytes());
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let (_, chw, v, good) = sample();
        let p = |b: &[u8]| parse(b, 0xfeed_f00d, MAX_SIDE).map(|_| ());
        assert_eq!(p(&good[..20]), Err(XlcError::TooShort { len: 20 }));
        let mut b = good.clone();
        b[0] = b'Y';
        assert_eq!(p(&b), Err(XlcError::BadMagic));
        let mut b = good.clone();
        b[8] = 2;
        assert_eq!(p(&b), Err(XlcError::UnsupportedVersion { found: 2 }));
        assert!(matches!(p(&good[..good.len() - 1]), Err(XlcError::Length { .. })));
        let mut b = good.clone();
        b[40] ^= 4;
        assert!(matches!(p(&b), Err(XlcError::Crc { .. })));
        assert_eq!(parse(&good, 1, MAX_SIDE).map(|_| ()), Err(XlcError::ModelMismatch { file: 0xfeed_f00d, loaded: 1 }));
        let mut b = good.clone();
        b[16..18].copy_from_slice(&9000u16.to_le_bytes());
        recrc(&mut b);
        assert!(matches!(p(&b), Err(XlcError::Dimensions(GeometryError::TooLarge { .. }))));
        let mut b = good.clone();
        b[22..24].copy_from_slice(&7u16.to_le_bytes());
        recrc(&mut b);
        assert!(matches!(p(&b), Err(XlcError::LatentShape { .. })));
        let mut b = good.clone();
        b[10] = 9;
        recrc(&mut b);
        assert_eq!(p(&b), Err(XlcError::UnknownCoder { found: 9 }));
        // A payload that decodes to garbage: valid CRC, nonsense bins.
        let mut b = good.clone();
        for k in HEADER_BYTES..b.len() - CRC_BYTES {
            b[k] = (k * 37) as u8;
        }
        recrc(&mut b);
        let x = parse(&b, 0xfeed_f00d, MAX_SIDE).unwrap();
        let mut back = std::vec![0i16; v.len()];
        assert!(matches!(x.decode(&chw, &mut back[..]), Err(XlcError::Payload(_))));
    }

    #[test]
    fn a_buffer_too_small_is_an_error() {
        let (g, chw, v, file) = sample();
        let mut out = std::vec![0u8; file.len() - 1];
        assert!(matches!(write(0xfeed_f00d, &g, &chw, &v[..], &mut out), Err(XlcError::OutputTooSmall { .. })));
    }
}
