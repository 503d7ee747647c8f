//! Mutation fuzzing of the parsers that take outside input: the model
//! package parser (the firmware runs it on whatever the card holds), the
//! PNG reader, and the .XLC parser with its entropy decoder. Seeded, so a
//! failure reproduces; each case must return Ok or a typed error, never
//! panic.
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

/// A small .XLC file: a 100x60 image's latent with values of every size.
fn small_xlc(model_id: u32) -> (xlic_model::Geometry, Vec<u8>) {
    let g = xlic_model::Geometry::new(100, 60, xlic_model::PadMode::Zero, HW.max_side).unwrap();
    let shape = g.latent_shape(HW.lanes);
    let mut map = vec![0i16; shape.len()];
    let mut rng = Rng::new(0x5eed_0003);
    xlic_model::latent::for_each_in_file_order(&shape, |m, _| {
        map[m] = match rng.below(20) {
            0..=8 => 0,
            9..=15 => rng.range(-3, 3) as i16,
            16..=18 => rng.range(-200, 200) as i16,
            _ => rng.range(i16::MIN as i64, i16::MAX as i64) as i16,
        }
    });
    let mut out = vec![0u8; xlic_model::bitstream::file_bound(&g)];
    let h = xlic_model::bitstream::write_map(model_id, &g, &shape, &map, &mut out).unwrap();
    out.truncate(h.file_len());
    (g, out)
}

/// Parse and, when the checks pass, decode: Ok or a typed error, never a
/// panic (a read past a buffer would be one); every call returns.
fn parse_and_decode(b: &[u8], model_id: u32) -> Result<(), xlic_model::bitstream::XlcError> {
    let x = xlic_model::bitstream::parse(b, model_id, HW.max_side)?;
    let shape = x.geometry.latent_shape(HW.lanes);
    let mut map = vec![0i16; shape.len()];
    x.decode_map(&shape, &mut map)
}

#[test]
fn xlc_parser_and_decoder_never_panic() {
    let id = 0x0bad_cafe;
    let (_, good) = small_xlc(id);
    assert!(parse_and_decode(&good, id).is_ok());
    let mut rng = Rng::new(0x5eed_0004);
    let (mut refused, mut decoded) = (0, 0);
    for i in 0..3000 {
        // Half the cases damage the header, half anywhere and get a valid
        // checksum, as a crafted file would: they reach the header checks
        // and the payload decoder.
        let mut b = mutate(&mut rng, &good, if i % 2 == 0 { 32 } else { good.len() });
        if i % 2 == 1 && b.len() >= 36 {
            let end = b.len() - 4;
            let crc = xlic_model::crc32::crc32(&b[..end]);
            b[end..].copy_from_slice(&crc.to_le_bytes());
            if b.len() == good.len() && xlic_model::bitstream::parse(&b, id, HW.max_side).is_ok() {
                decoded += 1;
            }
        }
        if parse_and_decode(&b, id).is_err() {
            refused += 1;
        }
    }
    // A changed payload with a valid checksum decodes to something or is
    // refused; everything else is refused by the checks.
    assert!(refused > 1500, "only {refused} of 3000 damaged files were refused");
    assert!(decoded > 300, "only {decoded} crafted files reached the decoder");
}

#[test]
fn xlc_decoder_survives_random_payloads() {
    // Random payloads behind a valid header and checksum: the decoder
    // reads only its buffer (zeros beyond, then Truncated) and stops.
    let id = 7;
    let (_, good) = small_xlc(id);
    let mut rng = Rng::new(0x5eed_0005);
    for _ in 0..300 {
        let n = rng.below(3000);
        let mut b = good[..32].to_vec();
        b[28..32].copy_from_slice(&(n as u32).to_le_bytes());
        b.extend((0..n).map(|_| rng.next() as u8));
        let crc = xlic_model::crc32::crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        assert!(parse_and_decode(&b, id).is_err());
    }
}
