//! The mounted volume: the FAT, directories, files.
//!
//! Handles ([`Dir`], [`File`], [`Writer`]) are plain values that borrow
//! nothing; every operation goes through [`Fs`], which owns the device and
//! two one-sector windows (one on the FAT, one on directories), written
//! back on eviction and by [`Fs::flush`].
use crate::name::{NameError, ShortName};
use crate::volume::{self, FatType, MountError, Root, Volume};
use crate::{le16, le32, BlockDevice, SECTOR};
use core::fmt;

pub(crate) const ATTR_READ_ONLY: u8 = 0x01;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_LONG_NAME: u8 = 0x0f;
const DELETED: u8 = 0xe5;
/// fatgen103 section 6: a directory holds at most 65536 entries.
const MAX_DIR_ENTRIES: u32 = 65536;
/// A long name has at most 20 entries (255 characters, 13 per entry).
const MAX_LFN_ENTRIES: usize = 20;
const NONE: u32 = u32::MAX;

/// What went wrong with a file-system operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsError<E> {
    Device(E),
    NotFound,
    /// A directory where a file was expected.
    IsDirectory,
    /// A file where a directory was expected (a path component).
    NotADirectory,
    Name(NameError),
    /// The name exists already.
    Exists,
    /// The file is read-only.
    ReadOnly,
    /// No free cluster is left.
    Full,
    /// The directory cannot take another entry (FAT12/16's fixed root, or
    /// the 65536-entry limit).
    DirFull,
    /// A file cannot reach 4 GiB on FAT.
    TooLarge,
    /// A name of the temporary files of [`Fs::write_outputs`]
    /// (`~XLIC*.TMP`), which are not given to files of their own.
    Reserved,
    /// A directory holds the temporary name `name` that
    /// [`Fs::write_outputs`] writes through.
    TempTaken { name: ShortName },
    /// Two outputs of one [`Fs::write_outputs`] name the same file.
    Duplicate { name: ShortName },
    /// The card's file system is damaged where `name` (None: the root
    /// directory) is stored.
    Corrupt { name: Option<ShortName>, what: Corruption },
}

/// How a cluster chain or directory is damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// The chain has more links than the volume has clusters: it loops.
    Loop { clusters: u32 },
    /// Cluster `cluster`'s FAT entry is `value`: free (0), reserved, or
    /// beyond the volume, in the middle of a chain.
    Broken { cluster: u32, value: u32 },
    /// The directory entry's first cluster is not a data cluster.
    BadStart { cluster: u32, max: u32 },
    /// The chain ends before the size the directory entry gives.
    Short { clusters: u32, needed: u32 },
    /// A directory longer than the 65536 entries FAT allows.
    DirTooLong,
    /// The chain shares cluster `cluster` with another file's or
    /// directory's (`other`, when it is an entry of the same directory;
    /// else the chain through cluster `from` runs into it).
    Shared { cluster: u32, other: Option<ShortName>, from: u32 },
}

impl<E: fmt::Display> fmt::Display for FsError<E> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            FsError::Device(e) => write!(f, "{e}"),
            FsError::NotFound => write!(f, "no such file or directory on the card"),
            FsError::IsDirectory => write!(f, "that is a directory"),
            FsError::NotADirectory => write!(f, "a part of the path is a file, not a directory"),
            FsError::Name(e) => write!(f, "not a valid 8.3 file name: {e}"),
            FsError::Exists => write!(f, "a file of that name exists; it is left as it is"),
            FsError::ReadOnly => write!(f, "the file is read-only on the card"),
            FsError::Full => write!(f, "the card is full"),
            FsError::DirFull => write!(f, "the directory is full (FAT12/16 roots hold a fixed number of entries)"),
            FsError::TooLarge => write!(f, "FAT files are smaller than 4 GiB"),
            FsError::Reserved => write!(f, "names ~XLIC*.TMP are reserved for the temporary files of whole-or-nothing writes; choose another name"),
            FsError::TempTaken { name } => write!(
                f,
                "the card holds a directory named {name}, the temporary name whole-or-nothing writes use; rename or remove it on a computer"
            ),
            FsError::Duplicate { name } => write!(f, "{name} is named twice among the files of one write; each output needs a name of its own"),
            FsError::Corrupt { name, what } => {
                write!(f, "the card's file system is damaged: ")?;
                let who = Who(*name);
                match *what {
                    Corruption::Loop { clusters } => {
                        write!(f, "the cluster chain of {who} loops back on itself (it runs past the volume's {clusters} clusters)")?
                    }
                    Corruption::Broken { cluster, value: 0 } => {
                        write!(f, "the cluster chain of {who} breaks at cluster {cluster}, which the FAT marks free")?
                    }
                    Corruption::Broken { cluster, value } => {
                        write!(f, "the cluster chain of {who} breaks at cluster {cluster}: its FAT entry 0x{value:x} is not a cluster number")?
                    }
                    Corruption::BadStart { cluster, max } => {
                        write!(f, "{who} starts at cluster {cluster}, which is not a data cluster (2 to {max})")?
                    }
                    Corruption::Short { clusters, needed } => {
                        write!(f, "the cluster chain of {who} holds {clusters} clusters but its size needs {needed}")?
                    }
                    Corruption::DirTooLong => write!(f, "{who} is longer than the 65536 entries a FAT directory may hold")?,
                    Corruption::Shared { cluster, other: Some(o), .. } => {
                        write!(f, "the cluster chain of {who} shares cluster {cluster} with {} (cross-linked); freeing it would free that one's data", Who(Some(o)))?
                    }
                    Corruption::Shared { cluster, from, .. } if from == 0 => {
                        write!(f, "the cluster chain of {who} runs through cluster {cluster} of the root directory (cross-linked)")?
                    }
                    Corruption::Shared { cluster, from, .. } => write!(
                        f,
                        "the cluster chain of {who} is shared with another chain (cross-linked): its cluster {cluster} is also reached from cluster {from}; freeing it would free that one's data"
                    )?,
                }
                write!(f, "; nothing was changed; check the card with fsck.fat or chkdsk")
            }
        }
    }
}

struct Who(Option<ShortName>);

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "the root directory"),
        }
    }
}

/// A time stamp for entries the layer writes (the board has no clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Timestamp {
    fn date(&self) -> u16 {
        (self.year.clamp(1980, 2107) - 1980) << 9 | (self.month.clamp(1, 12) as u16) << 5 | self.day.clamp(1, 31) as u16
    }
    fn time(&self) -> u16 {
        (self.hour.min(23) as u16) << 11 | (self.minute.min(59) as u16) << 5 | (self.second.min(59) / 2) as u16
    }
}

/// Where a directory entry lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryPos {
    lba: u32,
    index: u16,
}

/// One entry of a directory listing.
#[derive(Clone, Copy, Debug)]
pub struct DirEntry {
    pub name: ShortName,
    pub attr: u8,
    pub size: u32,
    pub first_cluster: u32,
    pub(crate) pos: EntryPos,
    /// The long-name entries that belong to it (checksum and order match).
    lfn: [EntryPos; MAX_LFN_ENTRIES],
    lfn_len: u8,
    /// The creation time and date fields (bytes 14 to 17) as one number:
    /// a temporary entry of [`Fs::write_outputs`] keeps there the first
    /// cluster of the file it replaces while the two swap chains.
    pub(crate) created_field: u32,
}

impl DirEntry {
    pub fn is_dir(&self) -> bool {
        self.attr & ATTR_DIRECTORY != 0
    }
    /// Long-name entries stored with it.
    pub fn long_name_entries(&self) -> usize {
        self.lfn_len as usize
    }
    pub(crate) fn long_name_positions(&self) -> &[EntryPos] {
        &self.lfn[..self.lfn_len as usize]
    }
}

