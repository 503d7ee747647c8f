//! Whole-or-nothing writes (`Fs::write_outputs`) and the cleanup of what
//! an interrupted one leaves (`Fs::remove_leftovers`), on card images.
mod common;
use common::*;
use xlic_cardimg::edit::Card;
use xlic_cardimg::{Fat, Layout, Table};
use xlic_fat::{Fs, FsError, Output};

fn mount(bytes: Vec<u8>) -> Fs<MemCard> {
    Fs::mount(MemCard::new(bytes)).unwrap()
}

fn read_all(fs: &mut Fs<MemCard>, path: &str) -> Result<Vec<u8>, FsError<MemError>> {
    let mut f = fs.open(path)?;
    let mut out = vec![0u8; f.size as usize];
    let mut done = 0;
    while done < out.len() {
        done += fs.read(&mut f, &mut out[done..])?;
    }
    Ok(out)
}

fn write(fs: &mut Fs<MemCard>, outputs: &[Output], data: &[&[u8]]) -> Result<(), FsError<MemError>> {
    fs.write_outputs(outputs, |i, fs, w| fs.write(w, data[i]))
}

fn fsck_clean(name: &str, fs: &mut Fs<MemCard>) {
    let path = temp(name);
    save(&path, &fs.device().bytes);
    xlic_cardimg::fsck(&path).unwrap_or_else(|r| panic!("{name}: fsck.fat:\n{r}"));
}

/// Replacing keeps the replaced file's entry and long name; new names are
/// the temporary entries renamed; nothing is left behind.
#[test]
fn outputs_replace_in_place_and_leave_nothing_behind() {
    for (i, layout) in [Layout::fat32(64), Layout { size_mib: 16, table: Table::Superfloppy, fat: Fat::Fat16 }, Layout { size_mib: 4, table: Table::Mbr { slot: 1 }, fat: Fat::Fat12 }].into_iter().enumerate() {
        let (_, bytes) = card(&format!("out{i}.img"), &[("recon.png", pattern(9_000, 1)), ("KEEP.BIN", pattern(700, 2))], &layout);
        let mut fs = mount(bytes);
        let free = fs.free_clusters().unwrap();
        let (a, b) = (pattern(20_000, 3), pattern(1_000, 4));
        write(&mut fs, &[Output { path: "RECON.PNG", replace: true }, Output { path: "NEW.BIN", replace: false }], &[&a, &b]).unwrap();
        assert_eq!(read_all(&mut fs, "RECON.PNG").unwrap(), a);
        assert_eq!(read_all(&mut fs, "NEW.BIN").unwrap(), b);
        assert_eq!(fs.find("RECON.PNG").unwrap().unwrap().long_name_entries(), 1, "the long name stays with the replaced file");
        let cb = fs.volume().cluster_bytes() as usize;
        let used = 20_000usize.div_ceil(cb) + 1_000usize.div_ceil(cb) - 9_000usize.div_ceil(cb);
        assert_eq!(fs.free_clusters().unwrap() as usize, free as usize - used);
        let d = fs.open_dir(None).unwrap();
        let mut names = Vec::new();
        fs.list(d, |e| names.push(e.name.to_string())).unwrap();
        assert!(!names.iter().any(|n| n.contains("XLIC")), "{names:?}");
        fsck_clean(&format!("out{i}.img"), &mut fs);
    }
}

