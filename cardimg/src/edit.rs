//! A small FAT editor for tests: read a card image's boot sector, FAT and
//! directories, and damage them on purpose (a field out of range, a chain
//! that loops, a partition table of another kind). It trusts the image
//! only as far as it must: geometry comes from the boot sector as it is.
use crate::{volume_range, SECTOR};
use std::io;
use std::path::{Path, PathBuf};

/// A boot-sector (BPB) field: byte offset and width (fatgen103 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    JumpBoot,
    BytesPerSector,
    SectorsPerCluster,
    ReservedSectors,
    Fats,
    RootEntries,
    TotalSectors16,
    FatSize16,
    TotalSectors32,
    FatSize32,
    ExtFlags,
    Fat32Version,
    RootCluster,
    FsInfoSector,
    Signature,
}

impl Field {
    pub fn at(self) -> (usize, usize) {
        match self {
            Field::JumpBoot => (0, 1),
            Field::BytesPerSector => (11, 2),
            Field::SectorsPerCluster => (13, 1),
            Field::ReservedSectors => (14, 2),
            Field::Fats => (16, 1),
            Field::RootEntries => (17, 2),
            Field::TotalSectors16 => (19, 2),
            Field::FatSize16 => (22, 2),
            Field::TotalSectors32 => (32, 4),
            Field::FatSize32 => (36, 4),
            Field::ExtFlags => (40, 2),
            Field::Fat32Version => (42, 2),
            Field::RootCluster => (44, 4),
            Field::FsInfoSector => (48, 2),
            Field::Signature => (510, 2),
        }
    }
}

/// A directory entry found by [`Card::find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Byte offset of the 32-byte entry in the image.
    pub offset: usize,
    pub attr: u8,
    pub first_cluster: u32,
    pub size: u32,
}

/// A card image in memory.
pub struct Card {
    pub bytes: Vec<u8>,
    path: PathBuf,
    /// Byte offset of the volume's first sector.
    pub volume: usize,
}

fn get(b: &[u8], at: usize, width: usize) -> u32 {
    let mut v = 0u32;
    for i in (0..width).rev() {
        v = v << 8 | b[at + i] as u32;
    }
    v
}

fn put(b: &mut [u8], at: usize, width: usize, v: u32) {
    for i in 0..width {
        b[at + i] = (v >> (8 * i)) as u8;
    }
}

impl Card {
    pub fn open(path: &Path) -> io::Result<Card> {
        let bytes = std::fs::read(path)?;
        let volume = volume_range(&bytes).map(|(s, _)| s as usize).unwrap_or(0);
        Ok(Card { bytes, path: path.to_path_buf(), volume })
    }

    pub fn save(&self) -> io::Result<()> {
        std::fs::write(&self.path, &self.bytes)
    }

    pub fn sector_mut(&mut self, lba: u64) -> &mut [u8] {
        &mut self.bytes[lba as usize * SECTOR as usize..][..SECTOR as usize]
    }

    pub fn field(&self, f: Field) -> u32 {
        let (at, w) = f.at();
        get(&self.bytes, self.volume + at, w)
    }

    pub fn set(&mut self, f: Field, v: u32) {
        let (at, w) = f.at();
        put(&mut self.bytes, self.volume + at, w, v);
    }

    /// MBR slot `slot` (1 to 4): type, first sector, sectors.
    pub fn set_mbr_entry(&mut self, slot: u8, kind: u8, start: u32, sectors: u32) {
        let e = 446 + 16 * (slot as usize - 1);
        self.bytes[e + 4] = kind;
        put(&mut self.bytes, e + 8, 4, start);
        put(&mut self.bytes, e + 12, 4, sectors);
    }

    pub fn mbr_entry(&self, slot: u8) -> (u8, u32, u32) {
        let e = 446 + 16 * (slot as usize - 1);
        (self.bytes[e + 4], get(&self.bytes, e + 8, 4), get(&self.bytes, e + 12, 4))
    }

    fn fat_sectors(&self) -> u32 {
        match self.field(Field::FatSize16) {
            0 => self.field(Field::FatSize32),
            n => n,
        }
    }

    fn total_sectors(&self) -> u32 {
        match self.field(Field::TotalSectors16) {
            0 => self.field(Field::TotalSectors32),
            n => n,
        }
    }

