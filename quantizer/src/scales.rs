//! Choosing the INT16 scales and turning float weights into the package's
//! integer tables (the format itself is defined in xlic_model::quant).
//!
//! - Activation scale of channel c at a layer output: `HEADROOM * max|y_c| /
//!   32767` over the calibration images, except ana_2 (1: its output is
//!   y_hat) and syn_2 (1/255: its output is the pixel). The image enters at
//!   1/255.
//! - Conv / transposed conv: the input scales are folded into the weights,
//!   `w'[co][ci] = w * s_in[ci]`, then quantized per output channel with
//!   `s_w[co] = max|w'[co]| / 32767`. The bias is stored in accumulator
//!   units (`b / s_w`), and `s_w / s_out` becomes `mult * 2^-shift` with a
//!   15-bit `mult`.
//! - GDN: the normaliser is stored at `scale_i = s_out[i] 2^P / s_x[i]`, so
//!   that `x / norm` needs exactly `(q_x << P) / norm_acc`; P is the largest
//!   value that keeps every gamma within 32767 and beta within the bias
//!   limit. IGDN the same with `scale_i = s_x[i] 2^P / s_out[i]`.
use crate::Calibration;
use xlic_model::layer::{Layer, LayerSpec, Op, LAYERS};
use xlic_model::layout::{HwLimits, WeightShape};
use xlic_model::quant::{ChannelParams, BIAS_LIMIT, MAX_GDN_SHIFT, MAX_SHIFT, MULT_BITS, WEIGHT_MAX};
use xlic_ref::weights::{LayerWeights, Normaliser};
use xlic_ref::FloatWeights;