/// An open directory: the fixed FAT12/16 root, or a checked cluster chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dir {
    kind: DirKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DirKind {
    Fixed { start: u32, sectors: u32 },
    Chain { first: u32, clusters: u32 },
}

/// A file open for reading. Its chain was checked when it was opened.
#[derive(Clone, Copy, Debug)]
pub struct File {
    pub name: ShortName,
    pub size: u32,
    first: u32,
    pos: u32,
    /// The cluster holding byte `cluster_pos` (0: none yet).
    cluster: u32,
    cluster_pos: u32,
}

impl File {
    pub fn position(&self) -> u32 {
        self.pos
    }
}

/// A file being written from its start. Bytes that do not fill a sector
/// wait in `tail`.
pub struct Writer {
    pub name: ShortName,
    pos: EntryPos,
    first: u32,
    last: u32,
    size: u32,
    /// Bytes on the card (whole sectors) and bytes of allocated clusters.
    written: u32,
    /// Bytes of allocated clusters (u64: the last cluster of a file near
    /// 4 GiB ends past u32::MAX).
    allocated: u64,
    /// The entry names the first cluster as soon as it is allocated (a
    /// temporary file: its clusters can be found and freed after a card
    /// is pulled), not only at [`Fs::close`].
    pub(crate) early: bool,
    /// The creation time and date fields (bytes 14 to 17) it gets when
    /// closed (an early one's name the cluster being added till then).
    created: u32,
    tail: [u8; SECTOR],
}

impl Writer {
    pub fn size(&self) -> u32 {
        self.size
    }
}

struct Window {
    lba: u32,
    dirty: bool,
    buf: [u8; SECTOR],
}

impl Window {
    const fn new() -> Self {
        Window { lba: NONE, dirty: false, buf: [0; SECTOR] }
    }
}

/// How a FAT entry links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Free,
    Next(u32),
    End,
    /// Reserved value, bad-cluster mark, or beyond the volume.
    Bad(u32),
}

/// Long-name entries seen just before the current entry.
#[derive(Clone, Copy)]
struct LfnRun {
    pos: [EntryPos; MAX_LFN_ENTRIES],
    len: usize,
    expect: u8,
    checksum: u8,
    valid: bool,
}

impl LfnRun {
    const fn new() -> Self {
        LfnRun { pos: [EntryPos { lba: 0, index: 0 }; MAX_LFN_ENTRIES], len: 0, expect: 0, checksum: 0, valid: false }
    }
    /// fatgen103 section 7: the last entry (ordinal | 0x40) comes first,
    /// then ordinals count down to 1, all with the short name's checksum.
    fn push(&mut self, pos: EntryPos, e: &[u8]) {
        let ord = e[0];
        if ord & 0x40 != 0 {
            let n = ord & 0x1f;
            self.valid = n >= 1 && n as usize <= MAX_LFN_ENTRIES;
            self.pos[0] = pos;
            self.len = 1;
            self.expect = n.saturating_sub(1);
            self.checksum = e[13];
        } else if self.valid && self.expect >= 1 && ord == self.expect && e[13] == self.checksum {
            self.pos[self.len] = pos;
            self.len += 1;
            self.expect -= 1;
        } else {
            self.valid = false;
        }
    }
    /// The run, if it is complete and belongs to `name`.
    fn take(&mut self, name: &ShortName) -> (usize, [EntryPos; MAX_LFN_ENTRIES]) {
        let ok = self.valid && self.expect == 0 && self.checksum == name.lfn_checksum();
        self.valid = false;
        (if ok { self.len } else { 0 }, self.pos)
    }
    fn reset(&mut self) {
        self.valid = false;
    }
}

/// Iteration state over a directory's entries.
struct Cursor {
    dir: Dir,
    cluster: u32,
    clusters_left: u32,
    sector: u32,
    entry: u32,
    index: u32,
}

/// The FAT volume on a block device.
pub struct Fs<D: BlockDevice> {
    dev: D,
    vol: Volume,
    fat: Window,
    dir: Window,
    /// Free clusters, once counted (the first change counts them, so the
    /// count kept and written to FSInfo is exact).
    free: Option<u32>,
    next_free: u32,
    fsinfo_dirty: bool,
    /// FSInfo's free count said "unknown" (0xFFFFFFFF) at the mount, as
    /// a card pulled while the layer changed the FAT keeps it; a volume
    /// without FSInfo (FAT12/16) counts as such.
    unknown_at_mount: bool,
    time: Timestamp,
}

type R<T, E> = Result<T, FsError<E>>;

impl<D: BlockDevice> Fs<D> {
    /// Find the volume and check its boot sector. Writes nothing.
    pub fn mount(mut dev: D) -> Result<Fs<D>, MountError<D::Error>> {
        let sectors = dev.sectors().map_err(MountError::Device)?;
        let vol = volume::find(&mut dev, sectors)?;
        let mut fs = Fs {
            dev,
            vol,
            fat: Window::new(),
            dir: Window::new(),
            free: None,
            next_free: 2,
            fsinfo_dirty: false,
            unknown_at_mount: vol.fsinfo.is_none(),
            time: Timestamp { year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0 },
        };
        // FSInfo's next-free hint saves a scan from cluster 2; its free
        // count is not trusted (a card may carry a wrong one).
        if let Some(lba) = vol.fsinfo {
            if let Ok(w) = fs.dir_sector(lba) {
                if le32(&w.buf, 0) == 0x4161_5252 && le32(&w.buf, 484) == 0x6141_7272 {
                    let (count, hint) = (le32(&w.buf, 488), le32(&w.buf, 492));
                    fs.unknown_at_mount = count == u32::MAX;
                    if (2..=vol.max_cluster()).contains(&hint) {
                        fs.next_free = hint;
                    }
                }
            }
        }
        Ok(fs)
    }

    pub fn volume(&self) -> &Volume {
        &self.vol
    }

    /// The time stamp given to entries written from now on.
    pub fn set_time(&mut self, t: Timestamp) {
        self.time = t;
    }

    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Free clusters (counted over the whole FAT the first time).
    pub fn free_clusters(&mut self) -> R<u32, D::Error> {
        self.count_free()
    }

    // ---- sectors -----------------------------------------------------

    fn dev_read(&mut self, lba: u32, buf: &mut [u8]) -> R<(), D::Error> {
        self.dev.read(lba, buf).map_err(FsError::Device)
    }

    fn dev_write(&mut self, lba: u32, buf: &[u8]) -> R<(), D::Error> {
        self.dev.write(lba, buf).map_err(FsError::Device)
    }

    /// Everything written so far reaches the card before anything after.
    fn barrier(&mut self) -> R<(), D::Error> {
        self.dev.flush().map_err(FsError::Device)
    }

    fn flush_dir_window(&mut self) -> R<(), D::Error> {
        if self.dir.dirty {
            let (lba, buf) = (self.dir.lba, self.dir.buf);
            self.dev_write(lba, &buf)?;
            self.dir.dirty = false;
        }
        Ok(())
    }

    fn dir_sector(&mut self, lba: u32) -> R<&mut Window, D::Error> {
        if self.dir.lba != lba {
            self.flush_dir_window()?;
            self.dir.lba = NONE;
            let mut buf = [0u8; SECTOR];
            self.dev_read(lba, &mut buf)?;
            self.dir.buf = buf;
            self.dir.lba = lba;
        }
        Ok(&mut self.dir)
    }

    /// Before sectors are moved to or from the card directly, the windows
    /// must not hold newer (or older) copies of them.
    fn sync_windows(&mut self, lba: u32, count: u32) -> R<(), D::Error> {
        let inside = |w: u32| w != NONE && w >= lba && w - lba < count;
        if inside(self.dir.lba) {
            self.flush_dir_window()?;
            self.dir.lba = NONE;
        }
        let fat_lba = if self.fat.lba == NONE { NONE } else { self.vol.fat_start + self.fat.lba };
        if inside(fat_lba) {
            self.flush_fat_window()?;
            self.fat.lba = NONE;
        }
        Ok(())
    }

