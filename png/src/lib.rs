//! PNG for the X-LIC firmware (PNG specification, 3rd edition; zlib RFC
//! 1950; deflate RFC 1951).
//!
//! [`decode`] checks every chunk's CRC, the zlib header and Adler-32, and
//! requires the image data to inflate to exactly the bytes the IHDR
//! implies, no more and no fewer; its errors say what is wrong in the
//! words of the PNG format. Inflating is miniz_oxide's.
//!
//! [`encode`] is streamed: rows in, IDAT chunks out through a sink, in
//! memory that does not grow with the image. Rows go in blocks, each
//! compressed as an independent deflate segment (no back-reference before
//! the block; the filter of its first row reads the row above from the
//! source), ended with a sync flush and joined with the Adler-32s combined.
//! So blocks can be compressed on several cores at once and joined in
//! order: see [`encode::BlockEncoder`] and [`encode::PngWriter`].
#![cfg_attr(not(test), no_std)]
extern crate alloc;

pub mod adler;
pub mod decode;
pub mod encode;

pub use decode::{decode_into, read_header, ColorType, Decoded, Header, PngError};
pub use encode::{encode, BlockEncoder, Filter, Options, PngWriter, Rows, Segment, Summary};

/// The 8-byte PNG signature.
pub const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The Paeth predictor (PNG 9.4): the neighbour (left a, above b, upper
/// left c) nearest to a + b - c, ties going to a, then b.
pub(crate) fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = a as i16 + b as i16 - c as i16;
    let (pa, pb, pc) = ((p - a as i16).abs(), (p - b as i16).abs(), (p - c as i16).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
