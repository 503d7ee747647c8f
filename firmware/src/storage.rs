//! Files on the SD card: the xlic-fat layer on the SDHCI driver.
//!
//! xlic-fat (the repository's `fat/` crate) replaced embedded-sdmmc 0.10,
//! which panicked on a zero cluster size, followed looping chains forever
//! and never freed clusters. It checks the boot sector as FatFs does,
//! bounds every chain walk by the cluster count, frees chains and their
//! long names on delete and replace, and keeps FSInfo exact; the host
//! tests and the fuzzer run the same crate on card images.
//!
//! Writes are xlic-fat's whole-or-nothing writes (`Fs::write_outputs`):
//! every output of a command goes to a temporary name (`~XLICTMP.TMP`,
//! `~XLICTM1.TMP`, ..., reserved: no command accepts them) and takes its
//! name only when all are complete, so a failure never leaves a partial
//! file, or half of a set of results, under a final name, and a card
//! pulled at any moment holds the old file or the new one under each
//! name. The temporary files such a pull leaves are removed, their
//! clusters freed, when the card is next mounted.
use crate::arch::aarch64::time::Instant;
use crate::drivers::sdhci::{CardInfo, SdError, Sdhci};
use core::sync::atomic::{AtomicBool, Ordering};
use xlic_fat::{BlockDevice, DirEntry, Fs, FsError, MountError, Writer};

/// Temporary names, one per output of a command (see [`is_reserved`]).
/// The first is the name firmware before xlic-fat used.
pub use xlic_fat::TEMP_NAMES;

/// Whether `name` (its last path part) has the form of the temporary
/// names, `~XLIC*.TMP`, which users may not name.
pub use xlic_fat::is_reserved;

/// Blocks moved per SD command by the read-ahead and the write batch.
const RUN: usize = 128;
const BLOCK: usize = xlic_fat::SECTOR;

/// Aligned to its own size, so an SDMA transfer into it never crosses a
/// 512 KiB boundary: QEMU 7.2 does not resume after a boundary stop (the
/// driver does, as the spec says, for the board).
#[repr(C, align(65536))]
struct DmaBuffer([u8; RUN * BLOCK]);

static mut READ_AHEAD: [DmaBuffer; 2] = [const { DmaBuffer([0; RUN * BLOCK]) }; 2];
static mut WRITE_BATCH: [DmaBuffer; 2] = [const { DmaBuffer([0; RUN * BLOCK]) }; 2];
static DMA_TAKEN: AtomicBool = AtomicBool::new(false);

/// The read-ahead and write-batch buffers, owned by one [`CardDevice`] at
/// a time: [`DmaBuffers::take`] hands them out once, and they can be taken
/// again only after the device holding them (with its [`DmaToken`]) is
/// dropped.
struct DmaBuffers {
    read: [&'static mut DmaBuffer; 2],
    write: [&'static mut DmaBuffer; 2],
    token: DmaToken,
}

/// Gives the buffers back when the device that holds them is dropped.
struct DmaToken(());

impl Drop for DmaToken {
    fn drop(&mut self) {
        DMA_TAKEN.store(false, Ordering::Release);
    }
}

impl DmaBuffers {
    fn take() -> Option<DmaBuffers> {
        if DMA_TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the flag was clear, so no borrow of these statics is
        // alive: the only ones are made here and live in the one
        // `CardDevice` holding this value's token, whose drop (after the
        // borrows, which are its fields too) clears the flag again.
        let ([a, b], [c, d]) = unsafe { (&mut *core::ptr::addr_of_mut!(READ_AHEAD), &mut *core::ptr::addr_of_mut!(WRITE_BATCH)) };
        Some(DmaBuffers { read: [a, b], write: [c, d], token: DmaToken(()) })
    }
}

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
    fn block(&self, idx: u32) -> &[u8] {
        let off = (idx - self.start) as usize * BLOCK;
        &self.buf.0[off..off + BLOCK]
    }
}

/// The card as the FAT layer sees it. It reads ahead with one multi-block
/// command (CMD18) and gathers consecutive writes into one (CMD25), both
/// by SDMA from buffers of its own. Pending writes go to the card when a
/// batch is full or replaced, and by [`Storage`] at the end of every
/// operation that writes.
pub struct CardDevice {
    sd: Sdhci,
    /// Two runs, so the FAT and the file data (which FAT32 with small
    /// clusters visits alternately) do not evict each other.
    read: [Run; 2],
    /// The run used least recently (replaced on a miss).
    lru: usize,
    /// Two batches of consecutive writes (file data, and the FAT).
    write: [Run; 2],
    write_lru: usize,
    /// Last: the buffers are given back after the runs are gone.
    _dma: DmaToken,
}

impl CardDevice {
    fn new(sd: Sdhci, dma: DmaBuffers) -> Self {
        let DmaBuffers { read: [a, b], write: [c, d], token } = dma;
        let read = [Run { buf: a, start: 0, count: 0 }, Run { buf: b, start: 0, count: 0 }];
        let write = [Run { buf: c, start: 0, count: 0 }, Run { buf: d, start: 0, count: 0 }];
        CardDevice { sd, read, lru: 0, write, write_lru: 0, _dma: token }
    }

