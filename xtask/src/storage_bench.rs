//! `cargo xtask bench --only storage`: the card and PNG paths of the
//! release firmware in QEMU with `-icount shift=0`, where one guest
//! instruction is one virtual nanosecond, so the firmware's own timings
//! are deterministic instruction counts.
//!
//! Figures: SD read/write through the FAT layer, PNG decode cost per
//! pixel, and the encoder's cost and output for every filter at several
//! deflate levels (what the firmware's default was chosen from), with the
//! heap the encoder holds.
use crate::firmware::{self, BuildOptions};
use crate::qemu::{BootEl, Qemu, Session, PROMPT};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;

/// The number after `key` (digits only).
fn number(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The `WxH` after `key`.
fn dims(text: &str, key: &str) -> Option<(u64, u64)> {
    let (w, h) = text[text.find(key)? + key.len()..].split_whitespace().next()?.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

pub fn run(data: &Path) -> Result<()> {
    crate::setup::ensure()?;
    let elf = firmware::build(&BuildOptions { release: true, ..Default::default() })?;
    let img = crate::work_dir().join("bench-card.img");
    let pattern: Vec<u8> = (0..8_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let images = xlic_ref::data::images_dir(data);
    let mut files = vec![("PATTERN.BIN".to_string(), pattern)];
    for n in ["chelsea.png", "hubble_deep_field.png"] {
        files.push((xlic_cardimg::short_name(n), std::fs::read(images.join(n))?));
    }
    xlic_cardimg::build(&img, &files, 64)?;
    let mut q = Qemu::new(&elf, BootEl::El3);
    q.card = Some(img.clone());
    q.icount_shift = Some(0);
    let mut s = Session::start(&q)?;
    let t = Duration::from_secs(600);
    s.expect(PROMPT, t)?;
    let card = s.command("card", t)?;
    let cp = s.command("cp PATTERN.BIN COPY.BIN", t)?;
    println!("\nSD card under QEMU (guest time, -icount shift=0), release firmware, FAT layer xlic-fat:");
    for l in card.lines().filter(|l| l.starts_with("card:") || l.starts_with("volume:")) {
        println!("  {l}");
    }
    let kib = |key: &str| number(&cp, key).unwrap_or(0);
    println!("  8 MB file: read {} KiB/s, write {} KiB/s (cp PATTERN.BIN COPY.BIN)", kib("read "), kib("write "));
    s.command("rm COPY.BIN", t)?;
    let khz = number(&card, "bus at ").unwrap_or(0);
    println!(
        "  (QEMU moves DMA data without modelling the SD bus, so these figures are the driver's and the FAT layer's\n   cost; on the board the 4-bit bus at {khz} kHz caps transfers at {} KiB/s)",
        khz * 1000 * 4 / 8 / 1024
    );
    for name in ["CHELSEA.PNG", "HUBBLE_D.PNG"] {
        let out = s.command(&format!("load image {name}"), t)?;
        let ms = number(&out, "decoded in ").context("no decode time")?;
        let (w, h) = dims(&out, "image ").context("no size in the load reply")?;
        // 1 ns of guest time is one instruction at shift 0.
        let per_px = (ms * 1_000_000) as f64 / (w * h).max(1) as f64;
        println!("  PNG decode {name} {w}x{h}: {ms} ms guest, about {per_px:.0} instructions per pixel (every CRC, Adler-32, exact size)");
    }
    // Each image encoded with the firmware's default settings (which
    // `save image` names), then every way.
    for name in ["CHELSEA.PNG", "HUBBLE_D.PNG"] {
        s.command(&format!("load image {name}"), t)?;
        let out = s.command("save image ENC.PNG", t)?;
        let default = out
            .split_once(" (")
            .and_then(|(_, r)| r.split_once(" filter, level "))
            .map(|(f, l)| (f.to_string(), number(l, "").unwrap_or(0) as u8))
            .context("save image names no filter")?;
        s.command("rm ENC.PNG", t)?;
        println!("  PNG encode of {name} from its input map, streamed to the card (instructions per pixel include the card writes):");
        println!("    {:<9} {:>5} {:>12} {:>10} {:>9} {:>11}", "filter", "level", "instr/pixel", "bytes", "of raw", "heap KiB");
        let mut raw = 0;
        for filter in ["none", "sub", "up", "avg", "paeth", "adaptive"] {
            for level in [1u8, 3, 6, 9] {
                let out = s.command(&format!("save image ENC.PNG {filter} {level}"), t)?;
                let ms = number(&out, "encoded in ").with_context(|| format!("no encode time: {out}"))?;
                let (w, h) = dims(&out, "ENC.PNG: ").context("no size in the save reply")?;
                let bytes = number(&out, "PNG, ").context("no size")?;
                let heap = number(&out, "encoder heap ").context("no heap figure")?;
                raw = (1 + 3 * w) * h;
                let mark = if filter == default.0 && level == default.1 { "  <- default" } else { "" };
                println!(
                    "    {filter:<9} {level:>5} {:>12.0} {bytes:>10} {:>8.1}% {heap:>11}{mark}",
                    (ms * 1_000_000) as f64 / (w * h) as f64,
                    100.0 * bytes as f64 / raw as f64
                );
                s.command("rm ENC.PNG", t)?;
            }
        }
        println!("    (raw image data {raw} bytes; the encoder's heap depends on the width only)");
    }
    s.send(b"exit\n")?;
    s.wait(t)?;
    let _ = std::fs::remove_file(&img);
    Ok(())
}

