//! The FAT layer on real card images made by the card builder (fatfs),
//! damaged by the test FAT editor: every layout mounts and stays clean
//! under `fsck.fat -n` after writes; every boot-sector field out of range,
//! every kind of partition table, looping and broken chains are named.
mod common;
use common::*;
use xlic_cardimg::edit::{Card, Field};
use xlic_cardimg::{Fat, Layout, Table};
use xlic_fat::{BpbError, Corruption, FatType, Fs, FsError, MountError, Scheme};

fn mount(bytes: Vec<u8>) -> Result<Fs<MemCard>, MountError<MemError>> {
    Fs::mount(MemCard::new(bytes))
}

fn read_all(fs: &mut Fs<MemCard>, path: &str) -> Result<Vec<u8>, FsError<MemError>> {
    let mut f = fs.open(path)?;
    let mut out = vec![0u8; f.size as usize];
    // Odd-sized pieces: partial sectors, then runs across clusters.
    let mut done = 0;
    for step in [1usize, 511, 700, 4096, 1 << 20].iter().cycle() {
        if done == out.len() {
            break;
        }
        let end = (done + step).min(out.len());
        let n = fs.read(&mut f, &mut out[done..end])?;
        assert!(n > 0, "read returned 0 before the end");
        done += n;
    }
    assert_eq!(fs.read(&mut f, &mut [0u8; 16])?, 0);
    Ok(out)
}

fn names(fs: &mut Fs<MemCard>, dir: Option<&str>) -> Vec<String> {
    let d = fs.open_dir(dir).unwrap();
    let mut v = Vec::new();
    fs.list(d, |e| v.push(e.name.to_string())).unwrap();
    v.sort();
    v
}

fn write_file(fs: &mut Fs<MemCard>, path: &str, data: &[u8]) -> Result<(), FsError<MemError>> {
    let mut w = fs.create(path)?;
    for chunk in data.chunks(3000) {
        if let Err(e) = fs.write(&mut w, chunk) {
            fs.discard(w)?;
            return Err(e);
        }
    }
    fs.close(w)?;
    Ok(())
}

fn layouts() -> Vec<(Layout, FatType, Scheme)> {
    let l = |table, fat, size_mib| Layout { size_mib, table, fat };
    vec![
        (Layout::fat32(64), FatType::Fat32, Scheme::Mbr { slot: 1 }),
        (l(Table::Mbr { slot: 2 }, Fat::Fat32, 64), FatType::Fat32, Scheme::Mbr { slot: 2 }),
        (l(Table::Superfloppy, Fat::Fat32, 64), FatType::Fat32, Scheme::Superfloppy),
        (l(Table::Gpt, Fat::Fat32, 64), FatType::Fat32, Scheme::Gpt { entry: 1 }),
        (l(Table::Mbr { slot: 1 }, Fat::Fat16, 32), FatType::Fat16, Scheme::Mbr { slot: 1 }),
        (l(Table::Superfloppy, Fat::Fat16, 16), FatType::Fat16, Scheme::Superfloppy),
        (l(Table::Mbr { slot: 1 }, Fat::Fat12, 4), FatType::Fat12, Scheme::Mbr { slot: 1 }),
    ]
}

