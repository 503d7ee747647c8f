//! The INT16 format: what every number in the accelerator means, and the
//! integer rules that turn one layer's accumulators into the next layer's
//! INT16 inputs. No floating point: Rust, the HLS C++ and the firmware
//! compute identical bits from these definitions.
//!
//! **Activations** are INT16 with one scale per channel: the real value of
//! channel c is `q * s[c]`. The image enters with `s = 1/255` (q is the
//! 8-bit pixel), ana_2 leaves with `s = 1` (q *is* the rounded latent
//! y_hat), syn_2 leaves with `s = 1/255` (q is the 8-bit pixel before the
//! clamp to 0..=255). The quantizer picks every other scale from
//! calibration and folds it into the weights, so the hardware never sees a
//! scale: only integers.
//!
//! **Weights** are INT16 in `-32767..=32767` (symmetric: a product of a
//! weight and an activation stays below 2^30, so two products sum in i32),
//! one scale per output channel, with the input channels' activation scales
//! already folded in.
//!
//! **Accumulators** are exact sums of at most [`MAX_PRODUCTS`] products
//! (a 9x9 kernel over 128 input channels; bls2017 needs 3200), each at
//! most 32767 x 32768 in magnitude, so |acc| <= [`MAX_ACC`] < 2^44, and
//! with the bias |acc + bias| < 2^47: the accelerator keeps them in 48-bit
//! registers ([`ACC_BITS`], one DSP48E2 post-adder) and the rules below
//! never overflow. Rust computes them in i64 with the same values.
//!
//! **Per-channel parameters** ([`ChannelParams`]): for a convolution or a
//! transposed convolution,
//!     `out = sat16(rshift_round((acc + bias) * mult, shift))`;
//! for GDN, with `norm = bias + sum_j gamma[j][i] * |x[j]|` (bias = beta),
//!     `out = sat16(div_round(x << shift, max(norm, 1)))`
//! (gamma >= 0 in every package the quantizer writes, so norm >= beta >= 1
//! and the `max` only defines the rule for crafted weights; norm <
//! [`MAX_GDN_NORM`] < 2^47, so the accelerator's divider needs a 16-step
//! restoring division of 64-bit values, not a wide divider);
//! for IGDN, with the same norm,
//!     `out = sat16(rshift_round(x * norm, shift))`.
//! The quantizer chooses the normaliser's scale so that the ratio of scales
//! is exactly a power of two: GDN needs one integer division and IGDN one
//! multiplication per output, and nothing else.
//!
//! **Rounding**: ties go toward +infinity (`floor(v + 1/2)`), in shifts and
//! divisions alike. **Saturation**: to `-32768..=32767`.

/// Largest weight magnitude (symmetric range).
pub const WEIGHT_MAX: i16 = 32767;
/// Requantization multipliers are below 2^MULT_BITS.
pub const MULT_BITS: u32 = 15;
/// Largest shift of any rule.
pub const MAX_SHIFT: u32 = 62;
/// Largest GDN pre-division shift (keeps `x << shift` below 2^61).
pub const MAX_GDN_SHIFT: u32 = 45;
/// Bound on |bias| (and on GDN/IGDN beta) so no rule can overflow i64.
pub const BIAS_LIMIT: i64 = 1 << 46;
/// Most products one output accumulates: a 9x9 kernel over 128 input
/// channels (the hardware's largest kernel and channel count, checked
/// against hls/xlic_config.h by accel-regs' tests).
pub const MAX_PRODUCTS: i64 = 9 * 9 * 128;
/// Largest |accumulator|: every product at its largest magnitude.
pub const MAX_ACC: i64 = MAX_PRODUCTS * 32767 * 32768;
/// Width of the accelerator's accumulators: holds `acc + bias`.
pub const ACC_BITS: u32 = 48;
/// Largest GDN/IGDN normaliser: beta plus 128 products of gamma and |x|.
pub const MAX_GDN_NORM: i64 = BIAS_LIMIT + 128 * 32767 * 32768;

/// Saturate to INT16.
#[inline(always)]
pub const fn sat16(v: i64) -> i16 {
    if v > i16::MAX as i64 {
        i16::MAX
    } else if v < i16::MIN as i64 {
        i16::MIN
    } else {
        v as i16
    }
}

