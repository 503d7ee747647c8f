//! Which range coder the A53 runs: the project's binary coder
//! (xlic_model::rangecoder) against the `constriction` crate's range coder
//! (no_std + alloc), both coding the same adaptive bins with the same
//! probabilities. Built only with the `coder-compare` feature; `cargo
//! xtask bench --only entropy` runs this test under QEMU `-icount shift=0`
//! (one instruction per guest nanosecond) and prints the line it writes.
use crate::arch::aarch64::time::Instant;
use crate::println;
use alloc::vec::Vec;
use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};
use core::num::NonZeroU32;
use xlic_model::rangecoder::{AdaptiveBit, Decoder, Encoder};

/// Bins coded in the comparison.
const BINS: usize = 200_000;
/// Contexts the bins rotate through.
const CONTEXTS: usize = 16;

/// One binary distribution as constriction sees it: 16-bit fixed point.
#[derive(Clone, Copy)]
struct Binary(u32);

impl EntropyModel<16> for Binary {
    type Symbol = bool;
    type Probability = u32;
}

impl EncoderModel<16> for Binary {
    #[inline(always)]
    fn left_cumulative_and_probability(&self, symbol: impl core::borrow::Borrow<bool>) -> Option<(u32, NonZeroU32)> {
        if *symbol.borrow() {
            Some((self.0, NonZeroU32::new((1 << 16) - self.0)?))
        } else {
            Some((0, NonZeroU32::new(self.0)?))
        }
    }
}

impl DecoderModel<16> for Binary {
    #[inline(always)]
    fn quantile_function(&self, quantile: u32) -> (bool, u32, NonZeroU32) {
        if quantile < self.0 {
            (false, 0, NonZeroU32::new(self.0).unwrap())
        } else {
            (true, self.0, NonZeroU32::new((1 << 16) - self.0).unwrap())
        }
    }
}

/// Bins with latent-like statistics: mostly 0 in most contexts.
fn bins() -> Vec<u8> {
    let mut s = 0x2545_f491u32;
    (0..BINS)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let skew = 2 + (i % CONTEXTS) as u32;
            (s % (skew * 2) == 0) as u8
        })
        .collect()
}

/// Guest ns per bin for (project encode, project decode, constriction
/// encode, constriction decode), and the coded sizes.
pub fn measure() -> ([f64; 4], usize, usize) {
    let b = bins();
    let per = |t: Instant| t.elapsed().as_nanos() as f64 / BINS as f64;

    let mut out = alloc::vec![0u8; BINS];
    let t = Instant::now();
    let mut e = Encoder::new(&mut out);
    let mut ctx = [AdaptiveBit::NEW; CONTEXTS];
    for (i, &x) in b.iter().enumerate() {
        e.bit(&mut ctx[i % CONTEXTS], x as u32);
    }
    let n = e.finish().unwrap();
    let enc = per(t);
    let t = Instant::now();
    let mut d = Decoder::new(&out[..n]);
    let mut ctx = [AdaptiveBit::NEW; CONTEXTS];
    for (i, &x) in b.iter().enumerate() {
        assert_eq!(d.bit(&mut ctx[i % CONTEXTS]), x as u32);
    }
    let dec = per(t);

    let t = Instant::now();
    let mut ce = DefaultRangeEncoder::new();
    let mut ctx = [AdaptiveBit::NEW; CONTEXTS];
    for (i, &x) in b.iter().enumerate() {
        let p = &mut ctx[i % CONTEXTS];
        ce.encode_symbol(x != 0, Binary(p.p0())).unwrap();
        p.update(x as u32);
    }
    let words = ce.into_compressed().unwrap();
    let cenc = per(t);
    let t = Instant::now();
    let mut cd = DefaultRangeDecoder::from_compressed(&words[..]).unwrap();
    let mut ctx = [AdaptiveBit::NEW; CONTEXTS];
    for (i, &x) in b.iter().enumerate() {
        let p = &mut ctx[i % CONTEXTS];
        let got = cd.decode_symbol(Binary(p.p0())).unwrap();
        assert_eq!(got, x != 0);
        p.update(x as u32);
    }
    let cdec = per(t);
    ([enc, dec, cenc, cdec], n, words.len() * 4)
}

#[test_case]
fn constriction_against_the_project_coder() {
    let ([e, d, ce, cd], n, cn) = measure();
    println!();
    println!(
        "coder-compare: {BINS} adaptive bins; project coder encode {e:.1} decode {d:.1} ns/bin ({n} bytes); constriction encode {ce:.1} decode {cd:.1} ns/bin ({cn} bytes)"
    );
}
