//! Adler-32 (RFC 1950 section 8.2) and zlib's `adler32_combine`, which
//! joins the checksums of consecutive pieces without their bytes.

const BASE: u32 = 65521;
/// Largest n with 255 n (n + 1) / 2 + (n + 1) (BASE - 1) < 2^32 (zlib's NMAX).
const NMAX: usize = 5552;

/// Adler-32 of `data` continued from `adler` (1 for a fresh checksum).
pub fn update(adler: u32, data: &[u8]) -> u32 {
    let (mut a, mut b) = (adler & 0xffff, adler >> 16);
    for chunk in data.chunks(NMAX) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= BASE;
        b %= BASE;
    }
    b << 16 | a
}

pub fn adler32(data: &[u8]) -> u32 {
    update(1, data)
}

/// The Adler-32 of A followed by B, from adler(A), adler(B) and B's length
/// (zlib `adler32_combine`).
pub fn combine(adler_a: u32, adler_b: u32, len_b: u64) -> u32 {
    let rem = (len_b % BASE as u64) as u32;
    let mut sum1 = adler_a & 0xffff;
    let mut sum2 = ((rem as u64 * sum1 as u64) % BASE as u64) as u32;
    sum1 += (adler_b & 0xffff) + BASE - 1;
    sum2 += (adler_a >> 16) + (adler_b >> 16) + BASE - rem;
    if sum1 >= BASE {
        sum1 -= BASE;
    }
    if sum1 >= BASE {
        sum1 -= BASE;
    }
    if sum2 >= BASE << 1 {
        sum2 -= BASE << 1;
    }
    if sum2 >= BASE {
        sum2 -= BASE;
    }
    sum2 << 16 | sum1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // RFC 1950's definition by hand for "Wikipedia": 0x11E60398.
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(b""), 1);
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + x as u64) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&big), (b << 16 | a) as u32);
    }

    #[test]
    fn combine_equals_the_checksum_of_the_whole() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for cut in [0, 1, 5551, 5552, 65521, 65522, 131_042, 199_999, 200_000] {
            let (x, y) = data.split_at(cut);
            assert_eq!(combine(adler32(x), adler32(y), y.len() as u64), adler32(&data), "cut at {cut}");
        }
    }
}
