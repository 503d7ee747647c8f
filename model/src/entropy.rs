//! The entropy model of the latent: how each value of y_hat becomes bins,
//! which adaptive probability codes each bin, and in what order. Shared by
//! the firmware (on the A53) and the host, so both write the same bytes;
//! model/BITSTREAM.md says the same for people.
//!
//! **Order**: channel by channel (0..128); for each channel first its
//! offset, then its values row by row, each row left to right (the file
//! order of the latent, [c][y][x]).
//!
//! **Offset**: the channel's median, clipped to +-[`OFFSET_LIMIT`]. A few
//! channels of bls2017 sit far from zero (one carries the image's
//! brightness); coding `r = v - offset` keeps the binarization below
//! centred on every channel. Coded as a flag (one shared adaptive
//! probability), then sign and `|offset| - 1` in order-0 Exp-Golomb, both
//! in bypass bins.
//!
//! **Binarization** of a residual r:
//! 1. `zero`: 1 if r != 0;
//! 2. `sign`: 1 if r < 0;
//! 3. `gt k` for k = 1..=15 while the previous said "more": 1 if |r| > k;
//! 4. for |r| >= 16, `u = |r| - 16` as an order-k Exp-Golomb code in
//!    bypass bins, k following the running mean of the channel's escapes
//!    ([`EscapeOrder`]; k = 0 at the start of every channel).
//!
//! **Contexts**: every channel has its own probabilities, fresh at its
//! start. The class of a value comes from its already coded neighbours in
//! the same channel, `a = min(|left|, 15) + min(|top|, 15)` of their
//! residuals (0 outside the latent), through [`CLASS`] (0, 1, 2-3, 4-6,
//! 7+); the zero flag and each `gt k` bin have one probability per class.
//! The sign has one per sign class: `sign(left) + sign(top)` negative,
//! zero, or positive.
//!
//! The coder and the adaptation of the probabilities are
//! [`rangecoder`](crate::rangecoder).
use crate::rangecoder::{AdaptiveBit, Decoder, Encoder, Overflow};

/// Unary bins before the Exp-Golomb escape.
pub const GT_BINS: usize = 15;
/// Context classes of the magnitude bins.
pub const CLASSES: usize = 5;
/// Context classes of the sign.
pub const SIGN_CLASSES: usize = 3;
/// Neighbour magnitudes are clipped to this before they are added.
const NEIGHBOUR_CAP: u32 = 15;
/// Widest latent row (a side of 4096 pixels / 16); rows are coded with a
/// fixed buffer of the previous row's magnitudes.
pub const MAX_LATENT_WIDTH: usize = 256;

/// Class of the neighbour sum `a` (0..=30; 32 entries so that a masked
/// index needs no bounds check).
pub const CLASS: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut a = 0;
    while a < t.len() {
        t[a] = match a {
            0 => 0,
            1 => 1,
            2..=3 => 2,
            4..=6 => 3,
            _ => 4,
        };
        a += 1;
    }
    t
};

/// The probabilities of one channel.
#[derive(Clone, Copy)]
pub struct ChannelContexts {
    zero: [AdaptiveBit; CLASSES],
    sign: [AdaptiveBit; SIGN_CLASSES],
    gt: [[AdaptiveBit; GT_BINS]; CLASSES],
}

impl ChannelContexts {
    pub const NEW: ChannelContexts =
        ChannelContexts { zero: [AdaptiveBit::NEW; CLASSES], sign: [AdaptiveBit::NEW; SIGN_CLASSES], gt: [[AdaptiveBit::NEW; GT_BINS]; CLASSES] };
}

/// Where the latent's values are, in coding order: `index(c, y, x)` into
/// whatever holds them (the map in DDR, or a `[c][y][x]` array).
pub trait LatentLayout {
    fn channels(&self) -> usize;
    fn height(&self) -> usize;
    fn width(&self) -> usize;
    /// Index of (c, y, 0); the row's values follow at [`Self::x_step`].
    fn row_start(&self, c: usize, y: usize) -> usize;
    fn x_step(&self) -> usize;
}