#[test]
fn every_layout_mounts_reads_writes_deletes_and_stays_fsck_clean() {
    for (i, (layout, fat_type, scheme)) in layouts().into_iter().enumerate() {
        let big = pattern(300_000, i as u32);
        let files = [("BIG.BIN", big.clone()), ("hello world.txt", b"hello".to_vec()), ("DIR/A.TXT", b"in a folder".to_vec()), ("KEEP.TXT", b"keep".to_vec())];
        let (path, bytes) = card(&format!("layout{i}.img"), &files, &layout);
        let long_names = Card::open(&path).unwrap().root_long_name_entries();
        let mut fs = mount(bytes).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        assert_eq!((fs.volume().fat_type, fs.volume().scheme), (fat_type, scheme), "{layout:?}");
        assert_eq!(names(&mut fs, None), ["BIG.BIN", "DIR", "HELLOW~1.TXT", "KEEP.TXT"], "{layout:?}");
        assert_eq!(names(&mut fs, Some("DIR")), ["A.TXT"]);
        assert_eq!(read_all(&mut fs, "BIG.BIN").unwrap(), big);
        assert_eq!(read_all(&mut fs, "dir/a.txt").unwrap(), b"in a folder");
        let free0 = fs.free_clusters().unwrap();

        // Write, rename over nothing, write into the folder, delete the
        // file that has a long name.
        let new = pattern(123_457, 99);
        write_file(&mut fs, "NEW.TMP", &new).unwrap();
        fs.rename("NEW.TMP", "NEW.BIN", false).unwrap();
        write_file(&mut fs, "DIR/B.BIN", &new[..5000]).unwrap();
        assert!(matches!(write_file(&mut fs, "KEEP.TXT", b"x"), Err(FsError::Exists)));
        fs.remove("HELLOW~1.TXT").unwrap();
        assert!(matches!(fs.remove("DIR"), Err(FsError::IsDirectory)));
        fs.flush().unwrap();
        assert_eq!(read_all(&mut fs, "NEW.BIN").unwrap(), new);
        let cb = fs.volume().cluster_bytes() as usize;
        let used = new.len().div_ceil(cb) + 5000usize.div_ceil(cb);
        assert_eq!(fs.free_clusters().unwrap() as usize, free0 as usize - used + 1, "{layout:?}: free count after writes and a delete");
        let bytes = std::mem::take(&mut fs.device().bytes);
        save(&path, &bytes);
        xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("{layout:?}: fsck.fat:\n{r}"));
        assert_eq!(xlic_cardimg::read(&path, "NEW.BIN").unwrap(), new, "{layout:?}: the host reads what the layer wrote");
        let card = Card::open(&path).unwrap();
        // fatfs gives every name long-name entries; "hello world.txt" has two.
        assert_eq!(card.root_long_name_entries(), long_names - 2, "{layout:?}: the long name went with its file");
        if fat_type == FatType::Fat32 {
            assert_eq!(card.fsinfo_free(), Some(card.free_clusters()), "{layout:?}: FSInfo free count");
        }

        // Replace: the old file's clusters come back.
        let mut fs = mount(bytes).unwrap();
        let before = fs.free_clusters().unwrap();
        write_file(&mut fs, "REPL.TMP", b"short").unwrap();
        fs.rename("REPL.TMP", "NEW.BIN", true).unwrap();
        fs.flush().unwrap();
        assert_eq!(fs.free_clusters().unwrap() as usize, before as usize - 1 + new.len().div_ceil(cb), "{layout:?}: replace frees");
        let bytes = std::mem::take(&mut fs.device().bytes);
        save(&path, &bytes);
        xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("{layout:?}: fsck.fat after replace:\n{r}"));
        assert_eq!(xlic_cardimg::read(&path, "NEW.BIN").unwrap(), b"short");
    }
}

#[test]
fn a_full_card_refuses_cleanly_and_deleting_gives_the_space_back() {
    let layout = Layout { size_mib: 4, table: Table::Mbr { slot: 1 }, fat: Fat::Fat12 };
    let (path, bytes) = card("full.img", &[("A.BIN", pattern(1_000_000, 1))], &layout);
    let mut fs = mount(bytes).unwrap();
    let free = fs.free_clusters().unwrap();
    let big = pattern(free as usize * 512 + 1, 2);
    assert!(matches!(write_file(&mut fs, "B.BIN", &big), Err(FsError::Full)));
    fs.flush().unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free, "a failed write gives back what it took");
    assert!(fs.find("B.BIN").unwrap().is_none());
    fs.remove("A.BIN").unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free + 1_000_000u32.div_ceil(512));
    let fits = pattern(free as usize * 512 + 900_000, 3);
    write_file(&mut fs, "B.BIN", &fits).unwrap();
    fs.flush().unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free + 1_000_000u32.div_ceil(512) - (fits.len() as u32).div_ceil(512));
    save(&path, &fs.device().bytes.clone());
    xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("fsck.fat:\n{r}"));
}

/// A FAT32 card with the boot sector's `field` set to `value`.
fn with_field(name: &str, fat: Fat, field: Field, value: u32) -> Vec<u8> {
    let layout = Layout { size_mib: if fat == Fat::Fat32 { 64 } else { 32 }, table: Table::Mbr { slot: 1 }, fat };
    let (path, _) = card(name, &[("A.TXT", b"a".to_vec())], &layout);
    let mut c = Card::open(&path).unwrap();
    c.set(field, value);
    c.bytes
}

