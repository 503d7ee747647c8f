//! The firmware's SD card path under QEMU, against real FAT images made by
//! the card builder and damaged by the test FAT editor (xlic_cardimg::edit):
//! listing, reading, the model package check; every crafted card reaches
//! the prompt with a message; deleting and replacing free space; a full
//! card; the pair of results written all or nothing; crafted PNGs; the
//! 4096x4096 save. After every test that writes, `fsck.fat -n` must find
//! the card clean.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use xlic_cardimg::edit::{Card, Field};
use xlic_cardimg::{Fat, Layout, Table};
use xtask::firmware;
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

const REPLY: Duration = Duration::from_secs(60);

fn firmware_elf() -> PathBuf {
    firmware::elf_for_tests()
}

fn temp(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| xlic_cardimg::scratch_dir("xlic-storage")).join(name)
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
    boot_text(card).0
}

/// Boot and return the session and what the console printed up to the
/// first prompt.
fn boot_text(card: Option<&Path>) -> (Session, String) {
    let mut q = Qemu::new(firmware_elf(), BootEl::El3);
    q.card = card.map(Path::to_path_buf);
    let mut s = Session::start(&q).unwrap();
    let text = s.expect(PROMPT, REPLY).unwrap();
    (s, text)
}

/// Leave the firmware and check the card with `fsck.fat -n`.
fn exit_and_fsck(mut s: Session, img: &Path) {
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    if let Err(report) = xlic_cardimg::fsck(img) {
        panic!("fsck.fat -n finds the card damaged after the firmware wrote to it:\n{report}");
    }
}

/// Free space as the firmware counts it (`card`).
fn free_kib(s: &mut Session) -> u64 {
    let out = s.command("card", REPLY).unwrap();
    let at = out.find(" KiB free").unwrap_or_else(|| panic!("{out}"));
    out[..at].rsplit(' ').next().unwrap().parse().unwrap()
}

fn names(img: &Path) -> Vec<String> {
    let mut v: Vec<String> = xlic_cardimg::list(img).unwrap().into_iter().map(|(n, _)| n).collect();
    v.sort();
    v
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
    assert!(card.contains("volume: FAT32 in MBR partition 1, ") && card.contains(" clusters of 512 bytes"), "{card}");
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
    let head = s.command("head IMAGES/A.TXT 11", REPLY).unwrap();
    assert!(head.contains("in a folder"), "files in folders are read by path: {head}");
    let load = s.command("load model MODEL.PKG", REPLY).unwrap();
    assert!(load.contains(&format!("model package ok: format version {}, 10 layers, every CRC matches", xlic_model::package::FORMAT_VERSION)), "{load}");
    // The head of the 8 MB file, compared with what the host wrote.
    let head = s.command("head PATTERN.BIN 48", REPLY).unwrap();
    let want: String = pattern[32..48].iter().map(|b| format!(" {b:02x}")).collect();
    assert!(head.contains(&format!("000020 {want}")), "{head}\nwant {want}");
}