impl LatentLayout for crate::layout::FmShape {
    fn channels(&self) -> usize {
        self.channels
    }
    fn height(&self) -> usize {
        self.dims.h
    }
    fn width(&self) -> usize {
        self.dims.w
    }
    fn row_start(&self, c: usize, y: usize) -> usize {
        self.index(c, y, 0)
    }
    fn x_step(&self) -> usize {
        self.lanes
    }
}

/// A `[c][y][x]` array (the latent file's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chw {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl LatentLayout for Chw {
    fn channels(&self) -> usize {
        self.channels
    }
    fn height(&self) -> usize {
        self.height
    }
    fn width(&self) -> usize {
        self.width
    }
    fn row_start(&self, c: usize, y: usize) -> usize {
        (c * self.height + y) * self.width
    }
    fn x_step(&self) -> usize {
        1
    }
}

/// Read access to INT16 values by rows: a slice, or little-endian bytes
/// in DDR.
pub trait Values {
    /// How many values there are (the coder checks that the layout's
    /// every index lies below it).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `out.len()` values from index `start` on, `step` apart.
    fn read_row(&self, start: usize, step: usize, out: &mut [i32]);
}

/// Write access to INT16 values by rows.
pub trait ValuesMut {
    /// How many values there are (as [`Values::len`]).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `row` to the indices `start`, `start + step`, ... (each value is
    /// INT16: the decoder checks before it writes).
    fn write_row(&mut self, start: usize, step: usize, row: &[i32]);
}

impl Values for [i16] {
    fn len(&self) -> usize {
        <[i16]>::len(self)
    }
    #[inline(always)]
    fn read_row(&self, start: usize, step: usize, out: &mut [i32]) {
        for (o, &v) in out.iter_mut().zip(self[start..].iter().step_by(step)) {
            *o = v as i32;
        }
    }
}

impl ValuesMut for [i16] {
    fn len(&self) -> usize {
        <[i16]>::len(self)
    }
    #[inline(always)]
    fn write_row(&mut self, start: usize, step: usize, row: &[i32]) {
        for (v, &r) in self[start..].iter_mut().step_by(step).zip(row) {
            *v = r as i16;
        }
    }
}

/// INT16 little-endian in bytes (a map in DDR as the accelerator wrote it).
pub struct LeBytes<'a>(pub &'a [u8]);
pub struct LeBytesMut<'a>(pub &'a mut [u8]);

impl Values for LeBytes<'_> {
    fn len(&self) -> usize {
        self.0.len() / 2
    }
    #[inline(always)]
    fn read_row(&self, start: usize, step: usize, out: &mut [i32]) {
        for (o, b) in out.iter_mut().zip(self.0[2 * start..].chunks_exact(2).step_by(step)) {
            *o = i16::from_le_bytes([b[0], b[1]]) as i32;
        }
    }
}

impl ValuesMut for LeBytesMut<'_> {
    fn len(&self) -> usize {
        self.0.len() / 2
    }
    #[inline(always)]
    fn write_row(&mut self, start: usize, step: usize, row: &[i32]) {
        for (b, &r) in self.0[2 * start..].chunks_exact_mut(2).step_by(step).zip(row) {
            b.copy_from_slice(&(r as i16).to_le_bytes());
        }
    }
}

/// Why a latent could not be coded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyError {
    /// The output buffer is too small (encoding).
    Overflow,
    /// The latent is wider than [`MAX_LATENT_WIDTH`] or its layout does
    /// not fit the buffer.
    Shape,
    /// The payload's channel offset is not one the format allows.
    BadOffset { channel: usize },
    /// The payload decoded to a value outside INT16 (or an escape longer
    /// than any INT16 needs).
    OutOfRange { channel: usize, y: usize, x: usize },
    /// The payload ended before the last value.
    Truncated,
    /// The payload holds more bytes than its values used.
    TrailingBytes { used: usize, len: usize },
}

