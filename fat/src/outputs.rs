//! Writes that happen whole or not at all: every file a command writes
//! goes to a temporary name (`~XLICTMP.TMP`, `~XLICTM1.TMP`, ...) and
//! takes its final name only when all of them are complete and on the
//! card. A new name is the temporary entry renamed in place; an existing
//! file (when it may be replaced) keeps its entry and long name, which is
//! pointed at the new chain in one sector write, and the temporary entry
//! then takes the old chain and is released. A failure removes the
//! temporary files; no final name changes.
//!
//! What a card pulled at any moment holds (the device's
//! [`flush`](crate::BlockDevice::flush) orders the steps on the card):
//! - under each final name, the old file whole or the new file whole,
//!   never an entry that leads to clusters the FAT calls free;
//! - the files read, or named by no output, untouched;
//! - temporary files, whose entries lead to their clusters from the first
//!   one allocated. [`Fs::remove_leftovers`] (the firmware runs it on the
//!   root directory at every mount, and it runs here on each output's
//!   directory before writing) removes them and frees their clusters,
//!   with the cluster a growing chain was taking when the card was pulled
//!   (named in the temporary entry before the card's FAT marks it, see
//!   `Fs::free_lost`), and leaves FSInfo's free count exact. A pull while
//!   a temporary chain is released (the replaced file's old chain, or a
//!   failed write's) can leave one cluster lost, which `fsck.fat`
//!   reclaims.
//!
//! A leftover may be freed at any later mount, after a computer wrote to
//! the card: its chain runs only through clusters the card's FAT calls
//! taken (the layer puts a cluster's end mark on the card before any link
//! or entry that leads to it, and frees a temporary chain's last cluster
//! only after its entry is gone), so no file written since can have one
//! of them. A leftover whose chain another file shares all the same (a
//! card damaged otherwise) is refused, not freed.
use crate::fs::{Fs, FsError};
use crate::name::{NameError, ShortName};
use crate::BlockDevice;

/// Temporary names, one per output of a call (at most four outputs).
pub const TEMP_NAMES: [&str; 4] = ["~XLICTMP.TMP", "~XLICTM1.TMP", "~XLICTM2.TMP", "~XLICTM3.TMP"];

/// Whether `path`'s last part has the form of a temporary name,
/// `~XLIC*.TMP`: such names are refused as outputs and for deletion.
pub fn is_reserved(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    ShortName::parse(last).is_ok_and(|n| n.base().starts_with(b"~XLIC") && n.ext() == b"TMP")
}

/// One file to write.
#[derive(Clone, Copy, Debug)]
pub struct Output<'a> {
    pub path: &'a str,
    /// Replace an existing file of that name (not a directory or a
    /// read-only file), or refuse.
    pub replace: bool,
}

/// Longest path of an output.
const MAX_PATH: usize = 255;

/// `name` in the directory of `path`, or `name` in `dir`.
struct PathBuf {
    buf: [u8; MAX_PATH],
    len: usize,
}