#[test]
fn every_boot_sector_field_out_of_range_is_named() {
    use BpbError::*;
    let cases: Vec<(Fat, Field, u32, BpbError)> = vec![
        (Fat::Fat32, Field::BytesPerSector, 1024, BytesPerSector(1024)),
        (Fat::Fat32, Field::BytesPerSector, 0, BytesPerSector(0)),
        (Fat::Fat32, Field::SectorsPerCluster, 0, SectorsPerCluster(0)),
        (Fat::Fat32, Field::SectorsPerCluster, 3, SectorsPerCluster(3)),
        (Fat::Fat32, Field::ReservedSectors, 0, ReservedSectors),
        (Fat::Fat32, Field::Fats, 0, Fats(0)),
        (Fat::Fat32, Field::Fats, 3, Fats(3)),
        (Fat::Fat32, Field::RootEntries, 512, RootEntriesOnFat32(512)),
        (Fat::Fat32, Field::RootEntries, 7, RootEntriesAlign(7)),
        (Fat::Fat32, Field::TotalSectors32, 0, TotalSectorsZero),
        (Fat::Fat32, Field::TotalSectors32, 1_000_000, BeyondPartition { total: 1_000_000, available: 129_024 }),
        (Fat::Fat32, Field::FatSize32, 0, FatSizeZero),
        (Fat::Fat32, Field::FatSize32, 100, FatTooSmall { sectors: 100, needed: 0 }),
        (Fat::Fat32, Field::FatSize32, 0x00ff_ffff, SystemArea { total: 129_024, system: 0 }),
        (Fat::Fat32, Field::Fat32Version, 0x0100, Fat32Version(0x0100)),
        (Fat::Fat32, Field::RootCluster, 0, RootCluster { cluster: 0, max: 0 }),
        (Fat::Fat32, Field::RootCluster, 0x0fff_0000, RootCluster { cluster: 0x0fff_0000, max: 0 }),
        (Fat::Fat32, Field::JumpBoot, 0, NotFat),
        (Fat::Fat16, Field::RootEntries, 0, RootEntriesZero),
        (Fat::Fat16, Field::SectorsPerCluster, 0, SectorsPerCluster(0)),
        // FAT16 has no 32-bit FAT size: FatFs (and this layer) then read
        // offset 36, which holds the drive number and boot signature.
        (Fat::Fat16, Field::FatSize16, 0, SystemArea { total: 0, system: 0 }),
        (Fat::Fat16, Field::ReservedSectors, 0, ReservedSectors),
    ];
    for (i, (fat, field, value, want)) in cases.into_iter().enumerate() {
        let bytes = with_field(&format!("bpb{i}.img"), fat, field, value);
        let err = mount(bytes).err().unwrap_or_else(|| panic!("{fat:?} {field:?}={value}: mounted"));
        let MountError::Bpb { scheme, error } = err else { panic!("{fat:?} {field:?}={value}: {err:?}") };
        assert_eq!(scheme, Scheme::Mbr { slot: 1 });
        // Fields whose detail depends on the geometry are compared by kind.
        assert_eq!(std::mem::discriminant(&error), std::mem::discriminant(&want), "{fat:?} {field:?}={value}: {error:?}");
        if !matches!(want, FatTooSmall { .. } | SystemArea { .. } | RootCluster { .. }) {
            assert_eq!(error, want, "{fat:?} {field:?}={value}");
        }
        let text = err.to_string();
        assert!(text.starts_with("MBR partition 1: the FAT boot sector is invalid: ") && text.ends_with("reformat the card as FAT32"), "{text}");
    }
    // The message names the field and the rule.
    let e = mount(with_field("spc0.img", Fat::Fat32, Field::SectorsPerCluster, 0)).err().unwrap();
    assert_eq!(
        e.to_string(),
        "MBR partition 1: the FAT boot sector is invalid: sectors per cluster is 0; it must be a power of two from 1 to 128; reformat the card as FAT32"
    );
}

/// A FAT32 card whose partition table is then rewritten by `edit`.
fn with_table(name: &str, layout: Layout, edit: impl FnOnce(&mut Card)) -> Vec<u8> {
    let (path, _) = card(name, &[("A.TXT", b"a".to_vec())], &layout);
    let mut c = Card::open(&path).unwrap();
    edit(&mut c);
    c.bytes
}

