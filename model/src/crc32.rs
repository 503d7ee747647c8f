//! CRC-32 (IEEE 802.3, reflected, as zlib and PNG use) of package sections.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// Incremental CRC-32.
#[derive(Clone, Copy, Debug)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(0xffff_ffff)
    }
}

impl Crc32 {
    pub fn update(&mut self, bytes: &[u8]) {
        #[cfg(all(target_arch = "aarch64", target_feature = "crc"))]
        {
            self.0 = update_armv8(self.0, bytes);
        }
        #[cfg(not(all(target_arch = "aarch64", target_feature = "crc")))]
        {
            self.0 = update_table(self.0, bytes);
        }
    }
    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// Byte by byte through the table.
#[cfg_attr(all(target_arch = "aarch64", target_feature = "crc"), allow(dead_code))]
fn update_table(mut c: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// With the ARMv8 CRC32 instructions (the same polynomial; the firmware
/// builds with `+crc`, which every ZynqMP Cortex-A53 implements): eight
/// bytes per `crc32x` instead of a table lookup per byte.
#[cfg(all(target_arch = "aarch64", target_feature = "crc"))]
fn update_armv8(mut c: u32, bytes: &[u8]) -> u32 {
    use core::arch::aarch64::{__crc32b, __crc32d};
    // SAFETY: every bit pattern is a valid u64; `align_to` only splits the
    // slice where 8-byte alignment starts and ends. The intrinsics need the
    // `crc` feature, which this function is compiled only with (cfg).
    unsafe {
        let (head, words, tail) = bytes.align_to::<u64>();
        for &b in head {
            c = __crc32b(c, b);
        }
        for &w in words {
            // Little-endian: the word's first byte is the stream's first.
            c = __crc32d(c, w);
        }
        for &b in tail {
            c = __crc32b(c, b);
        }
    }
    c
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::default();
    c.update(bytes);
    c.finish()
}

/// The change a CRC-32 register undergoes over `len` zero bytes, as a
/// GF(2) matrix (zlib's `crc32_combine` method: the matrix of one zero bit,
/// squared up to the length's bits). Built once per length, it combines
/// pieces of that length with 32 operations each.
#[derive(Clone, Copy, Debug)]
pub struct ZeroShift([u32; 32]);

fn times(mat: &[u32; 32], mut v: u32) -> u32 {
    let (mut sum, mut i) = (0, 0);
    while v != 0 {
        if v & 1 != 0 {
            sum ^= mat[i];
        }
        v >>= 1;
        i += 1;
    }
    sum
}

fn square(mat: &[u32; 32]) -> [u32; 32] {
    core::array::from_fn(|n| times(mat, mat[n]))
}

impl ZeroShift {
    pub fn new(len: u64) -> ZeroShift {
        // One zero bit: shift, and the polynomial when the low bit falls out.
        let mut op: [u32; 32] = core::array::from_fn(|n| if n == 0 { 0xedb8_8320 } else { 1 << (n - 1) });
        for _ in 0..3 {
            op = square(&op); // 2, 4, then 8 bits: one zero byte
        }
        let mut total: [u32; 32] = core::array::from_fn(|n| 1 << n); // identity
        let mut len = len;
        while len != 0 {
            if len & 1 != 0 {
                total = core::array::from_fn(|n| times(&op, total[n]));
            }
            len >>= 1;
            if len != 0 {
                op = square(&op);
            }
        }
        ZeroShift(total)
    }

    /// The CRC-32 of `a` followed by `b` (of this length), from `crc32(a)`
    /// and `crc32(b)`.
    pub fn combine(&self, crc_a: u32, crc_b: u32) -> u32 {
        times(&self.0, crc_a) ^ crc_b
    }
}

/// The CRC-32 of `a` followed by `b`, from `crc32(a)`, `crc32(b)` and
/// `b`'s length, so pieces checksummed on different cores give the
/// checksum of the whole.
pub fn combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    ZeroShift::new(len_b).combine(crc_a, crc_b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn combining_pieces_gives_the_checksum_of_the_whole() {
        let data: std::vec::Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for cut in [0, 1, 7, 100, 2048, 4999, 5000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(super::combine(super::crc32(a), super::crc32(b), b.len() as u64), super::crc32(&data), "cut at {cut}");
        }
    }

    /// The standard check value of CRC-32/ISO-HDLC: crc("123456789").
    #[test]
    fn check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(super::crc32(b""), 0);
    }
}
