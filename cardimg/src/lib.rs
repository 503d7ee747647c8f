//! SD card images: an MBR with one FAT32 partition (the layout a real card
//! has, and the only one embedded-sdmmc 0.10 opens), formatted and filled
//! with the fatfs crate in a plain file: no root, no loop mount.
//!
//! File names are 8.3 (the firmware's FAT layer reads short names only):
//! [`short_name`] maps a host name to one and the builder reports the map.
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

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
    #[error("{0} is not a card image with an MBR and a FAT32 partition")]
    NoPartition(String),
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
    let mut m = [0u8; 512];
    let e = 446;
    m[e] = 0x00; // not bootable
    m[e + 1..e + 4].copy_from_slice(&[0xfe, 0xff, 0xff]); // CHS: use LBA
    m[e + 4] = 0x0c;
    m[e + 5..e + 8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    m[e + 8..e + 12].copy_from_slice(&(start as u32).to_le_bytes());
    m[e + 12..e + 16].copy_from_slice(&(sectors as u32).to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    m
}

fn partition_of(path: &Path, file: File) -> Result<Partition, CardError> {
    let mut file = file;
    let mut m = [0u8; 512];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut m).map_err(|_| CardError::NoPartition(path.display().to_string()))?;
    let e = 446;
    if m[510..512] != [0x55, 0xaa] || !matches!(m[e + 4], 0x0b | 0x0c) {
        return Err(CardError::NoPartition(path.display().to_string()));
    }
    let start = u32::from_le_bytes(m[e + 8..e + 12].try_into().unwrap()) as u64 * SECTOR;
    let len = u32::from_le_bytes(m[e + 12..e + 16].try_into().unwrap()) as u64 * SECTOR;
    Ok(Partition { file, start, len, pos: 0 })
}

/// 8.3 name of a host file name: upper case, other characters as `_`.
pub fn short_name(name: &str) -> String {
    let clean = |s: &str, n: usize| -> String {
        s.chars().filter(|c| !c.is_whitespace()).map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c.to_ascii_uppercase() } else { '_' }).take(n).collect()
    };
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{}.{}", clean(stem, 8), clean(ext, 3)),
        _ => clean(name, 8),
    }
}

/// Write a card image holding `files` (card name, contents).
pub fn build(out: &Path, files: &[(String, Vec<u8>)], size_mib: u64) -> Result<(), CardError> {
    if size_mib < MIN_SIZE_MIB {
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
    let sectors = total / SECTOR - PARTITION_START_LBA;
    let tmp = out.with_extension("img.tmp");
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
    f.set_len(total)?;
    f.write_all(&mbr(PARTITION_START_LBA, sectors))?;
    let mut part = Partition { file: f, start: PARTITION_START_LBA * SECTOR, len: sectors * SECTOR, pos: 0 };
    fatfs::format_volume(
        &mut part,
        fatfs::FormatVolumeOptions::new().fat_type(fatfs::FatType::Fat32).volume_label(*b"XLIC       "),
    )?;
    part.pos = 0;
    {
        let fs = fatfs::FileSystem::new(&mut part, fatfs::FsOptions::new())?;
        let root = fs.root_dir();
        for (name, bytes) in files {
            // "DIR/NAME" puts a file in a (created) subdirectory.
            if let Some((dir, _)) = name.rsplit_once('/') {
                root.create_dir(dir)?;
            }
            let mut w = root.create_file(name)?;
            w.truncate()?;
            w.write_all(bytes)?;
        }
    }
    part.file.sync_all()?;
    std::fs::rename(&tmp, out)?;
    Ok(())
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
        let dir = std::env::temp_dir().join(format!("xlic-card-{}", std::process::id()));
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
}