/// A failing producer, a full card, a read-only file or a directory in
/// the way: nothing under a final name changes, no space is kept.
#[test]
fn a_failed_write_changes_no_name_and_keeps_no_space() {
    let (_, bytes) = card("fail.img", &[("RECON.PNG", pattern(9_000, 1)), ("DIR/A.TXT", b"a".to_vec())], &Layout::fat32(64));
    let mut fs = mount(bytes.clone());
    let free = fs.free_clusters().unwrap();
    let outs = [Output { path: "RECON.PNG", replace: true }, Output { path: "LATENT.BIN", replace: true }];
    let r = fs.write_outputs(&outs, |i, fs, w| {
        fs.write(w, &pattern(5_000, 9))?;
        if i == 1 {
            return Err(FsError::Full);
        }
        Ok(())
    });
    assert_eq!(r, Err(FsError::Full));
    assert_eq!(read_all(&mut fs, "RECON.PNG").unwrap(), pattern(9_000, 1));
    assert!(fs.find("LATENT.BIN").unwrap().is_none());
    assert_eq!(fs.free_clusters().unwrap(), free);
    fsck_clean("fail.img", &mut fs);

    // A read-only file is not replaced, and says so before anything is written.
    let mut c = Card::open(&temp("fail.img")).unwrap();
    let e = c.find("RECON.PNG").unwrap();
    c.bytes[e.offset + 11] |= 0x01;
    let mut fs = mount(c.bytes.clone());
    let mut called = false;
    let r = fs.write_outputs(&outs[..1], |_, _, _| -> Result<(), FsError<MemError>> {
        called = true;
        Ok(())
    });
    assert_eq!(r, Err(FsError::ReadOnly));
    assert!(!called);

    // A directory holding the temporary name.
    let (_, bytes) = card("taken.img", &[("~XLICTMP.TMP/A.TXT", b"a".to_vec())], &Layout::fat32(64));
    let mut fs = mount(bytes);
    let r = write(&mut fs, &outs[..1], &[b"x"]);
    assert!(matches!(r, Err(FsError::TempTaken { .. })), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("the card holds a directory named ~XLICTMP.TMP"));
    assert!(fs.find("~XLICTMP.TMP/A.TXT").unwrap().is_some(), "the directory is left alone");
    assert_eq!(write(&mut fs, &[Output { path: "~XLICAB.TMP", replace: false }], &[b"x"]), Err(FsError::Reserved));
}

/// Leftovers of an interrupted write are removed with their clusters,
/// long names included, and a user's file that only looks like one
/// (`~XLICFOO.TMP`) stays.
#[test]
fn leftovers_are_removed_and_their_space_comes_back() {
    let files = [("~XLICTMP.TMP", pattern(30_000, 1)), ("~XLICTM1.TMP", pattern(3_000, 2)), ("~XLICFOO.TMP", b"mine".to_vec()), ("SUB/~XLICTMP.TMP", pattern(2_000, 3))];
    let (_, bytes) = card("left.img", &files, &Layout::fat32(64));
    let mut fs = mount(bytes);
    let free = fs.free_clusters().unwrap();
    assert_eq!(fs.remove_leftovers(None).unwrap(), 2);
    assert_eq!(fs.free_clusters().unwrap(), free + 30_000u32.div_ceil(512) + 3_000u32.div_ceil(512));
    assert_eq!(read_all(&mut fs, "~XLICFOO.TMP").unwrap(), b"mine");
    assert!(fs.find("SUB/~XLICTMP.TMP").unwrap().is_some(), "only the directory asked for");
    assert_eq!(fs.remove_leftovers(Some("SUB")).unwrap(), 1);
    fsck_clean("left.img", &mut fs);
}

/// A leftover whose chain runs into another file's (left by firmware
/// before the layer put every end mark on the card before the link to it,
/// then a computer wrote the file into the cluster the card showed free;
/// or any cross-linked card) is refused, whether the chain meets the file
/// at its first cluster or in its middle: the file stays whole. One that
/// leads to a free cluster is freed up to it.
#[test]
fn a_leftover_never_frees_another_file() {
    let big = pattern(60_000, 2);
    let (path, bytes) = card("dangle.img", &[("~XLICTMP.TMP", pattern(1_000, 1)), ("OTHER.BIN", big.clone())], &Layout::fat32(64));
    let c = Card::open(&path).unwrap();
    let (t, other) = (c.find("~XLICTMP.TMP").unwrap(), c.find("OTHER.BIN").unwrap());
    let (chain, others) = (c.chain(t.first_cluster), c.chain(other.first_cluster));
    assert_eq!(chain.len(), 2);
    for into in [others[0], others[5]] {
        let mut c = Card::open(&path).unwrap();
        c.bytes = bytes.clone();
        c.set_fat(chain[1], into);
        let mut fs = mount(c.bytes.clone());
        let r = fs.remove_leftovers(None);
        assert!(matches!(r, Err(FsError::Corrupt { .. })), "{r:?}");
        assert!(r.unwrap_err().to_string().contains("cross-linked"));
        assert_eq!(read_all(&mut fs, "OTHER.BIN").unwrap(), big, "the leftover's cleanup freed another file");
        assert_eq!(fs.device().bytes, c.bytes, "nothing changed");
    }
    // Into a free cluster: freed up to it.
    let mut c = Card::open(&path).unwrap();
    let free = (2..c.clusters() + 2).rev().find(|&k| c.fat(k) == 0).unwrap();
    c.set_fat(chain[1], free);
    let mut fs = mount(c.bytes.clone());
    let before = fs.free_clusters().unwrap();
    assert_eq!(fs.remove_leftovers(None).unwrap(), 1);
    assert_eq!(fs.free_clusters().unwrap(), before + 2);
    assert_eq!(read_all(&mut fs, "OTHER.BIN").unwrap(), big);
    fsck_clean("dangle.img", &mut fs);
}

