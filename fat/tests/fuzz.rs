//! Fuzzing the FAT layer on mutated card images: boot sectors, partition
//! tables, FATs and directories damaged at random (seeded, reproducible),
//! then every operation the firmware uses. No case may panic, hang, or
//! spend more device I/O than a few passes over the whole card: each runs
//! on its own thread with an I/O budget and a deadline, and a failure
//! names its seed.
mod common;
use common::*;
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use xlic_cardimg::edit::{Card, Field};
use xlic_cardimg::{Fat, Layout, Table};
use xlic_fat::{BlockDevice, Fs, SECTOR};
use xlic_ref::rng::SeededRng as Rng;

/// A base image shared by every case, with the case's writes on top.
struct Overlay {
    base: Arc<Vec<u8>>,
    changed: HashMap<u32, [u8; SECTOR]>,
    ios: u64,
    budget: u64,
}

impl Overlay {
    fn sector(&self, lba: u32) -> [u8; SECTOR] {
        self.changed.get(&lba).copied().unwrap_or_else(|| self.base[lba as usize * SECTOR..][..SECTOR].try_into().unwrap())
    }
    fn check(&mut self, lba: u32, len: usize) -> Result<(), MemError> {
        self.ios += 1;
        if self.ios > self.budget {
            return Err(MemError::Budget);
        }
        if (lba as usize + len / SECTOR) * SECTOR > self.base.len() {
            return Err(MemError::OutOfRange(lba));
        }
        Ok(())
    }
}

impl BlockDevice for Overlay {
    type Error = MemError;
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), MemError> {
        self.check(lba, buf.len())?;
        for (i, s) in buf.chunks_exact_mut(SECTOR).enumerate() {
            s.copy_from_slice(&self.sector(lba + i as u32));
        }
        Ok(())
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), MemError> {
        self.check(lba, buf.len())?;
        for (i, s) in buf.chunks_exact(SECTOR).enumerate() {
            self.changed.insert(lba + i as u32, s.try_into().unwrap());
        }
        Ok(())
    }
    fn sectors(&mut self) -> Result<u32, MemError> {
        Ok((self.base.len() / SECTOR) as u32)
    }
}

/// Where the interesting structures of a base card lie.
struct Base {
    bytes: Arc<Vec<u8>>,
    /// Byte ranges worth damaging: sector 0..2 (MBR/GPT), the boot sector
    /// and FSInfo, the FAT, the root and folder directories.
    hot: Vec<(usize, usize)>,
    volume: usize,
    fat_bits: u32,
    fat_start: usize,
    clusters: u32,
}

fn base(name: &str, layout: Layout) -> Base {
    let files = [
        ("A.BIN", pattern(70_000, 1)),
        ("long file name.txt", b"with a long name".to_vec()),
        ("SUB/B.TXT", b"in a folder".to_vec()),
        ("SUB/C.BIN", pattern(9_000, 2)),
        ("AUTORUN.TXT", b"ls\n".to_vec()),
    ];
    let (path, bytes) = card(name, &files, &layout);
    let c = Card::open(&path).unwrap();
    let v = c.volume;
    let bits = c.fat_bits();
    let fat_sectors = match c.field(Field::FatSize16) {
        0 => c.field(Field::FatSize32),
        n => n,
    } as usize;
    let fat_start = v + c.field(Field::ReservedSectors) as usize * SECTOR;
    let root = c.find("A.BIN").unwrap().offset & !(SECTOR - 1);
    let sub = c.find("SUB").unwrap();
    let sub_dir = c.chain(sub.first_cluster);
    let sub_off = c.find("SUB/B.TXT").unwrap().offset & !(SECTOR - 1);
    let hot = vec![(0, 3 * SECTOR), (v, 2 * SECTOR), (fat_start, fat_sectors.min(8) * SECTOR), (root, 2 * SECTOR), (sub_off, SECTOR)];
    assert!(!sub_dir.is_empty());
    Base { bytes: Arc::new(bytes), hot, volume: v, fat_bits: bits, fat_start, clusters: c.clusters() }
}