impl core::fmt::Display for EntropyError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            EntropyError::Overflow => write!(f, "the coded latent does not fit its output buffer"),
            EntropyError::Shape => write!(f, "latent shape does not fit the coder (width at most {MAX_LATENT_WIDTH}) or its buffer"),
            EntropyError::BadOffset { channel } => write!(f, "payload is corrupt: impossible offset of channel {channel}"),
            EntropyError::OutOfRange { channel, y, x } => {
                write!(f, "payload is corrupt: value outside INT16 at channel {channel} y {y} x {x}")
            }
            EntropyError::Truncated => write!(f, "payload is corrupt or truncated: it ends before the last latent value"),
            EntropyError::TrailingBytes { used, len } => {
                write!(f, "payload is corrupt: its values use {used} bytes but it holds {len}")
            }
        }
    }
}

impl core::error::Error for EntropyError {}

impl From<Overflow> for EntropyError {
    fn from(_: Overflow) -> Self {
        EntropyError::Overflow
    }
}

/// An upper bound of the payload's length for `values` latent values: at
/// most 17 context bins of at most 24 bits each and 33 bypass bins per
/// value, the channel offsets, and the coder's flush.
pub const fn payload_bound(values: usize) -> usize {
    values * 56 + 16 * MAX_CHANNELS + 16
}

/// Channels a latent may have (the offsets' share of [`payload_bound`]).
const MAX_CHANNELS: usize = crate::layer::FILTERS;

/// Largest channel offset (the median is clipped to it).
pub const OFFSET_LIMIT: i32 = 256;
/// Largest coded magnitude: |v - offset| for v in INT16.
const MAX_MAGNITUDE: u32 = 32768 + OFFSET_LIMIT as u32;
/// Largest Exp-Golomb order of the escape.
pub const MAX_ESCAPE_ORDER: u32 = 15;
/// Widest escape: `t = u + 2^k` of a valid magnitude (u < 2^16, k <= 15)
/// is below 2^17, so `floor(log2 t)` is at most 16. A decoder refuses
/// more (it would describe no INT16 value, and t would overflow).
pub const MAX_ESCAPE_BITS: u32 = 16;

/// Probabilities shared by all channels.
#[derive(Clone, Copy)]
struct SharedContexts {
    offset: AdaptiveBit,
}

impl SharedContexts {
    const NEW: SharedContexts = SharedContexts { offset: AdaptiveBit::NEW };
}

/// The Exp-Golomb order of a channel's escapes follows their running
/// mean: `sum` is about 16 times the mean of `|r| - 16`.
#[derive(Clone, Copy)]
struct EscapeOrder {
    sum: u32,
}

impl EscapeOrder {
    const NEW: EscapeOrder = EscapeOrder { sum: 0 };
    #[inline(always)]
    fn order(self) -> u32 {
        ((self.sum >> 4) + 1).ilog2().min(MAX_ESCAPE_ORDER)
    }
    #[inline(always)]
    fn update(&mut self, u: u32) {
        self.sum = self.sum + u - (self.sum >> 4);
    }
}

#[inline(always)]
fn sign_class(left: i32, top: i32) -> usize {
    match left.signum() + top.signum() {
        i32::MIN..=-1 => 0,
        0 => 1,
        _ => 2,
    }
}

/// The magnitude a neighbour contributes to the class.
#[inline(always)]
fn capped(v: i32) -> u32 {
    v.unsigned_abs().min(NEIGHBOUR_CAP)
}

fn check_shape(layout: &impl LatentLayout, len: usize) -> Result<(), EntropyError> {
    let (c, h, w) = (layout.channels(), layout.height(), layout.width());
    if w > MAX_LATENT_WIDTH || c > MAX_CHANNELS {
        return Err(EntropyError::Shape);
    }
    if c == 0 || h == 0 || w == 0 {
        return Ok(());
    }
    let last = layout.row_start(c - 1, h - 1) + (w - 1) * layout.x_step();
    if last >= len {
        return Err(EntropyError::Shape);
    }
    Ok(())
}