/// A package whose recorded hardware limits are changed (header CRC made
/// right again), as if built for another accelerator configuration.
fn package_with_max_side(max_side: u32) -> Vec<u8> {
    let mut p = package();
    p[32..36].copy_from_slice(&max_side.to_le_bytes());
    let header_len = u32::from_le_bytes(p[12..16].try_into().unwrap()) as usize;
    let mut h = p[..header_len].to_vec();
    h[48..52].fill(0);
    let crc = xlic_model::crc32::crc32(&h);
    p[48..52].copy_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn bad_files_get_clear_messages_and_the_prompt() {
    let img = temp("bad.img");
    let mut corrupt = package();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x10;
    let mut old = package();
    old[8] = 9; // format version
    let files = vec![
        ("CORRUPT.PKG".to_string(), corrupt),
        ("OLD.PKG".to_string(), old),
        ("SHORT.PKG".to_string(), package()[..100].to_vec()),
        ("OTHER.PKG".to_string(), package_with_max_side(2048)),
    ];
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("load model CORRUPT.PKG", REPLY).unwrap();
    assert!(r.contains("error: load model CORRUPT.PKG: model package") && r.contains("are corrupt (CRC mismatch)"), "{r}");
    let r = s.command("load model OLD.PKG", REPLY).unwrap();
    assert!(r.contains("format version 9 is not supported"), "{r}");
    let r = s.command("load model SHORT.PKG", REPLY).unwrap();
    assert!(r.contains("truncated"), "{r}");
    // The two values that differ, not the ones that agree.
    let r = s.command("load model OTHER.PKG", REPLY).unwrap();
    let want = format!("max_side 2048 in the package, {} in the accelerator; re-run `cargo xtask quantize`", accel_regs::HW_LIMITS.max_side);
    assert!(r.contains(&want) && !r.contains("lanes"), "{r}");
    let r = s.command("load model MISSING.PKG", REPLY).unwrap();
    assert!(r.contains("error: load model MISSING.PKG: no such file or directory on the card"), "{r}");
    // Still at the prompt, still working.
    assert!(s.command("ls", REPLY).unwrap().contains("4 entries"));
}

/// A FAT32 card of `files`, edited by `edit`.
fn crafted(name: &str, layout: Layout, files: &[(&str, Vec<u8>)], edit: impl FnOnce(&mut Card)) -> PathBuf {
    let img = temp(name);
    let files: Vec<(String, Vec<u8>)> = files.iter().map(|(n, b)| (n.to_string(), b.clone())).collect();
    xlic_cardimg::build_with(&img, &files, &layout).unwrap();
    let mut c = Card::open(&img).unwrap();
    edit(&mut c);
    c.save().unwrap();
    img
}

/// Every kind of damaged or foreign card: the firmware reaches its
/// prompt, the boot says what is wrong with the card, and `ls` says it
/// again. Cards it can mount (FAT12, FAT16, no partition table, GPT, a
/// second MBR slot) run their AUTORUN.TXT.
#[test]
fn no_card_stops_the_firmware_before_its_prompt() {
    let fat32 = Layout::fat32(64);
    let blocks = 64 * 2048u32;
    let script = || vec![("AUTORUN.TXT", b"card\n".to_vec()), ("A.TXT", b"a".to_vec())];
    let field = |f: Field, v: u32| move |c: &mut Card| c.set(f, v);
    let mut cases: Vec<(&str, PathBuf, &str)> = vec![
        ("spc0", crafted("spc0.img", fat32, &script(), field(Field::SectorsPerCluster, 0)), "sectors per cluster is 0; it must be a power of two from 1 to 128"),
        ("spc3", crafted("spc3.img", fat32, &script(), field(Field::SectorsPerCluster, 3)), "sectors per cluster is 3"),
        ("bps", crafted("bps.img", fat32, &script(), field(Field::BytesPerSector, 4096)), "bytes per sector is 4096; this firmware and SD cards use 512"),
        ("rsvd0", crafted("rsvd0.img", fat32, &script(), field(Field::ReservedSectors, 0)), "reserved sector count is 0"),
        ("fats0", crafted("fats0.img", fat32, &script(), field(Field::Fats, 0)), "number of FATs is 0; it must be 1 or 2"),
        ("fats3", crafted("fats3.img", fat32, &script(), field(Field::Fats, 3)), "number of FATs is 3"),
        ("fatsz0", crafted("fatsz0.img", fat32, &script(), field(Field::FatSize32, 0)), "sectors per FAT is 0"),
        ("fatsz", crafted("fatsz.img", fat32, &script(), field(Field::FatSize32, 100)), "sectors per FAT is 100; the volume's clusters need"),
        ("tot0", crafted("tot0.img", fat32, &script(), field(Field::TotalSectors32, 0)), "total sector count is 0"),
        ("totbig", crafted("totbig.img", fat32, &script(), field(Field::TotalSectors32, 1 << 24)), "the volume claims 16777216 sectors but only"),
        ("root512", crafted("root512.img", fat32, &script(), field(Field::RootEntries, 512)), "root directory entry count is 512 on a FAT32 volume"),
        ("fsver", crafted("fsver.img", fat32, &script(), field(Field::Fat32Version, 0x0100)), "FAT32 version is 1.0; only 0.0 exists"),
        ("rootclus", crafted("rootclus.img", fat32, &script(), field(Field::RootCluster, 0x0fff_0000)), "root directory cluster is 268369920"),
        ("lba0", crafted("lba0.img", fat32, &script(), |c| c.set_mbr_entry(1, 0x0c, 0, blocks)), "MBR partition 1 starts at sector 0"),
        ("beyond", crafted("beyond.img", fat32, &script(), |c| c.set_mbr_entry(1, 0x0c, 2048, blocks)), "extends beyond the card's 131072 sectors"),
        ("exfat", crafted("exfat.img", fat32, &script(), |c| {
            let v = c.volume;
            c.bytes[v + 3..v + 11].copy_from_slice(b"EXFAT   ");
            c.set_mbr_entry(1, 0x07, 2048, blocks - 2048);
        }), "MBR partition 1 is exFAT, which this firmware does not read: format it as FAT32"),
        ("linux", crafted("linux.img", fat32, &script(), |c| {
            let v = c.volume;
            c.bytes[v..v + 512].fill(0);
            c.set_mbr_entry(1, 0x83, 2048, blocks - 2048);
        }), "none of the 1 MBR partitions is FAT (partition 1 has type 0x83, Linux)"),
        ("pmbr", crafted("pmbr.img", fat32, &script(), |c| c.set_mbr_entry(1, 0xee, 1, blocks - 1)), "GPT protective MBR but sector 1 has no \"EFI PART\" header"),
        ("blank", {
            let p = temp("blank.img");
            std::fs::write(&p, vec![0u8; 64 << 20]).unwrap();
            p
        }, "the card has neither a partition table nor a FAT boot sector"),
    ];
    // Chains that loop: the root directory's, with no end-of-directory
    // entry before the loop and no AUTORUN.TXT, so the boot's lookup must
    // walk all of it (this hung before the prompt); and AUTORUN.TXT's own.
    let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("F{i:02}.TXT"), vec![b'f'])).collect();
    let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let root_loop = crafted("rootloop.img", fat32, &many, |c| {
        let chain = c.chain(c.field(Field::RootCluster));
        // The end-of-directory entry is in the last cluster: loop before it.
        assert!(chain.len() >= 3, "the root must span clusters");
        c.set_fat(chain[1], chain[0]);
    });
    cases.push(("root loop", root_loop, "the cluster chain of the root directory loops back on itself"));
    let long_script = vec![("AUTORUN.TXT", format!("{}card\n", "# comment line\n".repeat(100)).into_bytes())];
    let file_loop = crafted("fileloop.img", fat32, &long_script, |c| {
        let e = c.find("AUTORUN.TXT").unwrap();
        let chain = c.chain(e.first_cluster);
        c.set_fat(*chain.last().unwrap(), chain[0]);
    });
    let autorun_loop = "autorun: cannot read AUTORUN.TXT: the card's file system is damaged: the cluster chain of AUTORUN.TXT loops back on itself";

    let mut failures = Vec::new();
    for (what, img, want) in cases.iter().chain([&("AUTORUN.TXT loop", file_loop, autorun_loop)]) {
        let (mut s, text) = boot_text(Some(img));
        if !text.contains(want) {
            failures.push(format!("{what}: the boot does not say {want:?}:\n{text}"));
        }
        // The card did not mount (or its root cannot be read): `ls` says
        // so. With only AUTORUN.TXT's chain damaged, the rest works.
        let ls = s.command("ls", REPLY).unwrap();
        let mounted = *what == "AUTORUN.TXT loop";
        if mounted != ls.contains(" entries") || mounted == ls.contains("error: ") {
            failures.push(format!("{what}: `ls`:\n{ls}"));
        }
        assert!(s.command("info", REPLY).unwrap().contains("entered at EL3"), "{what}: the console works");
        s.send(b"exit\n").unwrap();
        s.wait(REPLY).unwrap();
    }
    // Cards the firmware mounts: their AUTORUN.TXT runs `card`.
    let l = |table, fat, size_mib| Layout { size_mib, table, fat };
    for (layout, want) in [
        (l(Table::Mbr { slot: 1 }, Fat::Fat12, 4), "volume: FAT12 in MBR partition 1"),
        (l(Table::Mbr { slot: 1 }, Fat::Fat16, 32), "volume: FAT16 in MBR partition 1"),
        (l(Table::Superfloppy, Fat::Fat32, 64), "volume: FAT32 in the whole card (no partition table)"),
        (l(Table::Gpt, Fat::Fat32, 64), "volume: FAT32 in GPT partition 1"),
        (l(Table::Mbr { slot: 2 }, Fat::Fat32, 64), "volume: FAT32 in MBR partition 2"),
    ] {
        let img = crafted("mountable.img", layout, &script(), |_| {});
        let mut q = Qemu::new(firmware_elf(), BootEl::El3);
        q.card = Some(img.clone());
        let mut s = Session::start(&q).unwrap();
        let text = s.expect("autorun: done", REPLY).unwrap_or_else(|e| e.to_string());
        s.expect(PROMPT, REPLY).unwrap();
        if !(text.contains("autorun: AUTORUN.TXT") && text.contains(want)) {
            failures.push(format!("{layout:?}: {want:?} not in\n{text}"));
        }
        let ls = s.command("ls", REPLY).unwrap();
        if !ls.contains("A.TXT") {
            failures.push(format!("{layout:?}: ls:\n{ls}"));
        }
        s.send(b"exit\n").unwrap();
        s.wait(REPLY).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn no_card_is_no_error_at_boot_and_a_clear_one_at_use() {
    let (mut s, text) = boot_text(None);
    assert!(!text.contains("card:"), "without a card the boot is quiet: {text}");
    let r = s.command("ls", REPLY).unwrap();
    assert!(r.contains("error: card: no SD card in the slot"), "{r}");
}

/// `cp` then `rm` leaves the card as it was: clusters freed, the long
/// name of a deleted file gone with it, FSInfo's count right.
#[test]
fn deleting_frees_space_and_the_card_stays_clean() {
    let img = temp("delete.img");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2246822519) >> 23) as u8).collect();
    let files = vec![("BIG.BIN".to_string(), big.clone()), ("hello world.txt".to_string(), b"a long name".to_vec())];
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let long_names = Card::open(&img).unwrap().root_long_name_entries();
    let mut s = boot(Some(&img));
    let free0 = free_kib(&mut s);
    for round in 0..3 {
        let r = s.command("cp BIG.BIN COPY.BIN", REPLY).unwrap();
        assert!(r.contains("BIG.BIN -> COPY.BIN: 3000000 bytes"), "{r}");
        assert!(free_kib(&mut s) < free0 - 2900, "round {round}: the copy takes space");
        let r = s.command("rm COPY.BIN", REPLY).unwrap();
        assert!(r.contains("COPY.BIN deleted"), "{r}");
        assert_eq!(free_kib(&mut s), free0, "round {round}: rm gives the space back");
    }
    let r = s.command("rm HELLOW~1.TXT", REPLY).unwrap();
    assert!(r.contains("HELLOW~1.TXT deleted"), "{r}");
    let r = s.command("rm HELLOW~1.TXT", REPLY).unwrap();
    assert!(r.contains("error: rm HELLOW~1.TXT: no such file or directory on the card"), "{r}");
    exit_and_fsck(s, &img);
    let card = Card::open(&img).unwrap();
    assert_eq!(card.root_long_name_entries(), long_names - 2, "the long name went with its file");
    assert_eq!(card.fsinfo_free(), Some(card.free_clusters()), "FSInfo's free count");
    assert_eq!(names(&img), ["BIG.BIN"]);
    assert_eq!(xlic_cardimg::read(&img, "BIG.BIN").unwrap(), big);
}