    // ---- the FAT -------------------------------------------------------

    fn fat_copy(&self) -> u8 {
        self.vol.active_fat.unwrap_or(0)
    }

    fn flush_fat_window(&mut self) -> R<(), D::Error> {
        if self.fat.dirty {
            let buf = self.fat.buf;
            let rel = self.fat.lba;
            // Every FAT copy, unless FAT32 mirroring is off.
            for k in 0..self.vol.fats {
                if self.vol.active_fat.is_none_or(|a| a == k) {
                    let lba = self.vol.fat_start + k as u32 * self.vol.fat_sectors + rel;
                    self.dev_write(lba, &buf)?;
                }
            }
            self.fat.dirty = false;
            // FAT sectors reach the card in the order they are written
            // here (a link before the sector that marks its cluster's
            // end, see `alloc`), so a pull loses nothing in between.
            self.barrier()?;
        }
        Ok(())
    }

    /// FAT sector `rel` (counted from the FAT's start) in the window.
    fn fat_sector(&mut self, rel: u32) -> R<&mut Window, D::Error> {
        if self.fat.lba != rel {
            self.flush_fat_window()?;
            self.fat.lba = NONE;
            let lba = self.vol.fat_start + self.fat_copy() as u32 * self.vol.fat_sectors + rel;
            let mut buf = [0u8; SECTOR];
            self.dev_read(lba, &mut buf)?;
            self.fat.buf = buf;
            self.fat.lba = rel;
        }
        Ok(&mut self.fat)
    }

    fn fat_byte(&mut self, off: u32) -> R<u8, D::Error> {
        Ok(self.fat_sector(off / SECTOR as u32)?.buf[off as usize % SECTOR])
    }

    fn set_fat_byte(&mut self, off: u32, v: u8) -> R<(), D::Error> {
        let w = self.fat_sector(off / SECTOR as u32)?;
        w.buf[off as usize % SECTOR] = v;
        w.dirty = true;
        Ok(())
    }

    /// FAT entry `n` (2 ..= max_cluster; the FAT was checked to hold them).
    fn get(&mut self, n: u32) -> R<u32, D::Error> {
        match self.vol.fat_type {
            FatType::Fat32 => {
                let off = n * 4;
                let w = self.fat_sector(off / SECTOR as u32)?;
                Ok(le32(&w.buf, off as usize % SECTOR) & 0x0fff_ffff)
            }
            FatType::Fat16 => {
                let off = n * 2;
                let w = self.fat_sector(off / SECTOR as u32)?;
                Ok(le16(&w.buf, off as usize % SECTOR) as u32)
            }
            FatType::Fat12 => {
                // An entry may straddle two sectors.
                let off = n + n / 2;
                let v = self.fat_byte(off)? as u32 | (self.fat_byte(off + 1)? as u32) << 8;
                Ok(if n & 1 == 1 { v >> 4 } else { v & 0xfff })
            }
        }
    }

    fn set(&mut self, n: u32, v: u32) -> R<(), D::Error> {
        self.fat_changes()?;
        match self.vol.fat_type {
            FatType::Fat32 => {
                let off = n * 4;
                let w = self.fat_sector(off / SECTOR as u32)?;
                let i = off as usize % SECTOR;
                // The top four bits are reserved: keep them.
                let v = (le32(&w.buf, i) & 0xf000_0000) | (v & 0x0fff_ffff);
                w.buf[i..i + 4].copy_from_slice(&v.to_le_bytes());
                w.dirty = true;
            }
            FatType::Fat16 => {
                let off = n * 2;
                let w = self.fat_sector(off / SECTOR as u32)?;
                let i = off as usize % SECTOR;
                w.buf[i..i + 2].copy_from_slice(&(v as u16).to_le_bytes());
                w.dirty = true;
            }
            FatType::Fat12 => {
                let off = n + n / 2;
                let (lo, hi) = (self.fat_byte(off)?, self.fat_byte(off + 1)?);
                let v = v & 0xfff;
                let (lo, hi) = if n & 1 == 1 {
                    ((lo & 0x0f) | (v << 4) as u8, (v >> 4) as u8)
                } else {
                    (v as u8, (hi & 0xf0) | (v >> 8) as u8)
                };
                self.set_fat_byte(off, lo)?;
                self.set_fat_byte(off + 1, hi)?;
            }
        }
        Ok(())
    }

    fn eoc(&self) -> u32 {
        match self.vol.fat_type {
            FatType::Fat12 => 0xfff,
            FatType::Fat16 => 0xffff,
            FatType::Fat32 => 0x0fff_ffff,
        }
    }

    fn link(&self, v: u32) -> Link {
        let end = match self.vol.fat_type {
            FatType::Fat12 => 0xff8,
            FatType::Fat16 => 0xfff8,
            FatType::Fat32 => 0x0fff_fff8,
        };
        if v == 0 {
            Link::Free
        } else if v >= end {
            Link::End
        } else if (2..=self.vol.max_cluster()).contains(&v) {
            Link::Next(v)
        } else {
            Link::Bad(v)
        }
    }

    fn valid_cluster(&self, c: u32) -> bool {
        (2..=self.vol.max_cluster()).contains(&c)
    }

    /// Length of the chain from `first`, which must end in an end-of-chain
    /// mark within the volume's cluster count.
    fn chain_len(&mut self, first: u32, name: Option<ShortName>) -> R<u32, D::Error> {
        let corrupt = |what| FsError::Corrupt { name, what };
        if !self.valid_cluster(first) {
            return Err(corrupt(Corruption::BadStart { cluster: first, max: self.vol.max_cluster() }));
        }
        let (mut c, mut n) = (first, 1u32);
        loop {
            let v = self.get(c)?;
            match self.link(v) {
                Link::End => return Ok(n),
                Link::Next(next) => {
                    n += 1;
                    if n > self.vol.clusters {
                        return Err(corrupt(Corruption::Loop { clusters: self.vol.clusters }));
                    }
                    c = next;
                }
                Link::Free | Link::Bad(_) => return Err(corrupt(Corruption::Broken { cluster: c, value: v })),
            }
        }
    }

    fn count_free(&mut self) -> R<u32, D::Error> {
        if let Some(n) = self.free {
            return Ok(n);
        }
        let mut n = 0;
        for c in 2..=self.vol.max_cluster() {
            if self.get(c)? == 0 {
                n += 1;
            }
        }
        self.free = Some(n);
        Ok(n)
    }

    /// Byte offset of FAT entry `n` in the FAT.
    fn fat_offset(&self, n: u32) -> u32 {
        match self.vol.fat_type {
            FatType::Fat32 => n * 4,
            FatType::Fat16 => n * 2,
            FatType::Fat12 => n + n / 2,
        }
    }

