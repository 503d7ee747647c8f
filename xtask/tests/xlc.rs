//! The compressed file (.XLC): round trips on the host for every image,
//! the firmware's `compress` and `decompress` under QEMU with the
//! co-simulated accelerator, files crossing between the two byte for
//! byte, and every kind of bad file on both sides (a clear message,
//! nothing written).
use std::path::{Path, PathBuf};
use std::time::Duration;
use xlic_model::bitstream::{self, CRC_BYTES, HEADER_BYTES};
use xlic_model::{Layer, PadMode};
use xlic_ref::Rgb8;
use xtask::cosim::CosimOptions;
use xtask::e2e::{self, MODEL_FILE};
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

mod common;
use common::{data, image, int_model as model, one_at_a_time, package, HW};

const REPLY: Duration = Duration::from_secs(600);

fn dir(name: &str) -> PathBuf {
    common::scratch("xlic-xlc", name)
}

/// Every shared image, both padding modes: the decoded latent is the
/// analysis output, the reconstruction is the integer codec's, and the
/// file says what it holds.
#[test]
fn every_image_round_trips_on_the_host() {
    let paths = xlic_ref::data::list_pngs(&xlic_ref::data::images_dir(&data())).unwrap();
    assert!(paths.len() >= 5, "expected the shared test images, found {paths:?}");
    for pad in [PadMode::Zero, PadMode::Edge] {
        let m = model(pad);
        for p in &paths {
            let img = Rgb8::load_png(p).unwrap().0;
            let c = xtask::xlc::compress(m, &img, pad).unwrap();
            let d = xtask::xlc::decompress(m, &c.file).unwrap();
            let name = p.file_name().unwrap().to_string_lossy();
            assert!(d.latent == c.latent, "{name} ({}): decoded latent differs from the analysis output", pad.name());
            let run = xlic_quant::pipeline::codec(m, &img, pad).unwrap();
            assert!(d.image.data == run.recon.data, "{name} ({}): reconstruction differs from the integer codec's", pad.name());
            assert!(c.latent == run.outputs[Layer::LATENT.index()]);
            assert_eq!((d.header.width, d.header.height, d.header.pad, d.header.model_id), (img.width, img.height, pad, m.id));
            // Coded, not stored: well below the 16 bits of a raw value.
            assert!(c.header.bits_per_pixel() < 3.0, "{name}: {} bpp", c.header.bits_per_pixel());
        }
    }
}