/// Values counted by the median's histogram: -OFFSET_LIMIT..OFFSET_LIMIT.
const HISTOGRAM: usize = 2 * OFFSET_LIMIT as usize + 1;

/// The encoder's offset of channel `c`: the (lower) median of a quarter
/// of its values (even rows, even columns), clipped to +-OFFSET_LIMIT. Any
/// offset decodes; this one is cheap and centres the channels that sit
/// away from zero.
fn channel_offset<L: LatentLayout, V: Values + ?Sized>(layout: &L, values: &V, c: usize, row: &mut [i32], hist: &mut [u32; HISTOGRAM]) -> i32 {
    hist.fill(0);
    let (h, w, step) = (layout.height(), layout.width(), layout.x_step());
    let mut n = 0;
    for y in (0..h).step_by(2) {
        values.read_row(layout.row_start(c, y), step, &mut row[..w]);
        for &v in row[..w].iter().step_by(2) {
            hist[(v.clamp(-OFFSET_LIMIT, OFFSET_LIMIT) + OFFSET_LIMIT) as usize] += 1;
            n += 1;
        }
    }
    let half = (n as u32).div_ceil(2);
    let mut seen = 0;
    for (k, &count) in hist.iter().enumerate() {
        seen += count;
        if seen >= half {
            return k as i32 - OFFSET_LIMIT;
        }
    }
    0
}

/// Order-k Exp-Golomb in bypass bins: `t = u + 2^k` has `k + p + 1`
/// bits; p ones, a zero, then the low `k + p` bits of t, high first.
#[inline(always)]
fn encode_exp_golomb(e: &mut Encoder, u: u32, k: u32) {
    let t = u + (1 << k);
    let bits = t.ilog2();
    for _ in k..bits {
        e.bypass(1);
    }
    e.bypass(0);
    for b in (0..bits).rev() {
        e.bypass((t >> b) & 1);
    }
}

#[inline(always)]
fn decode_exp_golomb(d: &mut Decoder, k: u32) -> Option<u32> {
    let mut bits = k;
    while d.bypass() == 1 {
        bits += 1;
        if bits > MAX_ESCAPE_BITS {
            return None;
        }
    }
    let mut t = 1u32;
    for _ in 0..bits {
        t = (t << 1) | d.bypass();
    }
    Some(t - (1 << k))
}

#[inline(always)]
fn encode_offset(e: &mut Encoder, shared: &mut SharedContexts, offset: i32) {
    e.bit(&mut shared.offset, (offset != 0) as u32);
    if offset != 0 {
        e.bypass((offset < 0) as u32);
        encode_exp_golomb(e, offset.unsigned_abs() - 1, 0);
    }
}

#[inline(always)]
fn decode_offset(d: &mut Decoder, shared: &mut SharedContexts) -> Option<i32> {
    if d.bit(&mut shared.offset) == 0 {
        return Some(0);
    }
    let negative = d.bypass() == 1;
    let m = decode_exp_golomb(d, 0)? + 1;
    if m > OFFSET_LIMIT as u32 {
        return None;
    }
    Some(if negative { -(m as i32) } else { m as i32 })
}

/// Code the latent held in `values` (laid out as `layout`) into `out`;
/// returns the payload's length.
pub fn encode<L: LatentLayout, V: Values + ?Sized>(layout: &L, values: &V, out: &mut [u8]) -> Result<usize, EntropyError> {
    check_shape(layout, values.len())?;
    let (h, w, step) = (layout.height(), layout.width(), layout.x_step());
    let mut e = Encoder::new(out);
    let mut above = [0i32; MAX_LATENT_WIDTH];
    let mut row = [0i32; MAX_LATENT_WIDTH];
    let mut hist = [0u32; HISTOGRAM];
    let mut shared = SharedContexts::NEW;
    for c in 0..layout.channels() {
        let offset = channel_offset(layout, values, c, &mut row, &mut hist);
        encode_offset(&mut e, &mut shared, offset);
        let mut ctx = ChannelContexts::NEW;
        let mut esc = EscapeOrder::NEW;
        above[..w].fill(0);
        for y in 0..h {
            values.read_row(layout.row_start(c, y), step, &mut row[..w]);
            e = encode_row(e, &mut ctx, &mut esc, &row[..w], &mut above[..w], offset);
        }
    }
    Ok(e.finish()?)
}

