//! Files on the SD card: FAT32 through embedded-sdmmc on the SDHCI driver.
use crate::arch::aarch64::time::Instant;
use crate::drivers::sdhci::{CardInfo, SdError, Sdhci};
use core::ops::ControlFlow;
use embedded_sdmmc::{Block, BlockDevice, DirEntry, Mode, RawDirectory, ShortFileName, TimeSource, Timestamp, VolumeIdx, VolumeManager};

/// Where outputs are written before they get their final name.
pub const TEMP_NAME: &str = "~XLICTMP.TMP";

/// The board has no battery-backed clock: files get a fixed date.
pub struct FixedClock;

impl TimeSource for FixedClock {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp { year_since_1970: 56, zero_indexed_month: 0, zero_indexed_day: 0, hours: 0, minutes: 0, seconds: 0 }
    }
}

/// Blocks moved per SD command by the read-ahead and the write batch.
const RUN: usize = 128;

/// Aligned to its own size, so an SDMA transfer into it never crosses a
/// 512 KiB boundary: QEMU 7.2 does not resume after a boundary stop (the
/// driver does, as the spec says, for the board).
#[repr(C, align(65536))]
struct DmaBuffer([u8; RUN * 512]);

static mut READ_AHEAD: [DmaBuffer; 2] = [const { DmaBuffer([0; RUN * 512]) }; 2];
static mut WRITE_BATCH: [DmaBuffer; 2] = [const { DmaBuffer([0; RUN * 512]) }; 2];

/// `count` consecutive blocks from `start` held in a DMA buffer: a
/// read-ahead run, or a batch of writes not yet on the card.
struct Run {
    buf: &'static mut DmaBuffer,
    start: u32,
    count: u32,
}

impl Run {
    fn holds(&self, idx: u32) -> bool {
        (self.start..self.start + self.count).contains(&idx)
    }
}

struct Runs {
    /// Two runs, so the FAT and the file data (which FAT32 with small
    /// clusters visits alternately) do not evict each other.
    read: [Run; 2],
    /// The run used least recently (replaced on a miss).
    lru: usize,
    /// Two batches of consecutive writes (file data, and the FAT).
    write: [Run; 2],
    write_lru: usize,
}

/// The card as embedded-sdmmc sees it. embedded-sdmmc asks for one block
/// at a time; this reads ahead with one multi-block command (CMD18) and
/// gathers consecutive writes into one (CMD25), both by SDMA. Pending
/// writes are flushed before any read that overlaps them and by
/// [`Storage`] at the end of every operation that writes.
pub struct CardDevice {
    sd: Sdhci,
    runs: core::cell::RefCell<Runs>,
}

impl CardDevice {
    fn new(sd: Sdhci) -> Self {
        // SAFETY: one CardDevice exists at a time (the console's mounted
        // card), so these DMA buffers have a single owner.
        let ([a, b], [c, d]) = unsafe { (&mut *core::ptr::addr_of_mut!(READ_AHEAD), &mut *core::ptr::addr_of_mut!(WRITE_BATCH)) };
        let read = [Run { buf: a, start: 0, count: 0 }, Run { buf: b, start: 0, count: 0 }];
        let write = [Run { buf: c, start: 0, count: 0 }, Run { buf: d, start: 0, count: 0 }];
        CardDevice { sd, runs: core::cell::RefCell::new(Runs { read, lru: 0, write, write_lru: 0 }) }
    }

    fn flush_batch(&self, batch: &mut Run) -> Result<(), SdError> {
        if batch.count > 0 {
            self.sd.write_from(batch.start, &batch.buf.0[..batch.count as usize * 512])?;
            batch.count = 0;
        }
        Ok(())
    }

    fn flush_runs(&self, r: &mut Runs) -> Result<(), SdError> {
        for b in r.write.iter_mut() {
            self.flush_batch(b)?;
        }
        Ok(())
    }

    /// Write any gathered blocks to the card.
    pub fn flush(&self) -> Result<(), SdError> {
        self.flush_runs(&mut self.runs.borrow_mut())
    }
}

fn overlaps(a: u32, an: u32, b: u32, bn: u32) -> bool {
    a < b + bn && b < a + an
}