    fn flush_batch(sd: &Sdhci, batch: &mut Run) -> Result<(), SdError> {
        if batch.count > 0 {
            sd.write_from(batch.start, &batch.buf.0[..batch.count as usize * BLOCK])?;
            batch.count = 0;
        }
        Ok(())
    }

    /// Write any gathered blocks to the card.
    pub fn flush(&mut self) -> Result<(), SdError> {
        for b in self.write.iter_mut() {
            Self::flush_batch(&self.sd, b)?;
        }
        Ok(())
    }

    fn card_blocks(&self) -> Result<u32, SdError> {
        self.sd.card().map(|c| c.blocks).ok_or(SdError::NoCard)
    }

    /// One block, from a read-ahead run (filled on a miss).
    fn read_block(&mut self, idx: u32, out: &mut [u8]) -> Result<(), SdError> {
        let k = match self.read.iter().position(|run| run.holds(idx)) {
            Some(k) => k,
            None => {
                let total = self.card_blocks()?;
                if idx >= total {
                    return Err(SdError::OutOfRange { block: idx, blocks: total });
                }
                let k = self.lru;
                let n = (RUN as u32).min(total - idx);
                let run = &mut self.read[k];
                run.count = 0;
                self.sd.read_into(idx, &mut run.buf.0[..n as usize * BLOCK])?;
                run.start = idx;
                run.count = n;
                // Blocks of the run that a pending batch holds newer.
                for w in self.write.iter() {
                    for b in w.start..w.start + w.count {
                        if run.holds(b) {
                            let ro = (b - run.start) as usize * BLOCK;
                            run.buf.0[ro..ro + BLOCK].copy_from_slice(w.block(b));
                        }
                    }
                }
                k
            }
        };
        self.lru = 1 - k;
        out.copy_from_slice(self.read[k].block(idx));
        Ok(())
    }

    /// Up to RUN consecutive blocks into a write batch.
    fn write_run(&mut self, start: u32, data: &[u8]) -> Result<(), SdError> {
        let n = (data.len() / BLOCK) as u32;
        // Keep cached reads true: written blocks replace their cached copy.
        for run in self.read.iter_mut() {
            for (i, b) in data.chunks_exact(BLOCK).enumerate() {
                let idx = start + i as u32;
                if run.holds(idx) {
                    let off = (idx - run.start) as usize * BLOCK;
                    run.buf.0[off..off + BLOCK].copy_from_slice(b);
                }
            }
        }
        // A rewrite of a block already in a batch (FAT updates do this)
        // replaces it there.
        if n == 1 {
            if let Some(batch) = self.write.iter_mut().find(|w| w.holds(start)) {
                let off = (start - batch.start) as usize * BLOCK;
                batch.buf.0[off..off + BLOCK].copy_from_slice(data);
                return Ok(());
            }
        }
        // A batch holding any of these blocks goes to the card first, so
        // the card never receives them out of order.
        for k in 0..2 {
            let w = &self.write[k];
            if start < w.start + w.count && w.start < start + n {
                Self::flush_batch(&self.sd, &mut self.write[k])?;
            }
        }
        let k = match self.write.iter().position(|w| w.count > 0 && start == w.start + w.count && (w.count + n) as usize <= RUN) {
            Some(k) => k,
            None => {
                let k = self.write_lru;
                Self::flush_batch(&self.sd, &mut self.write[k])?;
                self.write[k].start = start;
                k
            }
        };
        self.write_lru = 1 - k;
        let batch = &mut self.write[k];
        let off = batch.count as usize * BLOCK;
        batch.buf.0[off..off + data.len()].copy_from_slice(data);
        batch.count += n;
        Ok(())
    }
}

impl BlockDevice for CardDevice {
    type Error = SdError;

