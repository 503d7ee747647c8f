//! The whole path under QEMU: a card with the model package and an image,
//! the firmware driving the co-simulated accelerator through its console,
//! the results read back from the card. Used by `cargo xtask demo`, the
//! end-to-end tests and the benchmark.
use crate::cosim::CosimOptions;
use crate::qemu::{BootEl, Qemu, Session, PROMPT};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xlic_model::PadMode;

/// Names on the card (8.3).
pub const MODEL_FILE: &str = "MODEL.PKG";
pub const IMAGE_FILE: &str = "IMAGE.PNG";
/// What the firmware writes (firmware/src/console/codec.rs).
pub const RECON_FILE: &str = "RECON.PNG";
pub const RECON_XLC_FILE: &str = "RECON.XLC";
pub const LATENT_FILE: &str = "LATENT.BIN";

/// A card image holding `files`, big enough for them and the results.
pub fn make_card(path: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    // Room for the results (a PNG and a latent a few times the input) and
    // the FAT; card sizes are powers of two.
    let need_mib = (4 * bytes >> 20) + 16;
    let size = need_mib.next_power_of_two().max(xlic_cardimg::DEFAULT_SIZE_MIB);
    Ok(xlic_cardimg::build(path, files, size)?)
}

/// One layer's line of `run` or `step`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerLine {
    pub name: String,
    pub ms: f64,
    pub crc: u32,
}

/// The per-layer lines in console text, in order.
pub fn layer_lines(text: &str) -> Vec<LayerLine> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let name = *w.first()?;
            xlic_model::Layer::from_name(name)?;
            let ms_at = w.iter().position(|&x| x == "ms")?;
            let crc = w.iter().position(|&x| x == "CRC-32").and_then(|i| w.get(i + 1))?;
            Some(LayerLine {
                name: name.to_string(),
                ms: w.get(ms_at.checked_sub(1)?)?.parse().ok()?,
                crc: u32::from_str_radix(crc.trim_start_matches("0x"), 16).ok()?,
            })
        })
        .collect()
}

/// What a codec run under QEMU produced.
pub struct CodecRun {
    pub transcript: String,
    pub layers: Vec<LayerLine>,
    pub recon_png: Vec<u8>,
    /// RECON.XLC: the latent, compressed on the A53.
    pub recon_xlc: Vec<u8>,
    pub latent: Vec<u8>,
    /// QEMU start to exit.
    pub wall: Duration,
    /// Of which the HLS kernel computed (host time, from the bridge).
    pub kernel_seconds: f64,
}

/// Boot the firmware with the card and the co-simulation, load the model
/// and the image, `run`, and take RECON.PNG, RECON.XLC and LATENT.BIN off
/// the card.
pub fn codec_in_qemu(elf: &Path, work: &Path, package: &[u8], png: &[u8], pad: PadMode, echo: bool) -> Result<CodecRun> {
    std::fs::create_dir_all(work)?;
    let card = work.join("card.img");
    make_card(&card, &[(MODEL_FILE.into(), package.to_vec()), (IMAGE_FILE.into(), png.to_vec())])?;
    let mut q = Qemu::new(elf, BootEl::El3);
    q.card = Some(card.clone());
    q.cosim = Some(CosimOptions::default());
    let t = Instant::now();
    let mut s = Session::start_echoing(&q, echo)?;
    s.expect(PROMPT, Duration::from_secs(60))?;
    let limit = Duration::from_secs(900);
    for cmd in [format!("load model {MODEL_FILE}"), format!("load image {IMAGE_FILE} {}", pad.name()), "run".into()] {
        let out = s.command(&cmd, limit)?;
        if out.contains("error:") {
            bail!("`{cmd}` failed on the firmware's console:\n{out}");
        }
    }
    let kernel_seconds = s.bridge().map(|b| b.compute_seconds()).unwrap_or(0.0);
    s.send(b"exit 0\n")?;
    let transcript = s.transcript();
    let st = s.wait(Duration::from_secs(60))?;
    let wall = t.elapsed();
    if !st.success() {
        bail!("the firmware exited with {st}; console:\n{transcript}");
    }
    let recon_png = xlic_cardimg::read(&card, RECON_FILE).context("RECON.PNG is not on the card")?;
    let recon_xlc = xlic_cardimg::read(&card, RECON_XLC_FILE).context("RECON.XLC is not on the card")?;
    let latent = xlic_cardimg::read(&card, LATENT_FILE).context("LATENT.BIN is not on the card")?;
    Ok(CodecRun { layers: layer_lines(&transcript), transcript, recon_png, recon_xlc, latent, wall, kernel_seconds })
}