impl BlockDevice for CardDevice {
    type Error = SdError;

    fn read(&self, blocks: &mut [Block], start: embedded_sdmmc::BlockIdx) -> Result<(), SdError> {
        let mut r = self.runs.borrow_mut();
        let start = start.0;
        for k in 0..2 {
            if overlaps(start, blocks.len() as u32, r.write[k].start, r.write[k].count) {
                self.flush_batch(&mut r.write[k])?;
            }
        }
        let total = self.sd.card().map(|c| c.blocks).ok_or(SdError::NoCard)?;
        for (i, b) in blocks.iter_mut().enumerate() {
            let idx = start + i as u32;
            let k = match r.read.iter().position(|run| run.holds(idx)) {
                Some(k) => k,
                None => {
                    let k = r.lru;
                    let n = (RUN as u32).min(total.saturating_sub(idx)).max(1);
                    let Runs { read, write, .. } = &mut *r;
                    let run = &mut read[k];
                    run.count = 0;
                    self.sd.read_into(idx, &mut run.buf.0[..n as usize * 512])?;
                    run.start = idx;
                    run.count = n;
                    // Blocks of the run that a pending batch holds newer.
                    for w in write.iter() {
                        for b in w.start..w.start + w.count {
                            if run.holds(b) {
                                let (ro, wo) = ((b - run.start) as usize * 512, (b - w.start) as usize * 512);
                                run.buf.0[ro..ro + 512].copy_from_slice(&w.buf.0[wo..wo + 512]);
                            }
                        }
                    }
                    k
                }
            };
            r.lru = 1 - k;
            let run = &r.read[k];
            let off = (idx - run.start) as usize * 512;
            b.contents.copy_from_slice(&run.buf.0[off..off + 512]);
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: embedded_sdmmc::BlockIdx) -> Result<(), SdError> {
        let mut r = self.runs.borrow_mut();
        let (start, n) = (start.0, blocks.len() as u32);
        // Keep cached reads true: written blocks replace their cached copy.
        for run in r.read.iter_mut() {
            for (i, b) in blocks.iter().enumerate() {
                let idx = start + i as u32;
                if run.holds(idx) {
                    let off = (idx - run.start) as usize * 512;
                    run.buf.0[off..off + 512].copy_from_slice(&b.contents);
                }
            }
        }
        // A rewrite of a block already in a batch (FAT updates do this)
        // replaces it there.
        if n == 1 {
            if let Some(batch) = r.write.iter_mut().find(|w| w.holds(start)) {
                let off = (start - batch.start) as usize * 512;
                batch.buf.0[off..off + 512].copy_from_slice(&blocks[0].contents);
                return Ok(());
            }
        }
        if n as usize > RUN {
            self.flush_runs(&mut r)?;
            return self.sd.write_blocks(start, blocks);
        }
        let k = match r.write.iter().position(|w| w.count > 0 && start == w.start + w.count && (w.count + n) as usize <= RUN) {
            Some(k) => k,
            None => {
                let k = r.write_lru;
                self.flush_batch(&mut r.write[k])?;
                r.write[k].start = start;
                k
            }
        };
        r.write_lru = 1 - k;
        let batch = &mut r.write[k];
        for (i, b) in blocks.iter().enumerate() {
            let off = (batch.count as usize + i) * 512;
            batch.buf.0[off..off + 512].copy_from_slice(&b.contents);
        }
        batch.count += n;
        Ok(())
    }

    fn num_blocks(&self) -> Result<embedded_sdmmc::BlockCount, SdError> {
        self.sd.num_blocks()
    }
}

type Volumes = VolumeManager<CardDevice, FixedClock, 4, 4, 1>;

#[derive(Debug)]
pub enum StorageError {
    Card(SdError),
    NoFilesystem,
    NotFound,
    BadName,
    IsDirectory,
    TooLarge { size: u32, room: usize },
    Exists,
    CardFull,
    Filesystem(embedded_sdmmc::Error<SdError>),
}

impl core::fmt::Display for StorageError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            StorageError::Card(e) => write!(f, "{e}"),
            StorageError::NoFilesystem => write!(f, "no FAT partition on the card (make one with `cargo xtask card`)"),
            StorageError::NotFound => write!(f, "no such file or directory on the card"),
            StorageError::BadName => write!(f, "not a valid 8.3 file name"),
            StorageError::IsDirectory => write!(f, "that is a directory"),
            StorageError::TooLarge { size, room } => write!(f, "file is {size} bytes; its buffer holds {room}"),
            StorageError::Exists => write!(f, "a file of that name exists; it is left as it is"),
            StorageError::CardFull => write!(f, "the card is full; nothing was written under the final name"),
            StorageError::Filesystem(e) => write!(f, "file system error: {e:?}"),
        }
    }
}