/// `floor(v / 2^s + 1/2)`: arithmetic shift right with rounding, ties up.
#[inline(always)]
pub const fn rshift_round(v: i64, s: u32) -> i64 {
    if s == 0 {
        v
    } else {
        (v + (1i64 << (s - 1))) >> s
    }
}

/// `floor(n / d + 1/2)` for `d > 0`: division with rounding, ties up.
#[inline(always)]
pub const fn div_round(n: i64, d: i64) -> i64 {
    (2 * n + d).div_euclid(2 * d)
}

/// Per-output-channel parameters of one layer (16 bytes in DDR:
/// bias i64, mult i32, shift i32, little-endian).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelParams {
    /// Bias in accumulator units (conv), or beta in normaliser units (GDN/IGDN).
    pub bias: i64,
    /// Requantization multiplier (conv); 1 for GDN/IGDN.
    pub mult: i32,
    /// Requantization shift.
    pub shift: i32,
}

pub const CHANNEL_PARAMS_BYTES: usize = 16;

impl ChannelParams {
    /// What a padding output channel (beyond the layer's channels) holds:
    /// it computes 0 under every rule.
    pub const PAD_CONV: ChannelParams = ChannelParams { bias: 0, mult: 0, shift: 1 };
    pub const PAD_NORM: ChannelParams = ChannelParams { bias: 1, mult: 1, shift: 0 };

    pub fn to_le_bytes(&self) -> [u8; CHANNEL_PARAMS_BYTES] {
        let mut b = [0u8; CHANNEL_PARAMS_BYTES];
        b[0..8].copy_from_slice(&self.bias.to_le_bytes());
        b[8..12].copy_from_slice(&self.mult.to_le_bytes());
        b[12..16].copy_from_slice(&self.shift.to_le_bytes());
        b
    }

