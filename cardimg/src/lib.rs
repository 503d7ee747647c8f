//! SD card images: by default an MBR with one FAT32 partition (the layout a
//! real card has), formatted and filled with the fatfs crate in a plain
//! file: no root, no loop mount. [`Layout`] makes the other layouts cards
//! come in (FAT12/16, another MBR slot, no partition table, GPT), and
//! [`edit`] damages them on purpose for the tests; [`fsck`] checks one with
//! dosfstools' `fsck.fat -n`.
//!
//! File names are 8.3 (the firmware's FAT layer reads short names only):
//! [`short_name`] maps a host name to one and the builder reports the map.
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use xlic_model::crc32::crc32;

pub mod edit;

/// The partition starts at 1 MiB, as card formatters align it.
pub const PARTITION_START_LBA: u64 = 2048;
pub const SECTOR: u64 = 512;
/// FAT32 needs at least 65525 clusters; 64 MiB with 512-byte clusters has
/// room for the model package and every test image.
pub const DEFAULT_SIZE_MIB: u64 = 64;
const MIN_SIZE_MIB: u64 = 40;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("card size {0} MiB is too small for FAT32 (at least {MIN_SIZE_MIB} MiB)")]
    TooSmall(u64),
    #[error("card size {0} MiB is not a power of two, which QEMU's SD card model requires")]
    NotPowerOfTwo(u64),
    #[error("{0} is not a card image with a FAT volume (MBR, GPT or none)")]
    NoPartition(String),
    #[error("a {0:?} volume of {1} sectors does not fit this layout")]
    Layout(Fat, u64),
    #[error("no file {0} on the card")]
    Missing(String),
    #[error("two files map to the 8.3 name {0}")]
    Collision(String),
}

/// A window of the image file: the partition, as fatfs sees its disk.
struct Partition {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Partition {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.file.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for Partition {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "end of partition"));
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let put = self.file.write(&buf[..n])?;
        self.pos += put as u64;
        Ok(put)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Partition {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::Current(d) => self.pos as i64 + d,
            SeekFrom::End(d) => self.len as i64 + d,
        };
        if p < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the partition"));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

/// The MBR: one partition of type 0x0C (FAT32, LBA) from `start` for `sectors`.
pub fn mbr(start: u64, sectors: u64) -> [u8; 512] {
    mbr_slot(1, 0x0c, start, sectors)
}

/// Where the FAT volume of a card image lies (byte offset, length):
/// sector 0 itself, the first FAT slot of the MBR, or the GPT's first
/// entry.
pub fn volume_range(img: &[u8]) -> Option<(u64, u64)> {
    let sector = |lba: u64| img.get((lba * SECTOR) as usize..((lba + 1) * SECTOR) as usize);
    let s0 = sector(0)?;
    let signed = s0[510..512] == [0x55, 0xaa];
    if matches!(s0[0], 0xeb | 0xe9) && signed && u16::from_le_bytes([s0[11], s0[12]]) == 512 {
        return Some((0, img.len() as u64));
    }
    if !signed {
        return None;
    }
    let entry = |i: usize| {
        let e = &s0[446 + 16 * i..][..16];
        (e[4], u32::from_le_bytes(e[8..12].try_into().unwrap()) as u64, u32::from_le_bytes(e[12..16].try_into().unwrap()) as u64)
    };
    if (0..4).any(|i| entry(i).0 == 0xee) {
        let h = sector(1)?;
        let entries = u64::from_le_bytes(h[72..80].try_into().unwrap());
        let e = sector(entries)?;
        let first = u64::from_le_bytes(e[32..40].try_into().unwrap());
        let last = u64::from_le_bytes(e[40..48].try_into().unwrap());
        return Some((first * SECTOR, (last + 1 - first) * SECTOR));
    }
    (0..4).map(entry).find(|(t, _, _)| matches!(t, 0x01 | 0x04 | 0x06 | 0x0b | 0x0c | 0x0e)).map(|(_, start, len)| (start * SECTOR, len * SECTOR))
}

fn partition_of(path: &Path, file: File) -> Result<Partition, CardError> {
    let mut file = file;
    let mut head = vec![0u8; 64 * SECTOR as usize];
    file.seek(SeekFrom::Start(0))?;
    let n = file.read(&mut head)?;
    head.truncate(n);
    let total = file.metadata()?.len();
    let no = || CardError::NoPartition(path.display().to_string());
    let (start, len) = volume_range(&head).ok_or_else(no)?;
    let len = if start == 0 { total } else { len };
    Ok(Partition { file, start, len, pos: 0 })
}

/// 8.3 name of a host file name: letters and digits upper case, `_` and
/// `-` kept, whitespace dropped, any other character as `_`; the stem cut
/// to 8 characters and the extension to 3.
pub fn short_name(name: &str) -> String {
    let clean = |s: &str, n: usize| -> String {
        s.chars().filter(|c| !c.is_whitespace()).map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c.to_ascii_uppercase() } else { '_' }).take(n).collect()
    };
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{}.{}", clean(stem, 8), clean(ext, 3)),
        _ => clean(name, 8),
    }
}