impl From<embedded_sdmmc::Error<SdError>> for StorageError {
    fn from(e: embedded_sdmmc::Error<SdError>) -> Self {
        use embedded_sdmmc::Error as E;
        match e {
            E::DeviceError(d) => StorageError::Card(d),
            E::NotFound => StorageError::NotFound,
            E::FilenameError(_) => StorageError::BadName,
            E::OpenedDirAsFile => StorageError::IsDirectory,
            E::NoSuchVolume | E::FormatError(_) => StorageError::NoFilesystem,
            E::NotEnoughSpace | E::DiskFull => StorageError::CardFull,
            other => StorageError::Filesystem(other),
        }
    }
}

/// The mounted card.
pub struct Storage {
    volumes: Volumes,
    pub card: CardInfo,
}

/// How a transfer went, for the console.
pub struct Transfer {
    pub bytes: usize,
    pub micros: u64,
}

impl Transfer {
    pub fn kib_per_s(&self) -> u64 {
        (self.bytes as u64 * 1_000_000 / 1024).checked_div(self.micros).unwrap_or(0)
    }
}

impl Storage {
    /// Identify the card and check it holds a FAT volume.
    pub fn mount(mut sd: Sdhci) -> Result<Storage, StorageError> {
        let card = sd.init().map_err(StorageError::Card)?;
        let volumes = VolumeManager::new(CardDevice::new(sd), FixedClock);
        let v = volumes.open_raw_volume(VolumeIdx(0))?;
        volumes.close_volume(v)?;
        Ok(Storage { volumes, card })
    }

    fn with_dir<R>(&self, dir: Option<&str>, f: impl FnOnce(&Volumes, RawDirectory) -> Result<R, StorageError>) -> Result<R, StorageError> {
        let vm = &self.volumes;
        let vol = vm.open_raw_volume(VolumeIdx(0))?;
        let result = (|| {
            let root = vm.open_root_dir(vol)?;
            let r = match dir {
                None => f(vm, root),
                Some(d) => match vm.open_dir(root, d) {
                    Ok(sub) => {
                        let r = f(vm, sub);
                        vm.close_dir(sub)?;
                        r
                    }
                    Err(e) => Err(e.into()),
                },
            };
            vm.close_dir(root)?;
            r
        })();
        vm.close_volume(vol)?;
        result
    }

    /// Call `each` for every entry of the root directory (or of `dir`).
    pub fn list(&self, dir: Option<&str>, mut each: impl FnMut(&DirEntry)) -> Result<(), StorageError> {
        self.with_dir(dir, |vm, d| {
            vm.iterate_dir(d, |e| {
                each(e);
                ControlFlow::Continue(())
            })?;
            Ok(())
        })
    }

