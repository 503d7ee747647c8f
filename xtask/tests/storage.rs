//! The firmware's SD card path under QEMU, against real FAT32 images made
//! by the card builder: listing, reading, the model package check, and the
//! errors a person meets (missing file, corrupt package, no card).
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use xtask::firmware::{self, BuildOptions};
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

const REPLY: Duration = Duration::from_secs(60);

fn firmware_elf() -> PathBuf {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| match std::env::var_os("XLIC_FIRMWARE_ELF") {
        Some(p) => PathBuf::from(p),
        None => firmware::build(&BuildOptions::default()).expect("firmware build (run `cargo xtask setup` first)"),
    })
    .clone()
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
    let files = vec![("MODEL.PKG".to_string(), package()), ("PATTERN.BIN".to_string(), pattern.clone()), ("HELLO.TXT".to_string(), b"hello from the card\n".to_vec())];
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let mut s = boot(Some(&img));
    let card = s.command("card", REPLY).unwrap();
    assert!(card.contains("card: 64 MiB (131072 blocks)") && card.contains("FAT volume mounted"), "{card}");
    let ls = s.command("ls", REPLY).unwrap();
    assert!(ls.contains(&format!("{:<12} {:>10}", "MODEL.PKG", package().len())), "{ls}");
    assert!(ls.contains(&format!("{:<12} {:>10}", "PATTERN.BIN", pattern.len())), "{ls}");
    assert!(ls.contains("3 entries"), "{ls}");
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