/// A valid file with its CRC recomputed after `edit`: what a crafted file
/// looks like (past the checksum, into the checks behind it).
fn crafted(good: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = good.to_vec();
    edit(&mut b);
    let end = b.len() - CRC_BYTES;
    let crc = xlic_model::crc32::crc32(&b[..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The bad files, each with the words its message must contain.
fn bad_files(good: &[u8], other_model: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut corrupt = good.to_vec();
    corrupt[HEADER_BYTES + 10] ^= 0x10;
    vec![
        ("TRUNC.XLC", good[..good.len() - 7].to_vec(), "truncated or padded file"),
        ("CORRUPT.XLC", corrupt, "is corrupt: CRC-32"),
        ("V2.XLC", crafted(good, |b| b[8] = 2), "format version 2 is not supported"),
        ("OTHER.XLC", other_model.to_vec(), "was compressed with model package 0x"),
        ("HUGE.XLC", crafted(good, |b| b[16..18].copy_from_slice(&9000u16.to_le_bytes())), "image size is refused"),
        ("TINY.XLC", crafted(good, |b| b[18..20].copy_from_slice(&3u16.to_le_bytes())), "image size is refused"),
        (
            "GARBAGE.XLC",
            crafted(good, |b| {
                let end = b.len() - CRC_BYTES;
                for (k, v) in b[HEADER_BYTES..end].iter_mut().enumerate() {
                    *v = (k as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8;
                }
            }),
            "payload is corrupt",
        ),
        ("NOTXLC.XLC", b"\x89PNG\r\n\x1a\n not a compressed file at all, but long enough".to_vec(), "not an .XLC file"),
        ("EMPTY.XLC", Vec::new(), "not a complete .XLC file"),
    ]
}

/// The host refuses each bad file with its message and writes nothing.
#[test]
fn bad_files_are_refused_on_the_host_and_nothing_is_written() {
    let (_, img) = image("chelsea.png");
    let good = xtask::xlc::compress(model(PadMode::Edge), &img, PadMode::Edge).unwrap().file;
    let other = xtask::xlc::compress(model(PadMode::Zero), &img, PadMode::Edge).unwrap().file;
    let d = dir("host-bad");
    let pkg = d.join("edge.pkg");
    std::fs::write(&pkg, package(PadMode::Edge)).unwrap();
    for (name, bytes, want) in bad_files(&good, &other) {
        let f = d.join(name);
        std::fs::write(&f, &bytes).unwrap();
        let out = d.join(format!("{name}.png"));
        let e = xtask::xlc::decompress_cmd(&data(), &f, &out, Some(&pkg), false).expect_err(name);
        assert!(format!("{e:#}").contains(want), "{name}: {e:#} should say {want:?}");
        assert!(!out.exists(), "{name}: an output was written");
    }
}

/// `compress` and `decompress` never replace a file without `--force`,
/// say so before any work (a data folder that does not exist is not even
/// looked at), and never write over their own input, `--force` or not.
#[test]
fn host_commands_refuse_existing_outputs_and_their_inputs() {
    let d = dir("host-overwrite");
    let (png_bytes, img) = image("chelsea.png");
    let png = d.join("in.png");
    std::fs::write(&png, &png_bytes).unwrap();
    let pkg = d.join("edge.pkg");
    std::fs::write(&pkg, package(PadMode::Edge)).unwrap();
    let xlc = d.join("in.xlc");
    let file = xtask::xlc::compress(model(PadMode::Edge), &img, PadMode::Edge).unwrap().file;
    std::fs::write(&xlc, &file).unwrap();
    let nowhere = d.join("no-data-here");
    let existing = d.join("existing");
    std::fs::write(&existing, b"keep me").unwrap();
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let before = listing();
    // An existing output: refused before the model or image is loaded.
    let e = xtask::xlc::compress_cmd(&nowhere, &png, &existing, PadMode::Edge, None, false).unwrap_err();
    assert!(format!("{e:#}").contains("already exists; choose another --out, or pass --force"), "{e:#}");
    let e = xtask::xlc::decompress_cmd(&nowhere, &xlc, &existing, None, false).unwrap_err();
    assert!(format!("{e:#}").contains("already exists; choose another --out, or pass --force"), "{e:#}");
    // The input itself (by its own name, and through a hard link), even
    // with --force.
    let link = d.join("link.png");
    std::fs::hard_link(&png, &link).unwrap();
    for force in [false, true] {
        for out in [&png, &link] {
            let e = xtask::xlc::compress_cmd(&nowhere, &png, out, PadMode::Edge, None, force).unwrap_err();
            assert!(format!("{e:#}").contains("it is the input"), "{e:#}");
        }
        let e = xtask::xlc::compress_cmd(&nowhere, &png, &pkg, PadMode::Edge, Some(&pkg), force).unwrap_err();
        assert!(format!("{e:#}").contains(&format!("it is the input {}", pkg.display())), "{e:#}");
        let e = xtask::xlc::decompress_cmd(&nowhere, &xlc, &xlc, Some(&pkg), force).unwrap_err();
        assert!(format!("{e:#}").contains("it is the input"), "{e:#}");
    }
    std::fs::remove_file(&link).unwrap();
    assert_eq!(listing(), before, "a refused command wrote something");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert_eq!(std::fs::read(&png).unwrap(), png_bytes);
    assert_eq!(std::fs::read(&xlc).unwrap(), file);
    // --force replaces an existing output; a new output needs no flag.
    xtask::xlc::compress_cmd(&nowhere, &png, &existing, PadMode::Edge, Some(&pkg), true).unwrap();
    assert_eq!(std::fs::read(&existing).unwrap(), file);
    let recon = d.join("recon.png");
    xtask::xlc::decompress_cmd(&nowhere, &xlc, &recon, Some(&pkg), false).unwrap();
    xtask::xlc::decompress_cmd(&nowhere, &xlc, &recon, Some(&pkg), true).unwrap();
    let mut after = before.clone();
    after.push("recon.png".into());
    after.sort();
    assert_eq!(listing(), after, "no temporary file is left behind");
}

fn boot(card: &Path) -> Session {
    let mut q = Qemu::new(xtask::firmware::elf_for_tests(), BootEl::El3);
    q.card = Some(card.to_path_buf());
    q.cosim = Some(CosimOptions::default());
    let mut s = Session::start(&q).unwrap();
    s.expect(PROMPT, Duration::from_secs(60)).unwrap();
    s
}

fn ok(s: &mut Session, cmd: &str) -> String {
    let out = s.command(cmd, REPLY).unwrap();
    assert!(!out.contains("error:"), "`{cmd}` failed:\n{out}");
    out
}

/// The firmware compresses and decompresses, and files cross: the
/// firmware's .XLC is the host's byte for byte and decodes on the host;
/// a file the host made decodes on the firmware to the host's PNG.
#[test]
fn firmware_round_trip_and_files_crossing_both_ways() {
    let _one = one_at_a_time();
    let m = model(PadMode::Edge);
    let (png, img) = image("chelsea.png");
    let (_, other) = image("astronaut.png");
    let host_other = xtask::xlc::compress(m, &other, PadMode::Edge).unwrap();
    let card = dir("cross").join("card.img");
    let files = [(MODEL_FILE.to_string(), package(PadMode::Edge).to_vec()), ("CHELSEA.PNG".into(), png), ("HOST.XLC".into(), host_other.file.clone())];
    e2e::make_card(&card, &files).unwrap();
    let mut s = boot(&card);
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    // First, in a fresh boot, a file the host made: decompressing needs
    // nothing but the model (a board compresses and decompresses in
    // separate runs).
    ok(&mut s, "decompress HOST.XLC HOST.PNG");
    let c = ok(&mut s, "compress CHELSEA.PNG FW.XLC");
    assert!(c.contains("entropy coding on the A53: ") && c.contains(" bpp, compression ratio ") && c.contains("phases: load "), "{c}");
    assert_eq!(e2e::layer_lines(&c).len(), 5, "analysis only:\n{c}");
    let d = ok(&mut s, "decompress FW.XLC FW.PNG");
    assert!(d.contains("entropy decoding on the A53: ") && d.contains("phases: read "), "{d}");
    assert_eq!(e2e::layer_lines(&d).iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["syn_0", "igdn_0", "syn_1", "igdn_1", "syn_2"], "{d}");
    s.send(b"exit 0\n").unwrap();
    assert!(s.wait(Duration::from_secs(60)).unwrap().success());

    let fw_xlc = xlic_cardimg::read(&card, "FW.XLC").unwrap();
    let host = xtask::xlc::compress(m, &img, PadMode::Edge).unwrap();
    assert!(fw_xlc == host.file, "the firmware's FW.XLC ({} bytes) differs from the host's ({} bytes)", fw_xlc.len(), host.file.len());
    let on_host = xtask::xlc::decompress(m, &fw_xlc).unwrap();
    let reference = xlic_quant::pipeline::codec(m, &img, PadMode::Edge).unwrap();
    assert!(on_host.image.data == reference.recon.data);
    let fw_png = Rgb8::decode_png(&xlic_cardimg::read(&card, "FW.PNG").unwrap(), Path::new("FW.PNG")).unwrap().0;
    assert!(fw_png.data == reference.recon.data, "FW.PNG differs from the integer codec's reconstruction");
    let host_png = Rgb8::decode_png(&xlic_cardimg::read(&card, "HOST.PNG").unwrap(), Path::new("HOST.PNG")).unwrap().0;
    let want = xtask::xlc::decompress(m, &host_other.file).unwrap().image;
    assert!(host_png.data == want.data && (host_png.width, host_png.height) == (other.width, other.height), "HOST.PNG differs from the host's decompression");
}

/// Bad files and names on the console: each gets its message, the prompt
/// comes back, and the card is not touched.
#[test]
fn bad_files_are_refused_on_the_console_and_the_card_is_unchanged() {
    let _one = one_at_a_time();
    let (png, img) = image("chelsea.png");
    let good = xtask::xlc::compress(model(PadMode::Edge), &img, PadMode::Edge).unwrap().file;
    let other = xtask::xlc::compress(model(PadMode::Zero), &img, PadMode::Edge).unwrap().file;
    let bad = bad_files(&good, &other);
    let mut files = vec![(MODEL_FILE.to_string(), package(PadMode::Edge).to_vec()), ("CHELSEA.PNG".into(), png)];
    files.extend(bad.iter().filter(|(_, b, _)| !b.is_empty()).map(|(n, b, _)| (n.to_string(), b.clone())));
    let card = dir("fw-bad").join("card.img");
    e2e::make_card(&card, &files).unwrap();
    let before = std::fs::read(&card).unwrap();
    let mut s = boot(&card);
    let expect = |s: &mut Session, cmd: &str, want: &str| {
        let out = s.command(cmd, REPLY).unwrap();
        assert!(out.contains("error:") && out.contains(want), "`{cmd}` should say {want:?}:\n{out}");
    };
    expect(&mut s, "decompress TRUNC.XLC T.PNG", "no model loaded (use 'load model FILE' first)");
    expect(&mut s, "compress CHELSEA.PNG T.XLC", "no model loaded (use 'load model FILE' first)");
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    for (name, bytes, want) in &bad {
        if bytes.is_empty() {
            continue;
        }
        expect(&mut s, &format!("decompress {name} OUT.PNG"), want);
    }
    expect(&mut s, "decompress NOPE.XLC OUT.PNG", "no such file");
    expect(&mut s, "decompress TRUNC.XLC model.pkg", "is an input of this command (or the loaded model)");
    expect(&mut s, "decompress TRUNC.XLC TRUNC.XLC", "is an input of this command");
    expect(&mut s, "compress CHELSEA.PNG chelsea.png", "is an input of this command");
    // Any file already on the card is left as it is (before any work).
    expect(&mut s, "decompress TRUNC.XLC CHELSEA.PNG", "CHELSEA.PNG exists on the card and is left as it is; choose another name, or 'rm CHELSEA.PNG' first");
    expect(&mut s, "compress CHELSEA.PNG CORRUPT.XLC", "CORRUPT.XLC exists on the card and is left as it is");
    expect(&mut s, "compress NOPE.PNG OUT.XLC", "load image NOPE.PNG:");
    expect(&mut s, "compress CHELSEA.PNG", "needs an argument");
    s.send(b"exit 0\n").unwrap();
    assert!(s.wait(Duration::from_secs(60)).unwrap().success());
    assert!(std::fs::read(&card).unwrap() == before, "the card changed");
}

#[test]
fn the_bitstream_is_what_the_model_crate_defines() {
    // The host files name the package they need by its identity.
    let (_, img) = image("chelsea.png");
    let c = xtask::xlc::compress(model(PadMode::Zero), &img, PadMode::Zero).unwrap();
    let p = xlic_model::package::Package::parse(package(PadMode::Zero), &HW).unwrap();
    let x = bitstream::parse(&c.file, p.id(), HW.max_side).unwrap();
    assert_eq!(x.header.latent, (128, 19, 29));
    assert_eq!(x.header.file_len(), c.file.len());
}