impl PathBuf {
    fn join(dir: &str, name: &str) -> Result<PathBuf, NameError> {
        let mut p = PathBuf { buf: [0; MAX_PATH], len: 0 };
        let sep: &str = if dir.is_empty() || dir.ends_with('/') { "" } else { "/" };
        for part in [dir, sep, name] {
            let end = p.len + part.len();
            if end > MAX_PATH {
                return Err(NameError::TooLong);
            }
            p.buf[p.len..end].copy_from_slice(part.as_bytes());
            p.len = end;
        }
        Ok(p)
    }
    fn as_str(&self) -> &str {
        // Built from whole `str`s.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// The directory part of `path` ("" for the root).
fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

type R<T, E> = Result<T, FsError<E>>;

impl<D: BlockDevice> Fs<D> {
    /// Remove the temporary files (the names of [`TEMP_NAMES`]) that an
    /// interrupted write left in `dir` (None: the root). Returns how many.
    /// A directory of such a name is left alone (writes then say so).
    pub fn remove_leftovers(&mut self, dir: Option<&str>) -> R<u32, D::Error> {
        let dir = dir.unwrap_or("");
        let mut removed = 0;
        for t in TEMP_NAMES {
            let path = PathBuf::join(dir, t).map_err(FsError::Name)?;
            let Some(e) = self.find(path.as_str())? else { continue };
            if e.is_dir() {
                continue;
            }
            // A pull in the middle of a replacement (see `write_outputs`)
            // leaves the temporary entry's chain taken by the replaced
            // file's entry, and the old chain named in the temporary
            // entry's creation fields: that one is the leftover then.
            let d = self.open_dir(Some(dir))?;
            let (mut shared, mut old_named) = (false, false);
            let old = e.created_field;
            self.list(d, |o| {
                if o.pos != e.pos && o.first_cluster != 0 {
                    shared |= o.first_cluster == e.first_cluster;
                    old_named |= o.first_cluster == old;
                }
            })?;
            let chain = match shared {
                false => e.first_cluster,
                true if !old_named => old,
                true => 0,
            };
            if chain != 0 && !shared {
                // A release pulled right after the entry moved on left
                // the cluster it passed linked into the chain.
                self.free_passed(e.created_field, chain)?;
            }
            if !shared {
                // A write pulled while its chain grew left the cluster
                // being added marked taken and on no chain.
                self.free_lost(d, e.created_field, e.first_cluster)?;
            }
            if chain != 0 {
                // Never free what another file uses (a card damaged
                // elsewhere, or by a tool that reclaimed the old chain).
                let mut leftover = e;
                leftover.first_cluster = chain;
                self.check_not_shared(d, &leftover)?;
                // The entry leads to the chain it releases.
                self.set_entry_chain(e.pos, chain, 0)?;
                self.release(e.pos, e.long_name_positions(), chain, true)?;
            } else {
                self.unlink(&e)?;
                self.sync_dir()?;
            }
            removed += 1;
        }
        if removed > 0 {
            // A pull leaves FSInfo's free count "unknown" on the card:
            // exact again (a pass over the FAT, after a pull only).
            self.fsinfo_exact()?;
            self.flush()?;
        }
        Ok(removed)
    }

    /// Whether `outputs` can be written: no two of one name, no temporary
    /// name, no directory, no existing file unless it may be replaced (and
    /// is not read-only, nor cross-linked with another file).
    pub fn check_outputs(&mut self, outputs: &[Output]) -> R<(), D::Error> {
        for (i, o) in outputs.iter().enumerate() {
            let (dir, name) = self.parent(o.path)?;
            for p in &outputs[..i] {
                let (d, n) = self.parent(p.path)?;
                if d == dir && n.0.eq_ignore_ascii_case(&name.0) {
                    return Err(FsError::Duplicate { name });
                }
            }
            if is_reserved(o.path) {
                return Err(FsError::Reserved);
            }
            match self.find(o.path)? {
                Some(e) if e.is_dir() => return Err(FsError::IsDirectory),
                Some(_) if !o.replace => return Err(FsError::Exists),
                Some(e) if e.attr & crate::fs::ATTR_READ_ONLY != 0 => return Err(FsError::ReadOnly),
                Some(e) => {
                    // Its clusters are freed once replaced: not if another
                    // file shares them.
                    let (dir, _) = self.parent(o.path)?;
                    self.check_not_shared(dir, &e)?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Write every output, produced by `produce(i, fs, writer)` in turn,
    /// each to its temporary name; only when all are complete and on the
    /// card do they take their names. On any failure the temporary files
    /// are removed and no final name changes. At most four outputs, no
    /// two of one name.
    ///
    /// A new name is the temporary entry renamed in place. An existing
    /// file keeps its entry (and long name), which is pointed at the new
    /// chain in one sector write; then the temporary entry takes the old
    /// chain and is released like a deleted file. So at every moment the
    /// name holds the old file or the new one, whole.
    pub fn write_outputs<X: From<FsError<D::Error>>>(
        &mut self,
        outputs: &[Output],
        mut produce: impl FnMut(usize, &mut Fs<D>, &mut crate::Writer) -> Result<(), X>,
    ) -> Result<(), X> {
        assert!(outputs.len() <= TEMP_NAMES.len(), "more outputs than temporary names");
        self.check_outputs(outputs)?;
        let mut temps = [const { PathBuf { buf: [0; MAX_PATH], len: 0 } }; TEMP_NAMES.len()];
        for (k, o) in outputs.iter().enumerate() {
            temps[k] = PathBuf::join(dir_of(o.path), TEMP_NAMES[k]).map_err(FsError::Name)?;
            self.remove_leftovers(Some(dir_of(o.path)))?;
        }
        let temps = &temps[..outputs.len()];
        let mut made = [None; TEMP_NAMES.len()];
        let mut result = Ok(());
        for (i, t) in temps.iter().enumerate() {
            let mut w = match self.create_temp(t.as_str()) {
                Ok(w) => w,
                Err(FsError::Exists) => {
                    let name = ShortName::parse(TEMP_NAMES[i]).map_err(FsError::Name)?;
                    result = Err(FsError::TempTaken { name }.into());
                    break;
                }
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            };
            match produce(i, self, &mut w) {
                Ok(()) => match self.close_or_discard(w) {
                    Ok(e) => made[i] = Some(e),
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                },
                Err(e) => {
                    // The error that stopped the write is the one to
                    // report; the cleanup's own failure adds nothing.
                    let _ = self.discard(w);
                    result = Err(e);
                    break;
                }
            }
        }
        if let Err(e) = result {
            for t in made.iter().flatten() {
                let _ = self.release(t.pos, &[], t.first_cluster, true);
            }
            let _ = self.flush();
            return Err(e);
        }
        // Every output whole on the card before any name changes; each
        // temporary entry that is to swap chains with an existing file
        // notes that file's first cluster.
        self.flush()?;
        for (k, o) in outputs.iter().enumerate() {
            if let (Some(t), Some(e)) = (made[k], self.find(o.path)?) {
                self.set_created_field(t.pos, e.first_cluster)?;
            }
        }
        self.sync_dir()?;
        let mut old = [None; TEMP_NAMES.len()];
        for (k, o) in outputs.iter().enumerate() {
            let Some(t) = made[k] else { continue };
            match self.find(o.path)? {
                Some(e) => {
                    self.set_entry_chain(e.pos, t.first_cluster, t.size)?;
                    old[k] = Some(e);
                }
                None => {
                    let name = ShortName::parse(o.path.rsplit('/').next().unwrap_or(o.path)).map_err(FsError::Name)?;
                    self.rename_entry(&t, &name)?;
                }
            }
        }
        self.sync_dir()?;
        // The replaced chains move to the temporary entries...
        for k in 0..outputs.len() {
            if let (Some(t), Some(e)) = (made[k], old[k]) {
                self.set_entry_chain(t.pos, e.first_cluster, e.size)?;
            }
        }
        self.sync_dir()?;
        // ... and go with them.
        for k in 0..outputs.len() {
            if let (Some(t), Some(e)) = (made[k], old[k]) {
                self.release(t.pos, &[], e.first_cluster, true)?;
            }
        }
        self.flush()?;
        Ok(())
    }
}
