//! A small binary range coder with adaptive probabilities: the arithmetic
//! of the `.XLC` payload ([`entropy`](crate::entropy) says what is coded,
//! model/BITSTREAM.md writes both down for people).
//!
//! - The coder keeps a 32-bit `range` and a 33-bit `low` (a carry goes back
//!   into the bytes already written, through a pending byte and a count
//!   of 0xff bytes behind it); it renormalises by whole bytes whenever
//!   `range < 2^24`.
//! - A context bin splits the range at `bound = (range >> 16) * p0`, where
//!   `p0` is the 16-bit probability of a 0: a 0 keeps `[low, low + bound)`,
//!   a 1 takes the rest. A bypass bin halves the range.
//! - Every probability adapts by counting ([`AdaptiveBit`]): after `n`
//!   observations it moves toward the coded bin by `1/(n + 2)`, so it is
//!   the Krichevsky-Trofimov estimate `(n0 + 1/2) / (n + 1)` while `n` is
//!   small, and an exponential window of about [`COUNT_LIMIT`] bins
//!   afterwards (counts "halved at a limit", without a division).
//!
//! Both sides are allocation-free and work on caller buffers. The encoder
//! never writes past its buffer (it reports [`Overflow`]); the decoder
//! never reads past its buffer (it reads zeros beyond the end and says
//! so), and it does a bounded amount of work per bin.

/// Probabilities are in 1/65536.
pub const PROB_BITS: u32 = 16;
const PROB_ONE: u32 = 1 << PROB_BITS;
/// Renormalise when the range falls below this.
const TOP: u32 = 1 << 24;
/// Observations after which a probability adapts at a fixed rate.
pub const COUNT_LIMIT: u8 = 60;

/// `65536 / (n + 2)` for n = 0..=COUNT_LIMIT: how far an estimate moves
/// toward the coded bin after n observations (256 entries, so that a u8
/// index needs no bounds check; n never passes COUNT_LIMIT).
const RATE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut n = 0;
    while n < 256 {
        let k = if n < COUNT_LIMIT as usize { n } else { COUNT_LIMIT as usize };
        t[n] = ((PROB_ONE + (k as u32 + 2) / 2) / (k as u32 + 2)) as u16;
        n += 1;
    }
    t
};

/// One adaptive binary probability: `p0` is the chance of a 0 in 1/65536,
/// always within 1..=65535 (a move is at most half the distance to 0 or
/// 65536, rounded down, so neither end is reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveBit {
    p0: u16,
    n: u8,
}

impl Default for AdaptiveBit {
    fn default() -> Self {
        Self::NEW
    }
}

impl AdaptiveBit {
    /// Even odds, nothing seen yet.
    pub const NEW: AdaptiveBit = AdaptiveBit { p0: 1 << (PROB_BITS - 1), n: 0 };

    /// Chance of a 0, in 1/65536.
    #[inline(always)]
    pub fn p0(self) -> u32 {
        self.p0 as u32
    }

    /// Move the estimate toward `bit` (the coders call this after each
    /// bin; public for coders built on other range coders).
    #[inline(always)]
    pub fn update(&mut self, bit: u32) {
        let rate = RATE[self.n as usize] as u32;
        let p = self.p0 as u32;
        self.p0 = if bit == 0 { p + (((PROB_ONE - p) * rate) >> PROB_BITS) } else { p - ((p * rate) >> PROB_BITS) } as u16;
        self.n += (self.n < COUNT_LIMIT) as u8;
    }
}

/// The encoder's output buffer was too small; nothing usable was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