/// One row of a channel: the hot loop, in a function of its own that owns
/// the coder (moved in and out) so that its state stays in registers.
#[inline(never)]
fn encode_row<'a>(mut e: Encoder<'a>, ctx: &mut ChannelContexts, esc: &mut EscapeOrder, row: &[i32], above: &mut [i32], offset: i32) -> Encoder<'a> {
    let (mut left, mut left_cap) = (0i32, 0u32);
    for (&v, top) in row.iter().zip(above.iter_mut()) {
        let r = v - offset;
        let class = CLASS[((left_cap + capped(*top)) & 31) as usize] as usize;
        encode_value(&mut e, ctx, esc, class, left, *top, r);
        *top = r;
        left = r;
        left_cap = capped(r);
    }
    e
}

#[inline(always)]
fn encode_value(e: &mut Encoder, ctx: &mut ChannelContexts, esc: &mut EscapeOrder, class: usize, left: i32, top: i32, r: i32) {
    if r == 0 {
        e.bit(&mut ctx.zero[class], 0);
        return;
    }
    e.bit(&mut ctx.zero[class], 1);
    e.bit(&mut ctx.sign[sign_class(left, top)], (r < 0) as u32);
    let m = r.unsigned_abs();
    let gt = &mut ctx.gt[class];
    for (k, p) in gt.iter_mut().enumerate() {
        let more = (m > k as u32 + 1) as u32;
        e.bit(p, more);
        if more == 0 {
            return;
        }
    }
    let u = m - (GT_BINS as u32 + 1);
    encode_exp_golomb(e, u, esc.order());
    esc.update(u);
}

/// Decode a payload into `values` (laid out as `layout`); checks that the
/// payload is used exactly.
pub fn decode<L: LatentLayout, V: ValuesMut + ?Sized>(layout: &L, payload: &[u8], values: &mut V) -> Result<(), EntropyError> {
    check_shape(layout, values.len())?;
    let (h, w, step) = (layout.height(), layout.width(), layout.x_step());
    let mut d = Decoder::new(payload);
    let mut above = [0i32; MAX_LATENT_WIDTH];
    let mut row = [0i32; MAX_LATENT_WIDTH];
    let mut shared = SharedContexts::NEW;
    for c in 0..layout.channels() {
        let Some(offset) = decode_offset(&mut d, &mut shared) else { return Err(EntropyError::BadOffset { channel: c }) };
        let mut ctx = ChannelContexts::NEW;
        let mut esc = EscapeOrder::NEW;
        above[..w].fill(0);
        for y in 0..h {
            let done;
            (d, done) = decode_row(d, &mut ctx, &mut esc, &mut row[..w], &mut above[..w], offset);
            done.map_err(|x| EntropyError::OutOfRange { channel: c, y, x })?;
            values.write_row(layout.row_start(c, y), step, &row[..w]);
            // A payload cut short decodes zeros for ever: stop at the row.
            if d.overrun() {
                return Err(EntropyError::Truncated);
            }
        }
    }
    if d.consumed() != payload.len() {
        return Err(EntropyError::TrailingBytes { used: d.consumed(), len: payload.len() });
    }
    Ok(())
}

