//! Mutation fuzzing of the two parsers that take outside input: the model
//! package parser (the firmware runs it on whatever the card holds) and
//! the PNG reader. Seeded, so a failure reproduces; each case must return
//! Ok or a typed error, never panic.
use xlic_model::package::Package;
use xlic_model::HwLimits;

/// The accelerator's configuration (hls/xlic_config.h via accel-regs).
const HW: HwLimits = accel_regs::HW_LIMITS;
use xlic_ref::Rgb8;

use xlic_ref::rng::SeededRng as Rng;

fn mutate(rng: &mut Rng, good: &[u8], hot: usize) -> Vec<u8> {
    let mut b = good.to_vec();
    match rng.below(4) {
        0 => b.truncate(rng.below(good.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                // Mostly the header and tables, where the parser decides things.
                let at = if rng.below(4) > 0 { rng.below(hot.min(b.len())) } else { rng.below(b.len()) };
                b[at] = rng.next() as u8;
            }
        }
        2 => {
            let at = rng.below(hot.min(b.len()));
            b[at] ^= 1 << rng.below(8);
        }
        _ => b.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
    }
    b
}

fn tiny_package() -> Vec<u8> {
    use xlic_model::layout::WeightShape;
    use xlic_model::quant::ChannelParams;
    let hw = HW;
    let layers = xlic_model::LAYERS
        .iter()
        .map(|s| {
            let ws = WeightShape::of(s, &hw);
            let p = if s.op.is_normaliser() { ChannelParams { bias: 9, mult: 1, shift: 3 } } else { ChannelParams { bias: 9, mult: 20000, shift: 20 } };
            (vec![7i16; ws.len()], vec![p; ws.cout_padded()])
        })
        .collect::<Vec<_>>();
    xlic_model::package::write(&hw, 0, &layers)
}

#[test]
fn package_parser_never_panics() {
    let good = tiny_package();
    let hw = HW;
    assert!(Package::parse(&good, &hw).is_ok());
    let mut rng = Rng::new(0x5eed_0001);
    let mut refused = 0;
    for _ in 0..3000 {
        let b = mutate(&mut rng, &good, 64 + 48 * 10);
        if Package::parse(&b, &hw).is_err() {
            refused += 1;
        }
    }
    // Almost every mutation is caught by a length, table or CRC check.
    assert!(refused > 2900, "only {refused} of 3000 damaged packages were refused");
}

#[test]
fn png_reader_never_panics() {
    let mut img = Rgb8::new(24, 16);
    for (i, v) in img.data.iter_mut().enumerate() {
        *v = (i * 31 % 256) as u8;
    }
    let good = img.encode_png();
    let mut rng = Rng::new(0x5eed_0002);
    for _ in 0..5000 {
        let b = mutate(&mut rng, &good, good.len());
        let _ = Rgb8::decode_png(&b, std::path::Path::new("fuzz.png"));
    }
}
