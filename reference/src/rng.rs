//! A seeded xorshift64* generator for test vectors and fuzz cases: small,
//! reproducible (the same seed gives the same cases on every machine), not
//! for anything that needs real randomness.
pub struct SeededRng(u64);

impl SeededRng {
    /// `seed` must not be zero.
    pub fn new(seed: u64) -> Self {
        assert!(seed != 0, "xorshift needs a non-zero seed");
        SeededRng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}