#[test]
fn partition_tables_of_each_kind_mount_or_are_named() {
    let fat32 = Layout::fat32(64);
    let card_sectors = 64 * 2048;
    // Mounted: FAT32 in slot 2 (and an empty slot 1), GPT, superfloppy, FAT12, FAT16.
    for (layout, _, scheme) in layouts() {
        let (_, bytes) = card("kind.img", &[("A.TXT", b"a".to_vec())], &layout);
        assert_eq!(mount(bytes).unwrap().volume().scheme, scheme);
    }
    let named: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "starts at sector 0",
            with_table("lba0.img", fat32, |c| c.set_mbr_entry(1, 0x0c, 0, 1000)),
            "MBR partition 1 starts at sector 0, over the partition table itself; repartition the card",
        ),
        (
            "beyond the card",
            with_table("beyond.img", fat32, |c| c.set_mbr_entry(1, 0x0c, 2048, card_sectors)),
            "MBR partition 1 (sectors 2048..133120) extends beyond the card's 131072 sectors; repartition the card",
        ),
        ("blank", vec![0u8; 64 << 20], "the card has neither a partition table nor a FAT boot sector"),
        (
            "exFAT",
            with_table("exfat.img", fat32, |c| {
                let at = c.volume;
                c.bytes[at + 3..at + 11].copy_from_slice(b"EXFAT   ");
                c.set_mbr_entry(1, 0x07, 2048, card_sectors as u32 - 2048);
            }),
            "MBR partition 1 is exFAT, which this firmware does not read: format it as FAT32",
        ),
        (
            "exFAT superfloppy",
            with_table("exfat0.img", Layout { table: Table::Superfloppy, ..fat32 }, |c| c.bytes[3..11].copy_from_slice(b"EXFAT   ")),
            "the whole card (no partition table) is exFAT, which this firmware does not read: format it as FAT32",
        ),
        (
            "NTFS",
            with_table("ntfs.img", fat32, |c| {
                let at = c.volume;
                c.bytes[at + 3..at + 11].copy_from_slice(b"NTFS    ");
                c.set_mbr_entry(1, 0x07, 2048, card_sectors as u32 - 2048);
            }),
            "MBR partition 1 is NTFS",
        ),
        (
            "Linux",
            with_table("linux.img", fat32, |c| {
                let at = c.volume;
                c.bytes[at..at + 512].fill(0);
                c.set_mbr_entry(1, 0x83, 2048, card_sectors as u32 - 2048);
            }),
            "none of the 1 MBR partitions is FAT (partition 1 has type 0x83, Linux): format one as FAT32",
        ),
        (
            "extended only",
            with_table("ext.img", fat32, |c| c.set_mbr_entry(1, 0x0f, 2048, card_sectors as u32 - 2048)),
            "the MBR holds only an extended partition",
        ),
        (
            "FAT type, not a FAT boot sector",
            with_table("zeroed.img", fat32, |c| {
                let at = c.volume;
                c.bytes[at..at + 512].fill(0);
            }),
            "MBR partition 1: the FAT boot sector is invalid: it is not a FAT boot sector",
        ),
        (
            "protective MBR, no GPT",
            with_table("pmbr.img", fat32, |c| c.set_mbr_entry(1, 0xee, 1, card_sectors as u32 - 1)),
            "the card has a GPT protective MBR but sector 1 has no \"EFI PART\" header",
        ),
        (
            "GPT header CRC",
            with_table("gptcrc.img", Layout { table: Table::Gpt, ..fat32 }, |c| c.sector_mut(1)[60] ^= 1),
            "the GPT header fails its CRC-32 check",
        ),
        (
            "GPT entries CRC",
            with_table("gptent.img", Layout { table: Table::Gpt, ..fat32 }, |c| c.sector_mut(2)[100] ^= 1),
            "the GPT's partition entries fail their CRC-32 check",
        ),
    ];
    for (what, bytes, want) in named {
        let e = mount(bytes).err().unwrap_or_else(|| panic!("{what}: mounted"));
        assert!(e.to_string().contains(want), "{what}: {e}");
    }
}

