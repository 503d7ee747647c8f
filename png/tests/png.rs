//! The PNG decoder and the streaming encoder on the host: round trips
//! through the `png` crate (an independent decoder), segments encoded out
//! of order and joined, and a crafted file for each rule of the decoder.
mod common;
use common::*;
use xlic_png::{decode_into, BlockEncoder, Filter, Options, PngError, PngWriter, Rows};

fn host_decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let d = png::Decoder::new(std::io::Cursor::new(png));
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn our_decode(png: &[u8]) -> Result<Vec<u8>, PngError> {
    let h = xlic_png::read_header(png)?;
    let mut out = vec![0u8; h.raw_bytes().unwrap() + 64];
    let d = decode_into(png, &mut out)?;
    let rb = h.row_bytes();
    Ok((0..h.height as usize).flat_map(|y| out[d.offset(y, 0)..d.offset(y, rb)].to_vec()).collect())
}

fn encode_vec(src: &impl Rows, opts: Options) -> Vec<u8> {
    let mut v = Vec::new();
    xlic_png::encode(src, opts, |b: &[u8]| -> Result<(), ()> {
        v.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    v
}

#[test]
fn every_filter_and_level_round_trips_through_an_independent_decoder() {
    for (w, h) in [(1, 1), (2, 3), (7, 5), (451, 300), (100, 2700)] {
        let src = Synthetic { w, h, seed: w + h };
        let want = src.pixels();
        for filter in Filter::ALL {
            for level in [0, 1, 6, 9] {
                let png = encode_vec(&src, Options { filter, level });
                let (hw, hh, px) = host_decode(&png);
                assert_eq!((hw, hh), (w, h));
                assert!(px == want, "{w}x{h} {filter:?} level {level}: the png crate decodes other pixels");
                assert!(our_decode(&png).unwrap() == want, "{w}x{h} {filter:?} level {level}: our decoder disagrees");
            }
        }
    }
}

/// Noise hardly compresses: the compressor's output outruns the encoder's
/// staging buffer, so flushes find output still pending. Every block must
/// still end with its sync flush (a lost one corrupts the stream).
#[test]
fn noise_round_trips_in_every_block_layout() {
    struct Noise(u32, u32);
    impl Rows for Noise {
        fn width(&self) -> u32 {
            self.0
        }
        fn height(&self) -> u32 {
            self.1
        }
        fn row(&self, y: u32, out: &mut [u8]) {
            let mut h = 0x9e37_79b9u32 ^ y.wrapping_mul(0x85eb_ca6b);
            for b in out.iter_mut() {
                h ^= h << 13;
                h ^= h >> 17;
                h ^= h << 5;
                // Mostly noise, some runs: deflate blocks of every kind.
                *b = if h % 7 == 0 { 0 } else { (h >> 24) as u8 };
            }
        }
    }
    let (w, h) = (1024, 96);
    let src = Noise(w, h);
    let mut want = vec![0u8; (3 * w * h) as usize];
    for y in 0..h {
        src.row(y, &mut want[(3 * w * y) as usize..(3 * w * (y + 1)) as usize]);
    }
    // Blocks of 1 to 24 rows: some block ends right after the compressor
    // emitted a deflate block larger than the staging buffer.
    for step in 1..=24 {
        for (filter, level) in [(Filter::None, 1), (Filter::Average, 1), (Filter::Paeth, 6), (Filter::None, 0)] {
            let mut png = Vec::new();
            xlic_png::encode::encode_in_blocks(&src, Options { filter, level }, step, |b: &[u8]| -> Result<(), ()> {
                png.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
            let d = png::Decoder::new(std::io::Cursor::new(&png));
            let px = d.read_info().and_then(|mut r| {
                let mut buf = vec![0; r.output_buffer_size().unwrap()];
                r.next_frame(&mut buf).map(|_| buf)
            });
            assert!(px.as_ref().is_ok_and(|p| *p == want), "blocks of {step} rows, {filter:?} level {level}: {:?}", px.err());
        }
    }
}

/// Blocks encoded in any order by separate encoders (as on four cores)
/// and joined in order give the same file as one encoder in one pass.
#[test]
fn segments_are_independent_and_join_into_the_same_file() {
    let src = Synthetic { w: 200, h: 5000, seed: 3 };
    let opts = Options { filter: Filter::Paeth, level: 6 };
    let sequential = encode_vec(&src, opts);
    let step = xlic_png::encode::rows_per_block(src.w);
    let blocks: Vec<std::ops::Range<u32>> = (0..src.h).step_by(step as usize).map(|y| y..(y + step).min(src.h)).collect();
    assert!(blocks.len() >= 4, "the test needs several blocks");
    let mut parts: Vec<Option<(Vec<u8>, xlic_png::Segment)>> = vec![None; blocks.len()];
    let mut encoders: Vec<BlockEncoder> = (0..4).map(|_| BlockEncoder::new(src.w, opts)).collect();
    // Last block first, then the others in reverse, round-robin over four encoders.
    for (k, i) in (0..blocks.len()).rev().enumerate() {
        let mut bytes = Vec::new();
        let seg = encoders[k % 4].encode(&src, blocks[i].clone(), i == blocks.len() - 1, &mut |b: &[u8]| -> Result<(), ()> {
            bytes.extend_from_slice(b);
            Ok(())
        });
        parts[i] = Some((bytes, seg.unwrap()));
    }
    let mut joined = Vec::new();
    let mut w = PngWriter::new(src.w, src.h, opts.level, |b: &[u8]| -> Result<(), ()> {
        joined.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    for p in parts.iter().flatten() {
        w.data(&p.0).unwrap();
        w.segment_done(&p.1);
    }
    let summary = w.finish().unwrap();
    assert_eq!(summary.raw, (1 + 3 * src.w as u64) * src.h as u64);
    assert!(joined == sequential, "out-of-order blocks joined differ from the one-pass file");
    assert!(host_decode(&joined).2 == src.pixels());
}

fn err(png: &[u8]) -> PngError {
    our_decode(png).expect_err("decoded")
}

#[test]
fn each_rule_of_the_decoder_has_its_crafted_file() {
    let (w, h) = (40, 30);
    let raw = raw_rgb(w, h, 1);
    let good = rgb_png(w, h, &zlib(&raw), 100);
    assert!(our_decode(&good).is_ok());

    // A chunk CRC that does not match: IHDR, an IDAT, an ancillary chunk.
    let mut bad = good.clone();
    bad[8 + 8 + 5] ^= 1; // inside IHDR's data
    assert!(matches!(err(&bad), PngError::Crc { chunk, at: 8, .. } if &chunk == b"IHDR"));
    let mut bad = good.clone();
    let idat_data = 8 + 25 + 8;
    bad[idat_data + 50] ^= 0x40;
    assert!(matches!(err(&bad), PngError::Crc { chunk, .. } if &chunk == b"IDAT"), "{:?}", err(&bad));
    let text = png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), { let mut c = chunk(b"tEXt", b"Comment\0hello"); c[10] ^= 1; c }, chunk(b"IDAT", &zlib(&raw)), chunk(b"IEND", &[])]);
    assert!(matches!(err(&text), PngError::Crc { chunk, .. } if &chunk == b"tEXt"));
    assert!(err(&bad).to_string().contains("fails its CRC check"));

    // An Adler-32 that does not match (the chunk CRCs are right).
    let mut z = zlib(&raw);
    let n = z.len();
    z[n - 1] ^= 1;
    let e = err(&rgb_png(w, h, &z, 100));
    assert!(matches!(e, PngError::Adler { .. }), "{e:?}");
    assert!(e.to_string().starts_with("the image data fails its Adler-32 check"), "{e}");

    // A complete zlib stream holding half the scanlines.
    let e = err(&rgb_png(w, h, &zlib(&raw[..raw.len() / 2]), 100));
    assert_eq!(e, PngError::TooLittleData { got: raw.len() / 2, need: raw.len(), rows: 15, height: 30 });
    assert_eq!(e.to_string(), format!("the image data holds {} bytes but IHDR implies {}: only 15 of 30 scanlines are complete", raw.len() / 2, raw.len()));

    // A stream inflating 10 MB past the image: refused at the first byte too many.
    let mut long = raw.clone();
    long.resize(raw.len() + (10 << 20), 0);
    let e = err(&rgb_png(w, h, &zlib(&long), 1 << 16));
    assert_eq!(e, PngError::TooMuchData { need: raw.len() });
    // One byte too many.
    let mut one = raw.clone();
    one.push(0);
    assert_eq!(err(&rgb_png(w, h, &zlib(&one), 100)), PngError::TooMuchData { need: raw.len() });
    // Also when the buffer is exactly the image's size (no spare byte).
    let exact = decode_into(&rgb_png(w, h, &zlib(&one), 1 << 16), &mut vec![0u8; raw.len()]);
    assert_eq!(exact.unwrap_err(), PngError::TooMuchData { need: raw.len() });
    assert!(decode_into(&good, &mut vec![0u8; raw.len()]).is_ok(), "an exact buffer is enough");

    // Bytes after the end of the zlib stream.
    let mut z = zlib(&raw);
    z.extend_from_slice(b"junk");
    assert_eq!(err(&rgb_png(w, h, &z, 1 << 16)), PngError::AfterStream { bytes: 4 });
    let mut chunks = vec![chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"IDAT", &zlib(&raw)), chunk(b"IDAT", b"x")];
    chunks.push(chunk(b"IEND", &[]));
    assert_eq!(err(&png(&chunks)), PngError::AfterStream { bytes: 1 });

    // IHDR claiming 30000x30000: the image data would be 2.7 GB, not the
    // buffer's (the firmware refuses it by size before that).
    let huge = rgb_png(30000, 30000, &zlib(&raw), 100);
    let hdr = xlic_png::read_header(&huge).unwrap();
    assert_eq!((hdr.width, hdr.height), (30000, 30000));
    assert!(matches!(decode_into(&huge, &mut vec![0; 1 << 20]), Err(PngError::Buffer { need: 2_700_030_000, .. })));

    // Truncated files.
    assert!(matches!(err(&good[..good.len() / 2]), PngError::Truncated { .. } | PngError::StreamTruncated { .. }));
    assert_eq!(err(&good[..good.len() - 12]), PngError::NoIend);
    let z = zlib(&raw);
    let cut = png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"IDAT", &z[..z.len() / 2]), chunk(b"IEND", &[])]);
    assert!(matches!(err(&cut), PngError::StreamTruncated { .. }), "{:?}", err(&cut));
    assert_eq!(err(&good[..5]), PngError::NotPng);

    // A filter type beyond 4.
    let mut f = raw.clone();
    f[(3 * w as usize + 1) * 7] = 5;
    assert_eq!(err(&rgb_png(w, h, &zlib(&f), 100)), PngError::BadFilter { row: 7, filter: 5 });

    // Chunk order and kinds.
    let z = zlib(&raw);
    let split = png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"IDAT", &z[..10]), chunk(b"tEXt", b"a\0b"), chunk(b"IDAT", &z[10..]), chunk(b"IEND", &[])]);
    assert_eq!(err(&split), PngError::IdatNotConsecutive);
    let critical = png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"ABCD", b""), chunk(b"IDAT", &z), chunk(b"IEND", &[])]);
    assert_eq!(err(&critical), PngError::UnknownCritical(*b"ABCD"));
    assert_eq!(err(&png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"IEND", &[])])), PngError::NoIdat);
    assert!(matches!(err(&png(&[chunk(b"tEXt", b"a\0b")])), PngError::FirstNotIhdr { .. }));
    let mut bad_zlib = z.clone();
    bad_zlib[0] = 0x79;
    assert!(matches!(err(&rgb_png(w, h, &bad_zlib, 100)), PngError::ZlibHeader { cmf: 0x79, .. }));
    let mut bad_deflate = z.clone();
    for b in &mut bad_deflate[2..12] {
        *b = 0xff;
    }
    assert!(matches!(err(&rgb_png(w, h, &bad_deflate, 100)), PngError::Deflate | PngError::TooMuchData { .. } | PngError::Adler { .. }));

    // IHDR's own rules.
    let one = |d: Vec<u8>| err(&png(&[chunk(b"IHDR", &d), chunk(b"IDAT", &z), chunk(b"IEND", &[])]));
    assert_eq!(one(ihdr(0, 5, 8, 2)), PngError::ZeroSize);
    assert!(matches!(one(ihdr(5, 5, 3, 2)), PngError::BadDepth { depth: 3, .. }));
    assert_eq!(one(ihdr(5, 5, 8, 5)), PngError::BadColorType(5));
    let mut d = ihdr(5, 5, 8, 2);
    d[10] = 1;
    assert_eq!(one(d), PngError::Compression(1));
    let mut d = ihdr(5, 5, 8, 2);
    d[12] = 2;
    assert_eq!(one(d), PngError::InterlaceMethod(2));
    assert_eq!(one(ihdr(5, 5, 8, 2)[..12].to_vec()), PngError::IhdrLength(12));
}