    /// A free cluster, marked end-of-chain, then linked after `prev`. On
    /// the card the end mark comes first (FAT before whatever names the
    /// cluster): when the link or the directory entry that leads to the
    /// cluster lies in another sector, the FAT sector holding the mark
    /// goes out, with a barrier, before the link is made; a first cluster
    /// (`prev` None, which the caller names next in a directory entry or
    /// a directory's chain) always goes out at once. So every chain on
    /// the card runs only through clusters the card's FAT calls taken: a
    /// card pulled at any moment can lose the cluster being added (fsck
    /// reclaims it), but never lead a chain into a cluster the card shows
    /// free, which a computer could give to another file before the next
    /// mount's cleanup frees the chain.
    ///
    /// With `note` (the entry of a temporary file of
    /// [`Fs::write_outputs`]), that cluster is not lost: before its end
    /// mark goes out on its own, the entry's creation fields name it (on
    /// the card first), and the next mount's cleanup frees it when the
    /// pull left it on no chain (`free_lost`).
    fn alloc(&mut self, prev: Option<u32>, note: Option<EntryPos>) -> R<u32, D::Error> {
        if self.count_free()? == 0 {
            return Err(FsError::Full);
        }
        let (count, max) = (self.vol.clusters, self.vol.max_cluster());
        let start = self.next_free.clamp(2, max);
        for i in 0..count {
            let c = 2 + (start - 2 + i) % count;
            if self.get(c)? == 0 {
                let eoc = self.eoc();
                let one_write = prev.is_some_and(|p| self.fat_sectors_of(p) == self.fat_sectors_of(c));
                if let (false, Some(pos)) = (one_write, note) {
                    self.set_created_field(pos, c)?;
                    self.sync_dir()?;
                }
                self.set(c, eoc)?;
                if !one_write {
                    self.flush_fat_window()?;
                }
                if let Some(p) = prev {
                    self.set(p, c)?;
                }
                self.free = self.free.map(|f| f - 1);
                self.next_free = if c == max { 2 } else { c + 1 };
                return Ok(c);
            }
        }
        // The count said there was room; the FAT says otherwise.
        self.free = Some(0);
        Err(FsError::Full)
    }

    /// The FAT sectors (first, last) that hold entry `n` (two for a FAT12
    /// entry that straddles a sector boundary).
    fn fat_sectors_of(&self, n: u32) -> (u32, u32) {
        let off = self.fat_offset(n);
        let last = if self.vol.fat_type == FatType::Fat12 { off + 1 } else { off };
        (off / SECTOR as u32, last / SECTOR as u32)
    }

    /// Free the chain from `first`. Stops at the end mark, at an entry
    /// already free (a loop closes there) or at a bad link, and after at
    /// most the volume's cluster count, so a damaged chain cannot run on.
    fn free_chain(&mut self, first: u32) -> R<u32, D::Error> {
        if !self.valid_cluster(first) {
            return Ok(0);
        }
        self.count_free()?;
        let (mut c, mut freed) = (first, 0u32);
        for _ in 0..self.vol.clusters {
            let v = self.get(c)?;
            if v == 0 || v == self.eoc() - 8 {
                // Free already (a loop closed), or marked bad: leave it.
                break;
            }
            self.set(c, 0)?;
            freed += 1;
            match self.link(v) {
                Link::Next(n) => c = n,
                _ => break,
            }
        }
        self.free = self.free.map(|f| (f + freed).min(self.vol.clusters));
        self.next_free = self.next_free.min(first);
        Ok(freed)
    }

    /// Free the chain from `first` of the entry at `pos`, and delete the
    /// entry and its long-name entries `lfn`, a FAT sector's worth of
    /// clusters (a group) at a time, so that a card pulled at any moment
    /// keeps every cluster not yet freed on a chain the entry leads to.
    ///
    /// A user's file (`temporary` false) has its entry moved on past each
    /// group before the group is freed: a pull loses at most one group
    /// (fsck reclaims it) and never leaves the entry leading to a freed
    /// cluster. A temporary file of `write_outputs` loses at most one
    /// cluster: the group's first cluster is linked past the group (or
    /// marked the end, for the last group) as the rest is freed (one FAT
    /// sector), the entry moves on (or goes), then that cluster is freed.
    /// The entry that moves on notes the cluster it passed in its creation
    /// fields: pulled before that cluster is freed, the card has it linked
    /// into the entry's chain, and the next cleanup frees it
    /// ([`Fs::free_passed`]) rather than take the link for a cross-link.
    /// Either way the entry never leads to a cluster the card shows free,
    /// which a computer could give to another file before the next
    /// mount's cleanup follows the entry.
    ///
    /// Like `free_chain` it stops at a free or bad-marked cluster and
    /// after the volume's cluster count.
    pub(crate) fn release(&mut self, pos: EntryPos, lfn: &[EntryPos], first: u32, temporary: bool) -> R<u32, D::Error> {
        for &p in lfn {
            self.write_entry(p, |x| x[0] = DELETED)?;
        }
        if !self.valid_cluster(first) {
            self.write_entry(pos, |x| x[0] = DELETED)?;
            self.sync_dir()?;
            return Ok(0);
        }
        self.count_free()?;
        // Entries of one FAT sector (FAT12's 341 and a third, rounded up).
        let per_sector = (SECTOR as u32 * 8).div_ceil(match self.vol.fat_type {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        });
        let bad = self.eoc() - 8;
        let (mut c, mut freed, mut budget) = (first, 0u32, self.vol.clusters);
        loop {
            // The group: `c` and the clusters after it whose FAT entries
            // lie in the same sector; `next` the cluster after them.
            let sector = self.fat_offset(c) / SECTOR as u32;
            let (mut last, mut n, mut next) = (c, 1u32, None);
            loop {
                let v = self.get(last)?;
                match self.link(v) {
                    Link::Next(x) if n < per_sector && self.fat_offset(x) / SECTOR as u32 == sector => {
                        last = x;
                        n += 1;
                    }
                    Link::Next(x) => {
                        next = Some(x);
                        break;
                    }
                    _ => break,
                }
            }
            let next = next.filter(|_| budget > n);
            budget = budget.saturating_sub(n);
            // Free `count` clusters of the chain from `k` (fewer at a free
            // or bad-marked one, or back at `c`, where a loop closes).
            let mut free_run = |fs: &mut Self, mut k: u32, count: u32| -> R<(), D::Error> {
                let from = k;
                for i in 0..count {
                    let v = fs.get(k)?;
                    if v == 0 || v == bad || (k == c && (i > 0 || from != c)) {
                        break;
                    }
                    fs.set(k, 0)?;
                    freed += 1;
                    match fs.link(v) {
                        Link::Next(x) => k = x,
                        _ => break,
                    }
                }
                Ok(())
            };
            match (temporary, next) {
                (true, _) => {
                    let v = self.get(c)?;
                    let keep = v != bad && v != 0;
                    if keep {
                        let eoc = self.eoc();
                        self.set(c, next.unwrap_or(eoc))?;
                        if let Link::Next(d) = self.link(v) {
                            if n > 1 {
                                free_run(self, d, n - 1)?;
                            }
                        }
                        self.flush_fat_window()?;
                    }
                    match next {
                        Some(x) => {
                            self.set_entry_cluster(pos, x)?;
                            self.set_created_field(pos, if keep { c } else { 0 })?;
                        }
                        None => self.write_entry(pos, |x| x[0] = DELETED)?,
                    }
                    self.sync_dir()?;
                    if keep {
                        self.set(c, 0)?;
                        freed += 1;
                        self.flush_fat_window()?;
                    }
                }
                (false, _) => {
                    match next {
                        Some(x) => self.set_entry_cluster(pos, x)?,
                        None => self.write_entry(pos, |x| x[0] = DELETED)?,
                    }
                    self.sync_dir()?;
                    free_run(self, c, n)?;
                    self.flush_fat_window()?;
                }
            }
            match next {
                Some(x) => c = x,
                None => break,
            }
        }
        self.free = self.free.map(|f| (f + freed).min(self.vol.clusters));
        self.next_free = self.next_free.min(first);
        Ok(freed)
    }

    /// Free cluster `passed` if its FAT entry links to `first`: the
    /// cluster a temporary entry starting at `first` moved past while its
    /// chain was released (see `release`), left linked by a pull. Returns
    /// whether it did.
    pub(crate) fn free_passed(&mut self, passed: u32, first: u32) -> R<bool, D::Error> {
        if !self.valid_cluster(passed) || passed == first || self.get(passed)? != first {
            return Ok(false);
        }
        self.free_one(passed)?;
        Ok(true)
    }