    /// Pending writes need no flush here: a read-ahead run is patched
    /// with the batches' newer blocks when it is filled, and kept true by
    /// every later write.
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), SdError> {
        for (i, out) in buf.chunks_exact_mut(BLOCK).enumerate() {
            self.read_block(lba + i as u32, out)?;
        }
        Ok(())
    }

    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), SdError> {
        let total = self.card_blocks()?;
        let n = (buf.len() / BLOCK) as u32;
        if lba.checked_add(n).is_none_or(|end| end > total) {
            return Err(SdError::OutOfRange { block: lba.saturating_add(n), blocks: total });
        }
        for (i, run) in buf.chunks(RUN * BLOCK).enumerate() {
            self.write_run(lba + (i * RUN) as u32, run)?;
        }
        Ok(())
    }

    fn sectors(&mut self) -> Result<u32, SdError> {
        self.card_blocks()
    }

    /// The batches go to the card now, in the order the layer asks for
    /// (it calls this where the order on the card matters).
    fn flush(&mut self) -> Result<(), SdError> {
        CardDevice::flush(self)
    }
}

#[derive(Debug)]
pub enum StorageError {
    Card(SdError),
    Mount(MountError<SdError>),
    Fs(FsError<SdError>),
    TooLarge { size: u32, room: usize },
    /// A temporary name of the firmware's, as a user's file name.
    Reserved,
    /// More outputs than one command can write at once.
    TooManyOutputs,
    /// No room for the outputs; nothing was written under a final name.
    CardFull,
    /// A core faulted producing the data to write (its report is on the
    /// console); nothing was written under the final name.
    Core(crate::smp::CoreFault),
    /// A card is mounted already (its buffers are in use).
    Mounted,
}

impl From<crate::smp::CoreFault> for StorageError {
    fn from(e: crate::smp::CoreFault) -> Self {
        StorageError::Core(e)
    }
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Fs(FsError::NotFound))
    }
}

impl core::fmt::Display for StorageError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            StorageError::Card(e) => write!(f, "{e}"),
            StorageError::Mount(e) => write!(f, "{e}"),
            StorageError::Fs(e) => write!(f, "{e}"),
            StorageError::TooLarge { size, room } => write!(f, "file is {size} bytes; its buffer holds {room}"),
            StorageError::Reserved => write!(f, "names ~XLIC*.TMP are the firmware's temporary files; choose another name"),
            StorageError::TooManyOutputs => write!(f, "a command writes at most {} files at once", TEMP_NAMES.len()),
            StorageError::CardFull => write!(f, "the card is full; nothing was written under the final name"),
            StorageError::Core(e) => write!(f, "{e}; nothing was written under the final name"),
            StorageError::Mounted => write!(f, "the card is mounted already; drop that mount before mounting again"),
        }
    }
}

impl From<FsError<SdError>> for StorageError {
    fn from(e: FsError<SdError>) -> Self {
        match e {
            FsError::Device(d) => StorageError::Card(d),
            FsError::Full => StorageError::CardFull,
            FsError::Reserved => StorageError::Reserved,
            e => StorageError::Fs(e),
        }
    }
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

/// One file a command writes.
#[derive(Clone, Copy)]
pub struct Output<'a> {
    pub name: &'a str,
    /// Replace an existing file (the firmware's results), or refuse
    /// (never over a user's file).
    pub replace: bool,
}