#[test]
fn looping_and_broken_chains_are_reported_never_followed() {
    let files = [("A.BIN", pattern(40_000, 1)), ("B.BIN", pattern(5_000, 2)), ("SUB/C.TXT", b"c".to_vec())];
    let (path, _) = card("chains.img", &files, &Layout::fat32(64));
    let base = Card::open(&path).unwrap();
    let a = base.find("A.BIN").unwrap();
    let chain = base.chain(a.first_cluster);
    assert_eq!(chain.len(), 40_000usize.div_ceil(512));

    let damaged = |edit: &dyn Fn(&mut Card)| {
        let mut c = Card::open(&path).unwrap();
        edit(&mut c);
        let mut dev = MemCard::new(c.bytes);
        // Far more than any operation below needs on a sound card.
        dev.budget = 100_000;
        Fs::mount(dev).unwrap()
    };
    // The last cluster of A.BIN leads back to its first: a loop.
    let mut fs = damaged(&|c| c.set_fat(*chain.last().unwrap(), chain[0]));
    let e = fs.open("A.BIN").unwrap_err();
    assert!(matches!(e, FsError::Corrupt { what: Corruption::Loop { .. }, .. }), "{e:?}");
    assert!(e.to_string().contains("the cluster chain of A.BIN loops back on itself"), "{e}");
    // The loop sits inside the size too: a chain of 2 clusters looping
    // for a file of 79: read by size it would return wrong data.
    let mut fs2 = damaged(&|c| c.set_fat(chain[1], chain[0]));
    assert!(matches!(fs2.open("A.BIN"), Err(FsError::Corrupt { what: Corruption::Loop { .. }, .. })));
    // Deleting a looping file frees its clusters and stops.
    let free = fs.free_clusters().unwrap();
    fs.remove("A.BIN").unwrap();
    assert_eq!(fs.free_clusters().unwrap(), free + chain.len() as u32);
    assert_eq!(read_all(&mut fs, "B.BIN").unwrap(), pattern(5_000, 2));

    // A link to a free cluster in the middle: broken.
    let mut fs = damaged(&|c| c.set_fat(chain[3], 0));
    let e = fs.open("A.BIN").unwrap_err();
    assert!(matches!(e, FsError::Corrupt { what: Corruption::Broken { value: 0, .. }, .. }), "{e:?}");
    // A link beyond the volume.
    let mut fs = damaged(&|c| c.set_fat(chain[3], 0x0fff_0000));
    assert!(matches!(fs.open("A.BIN"), Err(FsError::Corrupt { what: Corruption::Broken { value: 0x0fff_0000, .. }, .. })));
    // A chain that ends early for its size.
    let mut fs = damaged(&|c| c.set_fat(chain[3], 0x0fff_ffff));
    let e = fs.open("A.BIN").unwrap_err();
    assert_eq!(e, FsError::Corrupt { name: Some(xlic_fat::ShortName::parse("A.BIN").unwrap()), what: Corruption::Short { clusters: 4, needed: 79 } });
    // A first cluster outside the volume.
    let mut fs = damaged(&|c| {
        let e = c.find("A.BIN").unwrap();
        c.set_first_cluster(&e, 0x0ff0_0000);
    });
    assert!(matches!(fs.open("A.BIN"), Err(FsError::Corrupt { what: Corruption::BadStart { .. }, .. })));

    // The root directory's chain loops: listing and lookups say so.
    let root = base.field(Field::RootCluster);
    let mut fs = damaged(&|c| c.set_fat(root, root));
    let e = fs.open_dir(None).unwrap_err();
    assert!(e.to_string().contains("the cluster chain of the root directory loops back on itself"), "{e}");
    assert!(fs.open("A.BIN").is_err() && fs.find("AUTORUN.TXT").is_err());
    // A subdirectory's chain loops.
    let sub = base.find("SUB").unwrap();
    let mut fs = damaged(&|c| c.set_fat(sub.first_cluster, sub.first_cluster));
    assert!(matches!(fs.open_dir(Some("SUB")), Err(FsError::Corrupt { what: Corruption::Loop { .. }, .. })));
    assert!(fs.open("SUB/C.TXT").is_err());
    assert_eq!(read_all(&mut fs, "B.BIN").unwrap(), pattern(5_000, 2), "the rest of the card still reads");
}

/// Mounting and reading never write: a card that is only looked at comes
/// back byte for byte.
#[test]
fn reading_writes_nothing() {
    let (_, bytes) = card("ro.img", &[("A.BIN", pattern(70_000, 3))], &Layout::fat32(64));
    let mut fs = mount(bytes.clone()).unwrap();
    read_all(&mut fs, "A.BIN").unwrap();
    fs.free_clusters().unwrap();
    fs.flush().unwrap();
    assert!(fs.device().bytes == bytes);
}