/// Other encoders' files decode to what they hold: colour types, bit
/// depths below 8, IDAT split in small chunks.
#[test]
fn files_from_the_png_crate_decode_to_their_pixels() {
    let (w, h) = (37u32, 23u32);
    for (color, depth, channels) in [(png::ColorType::Rgb, png::BitDepth::Eight, 3), (png::ColorType::Rgba, png::BitDepth::Eight, 4), (png::ColorType::Grayscale, png::BitDepth::Eight, 1), (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight, 2), (png::ColorType::Grayscale, png::BitDepth::Four, 1)] {
        let bits = channels * if depth == png::BitDepth::Four { 4 } else { 8 };
        let row = (w as usize * bits).div_ceil(8);
        let data: Vec<u8> = (0..row * h as usize).map(|i| (i * 37 % 251) as u8).collect();
        for filter in [png::Filter::NoFilter, png::Filter::Sub, png::Filter::Up, png::Filter::Avg, png::Filter::Paeth] {
            let mut out = Vec::new();
            let mut e = png::Encoder::new(&mut out, w, h);
            e.set_color(color);
            e.set_depth(depth);
            e.set_filter(filter);
            let mut wr = e.write_header().unwrap();
            wr.write_image_data(&data).unwrap();
            wr.finish().unwrap();
            assert_eq!(our_decode(&out).unwrap(), data, "{color:?} {depth:?} {filter:?}");
        }
    }
}