/// One image through `compress` and `decompress` on the firmware.
pub struct FirmwareXlc {
    /// Name of the PNG on the card.
    pub image: String,
    /// The .XLC file the firmware wrote, and the PNG it decompressed it to.
    pub xlc: Vec<u8>,
    pub png: Vec<u8>,
    /// Latent values and guest microseconds of the entropy coding and
    /// decoding on the A53, as the console printed them.
    pub encode: (u64, u64),
    pub decode: (u64, u64),
    pub transcript: String,
}

/// `entropy coding|decoding on the A53: N latent values in U us`.
pub fn entropy_line(text: &str, what: &str) -> Option<(u64, u64)> {
    let key = format!("entropy {what} on the A53: ");
    let rest = &text[text.find(&key)? + key.len()..];
    let mut w = rest.split_whitespace();
    let n = w.next()?.parse().ok()?;
    let us = w.nth(3)?.parse().ok()?;
    Some((n, us))
}

/// Boot the firmware with a card holding `package` and `images` (8.3
/// names), load the model, then for each image `compress NAME X.XLC pad`
/// and `decompress X.XLC X.PNG`; take the files off the card. With
/// `icount`, QEMU runs one instruction per guest nanosecond, so the
/// entropy timings are instruction counts.
pub fn xlc_in_qemu(elf: &Path, work: &Path, package: &[u8], images: &[(String, Vec<u8>)], pad: PadMode, icount: bool) -> Result<Vec<FirmwareXlc>> {
    std::fs::create_dir_all(work)?;
    let card = work.join("card.img");
    let mut files = vec![(MODEL_FILE.to_string(), package.to_vec())];
    files.extend(images.iter().cloned());
    make_card(&card, &files)?;
    let mut q = Qemu::new(elf, BootEl::El3);
    q.card = Some(card.clone());
    q.cosim = Some(CosimOptions::default());
    q.icount_shift = icount.then_some(0);
    let mut s = Session::start(&q)?;
    s.expect(PROMPT, Duration::from_secs(120))?;
    let limit = Duration::from_secs(1800);
    let out = s.command(&format!("load model {MODEL_FILE}"), limit)?;
    if out.contains("error:") {
        bail!("loading the model failed on the firmware's console:\n{out}");
    }
    let mut texts = Vec::new();
    for (k, (name, _)) in images.iter().enumerate() {
        let c = s.command(&format!("compress {name} X{k}.XLC {}", pad.name()), limit)?;
        let d = s.command(&format!("decompress X{k}.XLC X{k}.PNG"), limit)?;
        if c.contains("error:") || d.contains("error:") {
            bail!("compress or decompress of {name} failed on the firmware's console:\n{c}{d}");
        }
        texts.push((c, d));
    }
    s.send(b"exit 0\n")?;
    let st = s.wait(Duration::from_secs(60))?;
    if !st.success() {
        bail!("the firmware exited with {st}");
    }
    let mut runs = Vec::new();
    for (k, ((name, _), (c, d))) in images.iter().zip(texts).enumerate() {
        runs.push(FirmwareXlc {
            image: name.clone(),
            xlc: xlic_cardimg::read(&card, &format!("X{k}.XLC"))?,
            png: xlic_cardimg::read(&card, &format!("X{k}.PNG"))?,
            encode: entropy_line(&c, "coding").context("no entropy coding line")?,
            decode: entropy_line(&d, "decoding").context("no entropy decoding line")?,
            transcript: format!("{c}{d}"),
        });
    }
    Ok(runs)
}

/// A scratch folder under target/xlic.
pub fn scratch(name: &str) -> PathBuf {
    let d = crate::work_dir().join(name);
    std::fs::create_dir_all(&d).ok();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_lines_are_read_from_the_console_text() {
        let text = "x\nentropy coding on the A53: 70528 latent values in 10531 us (149.3 ns per value)\n";
        assert_eq!(entropy_line(text, "coding"), Some((70528, 10531)));
        assert_eq!(entropy_line(text, "decoding"), None);
    }

    #[test]
    fn layer_lines_are_read_from_the_console_text() {
        let text = "running\n  ana_0   conv 9x9/4   3x464x304 -> 128x116x76    865.942 ms  CRC-32 0x114f61d5\n  gdn_0 oops\nRECON.PNG: x\n";
        assert_eq!(layer_lines(text), vec![LayerLine { name: "ana_0".into(), ms: 865.942, crc: 0x114f_61d5 }]);
    }
}