    /// Write `data` to `name` so that a failure never leaves a partial file
    /// under that name: the data goes to [`TEMP_NAME`], which is renamed
    /// once complete. An existing `name` is replaced only with `replace`
    /// (outputs of the firmware), never otherwise (inputs stay intact).
    pub fn write_file(&self, name: &str, data: &[u8], replace: bool, mut progress: impl FnMut(usize, usize)) -> Result<Transfer, StorageError> {
        let final_name = ShortFileName::create_from_str(name).map_err(|_| StorageError::BadName)?;
        let t = Instant::now();
        let entry = self.with_dir(None, |vm, root| {
            let exists = match vm.find_directory_entry(root, name) {
                Ok(e) if e.attributes.is_directory() => return Err(StorageError::IsDirectory),
                Ok(_) => true,
                Err(embedded_sdmmc::Error::NotFound) => false,
                Err(e) => return Err(e.into()),
            };
            if exists && !replace {
                return Err(StorageError::Exists);
            }
            // A temp file left by an earlier failure is stale: drop it.
            match vm.delete_entry_in_dir(root, TEMP_NAME) {
                Ok(()) | Err(embedded_sdmmc::Error::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            let f = vm.open_file_in_dir(root, TEMP_NAME, Mode::ReadWriteCreate)?;
            let mut written = 0;
            let result = (|| {
                for chunk in data.chunks(1 << 20) {
                    vm.write(f, chunk)?;
                    written += chunk.len();
                    progress(written, data.len());
                }
                Ok::<(), StorageError>(())
            })();
            vm.close_file(f)?;
            if let Err(e) = result {
                let _ = vm.delete_entry_in_dir(root, TEMP_NAME);
                return Err(e);
            }
            if exists {
                vm.delete_entry_in_dir(root, name)?;
            }
            Ok(vm.find_directory_entry(root, TEMP_NAME)?)
        });
        // Success or not, what was gathered (data, or the temp file's
        // removal) goes to the card now.
        self.flush()?;
        self.rename_entry(&entry?, &final_name)?;
        Ok(Transfer { bytes: data.len(), micros: t.elapsed().as_micros() as u64 })
    }

    /// Give a closed file's directory entry a new 8.3 name, in place
    /// (embedded-sdmmc has no rename). One block write: the entry has the
    /// old name or the new one, never neither.
    fn rename_entry(&self, entry: &DirEntry, to: &ShortFileName) -> Result<(), StorageError> {
        let mut name = [b' '; 11];
        name[..to.base_name().len()].copy_from_slice(to.base_name());
        name[8..8 + to.extension().len()].copy_from_slice(to.extension());
        let off = entry.entry_offset as usize;
        self.volumes.device(|d| {
            let mut block = [Block::new()];
            d.read(&mut block, entry.entry_block)?;
            block[0].contents[off..off + 11].copy_from_slice(&name);
            d.write(&block, entry.entry_block)?;
            d.flush()
        })
        .map_err(StorageError::Card)?;
        // The volume manager caches one block, possibly this one: reading
        // the volume again replaces it with the boot sector.
        let v = self.volumes.open_raw_volume(VolumeIdx(0))?;
        self.volumes.close_volume(v)?;
        Ok(())
    }

    /// Delete a file.
    pub fn delete(&self, name: &str) -> Result<(), StorageError> {
        let r = self.with_dir(None, |vm, root| Ok(vm.delete_entry_in_dir(root, name)?));
        self.flush()?;
        r
    }

    /// Put every gathered write on the card.
    fn flush(&self) -> Result<(), StorageError> {
        self.volumes.device(|d| d.flush()).map_err(StorageError::Card)
    }

    /// Whether the card moves data by SDMA (else PIO).
    pub fn uses_dma(&self) -> bool {
        self.volumes.device(|d| d.sd.uses_dma())
    }

    /// Read a whole file into `buf` (or, with `prefix`, as much of it as
    /// fits), reporting progress every MiB.
    pub fn read_file(&self, name: &str, buf: &mut [u8], prefix: bool, mut progress: impl FnMut(usize, usize)) -> Result<Transfer, StorageError> {
        self.with_dir(None, |vm, root| {
            let f = vm.open_file_in_dir(root, name, Mode::ReadOnly)?;
            let result = (|| {
                let mut size = vm.file_length(f)?;
                if size as usize > buf.len() {
                    if !prefix {
                        return Err(StorageError::TooLarge { size, room: buf.len() });
                    }
                    size = buf.len() as u32;
                }
                let t = Instant::now();
                let mut done = 0;
                let mut next_report = 1 << 20;
                while done < size as usize {
                    let end = (done + (1 << 20)).min(size as usize);
                    let n = vm.read(f, &mut buf[done..end])?;
                    if n == 0 {
                        break;
                    }
                    done += n;
                    if done >= next_report {
                        progress(done, size as usize);
                        next_report += 1 << 20;
                    }
                }
                Ok(Transfer { bytes: done, micros: t.elapsed().as_micros() as u64 })
            })();
            vm.close_file(f)?;
            result
        })
    }
}