/// Values that break things: zero, one, all ones, the edges of the
/// cluster range, end-of-chain and bad marks, powers of two.
fn interesting(r: &mut Rng, c: u32) -> u32 {
    let pick = [0, 1, 2, 3, c, c + 1, c + 2, 0x0fff_fff7, 0x0fff_fff8, 0x0fff_ffff, 0xffff_ffff, 0xfff7, 0xff7, 0x8000_0000, 128, 255, 256, 512, 4096];
    match r.below(3) {
        0 => r.pick(&pick),
        1 => 2 + r.below(c.max(1) as usize + 4) as u32,
        _ => r.next() as u32,
    }
}

fn put(bytes: &mut HashMap<u32, [u8; SECTOR]>, base: &[u8], at: usize, v: &[u8]) {
    for (i, &b) in v.iter().enumerate() {
        let off = at + i;
        let s = bytes.entry((off / SECTOR) as u32).or_insert_with(|| base[off / SECTOR * SECTOR..][..SECTOR].try_into().unwrap());
        s[off % SECTOR] = b;
    }
}

/// Damage the card: a few random changes of the kinds a card meets.
fn mutate(b: &Base, seed: u64) -> HashMap<u32, [u8; SECTOR]> {
    let mut r = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut m = HashMap::new();
    let fields = [
        Field::BytesPerSector,
        Field::SectorsPerCluster,
        Field::ReservedSectors,
        Field::Fats,
        Field::RootEntries,
        Field::TotalSectors16,
        Field::FatSize16,
        Field::TotalSectors32,
        Field::FatSize32,
        Field::ExtFlags,
        Field::Fat32Version,
        Field::RootCluster,
        Field::FsInfoSector,
    ];
    for _ in 0..1 + r.below(6) {
        match r.below(5) {
            // A byte anywhere in the structures.
            0 | 1 => {
                let (start, len) = b.hot[r.below(b.hot.len())];
                let at = start + r.below(len);
                put(&mut m, &b.bytes, at, &[r.next() as u8]);
            }
            // A FAT entry (every copy is not needed: the layer reads one).
            2 => {
                let n = 2 + r.below(b.clusters.min(4000) as usize + 2) as u32;
                let v = interesting(&mut r, b.clusters);
                match b.fat_bits {
                    32 => put(&mut m, &b.bytes, b.fat_start + 4 * n as usize, &v.to_le_bytes()),
                    16 => put(&mut m, &b.bytes, b.fat_start + 2 * n as usize, &(v as u16).to_le_bytes()),
                    _ => put(&mut m, &b.bytes, b.fat_start + (n + n / 2) as usize, &(v as u16).to_le_bytes()),
                }
            }
            // A boot-sector field.
            3 => {
                let f = fields[r.below(fields.len())];
                let (at, w) = f.at();
                let v = interesting(&mut r, b.clusters);
                put(&mut m, &b.bytes, b.volume + at, &v.to_le_bytes()[..w]);
            }
            // An MBR slot.
            _ => {
                let slot = r.below(4) as usize;
                let e = 446 + 16 * slot;
                let v = interesting(&mut r, b.clusters);
                match r.below(3) {
                    0 => put(&mut m, &b.bytes, e + 4, &[r.next() as u8]),
                    1 => put(&mut m, &b.bytes, e + 8, &v.to_le_bytes()),
                    _ => put(&mut m, &b.bytes, e + 12, &v.to_le_bytes()),
                }
            }
        }
    }
    m
}

/// What a case got to do (to check the fuzzer reaches past the mount).
#[derive(Default, Clone, Copy, Debug)]
struct Reach {
    ios: u64,
    mounted: bool,
    corrupt: bool,
    read: bool,
    written: bool,
}