/// The card builder's cards (with folders) pass fsck.fat before any
/// write, so a complaint after one is the layer's; and the check does
/// complain about what a leaky delete leaves (lost clusters, an orphaned
/// long name, a wrong FSInfo count).
#[test]
fn builder_cards_are_clean_and_fsck_sees_leaks() {
    let (path, _) = card("fresh.img", &[("DIR/A.TXT", b"in a folder".to_vec()), ("long name.bin", pattern(5000, 1))], &Layout::fat32(64));
    xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("fresh card: {r}"));
    let mut c = Card::open(&path).unwrap();
    let e = c.find("LONGNA~1.BIN").unwrap();
    // Deleted as embedded-sdmmc 0.10 deleted: the short entry only.
    c.bytes[e.offset] = 0xe5;
    c.save().unwrap();
    let report = xlic_cardimg::fsck(&path).unwrap_err();
    assert!(report.contains("Orphaned long file name") && report.contains("Reclaimed 10 unused clusters"), "{report}");
}


/// A new entry never lands right after orphaned long-name entries, where
/// it would inherit their long name if the checksum happened to match.
#[test]
fn a_new_file_does_not_inherit_an_orphaned_long_name() {
    let (path, _) = card("orphan.img", &[("hello world.txt", b"x".to_vec())], &Layout::fat32(64));
    let mut c = Card::open(&path).unwrap();
    let sfn = c.find("HELLOW~1.TXT").unwrap();
    // Orphan the long name (its short entry deleted) and give it the
    // checksum of the name about to be created.
    let sum = xlic_fat::ShortName::parse("NEW.BIN").unwrap().lfn_checksum();
    c.bytes[sfn.offset] = 0xe5;
    for k in 1..=2 {
        c.bytes[sfn.offset - 32 * k + 13] = sum;
    }
    let mut fs = mount(c.bytes).unwrap();
    write_file(&mut fs, "NEW.BIN", b"new").unwrap();
    let e = fs.find("NEW.BIN").unwrap().unwrap();
    assert_eq!(e.long_name_entries(), 0, "NEW.BIN took the slot after the orphaned long name");
}

/// A directory grows by a zeroed cluster when its clusters are full; the
/// fixed root of FAT12/16 says it is full instead.
#[test]
fn directories_grow_and_a_fixed_root_fills_up() {
    let (path, bytes) = card("grow.img", &[("SUB/A.TXT", b"a".to_vec())], &Layout::fat32(64));
    let mut fs = mount(bytes).unwrap();
    // Freed clusters full of bytes that would read as directory entries:
    // a directory's new cluster must be zeroed.
    write_file(&mut fs, "JUNK.BIN", &vec![0x41; 256 << 10]).unwrap();
    fs.remove("JUNK.BIN").unwrap();
    // 512-byte clusters hold 16 entries: 40 files need new clusters.
    for i in 0..40 {
        write_file(&mut fs, &format!("F{i:02}.BIN"), &pattern(700, i)).unwrap();
        write_file(&mut fs, &format!("SUB/G{i:02}.BIN"), &pattern(300, i)).unwrap();
    }
    fs.flush().unwrap();
    assert_eq!(names(&mut fs, None).len(), 41);
    assert_eq!(names(&mut fs, Some("SUB")).len(), 41);
    assert_eq!(read_all(&mut fs, "SUB/G39.BIN").unwrap(), pattern(300, 39));
    save(&path, &fs.device().bytes.clone());
    xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("fsck.fat after directories grew:\n{r}"));

    let layout = Layout { size_mib: 32, table: Table::Mbr { slot: 1 }, fat: Fat::Fat16 };
    let (_, bytes) = card("root16.img", &[], &layout);
    let mut fs = mount(bytes).unwrap();
    let mut made = 0;
    let err = loop {
        match write_file(&mut fs, &format!("F{made}.TXT"), b"x") {
            Ok(()) => made += 1,
            Err(e) => break e,
        }
        assert!(made <= 512, "a 512-entry root took more");
    };
    assert!(matches!(err, FsError::DirFull), "{err:?}");
    // The volume label takes one of the 512 entries.
    assert_eq!(made, 511);
}

