//! Finding the FAT volume on a card and checking its boot sector before
//! anything is computed from it.
//!
//! Partitioning: like FatFs's `find_volume`, sector 0 is first tried as a
//! FAT boot sector (a "superfloppy": no partition table); otherwise it is
//! an MBR, whose four primary slots are tried in order, or, when the MBR
//! is GPT's protective one (type 0xEE), the GPT's partition entries
//! (UEFI 2.10 section 5.3, header and entry CRCs checked).
//!
//! Boot sector: every check of FatFs R0.15 `check_fs` and `mount_volume`
//! (sector size, power-of-two cluster size, reserved sectors, 1 or 2 FATs,
//! root entries sector-aligned, volume not smaller than its system area,
//! at least one cluster, FAT32 version 0 and no fixed root, FAT large
//! enough for the clusters), plus what FatFs leaves to the caller: the
//! volume must fit its partition and the card, and FAT32's root cluster
//! must be a data cluster, and FSInfo is used only inside the reserved
//! sectors. The FAT type follows from the cluster count as
//! fatgen103 section 3.5 says (< 4085 FAT12, < 65525 FAT16, else FAT32).
use crate::{le16, le32, BlockDevice, SECTOR};
use xlic_model::crc32::{crc32, Crc32};
use core::fmt;

/// How the volume was found on the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Sector 0 is the FAT boot sector: no partition table.
    Superfloppy,
    /// Primary partition `slot` (1 to 4) of the MBR.
    Mbr { slot: u8 },
    /// Entry `entry` (from 1) of the GPT.
    Gpt { entry: u32 },
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scheme::Superfloppy => write!(f, "the whole card (no partition table)"),
            Scheme::Mbr { slot } => write!(f, "MBR partition {slot}"),
            Scheme::Gpt { entry } => write!(f, "GPT partition {entry}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

impl fmt::Display for FatType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            FatType::Fat12 => "FAT12",
            FatType::Fat16 => "FAT16",
            FatType::Fat32 => "FAT32",
        })
    }
}

/// The root directory: a fixed region (FAT12/16) or a cluster chain (FAT32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    Fixed { start: u32, sectors: u32 },
    Chain { first: u32 },
}

/// A checked FAT volume: every sector number below is inside the volume,
/// and the volume is inside the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Volume {
    pub scheme: Scheme,
    pub fat_type: FatType,
    /// First sector of the volume on the card, and its length.
    pub start: u32,
    pub sectors: u32,
    pub sectors_per_cluster: u32,
    /// First sector of the first FAT, sectors per FAT, number of FATs.
    pub fat_start: u32,
    pub fat_sectors: u32,
    pub fats: u8,
    /// FAT32 with mirroring off (BPB_ExtFlags bit 7): the only FAT in use.
    pub active_fat: Option<u8>,
    pub root: Root,
    /// First sector of cluster 2.
    pub data_start: u32,
    /// Data clusters: valid cluster numbers are 2 ..= clusters + 1.
    pub clusters: u32,
    /// FAT32's FSInfo sector (used only when BPB_FSInfo is 1, as FatFs does).
    pub fsinfo: Option<u32>,
}

impl Volume {
    pub fn cluster_bytes(&self) -> u32 {
        self.sectors_per_cluster * SECTOR as u32
    }
    /// Largest valid cluster number.
    pub fn max_cluster(&self) -> u32 {
        self.clusters + 1
    }
    /// First sector of cluster `c` (2 ..= max_cluster).
    pub fn cluster_sector(&self, c: u32) -> u32 {
        self.data_start + (c - 2) * self.sectors_per_cluster
    }
}

