//! The four raw float32 files of bls2017_0125, sliced into tensors exactly
//! as FORMAT.md lists them (offsets in float32 values).
use std::path::{Path, PathBuf};
use xlic_model::layer::{Layer, FILTERS as F, IMAGE_CHANNELS};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is {actual} bytes; FORMAT.md says {expected}: wrong or truncated weights file")]
    Size { path: PathBuf, expected: usize, actual: usize },
}

/// Kernel in the stored HWIO order: `[ky][kx][ci][co]`.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub k: usize,
    pub cin: usize,
    pub cout: usize,
    pub w: Vec<f32>,
}

impl Kernel {
    /// Element [ky][kx][ci][co] (FORMAT.md's index formula).
    #[inline(always)]
    pub fn at(&self, ky: usize, kx: usize, ci: usize, co: usize) -> f32 {
        self.w[((ky * self.k + kx) * self.cin + ci) * self.cout + co]
    }
}

/// Normaliser of one GDN/IGDN: `gamma[j][i]` at `j * 128 + i`.
#[derive(Clone, Debug)]
pub struct Normaliser {
    pub beta: Vec<f32>,
    pub gamma: Vec<f32>,
}

/// Parameters of one layer.
#[derive(Clone, Debug)]
pub enum LayerWeights {
    Conv { kernel: Kernel, bias: Option<Vec<f32>> },
    Norm(Normaliser),
}

/// All ten layers, in table order.
#[derive(Clone, Debug)]
pub struct FloatWeights {
    pub layers: Vec<LayerWeights>,
}

pub const ANA_W_BYTES: usize = 3_532_288;
pub const ANA_B_BYTES: usize = 2_048;
pub const SYN_W_BYTES: usize = 3_532_288;
pub const SYN_B_BYTES: usize = 2_060;

fn read_f32(path: &Path, expected: usize) -> Result<Vec<f32>, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.into(), source })?;
    if bytes.len() != expected {
        return Err(WeightsError::Size { path: path.into(), expected, actual: bytes.len() });
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

struct Cursor<'a> {
    v: &'a [f32],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Vec<f32> {
        let s = self.v[self.at..self.at + n].to_vec();
        self.at += n;
        s
    }
    fn kernel(&mut self, k: usize, cin: usize, cout: usize) -> Kernel {
        Kernel { k, cin, cout, w: self.take(k * k * cin * cout) }
    }
}

impl FloatWeights {
    /// Load from the folder holding ana_w.bin, ana_b.bin, syn_w.bin, syn_b.bin.
    pub fn load(dir: &Path) -> Result<FloatWeights, WeightsError> {
        let ana_w = read_f32(&dir.join("ana_w.bin"), ANA_W_BYTES)?;
        let ana_b = read_f32(&dir.join("ana_b.bin"), ANA_B_BYTES)?;
        let syn_w = read_f32(&dir.join("syn_w.bin"), SYN_W_BYTES)?;
        let syn_b = read_f32(&dir.join("syn_b.bin"), SYN_B_BYTES)?;
        let (mut aw, mut ab) = (Cursor { v: &ana_w, at: 0 }, Cursor { v: &ana_b, at: 0 });
        let (mut sw, mut sb) = (Cursor { v: &syn_w, at: 0 }, Cursor { v: &syn_b, at: 0 });
        let c = IMAGE_CHANNELS;
        // Order of FORMAT.md's tables: kernel, gamma, kernel, gamma, kernel;
        // bias, beta, bias, beta(, bias).
        let ana0 = aw.kernel(9, c, F);
        let gdn0_g = aw.take(F * F);
        let ana1 = aw.kernel(5, F, F);
        let gdn1_g = aw.take(F * F);
        let ana2 = aw.kernel(5, F, F);
        let (ana0_b, gdn0_b, ana1_b, gdn1_b) = (ab.take(F), ab.take(F), ab.take(F), ab.take(F));
        let syn0 = sw.kernel(5, F, F);
        let igdn0_g = sw.take(F * F);
        let syn1 = sw.kernel(5, F, F);
        let igdn1_g = sw.take(F * F);
        let syn2 = sw.kernel(9, F, c);
        let (syn0_b, igdn0_b, syn1_b, igdn1_b, syn2_b) = (sb.take(F), sb.take(F), sb.take(F), sb.take(F), sb.take(c));
        debug_assert!(aw.at == ana_w.len() && ab.at == ana_b.len() && sw.at == syn_w.len() && sb.at == syn_b.len());
        let conv = |kernel, bias| LayerWeights::Conv { kernel, bias };
        let norm = |gamma, beta| LayerWeights::Norm(Normaliser { beta, gamma });
        Ok(FloatWeights {
            layers: vec![
                conv(ana0, Some(ana0_b)),
                norm(gdn0_g, gdn0_b),
                conv(ana1, Some(ana1_b)),
                norm(gdn1_g, gdn1_b),
                conv(ana2, None),
                conv(syn0, Some(syn0_b)),
                norm(igdn0_g, igdn0_b),
                conv(syn1, Some(syn1_b)),
                norm(igdn1_g, igdn1_b),
                conv(syn2, Some(syn2_b)),
            ],
        })
    }