/// Writes read back on the host; an existing file is never overwritten;
/// a full card leaves nothing under the final name, and removing files
/// makes room again.
#[test]
fn firmware_writes_are_whole_or_absent_and_a_full_card_recovers() {
    let pattern: Vec<u8> = (0..8_000_000u32).map(|i| (i.wrapping_mul(2246822519) >> 23) as u8).collect();
    let img = temp("write.img");
    xlic_cardimg::build(&img, &[("PATTERN.BIN".into(), pattern.clone()), ("KEEP.TXT".into(), b"keep me".to_vec())], 64).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("cp PATTERN.BIN COPY.BIN", REPLY).unwrap();
    assert!(r.contains("PATTERN.BIN -> COPY.BIN: 8000000 bytes"), "{r}");
    let r = s.command("cp PATTERN.BIN KEEP.TXT", REPLY).unwrap();
    assert!(r.contains("error: cp PATTERN.BIN KEEP.TXT: a file of that name exists; it is left as it is"), "{r}");
    exit_and_fsck(s, &img);
    assert_eq!(xlic_cardimg::read(&img, "COPY.BIN").unwrap(), pattern);
    assert_eq!(xlic_cardimg::read(&img, "KEEP.TXT").unwrap(), b"keep me");
    assert!(!names(&img).iter().any(|n| n.contains("XLIC")), "temporary file left: {:?}", names(&img));

    // A 128 MiB card with 65 MB in one file and under 2 MB free.
    let full = temp("full.img");
    xlic_cardimg::build(&full, &[], 128).unwrap();
    let empty = xlic_cardimg::free_bytes(&full).unwrap() as usize;
    let files = vec![
        ("BIG.BIN".to_string(), vec![0xa5u8; 2_000_000]),
        ("FILL.BIN".to_string(), vec![0x5au8; 65_000_000]),
        ("REST.BIN".to_string(), vec![0x33u8; empty - 68_000_000]),
    ];
    xlic_cardimg::build(&full, &files, 128).unwrap();
    assert!(xlic_cardimg::free_bytes(&full).unwrap() < 2_000_000);
    let mut s = boot(Some(&full));
    let r = s.command("cp BIG.BIN BIG2.BIN", REPLY).unwrap();
    assert!(r.contains("error: cp BIG.BIN BIG2.BIN: the card is full; nothing was written under the final name"), "{r}");
    let r = s.command("rm FILL.BIN", REPLY).unwrap();
    assert!(r.contains("FILL.BIN deleted"), "{r}");
    let r = s.command("cp BIG.BIN BIG2.BIN", REPLY).unwrap();
    assert!(r.contains("BIG.BIN -> BIG2.BIN: 2000000 bytes"), "after removing 65 MB the copy fits: {r}");
    exit_and_fsck(s, &full);
    assert_eq!(names(&full), ["BIG.BIN", "BIG2.BIN", "REST.BIN"]);
    assert_eq!(xlic_cardimg::read(&full, "BIG2.BIN").unwrap(), vec![0xa5u8; 2_000_000]);
}