/// Margin over the calibrated maximum, for images brighter or busier than
/// the calibration set (beyond it values saturate).
pub const HEADROOM: f64 = 1.5;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QuantError {
    #[error("{layer} channel {channel}: bias {value} does not fit the accumulator bound")]
    Bias { layer: &'static str, channel: usize, value: f64 },
    #[error("{layer} channel {channel}: scale ratio {ratio:e} needs a left shift; the format only shifts right")]
    Ratio { layer: &'static str, channel: usize, ratio: f64 },
    #[error("{layer} channel {channel}: no normaliser scale fits gamma and beta into the format")]
    Normaliser { layer: &'static str, channel: usize },
    #[error("calibration has no images")]
    NoCalibration,
}

/// Activation scales of every layer output.
pub fn activation_scales(cal: &Calibration) -> Vec<Vec<f64>> {
    Layer::ALL
        .iter()
        .map(|&l| match l {
            Layer::Ana2 => vec![1.0; l.spec().cout],
            Layer::Syn2 => vec![1.0 / 255.0; l.spec().cout],
            _ => cal.maxabs[l.index()].iter().map(|&m| (m as f64 * HEADROOM).max(1e-6) / 32767.0).collect(),
        })
        .collect()
}

/// Scales of the input of layer `i` (the image: 1/255).
pub fn input_scales(act: &[Vec<f64>], i: usize) -> Vec<f64> {
    if i == 0 {
        vec![1.0 / 255.0; LAYERS[0].cin]
    } else {
        act[i - 1].clone()
    }
}

/// `ratio = mult * 2^-shift` with `mult` in [2^14, 2^15).
pub fn multiplier(ratio: f64, layer: &'static str, channel: usize) -> Result<(i32, i32), QuantError> {
    if ratio <= 0.0 {
        return Ok((0, 1));
    }
    let mut shift = (MULT_BITS as i32 - 1) - ratio.log2().floor() as i32;
    let mut mult = (ratio * 2f64.powi(shift)).round() as i64;
    if mult >= 1 << MULT_BITS {
        mult = (mult + 1) / 2;
        shift -= 1;
    }
    if shift > MAX_SHIFT as i32 {
        // Too small to matter: keep what the largest shift can express.
        shift = MAX_SHIFT as i32;
        mult = (ratio * 2f64.powi(shift)).round() as i64;
    }
    if shift < 1 {
        return Err(QuantError::Ratio { layer, channel, ratio });
    }
    Ok((mult as i32, shift))
}

fn quantize_conv(
    spec: &LayerSpec,
    hw: &HwLimits,
    k: &xlic_ref::weights::Kernel,
    bias: Option<&[f32]>,
    s_in: &[f64],
    s_out: &[f64],
) -> Result<(Vec<i16>, Vec<ChannelParams>), QuantError> {
    let ws = WeightShape::of(spec, hw);
    let mut q = vec![0i16; ws.len()];
    let mut params = vec![ChannelParams::PAD_CONV; ws.cout_padded()];
    for co in 0..spec.cout {
        let mut maxw = 0f64;
        for ky in 0..ws.k {
            for kx in 0..ws.k {
                for ci in 0..spec.cin {
                    maxw = maxw.max((k.at(ky, kx, ci, co) as f64 * s_in[ci]).abs());
                }
            }
        }
        let s_w = if maxw > 0.0 { maxw / WEIGHT_MAX as f64 } else { 1.0 };
        for ky in 0..ws.k {
            for kx in 0..ws.k {
                for ci in 0..spec.cin {
                    let v = (k.at(ky, kx, ci, co) as f64 * s_in[ci] / s_w).round();
                    q[ws.index(ky, kx, ci, co)] = v.clamp(-(WEIGHT_MAX as f64), WEIGHT_MAX as f64) as i16;
                }
            }
        }
        let b = bias.map(|b| b[co] as f64 / s_w).unwrap_or(0.0).round();
        if b.abs() > BIAS_LIMIT as f64 {
            return Err(QuantError::Bias { layer: spec.name, channel: co, value: b });
        }
        let (mult, shift) = multiplier(s_w / s_out[co], spec.name, co)?;
        params[co] = ChannelParams { bias: b as i64, mult, shift };
    }
    Ok((q, params))
}

fn quantize_norm(
    spec: &LayerSpec,
    hw: &HwLimits,
    n: &Normaliser,
    s_x: &[f64],
    s_out: &[f64],
) -> Result<(Vec<i16>, Vec<ChannelParams>), QuantError> {
    let c = spec.cout;
    let ws = WeightShape::of(spec, hw);
    let mut q = vec![0i16; ws.len()];
    let mut params = vec![ChannelParams::PAD_NORM; ws.cout_padded()];
    let divide = spec.op == Op::Gdn;
    let max_p = if divide { MAX_GDN_SHIFT } else { MAX_SHIFT } as i32;
    for i in 0..c {
        // Normaliser units per real unit, before the 2^P factor.
        let base = if divide { s_out[i] / s_x[i] } else { s_x[i] / s_out[i] };
        let g_max = (0..c).map(|j| n.gamma[j * c + i] as f64 * s_x[j]).fold(0.0, f64::max);
        let beta = n.beta[i] as f64;
        let mut p = max_p;
        while p >= 0 {
            let scale = base * 2f64.powi(p);
            if g_max * scale <= WEIGHT_MAX as f64 && beta * scale <= BIAS_LIMIT as f64 {
                break;
            }
            p -= 1;
        }
        if p < 0 {
            return Err(QuantError::Normaliser { layer: spec.name, channel: i });
        }
        let scale = base * 2f64.powi(p);
        for j in 0..c {
            q[ws.index(0, 0, j, i)] = (n.gamma[j * c + i] as f64 * s_x[j] * scale).round().min(WEIGHT_MAX as f64) as i16;
        }
        params[i] = ChannelParams { bias: ((beta * scale).round() as i64).max(1), mult: 1, shift: p };
    }
    Ok((q, params))
}

/// Integer tables of all ten layers, ready for `xlic_model::package::write`.
pub fn quantize(w: &FloatWeights, cal: &Calibration, hw: &HwLimits) -> Result<Vec<(Vec<i16>, Vec<ChannelParams>)>, QuantError> {
    if cal.images == 0 {
        return Err(QuantError::NoCalibration);
    }
    let act = activation_scales(cal);
    LAYERS
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let s_in = input_scales(&act, i);
            match w.layer(spec.layer) {
                LayerWeights::Conv { kernel, bias } => quantize_conv(spec, hw, kernel, bias.as_deref(), &s_in, &act[i]),
                LayerWeights::Norm(n) => quantize_norm(spec, hw, n, &s_in, &act[i]),
            }
        })
        .collect()
}

/// Calibrate on `images` and write the package bytes.
pub fn build_package(w: &FloatWeights, images: &[xlic_ref::Rgb8], pad: xlic_model::PadMode, hw: &HwLimits) -> Result<Vec<u8>, QuantError> {
    let mut cal = Calibration::new(pad);
    for img in images {
        cal.add(w, img);
    }
    let layers = quantize(w, &cal, hw)?;
    Ok(xlic_model::package::write(hw, pad.code(), &layers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplier_is_normalised_and_accurate() {
        for ratio in [1e-9, 3.7e-5, 0.001, 0.37, 0.999, 1.0, 1234.5] {
            let (m, s) = multiplier(ratio, "t", 0).unwrap();
            assert!((1 << 14..1 << 15).contains(&m), "{ratio}: mult {m}");
            let back = m as f64 * 2f64.powi(-s);
            assert!((back / ratio - 1.0).abs() < 1.0 / (1 << 14) as f64, "{ratio}: {back}");
        }
        assert!(matches!(multiplier(1e6, "t", 3), Err(QuantError::Ratio { channel: 3, .. })));
    }
}
