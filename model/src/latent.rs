//! `latent.bin`: the rounded latent y_hat as a file (written by the host
//! codec and, later, by the firmware to the card).
//!
//! ```text
//!  0  magic "XLICLAT\0"
//!  8  u32 version (1)
//! 12  u32 channels (128)
//! 16  u32 height, u32 width   (ceil(H/16), ceil(W/16) of the coded image)
//! 24  channels * height * width INT16, little-endian, [c][y][x]
//! ```

pub const MAGIC: [u8; 8] = *b"XLICLAT\0";
pub const VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatentHeader {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatentError {
    TooShort,
    BadMagic,
    Version(u32),
    Length { expected: usize, actual: usize },
}

impl core::fmt::Display for LatentError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            LatentError::TooShort => write!(f, "latent file is shorter than its header"),
            LatentError::BadMagic => write!(f, "not a latent file (bad magic)"),
            LatentError::Version(v) => write!(f, "latent file version {v} is not supported (expected {VERSION})"),
            LatentError::Length { expected, actual } => write!(f, "latent file is {actual} bytes, its header says {expected}"),
        }
    }
}

impl LatentHeader {
    pub fn values(&self) -> usize {
        self.channels * self.height * self.width
    }
    pub fn file_len(&self) -> usize {
        HEADER_BYTES + 2 * self.values()
    }
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(self.channels as u32).to_le_bytes());
        b[16..20].copy_from_slice(&(self.height as u32).to_le_bytes());
        b[20..24].copy_from_slice(&(self.width as u32).to_le_bytes());
        b
    }
    /// Parse and check the header against the whole file's length.
    pub fn parse(file: &[u8]) -> Result<LatentHeader, LatentError> {
        if file.len() < HEADER_BYTES {
            return Err(LatentError::TooShort);
        }
        if file[..8] != MAGIC {
            return Err(LatentError::BadMagic);
        }
        let u = |o| crate::package::u32_at(file, o);
        if u(8) != VERSION {
            return Err(LatentError::Version(u(8)));
        }
        let h = LatentHeader { channels: u(12) as usize, height: u(16) as usize, width: u(20) as usize };
        let expected = h.channels.checked_mul(h.height).and_then(|v| v.checked_mul(h.width)).map(|v| HEADER_BYTES + 2 * v);
        if expected != Some(file.len()) {
            return Err(LatentError::Length { expected: expected.unwrap_or(usize::MAX), actual: file.len() });
        }
        Ok(h)
    }
}

/// Walk the latent in file order (`[c][y][x]`): `f(map, file)` for every
/// value, with its index in the map in DDR (`shape`, layout::FmShape) and
/// its index among the file's values. One statement of the reordering for
/// the firmware (writing and verifying) and the host (writing).
pub fn for_each_in_file_order(shape: &crate::layout::FmShape, mut f: impl FnMut(usize, usize)) {
    let mut file = 0;
    for c in 0..shape.channels {
        for y in 0..shape.dims.h {
            for x in 0..shape.dims.w {
                f(shape.index(c, y, x), file);
                file += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_length_check() {
        let h = LatentHeader { channels: 128, height: 19, width: 29 };
        let mut file = std::vec::Vec::from(h.encode());
        file.resize(h.file_len(), 0);
        assert_eq!(LatentHeader::parse(&file), Ok(h));
        assert_eq!(LatentHeader::parse(&file[..file.len() - 2]), Err(LatentError::Length { expected: h.file_len(), actual: h.file_len() - 2 }));
        file[0] = 0;
        assert_eq!(LatentHeader::parse(&file), Err(LatentError::BadMagic));
    }
}

impl core::error::Error for LatentError {}
