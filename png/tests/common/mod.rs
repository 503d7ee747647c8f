//! Building PNGs chunk by chunk, right or wrong on purpose.
#![allow(dead_code)]

pub fn crc(kind: &[u8], data: &[u8]) -> u32 {
    let mut c = xlic_model::crc32::Crc32::default();
    c.update(kind);
    c.update(data);
    c.finish()
}

pub fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    v.extend_from_slice(&crc(kind, data).to_be_bytes());
    v
}

pub fn ihdr(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut d = w.to_be_bytes().to_vec();
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[depth, color, 0, 0, 0]);
    d
}

/// A PNG of `chunks` after the signature.
pub fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut v = xlic_png::SIGNATURE.to_vec();
    for c in chunks {
        v.extend_from_slice(c);
    }
    v
}

/// Scanlines with filter byte 0 for an RGB image.
pub fn raw_rgb(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for y in 0..h {
        v.push(0);
        for x in 0..3 * w {
            v.push(((x * 7 + y * 13 + seed).wrapping_mul(2654435761) >> 24) as u8);
        }
    }
    v
}

pub fn zlib(raw: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(raw, 6)
}

/// An RGB PNG whose image data is `zdata` (split into IDATs of `split`).
pub fn rgb_png(w: u32, h: u32, zdata: &[u8], split: usize) -> Vec<u8> {
    let mut chunks = vec![chunk(b"IHDR", &ihdr(w, h, 8, 2))];
    for piece in zdata.chunks(split.max(1)) {
        chunks.push(chunk(b"IDAT", piece));
    }
    chunks.push(chunk(b"IEND", &[]));
    png(&chunks)
}

/// Rows of a synthetic photo-like RGB image.
pub struct Synthetic {
    pub w: u32,
    pub h: u32,
    pub seed: u32,
}

impl xlic_png::Rows for Synthetic {
    fn width(&self) -> u32 {
        self.w
    }
    fn height(&self) -> u32 {
        self.h
    }
    fn row(&self, y: u32, out: &mut [u8]) {
        for x in 0..self.w {
            for c in 0..3 {
                // Smooth gradients plus a little noise: filters matter.
                let noise = ((x * 31 + y * 17 + c * 7 + self.seed).wrapping_mul(2654435761) >> 29) as u32;
                out[(3 * x + c) as usize] = ((x * (c + 1) + y * (3 - c) + noise) / 3) as u8;
            }
        }
    }
}

impl Synthetic {
    pub fn pixels(&self) -> Vec<u8> {
        use xlic_png::Rows;
        let mut v = vec![0u8; (3 * self.w * self.h) as usize];
        for y in 0..self.h {
            self.row(y, &mut v[(3 * self.w * y) as usize..(3 * self.w * (y + 1)) as usize]);
        }
        v
    }
}
