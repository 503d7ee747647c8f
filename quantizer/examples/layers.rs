use std::time::Instant;
use xlic_model::{geometry::layer_macs, layer::Layer, reference::run_layer_parallel, Geometry, HwLimits, PadMode};
use xlic_ref::{data, FloatWeights, Rgb8};
fn main() {
    let d = data::default_dir();
    let w = FloatWeights::load(&data::model_dir(&d)).unwrap();
    let img = Rgb8::load_png(&data::images_dir(&d).join("astronaut.png")).unwrap().0;
    let pkg = xlic_quant::scales::build_package(&w, &[img.clone()], PadMode::Edge, &HwLimits::REFERENCE).unwrap();
    let m = xlic_quant::IntModel::from_package(&pkg, &HwLimits::REFERENCE).unwrap();
    let g = Geometry::new(512, 512, PadMode::Edge, 4096).unwrap();
    let mut x = xlic_quant::pipeline::input_map(&img, &g, &m.hw);
    for l in Layer::ALL {
        let t = Instant::now();
        let out = run_layer_parallel(l.spec(), &m.hw, g.input(l), &x, m.data(l)).unwrap();
        let s = t.elapsed().as_secs_f64();
        let macs = layer_macs(l.spec(), g.output(l));
        println!("{:8} {:6.3}s {:7.2} GMAC {:6.2} GMAC/s", l.name(), s, macs as f64 / 1e9, macs as f64 / 1e9 / s);
        x = out;
    }
}