/// A file whose chain loops is refused by every command that reads it
/// (cp would otherwise copy the wrong data); a looping folder cannot be
/// listed; the rest of the card still works and nothing is written.
#[test]
fn damaged_chains_are_reported_and_nothing_is_written() {
    let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
    let files = [("LOOP.BIN", data.clone()), ("SHORT.BIN", data.clone()), ("OK.TXT", b"fine".to_vec()), ("SUB/X.TXT", b"x".to_vec())];
    let img = crafted("loops.img", Layout::fat32(64), &files, |c| {
        let e = c.find("LOOP.BIN").unwrap();
        let chain = c.chain(e.first_cluster);
        // The third cluster leads back to the first: 3 clusters cycling
        // where 98 are needed.
        c.set_fat(chain[2], chain[0]);
        let e = c.find("SHORT.BIN").unwrap();
        let chain = c.chain(e.first_cluster);
        c.set_fat(chain[9], 0x0fff_ffff);
        let sub = c.find("SUB").unwrap();
        c.set_fat(sub.first_cluster, sub.first_cluster);
    });
    let before = std::fs::read(&img).unwrap();
    let mut s = boot(Some(&img));
    let r = s.command("cp LOOP.BIN COPY.BIN", REPLY).unwrap();
    assert!(r.contains("error: cp LOOP.BIN COPY.BIN: the card's file system is damaged: the cluster chain of LOOP.BIN loops back on itself"), "{r}");
    assert!(r.contains("check the card with fsck.fat or chkdsk"), "{r}");
    let r = s.command("head LOOP.BIN", REPLY).unwrap();
    assert!(r.contains("loops back on itself"), "{r}");
    let r = s.command("load image SHORT.BIN", REPLY).unwrap();
    assert!(r.contains("the cluster chain of SHORT.BIN holds 10 clusters but its size needs 98"), "{r}");
    let r = s.command("ls SUB", REPLY).unwrap();
    assert!(r.contains("error: ls: the card's file system is damaged: the cluster chain of SUB loops back on itself"), "{r}");
    assert!(s.command("head OK.TXT", REPLY).unwrap().contains("fine"));
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    assert!(std::fs::read(&img).unwrap() == before, "reading a damaged card changed it");
}

