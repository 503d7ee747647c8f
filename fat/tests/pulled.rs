//! A card pulled at any moment of a write. Every sector write is logged
//! with the device's flushes (the firmware's card device sends gathered
//! writes out of order between two flushes), and the card is rebuilt as a
//! pull would leave it at every point: the writes since the last flush
//! landed, or not, in program order and in reverse. Each such card must
//! hold what the operation promises (for `Fs::write_outputs`: the old file
//! or the new one, whole, under every final name, the input untouched),
//! and after the next mount's cleanup (`Fs::remove_leftovers`) `fsck.fat
//! -n` may find at most a few lost clusters, FAT copies that differ in the
//! sector being written (fsck, like every FAT reader, uses the first) and
//! FSInfo's free count "unknown"; a new file's write (the firmware's `cp`)
//! may leave nothing at all.
mod common;
use common::*;
use std::collections::{BTreeMap, HashSet};
use xlic_cardimg::{Fat, Layout, Table};
use xlic_fat::volume::Root;
use xlic_fat::{BlockDevice, Fs, FsError, Output, SECTOR};

/// A card in memory that logs its writes and its flushes.
struct Logged {
    bytes: Vec<u8>,
    writes: Vec<(u32, Vec<u8>)>,
    /// Write counts at each flush.
    flushes: Vec<usize>,
}

impl BlockDevice for Logged {
    type Error = MemError;
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), MemError> {
        let s = lba as usize * SECTOR;
        buf.copy_from_slice(&self.bytes[s..s + buf.len()]);
        Ok(())
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), MemError> {
        let s = lba as usize * SECTOR;
        self.bytes[s..s + buf.len()].copy_from_slice(buf);
        for (i, c) in buf.chunks(SECTOR).enumerate() {
            self.writes.push((lba + i as u32, c.to_vec()));
        }
        Ok(())
    }
    fn sectors(&mut self) -> Result<u32, MemError> {
        Ok((self.bytes.len() / SECTOR) as u32)
    }
    fn flush(&mut self) -> Result<(), MemError> {
        if self.flushes.last() != Some(&self.writes.len()) {
            self.flushes.push(self.writes.len());
        }
        Ok(())
    }
}

