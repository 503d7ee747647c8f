//! The fast engine against the integer reference, and its two kernels
//! against each other, on random shapes of every layer of the table:
//! random weights (extremes included), random inputs (-32768 included,
//! which sends a normaliser row to the reference), random parameters.
use xlic_model::geometry::{layer_output, Dims};
use xlic_model::layer::{Layer, Op};
use xlic_model::layout::{FmShape, HwLimits, WeightShape};
use xlic_model::quant::ChannelParams;
use xlic_model::reference::{self, LayerData};
use xlic_quant::engine::{Engine, Kernel};
use xlic_ref::rng::SeededRng as Rng;

const HW: HwLimits = accel_regs::HW_LIMITS;

fn tables(rng: &mut Rng, scale: i64) -> Vec<(Vec<i16>, Vec<ChannelParams>)> {
    Layer::ALL
        .iter()
        .map(|l| {
            let spec = l.spec();
            let ws = WeightShape::of(spec, &HW);
            let mut w = vec![0i16; ws.len()];
            for ky in 0..ws.k {
                for kx in 0..ws.k {
                    for ci in 0..spec.cin {
                        for co in 0..spec.cout {
                            let v = match rng.below(50) {
                                0 => 32767,
                                1 => -32767,
                                _ => rng.range(-scale, scale),
                            };
                            // Gamma is >= 0 in real packages; some negative
                            // ones exercise the rule for crafted weights.
                            let gamma = (v as i16).unsigned_abs().min(32767) as i16;
                            w[ws.index(ky, kx, ci, co)] = if spec.op.is_normaliser() && rng.below(8) > 0 { gamma } else { v as i16 };
                        }
                    }
                }
            }
            let p = (0..ws.cout_padded())
                .map(|_| match spec.op {
                    Op::Gdn => ChannelParams { bias: rng.range(1, 1 << 30), mult: 1, shift: rng.range(0, 20) as i32 },
                    Op::Igdn => ChannelParams { bias: rng.range(1, 1 << 30), mult: 1, shift: rng.range(10, 40) as i32 },
                    _ => ChannelParams { bias: rng.range(-(1 << 30), 1 << 30), mult: rng.range(1 << 14, (1 << 15) - 1) as i32, shift: rng.range(20, 40) as i32 },
                })
                .collect();
            (w, p)
        })
        .collect()
}

fn input(rng: &mut Rng, s: &FmShape) -> Vec<i16> {
    let mut v = vec![0i16; s.len()];
    for y in 0..s.dims.h {
        for c in 0..s.channels {
            for x in 0..s.dims.w {
                v[s.index(c, y, x)] = match rng.below(400) {
                    0 => i16::MIN,
                    1 => i16::MAX,
                    _ => rng.range(-3000, 3000) as i16,
                };
            }
        }
    }
    v
}

#[test]
fn every_layer_type_matches_the_reference_on_random_shapes() {
    let mut rng = Rng::new(0xe9_1ce);
    let avx2_here = Kernel::best() == Kernel::Avx2;
    for case in 0..3 {
        let t = tables(&mut rng, [300, 5000, 32767][case]);
        let kernels: Vec<Engine> = [Kernel::Scalar, Kernel::Avx2]
            .into_iter()
            .filter(|k| *k == Kernel::Scalar || avx2_here)
            .map(|k| Engine::new(&HW, &t, k).unwrap().with_threads(1 + case))
            .collect();
        for l in Layer::ALL {
            let spec = l.spec();
            let d = Dims::new(1 + rng.below(13), 1 + rng.below(17));
            let ins = FmShape::new(spec.cin, d, HW.lanes);
            let x = input(&mut rng, &ins);
            let data = LayerData { weights: &t[l.index()].0, params: &t[l.index()].1 };
            let want = reference::run_layer_parallel(spec, &HW, d, &x, data).unwrap();
            let out_dims = layer_output(spec.op, d);
            for e in &kernels {
                let got = e.run_layer(l, d, &x).unwrap();
                let first = got.iter().zip(&want).position(|(a, b)| a != b);
                assert!(first.is_none(), "{} {}x{} -> {}x{}, {} kernel: first difference at {first:?}", spec.name, d.w, d.h, out_dims.w, out_dims.h, e.kernel().name());
            }
        }
    }
}

#[test]
fn a_weight_of_minus_32768_falls_back_to_the_reference() {
    let mut rng = Rng::new(77);
    let mut t = tables(&mut rng, 32767);
    let l = Layer::Ana1;
    t[l.index()].0[5] = i16::MIN;
    let d = Dims::new(6, 7);
    let ins = FmShape::new(l.spec().cin, d, HW.lanes);
    let mut x = input(&mut rng, &ins);
    x.iter_mut().for_each(|v| *v = if *v % 2 == 0 { i16::MIN } else { *v });
    let data = LayerData { weights: &t[l.index()].0, params: &t[l.index()].1 };
    let want = reference::run_layer_parallel(l.spec(), &HW, d, &x, data).unwrap();
    let got = Engine::new(&HW, &t, Kernel::best()).unwrap().run_layer(l, d, &x).unwrap();
    assert!(got == want);
}

/// The engine keeps the tables it packed and computes only from them
/// (run_layer takes no second set that could disagree), and refuses
/// tables of the wrong shape instead of packing out of bounds.
#[test]
fn the_engine_owns_its_tables_and_refuses_wrong_shapes() {
    let mut rng = Rng::new(5);
    let t = tables(&mut rng, 5000);
    let e = Engine::new(&HW, &t, Kernel::Scalar).unwrap();
    for l in Layer::ALL {
        let data = e.data(l);
        assert!(data.weights == &t[l.index()].0[..] && data.params == &t[l.index()].1[..], "{}", l.spec().name);
    }
    let mut short = t.clone();
    short[3].1.pop();
    let ws = WeightShape::of(Layer::ALL[3].spec(), &HW);
    assert_eq!(Engine::new(&HW, &short, Kernel::Scalar).err(), Some(reference::ShapeError::Params { expected: ws.cout_padded(), got: ws.cout_padded() - 1 }));
    let mut short = t.clone();
    short[0].0.truncate(10);
    assert!(matches!(Engine::new(&HW, &short, Kernel::Scalar), Err(reference::ShapeError::Weights { got: 10, .. })));
    assert!(matches!(Engine::new(&HW, &t[..9], Kernel::Scalar), Err(reference::ShapeError::Layers { expected: 10, got: 9 })));
}