/// Names the console will not take: non-ASCII (which used to be dropped,
/// turning `rm GOODé.PNG` into `rm GOOD.PNG`) and the firmware's
/// temporary names.
#[test]
fn names_the_console_refuses() {
    let img = temp("names.img");
    xlic_cardimg::build(&img, &[("GOOD.PNG".into(), b"keep".to_vec()), ("X.TXT".into(), b"x".to_vec())], 64).unwrap();
    let mut s = boot(Some(&img));
    s.send("rm GOOD\u{e9}.PNG\n".as_bytes()).unwrap();
    let r = s.expect(PROMPT, REPLY).unwrap();
    assert!(r.contains("error: the line holds byte 0xc3 at column 8, which is not ASCII") && r.contains("nothing was run"), "{r}");
    let r = s.command("cp X.TXT ~XLICTMP.TMP", REPLY).unwrap();
    assert!(r.contains("error: cp X.TXT ~XLICTMP.TMP: names ~XLIC*.TMP are the firmware's temporary files; choose another name"), "{r}");
    let r = s.command("rm ~XLICTM1.TMP", REPLY).unwrap();
    assert!(r.contains("names ~XLIC*.TMP are the firmware's temporary files"), "{r}");
    let r = s.command("cp X.TXT BAD+NAME.TXT", REPLY).unwrap();
    assert!(r.contains("not a valid 8.3 file name: '+' is not allowed in 8.3 names"), "{r}");
    exit_and_fsck(s, &img);
    assert_eq!(names(&img), ["GOOD.PNG", "X.TXT"]);
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
    assert!(out.contains("error: load image TRUNC.PNG: not a valid PNG: the file is truncated"), "{out}");
    assert!(s.command("ls", REPLY).unwrap().contains("entries"), "the console must still work");
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    let mut c = xlic_model::crc32::Crc32::default();
    c.update(kind);
    c.update(data);
    v.extend_from_slice(&c.finish().to_be_bytes());
    v
}

/// An RGB PNG of `w x h` whose image data is the zlib stream `z`.
fn rgb_png(w: u32, h: u32, z: &[u8]) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut v = xlic_png::SIGNATURE.to_vec();
    v.extend(chunk(b"IHDR", &ihdr));
    v.extend(chunk(b"IDAT", z));
    v.extend(chunk(b"IEND", &[]));
    v
}

fn zlib(raw: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(raw, 6)
}