fn read_file(fs: &mut Fs<MemCard>, path: &str) -> Result<Option<Vec<u8>>, FsError<MemError>> {
    let mut f = match fs.open(path) {
        Ok(f) => f,
        Err(FsError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut v = vec![0u8; f.size as usize];
    let mut done = 0;
    while done < v.len() {
        let n = fs.read(&mut f, &mut v[done..])?;
        assert!(n > 0);
        done += n;
    }
    Ok(Some(v))
}

/// What fsck says beyond its banner, line by line.
fn fsck_findings(path: &std::path::Path) -> Vec<String> {
    match xlic_cardimg::fsck(path) {
        Ok(()) => Vec::new(),
        Err(r) => r
            .lines()
            .map(str::trim)
            .filter(|l| {
                !(l.is_empty()
                    || l.starts_with("fsck.fat ")
                    || l.contains("Checking we can access")
                    || l.contains("Leaving filesystem")
                    || l.contains(" files, ")
                    || l.starts_with('/') && l.ends_with(".vol"))
            })
            .map(String::from)
            .collect(),
    }
}

/// The file-system structures of a card (what fsck looks at): the
/// sectors before the data clusters and the directories' clusters.
fn metadata_crc(fs: &mut Fs<MemCard>, dirs: &[u32]) -> u32 {
    let v = *fs.volume();
    let bytes = &fs.device().bytes;
    let mut crc = xlic_model::crc32::Crc32::default();
    crc.update(&bytes[..v.data_start as usize * SECTOR]);
    let root = match v.root {
        Root::Chain { first } => Some(first),
        Root::Fixed { .. } => None,
    };
    for &first in root.iter().chain(dirs) {
        // Directory chains here are short and sound; a bound all the same.
        let mut c = first;
        for _ in 0..64 {
            if c < 2 || c > v.max_cluster() {
                break;
            }
            let at = v.cluster_sector(c) as usize * SECTOR;
            crc.update(&bytes[at..at + v.cluster_bytes() as usize]);
            let fat = v.fat_start as usize * SECTOR;
            c = match v.fat_type {
                xlic_fat::FatType::Fat32 => u32::from_le_bytes(bytes[fat + 4 * c as usize..][..4].try_into().unwrap()) & 0x0fff_ffff,
                xlic_fat::FatType::Fat16 => u16::from_le_bytes(bytes[fat + 2 * c as usize..][..2].try_into().unwrap()) as u32,
                xlic_fat::FatType::Fat12 => break,
            };
        }
    }
    crc.finish()
}

/// How a scenario went over every pull point.
struct Outcome {
    cards: usize,
    most_lost: u64,
    findings: BTreeMap<String, usize>,
}

/// Run `action` on the card `base` and hand `each` every card a pull can
/// leave (once each), with words that say where the pull came.
fn each_pulled_card(base: &[u8], action: impl FnOnce(&mut Fs<Logged>), mut each: impl FnMut(&str, Vec<u8>)) {
    let mut fs = Fs::mount(Logged { bytes: base.to_vec(), writes: Vec::new(), flushes: vec![0] }).unwrap();
    action(&mut fs);
    let log = std::mem::replace(fs.device(), Logged { bytes: Vec::new(), writes: Vec::new(), flushes: Vec::new() });
    let mut flushes = log.flushes.clone();
    if flushes.last() != Some(&log.writes.len()) {
        flushes.push(log.writes.len());
    }
    let mut seen = HashSet::new();
    for w in flushes.windows(2) {
        let (a, b) = (w[0], w[1]);
        for reverse in [false, true] {
            for k in 0..=b - a {
                let mut img = base.to_vec();
                let landed = (0..a).chain(if reverse { (b - k..b).collect::<Vec<_>>() } else { (a..a + k).collect() });
                for i in landed {
                    let (lba, d) = &log.writes[i];
                    img[*lba as usize * SECTOR..][..SECTOR].copy_from_slice(d);
                }
                if !seen.insert(xlic_model::crc32::crc32(&img)) {
                    continue;
                }
                let case = format!("writes {a}..{b} of {}, {k} landed{}", log.writes.len(), if reverse { " (last first)" } else { "" });
                each(&case, img);
            }
        }
    }
}

/// What fsck finds on `path` that a pull may leave: lost clusters (their
/// most), FAT copies differing in the sector being written (fsck, like
/// every FAT reader, uses the first), and FSInfo's free count "unknown"
/// (0xFFFFFFFF) as the layer sets it while it changes the FAT. The rest
/// (and the lost clusters' count) is returned.
///
/// FSInfo's count, exact for the FAT as the layer leaves it, is short by
/// the lost clusters fsck reclaims: "Free cluster summary wrong (a vs.
/// really b)" with b - a at most those is what a lost cluster leaves too.
fn fsck_after_pull(path: &std::path::Path, allowed: &impl Fn(&str) -> bool, findings: &mut BTreeMap<String, usize>) -> (u64, Vec<String>) {
    let (mut lost, mut wrong) = (0, Vec::new());
    let report = fsck_findings(path);
    let reclaimed: u64 = report.iter().filter_map(|f| f.strip_prefix("Reclaimed ")?.split(' ').next()?.parse::<u64>().ok()).sum();
    let mut summary_off_by_lost = false;
    for f in report {
        if let Some(n) = f.strip_prefix("Reclaimed ").and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u64>().ok()) {
            lost = lost.max(n);
            continue;
        }
        if let Some((a, b)) = f.strip_prefix("Free cluster summary wrong (").and_then(|r| r.split_once(" vs. really ")) {
            let (a, b) = (a.parse::<u64>().unwrap_or(u64::MAX), b.trim_end_matches(')').parse::<u64>().unwrap_or(0));
            summary_off_by_lost = b >= a && b - a <= reclaimed;
        }
        let benign = f == "FATs differ but appear to be intact."
            || f == "Using first FAT."
            || f.starts_with("Free cluster summary uninitialized")
            || (summary_off_by_lost && (f.starts_with("Free cluster summary wrong") || f == "Auto-correcting."));
        if !(benign || allowed(&f)) {
            wrong.push(format!("after the next mount, fsck.fat: {f}"));
        }
        *findings.entry(f).or_default() += 1;
    }
    (lost, wrong)
}

/// Run `action` on the card `base`, then check every card a pull can
/// leave: `check` says what is wrong with it (nothing: empty), then the
/// next mount cleans `clean` and fsck looks.
fn pulled(
    name: &str,
    base: &[u8],
    action: impl FnOnce(&mut Fs<Logged>),
    check: impl Fn(&mut Fs<MemCard>) -> Vec<String>,
    clean: &[Option<&str>],
    allowed: impl Fn(&str) -> bool,
) -> Outcome {
    let path = temp(name);
    let dirs: Vec<u32> = {
        let mut fs = Fs::mount(MemCard::new(base.to_vec())).unwrap();
        clean.iter().flatten().map(|d| fs.find(d).unwrap().unwrap().first_cluster).collect()
    };
    let mut checked = HashSet::new();
    let mut failures = Vec::new();
    let mut out = Outcome { cards: 0, most_lost: 0, findings: BTreeMap::new() };
    each_pulled_card(base, action, |case, img| {
        out.cards += 1;
        let mut fs = Fs::mount(MemCard::new(img)).unwrap_or_else(|e| panic!("{case}: {e}"));
        failures.extend(check(&mut fs).into_iter().map(|f| format!("{case}: {f}")));
        // The next mount.
        for d in clean {
            fs.remove_leftovers(*d).unwrap_or_else(|e| panic!("{case}: {e}"));
        }
        fs.flush().unwrap();
        if !checked.insert(metadata_crc(&mut fs, &dirs)) {
            return;
        }
        save(&path, &fs.device().bytes);
        let (lost, wrong) = fsck_after_pull(&path, &allowed, &mut out.findings);
        out.most_lost = out.most_lost.max(lost);
        failures.extend(wrong.into_iter().map(|f| format!("{case}: {f}")));
    });
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
    out
}

/// `write_outputs` replacing two files (one of them listed after twelve
/// others, so that old and new entries sit in different directory
/// sectors) and writing a new one into a folder.
fn outputs_pulled(layout: Layout, name: &str) {
    let old = [pattern(20_000, 1), pattern(3_000, 2)];
    let input = pattern(30_000, 3);
    let new = [pattern(70_000, 4), pattern(9_000, 5), pattern(1_500, 6)];
    let mut files = vec![("RECON.PNG".to_string(), old[0].clone())];
    files.extend((0..12).map(|i| (format!("F{i:02}.TXT"), vec![b'f'; 100])));
    files.extend([("LATENT.BIN".to_string(), old[1].clone()), ("IMAGE.PNG".to_string(), input.clone()), ("SUB/A.TXT".to_string(), b"a".to_vec())]);
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (_, base) = card(name, &files, &layout);
    let outputs = [Output { path: "RECON.PNG", replace: true }, Output { path: "LATENT.BIN", replace: true }, Output { path: "SUB/NEW.BIN", replace: false }];
    let action = |fs: &mut Fs<Logged>| {
        fs.write_outputs(&outputs, |i, fs, w| -> Result<(), FsError<MemError>> {
            for c in new[i].chunks(3000) {
                fs.write(w, c)?;
            }
            Ok(())
        })
        .unwrap()
    };
    let check = |fs: &mut Fs<MemCard>| {
        let wants = [("RECON.PNG", Some(&old[0]), &new[0]), ("LATENT.BIN", Some(&old[1]), &new[1]), ("SUB/NEW.BIN", None, &new[2]), ("IMAGE.PNG", Some(&input), &input)];
        let mut wrong = Vec::new();
        for (n, old, new) in wants {
            match read_file(fs, n) {
                Ok(got) if got.as_ref() == old || got.as_ref() == Some(new) => {}
                Ok(got) => wrong.push(format!("{n} is neither the old nor the new file ({:?} bytes)", got.map(|g| g.len()))),
                Err(e) => wrong.push(format!("{n}: {e}")),
            }
        }
        wrong
    };
    let o = pulled(name, &base, action, check, &[None, Some("SUB")], |_| false);
    eprintln!("{layout:?}: {} cards, at most {} lost clusters; {:?}", o.cards, o.most_lost, o.findings);
    assert!(o.most_lost <= 1, "{name}: {} clusters lost", o.most_lost);
}

#[test]
fn fat16_outputs_pulled_at_every_write() {
    outputs_pulled(Layout { size_mib: 16, table: Table::Superfloppy, fat: Fat::Fat16 }, "pull16.img");
}

#[test]
fn fat32_outputs_pulled_at_every_write() {
    outputs_pulled(Layout::fat32(64), "pull32.img");
}

/// Deleting a file of many FAT sectors' clusters: the other files stay,
/// the file is whole, gone, or (pulled half-way) refused as damaged; and
/// at most one FAT sector's clusters are lost.
#[test]
fn deleting_pulled_at_every_write() {
    let big = pattern(300_000, 7);
    let keep = pattern(5_000, 8);
    let (_, base) = card("pullrm.img", &[("BIG.BIN", big.clone()), ("KEEP.BIN", keep.clone())], &Layout::fat32(64));
    let action = |fs: &mut Fs<Logged>| {
        fs.remove("BIG.BIN").unwrap();
        fs.flush().unwrap();
    };
    let check = |fs: &mut Fs<MemCard>| {
        let mut wrong = Vec::new();
        match read_file(fs, "BIG.BIN") {
            Ok(None) | Err(FsError::Corrupt { .. }) => {}
            Ok(Some(b)) if b == big => {}
            other => wrong.push(format!("BIG.BIN: {:?}", other.map(|o| o.map(|b| b.len())))),
        }
        if read_file(fs, "KEEP.BIN").ok().flatten().as_ref() != Some(&keep) {
            wrong.push("KEEP.BIN changed".into());
        }
        wrong
    };
    // Half-deleted, BIG.BIN is shorter than its size says (what fsck
    // reports, and what the layer refuses to read); a pull before the
    // last step leaves FSInfo's free count as the card had it.
    let half = |f: &str| f == "/BIG.BIN" || f.starts_with("File size is 300000 bytes") || f.starts_with("Truncating file") || f.starts_with("Free cluster summary");
    let o = pulled("pullrm.img", &base, action, check, &[None], half);
    eprintln!("rm: {} cards, at most {} lost clusters; {:?}", o.cards, o.most_lost, o.findings);
    // 128 entries a FAT32 sector.
    assert!(o.most_lost <= 128, "{} clusters lost", o.most_lost);
}

/// A card pulled while results are written, then used on a computer
/// before it comes back to the board: the computer may give any cluster
/// the card shows free to a file of its own; here it fills the card with
/// OTHER.BIN. The next mount's cleanup must still remove the leftovers,
/// and free none of OTHER.BIN's clusters (the cleanup cannot tell what
/// happened to the card in between: a leftover's chain must never run
/// into a cluster the card shows free).
#[test]
fn leftovers_go_and_a_file_a_computer_wrote_since_stays_whole() {
    // FAT16 with 512-byte clusters, 256 FAT entries a sector: the new
    // file's temporary chain grows across FAT sectors, and the replaced
    // file's chain is released across them. A small card, so that a
    // computer filling it is quick: PAD.BIN takes all but 700 kB, enough
    // for the new files and RECON.PNG's old and new chains at once.
    let layout = Layout { size_mib: 16, table: Table::Superfloppy, fat: Fat::Fat16 };
    let (keep, old, new, latent) = (pattern(5_000, 11), pattern(150_000, 12), pattern(200_000, 13), pattern(40_000, 14));
    let mut files = vec![("KEEP.BIN", keep.clone()), ("RECON.PNG", old.clone())];
    let (path, _) = card("pullpc.img", &files, &layout);
    let room = xlic_cardimg::free_bytes(&path).unwrap() as usize;
    files.push(("PAD.BIN", pattern(room - 700_000, 16)));
    let (path, base) = card("pullpc.img", &files, &layout);
    let news = [&new, &latent];
    let outputs = [Output { path: "RECON.PNG", replace: true }, Output { path: "LATENT.BIN", replace: false }];
    let action = |fs: &mut Fs<Logged>| {
        fs.write_outputs(&outputs, |i, fs, w| -> Result<(), FsError<MemError>> {
            for c in news[i].chunks(3000) {
                fs.write(w, c)?;
            }
            Ok(())
        })
        .unwrap()
    };
    let (mut cards, mut most_lost, mut findings) = (0, 0, BTreeMap::new());
    let (mut seen, mut failures) = (HashSet::new(), Vec::new());
    each_pulled_card(&base, action, |case, img| {
        // Only the file system's structures matter to the cleanup: one
        // card of each.
        let mut fs = Fs::mount(MemCard::new(img)).unwrap();
        if !seen.insert(metadata_crc(&mut fs, &[])) {
            return;
        }
        cards += 1;
        save(&path, &fs.device().bytes);
        // The computer writes a file over all the free space it sees.
        let free = xlic_cardimg::free_bytes(&path).unwrap() as usize;
        let other = pattern(free, 15);
        xlic_cardimg::write(&path, "OTHER.BIN", &other).unwrap_or_else(|e| panic!("{case}: the computer's write: {e}"));
        // The next mount.
        let mut fs = Fs::mount(MemCard::new(std::fs::read(&path).unwrap())).unwrap();
        if let Err(e) = fs.remove_leftovers(None) {
            failures.push(format!("{case}: the cleanup: {e}"));
            return;
        }
        fs.flush().unwrap();
        for t in xlic_fat::TEMP_NAMES {
            if fs.find(t).unwrap().is_some() {
                failures.push(format!("{case}: {t} is left"));
            }
        }
        let wants = [("OTHER.BIN", Some(&other), &other), ("KEEP.BIN", Some(&keep), &keep), ("RECON.PNG", Some(&old), &new), ("LATENT.BIN", None, &latent)];
        for (n, old, new) in wants {
            match read_file(&mut fs, n) {
                Ok(got) if got.as_ref() == old || got.as_ref() == Some(new) => {}
                Ok(got) => failures.push(format!("{case}: {n} is neither what it was nor what was written ({:?} bytes)", got.map(|g| g.len()))),
                Err(e) => failures.push(format!("{case}: {n}: {e}")),
            }
        }
        save(&path, &fs.device().bytes);
        let (lost, wrong) = fsck_after_pull(&path, &|_| false, &mut findings);
        most_lost = most_lost.max(lost);
        failures.extend(wrong.into_iter().map(|f| format!("{case}: {f}")));
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{cards} cards, at most {most_lost} lost clusters; {findings:?}");
    // The pull points include each FAT sector crossing and the first
    // cluster's naming (more than the start and the end).
    assert!(cards > 4, "{cards} cards");
    assert!(most_lost <= 1, "{most_lost} clusters lost");
}

/// The firmware's `cp` (a new file through `write_outputs`, its clusters
/// allocated one by one across several FAT sectors) on the card the QEMU
/// test pulls, pulled after every write: COPY.BIN is whole or absent, the
/// source and the other file untouched, and after the next mount's
/// cleanup fsck finds nothing at all: no lost cluster (the cluster being
/// added when the card was pulled is noted in the temporary entry before
/// the card's FAT takes it, and the cleanup frees it), so FSInfo's free
/// count, exact for the FAT the cleanup leaves, is what fsck counts.
#[test]
fn a_copy_pulled_at_every_write_leaves_nothing_after_the_cleanup() {
    // 512-byte clusters, 128 FAT32 entries a FAT sector: 300 clusters of
    // COPY.BIN cross at least two FAT sector boundaries.
    let source = pattern(150_000, 21);
    let keep = b"keep me".to_vec();
    let (_, base) = card("pullcp.img", &[("PATTERN.BIN", source.clone()), ("KEEP.TXT", keep.clone())], &Layout::fat32(64));
    let action = |fs: &mut Fs<Logged>| {
        fs.write_outputs(&[Output { path: "COPY.BIN", replace: false }], |_, fs, w| -> Result<(), FsError<MemError>> {
            for c in source.chunks(64 << 10) {
                fs.write(w, c)?;
            }
            Ok(())
        })
        .unwrap()
    };
    let check = |fs: &mut Fs<MemCard>| {
        let mut wrong = Vec::new();
        match read_file(fs, "COPY.BIN") {
            Ok(None) => {}
            Ok(Some(b)) if b == source => {}
            other => wrong.push(format!("COPY.BIN: {:?}", other.map(|o| o.map(|b| b.len())))),
        }
        for (n, want) in [("PATTERN.BIN", &source), ("KEEP.TXT", &keep)] {
            if read_file(fs, n).ok().flatten().as_ref() != Some(want) {
                wrong.push(format!("{n} changed"));
            }
        }
        wrong
    };
    let o = pulled("pullcp.img", &base, action, check, &[None], |_| false);
    eprintln!("cp: {} cards, at most {} lost clusters; {:?}", o.cards, o.most_lost, o.findings);
    assert!(o.cards > 300, "{} cards", o.cards);
    assert!(o.findings.is_empty(), "after the cleanup fsck.fat finds: {:?}", o.findings);
}

/// The cluster a pulled write was adding, which the cleanup frees when
/// the card comes back as the pull left it, is left alone when a tool
/// reclaimed it meanwhile and a computer gave it to a one-cluster file of
/// another directory (which the cleanup does not search): such a tool
/// sets FSInfo's free count, which the pull left "unknown".
#[test]
fn a_noted_cluster_a_computer_reclaimed_and_reused_stays_its_file() {
    let source = pattern(150_000, 22);
    let (path, base) = card("pullre.img", &[("PATTERN.BIN", source.clone()), ("SUB/ONE.TXT", b"one cluster".to_vec())], &Layout::fat32(64));
    let action = |fs: &mut Fs<Logged>| {
        fs.write_outputs(&[Output { path: "COPY.BIN", replace: false }], |_, fs, w| -> Result<(), FsError<MemError>> {
            for c in source.chunks(64 << 10) {
                fs.write(w, c)?;
            }
            Ok(())
        })
        .unwrap()
    };
    // The cards on which the temporary entry notes a cluster marked
    // end-of-chain off its chain: the cluster a pull made lost.
    let (mut lost_cards, mut failures) = (0, Vec::new());
    each_pulled_card(&base, action, |case, img| {
        save(&path, &img);
        let mut c = xlic_cardimg::edit::Card::open(&path).unwrap();
        let Some(t) = c.find("~XLICTMP.TMP") else { return };
        let noted = u32::from_le_bytes(img[t.offset + 14..t.offset + 18].try_into().unwrap());
        if !(2..c.clusters() + 2).contains(&noted) || c.fat(noted) < 0x0fff_fff8 || (t.first_cluster >= 2 && c.chain(t.first_cluster).contains(&noted)) {
            return;
        }
        lost_cards += 1;
        // A tool reclaims it and sets FSInfo's count; a computer moves
        // SUB/ONE.TXT onto it.
        let e = c.find("SUB/ONE.TXT").unwrap();
        c.set_fat(e.first_cluster, 0);
        c.set_fat(noted, 0x0fff_ffff);
        c.set_first_cluster(&e, noted);
        let (start, _) = xlic_cardimg::volume_range(&img).unwrap();
        let fsinfo = start / SECTOR as u64 + c.field(xlic_cardimg::edit::Field::FsInfoSector) as u64;
        let free = c.free_clusters();
        c.sector_mut(fsinfo)[488..492].copy_from_slice(&free.to_le_bytes());
        c.save().unwrap();
        // The next mount.
        let mut fs = Fs::mount(MemCard::new(std::fs::read(&path).unwrap())).unwrap();
        fs.remove_leftovers(None).unwrap_or_else(|e| panic!("{case}: {e}"));
        fs.flush().unwrap();
        save(&path, &fs.device().bytes);
        // (The test moved the entry, not the bytes: the cluster is what
        // counts.)
        let c = xlic_cardimg::edit::Card::open(&path).unwrap();
        if c.fat(noted) < 0x0fff_fff8 || c.find("SUB/ONE.TXT").map(|e| e.first_cluster) != Some(noted) {
            failures.push(format!("{case}: SUB/ONE.TXT lost its cluster {noted}"));
        }
        if let Err(r) = xlic_cardimg::fsck(&path) {
            failures.push(format!("{case}: {r}"));
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Each FAT sector crossing of the chain, and its first cluster.
    assert!(lost_cards >= 3, "{lost_cards} cards with a noted lost cluster");
}