/// Where an output's bytes go while it is produced.
pub struct Sink<'a> {
    fs: &'a mut Fs<CardDevice>,
    w: &'a mut Writer,
}

impl Sink<'_> {
    pub fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        Ok(self.fs.write(self.w, data)?)
    }
    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.w.size() as u64
    }
}

/// The mounted card.
pub struct Storage {
    fs: Fs<CardDevice>,
    pub card: CardInfo,
    /// Temporary files of an interrupted write (power lost, card pulled)
    /// removed from the root directory at the mount, or why they were
    /// not (the console says either).
    pub leftovers: Result<u32, StorageError>,
}

impl Storage {
    /// Identify the card and find its FAT volume. Nothing is written,
    /// unless the root directory holds temporary files an interrupted
    /// write left: they are removed and their clusters freed, before
    /// anything else can allocate (see xlic-fat's `outputs`). A card that
    /// cannot be written (write-protected) still mounts.
    pub fn mount(mut sd: Sdhci) -> Result<Storage, StorageError> {
        let dma = DmaBuffers::take().ok_or(StorageError::Mounted)?;
        let card = sd.init().map_err(StorageError::Card)?;
        let mut fs = Fs::mount(CardDevice::new(sd, dma)).map_err(|e| match e {
            MountError::Device(d) => StorageError::Card(d),
            e => StorageError::Mount(e),
        })?;
        let leftovers = fs.remove_leftovers(None).map_err(StorageError::from);
        Ok(Storage { fs, card, leftovers })
    }

    pub fn volume(&self) -> &xlic_fat::Volume {
        self.fs.volume()
    }

    /// Free bytes (the FAT is counted once per mount).
    pub fn free_bytes(&mut self) -> Result<u64, StorageError> {
        Ok(self.fs.free_clusters()? as u64 * self.fs.volume().cluster_bytes() as u64)
    }

    /// Call `each` for every entry of the root directory (or of `dir`).
    pub fn list(&mut self, dir: Option<&str>, each: impl FnMut(&DirEntry)) -> Result<(), StorageError> {
        let d = self.fs.open_dir(dir)?;
        Ok(self.fs.list(d, each)?)
    }

    /// Whether the card moves data by SDMA (else PIO).
    pub fn uses_dma(&mut self) -> bool {
        self.fs.device().sd.uses_dma()
    }

    /// Put every gathered write on the card.
    fn flush(&mut self) -> Result<(), StorageError> {
        Ok(self.fs.flush()?)
    }

    /// Read a whole file into `buf` (or, with `prefix`, as much of it as
    /// fits), reporting progress every MiB. A file whose cluster chain is
    /// damaged is refused, never read by its size.
    pub fn read_file(&mut self, name: &str, buf: &mut [u8], prefix: bool, mut progress: impl FnMut(usize, usize)) -> Result<Transfer, StorageError> {
        let mut f = self.fs.open(name)?;
        let mut size = f.size as usize;
        if size > buf.len() {
            if !prefix {
                return Err(StorageError::TooLarge { size: f.size, room: buf.len() });
            }
            size = buf.len();
        }
        let t = Instant::now();
        let mut done = 0;
        while done < size {
            let end = (done + (1 << 20)).min(size);
            let n = self.fs.read(&mut f, &mut buf[done..end])?;
            if n == 0 {
                break;
            }
            done += n;
            if done % (1 << 20) == 0 && done < size {
                progress(done, size);
            }
        }
        Ok(Transfer { bytes: done, micros: t.elapsed().as_micros() as u64 })
    }