/// One crafted PNG for each rule of the decoder, through `load image`:
/// each refused in the PNG format's words, the prompt back, and a good
/// image loads after them.
#[test]
fn crafted_pngs_are_refused_in_the_words_of_the_png_format() {
    let (w, h) = (96u32, 64u32);
    let raw: Vec<u8> = (0..h).flat_map(|y| std::iter::once(0u8).chain((0..3 * w).map(move |x| (x * 5 + y * 3) as u8))).collect();
    let good = rgb_png(w, h, &zlib(&raw));
    let mut crc = good.clone();
    crc[50] ^= 1; // inside IDAT's data
    let mut z = zlib(&raw);
    let n = z.len();
    z[n - 2] ^= 0x55;
    let adler = rgb_png(w, h, &z);
    let half = rgb_png(w, h, &zlib(&raw[..raw.len() / 2]));
    let mut long = raw.clone();
    long.resize(raw.len() + (10 << 20), 7);
    let long = rgb_png(w, h, &zlib(&long));
    let huge = rgb_png(30000, 30000, &zlib(&raw));
    let mut filt = raw.clone();
    filt[(3 * w as usize + 1) * 9] = 7;
    let filt = rgb_png(w, h, &zlib(&filt));
    let mut after = zlib(&raw);
    after.extend_from_slice(b"trailing");
    let after = rgb_png(w, h, &after);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("CRC.PNG", crc, "not a valid PNG: the IDAT chunk at byte 33 fails its CRC check".into()),
        ("ADLER.PNG", adler, "not a valid PNG: the image data fails its Adler-32 check".into()),
        ("HALF.PNG", half, format!("the image data holds {} bytes but IHDR implies {}: only 32 of 64 scanlines are complete", raw.len() / 2, raw.len())),
        ("LONG.PNG", long, format!("the image data inflates to more than the {} bytes IHDR implies", raw.len())),
        ("HUGE.PNG", huge, "image 30000x30000 is too large: the accelerator supports sides up to 4096 pixels".into()),
        ("FILTER.PNG", filt, "scanline 9 has filter type 7; PNG defines 0 to 4".into()),
        ("AFTER.PNG", after, "8 bytes follow the end of the zlib stream in the IDAT chunks".into()),
        ("TRUNC.PNG", good[..good.len() - 20].to_vec(), "not a valid PNG: the file is truncated".into()),
    ];
    let mut files: Vec<(String, Vec<u8>)> = cases.iter().map(|(n, b, _)| (n.to_string(), b.clone())).collect();
    files.push(("GOOD.PNG".into(), good));
    let img = temp("pngs.img");
    xlic_cardimg::build(&img, &files, 64).unwrap();
    let mut s = boot(Some(&img));
    let mut failures = Vec::new();
    for (name, _, want) in &cases {
        let out = s.command(&format!("load image {name}"), REPLY).unwrap();
        if !(out.contains(&format!("error: load image {name}: ")) && out.contains(want.as_str())) {
            failures.push(format!("{name}: want {want:?}, got:\n{out}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let out = s.command("load image GOOD.PNG", REPLY).unwrap();
    assert!(out.contains("image 96x64 RGB 8-bit"), "{out}");
}

/// PNG out of the firmware: the loaded image encoded from the input map
/// and written to the card decodes on the host to the very same pixels,
/// with every filter.
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
    let filters = ["none", "sub", "up", "avg", "paeth", "adaptive"];
    for (i, f) in filters.iter().enumerate() {
        let r = s.command(&format!("save image F{i}.PNG {f} {}", i % 10), REPLY).unwrap();
        assert!(r.contains(&format!("({f} filter, level {}", i % 10)), "{r}");
    }
    let r = s.command("save image COFFEE.PNG", REPLY).unwrap();
    assert!(r.contains("a file of that name exists"), "the input must not be overwritten: {r}");
    exit_and_fsck(s, &img);
    let (original, _) = xlic_ref::Rgb8::load_png(&dir.join("coffee.png")).unwrap();
    for name in std::iter::once("OUT.PNG".to_string()).chain((0..filters.len()).map(|i| format!("F{i}.PNG"))) {
        let out = xlic_cardimg::read(&img, &name).unwrap();
        let (decoded, _) = xlic_ref::Rgb8::decode_png(&out, Path::new(&name)).unwrap();
        assert!(decoded == original, "{name}: pixels differ after the firmware's PNG round trip");
    }
    assert_eq!(xlic_cardimg::read(&img, "COFFEE.PNG").unwrap(), std::fs::read(dir.join("coffee.png")).unwrap());
}

/// The largest image the firmware accepts (4096 x 4096) loads and saves:
/// the encoder streams rows to the card in memory that does not grow with
/// the image (it used to ask for a 100 MB allocation and panic).
#[test]
fn a_4096_by_4096_image_saves() {
    let side = accel_regs::HW_LIMITS.max_side as u32;
    // Row 0 is noise and every row is the one above plus 1: with the Up
    // filter a small PNG, unfiltered incompressible, which is what made the
    // old whole-image encoder (no filter) ask for 2 x 48 MiB at once and
    // panic.
    let mut h = 0x2545_f491u32;
    let row: Vec<u8> = (0..3 * side)
        .map(|_| {
            h ^= h << 13;
            h ^= h >> 17;
            h ^= h << 5;
            (h >> 24) as u8
        })
        .collect();
    let px: Vec<u8> = (0..side).flat_map(|y| row.iter().map(move |&v| v.wrapping_add(y as u8))).collect();
    let src = {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Rgb);
        enc.set_filter(png::Filter::Up);
        enc.write_header().unwrap().write_image_data(&px).unwrap();
        out
    };
    assert!(src.len() < 32 << 20, "the test image must fit the firmware's 32 MiB file buffer: {} bytes", src.len());
    let img = temp("big.img");
    xlic_cardimg::build(&img, &[("BIG.PNG".into(), src)], 64).unwrap();
    let mut s = boot(Some(&img));
    let slow = Duration::from_secs(900);
    let r = s.command("load image BIG.PNG", slow).unwrap();
    assert!(r.contains(&format!("image {side}x{side} RGB 8-bit")), "{r}");
    let r = s.command("save image OUT.PNG", slow).unwrap();
    assert!(r.contains(&format!("OUT.PNG: {side}x{side} PNG")), "{r}");
    let heap_kib: u64 = r.split("encoder heap ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{r}"));
    // One encoder per core (four) and a few 256 KiB block buffers: fixed,
    // whatever the image's height (png_cores::encode).
    assert!(heap_kib < 4096, "the encoders held {heap_kib} KiB (the image is {} MiB)", 3 * side * side >> 20);
    exit_and_fsck(s, &img);
    let out = xlic_cardimg::read(&img, "OUT.PNG").unwrap();
    let (decoded, _) = xlic_ref::Rgb8::decode_png(&out, Path::new("OUT.PNG")).unwrap();
    assert!((decoded.width, decoded.height) == (side as usize, side as usize) && decoded.data == px, "OUT.PNG differs from the image");
}