    fn root_sectors(&self) -> u32 {
        self.field(Field::RootEntries) * 32 / SECTOR as u32
    }

    fn data_sector(&self) -> u32 {
        self.field(Field::ReservedSectors) + self.field(Field::Fats) * self.fat_sectors() + self.root_sectors()
    }

    /// Data clusters, from the boot sector as it stands.
    pub fn clusters(&self) -> u32 {
        (self.total_sectors() - self.data_sector()) / self.field(Field::SectorsPerCluster)
    }

    /// FAT entry width in bits (12, 16 or 32), by cluster count.
    pub fn fat_bits(&self) -> u32 {
        match self.clusters() {
            n if n < 4085 => 12,
            n if n < 65525 => 16,
            _ => 32,
        }
    }

    fn fat_offset(&self, copy: u32) -> usize {
        self.volume + (self.field(Field::ReservedSectors) + copy * self.fat_sectors()) as usize * SECTOR as usize
    }

    /// FAT entry `n` of the first FAT.
    pub fn fat(&self, n: u32) -> u32 {
        let base = self.fat_offset(0);
        match self.fat_bits() {
            32 => get(&self.bytes, base + 4 * n as usize, 4) & 0x0fff_ffff,
            16 => get(&self.bytes, base + 2 * n as usize, 2),
            _ => {
                let v = get(&self.bytes, base + (n + n / 2) as usize, 2);
                if n & 1 == 1 {
                    v >> 4
                } else {
                    v & 0xfff
                }
            }
        }
    }

    /// Set FAT entry `n` in every FAT copy.
    pub fn set_fat(&mut self, n: u32, v: u32) {
        for copy in 0..self.field(Field::Fats) {
            let base = self.fat_offset(copy);
            match self.fat_bits() {
                32 => put(&mut self.bytes, base + 4 * n as usize, 4, v),
                16 => put(&mut self.bytes, base + 2 * n as usize, 2, v),
                _ => {
                    let at = base + (n + n / 2) as usize;
                    let old = get(&self.bytes, at, 2);
                    let new = if n & 1 == 1 { (old & 0x000f) | (v & 0xfff) << 4 } else { (old & 0xf000) | (v & 0xfff) };
                    put(&mut self.bytes, at, 2, new);
                }
            }
        }
    }

    fn is_end(&self, v: u32) -> bool {
        v >= match self.fat_bits() {
            32 => 0x0fff_fff8,
            16 => 0xfff8,
            _ => 0xff8,
        }
    }

    /// The chain from `first`, stopping at its end, at a free or
    /// out-of-range link, or after as many steps as there are clusters.
    pub fn chain(&self, first: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut c = first;
        while c >= 2 && c <= self.clusters() + 1 && out.len() <= self.clusters() as usize {
            out.push(c);
            let v = self.fat(c);
            if self.is_end(v) {
                break;
            }
            c = v;
        }
        out
    }

    pub fn free_clusters(&self) -> u32 {
        (2..self.clusters() + 2).filter(|&c| self.fat(c) == 0).count() as u32
    }

    /// FSInfo's free count (FAT32).
    pub fn fsinfo_free(&self) -> Option<u32> {
        let s = self.volume + self.field(Field::FsInfoSector) as usize * SECTOR as usize;
        (get(&self.bytes, s, 4) == 0x4161_5252).then(|| get(&self.bytes, s + 488, 4))
    }

    fn cluster_offset(&self, c: u32) -> usize {
        let spc = self.field(Field::SectorsPerCluster);
        self.volume + (self.data_sector() + (c - 2) * spc) as usize * SECTOR as usize
    }

    /// Byte offsets of the 32-byte slots of a directory (first cluster 0:
    /// the root).
    fn slots(&self, first: u32) -> Vec<usize> {
        let spc = self.field(Field::SectorsPerCluster) as usize;
        let per_cluster = spc * SECTOR as usize / 32;
        if first == 0 && self.fat_bits() != 32 {
            let at = self.volume + (self.field(Field::ReservedSectors) + self.field(Field::Fats) * self.fat_sectors()) as usize * SECTOR as usize;
            return (0..self.field(Field::RootEntries) as usize).map(|i| at + 32 * i).collect();
        }
        let first = if first == 0 { self.field(Field::RootCluster) } else { first };
        self.chain(first).into_iter().flat_map(|c| (0..per_cluster).map(move |i| (c, i))).map(|(c, i)| self.cluster_offset(c) + 32 * i).collect()
    }

