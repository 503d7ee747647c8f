//! A card image in memory as a block device, for the host tests and the
//! fuzzer: reads and writes are counted against a budget, so a layer that
//! kept going round a damaged structure would fail, not hang.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use xlic_fat::{BlockDevice, SECTOR};

pub struct MemCard {
    pub bytes: Vec<u8>,
    pub ios: u64,
    pub budget: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    OutOfRange(u32),
    Budget,
}

impl std::fmt::Display for MemError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            MemError::OutOfRange(l) => write!(f, "sector {l} is beyond the card"),
            MemError::Budget => write!(f, "I/O budget exhausted"),
        }
    }
}

impl MemCard {
    pub fn new(bytes: Vec<u8>) -> MemCard {
        MemCard { bytes, ios: 0, budget: u64::MAX }
    }
    fn range(&mut self, lba: u32, len: usize) -> Result<std::ops::Range<usize>, MemError> {
        self.ios += 1;
        if self.ios > self.budget {
            return Err(MemError::Budget);
        }
        let start = lba as usize * SECTOR;
        if start + len > self.bytes.len() || len % SECTOR != 0 {
            return Err(MemError::OutOfRange(lba));
        }
        Ok(start..start + len)
    }
}

impl BlockDevice for MemCard {
    type Error = MemError;
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), MemError> {
        let r = self.range(lba, buf.len())?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), MemError> {
        let r = self.range(lba, buf.len())?;
        self.bytes[r].copy_from_slice(buf);
        Ok(())
    }
    fn sectors(&mut self) -> Result<u32, MemError> {
        Ok((self.bytes.len() / SECTOR) as u32)
    }
}

pub fn temp(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| xlic_cardimg::scratch_dir("xlic-fat")).join(name)
}

/// Build a card with the card builder and return its bytes.
pub fn card(name: &str, files: &[(&str, Vec<u8>)], layout: &xlic_cardimg::Layout) -> (PathBuf, Vec<u8>) {
    let path = temp(name);
    let files: Vec<(String, Vec<u8>)> = files.iter().map(|(n, b)| (n.to_string(), b.clone())).collect();
    xlic_cardimg::build_with(&path, &files, layout).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

pub fn save(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// A deterministic pattern.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 24) as u8).collect()
}