/// Every operation the firmware does, results ignored: only panics,
/// hangs and runaway I/O count.
fn exercise(dev: Overlay) -> Reach {
    let mut reach = Reach::default();
    let Ok(mut fs) = Fs::mount(dev) else { return reach };
    reach.mounted = true;
    let _ = fs.free_clusters();
    let mut names = Vec::new();
    for dir in [None, Some("SUB")] {
        if let Ok(d) = fs.open_dir(dir) {
            let _ = fs.list(d, |e| {
                if !e.is_dir() && names.len() < 16 {
                    let n = e.name.to_string();
                    names.push(match dir {
                        Some(d) => format!("{d}/{n}"),
                        None => n,
                    });
                }
            });
        }
    }
    let mut buf = vec![0u8; 1 << 20];
    for n in &names {
        match fs.open(n) {
            Ok(mut f) => {
                while let Ok(k @ 1..) = fs.read(&mut f, &mut buf) {
                    let _ = k;
                    reach.read = true;
                }
            }
            Err(xlic_fat::FsError::Corrupt { .. }) => reach.corrupt = true,
            Err(_) => {}
        }
    }
    // The firmware's writes: leftovers cleaned at the mount, outputs whole
    // or not at all (a new file, a replaced one, one in a folder).
    let _ = fs.remove_leftovers(None);
    let outputs = [
        xlic_fat::Output { path: "NEW.BIN", replace: false },
        xlic_fat::Output { path: "A.BIN", replace: true },
        xlic_fat::Output { path: "SUB/NEW.BIN", replace: true },
    ];
    let data = pattern(3000, 9);
    reach.written = fs.write_outputs(&outputs, |i, fs, w| fs.write(w, &data[..1000 * (i + 1)])).is_ok();
    if let Ok(mut w) = fs.create("NEW.TMP") {
        match fs.write(&mut w, &data) {
            Ok(()) => {
                let _ = fs.close(w);
                let _ = fs.rename("NEW.TMP", "B.BIN", true);
            }
            Err(_) => {
                let _ = fs.discard(w);
            }
        }
    }
    for n in names.iter().take(3) {
        let _ = fs.remove(n);
    }
    let _ = fs.flush();
    let _ = fs.free_clusters();
    reach.ios = fs.device().ios;
    reach
}

fn run(b: &Base, cases: u64, first_seed: u64) {
    // A few passes over the card's sectors at most.
    let budget = 4 * (b.bytes.len() / SECTOR) as u64;
    let mut seen = [0u64; 4];
    for seed in first_seed..first_seed + cases {
        let changed = mutate(b, seed);
        let dev = Overlay { base: b.bytes.clone(), changed, ios: 0, budget };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(dev)));
            let _ = tx.send(r);
        });
        // A deadline far beyond what a case takes (milliseconds): it
        // catches a hang, it does not time anything.
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(r)) => {
                assert!(r.ios < budget, "seed {seed}: {} sector I/Os, more than {budget} (runaway walk)", r.ios);
                for (k, hit) in [r.mounted, r.corrupt, r.read, r.written].into_iter().enumerate() {
                    seen[k] += hit as u64;
                }
            }
            Ok(Err(_)) => panic!("seed {seed}: the FAT layer panicked"),
            Err(_) => panic!("seed {seed}: no answer within 60 s (hang)"),
        }
    }
    // The damage must reach past the mount, into damaged chains, reads
    // and writes, or the fuzzer tests little.
    eprintln!("{cases} cases: {} mounted, {} met a damaged chain, {} read data, {} wrote", seen[0], seen[1], seen[2], seen[3]);
    assert!(seen[0] * 3 >= cases && seen[1] > 0 && seen[2] * 4 >= cases && seen[3] * 4 >= cases, "{seen:?}");
}

#[test]
fn fuzz_fat32_mbr() {
    let b = base("fuzz32.img", Layout::fat32(64));
    run(&b, 300, 1);
}

#[test]
fn fuzz_fat16_superfloppy_and_fat12() {
    let b = base("fuzz16.img", Layout { size_mib: 16, table: Table::Superfloppy, fat: Fat::Fat16 });
    run(&b, 300, 10_001);
    let b = base("fuzz12.img", Layout { size_mib: 4, table: Table::Mbr { slot: 1 }, fat: Fat::Fat12 });
    run(&b, 300, 20_001);
}

#[test]
fn fuzz_gpt() {
    let b = base("fuzzgpt.img", Layout { size_mib: 64, table: Table::Gpt, fat: Fat::Fat32 });
    run(&b, 200, 30_001);
}