/// FSInfo is sector 1 of the volume; with a single reserved sector that
/// is the FAT's first sector. A crafted card whose FAT begins with FSInfo's
/// signatures must not get a free count written over FAT entries.
#[test]
fn fsinfo_outside_the_reserved_sectors_is_not_used() {
    let (path, _) = card("fsinfo.img", &[("A.TXT", b"a".to_vec())], &Layout::fat32(64));
    let mut c = Card::open(&path).unwrap();
    // One reserved sector: move the FATs and the data down with it.
    let reserved = c.field(Field::ReservedSectors) as usize;
    let v = c.volume;
    let tail = c.bytes[v + reserved * 512..].to_vec();
    c.bytes[v + 512..v + 512 + tail.len()].copy_from_slice(&tail);
    c.set(Field::ReservedSectors, 1);
    let total = c.field(Field::TotalSectors32);
    c.set(Field::TotalSectors32, total - reserved as u32 + 1);
    // FSInfo's three signatures in the first FAT sector (entries 0, 121, 127).
    let fat = v + 512;
    c.bytes[fat..fat + 4].copy_from_slice(&0x4161_5252u32.to_le_bytes());
    c.bytes[fat + 484..fat + 488].copy_from_slice(&0x6141_7272u32.to_le_bytes());
    c.bytes[fat + 508..fat + 512].copy_from_slice(&0xaa55_0000u32.to_le_bytes());
    let before: Vec<u8> = c.bytes[fat..fat + 512].to_vec();
    let mut fs = mount(c.bytes).unwrap();
    assert_eq!(fs.volume().fsinfo, None);
    assert_eq!(read_all(&mut fs, "A.TXT").unwrap(), b"a");
    write_file(&mut fs, "B.TXT", b"b").unwrap();
    fs.remove("A.TXT").unwrap();
    fs.flush().unwrap();
    let after = &fs.device().bytes[fat..fat + 512];
    // Entries 2 onward change with the writes; 122 and 123, where a free
    // count and hint would land, hold what they held.
    assert_eq!(after[488..496], before[488..496], "FSInfo's count was written into the FAT");
}

/// Cross-linked files (a damaged card: two chains share clusters).
/// Deleting or replacing one would free the other's clusters, and the
/// next file written would take them: refused, in words, nothing changed.
#[test]
fn cross_linked_files_are_never_freed() {
    let files = [("A.BIN", pattern(40_000, 1)), ("B.BIN", pattern(5_000, 2)), ("SUB/C.TXT", b"c".to_vec())];
    let (path, _) = card("cross.img", &files, &Layout::fat32(64));
    let base = Card::open(&path).unwrap();
    let a = base.chain(base.find("A.BIN").unwrap().first_cluster);
    let b_entry = base.find("B.BIN").unwrap();
    let b = base.chain(b_entry.first_cluster);
    let damaged = |edit: &dyn Fn(&mut Card)| {
        let mut c = Card::open(&path).unwrap();
        edit(&mut c);
        mount(c.bytes).unwrap()
    };
    let shared = |r: Result<(), FsError<MemError>>| match r {
        Err(FsError::Corrupt { what: Corruption::Shared { .. }, .. }) => r.unwrap_err().to_string(),
        other => panic!("{other:?}"),
    };
    let outputs = |fs: &mut Fs<MemCard>, name: &'static str| {
        let mut called = false;
        let r = fs.write_outputs(&[xlic_fat::Output { path: name, replace: true }], |_, _, _| {
            called = true;
            Ok::<(), FsError<MemError>>(())
        });
        assert!(!called, "{name}: written before the check");
        r
    };
    // B.BIN starts inside A.BIN's chain.
    let mut fs = damaged(&|c| c.set_first_cluster(&b_entry, a[5]));
    let t = shared(fs.remove("A.BIN"));
    assert!(t.contains(&format!("the cluster chain of A.BIN shares cluster {} with B.BIN (cross-linked)", a[5])), "{t}");
    assert!(t.ends_with("nothing was changed; check the card with fsck.fat or chkdsk"), "{t}");
    shared(fs.remove("B.BIN"));
    shared(outputs(&mut fs, "A.BIN"));
    shared(fs.rename("B.BIN", "A.BIN", true));
    // B.BIN's chain runs into A.BIN's half-way (their ends merge).
    let mut fs = damaged(&|c| c.set_fat(*b.last().unwrap(), a[20]));
    let t = shared(fs.remove("A.BIN"));
    assert!(t.contains(&format!("its cluster {} is also reached from cluster {}", a[20], b.last().unwrap())), "{t}");
    shared(fs.remove("B.BIN"));
    shared(outputs(&mut fs, "B.BIN"));
    // A file over a folder's cluster, and over the root directory's.
    let sub = base.find("SUB").unwrap().first_cluster;
    let mut fs = damaged(&|c| c.set_first_cluster(&b_entry, sub));
    assert!(shared(fs.remove("B.BIN")).contains("with SUB (cross-linked)"));
    let root = base.field(Field::RootCluster);
    let mut fs = damaged(&|c| c.set_first_cluster(&b_entry, root));
    assert!(shared(fs.remove("B.BIN")).contains("runs through cluster"));
    assert_eq!(read_all(&mut fs, "A.BIN").unwrap(), pattern(40_000, 1), "the card still reads");
    // Nothing was written by any of the refusals.
    let mut c = Card::open(&path).unwrap();
    c.set_first_cluster(&b_entry, a[5]);
    let before = c.bytes.clone();
    let mut fs = mount(c.bytes).unwrap();
    let _ = fs.remove("A.BIN");
    let _ = outputs(&mut fs, "A.BIN");
    fs.flush().unwrap();
    assert!(fs.device().bytes == before, "a refusal changed the card");
    // Sound files still go.
    let mut fs = damaged(&|_| {});
    fs.remove("B.BIN").unwrap();
    fs.remove("A.BIN").unwrap();
}