/// Two outputs of one write that name one file (in any case, with or
/// without a leading slash) are refused before anything is written.
#[test]
fn two_outputs_of_one_name_are_refused() {
    let (_, bytes) = card("dup.img", &[("SUB/A.TXT", b"a".to_vec())], &Layout::fat32(64));
    let mut fs = mount(bytes.clone());
    for pair in [["RECON.PNG", "recon.png"], ["RECON.PNG", "/RECON.PNG"], ["SUB/B.BIN", "/sub//b.bin"]] {
        let outputs = [Output { path: pair[0], replace: true }, Output { path: pair[1], replace: true }];
        let r = write(&mut fs, &outputs, &[b"one", b"two"]);
        assert!(matches!(r, Err(FsError::Duplicate { .. })), "{pair:?}: {r:?}");
        assert!(r.unwrap_err().to_string().contains("named twice"));
    }
    assert_eq!(fs.device().bytes, bytes, "nothing written");
    write(&mut fs, &[Output { path: "RECON.PNG", replace: true }, Output { path: "SUB/RECON.PNG", replace: true }], &[b"one", b"two"]).unwrap();
}

/// A card that fails one write.
struct FailAt {
    card: MemCard,
    writes: usize,
    fail: Option<usize>,
}

impl xlic_fat::BlockDevice for FailAt {
    type Error = MemError;
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), MemError> {
        self.card.read(lba, buf)
    }
    fn write(&mut self, lba: u32, buf: &[u8]) -> Result<(), MemError> {
        let n = self.writes;
        self.writes += 1;
        if self.fail == Some(n) {
            return Err(MemError::OutOfRange(lba));
        }
        self.card.write(lba, buf)
    }
    fn sectors(&mut self) -> Result<u32, MemError> {
        self.card.sectors()
    }
}

/// A write that fails as an output is closed (its last, partial sector
/// does not reach the card) leaves no temporary file: the old file stays
/// under its name and the space comes back.
#[test]
fn a_failed_close_leaves_no_temporary_file() {
    let old = pattern(5_000, 1);
    let (_, bytes) = card("close.img", &[("RECON.PNG", old.clone())], &Layout::fat32(64));
    let mut fs = Fs::mount(FailAt { card: MemCard::new(bytes), writes: 0, fail: None }).unwrap();
    let free = fs.free_clusters().unwrap();
    let new = pattern(3_000, 2);
    let r = fs.write_outputs(&[Output { path: "RECON.PNG", replace: true }], |_, fs, w| {
        fs.write(w, &new)?;
        // The next write is the close's: the partial last sector.
        let d = fs.device();
        d.fail = Some(d.writes);
        Ok::<(), FsError<MemError>>(())
    });
    assert!(matches!(r, Err(FsError::Device(_))), "{r:?}");
    let mut fs = mount(std::mem::replace(&mut fs.device().card.bytes, Vec::new()));
    for t in xlic_fat::TEMP_NAMES {
        assert!(fs.find(t).unwrap().is_none(), "{t} is left");
    }
    assert_eq!(read_all(&mut fs, "RECON.PNG").unwrap(), old);
    assert_eq!(fs.free_clusters().unwrap(), free);
    fsck_clean("close.img", &mut fs);
}