    pub fn layer(&self, l: Layer) -> &LayerWeights {
        &self.layers[l.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f32]) -> (f32, f32, f64, f32, f32) {
        let sum = v.iter().map(|&x| x as f64).sum();
        let min = v.iter().cloned().fold(f32::INFINITY, f32::min);
        let max = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        (v[0], v[v.len() - 1], sum, min, max)
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-30)
    }

    /// FORMAT.md's "Self-check values for a loader": first, last, sum, min,
    /// max of every tensor after slicing.
    #[test]
    fn self_check_values_of_format_md() {
        let w = FloatWeights::load(&crate::data::model_dir(&crate::data::default_dir())).unwrap();
        let t = |l: Layer, bias: bool| -> Vec<f32> {
            match (w.layer(l), bias) {
                (LayerWeights::Conv { kernel, .. }, false) => kernel.w.clone(),
                (LayerWeights::Conv { bias: Some(b), .. }, true) => b.clone(),
                (LayerWeights::Norm(n), false) => n.gamma.clone(),
                (LayerWeights::Norm(n), true) => n.beta.clone(),
                _ => unreachable!(),
            }
        };
        #[rustfmt::skip]
        let table: [(Layer, bool, f64, f64, f64, f64, f64); 19] = [
            (Layer::Ana0, false, -0.0404522084, -0.0972754806, -3.77859165, -0.8629, 1.141),
            (Layer::Gdn0, false, 3.15942907e-06, 0.542080641, 165.309431, 1.782e-19, 1.539),
            (Layer::Ana1, false, 0.00265136245, -0.0226988588, 23.7582615, -1.199, 1.389),
            (Layer::Gdn1, false, 2.23637485e-07, 1.23394193e-08, 75.8104442, 2.313e-19, 0.8026),
            (Layer::Ana2, false, 0.00382213923, -0.000778417569, 33.7246944, -1.288, 1.424),
            (Layer::Ana0, true, -0.181182221, -0.129438147, 0.60140799, -0.2204, 0.2418),
            (Layer::Gdn0, true, 0.920915842, 1.10874939, 130.897881, 0.4521, 1.465),
            (Layer::Ana1, true, 0.0921225622, 0.131571367, 1.49324621, -0.1543, 0.2004),
            (Layer::Gdn1, true, 1.46126044, 1.52458119, 159.341568, 0.399, 3.469),
            (Layer::Syn0, false, 0.0253051873, -0.00287576485, -143.549174, -1.705, 1.763),
            (Layer::Igdn0, false, 6.56124939e-06, 1.22786176e-07, 0.259346774, 1.392e-17, 0.01311),
            (Layer::Syn1, false, 0.00402124878, -0.00474155834, 49.7986458, -0.9725, 1.346),
            (Layer::Igdn1, false, 0.0262539126, 0.0211862158, 24.002506, 7.727e-19, 0.1563),
            (Layer::Syn2, false, -0.0275793262, 0.00468736608, -11.1140207, -0.4164, 0.3619),
            (Layer::Syn0, true, 0.5594908, 0.0387903489, -1.45985255, -1.714, 1.946),
            (Layer::Igdn0, true, 0.0196633618, 0.149826393, 6.05177021, 5.578e-07, 0.8897),
            (Layer::Syn1, true, 0.011069634, 0.0158417653, -1.50556378, -0.2123, 0.1872),
            (Layer::Igdn1, true, 1.59978492e-06, 1.84699047e-06, 23.3248434, 6.59e-07, 0.9845),
            (Layer::Syn2, true, 0.229307666, 0.214217633, 0.66425021, 0.2142, 0.2293),
        ];
        for (l, bias, first, last, sum, min, max) in table {
            let (f, la, s, mi, ma) = stats(&t(l, bias));
            let what = format!("{} {}", l.name(), if bias { "bias/beta" } else { "kernel/gamma" });
            assert!(close(f as f64, first, 1e-6), "{what} first {f}");
            assert!(close(la as f64, last, 1e-6), "{what} last {la}");
            assert!(close(s, sum, 1e-6), "{what} sum {s}");
            assert!(close(mi as f64, min, 1e-3), "{what} min {mi}");
            assert!(close(ma as f64, max, 1e-3), "{what} max {ma}");
        }
    }

    #[test]
    fn wrong_size_is_refused_with_the_expected_size() {
        let dir = std::env::temp_dir().join(format!("xlic-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = crate::data::model_dir(&crate::data::default_dir());
        for f in ["ana_w.bin", "ana_b.bin", "syn_w.bin"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        std::fs::write(dir.join("syn_b.bin"), vec![0u8; 2056]).unwrap();
        let e = FloatWeights::load(&dir).unwrap_err();
        assert!(e.to_string().contains("is 2056 bytes; FORMAT.md says 2060"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