    /// Free cluster `c` alone (a cluster no chain leads to any more) and
    /// count it, FAT written out at once.
    fn free_one(&mut self, c: u32) -> R<(), D::Error> {
        self.count_free()?;
        self.set(c, 0)?;
        self.flush_fat_window()?;
        self.free = self.free.map(|f| (f + 1).min(self.vol.clusters));
        self.next_free = self.next_free.min(c);
        Ok(())
    }

    /// Free cluster `noted` if it is the cluster a temporary file (its
    /// entry in `dir`, its chain from `first`, 0: none) was growing by when
    /// the card was pulled: `alloc` names it in the entry before the
    /// card's FAT marks it the end of a chain, and a pull before the link
    /// (or the entry) that leads to it leaves it marked and on no chain.
    /// Freed only when it is still that: marked end-of-chain, not on the
    /// chain from `first`, linked to from no FAT entry (one pass over the
    /// FAT, made only for a leftover that notes a cluster), not the root
    /// directory's and not the first cluster of an entry of `dir`. A
    /// computer that reclaimed it (fsck) and gave it to a file of its
    /// own made it the end of that file's chain, which a link leads to,
    /// or a one-cluster file, whose entry would have to lie in another
    /// directory than the leftover's; and a tool that reclaims clusters
    /// (fsck.fat, chkdsk) sets FSInfo's free count, which the pull left
    /// "unknown": on FAT32 the cluster is freed only if it still says so
    /// at the mount. Returns whether it was freed.
    pub(crate) fn free_lost(&mut self, dir: Dir, noted: u32, first: u32) -> R<bool, D::Error> {
        if !self.valid_cluster(noted) {
            return Ok(false);
        }
        let v = self.get(noted)?;
        if v == 0 {
            // The mark may have reached the other FAT copies and not the
            // first (the one read): they agree again, as every reader
            // (and fsck) takes the first.
            let (a, b) = self.fat_sectors_of(noted);
            for rel in a..=b {
                self.fat_sector(rel)?.dirty = true;
                self.flush_fat_window()?;
            }
        }
        if self.link(v) != Link::End || !self.unknown_at_mount {
            return Ok(false);
        }
        if let Root::Chain { first: root } = self.vol.root {
            if root == noted {
                return Ok(false);
            }
        }
        // On the leftover's chain: the link to it reached the card.
        if self.valid_cluster(first) {
            let mut c = first;
            for _ in 0..self.vol.clusters {
                if c == noted {
                    return Ok(false);
                }
                let v = self.get(c)?;
                match self.link(v) {
                    Link::Next(n) => c = n,
                    _ => break,
                }
            }
        }
        for x in 2..=self.vol.max_cluster() {
            let v = self.get(x)?;
            if self.link(v) == Link::Next(noted) {
                return Ok(false);
            }
        }
        if self.scan(dir, |o| o.first_cluster == noted)?.is_some() {
            return Ok(false);
        }
        self.free_one(noted)?;
        Ok(true)
    }

    // ---- directories -------------------------------------------------

    /// The root directory, its chain checked on FAT32.
    pub fn root(&mut self) -> R<Dir, D::Error> {
        match self.vol.root {
            Root::Fixed { start, sectors } => Ok(Dir { kind: DirKind::Fixed { start, sectors } }),
            Root::Chain { first } => self.chain_dir(first, None),
        }
    }

    fn chain_dir(&mut self, first: u32, name: Option<ShortName>) -> R<Dir, D::Error> {
        let clusters = self.chain_len(first, name)?;
        if clusters as u64 * self.vol.cluster_bytes() as u64 > MAX_DIR_ENTRIES as u64 * 32 {
            return Err(FsError::Corrupt { name, what: Corruption::DirTooLong });
        }
        Ok(Dir { kind: DirKind::Chain { first, clusters } })
    }

    fn cursor(&self, dir: Dir) -> Cursor {
        let (cluster, clusters_left) = match dir.kind {
            DirKind::Fixed { .. } => (0, 0),
            DirKind::Chain { first, clusters } => (first, clusters - 1),
        };
        Cursor { dir, cluster, clusters_left, sector: 0, entry: 0, index: 0 }
    }

    /// The next entry slot of the directory (None at its last sector).
    fn next_slot(&mut self, c: &mut Cursor) -> R<Option<(EntryPos, [u8; 32])>, D::Error> {
        let per_sector = (SECTOR / 32) as u32;
        if c.entry == per_sector {
            c.entry = 0;
            c.sector += 1;
        }
        let lba = match c.dir.kind {
            DirKind::Fixed { start, sectors } => {
                if c.sector >= sectors {
                    return Ok(None);
                }
                start + c.sector
            }
            DirKind::Chain { .. } => {
                if c.sector == self.vol.sectors_per_cluster {
                    if c.clusters_left == 0 {
                        return Ok(None);
                    }
                    let v = self.get(c.cluster)?;
                    match self.link(v) {
                        Link::Next(n) => c.cluster = n,
                        // Checked when opened; changed since only by us.
                        _ => return Ok(None),
                    }
                    c.clusters_left -= 1;
                    c.sector = 0;
                }
                self.vol.cluster_sector(c.cluster) + c.sector
            }
        };
        let index = c.entry as u16;
        c.entry += 1;
        c.index += 1;
        let w = self.dir_sector(lba)?;
        let mut e = [0u8; 32];
        e.copy_from_slice(&w.buf[index as usize * 32..][..32]);
        Ok(Some((EntryPos { lba, index }, e)))
    }