    fn entry_at(&self, offset: usize) -> Entry {
        let e = &self.bytes[offset..offset + 32];
        let hi = if self.fat_bits() == 32 { get(e, 20, 2) << 16 } else { 0 };
        Entry { offset, attr: e[11], first_cluster: hi | get(e, 26, 2), size: get(e, 28, 4) }
    }

    /// The short-name entry of `path` ("NAME.EXT" or "DIR/NAME.EXT").
    pub fn find(&self, path: &str) -> Option<Entry> {
        let mut dir = 0;
        let mut found = None;
        for part in path.split('/') {
            let want = short(part);
            let slot = self.slots(dir).into_iter().take_while(|&o| self.bytes[o] != 0).find(|&o| {
                let e = &self.bytes[o..o + 32];
                e[0] != 0xe5 && e[11] & 0x3f != 0x0f && e[..11] == want
            })?;
            let e = self.entry_at(slot);
            dir = e.first_cluster;
            found = Some(e);
        }
        found
    }

    /// Make `path`'s entry start at `cluster`.
    pub fn set_first_cluster(&mut self, e: &Entry, cluster: u32) {
        put(&mut self.bytes, e.offset + 26, 2, cluster & 0xffff);
        put(&mut self.bytes, e.offset + 20, 2, cluster >> 16);
    }

    /// Live entries of the root directory that are long-name parts.
    pub fn root_long_name_entries(&self) -> usize {
        self.slots(0).into_iter().take_while(|&o| self.bytes[o] != 0).filter(|&o| self.bytes[o] != 0xe5 && self.bytes[o + 11] & 0x3f == 0x0f).count()
    }
}

impl Card {
    /// fatfs 0.3 gives a new directory's "." and ".." entries long-name
    /// entries of their own, before them, which `fsck.fat` rejects
    /// ("expected a valid '.' entry in this slot"). Put "." and ".." in
    /// the first two slots without long names, as fatgen103 section 6.7
    /// says (".." of a directory in the root points at cluster 0).
    pub fn tidy_dot_entries(&mut self, dir: &str) {
        let Some(d) = self.find(dir) else { return };
        let slots = self.slots(d.first_cluster);
        let live: Vec<[u8; 32]> = slots.iter().map(|&o| <[u8; 32]>::try_from(&self.bytes[o..o + 32]).unwrap()).take_while(|e| e[0] != 0).collect();
        let is_dot = |e: &[u8; 32]| e[11] & 0x3f != 0x0f && (e[..11] == *b".          " || e[..11] == *b"..         ");
        let mut dots = Vec::new();
        let mut rest = Vec::new();
        let mut pending = Vec::new();
        for e in live {
            if e[0] != 0xe5 && e[11] & 0x3f == 0x0f {
                pending.push(e);
            } else if is_dot(&e) {
                pending.clear();
                dots.push(e);
            } else {
                rest.append(&mut pending);
                rest.push(e);
            }
        }
        if let Some(dotdot) = dots.iter_mut().find(|e| e[1] == b'.') {
            if !dir.contains('/') {
                dotdot[20..22].fill(0);
                dotdot[26..28].fill(0);
            }
        }
        dots.sort_by_key(|e| e[1] == b'.');
        let out: Vec<[u8; 32]> = dots.into_iter().chain(rest).collect();
        for (i, &o) in slots.iter().enumerate() {
            let e = out.get(i).copied().unwrap_or([0; 32]);
            self.bytes[o..o + 32].copy_from_slice(&e);
        }
    }
}

/// "NAME.EXT" in directory-entry form.
fn short(name: &str) -> [u8; 11] {
    let mut n = [b' '; 11];
    let up = name.to_ascii_uppercase();
    let (base, ext) = up.rsplit_once('.').unwrap_or((&up, ""));
    for (i, c) in base.bytes().take(8).enumerate() {
        n[i] = c;
    }
    for (i, c) in ext.bytes().take(3).enumerate() {
        n[8 + i] = c;
    }
    n
}