/// A boot-sector field out of range: which field, its value, and the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpbError {
    /// Not a FAT boot sector at all (no jump instruction / signature).
    NotFat,
    BytesPerSector(u16),
    SectorsPerCluster(u8),
    ReservedSectors,
    Fats(u8),
    RootEntriesAlign(u16),
    RootEntriesOnFat32(u16),
    RootEntriesZero,
    TotalSectorsZero,
    /// The volume is smaller than its reserved sectors + FATs + root directory.
    SystemArea { total: u32, system: u32 },
    FatSizeZero,
    NoClusters,
    TooManyClusters(u32),
    Fat32Version(u16),
    RootCluster { cluster: u32, max: u32 },
    FatTooSmall { sectors: u32, needed: u32 },
    /// The volume claims more sectors than its partition (or the card) has.
    BeyondPartition { total: u32, available: u32 },
}

impl fmt::Display for BpbError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use BpbError::*;
        match *self {
            NotFat => write!(f, "it is not a FAT boot sector (no x86 jump instruction and BIOS parameter block)"),
            BytesPerSector(n) => write!(f, "bytes per sector is {n}; this firmware and SD cards use 512"),
            SectorsPerCluster(n) => write!(f, "sectors per cluster is {n}; it must be a power of two from 1 to 128"),
            ReservedSectors => write!(f, "reserved sector count is 0; it must be at least 1 (the boot sector)"),
            Fats(n) => write!(f, "number of FATs is {n}; it must be 1 or 2"),
            RootEntriesAlign(n) => write!(f, "root directory entry count {n} does not fill whole sectors (a multiple of 16)"),
            RootEntriesOnFat32(n) => write!(f, "root directory entry count is {n} on a FAT32 volume; it must be 0 there"),
            RootEntriesZero => write!(f, "root directory entry count is 0 on a FAT12/FAT16 volume"),
            TotalSectorsZero => write!(f, "total sector count is 0"),
            SystemArea { total, system } => {
                write!(f, "the volume has {total} sectors, fewer than the {system} its reserved sectors, FATs and root directory need")
            }
            FatSizeZero => write!(f, "sectors per FAT is 0"),
            NoClusters => write!(f, "the volume has no room for data clusters"),
            TooManyClusters(n) => write!(f, "the volume has {n} clusters, more than FAT32 can address"),
            Fat32Version(v) => write!(f, "FAT32 version is {}.{}; only 0.0 exists", v >> 8, v & 0xff),
            RootCluster { cluster, max } => write!(f, "root directory cluster is {cluster}; data clusters are 2 to {max}"),
            FatTooSmall { sectors, needed } => write!(f, "sectors per FAT is {sectors}; the volume's clusters need {needed}"),
            BeyondPartition { total, available } => {
                write!(f, "the volume claims {total} sectors but only {available} are there")
            }
        }
    }
}

/// Why no volume was mounted, in words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountError<E> {
    Device(E),
    /// Sector 0 has no partition table and no boot sector.
    Blank,
    /// A FAT volume whose boot sector fails a check.
    Bpb { scheme: Scheme, error: BpbError },
    Exfat { scheme: Scheme },
    Ntfs { scheme: Scheme },
    /// An MBR partition whose start or length is impossible.
    BadMbrEntry { slot: u8, start: u32, sectors: u32, card: u32 },
    /// The MBR has partitions, none of them FAT (type of the first one).
    NoFatInMbr { first_type: u8, count: u8 },
    /// Only an extended partition: logical partitions are not read.
    ExtendedOnly,
    /// A protective MBR without a valid GPT header.
    BadGpt { why: GptError },
    /// A GPT entry whose sectors lie outside the card.
    BadGptEntry { entry: u32 },
    NoFatInGpt { partitions: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GptError {
    Signature,
    HeaderCrc,
    EntryLayout,
    EntriesCrc,
}

impl fmt::Display for GptError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            GptError::Signature => "sector 1 has no \"EFI PART\" header",
            GptError::HeaderCrc => "the GPT header fails its CRC-32 check",
            GptError::EntryLayout => "the GPT's partition entry array is malformed",
            GptError::EntriesCrc => "the GPT's partition entries fail their CRC-32 check",
        })
    }
}