    /// Visit the live short-name entries of `dir` (not `.`/`..`, not the
    /// volume label); `f` returns true to stop.
    fn scan(&mut self, dir: Dir, mut f: impl FnMut(&DirEntry) -> bool) -> R<Option<DirEntry>, D::Error> {
        let mut c = self.cursor(dir);
        let mut run = LfnRun::new();
        while let Some((pos, e)) = self.next_slot(&mut c)? {
            match e[0] {
                0 => break,
                DELETED => {
                    run.reset();
                    continue;
                }
                _ => {}
            }
            let attr = e[11];
            if attr & 0x3f == ATTR_LONG_NAME {
                run.push(pos, &e);
                continue;
            }
            let mut raw = [0u8; 11];
            raw.copy_from_slice(&e[..11]);
            let name = ShortName(raw);
            let (lfn_len, lfn) = run.take(&name);
            if attr & ATTR_VOLUME_ID != 0 || e[0] == b'.' {
                continue;
            }
            let mut name = name;
            if name.0[0] == 0x05 {
                name.0[0] = DELETED; // fatgen103: 0x05 stands for a leading 0xE5
            }
            let first = if self.vol.fat_type == FatType::Fat32 { (le16(&e, 20) as u32) << 16 } else { 0 } | le16(&e, 26) as u32;
            let entry = DirEntry { name, attr, size: le32(&e, 28), first_cluster: first, pos, lfn, lfn_len: lfn_len as u8, created_field: le32(&e, 14) };
            if f(&entry) {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// Every live entry of `dir`.
    pub fn list(&mut self, dir: Dir, mut each: impl FnMut(&DirEntry)) -> R<(), D::Error> {
        self.scan(dir, |e| {
            each(e);
            false
        })?;
        Ok(())
    }

    /// The entry named `name`. Short names are upper case on the card
    /// (fatgen103 section 6.1), but a card written by another tool can
    /// hold lower-case ones: they match too, so that a name `ls` shows can
    /// be read and deleted, and a new file never takes a name that differs
    /// from an existing one only in case.
    fn find_in(&mut self, dir: Dir, name: &ShortName) -> R<Option<DirEntry>, D::Error> {
        self.scan(dir, |e| e.name.0.eq_ignore_ascii_case(&name.0))
    }

    /// The directory `path` (`None`, "" or "/": the root).
    pub fn open_dir(&mut self, path: Option<&str>) -> R<Dir, D::Error> {
        let mut dir = self.root()?;
        for part in path.unwrap_or("").split('/').filter(|p| !p.is_empty()) {
            let name = ShortName::parse(part).map_err(FsError::Name)?;
            let e = self.find_in(dir, &name)?.ok_or(FsError::NotFound)?;
            if !e.is_dir() {
                return Err(FsError::NotADirectory);
            }
            dir = self.chain_dir(e.first_cluster, Some(e.name))?;
        }
        Ok(dir)
    }

    /// The directory holding `path`'s last part, and that part's name.
    pub(crate) fn parent(&mut self, path: &str) -> R<(Dir, ShortName), D::Error> {
        let path = path.trim_end_matches('/');
        let (dir, last) = match path.rfind('/') {
            Some(i) => (Some(&path[..i]), &path[i + 1..]),
            None => (None, path),
        };
        let name = ShortName::parse(last).map_err(FsError::Name)?;
        Ok((self.open_dir(dir)?, name))
    }

    /// The entry at `path`, if any.
    pub fn find(&mut self, path: &str) -> R<Option<DirEntry>, D::Error> {
        let (dir, name) = self.parent(path)?;
        self.find_in(dir, &name)
    }

    /// Whether paths `a` and `b` name one file or directory on the card,
    /// resolved as every operation resolves them: "/RECON.PNG",
    /// "//recon.png" and "RECON.PNG" are one file. A path that names
    /// nothing (or is not a valid path) names no file another one does.
    pub fn same_file(&mut self, a: &str, b: &str) -> R<bool, D::Error> {
        let mut entry = |p: &str| match self.find(p) {
            Ok(e) => Ok(e),
            Err(FsError::NotFound | FsError::NotADirectory | FsError::Name(_)) => Ok(None),
            Err(e) => Err(e),
        };
        Ok(match (entry(a)?, entry(b)?) {
            (Some(x), Some(y)) => x.pos == y.pos,
            _ => false,
        })
    }

    fn write_entry(&mut self, pos: EntryPos, f: impl FnOnce(&mut [u8])) -> R<(), D::Error> {
        let w = self.dir_sector(pos.lba)?;
        f(&mut w.buf[pos.index as usize * 32..][..32]);
        w.dirty = true;
        Ok(())
    }

    /// A free slot in `dir` for one entry; the directory grows by a zeroed
    /// cluster when it is full. A slot right after a live long-name entry
    /// is skipped, so the new entry cannot inherit an orphaned long name.
    fn free_slot(&mut self, dir: Dir) -> R<EntryPos, D::Error> {
        let mut c = self.cursor(dir);
        let mut after_lfn = false;
        let mut last_cluster = 0;
        while let Some((pos, e)) = self.next_slot(&mut c)? {
            last_cluster = c.cluster;
            let free = e[0] == 0 || e[0] == DELETED;
            if free && !after_lfn {
                return Ok(pos);
            }
            after_lfn = !free && e[11] & 0x3f == ATTR_LONG_NAME;
        }
        let DirKind::Chain { .. } = dir.kind else { return Err(FsError::DirFull) };
        if (c.index + SECTOR as u32 / 32 * self.vol.sectors_per_cluster) > MAX_DIR_ENTRIES {
            return Err(FsError::DirFull);
        }
        // The new cluster is zeroed on the card before the directory's
        // chain leads to it: a card pulled in between loses a cluster,
        // never shows old bytes as directory entries.
        let new = self.alloc(None, None)?;
        let first = self.vol.cluster_sector(new);
        self.sync_windows(first, self.vol.sectors_per_cluster)?;
        let zero = [0u8; SECTOR];
        for s in 0..self.vol.sectors_per_cluster {
            self.dev_write(first + s, &zero)?;
        }
        self.barrier()?;
        self.set(last_cluster, new)?;
        Ok(EntryPos { lba: first, index: 0 })
    }

    // ---- files -----------------------------------------------------------

    /// Open `path` for reading, after checking its whole chain.
    pub fn open(&mut self, path: &str) -> R<File, D::Error> {
        let e = self.find(path)?.ok_or(FsError::NotFound)?;
        if e.is_dir() {
            return Err(FsError::IsDirectory);
        }
        let name = Some(e.name);
        let needed = e.size.div_ceil(self.vol.cluster_bytes());
        if e.first_cluster != 0 || needed > 0 {
            let clusters = self.chain_len(e.first_cluster, name)?;
            if clusters < needed {
                return Err(FsError::Corrupt { name, what: Corruption::Short { clusters, needed } });
            }
        }
        Ok(File { name: e.name, size: e.size, first: e.first_cluster, pos: 0, cluster: 0, cluster_pos: 0 })
    }

    /// Read from `f`'s position into `buf`; returns the bytes read (0 at
    /// the end). Contiguous clusters are read in one device request.
    pub fn read(&mut self, f: &mut File, buf: &mut [u8]) -> R<usize, D::Error> {
        let cb = self.vol.cluster_bytes() as u64;
        let mut done = 0usize;
        while done < buf.len() && f.pos < f.size {
            let pos = f.pos as u64;
            if f.cluster == 0 {
                f.cluster = f.first;
                f.cluster_pos = 0;
            }
            // Step to the cluster holding `pos` (the chain was checked to
            // be long enough when the file was opened).
            while pos >= f.cluster_pos as u64 + cb {
                let v = self.get(f.cluster)?;
                match self.link(v) {
                    Link::Next(n) => f.cluster = n,
                    _ => return Err(FsError::Corrupt { name: Some(f.name), what: Corruption::Broken { cluster: f.cluster, value: v } }),
                }
                f.cluster_pos += cb as u32;
            }
            let in_cluster = pos - f.cluster_pos as u64;
            let lba = self.vol.cluster_sector(f.cluster) + (in_cluster / SECTOR as u64) as u32;
            let left = ((f.size - f.pos) as usize).min(buf.len() - done);
            let off = in_cluster as usize % SECTOR;
            if off == 0 && left >= SECTOR {
                // Whole sectors: to the end of this cluster, and on through
                // the clusters that follow it on the card.
                let want = (left / SECTOR) as u64;
                let mut avail = (cb - in_cluster) / SECTOR as u64;
                let (mut last, mut last_pos) = (f.cluster, f.cluster_pos);
                while avail < want {
                    let v = self.get(last)?;
                    match self.link(v) {
                        Link::Next(n) if n == last + 1 => {
                            last = n;
                            last_pos += cb as u32;
                            avail += cb / SECTOR as u64;
                        }
                        _ => break,
                    }
                }
                let sectors = avail.min(want) as u32;
                let n = sectors as usize * SECTOR;
                self.sync_windows(lba, sectors)?;
                self.dev_read(lba, &mut buf[done..done + n])?;
                done += n;
                f.pos += n as u32;
                f.cluster = last;
                f.cluster_pos = last_pos;
            } else {
                let mut s = [0u8; SECTOR];
                self.sync_windows(lba, 1)?;
                self.dev_read(lba, &mut s)?;
                let n = (SECTOR - off).min(left);
                buf[done..done + n].copy_from_slice(&s[off..off + n]);
                done += n;
                f.pos += n as u32;
            }
        }
        Ok(done)
    }

    /// Create `path` (which must not exist) as an empty file to write.
    pub fn create(&mut self, path: &str) -> R<Writer, D::Error> {
        self.create_entry(path, false)
    }

    /// Create `path` as a temporary file of [`Fs::write_outputs`] (see
    /// `Writer::early`). Its creation fields hold 0 until it is closed,
    /// then its creation time: while it grows they name the cluster
    /// being added (see `alloc`), never a time stamp a cleanup could take
    /// for a cluster.
    pub(crate) fn create_temp(&mut self, path: &str) -> R<Writer, D::Error> {
        self.create_entry(path, true)
    }

    fn create_entry(&mut self, path: &str, early: bool) -> R<Writer, D::Error> {
        let (dir, name) = self.parent(path)?;
        if self.find_in(dir, &name)?.is_some() {
            return Err(FsError::Exists);
        }
        let pos = self.free_slot(dir)?;
        let (date, time) = (self.time.date(), self.time.time());
        self.write_entry(pos, |e| {
            e.fill(0);
            e[..11].copy_from_slice(&name.0);
            if e[0] == DELETED {
                e[0] = 0x05;
            }
            e[11] = ATTR_ARCHIVE;
            if !early {
                e[14..16].copy_from_slice(&time.to_le_bytes());
                e[16..18].copy_from_slice(&date.to_le_bytes());
            }
            e[18..20].copy_from_slice(&date.to_le_bytes());
            e[22..24].copy_from_slice(&time.to_le_bytes());
            e[24..26].copy_from_slice(&date.to_le_bytes());
        })?;
        let created = (date as u32) << 16 | time as u32;
        Ok(Writer { name, pos, first: 0, last: 0, size: 0, written: 0, allocated: 0, early, created, tail: [0; SECTOR] })
    }

    fn writer_sector(&self, w: &Writer) -> u32 {
        self.vol.cluster_sector(w.last) + (w.written % self.vol.cluster_bytes()) / SECTOR as u32
    }

    fn set_entry_cluster(&mut self, pos: EntryPos, first: u32) -> R<(), D::Error> {
        self.write_entry(pos, |e| {
            e[20..22].copy_from_slice(&((first >> 16) as u16).to_le_bytes());
            e[26..28].copy_from_slice(&(first as u16).to_le_bytes());
        })
    }

    /// Append `data` to the file; clusters are allocated as it grows.
    pub fn write(&mut self, w: &mut Writer, mut data: &[u8]) -> R<(), D::Error> {
        if w.size as u64 + data.len() as u64 > u32::MAX as u64 {
            return Err(FsError::TooLarge);
        }
        let cb = self.vol.cluster_bytes();
        while !data.is_empty() {
            let tail = (w.size - w.written) as usize;
            if tail == 0 && w.written as u64 == w.allocated {
                let c = self.alloc((w.last != 0).then_some(w.last), w.early.then_some(w.pos))?;
                if w.first == 0 {
                    w.first = c;
                    if w.early {
                        // On the card before any link that follows, so
                        // that a card pulled during the write leaves
                        // clusters a leftover cleanup finds.
                        self.set_entry_cluster(w.pos, c)?;
                        self.sync_dir()?;
                    }
                }
                w.last = c;
                w.allocated += cb as u64;
            }
            if tail > 0 || data.len() < SECTOR {
                let n = (SECTOR - tail).min(data.len());
                w.tail[tail..tail + n].copy_from_slice(&data[..n]);
                w.size += n as u32;
                data = &data[n..];
                if tail + n == SECTOR {
                    let lba = self.writer_sector(w);
                    let t = w.tail;
                    self.sync_windows(lba, 1)?;
                    self.dev_write(lba, &t)?;
                    w.written += SECTOR as u32;
                }
            } else {
                let room = ((w.allocated - w.written as u64) as usize / SECTOR).min(data.len() / SECTOR);
                let lba = self.writer_sector(w);
                let n = room * SECTOR;
                self.sync_windows(lba, room as u32)?;
                self.dev_write(lba, &data[..n])?;
                w.written += n as u32;
                w.size += n as u32;
                data = &data[n..];
            }
        }
        Ok(())
    }

    /// Finish the file: its last sector, then its size and first cluster
    /// in the directory entry. Call [`Fs::flush`] to put it all on the card.
    pub fn close(&mut self, mut w: Writer) -> R<DirEntry, D::Error> {
        let tail = (w.size - w.written) as usize;
        if tail > 0 {
            w.tail[tail..].fill(0);
            let lba = self.writer_sector(&w);
            let t = w.tail;
            self.sync_windows(lba, 1)?;
            self.dev_write(lba, &t)?;
        }
        let (first, size) = (w.first, w.size);
        // The chain is on the card before the entry gives its size and
        // first cluster: an entry never leads to clusters the card still
        // has free.
        self.flush_fat_window()?;
        self.barrier()?;
        self.set_entry_chain(w.pos, first, size)?;
        if w.early {
            // Every cluster is on the chain now: no note is needed.
            self.set_created_field(w.pos, w.created)?;
        }
        let lfn = [EntryPos { lba: 0, index: 0 }; MAX_LFN_ENTRIES];
        Ok(DirEntry { name: w.name, attr: ATTR_ARCHIVE, size, first_cluster: first, pos: w.pos, lfn, lfn_len: 0, created_field: 0 })
    }

    /// Close `w` (see [`Fs::close`]); if that fails, give it up instead
    /// (its clusters and entry go), so that a temporary file of
    /// [`Fs::write_outputs`] does not stay behind. The close's error is
    /// the one returned.
    pub(crate) fn close_or_discard(&mut self, w: Writer) -> R<DirEntry, D::Error> {
        let (pos, first, early) = (w.pos, w.first, w.early);
        match self.close(w) {
            Ok(e) => Ok(e),
            Err(e) => {
                let _ = self.set_entry_cluster(pos, first).and_then(|()| self.release(pos, &[], first, early));
                Err(e)
            }
        }
    }

    /// Give up a file being written: its clusters and its entry go
    /// (see `release`).
    pub fn discard(&mut self, w: Writer) -> R<(), D::Error> {
        // The entry leads to the chain from here on, so that it can be
        // moved along as the chain is freed.
        self.set_entry_cluster(w.pos, w.first)?;
        self.release(w.pos, &[], w.first, w.early)?;
        Ok(())
    }

    /// Delete the file `path`: its entry, its long-name entries and its
    /// clusters.
    pub fn remove(&mut self, path: &str) -> R<(), D::Error> {
        let (dir, _) = self.parent(path)?;
        let e = self.find(path)?.ok_or(FsError::NotFound)?;
        if e.is_dir() {
            return Err(FsError::IsDirectory);
        }
        if e.attr & ATTR_READ_ONLY != 0 {
            return Err(FsError::ReadOnly);
        }
        self.check_not_shared(dir, &e)?;
        self.remove_entry(&e)
    }

    /// Refuse to free `e`'s chain if another file or directory uses part
    /// of it (a cross-linked, damaged card): freeing would hand that one's
    /// clusters to the next file written. Found: a link from a cluster off
    /// the chain into it (any file or directory whose chain runs into
    /// this one; one pass over the FAT), an entry of `e`'s directory that
    /// starts on it, and the root directory's first cluster on it.
    pub(crate) fn check_not_shared(&mut self, dir: Dir, e: &DirEntry) -> R<(), D::Error> {
        if !self.valid_cluster(e.first_cluster) {
            return Ok(());
        }
        let shared = |cluster, other, from| FsError::Corrupt { name: Some(e.name), what: Corruption::Shared { cluster, other, from } };
        // The chain as runs of consecutive clusters, a batch of runs at a
        // time (a fragmented file takes a pass over the FAT per batch).
        const RUNS: usize = 32;
        let (mut next, mut prev_tail, mut steps) = (Some(e.first_cluster), 0u32, 0u32);
        while let Some(start) = next {
            let mut runs = [(0u32, 0u32); RUNS];
            let (mut n, mut cur, mut last) = (0, start, start);
            next = None;
            while n < RUNS && steps < self.vol.clusters {
                let (begin, mut len) = (cur, 1u32);
                let mut jump = None;
                loop {
                    steps += 1;
                    last = cur;
                    let v = self.get(cur)?;
                    match self.link(v) {
                        Link::Next(x) if x == cur + 1 && steps < self.vol.clusters => {
                            cur = x;
                            len += 1;
                        }
                        Link::Next(x) => {
                            jump = Some(x);
                            break;
                        }
                        _ => break,
                    }
                }
                runs[n] = (begin, len);
                n += 1;
                match jump {
                    Some(x) if n < RUNS => cur = x,
                    Some(x) => next = Some(x),
                    None => break,
                }
            }
            let runs = &runs[..n];
            let on = |x: u32| runs.iter().any(|&(b, l)| x >= b && x - b < l);
            if let Root::Chain { first } = self.vol.root {
                if on(first) {
                    return Err(shared(first, None, 0));
                }
            }
            // Every link into these runs: from a cluster of the chain (its
            // own, or a loop back into itself), or from elsewhere.
            for x in 2..=self.vol.max_cluster() {
                let v = self.get(x)?;
                if let Link::Next(v) = self.link(v) {
                    if on(v) && !on(x) && x != prev_tail {
                        return Err(shared(v, None, x));
                    }
                }
            }
            let mut other = None;
            self.scan(dir, |o| {
                if o.pos != e.pos && on(o.first_cluster) {
                    other = Some((o.first_cluster, o.name));
                    return true;
                }
                false
            })?;
            if let Some((cluster, name)) = other {
                return Err(shared(cluster, Some(name), 0));
            }
            prev_tail = last;
            if steps >= self.vol.clusters {
                break;
            }
        }
        Ok(())
    }

    fn remove_entry(&mut self, e: &DirEntry) -> R<(), D::Error> {
        self.release(e.pos, &e.lfn[..e.lfn_len as usize], e.first_cluster, false)?;
        Ok(())
    }

    /// Mark `e` and its long-name entries deleted, leaving its clusters
    /// allocated.
    pub(crate) fn unlink(&mut self, e: &DirEntry) -> R<(), D::Error> {
        for p in e.lfn[..e.lfn_len as usize].iter().copied().chain([e.pos]) {
            self.write_entry(p, |x| x[0] = DELETED)?;
        }
        Ok(())
    }

    /// Rename `from` to `to` in the same directory, in place (one sector
    /// write: the file has one name or the other). A file already named
    /// `to` is deleted first when `replace`.
    ///
    /// On the card the replaced file's entry goes first, then the renamed
    /// entry changes, then the replaced clusters are freed: a card pulled
    /// in between has the file under its old name and lost clusters
    /// (fsck reclaims them), never two entries of one name or an entry
    /// leading to freed clusters. ([`Fs::write_outputs`] replaces so that
    /// the name always holds the old file or the new one.)
    pub fn rename(&mut self, from: &str, to: &str, replace: bool) -> R<(), D::Error> {
        let (dir, old) = self.parent(from)?;
        let new = ShortName::parse(to.rsplit('/').next().unwrap_or(to)).map_err(FsError::Name)?;
        let e = self.find_in(dir, &old)?.ok_or(FsError::NotFound)?;
        if old == new {
            return Ok(());
        }
        let mut replaced = 0;
        if let Some(existing) = self.find_in(dir, &new)? {
            if !replace {
                return Err(FsError::Exists);
            }
            if existing.is_dir() {
                return Err(FsError::IsDirectory);
            }
            if existing.attr & ATTR_READ_ONLY != 0 {
                return Err(FsError::ReadOnly);
            }
            self.check_not_shared(dir, &existing)?;
            self.unlink(&existing)?;
            self.flush_dir_window()?;
            self.barrier()?;
            replaced = existing.first_cluster;
        }
        self.rename_entry(&e, &new)?;
        self.flush_dir_window()?;
        self.barrier()?;
        self.free_chain(replaced)?;
        Ok(())
    }

    /// Give entry `e` the name `new` in place (its long-name entries,
    /// which would be orphans, go).
    pub(crate) fn rename_entry(&mut self, e: &DirEntry, new: &ShortName) -> R<(), D::Error> {
        for p in e.lfn[..e.lfn_len as usize].iter().copied() {
            self.write_entry(p, |x| x[0] = DELETED)?;
        }
        self.write_entry(e.pos, |x| {
            x[..11].copy_from_slice(&new.0);
            if x[0] == DELETED {
                x[0] = 0x05;
            }
        })
    }

    /// Point entry `pos` at the chain from `first` holding `size` bytes
    /// (written now).
    pub(crate) fn set_entry_chain(&mut self, pos: EntryPos, first: u32, size: u32) -> R<(), D::Error> {
        let (date, time) = (self.time.date(), self.time.time());
        self.write_entry(pos, |e| {
            e[11] |= ATTR_ARCHIVE;
            e[20..22].copy_from_slice(&((first >> 16) as u16).to_le_bytes());
            e[26..28].copy_from_slice(&(first as u16).to_le_bytes());
            e[28..32].copy_from_slice(&size.to_le_bytes());
            e[22..24].copy_from_slice(&time.to_le_bytes());
            e[24..26].copy_from_slice(&date.to_le_bytes());
        })
    }

    /// Keep `v` in the creation time and date fields of entry `pos`.
    pub(crate) fn set_created_field(&mut self, pos: EntryPos, v: u32) -> R<(), D::Error> {
        self.write_entry(pos, |e| e[14..18].copy_from_slice(&v.to_le_bytes()))
    }

    pub(crate) fn sync_dir(&mut self) -> R<(), D::Error> {
        self.flush_dir_window()?;
        self.barrier()
    }

    /// Put everything on the card: the FAT (every copy), the directory
    /// sector, and FAT32's FSInfo free count and next-free hint.
    pub fn flush(&mut self) -> R<(), D::Error> {
        self.flush_fat_window()?;
        self.flush_dir_window()?;
        if let (Some(free), true) = (self.free, self.fsinfo_dirty) {
            self.write_fsinfo(free)?;
            self.fsinfo_dirty = false;
        }
        self.barrier()
    }

    /// FSInfo's free count exact on the card at the next flush (counted
    /// if it was not): a pull can leave it "unknown" without a change of
    /// the FAT to follow.
    pub(crate) fn fsinfo_exact(&mut self) -> R<(), D::Error> {
        self.count_free()?;
        self.fsinfo_dirty = true;
        Ok(())
    }

    /// FAT32's FSInfo free count `free` and the next-free hint, on the
    /// card (only a sector that is an FSInfo is updated).
    fn write_fsinfo(&mut self, free: u32) -> R<(), D::Error> {
        let Some(lba) = self.vol.fsinfo else { return Ok(()) };
        let next = self.next_free;
        let w = self.dir_sector(lba)?;
        if le32(&w.buf, 0) == 0x4161_5252 && le32(&w.buf, 484) == 0x6141_7272 && le32(&w.buf, 508) == 0xaa55_0000 {
            w.buf[488..492].copy_from_slice(&free.to_le_bytes());
            w.buf[492..496].copy_from_slice(&next.to_le_bytes());
            w.dirty = true;
        }
        self.flush_dir_window()
    }

    /// Before the first change to the FAT after a flush, FSInfo's free
    /// count says "unknown" (0xFFFFFFFF, fatgen103 section 5) on the card:
    /// a card pulled before the next flush then has other systems count
    /// the free clusters instead of trusting a stale number.
    fn fat_changes(&mut self) -> R<(), D::Error> {
        if !self.fsinfo_dirty {
            self.fsinfo_dirty = true;
            if self.vol.fsinfo.is_some() {
                self.write_fsinfo(u32::MAX)?;
                self.barrier()?;
            }
        }
        Ok(())
    }
}