    pub fn from_le_bytes(b: &[u8]) -> ChannelParams {
        ChannelParams {
            bias: i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            mult: i32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            shift: i32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    /// Whether these parameters keep every rule of `op` inside i64.
    pub fn is_valid_for(&self, op: crate::Op) -> bool {
        if self.bias.unsigned_abs() > BIAS_LIMIT as u64 || self.shift < 0 {
            return false;
        }
        match op {
            crate::Op::Conv { .. } | crate::Op::TConv { .. } => {
                (0..1 << MULT_BITS).contains(&self.mult) && (1..=MAX_SHIFT as i32).contains(&self.shift)
            }
            crate::Op::Gdn => self.mult == 1 && self.bias >= 1 && self.shift <= MAX_GDN_SHIFT as i32,
            crate::Op::Igdn => self.mult == 1 && self.bias >= 1 && self.shift <= MAX_SHIFT as i32,
        }
    }
}

/// Conv / transposed conv output of one channel.
#[inline(always)]
pub fn requant_conv(acc: i64, p: &ChannelParams) -> i16 {
    sat16(rshift_round((acc + p.bias) * p.mult as i64, p.shift as u32))
}

/// GDN output of one channel; `norm` includes the bias (beta). A norm
/// below 1 (only crafted, negative gamma gives one) divides by 1.
#[inline(always)]
pub fn gdn_out(x: i16, norm: i64, p: &ChannelParams) -> i16 {
    sat16(div_round((x as i64) << p.shift, norm.max(1)))
}

/// IGDN output of one channel; `norm` includes the bias (beta).
#[inline(always)]
pub fn igdn_out(x: i16, norm: i64, p: &ChannelParams) -> i16 {
    sat16(rshift_round(x as i64 * norm, p.shift as u32))
}

/// Clamp syn_2's output (scale 1/255) to an 8-bit pixel.
#[inline(always)]
pub fn to_pixel(q: i16) -> u8 {
    q.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_ties_go_up_for_both_signs() {
        assert_eq!(rshift_round(3, 1), 2); // 1.5 -> 2
        assert_eq!(rshift_round(-3, 1), -1); // -1.5 -> -1
        assert_eq!(rshift_round(5, 2), 1); // 1.25 -> 1
        assert_eq!(rshift_round(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rshift_round(-6, 2), -1); // -1.5 -> -1
        assert_eq!(rshift_round(7, 0), 7);
        assert_eq!(div_round(3, 2), 2);
        assert_eq!(div_round(-3, 2), -1);
        assert_eq!(div_round(-7, 4), -2); // -1.75
        assert_eq!(div_round(10, 4), 3); // 2.5
        assert_eq!(div_round(-10, 4), -2); // -2.5
    }

    #[test]
    fn shift_and_division_agree_on_powers_of_two() {
        for v in -1000i64..1000 {
            for s in 0..6u32 {
                assert_eq!(rshift_round(v, s), div_round(v, 1 << s), "v={v} s={s}");
            }
        }
    }

    #[test]
    fn saturation() {
        assert_eq!(sat16(40000), 32767);
        assert_eq!(sat16(-40000), -32768);
        assert_eq!(sat16(-5), -5);
    }

    #[test]
    fn worst_case_conv_rule_does_not_overflow() {
        // 3200 products of 32767 * 32768 plus the largest bias, times the
        // largest multiplier, shifted by the largest shift.
        let acc = 3200i64 * 32767 * 32768;
        let p = ChannelParams { bias: BIAS_LIMIT, mult: (1 << MULT_BITS) - 1, shift: MAX_SHIFT as i32 };
        assert!(p.is_valid_for(crate::Op::Conv { k: 5, stride: 2 }));
        let _ = requant_conv(acc, &p);
        let _ = requant_conv(-acc, &ChannelParams { bias: -BIAS_LIMIT, ..p });
        let norm = BIAS_LIMIT + 128 * 32767 * 32768;
        let g = ChannelParams { bias: 1, mult: 1, shift: MAX_GDN_SHIFT as i32 };
        assert_eq!(gdn_out(i16::MIN, 1, &g), i16::MIN);
        let _ = igdn_out(i16::MIN, norm, &ChannelParams { bias: 1, mult: 1, shift: 1 });
    }

    /// The bounds the accelerator's widths rest on, at their worst cases.
    #[test]
    fn accumulator_and_normaliser_bounds_hold() {
        assert!(MAX_ACC < 1 << 44);
        assert!(MAX_ACC + BIAS_LIMIT < 1 << (ACC_BITS - 1), "acc + bias fits the accumulator");
        assert!(MAX_GDN_NORM < 1 << 47, "the divider's 2d fits 48 bits, 2^16 * 2d fits 64");
        // Worst conv rule: (acc + bias) * mult + 2^(shift - 1) stays in i64.
        let v = (MAX_ACC + BIAS_LIMIT) as i128 * ((1 << MULT_BITS) - 1) + (1i128 << (MAX_SHIFT - 1));
        assert!(v < i64::MAX as i128);
        // Worst GDN numerator: 2 (x << 45) + norm; worst IGDN product.
        assert!(2 * ((32768i128) << MAX_GDN_SHIFT) + (MAX_GDN_NORM as i128) < 1 << 62);
        assert!(32768i128 * MAX_GDN_NORM as i128 + (1i128 << (MAX_SHIFT - 1)) < i64::MAX as i128);
        // The rules at those extremes, against exact i128 arithmetic.
        let g = ChannelParams { bias: BIAS_LIMIT, mult: 1, shift: MAX_GDN_SHIFT as i32 };
        for (x, norm) in [(i16::MIN, 1), (i16::MAX, 1), (i16::MIN, MAX_GDN_NORM), (1, MAX_GDN_NORM), (-1, 3), (i16::MIN, 0), (5, -7)] {
            let (n, d) = ((x as i128) << g.shift, norm.max(1) as i128);
            let q = (2 * n + d).div_euclid(2 * d).clamp(-32768, 32767) as i16;
            assert_eq!(gdn_out(x, norm, &g), q, "x {x} norm {norm}");
        }
        let c = ChannelParams { bias: -BIAS_LIMIT, mult: (1 << MULT_BITS) - 1, shift: 40 };
        assert_eq!(requant_conv(-MAX_ACC, &c), i16::MIN);
        assert_eq!(requant_conv(MAX_ACC, &ChannelParams { bias: BIAS_LIMIT, ..c }), i16::MAX);
    }

    #[test]
    fn padding_channels_compute_zero() {
        assert_eq!(requant_conv(123456, &ChannelParams::PAD_CONV), 0);
        assert_eq!(gdn_out(0, 1, &ChannelParams::PAD_NORM), 0);
        assert_eq!(igdn_out(0, 1, &ChannelParams::PAD_NORM), 0);
    }

    #[test]
    fn params_round_trip_through_bytes() {
        let p = ChannelParams { bias: -123456789012, mult: 23456, shift: 37 };
        assert_eq!(ChannelParams::from_le_bytes(&p.to_le_bytes()), p);
    }
}