/// Range encoder writing into a caller buffer.
pub struct Encoder<'a> {
    out: &'a mut [u8],
    pos: usize,
    low: u64,
    range: u32,
    /// The byte that a carry may still increment, and how many 0xff
    /// bytes follow it (they become 0x00 on a carry).
    cache: u8,
    pending: u64,
    /// The very first pending byte is always 0 and is not written.
    started: bool,
    overflow: bool,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut [u8]) -> Self {
        Encoder { out, pos: 0, low: 0, range: u32::MAX, cache: 0, pending: 0, started: false, overflow: false }
    }

    #[inline(always)]
    fn put(&mut self, b: u8) {
        match self.out.get_mut(self.pos) {
            Some(slot) => *slot = b,
            None => self.overflow = true,
        }
        // Counted even past the end, so the length needed is known.
        self.pos += 1;
    }

    #[inline(always)]
    fn shift_low(&mut self) {
        if self.low < 0xff00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            if self.started {
                self.put(self.cache.wrapping_add(carry));
            }
            self.started = true;
            while self.pending > 0 {
                self.put(0xffu8.wrapping_add(carry));
                self.pending -= 1;
            }
            self.cache = (self.low >> 24) as u8;
        } else {
            self.pending += 1;
        }
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    #[inline(always)]
    fn normalise(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Code `bit` (0 or 1) with `p`, and adapt `p`.
    #[inline(always)]
    pub fn bit(&mut self, p: &mut AdaptiveBit, bit: u32) {
        let bound = (self.range >> PROB_BITS) * p.p0();
        if bit == 0 {
            self.range = bound;
        } else {
            self.low += bound as u64;
            self.range -= bound;
        }
        p.update(bit);
        self.normalise();
    }

    /// Code `bit` at even odds (no context).
    #[inline(always)]
    pub fn bypass(&mut self, bit: u32) {
        self.range >>= 1;
        if bit != 0 {
            self.low += self.range as u64;
        }
        self.normalise();
    }

    /// Bytes written so far (or that would have been, on overflow).
    pub fn len(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Write out the state; returns the length of the coded bytes.
    pub fn finish(mut self) -> Result<usize, Overflow> {
        for _ in 0..5 {
            self.shift_low();
        }
        if self.overflow {
            Err(Overflow)
        } else {
            Ok(self.pos)
        }
    }
}

/// Range decoder over a byte slice. Reading beyond the slice yields zero
/// bytes and is counted: [`Decoder::overrun`] tells whether the coded data
/// were shorter than the symbols asked for.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    code: u32,
    range: u32,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        let mut d = Decoder { buf, pos: 0, code: 0, range: u32::MAX };
        for _ in 0..4 {
            d.code = (d.code << 8) | d.next_byte() as u32;
        }
        d
    }

    #[inline(always)]
    fn next_byte(&mut self) -> u8 {
        let b = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    #[inline(always)]
    fn normalise(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte() as u32;
        }
    }

    /// Decode one bin with `p`, and adapt `p`.
    #[inline(always)]
    pub fn bit(&mut self, p: &mut AdaptiveBit) -> u32 {
        let bound = (self.range >> PROB_BITS) * p.p0();
        let bit = if self.code < bound {
            self.range = bound;
            0
        } else {
            self.code -= bound;
            self.range -= bound;
            1
        };
        p.update(bit);
        self.normalise();
        bit
    }

    /// Decode one even-odds bin.
    #[inline(always)]
    pub fn bypass(&mut self) -> u32 {
        self.range >>= 1;
        let bit = if self.code >= self.range {
            self.code -= self.range;
            1
        } else {
            0
        };
        self.normalise();
        bit
    }

    /// Whether more bytes were needed than the buffer holds.
    pub fn overrun(&self) -> bool {
        self.pos > self.buf.len()
    }

    /// Bytes consumed, counting the 4 the decoder reads ahead. After the
    /// last symbol of a stream the encoder finished, this is at most the
    /// stream's length.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed pseudo-random bit source with a skew.
    fn bits(n: usize, seed: u64, one_in: u64) -> std::vec::Vec<u32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % one_in == 0) as u32
            })
            .collect()
    }

    #[test]
    fn round_trip_context_and_bypass_bins() {
        for (seed, one_in) in [(1u64, 2u64), (7, 3), (99, 50), (5, 1000), (3, 1)] {
            let b = bits(20000, seed, one_in);
            let mut buf = std::vec![0u8; 8000];
            let mut e = Encoder::new(&mut buf);
            let mut ctx = [AdaptiveBit::NEW; 4];
            for (i, &x) in b.iter().enumerate() {
                if i % 7 == 3 {
                    e.bypass(x);
                } else {
                    e.bit(&mut ctx[i % 4], x);
                }
            }
            let n = e.finish().unwrap();
            let mut d = Decoder::new(&buf[..n]);
            let mut ctx = [AdaptiveBit::NEW; 4];
            for (i, &x) in b.iter().enumerate() {
                let got = if i % 7 == 3 { d.bypass() } else { d.bit(&mut ctx[i % 4]) };
                assert_eq!(got, x, "bin {i} (seed {seed})");
            }
            assert!(!d.overrun());
            assert!(d.consumed() <= n);
        }
    }

    #[test]
    fn skewed_bins_cost_close_to_their_entropy() {
        // 1 in 50 ones: H = 0.1414 bits per bin.
        let b = bits(200_000, 11, 50);
        let ones = b.iter().filter(|&&x| x == 1).count() as f64;
        let p = ones / b.len() as f64;
        let h = -(p * p.log2() + (1.0 - p) * (1.0 - p).log2()) * b.len() as f64 / 8.0;
        let mut buf = std::vec![0u8; 20000];
        let mut e = Encoder::new(&mut buf);
        let mut ctx = AdaptiveBit::NEW;
        for &x in &b {
            e.bit(&mut ctx, x);
        }
        let n = e.finish().unwrap() as f64;
        // Past COUNT_LIMIT the estimate is an exponential average with
        // rate a = 1/62, whose noise costs about a / (4 ln 2) = 0.0058
        // bits per bin over the entropy (0.1414 bits): 4.1 %, plus the
        // learning at the start.
        assert!(n < h * 1.06, "{n} bytes for an entropy of {h:.0}");
    }

    #[test]
    fn carries_propagate_through_runs_of_ff() {
        // Long runs of very likely bins leave `low` near the top of its
        // window, where carries ripple through pending 0xff bytes.
        let mut b = std::vec::Vec::new();
        for k in 0..3000u32 {
            b.extend(core::iter::repeat(1).take(40));
            b.push(k % 2);
        }
        let mut buf = std::vec![0u8; 8000];
        let mut e = Encoder::new(&mut buf);
        let mut ctx = AdaptiveBit::NEW;
        for &x in &b {
            e.bit(&mut ctx, x);
        }
        let n = e.finish().unwrap();
        let mut d = Decoder::new(&buf[..n]);
        let mut ctx = AdaptiveBit::NEW;
        for (i, &x) in b.iter().enumerate() {
            assert_eq!(d.bit(&mut ctx), x, "bin {i}");
        }
    }

    #[test]
    fn probabilities_stay_inside_the_open_interval() {
        let mut p = AdaptiveBit::NEW;
        for _ in 0..100_000 {
            p.update(0);
        }
        assert!(p.p0() >= 65000 && p.p0() <= 65535, "{}", p.p0());
        for _ in 0..100_000 {
            p.update(1);
        }
        assert!(p.p0() >= 1 && p.p0() < 500, "{}", p.p0());
    }

    #[test]
    fn a_small_buffer_is_an_overflow_not_a_panic() {
        let mut buf = [0u8; 3];
        let mut e = Encoder::new(&mut buf);
        for i in 0..1000 {
            e.bypass(i & 1);
        }
        assert_eq!(e.finish(), Err(Overflow));
    }

    #[test]
    fn decoding_past_the_end_reads_zeros_and_says_so() {
        let mut d = Decoder::new(&[0x12, 0x34]);
        let mut p = AdaptiveBit::NEW;
        for _ in 0..100 {
            d.bit(&mut p);
        }
        assert!(d.overrun());
    }
}
