//! The firmware's SD card path under QEMU, against real FAT32 images made
//! by the card builder: listing, reading, the model package check, and the
//! errors a person meets (missing file, corrupt package, no card).
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use xtask::firmware;
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

const REPLY: Duration = Duration::from_secs(60);

fn firmware_elf() -> PathBuf {
    firmware::elf_for_tests()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xlic-storage-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A small model package from the host's own quantizer (calibrated on one
/// image: the check here is the file path, not the quality).
fn package() -> Vec<u8> {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| {
        let data = xlic_ref::data::default_dir();
        let w = xlic_ref::FloatWeights::load(&xlic_ref::data::model_dir(&data)).unwrap();
        let img = xlic_ref::Rgb8::load_png(&xlic_ref::data::images_dir(&data).join("chelsea.png")).unwrap().0;
        xlic_quant::scales::build_package(&w, &[img], xlic_model::PadMode::Edge, &accel_regs::HW_LIMITS).unwrap()
    })
    .clone()
}

fn boot(card: Option<&Path>) -> Session {
    let mut q = Qemu::new(firmware_elf(), BootEl::El3);
    q.card = card.map(Path::to_path_buf);
    let mut s = Session::start(&q).unwrap();
    s.expect(PROMPT, REPLY).unwrap();
    s
}

#[test]
fn lists_reads_and_checks_the_model_package() {
    let img = temp("good.img");
    // 8 MB of a known pattern: crosses many clusters and multi-block reads.
    let pattern: Vec<u8> = (0..8_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let files = vec![
        ("MODEL.PKG".to_string(), package()),
        ("PATTERN.BIN".to_string(), pattern.clone()),
        ("HELLO.TXT".to_string(), b"hello from the card\n".to_vec()),
        ("IMAGES/A.TXT".to_string(), b"in a folder".to_vec()),
    ];
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let mut s = boot(Some(&img));
    let card = s.command("card", REPLY).unwrap();
    assert!(card.contains("card: 64 MiB (131072 blocks)") && card.contains("FAT volume mounted"), "{card}");
    let ls = s.command("ls", REPLY).unwrap();
    assert!(ls.contains(&format!("{:<12} {:>10}", "MODEL.PKG", package().len())), "{ls}");
    assert!(ls.contains(&format!("{:<12} {:>10}", "PATTERN.BIN", pattern.len())), "{ls}");
    assert!(ls.contains(&format!("{:<12}  <dir>", "IMAGES")), "{ls}");
    assert!(ls.contains("4 entries"), "{ls}");
    let sub = s.command("ls IMAGES", REPLY).unwrap();
    assert!(sub.contains(&format!("{:<12} {:>10}", "A.TXT", 11)), "{sub}");
    let r = s.command("ls NOWHERE", REPLY).unwrap();
    assert!(r.contains("error: ls: no such file or directory on the card"), "{r}");
    let head = s.command("head HELLO.TXT 16", REPLY).unwrap();
    assert!(head.contains("68 65 6c 6c 6f 20 66 72 6f 6d 20 74 68 65 20 63  hello from the c"), "{head}");
    let load = s.command("load model MODEL.PKG", REPLY).unwrap();
    assert!(load.contains("model package ok: format version 1, 10 layers, every CRC matches"), "{load}");
    // The head of the 8 MB file, compared with what the host wrote.
    let head = s.command("head PATTERN.BIN 48", REPLY).unwrap();
    let want: String = pattern[32..48].iter().map(|b| format!(" {b:02x}")).collect();
    assert!(head.contains(&format!("000020 {want}")), "{head}\nwant {want}");
}

#[test]
fn bad_files_get_clear_messages_and_the_prompt() {
    let img = temp("bad.img");
    let mut corrupt = package();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x10;
    let mut old = package();
    old[8] = 9; // format version
    let files = vec![("CORRUPT.PKG".to_string(), corrupt), ("OLD.PKG".to_string(), old), ("SHORT.PKG".to_string(), package()[..100].to_vec())];
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("load model CORRUPT.PKG", REPLY).unwrap();
    assert!(r.contains("error: load model CORRUPT.PKG: model package") && r.contains("are corrupt (CRC mismatch)"), "{r}");
    let r = s.command("load model OLD.PKG", REPLY).unwrap();
    assert!(r.contains("format version 9 is not supported"), "{r}");
    let r = s.command("load model SHORT.PKG", REPLY).unwrap();
    assert!(r.contains("truncated"), "{r}");
    let r = s.command("load model MISSING.PKG", REPLY).unwrap();
    assert!(r.contains("error: load model MISSING.PKG: no such file or directory on the card"), "{r}");
    // Still at the prompt, still working.
    assert!(s.command("ls", REPLY).unwrap().contains("3 entries"));
}

#[test]
fn no_card_and_no_filesystem_are_reported() {
    let mut s = boot(None);
    let r = s.command("ls", REPLY).unwrap();
    assert!(r.contains("error: card: no SD card in the slot"), "{r}");
    let raw = temp("raw.img");
    std::fs::write(&raw, vec![0u8; 64 << 20]).unwrap();
    let mut s = boot(Some(&raw));
    let r = s.command("ls", REPLY).unwrap();
    assert!(r.contains("error: card: no FAT partition on the card"), "{r}");
}

fn crc_line(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(key)? + key.len()..];
    u32::from_str_radix(rest.get(..8)?, 16).ok()
}