/// FAT type of a card's volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fat {
    Fat12,
    Fat16,
    Fat32,
}

/// How the volume sits on the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// An MBR with the volume in primary slot 1 to 4.
    Mbr { slot: u8 },
    /// No partition table: the volume starts at sector 0.
    Superfloppy,
    /// A protective MBR and a GPT with one basic-data partition.
    Gpt,
}

/// A card's layout. [`Layout::fat32`] is the default card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub size_mib: u64,
    pub table: Table,
    pub fat: Fat,
}

impl Layout {
    pub fn fat32(size_mib: u64) -> Layout {
        Layout { size_mib, table: Table::Mbr { slot: 1 }, fat: Fat::Fat32 }
    }

    /// Sectors of the volume: FAT12 and FAT16 get volumes small enough
    /// for their cluster counts with 512-byte clusters (2 and 16 MiB);
    /// FAT32 the rest of the card.
    fn volume_sectors(&self, start: u64, card: u64) -> u64 {
        match self.fat {
            Fat::Fat12 => 4096,
            Fat::Fat16 => 32768,
            // GPT keeps its backup in the last 33 sectors.
            Fat::Fat32 if self.table == Table::Gpt => card - start - 33,
            Fat::Fat32 => card - start,
        }
    }
}

/// Write a card image holding `files` (card name, contents).
pub fn build(out: &Path, files: &[(String, Vec<u8>)], size_mib: u64) -> Result<(), CardError> {
    build_with(out, files, &Layout::fat32(size_mib))
}