/// A short name in lower case (invalid, but other tools write them): it
/// is listed as it is, can be read and deleted by that name in any case,
/// and a new file cannot take the same name in upper case beside it.
#[test]
fn a_lower_case_short_name_is_found_in_any_case() {
    let (path, _) = card("lower.img", &[("A.TXT", b"lower".to_vec())], &Layout::fat32(64));
    let mut c = Card::open(&path).unwrap();
    let e = c.find("A.TXT").unwrap();
    c.bytes[e.offset] = b'a';
    c.bytes[e.offset + 8..e.offset + 11].copy_from_slice(b"txt");
    let mut fs = mount(c.bytes).unwrap();
    assert_eq!(names(&mut fs, None), ["a.txt"]);
    assert_eq!(read_all(&mut fs, "a.txt").unwrap(), b"lower");
    assert_eq!(read_all(&mut fs, "A.TXT").unwrap(), b"lower");
    assert!(matches!(write_file(&mut fs, "A.TXT", b"upper"), Err(FsError::Exists)));
    fs.remove("A.txt").unwrap();
    assert!(names(&mut fs, None).is_empty());
}

/// Paths that differ in case, leading or doubled slashes name one file
/// (the firmware compares outputs with inputs this way); different files,
/// and names of nothing, are not the same.
#[test]
fn same_file_resolves_paths_as_the_card_does() {
    let (_, bytes) = card("same.img", &[("RECON.PNG", b"r".to_vec()), ("OTHER.PNG", b"o".to_vec()), ("SUB/A.TXT", b"a".to_vec())], &Layout::fat32(64));
    let mut fs = mount(bytes).unwrap();
    for (a, b) in [("RECON.PNG", "/RECON.PNG"), ("RECON.PNG", "//recon.png"), ("SUB/A.TXT", "/sub//a.txt"), ("SUB", "/SUB/")] {
        assert!(fs.same_file(a, b).unwrap(), "{a} and {b}");
    }
    for (a, b) in [("RECON.PNG", "OTHER.PNG"), ("RECON.PNG", "SUB/RECON.PNG"), ("NOPE.PNG", "NOPE.PNG"), ("RECON.PNG", "bad name.png"), ("A.TXT", "SUB/A.TXT")] {
        assert!(!fs.same_file(a, b).unwrap(), "{a} and {b}");
    }
}

/// FSInfo that lies (a free count beyond the volume, a next-free hint past
/// its end): neither is trusted, writes land in free clusters, and the
/// count written back is the true one.
#[test]
fn a_lying_fsinfo_is_not_believed() {
    let (path, _) = card("fsinfo-lies.img", &[("A.BIN", pattern(20_000, 1))], &Layout::fat32(64));
    let mut c = Card::open(&path).unwrap();
    let fsinfo = c.volume + c.field(Field::FsInfoSector) as usize * 512;
    let truth = c.free_clusters();
    c.bytes[fsinfo + 488..fsinfo + 492].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    c.bytes[fsinfo + 492..fsinfo + 496].copy_from_slice(&0x0fff_ffffu32.to_le_bytes());
    let mut fs = mount(c.bytes).unwrap();
    assert_eq!(fs.free_clusters().unwrap(), truth);
    write_file(&mut fs, "B.BIN", &pattern(9_000, 2)).unwrap();
    fs.flush().unwrap();
    assert_eq!(read_all(&mut fs, "A.BIN").unwrap(), pattern(20_000, 1));
    save(&path, &fs.device().bytes.clone());
    xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("fsck.fat:\n{r}"));
    let c = Card::open(&path).unwrap();
    assert_eq!(c.fsinfo_free(), Some(c.free_clusters()));
}