fn mbr_type_name(t: u8) -> &'static str {
    match t {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0e => "FAT16",
        0x0b | 0x0c => "FAT32",
        0x05 | 0x0f | 0x85 => "extended",
        0x07 => "NTFS/exFAT",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xa5 | 0xa6 | 0xa9 => "BSD",
        0xaf => "HFS+",
        0xee => "GPT protective",
        _ => "unknown",
    }
}

impl<E: fmt::Display> fmt::Display for MountError<E> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use MountError::*;
        match self {
            Device(e) => write!(f, "{e}"),
            Blank => write!(
                f,
                "the card has neither a partition table nor a FAT boot sector (sector 0 lacks the 0x55AA signature): format it as FAT32"
            ),
            Bpb { scheme, error } => write!(f, "{scheme}: the FAT boot sector is invalid: {error}; reformat the card as FAT32"),
            Exfat { scheme } => write!(f, "{scheme} is exFAT, which this firmware does not read: format it as FAT32"),
            Ntfs { scheme } => write!(f, "{scheme} is NTFS, which this firmware does not read: format it as FAT32"),
            BadMbrEntry { slot, start, sectors, card } => {
                if *start == 0 {
                    write!(f, "MBR partition {slot} starts at sector 0, over the partition table itself; repartition the card")
                } else {
                    write!(
                        f,
                        "MBR partition {slot} (sectors {start}..{}) extends beyond the card's {card} sectors; repartition the card",
                        *start as u64 + *sectors as u64
                    )
                }
            }
            NoFatInMbr { first_type, count } => write!(
                f,
                "none of the {count} MBR partitions is FAT (partition 1 has type 0x{first_type:02x}, {}): format one as FAT32",
                mbr_type_name(*first_type)
            ),
            ExtendedOnly => write!(f, "the MBR holds only an extended partition; logical partitions are not read: make a primary FAT32 partition"),
            BadGpt { why } => write!(f, "the card has a GPT protective MBR but {why}"),
            BadGptEntry { entry } => write!(f, "GPT partition {entry} lies outside the card; repartition the card"),
            NoFatInGpt { partitions } => write!(f, "none of the {partitions} GPT partitions is a FAT volume: format one as FAT32"),
        }
    }
}

/// What the first sector of a partition holds.
enum Vbr {
    Fat,
    Exfat,
    Ntfs,
    Other,
}

/// FatFs `check_fs`: a FAT boot sector has an x86 jump and either the
/// 0x55AA signature with "FAT32   " at offset 82, or a plausible BPB.
/// exFAT and NTFS name themselves at offset 3.
fn classify(s: &[u8; SECTOR]) -> Vbr {
    if &s[3..11] == b"EXFAT   " {
        return Vbr::Exfat;
    }
    if &s[3..11] == b"NTFS    " {
        return Vbr::Ntfs;
    }
    let sign = le16(s, 510) == 0xaa55;
    if matches!(s[0], 0xeb | 0xe9 | 0xe8) {
        if sign && &s[82..90] == b"FAT32   " {
            return Vbr::Fat;
        }
        let w = le16(s, 11);
        let b = s[13];
        let plausible = w.is_power_of_two()
            && (512..=4096).contains(&w)
            && b.is_power_of_two()
            && le16(s, 14) != 0
            && matches!(s[16], 1 | 2)
            && le16(s, 17) != 0
            && (le16(s, 19) >= 128 || le32(s, 32) >= 0x10000)
            && le16(s, 22) != 0;
        // FAT12/16 volumes made by ordinary formatters name their type too;
        // let those through to the full check so its message is precise.
        if plausible || (sign && (&s[54..59] == b"FAT12" || &s[54..59] == b"FAT16" || &s[54..57] == b"FAT")) {
            return Vbr::Fat;
        }
    }
    Vbr::Other
}

/// fatgen103 section 3.5 thresholds.
const MAX_FAT12_CLUSTERS: u32 = 4084;
const MAX_FAT16_CLUSTERS: u32 = 65524;
/// FatFs MAX_FAT32: cluster numbers must stay below the reserved values.
const MAX_FAT32_CLUSTERS: u32 = 0x0fff_fff5;