/// `run` five times on one card: RECON.PNG, RECON.XLC and LATENT.BIN are
/// replaced each time and no cluster is lost. Then a card with room for the
/// new RECON.PNG but not for the other two: none is written and the old
/// results stay as they were.
#[test]
fn results_replace_without_leaks_and_come_as_a_pair_or_not_at_all() {
    let data = xlic_ref::data::default_dir();
    let chelsea = xlic_ref::Rgb8::load_png(&xlic_ref::data::images_dir(&data).join("chelsea.png")).unwrap().0;
    let image = chelsea.crop(96, 64).encode_png();
    let boot_cosim = |img: &Path| {
        let mut q = Qemu::new(firmware_elf(), BootEl::El3);
        q.card = Some(img.to_path_buf());
        q.cosim = Some(xtask::cosim::CosimOptions::default());
        let mut s = Session::start(&q).unwrap();
        s.expect(PROMPT, REPLY).unwrap();
        s
    };
    let slow = Duration::from_secs(600);
    let ok = |s: &mut Session, cmd: &str| {
        let out = s.command(cmd, slow).unwrap();
        assert!(!out.contains("error:"), "`{cmd}`:\n{out}");
        out
    };
    let img = temp("runs.img");
    xlic_cardimg::build(&img, &[("MODEL.PKG".into(), package()), ("IMAGE.PNG".into(), image.clone())], 64).unwrap();
    let mut s = boot_cosim(&img);
    ok(&mut s, "load model MODEL.PKG");
    ok(&mut s, "load image IMAGE.PNG");
    let mut free = Vec::new();
    for _ in 0..5 {
        let out = ok(&mut s, "run");
        assert!(out.contains("RECON.PNG: 96x64 PNG") && out.contains("RECON.XLC: ") && out.contains("LATENT.BIN: "), "{out}");
        free.push(free_kib(&mut s));
    }
    assert!(free.iter().all(|&f| f == free[0]), "free KiB after each run: {free:?}");
    exit_and_fsck(s, &img);
    let (recon, latent) = (xlic_cardimg::read(&img, "RECON.PNG").unwrap(), xlic_cardimg::read(&img, "LATENT.BIN").unwrap());
    assert_eq!(names(&img), ["IMAGE.PNG", "LATENT.BIN", "MODEL.PKG", "RECON.PNG", "RECON.XLC"]);

    // Room for RECON.PNG (and a directory cluster), not for the others.
    let old = [
        ("RECON.PNG".to_string(), b"old reconstruction".to_vec()),
        ("RECON.XLC".to_string(), b"old coded file".to_vec()),
        ("LATENT.BIN".to_string(), b"old latent".to_vec()),
    ];
    let mut files = vec![("MODEL.PKG".to_string(), package()), ("IMAGE.PNG".to_string(), image)];
    files.extend(old.iter().cloned());
    let tight = temp("tight.img");
    let clusters = |n: usize| n.div_ceil(512) * 512;
    let room = clusters(recon.len()) + 2 * 512;
    assert!(room < clusters(recon.len()) + clusters(latent.len()));
    let mut fill = 0usize;
    for _ in 0..3 {
        let mut f = files.clone();
        f.push(("FILL.BIN".to_string(), vec![0x11; fill]));
        xlic_cardimg::build(&tight, &f, 64).unwrap();
        let free = xlic_cardimg::free_bytes(&tight).unwrap() as usize;
        if free == room {
            break;
        }
        fill = fill + free - room;
    }
    assert_eq!(xlic_cardimg::free_bytes(&tight).unwrap() as usize, room);
    let mut s = boot_cosim(&tight);
    ok(&mut s, "load model MODEL.PKG");
    ok(&mut s, "load image IMAGE.PNG");
    let out = s.command("run", slow).unwrap();
    assert!(
        out.contains("error: writing RECON.PNG, RECON.XLC and LATENT.BIN: the card is full; none was written (earlier results, if any, are unchanged)"),
        "{out}"
    );
    exit_and_fsck(s, &tight);
    for (name, bytes) in &old {
        let now = xlic_cardimg::read(&tight, name).unwrap();
        assert!(&now == bytes, "{name} must be the old one; it is {} bytes", now.len());
    }
    assert!(!names(&tight).iter().any(|n| n.contains("XLIC")), "{:?}", names(&tight));
    assert_eq!(xlic_cardimg::free_bytes(&tight).unwrap() as usize, room, "the failed run gave back what it took");
}