/// Write a card image of `layout` holding `files`.
pub fn build_with(out: &Path, files: &[(String, Vec<u8>)], layout: &Layout) -> Result<(), CardError> {
    let size_mib = layout.size_mib;
    if layout.fat == Fat::Fat32 && size_mib < MIN_SIZE_MIB {
        return Err(CardError::TooSmall(size_mib));
    }
    if !size_mib.is_power_of_two() {
        return Err(CardError::NotPowerOfTwo(size_mib));
    }
    let mut seen = std::collections::HashSet::new();
    for (n, _) in files {
        if !seen.insert(n.to_ascii_uppercase()) {
            return Err(CardError::Collision(n.clone()));
        }
    }
    let total = size_mib << 20;
    let card = total / SECTOR;
    let start = if layout.table == Table::Superfloppy { 0 } else { PARTITION_START_LBA };
    let sectors = layout.volume_sectors(start, card);
    if start + sectors > card {
        return Err(CardError::Layout(layout.fat, sectors));
    }
    let tmp = out.with_extension("img.tmp");
    // Built under a temporary name, renamed when whole; removed on error.
    let r = write_card(&tmp, files, layout, total, card, start, sectors).and_then(|()| Ok(std::fs::rename(&tmp, out)?));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// The card of `build_with` into `tmp`.
fn write_card(tmp: &Path, files: &[(String, Vec<u8>)], layout: &Layout, total: u64, card: u64, start: u64, sectors: u64) -> Result<(), CardError> {
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(tmp)?;
    f.set_len(total)?;
    match layout.table {
        Table::Mbr { slot } => {
            let kind = match layout.fat {
                Fat::Fat12 => 0x01,
                Fat::Fat16 => 0x0e,
                Fat::Fat32 => 0x0c,
            };
            f.write_all(&mbr_slot(slot, kind, start, sectors))?;
        }
        Table::Superfloppy => {}
        Table::Gpt => write_gpt(&mut f, card, start, start + sectors - 1)?,
    }
    let mut part = Partition { file: f, start: start * SECTOR, len: sectors * SECTOR, pos: 0 };
    let mut opts = fatfs::FormatVolumeOptions::new().volume_label(*b"XLIC       ");
    opts = match layout.fat {
        Fat::Fat12 => opts.fat_type(fatfs::FatType::Fat12).bytes_per_cluster(512),
        Fat::Fat16 => opts.fat_type(fatfs::FatType::Fat16).bytes_per_cluster(512),
        Fat::Fat32 => opts.fat_type(fatfs::FatType::Fat32),
    };
    fatfs::format_volume(&mut part, opts)?;
    part.pos = 0;
    {
        let fs = fatfs::FileSystem::new(&mut part, fatfs::FsOptions::new())?;
        let root = fs.root_dir();
        for (name, bytes) in files {
            // "DIR/NAME" puts a file in a (created) subdirectory.
            if let Some((dir, _)) = name.rsplit_once('/') {
                if root.open_dir(dir).is_err() {
                    root.create_dir(dir)?;
                }
            }
            let mut w = root.create_file(name)?;
            w.truncate()?;
            w.write_all(bytes)?;
        }
    }
    part.file.sync_all()?;
    drop(part);
    let dirs: std::collections::BTreeSet<&str> = files.iter().filter_map(|(n, _)| n.rsplit_once('/').map(|(d, _)| d)).collect();
    if !dirs.is_empty() {
        let mut card = edit::Card::open(tmp)?;
        for d in dirs {
            card.tidy_dot_entries(d);
        }
        card.save()?;
    }
    Ok(())
}

/// An MBR whose slot `slot` (1 to 4) holds a partition of type `kind`.
pub fn mbr_slot(slot: u8, kind: u8, start: u64, sectors: u64) -> [u8; 512] {
    let mut m = [0u8; 512];
    let e = 446 + 16 * (slot as usize - 1);
    m[e + 1..e + 4].copy_from_slice(&[0xfe, 0xff, 0xff]); // CHS: use LBA
    m[e + 4] = kind;
    m[e + 5..e + 8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    m[e + 8..e + 12].copy_from_slice(&(start as u32).to_le_bytes());
    m[e + 12..e + 16].copy_from_slice(&(sectors as u32).to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    m
}

/// Microsoft basic data partition type, in GPT's byte order.
pub const GPT_BASIC_DATA: [u8; 16] = [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7];

/// Protective MBR, primary and backup GPT (UEFI 2.10 section 5.3) with
/// one basic-data partition from `first` to `last`.
fn write_gpt(f: &mut File, card: u64, first: u64, last: u64) -> io::Result<()> {
    let mut pmbr = mbr_slot(1, 0xee, 1, (card - 1).min(u32::MAX as u64));
    pmbr[446 + 2] = 0x02; // CHS of sector 1, as partitioners write it
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&pmbr)?;
    let mut entries = vec![0u8; 128 * 128];
    entries[..16].copy_from_slice(&GPT_BASIC_DATA);
    entries[16..32].copy_from_slice(b"XLIC-card-part-1");
    entries[32..40].copy_from_slice(&first.to_le_bytes());
    entries[40..48].copy_from_slice(&last.to_le_bytes());
    for (i, c) in "XLIC".encode_utf16().enumerate() {
        entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&c.to_le_bytes());
    }
    let entries_crc = crc32(&entries);
    let backup = card - 1;
    let header = |mine: u64, other: u64, entries_lba: u64| {
        let mut h = [0u8; 512];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&mine.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(card - 34).to_le_bytes());
        h[56..72].copy_from_slice(b"XLIC-card-disk-1");
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    f.seek(SeekFrom::Start(SECTOR))?;
    f.write_all(&header(1, backup, 2))?;
    f.write_all(&entries)?;
    f.seek(SeekFrom::Start((backup - 32) * SECTOR))?;
    f.write_all(&entries)?;
    f.write_all(&header(backup, 1, backup - 32))?;
    Ok(())
}

/// A scratch directory for this test process's files, `<tmp>/<prefix>-<pid>`.
/// Directories of the same prefix whose process has ended are removed
/// first: card images are tens of MB each, and test runs that each left
/// theirs behind filled the machine's disk.
pub fn scratch_dir(prefix: &str) -> std::path::PathBuf {
    let tmp = std::env::temp_dir();
    let me = std::process::id();
    // Whether a process lives is read from /proc (Linux); elsewhere
    // nothing is swept.
    if Path::new("/proc/self").exists() {
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|r| r.strip_prefix('-')).and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if pid != me && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let d = tmp.join(format!("{prefix}-{me}"));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Check a card image's volume with dosfstools' `fsck.fat -n` (read-only):
/// `Ok` when it reports nothing, else its report.
pub fn fsck(img: &Path) -> Result<(), String> {
    let bytes = std::fs::read(img).map_err(|e| format!("{}: {e}", img.display()))?;
    let (start, len) = volume_range(&bytes).ok_or_else(|| format!("{}: no FAT volume", img.display()))?;
    let vol = img.with_extension(format!("fsck-{}.vol", std::process::id()));
    std::fs::write(&vol, &bytes[start as usize..(start + len) as usize]).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("fsck.fat").arg("-n").arg(&vol).output();
    let _ = std::fs::remove_file(&vol);
    let out = out.map_err(|e| format!("cannot run fsck.fat (dosfstools; `cargo xtask setup` installs it): {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

fn with_fs<R>(img: &Path, f: impl FnOnce(&fatfs::FileSystem<&mut Partition>) -> Result<R, CardError>) -> Result<R, CardError> {
    let file = std::fs::OpenOptions::new().read(true).write(true).open(img)?;
    let mut part = partition_of(img, file)?;
    let fs = fatfs::FileSystem::new(&mut part, fatfs::FsOptions::new()).map_err(|_| CardError::NoPartition(img.display().to_string()))?;
    f(&fs)
}

/// Names and sizes of the files in the card's root directory.
pub fn list(img: &Path) -> Result<Vec<(String, u64)>, CardError> {
    with_fs(img, |fs| Ok(fs.root_dir().iter().filter_map(|e| e.ok()).filter(|e| e.is_file()).map(|e| (e.short_file_name(), e.len())).collect()))
}

/// Free space on the card, in bytes.
pub fn free_bytes(img: &Path) -> Result<u64, CardError> {
    with_fs(img, |fs| {
        let st = fs.stats()?;
        Ok(st.free_clusters() as u64 * st.cluster_size() as u64)
    })
}

/// Write `bytes` as a new file `name` in the card's root directory, as a
/// computer would (the fatfs crate allocates the clusters as it likes).
pub fn write(img: &Path, name: &str, bytes: &[u8]) -> Result<(), CardError> {
    with_fs(img, |fs| {
        let mut f = fs.root_dir().create_file(name)?;
        f.truncate()?;
        f.write_all(bytes)?;
        f.flush()?;
        Ok(())
    })
}

/// The contents of one file (by its 8.3 name, any case).
pub fn read(img: &Path, name: &str) -> Result<Vec<u8>, CardError> {
    with_fs(img, |fs| {
        let entry = fs
            .root_dir()
            .iter()
            .filter_map(|e| e.ok())
            .find(|e| e.short_file_name().eq_ignore_ascii_case(name) || e.file_name().eq_ignore_ascii_case(name))
            .ok_or_else(|| CardError::Missing(name.to_string()))?;
        let mut v = Vec::new();
        entry.to_file().read_to_end(&mut v)?;
        Ok(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_name("hubble_deep_field.png"), "HUBBLE_D.PNG");
        assert_eq!(short_name("model.xlic"), "MODEL.XLI");
        assert_eq!(short_name("a b+c.jpeg"), "AB_C.JPE");
        assert_eq!(short_name("README"), "README");
    }

    #[test]
    fn build_list_read_round_trip_across_clusters() {
        let dir = scratch_dir("xlic-cardimg").join("round-trip");
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("card.img");
        // 8 MB of a known pattern spans thousands of clusters.
        let big: Vec<u8> = (0..8_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let files = vec![("BIG.BIN".to_string(), big.clone()), ("HELLO.TXT".to_string(), b"hello card\n".to_vec())];
        build(&img, &files, 64).unwrap();
        assert_eq!(std::fs::metadata(&img).unwrap().len(), 64 << 20);
        let mut l = list(&img).unwrap();
        l.sort();
        assert_eq!(l, vec![("BIG.BIN".into(), 8_000_000), ("HELLO.TXT".into(), 11)]);
        assert_eq!(read(&img, "big.bin").unwrap(), big);
        assert!(matches!(read(&img, "NOPE.TXT"), Err(CardError::Missing(_))));
        std::fs::write(&img, vec![0u8; 4096]).unwrap();
        assert!(matches!(list(&img), Err(CardError::NoPartition(_))));
        assert!(matches!(build(&img, &[], 96), Err(CardError::NotPowerOfTwo(96))));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A build that fails half-way (a file larger than the card) leaves
    /// neither the card nor its temporary file.
    #[test]
    fn a_failed_build_leaves_no_file() {
        let dir = scratch_dir("xlic-cardimg").join("failed");
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("full.img");
        let r = build_with(&img, &[("BIG.BIN".to_string(), vec![7u8; 3 << 20])], &Layout { size_mib: 2, table: Table::Superfloppy, fat: Fat::Fat12 });
        assert!(r.is_err(), "a 3 MiB file fits a 2 MiB card?");
        assert!(!img.exists() && !img.with_extension("img.tmp").exists(), "{:?}", std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).ok();
    }
}