/// Check the boot sector `s` of a volume at `start` with `available`
/// sectors (partition length, or what is left of the card).
pub fn check_bpb(s: &[u8; SECTOR], scheme: Scheme, start: u32, available: u32) -> Result<Volume, BpbError> {
    use BpbError::*;
    if !matches!(classify(s), Vbr::Fat) {
        return Err(NotFat);
    }
    let bytes_per_sector = le16(s, 11);
    if bytes_per_sector as usize != SECTOR {
        return Err(BytesPerSector(bytes_per_sector));
    }
    let spc = s[13];
    if !spc.is_power_of_two() {
        return Err(SectorsPerCluster(spc));
    }
    let reserved = le16(s, 14) as u32;
    if reserved == 0 {
        return Err(ReservedSectors);
    }
    let fats = s[16];
    if !matches!(fats, 1 | 2) {
        return Err(Fats(fats));
    }
    let root_entries = le16(s, 17);
    if root_entries as usize % (SECTOR / 32) != 0 {
        return Err(RootEntriesAlign(root_entries));
    }
    let total = match le16(s, 19) {
        0 => le32(s, 32),
        n => n as u32,
    };
    if total == 0 {
        return Err(TotalSectorsZero);
    }
    let fat_sectors = match le16(s, 22) {
        0 => le32(s, 36),
        n => n as u32,
    };
    if fat_sectors == 0 {
        return Err(FatSizeZero);
    }
    let root_sectors = root_entries as u32 * 32 / SECTOR as u32;
    let system = reserved as u64 + fat_sectors as u64 * fats as u64 + root_sectors as u64;
    if (total as u64) < system {
        return Err(SystemArea { total, system: system.min(u32::MAX as u64) as u32 });
    }
    if total > available {
        return Err(BeyondPartition { total, available });
    }
    let system = system as u32;
    let clusters = (total - system) / spc as u32;
    if clusters == 0 {
        return Err(NoClusters);
    }
    if clusters > MAX_FAT32_CLUSTERS {
        return Err(TooManyClusters(clusters));
    }
    let fat_type = if clusters <= MAX_FAT12_CLUSTERS {
        FatType::Fat12
    } else if clusters <= MAX_FAT16_CLUSTERS {
        FatType::Fat16
    } else {
        FatType::Fat32
    };
    let fat_start = start + reserved;
    let data_start = start + system;
    let (root, active_fat, fsinfo) = match fat_type {
        FatType::Fat32 => {
            let version = le16(s, 42);
            if version != 0 {
                return Err(Fat32Version(version));
            }
            if root_entries != 0 {
                return Err(RootEntriesOnFat32(root_entries));
            }
            let first = le32(s, 44);
            if first < 2 || first > clusters + 1 {
                return Err(RootCluster { cluster: first, max: clusters + 1 });
            }
            let ext = le16(s, 40);
            let active = (ext & 0x80 != 0).then_some((ext & 0x0f) as u8).filter(|&a| a < fats);
            // FSInfo is used only inside the reserved sectors: with one
            // reserved sector, "sector 1" is the FAT's first sector, and
            // writing a free count there would overwrite FAT entries.
            let fsinfo = (le16(s, 48) == 1 && reserved > 1).then_some(start + 1);
            (Root::Chain { first }, active, fsinfo)
        }
        _ => {
            if root_entries == 0 {
                return Err(RootEntriesZero);
            }
            (Root::Fixed { start: fat_start + fat_sectors * fats as u32, sectors: root_sectors }, None, None)
        }
    };
    let entries = clusters as u64 + 2;
    let fat_bytes = match fat_type {
        FatType::Fat12 => (entries * 3).div_ceil(2),
        FatType::Fat16 => entries * 2,
        FatType::Fat32 => entries * 4,
    };
    let needed = fat_bytes.div_ceil(SECTOR as u64) as u32;
    if fat_sectors < needed {
        return Err(FatTooSmall { sectors: fat_sectors, needed });
    }
    Ok(Volume {
        scheme,
        fat_type,
        start,
        sectors: total,
        sectors_per_cluster: spc as u32,
        fat_start,
        fat_sectors,
        fats,
        active_fat,
        root,
        data_start,
        clusters,
        fsinfo,
    })
}

