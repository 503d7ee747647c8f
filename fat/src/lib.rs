//! A small FAT12/FAT16/FAT32 layer for the X-LIC firmware, written so that
//! no card can crash, hang or silently corrupt it:
//!
//! - the volume is found as FatFs finds it (superfloppy, MBR, GPT) and its
//!   boot sector passes every check FatFs makes before anything is derived
//!   from it ([`volume`]);
//! - every walk along a cluster chain is bounded by the volume's cluster
//!   count, so a chain that loops is reported, never followed forever;
//! - a file is read only if its chain is whole (no loop, no break, long
//!   enough for its size), so a damaged file is refused, not misread;
//! - deleting or replacing a file frees its clusters and its long-name
//!   entries, and FAT32's FSInfo free count is kept exact; a file whose
//!   clusters another file shares (cross-linked) is never freed;
//! - writes happen whole or not at all ([`Fs::write_outputs`]), ordered on
//!   the card so that one pulled at any moment holds every name whole,
//!   old or new, and the next mount's cleanup gives back what the
//!   interrupted write took ([`Fs::remove_leftovers`]);
//! - errors say what is wrong in words a person can act on.
//!
//! It knows 512-byte sectors only (every SD card), short (8.3) names for
//! what it creates, and reads long-name entries only to delete them with
//! their file. The device is anything that reads and writes sectors
//! ([`BlockDevice`]); the firmware gives it the SD card, the tests a card
//! image in memory.
#![cfg_attr(not(test), no_std)]

mod fs;
mod name;
mod outputs;
pub mod volume;

pub use fs::{Corruption, Dir, DirEntry, File, Fs, FsError, Timestamp, Writer};
pub use outputs::{is_reserved, Output, TEMP_NAMES};
pub use name::{NameError, ShortName};
pub use volume::{BpbError, FatType, MountError, Scheme, Volume};

/// Bytes per sector: SD cards and this layer use 512.
pub const SECTOR: usize = 512;

/// A card: whole 512-byte sectors in and out.
pub trait BlockDevice {
    type Error: core::fmt::Display + core::fmt::Debug + Copy;
    /// Read `buf.len() / 512` sectors from `lba`.
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Self::Error>;
    /// Write `buf.len() / 512` sectors at `lba`.
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), Self::Error>;
    /// Size of the card in sectors.
    fn sectors(&mut self) -> Result<u32, Self::Error>;
    /// Put every write made so far on the card before any later one. A
    /// device that gathers writes (and may send them in another order)
    /// sends them now; one that writes at once has nothing to do. The
    /// layer calls it where the order on the card decides what a card
    /// pulled at that moment holds: a directory entry goes before the
    /// clusters it let go of are freed, a directory's new cluster is
    /// zeroed before it is linked in, and so on.
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