fn encode(color: png::ColorType, depth: png::BitDepth, data: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    enc.write_header().unwrap().write_image_data(data).unwrap();
    out
}

/// The firmware's PNG decoder and input-map writer against the host's:
/// CRC-32 of the RGB pixels and of the accelerator's input map.
#[test]
fn images_decode_in_the_firmware_as_on_the_host() {
    let dir = xlic_ref::data::images_dir(&xlic_ref::data::default_dir());
    let names = ["chelsea.png", "astronaut.png", "motorcycle_left.png"];
    let mut files: Vec<(String, Vec<u8>)> = names.iter().map(|n| (xlic_cardimg::short_name(n), std::fs::read(dir.join(n)).unwrap())).collect();
    // A gray image (converted, with a note) and the kinds that are refused.
    let gray: Vec<u8> = (0..40 * 24).map(|i| (i * 7 % 256) as u8).collect();
    files.push(("GRAY.PNG".into(), encode(png::ColorType::Grayscale, png::BitDepth::Eight, &gray, 40, 24)));
    files.push(("DEEP.PNG".into(), encode(png::ColorType::Rgb, png::BitDepth::Sixteen, &vec![0u8; 40 * 24 * 6], 40, 24)));
    files.push(("TINY.PNG".into(), encode(png::ColorType::Rgb, png::BitDepth::Eight, &[0u8; 8 * 8 * 3], 8, 8)));
    let chelsea = files[0].1.clone();
    files.push(("TRUNC.PNG".into(), chelsea[..chelsea.len() / 2].to_vec()));
    let img = temp("images.img");
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let mut s = boot(Some(&img));
    for (i, n) in names.iter().enumerate() {
        let host = xlic_ref::Rgb8::load_png(&dir.join(n)).unwrap().0;
        for pad in [xlic_model::PadMode::Edge, xlic_model::PadMode::Zero] {
            let out = s.command(&format!("load image {} {}", files[i].0, pad.name()), REPLY).unwrap();
            let g = xlic_model::Geometry::new(host.width, host.height, pad, accel_regs::HW_LIMITS.max_side).unwrap();
            let map = xlic_quant::pipeline::input_map(&host, &g, &accel_regs::HW_LIMITS);
            let map_bytes: Vec<u8> = map.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(crc_line(&out, "pixels CRC-32 0x"), Some(xlic_model::crc32::crc32(&host.data)), "{n}:\n{out}");
            let map_crc = out.lines().find(|l| l.starts_with("input map")).and_then(|l| crc_line(l, "CRC-32 0x"));
            assert_eq!(map_crc, Some(xlic_model::crc32::crc32(&map_bytes)), "{n} {}:\n{out}", pad.name());
        }
    }
    let out = s.command("load image GRAY.PNG", REPLY).unwrap();
    assert!(out.contains("note: gray channel used for R, G and B") && out.contains("image 40x24 gray 8-bit"), "{out}");
    let out = s.command("load image DEEP.PNG", REPLY).unwrap();
    assert!(out.contains("error: load image DEEP.PNG: 16-bit PNGs are not supported"), "{out}");
    let out = s.command("load image TINY.PNG", REPLY).unwrap();
    assert!(out.contains("error: load image TINY.PNG: image 8x8 is too small"), "{out}");
    let out = s.command("load image TRUNC.PNG", REPLY).unwrap();
    assert!(out.contains("error: load image TRUNC.PNG: not a valid PNG"), "{out}");
    assert!(s.command("ls", REPLY).unwrap().contains("entries"), "the console must still work");
}