/// One row of a channel (see [`encode_row`]); on a value outside INT16,
/// its column.
#[inline(never)]
fn decode_row<'a>(mut d: Decoder<'a>, ctx: &mut ChannelContexts, esc: &mut EscapeOrder, row: &mut [i32], above: &mut [i32], offset: i32) -> (Decoder<'a>, Result<(), usize>) {
    let (mut left, mut left_cap) = (0i32, 0u32);
    for (x, (v, top)) in row.iter_mut().zip(above.iter_mut()).enumerate() {
        let class = CLASS[((left_cap + capped(*top)) & 31) as usize] as usize;
        let r = decode_value(&mut d, ctx, esc, class, left, *top);
        match r.map(|r| r + offset) {
            Some(value) if (i16::MIN as i32..=i16::MAX as i32).contains(&value) => *v = value,
            _ => return (d, Err(x)),
        }
        *top = *v - offset;
        left = *top;
        left_cap = capped(left);
    }
    (d, Ok(()))
}

/// One residual, or None if the bins describe no value of the format.
#[inline(always)]
fn decode_value(d: &mut Decoder, ctx: &mut ChannelContexts, esc: &mut EscapeOrder, class: usize, left: i32, top: i32) -> Option<i32> {
    if d.bit(&mut ctx.zero[class]) == 0 {
        return Some(0);
    }
    let negative = d.bit(&mut ctx.sign[sign_class(left, top)]) != 0;
    let gt = &mut ctx.gt[class];
    let mut m = 1u32;
    for p in gt.iter_mut() {
        if d.bit(p) == 0 {
            break;
        }
        m += 1;
    }
    if m > GT_BINS as u32 {
        let u = decode_exp_golomb(d, esc.order())?;
        m = u.checked_add(GT_BINS as u32 + 1).filter(|&m| m <= MAX_MAGNITUDE)?;
        esc.update(u);
    }
    Some(if negative { -(m as i32) } else { m as i32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(chw: &Chw, seed: u64) -> std::vec::Vec<i16> {
        let mut s = seed;
        (0..chw.channels * chw.height * chw.width)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match (i % 97, s % 16) {
                    (0, _) => i16::MIN,
                    (1, _) => i16::MAX,
                    (2, _) => -(s as i16 & 0x3fff),
                    (_, 0..=9) => 0,
                    (_, 10..=13) => (s >> 8) as i16 % 3,
                    _ => (s >> 8) as i16 % 40,
                }
            })
            .collect()
    }

    #[test]
    fn round_trip_every_magnitude_and_both_layouts() {
        let chw = Chw { channels: 6, height: 9, width: 13 };
        let v = sample(&chw, 42);
        let mut out = std::vec![0u8; payload_bound(v.len())];
        let n = encode(&chw, &v[..], &mut out).unwrap();
        let mut back = std::vec![1i16; v.len()];
        decode(&chw, &out[..n], &mut back[..]).unwrap();
        assert_eq!(back, v);

        // The same latent in the DDR map layout codes to the same bytes.
        let shape = crate::layout::FmShape::new(6, crate::geometry::Dims::new(9, 13), 8);
        let mut map = std::vec![0u8; shape.bytes()];
        crate::latent::for_each_in_file_order(&shape, |m, f| map[2 * m..2 * m + 2].copy_from_slice(&v[f].to_le_bytes()));
        let mut out2 = std::vec![0u8; payload_bound(v.len())];
        let n2 = encode(&shape, &LeBytes(&map), &mut out2).unwrap();
        assert_eq!(&out2[..n2], &out[..n]);
        let mut map2 = std::vec![0u8; shape.bytes()];
        decode(&shape, &out[..n], &mut LeBytesMut(&mut map2)).unwrap();
        assert_eq!(map2, map);
    }

    #[test]
    fn values_shorter_than_the_layout_are_refused_not_read_past() {
        // The values' own length bounds every index (there is no separate
        // count to trust): a buffer one value short is a Shape error.
        let chw = Chw { channels: 3, height: 8, width: 8 };
        let v = sample(&chw, 7);
        let mut out = std::vec![0u8; payload_bound(v.len())];
        assert_eq!(encode(&chw, &v[..v.len() - 1], &mut out), Err(EntropyError::Shape));
        let n = encode(&chw, &v[..], &mut out).unwrap();
        let mut back = std::vec![0i16; v.len() - 1];
        assert_eq!(decode(&chw, &out[..n], &mut back[..]), Err(EntropyError::Shape));
        let bytes: std::vec::Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        // An odd byte count holds one value less than its half rounded up.
        assert_eq!(encode(&chw, &LeBytes(&bytes[..bytes.len() - 1]), &mut out), Err(EntropyError::Shape));
        let mut short = std::vec![0u8; bytes.len() - 1];
        assert_eq!(decode(&chw, &out[..n], &mut LeBytesMut(&mut short)), Err(EntropyError::Shape));
    }

    #[test]
    fn a_cut_or_padded_payload_is_refused() {
        let chw = Chw { channels: 3, height: 8, width: 8 };
        let v = sample(&chw, 7);
        let mut out = std::vec![0u8; payload_bound(v.len())];
        let n = encode(&chw, &v[..], &mut out).unwrap();
        let mut back = std::vec![0i16; v.len()];
        assert!(decode(&chw, &out[..n / 2], &mut back[..]).is_err());
        assert!(matches!(decode(&chw, &out[..n + 1], &mut back[..]), Err(EntropyError::TrailingBytes { .. })));
    }

    #[test]
    fn an_escape_wider_than_any_value_is_refused_not_overflowed() {
        // A payload of all-ones bins: zero flag 1, sign 1, fifteen "more",
        // then an escape prefix that never ends.
        let chw = Chw { channels: 1, height: 1, width: 1 };
        let mut back = [0i16; 1];
        let payload = [0xffu8; 64];
        assert!(decode(&chw, &payload, &mut back[..]).is_err());
        // The same at the widest order: a channel of large escapes first.
        let v: std::vec::Vec<i16> = (0..40).map(|i| if i < 39 { 30000 } else { -30000 }).collect();
        let chw = Chw { channels: 1, height: 1, width: 40 };
        let mut out = std::vec![0u8; payload_bound(v.len())];
        let n = encode(&chw, &v[..], &mut out).unwrap();
        let mut back = std::vec![0i16; v.len()];
        decode(&chw, &out[..n], &mut back[..]).unwrap();
        assert_eq!(back, v);
        // Damage from every byte on (ones, which at this order read as
        // escapes longer than any INT16): refused, never overflowed.
        // Only the last 5 bytes are the coder's final flush
        // (rangecoder::Encoder::finish), which pins the last interval: a
        // tail confined to them may still decode (this layer has no
        // checksum; the .XLC file's CRC-32 refuses it), and then changes
        // at most the last value.
        const FLUSH: usize = 5;
        let mut escapes_refused = 0;
        for cut in 0..n {
            let mut damaged = out[..n].to_vec();
            damaged[cut..].iter_mut().for_each(|b| *b = 0xff);
            back.fill(0);
            match decode(&chw, &damaged, &mut back[..]) {
                Err(e) => escapes_refused += matches!(e, EntropyError::OutOfRange { .. }) as usize,
                Ok(()) => {
                    assert!(cut >= n - FLUSH, "damage from byte {cut} of {n} decoded");
                    assert_eq!(back[..v.len() - 1], v[..v.len() - 1], "damage in the flush (byte {cut} of {n}) changed more than the last value");
                }
            }
        }
        assert!(escapes_refused > 0, "no damaged payload was refused as an escape out of range");
    }

    #[test]
    fn the_bound_holds_for_the_worst_values() {
        // Alternating extremes defeat every probability.
        let chw = Chw { channels: 2, height: 4, width: 16 };
        let v: std::vec::Vec<i16> = (0..chw.channels * chw.height * chw.width).map(|i| if i % 2 == 0 { i16::MIN } else { 0 }).collect();
        let mut out = std::vec![0u8; payload_bound(v.len())];
        encode(&chw, &v[..], &mut out).unwrap();
    }
}