/// Files other tests do not craft: the image data in one-byte IDAT
/// chunks (the zlib header then spans two chunks, and a preset
/// dictionary or a window over 32 KiB is still named as such), Adam7
/// interlacing, palettes in the wrong place, sides of 1 and 4096.
#[test]
fn one_byte_chunks_interlacing_palettes_and_thin_images() {
    let (w, h) = (40u32, 20u32);
    let raw = raw_rgb(w, h, 1);
    let z = zlib(&raw);
    let err = |png: &[u8]| {
        let h = xlic_png::read_header(png).unwrap();
        decode_into(png, &mut vec![0u8; h.raw_bytes().unwrap() + 16]).unwrap_err()
    };
    assert_eq!(our_decode(&rgb_png(w, h, &z, 1)).unwrap(), raw.chunks(3 * w as usize + 1).flat_map(|r| r[1..].to_vec()).collect::<Vec<_>>());
    // zlib headers with a preset dictionary (FDICT) and a 64 KiB window
    // (CINFO 8), FCHECK right: named whether or not the header is split.
    let header = |cmf: u8, flg: u8| {
        let flg = flg + (31 - ((cmf as u16 * 256 + flg as u16) % 31) as u8) % 31;
        let mut d = vec![cmf, flg];
        if flg & 0x20 != 0 {
            d.extend_from_slice(&[0, 0, 0, 1]); // DICTID
        }
        d.extend_from_slice(&z[2..]);
        d
    };
    for (cmf, flg) in [(0x78u8, 0x20u8), (0x88, 0)] {
        let d = header(cmf, flg);
        for split in [1, 1 << 20] {
            let e = err(&rgb_png(w, h, &d, split));
            assert!(matches!(e, PngError::ZlibHeader { .. }), "CMF 0x{cmf:02x} FLG 0x{flg:02x} in chunks of {split}: {e:?}");
        }
    }
    assert!(err(&rgb_png(w, h, &header(0x78, 0x20), 1)).to_string().contains("does not start with a valid zlib header"));
    // An empty IDAT first.
    let empty_first = png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"IDAT", &[]), chunk(b"IDAT", &z), chunk(b"IEND", &[])]);
    assert!(our_decode(&empty_first).is_ok());

    // Interlaced: refused, whatever the data holds.
    let mut d = ihdr(w, h, 8, 2);
    d[12] = 1;
    let e = err(&png(&[chunk(b"IHDR", &d), chunk(b"IDAT", &z), chunk(b"IEND", &[])]));
    assert_eq!(e, PngError::Interlaced);
    assert!(e.to_string().contains("interlaced (Adam7)"));

    // Palettes: before the data, 1 to 256 entries, present for indexed colour.
    let idx: Vec<u8> = (0..h).flat_map(|y| std::iter::once(0u8).chain((0..w).map(move |x| ((x + y) % 4) as u8))).collect();
    let iz = zlib(&idx);
    let indexed = |chunks: Vec<Vec<u8>>| {
        let mut all = vec![chunk(b"IHDR", &ihdr(w, h, 8, 3))];
        all.extend(chunks);
        all.push(chunk(b"IEND", &[]));
        png(&all)
    };
    assert!(our_decode(&indexed(vec![chunk(b"PLTE", &[0; 12]), chunk(b"IDAT", &iz)])).is_ok());
    assert_eq!(err(&indexed(vec![chunk(b"IDAT", &iz)])), PngError::NoPalette);
    assert_eq!(err(&indexed(vec![chunk(b"IDAT", &iz), chunk(b"PLTE", &[0; 12])])), PngError::NoPalette);
    let rgb_after = png(&[chunk(b"IHDR", &ihdr(w, h, 8, 2)), chunk(b"IDAT", &z), chunk(b"PLTE", &[0; 12]), chunk(b"IEND", &[])]);
    assert_eq!(err(&rgb_after), PngError::Palette { after_idat: true, len: 12 });
    assert_eq!(err(&indexed(vec![chunk(b"PLTE", &[0; 13]), chunk(b"IDAT", &iz)])), PngError::Palette { after_idat: false, len: 13 });
    assert_eq!(err(&indexed(vec![chunk(b"PLTE", &[0; 3 * 257]), chunk(b"IDAT", &iz)])), PngError::Palette { after_idat: false, len: 771 });

    // One pixel, and a row of 4096.
    for (w, h) in [(1, 1), (4096, 1), (1, 4096)] {
        let raw = raw_rgb(w, h, 5);
        let png = rgb_png(w, h, &zlib(&raw), 7);
        assert_eq!(our_decode(&png).unwrap().len(), (3 * w * h) as usize);
    }
}