/// Writes from the firmware (embedded-sdmmc) read back on the host by
/// fatfs: an 8 MB copy across many clusters and multi-block writes; the
/// temporary name never survives; an existing file is never overwritten;
/// a full card leaves nothing under the final name.
#[test]
fn firmware_writes_are_whole_or_absent() {
    let pattern: Vec<u8> = (0..8_000_000u32).map(|i| (i.wrapping_mul(2246822519) >> 23) as u8).collect();
    let img = temp("write.img");
    xlic_cardimg::build(&img, &[("PATTERN.BIN".into(), pattern.clone()), ("KEEP.TXT".into(), b"keep me".to_vec())], 64).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("cp PATTERN.BIN COPY.BIN", REPLY).unwrap();
    assert!(r.contains("PATTERN.BIN -> COPY.BIN: 8000000 bytes"), "{r}");
    let r = s.command("cp PATTERN.BIN KEEP.TXT", REPLY).unwrap();
    assert!(r.contains("error: cp PATTERN.BIN KEEP.TXT: a file of that name exists; it is left as it is"), "{r}");
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    assert_eq!(xlic_cardimg::read(&img, "COPY.BIN").unwrap(), pattern);
    assert_eq!(xlic_cardimg::read(&img, "KEEP.TXT").unwrap(), b"keep me");
    let names: Vec<String> = xlic_cardimg::list(&img).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n.contains("XLICTMP")), "temporary file left: {names:?}");

    // A card filled to within about 1 MB has no room for a 2 MB copy.
    let full = temp("full.img");
    xlic_cardimg::build(&full, &[], 64).unwrap();
    let empty = xlic_cardimg::free_bytes(&full).unwrap() as usize;
    let files = vec![("BIG.BIN".to_string(), vec![0xa5u8; 2_000_000]), ("FILL.BIN".to_string(), vec![0x5au8; empty - 3_000_000])];
    xlic_cardimg::build(&full, &files, 64).unwrap();
    assert!(xlic_cardimg::free_bytes(&full).unwrap() < 2_000_000);
    let mut s = boot(Some(&full));
    let r = s.command("cp BIG.BIN BIG2.BIN", REPLY).unwrap();
    assert!(r.contains("error: cp BIG.BIN BIG2.BIN: the card is full; nothing was written under the final name"), "{r}");
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    let mut names: Vec<String> = xlic_cardimg::list(&full).unwrap().into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, vec!["BIG.BIN".to_string(), "FILL.BIN".to_string()], "after a failed write");
}

#[test]
fn corrupt_boot_sector_is_reported() {
    let img = temp("corrupt.img");
    xlic_cardimg::build(&img, &[("A.TXT".into(), b"a".to_vec())], 64).unwrap();
    // Zero the partition's boot sector (the MBR still points at it).
    let mut bytes = std::fs::read(&img).unwrap();
    let at = (xlic_cardimg::PARTITION_START_LBA * xlic_cardimg::SECTOR) as usize;
    bytes[at..at + 512].fill(0);
    std::fs::write(&img, bytes).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("ls", REPLY).unwrap();
    assert!(r.contains("error: card: no FAT partition on the card"), "{r}");
}

/// PNG out of the firmware: the loaded image encoded from the input map
/// and written to the card decodes on the host to the very same pixels.
#[test]
fn png_encoded_by_the_firmware_decodes_to_the_same_pixels() {
    let dir = xlic_ref::data::images_dir(&xlic_ref::data::default_dir());
    let img = temp("encode.img");
    xlic_cardimg::build(&img, &[("COFFEE.PNG".into(), std::fs::read(dir.join("coffee.png")).unwrap())], 64).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("save image OUT.PNG", REPLY).unwrap();
    assert!(r.contains("error: save image: no image loaded"), "{r}");
    s.command("load image COFFEE.PNG", REPLY).unwrap();
    let r = s.command("save image OUT.PNG", REPLY).unwrap();
    assert!(r.contains("OUT.PNG: 600x400 PNG"), "{r}");
    let r = s.command("save image COFFEE.PNG", REPLY).unwrap();
    assert!(r.contains("a file of that name exists"), "the input must not be overwritten: {r}");
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    let out = xlic_cardimg::read(&img, "OUT.PNG").unwrap();
    let (decoded, _) = xlic_ref::Rgb8::decode_png(&out, Path::new("OUT.PNG")).unwrap();
    let (original, _) = xlic_ref::Rgb8::load_png(&dir.join("coffee.png")).unwrap();
    assert!(decoded == original, "pixels differ after the firmware's PNG round trip");
    assert_eq!(xlic_cardimg::read(&img, "COFFEE.PNG").unwrap(), std::fs::read(dir.join("coffee.png")).unwrap());
}