    /// Write `data` to `name`: see [`Storage::write_outputs`].
    pub fn write_file(&mut self, name: &str, data: &[u8], replace: bool, mut progress: impl FnMut(usize, usize)) -> Result<Transfer, StorageError> {
        let t = Instant::now();
        // Refuse before writing anything when the data cannot fit.
        let cb = self.fs.volume().cluster_bytes() as u64;
        if (data.len() as u64).div_ceil(cb) * cb > self.free_bytes()? {
            self.fs.check_outputs(&[xlic_fat::Output { path: name, replace }])?;
            return Err(StorageError::CardFull);
        }
        self.write_outputs(&[Output { name, replace }], |_, sink| {
            let mut done = 0;
            for chunk in data.chunks(1 << 20) {
                sink.write(chunk)?;
                done += chunk.len();
                progress(done, data.len());
            }
            Ok(())
        })?;
        Ok(Transfer { bytes: data.len(), micros: t.elapsed().as_micros() as u64 })
    }

    /// Write every output, produced by `produce(i, sink)` in turn, whole
    /// or not at all (xlic-fat's `Fs::write_outputs`: temporary names,
    /// renamed when all are complete, replacing the old files when
    /// allowed). On any failure no final name changes. Returns each
    /// output's size.
    pub fn write_outputs(&mut self, outputs: &[Output], mut produce: impl FnMut(usize, &mut Sink) -> Result<(), StorageError>) -> Result<heapless::Vec<u64, 4>, StorageError> {
        let mut outs: heapless::Vec<xlic_fat::Output, 4> = heapless::Vec::new();
        for o in outputs {
            outs.push(xlic_fat::Output { path: o.name, replace: o.replace }).map_err(|_| StorageError::TooManyOutputs)?;
        }
        let mut sizes = heapless::Vec::new();
        self.fs.write_outputs(&outs, |i, fs, w| {
            produce(i, &mut Sink { fs, w })?;
            let _ = sizes.push(w.size() as u64);
            Ok::<(), StorageError>(())
        })?;
        Ok(sizes)
    }

    /// Whether `outputs` can be written (no reserved name, no directory,
    /// no existing file unless it may be replaced): commands ask before
    /// work that takes a while, so they fail at once.
    pub fn check_outputs(&mut self, outputs: &[Output]) -> Result<(), StorageError> {
        for o in outputs {
            self.fs.check_outputs(&[xlic_fat::Output { path: o.name, replace: o.replace }])?;
        }
        Ok(())
    }

    /// Copy `from` to the new name `to` (never over an existing file)
    /// through `buf`, which must hold the whole file; the copy is written
    /// whole or not at all ([`Storage::write_file`]), with `progress` as it
    /// is written. Returns the read and the write.
    pub fn copy(&mut self, from: &str, to: &str, buf: &mut [u8], progress: impl FnMut(usize, usize)) -> Result<(Transfer, Transfer), StorageError> {
        let read = self.read_file(from, buf, false, |_, _| {})?;
        let write = self.write_file(to, &buf[..read.bytes], false, progress)?;
        Ok((read, write))
    }

    /// Whether `a` and `b` name one file on the card (resolved as the card
    /// resolves them: case, leading and doubled slashes do not matter).
    pub fn same_file(&mut self, a: &str, b: &str) -> Result<bool, StorageError> {
        Ok(self.fs.same_file(a, b)?)
    }

    /// Delete a file: its directory entry, long-name entries and clusters.
    pub fn delete(&mut self, name: &str) -> Result<(), StorageError> {
        if is_reserved(name) {
            return Err(StorageError::Reserved);
        }
        let r = self.fs.remove(name);
        self.flush()?;
        Ok(r?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn temporary_names_are_reserved_and_only_they() {
        for n in TEMP_NAMES {
            assert!(is_reserved(n), "{n}");
        }
        assert!(is_reserved("~xlictmp.tmp") && is_reserved("DIR/~XLICAB.TMP"));
        assert!(!is_reserved("XLICTMP.TMP") && !is_reserved("~XLIC.PNG") && !is_reserved("RECON.PNG"));
    }

    #[test_case]
    fn dma_buffers_have_one_owner_at_a_time() {
        let first = DmaBuffers::take().expect("no card is mounted in the unit tests");
        assert!(DmaBuffers::take().is_none(), "taken twice while the first owner lives");
        let p = first.read[0].0.as_ptr();
        drop(first);
        let again = DmaBuffers::take().expect("given back when the owner is dropped");
        assert_eq!(again.read[0].0.as_ptr(), p);
    }
}
