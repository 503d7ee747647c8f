//! Fuzzing the PNG decoder: good files from both encoders, damaged at
//! random (seeded, reproducible): bytes flipped, cut short, chunk lengths
//! changed, and in half the cases the chunk CRCs made right again so the
//! damage reaches the zlib stream, the filters and the size checks. No
//! case may panic or hang: each runs on its own thread with a deadline,
//! and a failure names its seed.
mod common;
use common::*;
use std::sync::mpsc;
use std::time::Duration;
use xlic_png::{decode_into, Filter, Options};
use xlic_ref::rng::SeededRng as Rng;

fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for (w, h, filter) in [(64, 48, Filter::Paeth), (33, 17, Filter::Adaptive), (5, 200, Filter::Sub), (300, 3, Filter::None)] {
        let mut out = Vec::new();
        xlic_png::encode(&Synthetic { w, h, seed: 1 }, Options { filter, level: 6 }, |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        v.push(out);
    }
    for (color, channels) in [(png::ColorType::Rgba, 4), (png::ColorType::Grayscale, 1), (png::ColorType::GrayscaleAlpha, 2)] {
        let (w, h) = (29u32, 31u32);
        let data: Vec<u8> = (0..w as usize * h as usize * channels).map(|i| (i * 13 % 256) as u8).collect();
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(color);
        e.set_filter(png::Filter::Paeth);
        let mut wr = e.write_header().unwrap();
        wr.write_image_data(&data).unwrap();
        wr.finish().unwrap();
        v.push(out);
    }
    // A file of many small IDAT chunks.
    v.push(rgb_png(40, 30, &zlib(&raw_rgb(40, 30, 5)), 17));
    v
}

/// Recompute every chunk's CRC (where the chunk structure still holds).
fn fix_crcs(p: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= p.len() {
        let len = u32::from_be_bytes(p[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 12).checked_add(len).filter(|&e| e <= p.len()) else { break };
        let c = crc(&p[at + 4..at + 8], &p[at + 8..end - 4]);
        p[end - 4..end].copy_from_slice(&c.to_be_bytes());
        at = end;
    }
}

fn mutate(base: &[u8], r: &mut Rng) -> Vec<u8> {
    let mut p = base.to_vec();
    for _ in 0..1 + r.below(4) {
        match r.below(6) {
            0 | 1 => {
                let i = r.below(p.len());
                p[i] ^= 1 << r.below(8);
            }
            2 => {
                let i = r.below(p.len());
                p[i] = r.next() as u8;
            }
            3 => {
                let n = r.below(p.len());
                p.truncate(n.max(1));
            }
            // A chunk length (the first chunks are at fixed places).
            4 if p.len() > 40 => {
                let at = [8, 33][r.below(2)];
                let v = [0u32, 1, 13, 0x7fff_ffff, 0xffff_ffff, r.next() as u32][r.below(6)];
                p[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            // IHDR fields: size, depth, colour type, methods.
            _ if p.len() > 33 => {
                let i = 16 + r.below(13);
                p[i] = [0u8, 1, 2, 3, 4, 6, 8, 16, 0xff][r.below(9)];
            }
            _ => {}
        }
    }
    if r.below(2) == 0 {
        fix_crcs(&mut p);
    }
    p
}

#[test]
fn decoder_survives_damaged_files() {
    let seeds = seeds();
    let (mut ok, mut refused, mut past_crc) = (0, 0, 0);
    for seed in 1..=3000u64 {
        let mut r = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let base = &seeds[r.below(seeds.len())];
        let p = mutate(base, &mut r);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| {
                // The buffer the firmware would give: the image data's
                // size if the header is sane, else a fixed 4 MiB.
                let size = xlic_png::read_header(&p).ok().and_then(|h| h.raw_bytes()).filter(|&n| n <= 4 << 20).unwrap_or(4 << 20);
                let mut out = vec![0u8; size];
                decode_into(&p, &mut out).map(|_| ())
            });
            let _ = tx.send(result);
        });
        // A deadline far beyond a case's milliseconds: it catches a hang.
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(Ok(()))) => ok += 1,
            Ok(Ok(Err(e))) => {
                refused += 1;
                if !matches!(e, xlic_png::PngError::Crc { .. } | xlic_png::PngError::NotPng | xlic_png::PngError::Truncated { .. }) {
                    past_crc += 1;
                }
                // Every refusal has words.
                assert!(!e.to_string().is_empty());
            }
            Ok(Err(_)) => panic!("seed {seed}: the decoder panicked"),
            Err(_) => panic!("seed {seed}: no answer within 60 s (hang)"),
        }
    }
    eprintln!("3000 cases: {ok} decoded, {refused} refused ({past_crc} past the CRC checks)");
    assert!(past_crc > 500 && ok > 0, "the damage must reach the zlib stream and the filters");
}