/// What the boot does with a card's AUTORUN.TXT and with the temporary
/// files a pulled card kept: a script line follows the rules of a typed
/// one, `reboot` and `fault` (which would end every boot) are refused, an
/// oversized script is named; leftovers are removed and their space
/// comes back; the prompt comes every time.
#[test]
fn autorun_follows_the_console_rules_and_the_mount_cleans_leftovers() {
    // The boot's text up to the line that ends the script's run (the
    // script's own lines are echoed after a prompt), then the prompt.
    let boot_says = |name: &str, files: Vec<(String, Vec<u8>)>, end: &str| {
        let img = temp(name);
        xlic_cardimg::build(&img, &files, 64).unwrap();
        let mut q = Qemu::new(firmware_elf(), BootEl::El3);
        q.card = Some(img.clone());
        let mut s = Session::start(&q).unwrap();
        let text = s.expect(end, REPLY).unwrap_or_else(|e| panic!("{name}: {e}"));
        s.expect(PROMPT, REPLY).unwrap();
        assert!(s.command("info", REPLY).unwrap().contains("entered at EL3"), "{name}: the console works");
        (s, text, img)
    };
    let stopped = |n: u32| format!("autorun: stopped at line {n} of AUTORUN.TXT");
    let script = |t: &[u8]| ("AUTORUN.TXT".to_string(), t.to_vec());
    let good = || ("GOOD.PNG".to_string(), b"a photograph".to_vec());

    let (s, text, _) = boot_says("reboot.img", vec![script(b"card\nreboot\nls\n")], &stopped(2));
    assert!(text.contains("error: 'reboot' is not run from AUTORUN.TXT: it would restart the board at every boot; type it at the prompt"), "{text}");
    assert!(!text.contains(" entries"), "{text}");
    drop(s);
    let (s, text, _) = boot_says("fault.img", vec![script(b"# a comment\r\nfault null\r\n")], &stopped(2));
    assert!(text.contains("error: 'fault null' is not run from AUTORUN.TXT: it would halt the board at every boot"), "{text}");
    drop(s);
    // "rm GOODé.PNG" must not become "rm GOOD.PNG".
    let (s, text, img) = boot_says("utf8.img", vec![script("rm GOOD\u{e9}.PNG\nls\n".as_bytes()), good()], &stopped(1));
    assert!(text.contains("error: the line holds byte 0xc3 at column 8, which is not ASCII"), "{text}");
    exit_and_fsck(s, &img);
    assert_eq!(xlic_cardimg::read(&img, "GOOD.PNG").unwrap(), b"a photograph");
    let (s, text, _) = boot_says("long.img", vec![script(format!("ls {}\n", "X".repeat(200)).as_bytes())], &stopped(1));
    assert!(text.contains("error: line too long: at most 128 characters; nothing was run"), "{text}");
    drop(s);
    let (s, _, _) = boot_says("huge.img", vec![script(&b"ls\n".repeat(2000))], "autorun: AUTORUN.TXT is 6000 bytes, more than the 4096 a script may have; not run");
    drop(s);

    // Leftovers of a write the card was pulled from: removed at the boot.
    let leftovers = vec![("~XLICTMP.TMP".to_string(), vec![1u8; 300_000]), ("~XLICTM1.TMP".to_string(), vec![2u8; 5_000]), good()];
    let clean = temp("clean.img");
    xlic_cardimg::build(&clean, &[good()], 64).unwrap();
    let empty_free = xlic_cardimg::free_bytes(&clean).unwrap();
    let (s, _, img) = boot_says("leftover.img", leftovers, "card: removed 2 temporary files that an interrupted write left");
    exit_and_fsck(s, &img);
    assert_eq!(names(&img), ["GOOD.PNG"]);
    assert_eq!(xlic_cardimg::free_bytes(&img).unwrap(), empty_free, "the leftovers' space came back");

    // A leftover whose chain runs into another file's (a damaged card):
    // not freed, and the boot says why on the console.
    let other = vec![3u8; 20_000];
    let img = temp("crossed.img");
    xlic_cardimg::build(&img, &[("~XLICTMP.TMP".to_string(), vec![1u8; 1_000]), ("OTHER.BIN".to_string(), other.clone())], 64).unwrap();
    let mut c = Card::open(&img).unwrap();
    let t = c.chain(c.find("~XLICTMP.TMP").unwrap().first_cluster);
    let o = c.chain(c.find("OTHER.BIN").unwrap().first_cluster);
    c.set_fat(*t.last().unwrap(), o[3]);
    c.save().unwrap();
    let mut q = Qemu::new(firmware_elf(), BootEl::El3);
    q.card = Some(img.clone());
    let mut s = Session::start(&q).unwrap();
    let text = s.expect(PROMPT, REPLY).unwrap();
    assert!(text.contains("card: the temporary files an interrupted write left were not removed: the card's file system is damaged: the cluster chain of ~XLICTMP.TMP is shared with another chain (cross-linked)"), "{text}");
    s.send(b"exit\n").unwrap();
    s.wait(REPLY).unwrap();
    assert_eq!(xlic_cardimg::read(&img, "OTHER.BIN").unwrap(), other, "the other file is whole");
}

/// The card pulled for real: QEMU killed while the firmware copies 8 MB
/// (reading, then writing through the card device's batches): as soon as
/// the copy starts, and after each of several MiB written (its progress
/// lines). Whatever the moment, the next boot finds COPY.BIN whole or
/// absent, removes the temporary file if there is one, and leaves a card
/// fsck.fat finds clean.
#[test]
fn a_card_pulled_during_a_copy_is_whole_after_the_next_boot() {
    let pattern: Vec<u8> = (0..8_000_000u32).map(|i| (i.wrapping_mul(2246822519) >> 23) as u8).collect();
    let img = temp("pulled.img");
    let files = [("PATTERN.BIN".to_string(), pattern.clone()), ("KEEP.TXT".to_string(), b"keep me".to_vec())];
    let mut outcomes = Vec::new();
    for mib in [0u32, 1, 3, 5, 7] {
        xlic_cardimg::build(&img, &files, 64).unwrap();
        let mut s = boot(Some(&img));
        s.send(b"cp PATTERN.BIN COPY.BIN\n").unwrap();
        if mib > 0 {
            s.expect(&format!("COPY.BIN: {} of", mib * 1024), REPLY).unwrap();
        }
        drop(s); // SIGKILL: what QEMU wrote to the image is what the card holds
        let (mut s, text) = boot_text(Some(&img));
        let ls = s.command("ls", REPLY).unwrap();
        exit_and_fsck(s, &img);
        let copy = xlic_cardimg::list(&img).unwrap().into_iter().any(|(n, _)| n == "COPY.BIN");
        if copy {
            assert!(xlic_cardimg::read(&img, "COPY.BIN").unwrap() == pattern, "{mib} MiB: COPY.BIN is not whole");
        }
        assert_eq!(xlic_cardimg::read(&img, "KEEP.TXT").unwrap(), b"keep me");
        assert!(!ls.contains("XLIC"), "{mib} MiB: a temporary file is still listed:\n{ls}");
        outcomes.push((mib, copy, text.contains("card: removed 1 temporary file")));
    }
    eprintln!("(MiB written at the pull, COPY.BIN there, leftover removed): {outcomes:?}");
    assert!(outcomes.iter().any(|o| o.2), "no pull landed during the write: {outcomes:?}");
}