fn read_sector<D: BlockDevice>(dev: &mut D, lba: u32, buf: &mut [u8; SECTOR]) -> Result<(), MountError<D::Error>> {
    dev.read(lba, buf).map_err(MountError::Device)
}

/// Microsoft basic data partition type GUID (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7), on-disk byte order.
const BASIC_DATA: [u8; 16] = [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7];

/// At most this many GPT entries are looked at (the usual array size).
const GPT_MAX_ENTRIES: u32 = 128;

/// Find and check the volume on a card of `card` sectors.
pub fn find<D: BlockDevice>(dev: &mut D, card: u32) -> Result<Volume, MountError<D::Error>> {
    let mut s = [0u8; SECTOR];
    read_sector(dev, 0, &mut s)?;
    let superfloppy = Scheme::Superfloppy;
    match classify(&s) {
        Vbr::Fat => return check_bpb(&s, superfloppy, 0, card).map_err(|error| MountError::Bpb { scheme: superfloppy, error }),
        Vbr::Exfat => return Err(MountError::Exfat { scheme: superfloppy }),
        Vbr::Ntfs => return Err(MountError::Ntfs { scheme: superfloppy }),
        Vbr::Other => {}
    }
    if le16(&s, 510) != 0xaa55 {
        return Err(MountError::Blank);
    }
    let mbr = s;
    let entry = |i: usize| {
        let e = 446 + 16 * i;
        (mbr[e + 4], le32(&mbr, e + 8), le32(&mbr, e + 12))
    };
    if (0..4).any(|i| entry(i).0 == 0xee) {
        return find_gpt(dev, card);
    }
    // The first problem worth naming if no slot holds a FAT volume.
    let mut first_error: Option<MountError<D::Error>> = None;
    let (mut count, mut first_type, mut extended) = (0u8, 0u8, 0u8);
    for i in 0..4 {
        let (kind, start, sectors) = entry(i);
        let slot = i as u8 + 1;
        if kind == 0 {
            continue;
        }
        count += 1;
        if count == 1 {
            first_type = kind;
        }
        if matches!(kind, 0x05 | 0x0f | 0x85) {
            extended += 1;
            continue;
        }
        if start == 0 || start as u64 + sectors as u64 > card as u64 || sectors == 0 {
            first_error.get_or_insert(MountError::BadMbrEntry { slot, start, sectors, card });
            continue;
        }
        // A FAT partition type whose boot sector is not FAT: say so.
        let fat_type = matches!(kind, 0x01 | 0x04 | 0x06 | 0x0b | 0x0c | 0x0e);
        match try_partition(dev, Scheme::Mbr { slot }, start, sectors, fat_type)? {
            Ok(v) => return Ok(v),
            Err(Some(e)) => {
                first_error.get_or_insert(e);
            }
            Err(None) => {}
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if count == 0 {
        return Err(MountError::Blank);
    }
    if extended == count {
        return Err(MountError::ExtendedOnly);
    }
    Err(MountError::NoFatInMbr { first_type, count })
}

/// The volume in a partition: Ok, or why not (None: not a file system
/// worth naming; `fat_type` partitions always get a reason).
#[allow(clippy::type_complexity)]
fn try_partition<D: BlockDevice>(
    dev: &mut D,
    scheme: Scheme,
    start: u32,
    sectors: u32,
    fat_type: bool,
) -> Result<Result<Volume, Option<MountError<D::Error>>>, MountError<D::Error>> {
    let mut s = [0u8; SECTOR];
    read_sector(dev, start, &mut s)?;
    Ok(match classify(&s) {
        Vbr::Fat => check_bpb(&s, scheme, start, sectors).map_err(|error| Some(MountError::Bpb { scheme, error })),
        Vbr::Exfat => Err(Some(MountError::Exfat { scheme })),
        Vbr::Ntfs => Err(Some(MountError::Ntfs { scheme })),
        Vbr::Other if fat_type => Err(Some(MountError::Bpb { scheme, error: BpbError::NotFat })),
        Vbr::Other => Err(None),
    })
}

fn find_gpt<D: BlockDevice>(dev: &mut D, card: u32) -> Result<Volume, MountError<D::Error>> {
    let bad = |why| MountError::BadGpt { why };
    let mut h = [0u8; SECTOR];
    read_sector(dev, 1, &mut h)?;
    if &h[..8] != b"EFI PART" {
        return Err(bad(GptError::Signature));
    }
    let header_size = le32(&h, 12) as usize;
    if !(92..=SECTOR).contains(&header_size) {
        return Err(bad(GptError::HeaderCrc));
    }
    let mut copy = h;
    copy[16..20].fill(0);
    if crc32(&copy[..header_size]) != le32(&h, 16) {
        return Err(bad(GptError::HeaderCrc));
    }
    let entries_lba = le32(&h, 72) as u64 | (le32(&h, 76) as u64) << 32;
    let entries = le32(&h, 80);
    let entry_size = le32(&h, 84);
    if entry_size < 128 || entry_size as usize > SECTOR || !entry_size.is_power_of_two() || entries_lba < 2 || entries_lba >= card as u64 {
        return Err(bad(GptError::EntryLayout));
    }
    // The array's CRC covers every entry, even those past the ones read.
    let array_bytes = entries as u64 * entry_size as u64;
    let array_sectors = array_bytes.div_ceil(SECTOR as u64);
    if entries_lba + array_sectors > card as u64 || array_sectors > 1024 {
        return Err(bad(GptError::EntryLayout));
    }
    let mut crc = Crc32::default();
    let mut candidates = [0u32; 4];
    let mut found = 0usize;
    let mut partitions = 0u32;
    let mut s = [0u8; SECTOR];
    for k in 0..array_sectors as u32 {
        read_sector(dev, entries_lba as u32 + k, &mut s)?;
        let take = (array_bytes - k as u64 * SECTOR as u64).min(SECTOR as u64) as usize;
        crc.update(&s[..take]);
        for (j, e) in s[..take].chunks_exact(entry_size as usize).enumerate() {
            let index = k * (SECTOR as u32 / entry_size) + j as u32;
            if index >= GPT_MAX_ENTRIES || e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            partitions += 1;
            if e[..16] == BASIC_DATA && found < candidates.len() {
                candidates[found] = index;
                found += 1;
            }
        }
    }
    if crc.finish() != le32(&h, 88) {
        return Err(bad(GptError::EntriesCrc));
    }
    let mut first_error = None;
    for &index in &candidates[..found] {
        let per_sector = SECTOR as u32 / entry_size;
        read_sector(dev, entries_lba as u32 + index / per_sector, &mut s)?;
        let e = &s[(index % per_sector * entry_size) as usize..][..entry_size as usize];
        let first = le32(e, 32) as u64 | (le32(e, 36) as u64) << 32;
        let last = le32(e, 40) as u64 | (le32(e, 44) as u64) << 32;
        let scheme = Scheme::Gpt { entry: index + 1 };
        if first == 0 || last < first || last >= card as u64 {
            first_error.get_or_insert(MountError::BadGptEntry { entry: index + 1 });
            continue;
        }
        match try_partition(dev, scheme, first as u32, (last - first + 1) as u32, false)? {
            Ok(v) => return Ok(v),
            Err(Some(e)) => {
                first_error.get_or_insert(e);
            }
            Err(None) => {}
        }
    }
    Err(first_error.unwrap_or(MountError::NoFatInGpt { partitions }))
}
