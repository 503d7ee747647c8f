//! A feature map as a file (the console's `dump`, and reference files the
//! host writes for `verify`): the map exactly as it sits in DDR.
//!
//! ```text
//!  0  magic "XLICFM\0\0"
//!  8  u32 version (1)
//! 12  u32 layer index whose output this is (0 = ana_0 ... 9 = syn_2)
//! 16  u32 channels, u32 height, u32 width, u32 lanes
//! 32  the map, INT16 little-endian, [y][C/lanes][x][lanes] (layout::FmShape)
//! ```
use crate::geometry::Dims;
use crate::layer::Layer;
use crate::layout::FmShape;

pub const MAGIC: [u8; 8] = *b"XLICFM\0\0";
pub const VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FmHeader {
    pub layer: Layer,
    pub shape: FmShape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmFileError {
    TooShort,
    BadMagic,
    Version(u32),
    Layer(u32),
    Length { expected: usize, actual: usize },
}

impl core::fmt::Display for FmFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            FmFileError::TooShort => write!(f, "feature-map file is shorter than its header"),
            FmFileError::BadMagic => write!(f, "not a feature-map file (bad magic)"),
            FmFileError::Version(v) => write!(f, "feature-map file version {v} is not supported (expected {VERSION})"),
            FmFileError::Layer(i) => write!(f, "feature-map file names layer {i}; there are 10 (0..9)"),
            FmFileError::Length { expected, actual } => write!(f, "feature-map file is {actual} bytes, its header says {expected}"),
        }
    }
}

impl FmHeader {
    pub fn file_len(&self) -> usize {
        HEADER_BYTES + self.shape.bytes()
    }
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[..8].copy_from_slice(&MAGIC);
        let words = [VERSION, self.layer.index() as u32, self.shape.channels as u32, self.shape.dims.h as u32, self.shape.dims.w as u32, self.shape.lanes as u32];
        for (i, w) in words.iter().enumerate() {
            b[8 + 4 * i..12 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
    /// Parse and check the header against the whole file's length.
    pub fn parse(file: &[u8]) -> Result<FmHeader, FmFileError> {
        if file.len() < HEADER_BYTES {
            return Err(FmFileError::TooShort);
        }
        if file[..8] != MAGIC {
            return Err(FmFileError::BadMagic);
        }
        let u = |o| crate::package::u32_at(file, o);
        if u(8) != VERSION {
            return Err(FmFileError::Version(u(8)));
        }
        let layer = *Layer::ALL.get(u(12) as usize).ok_or(FmFileError::Layer(u(12)))?;
        let (c, h, w, lanes) = (u(16) as usize, u(20) as usize, u(24) as usize, u(28) as usize);
        let bytes = c.checked_add(lanes.max(1) - 1).map(|c| c / lanes.max(1) * lanes.max(1)).and_then(|c| c.checked_mul(h)?.checked_mul(w)?.checked_mul(2));
        let expected = bytes.and_then(|b| b.checked_add(HEADER_BYTES));
        if lanes == 0 || expected != Some(file.len()) {
            return Err(FmFileError::Length { expected: expected.unwrap_or(usize::MAX), actual: file.len() });
        }
        Ok(FmHeader { layer, shape: FmShape::new(c, Dims::new(h, w), lanes) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_checks_length() {
        let h = FmHeader { layer: Layer::Gdn1, shape: FmShape::new(128, Dims::new(5, 7), 8) };
        let mut file = h.encode().to_vec();
        file.resize(h.file_len(), 0);
        assert_eq!(FmHeader::parse(&file), Ok(h));
        assert_eq!(FmHeader::parse(&file[..file.len() - 2]), Err(FmFileError::Length { expected: file.len(), actual: file.len() - 2 }));
        file[12] = 10;
        assert_eq!(FmHeader::parse(&file), Err(FmFileError::Layer(10)));
        file[0] = b'Y';
        assert_eq!(FmHeader::parse(&file), Err(FmFileError::BadMagic));
    }
}
