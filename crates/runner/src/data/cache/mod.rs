//! The parsed-data cache: the first read of a CSV or Parquet file stores the parsed [`Table`]
//! in a compact binary file ([`format`]); later reads memory-map that file and copy its columns
//! out instead of parsing (a 1M × 100 CSV: seconds of parsing against a fraction of a second,
//! docs/PERFORMANCE.md).
//!
//! An entry is used only for the same file and the same settings: its key holds the file's
//! identity (device, inode, size, modification and change times in nanoseconds), the load
//! settings (`LoadSpec`'s `Debug` text, so a new setting is covered without a change here), the
//! format and the program, and is compared whole with the key computed now. A file modified
//! within the file system's timestamp granularity of being read may keep all of its times, so
//! an entry made from a file changed less than [`RACY_NS`] before it was read is *racy*: it is
//! used only after the file's bytes are checked against the stored CRC32, and rewritten as a
//! trusted entry once the file is old enough (git's "racy clean" problem and its answer).
//!
//! The folder is shared by every process of the user (a sweep's `--jobs`, a job array's trials,
//! cv's folds) and is treated as reachable by others ([`folder`]): entries are written through a
//! temporary and renamed whole (`files::write_atomic_unsynced_with`: no fsync, since an entry
//! lost in a crash fails its checksum), opened without following links, and checked in full
//! before use; a damaged entry is ignored and rewritten. Nothing about the cache ever fails a
//! command: its problems are one-line notes on stderr. Reading an entry copies its sections out
//! on every core (`format::decode`).

mod folder;
mod format;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use format::{Identity, Key, Unusable};

use crate::config::DataConfig;
use crate::data::{DataError, LoadSpec, Table};

/// How recently before it was read a file may have changed for its entry to count as racy:
/// above the timestamp granularity of common file systems (a kernel tick on ext4 and xfs, one
/// second on ext3 and some network file systems, two on FAT).
const RACY_NS: i64 = 3_000_000_000;

/// What an entry must leave free on the cache's disk (besides itself): a cache never fills it.
const DISK_RESERVE: u64 = 1_000_000_000;

/// Whether and where to cache, for the whole process: set from the command line and the
/// config ([`disable`], [`configure`]) before any data is read.
#[derive(Debug)]
struct Settings {
    /// `--no-cache`: off, whatever the config says.
    flag_off: bool,
    /// `data.cache`.
    enabled: bool,
    /// `data.cache_dir`, or `None` for [`folder::default_dir`].
    dir: Option<PathBuf>,
    /// Whether a refused folder has been said already (once per process).
    warned: bool,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings {
    flag_off: false,
    // The unit tests read many files and never configure: they leave the user's cache alone.
    enabled: !cfg!(test),
    dir: None,
    warned: false,
});

/// The settings, even after a thread panicked while holding them (they stay consistent).
fn settings() -> std::sync::MutexGuard<'static, Settings> {
    SETTINGS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `--no-cache`: no entry is read or written by this process.
pub(crate) fn disable() {
    settings().flag_off = true;
}

/// Whether `--no-cache` was given: `cv` and `sweep` pass it on to their `train` processes.
pub(crate) fn disabled_by_flag() -> bool {
    settings().flag_off
}

/// `data.cache` and `data.cache_dir` of the config a command runs with (train, the model
/// commands' saved config, cv's probe).
pub(crate) fn configure(data: &DataConfig) {
    let mut s = settings();
    s.enabled = data.cache;
    s.dir = data.cache_dir.clone();
}

/// Why the cache could not be used for one file: said as a note, never an error of the command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    /// The folder is missing and cannot be made, or is not safe to trust.
    #[error("the parsed-data cache folder {dir} is not used: {why}")]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// An entry failed a check; it is ignored and rewritten.
    #[error("the cache entry {file} is damaged ({why}); it is ignored and rewritten")]
    Damaged {
        /// The entry.
        file: PathBuf,
        /// The check that failed.
        why: String,
    },
    /// An entry could not be read or written.
    #[error("the cache entry {file}: {source}")]
    Io {
        /// The entry.
        file: PathBuf,
        /// What failed.
        source: anyhow::Error,
    },
}

/// Added to a refusal for memory that a usable private folder would have avoided: past half
/// the memory available, a table's columns and an input matrix are kept on disk there.
pub(crate) const NO_FOLDER: &str = "or let burnfit keep it on disk: data.cache_dir must name a folder of your own that others cannot write (the cache folder is not usable here)";

/// The cache's folder, checked as private (made so when absent), whether or not caching is on:
/// the place for the large scratch files of a run (an input matrix larger than memory), which
/// must not be in a shared folder. `None` when there is none usable.
pub(crate) fn private_folder() -> Option<PathBuf> {
    let dir = settings().dir.clone().or_else(folder::default_dir)?;
    folder::ready(&dir).ok().map(|()| dir)
}

/// Reads `path` through the cache: an entry for this file and `spec` if there is a good one,
/// else `parse()`, whose table is then stored. Any trouble with the cache itself is a note and
/// the file is parsed; `parse`'s own errors are returned as they are.
pub(crate) fn load(
    path: &Path,
    spec: &LoadSpec,
    parse: impl FnOnce() -> Result<Table, DataError>,
) -> Result<Table, DataError> {
    let Some(entry) = Entry::find(path, spec) else {
        return parse();
    };
    match entry.read(path) {
        Ok(Some(table)) => {
            say!(
                "note: {}: read from the parsed-data cache (--no-cache parses it again)",
                path.display()
            );
            return Ok(table);
        }
        Ok(None) => {}
        Err(e) => say!("note: {e}"),
    }
    let table = parse()?;
    entry.store(path, &table);
    Ok(table)
}

/// The entry a file and its settings map to, with what was known before it was read.
struct Entry {
    /// The entry's file in the cache folder.
    file: PathBuf,
    /// The key it must hold.
    key: Key,
    /// When reading began.
    read_at_ns: i64,
}

impl Entry {
    /// The entry for `path` read with `spec`, when the cache is on, `path` is a regular file and
    /// the folder is usable (said once when it is not).
    fn find(path: &Path, spec: &LoadSpec) -> Option<Self> {
        let mut s = settings();
        if s.flag_off || !s.enabled || cfg!(target_endian = "big") {
            return None;
        }
        let dir = s.dir.clone().or_else(folder::default_dir)?;
        if let Err(e) = folder::ready(&dir) {
            if !std::mem::replace(&mut s.warned, true) {
                say!("note: {e}");
            }
            return None;
        }
        drop(s);
        Self::in_folder(&dir, path, spec)
    }

    /// The entry for `path` read with `spec` in the (checked) folder `dir`.
    fn in_folder(dir: &Path, path: &Path, spec: &LoadSpec) -> Option<Self> {
        // A stream (a FIFO, a device) has no identity to key on and is read as it comes.
        let source = identity(&std::fs::metadata(path).ok().filter(|m| m.is_file())?);
        let read_at_ns = now_ns();
        let key = Key {
            format: format::FORMAT,
            program: program(),
            source,
            spec: format!("{spec:?}"),
        };
        // Named by what stays when the file is rewritten in place (its device and inode) and by
        // the settings, so a changed file's new entry replaces its old one; the key inside
        // decides whether an entry is this one.
        let name = format!(
            "{:016x}.table",
            fnv1a(&[
                &source.dev.to_le_bytes(),
                &source.ino.to_le_bytes(),
                key.spec.as_bytes(),
                key.program.as_bytes(),
            ])
        );
        Some(Entry {
            file: dir.join(name),
            key,
            read_at_ns,
        })
    }

    /// The stored table, `None` when there is no entry for this key (or a racy one whose file
    /// changed), an error when the entry is damaged or unreadable.
    fn read(&self, path: &Path) -> Result<Option<Table>, CacheError> {
        let io = |e: std::io::Error| CacheError::Io {
            file: self.file.clone(),
            source: e.into(),
        };
        let file =
            match crate::files::open_regular(&self.file, std::fs::OpenOptions::new().read(true)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io(e)),
            };
        // What the entry needs of memory is checked in `format::decode`, which knows what is
        // copied out and what stays in the map.
        let map = std::sync::Arc::new(map(&file).map_err(io)?);
        let damaged = |why: String| CacheError::Damaged {
            file: self.file.clone(),
            why,
        };
        let (table, stored_at) =
            match format::decode(&map, Some(&map), &self.key, &path.display().to_string()) {
                Ok(t) => t,
                Err(Unusable::Stale) => return Ok(None),
                Err(Unusable::Damaged(why)) => return Err(damaged(why)),
            };
        if self.racy(stored_at) {
            // The file may have changed without changing its times: its bytes decide.
            let now = crate::data::table::parquet::checksum(path).ok();
            if now != table.checksum {
                return Ok(None);
            }
            if !self.racy(self.read_at_ns) {
                self.store(path, &table);
            }
        }
        Ok(Some(table))
    }

    /// Whether a read that began at `read_at_ns` may have missed a change that kept the file's
    /// times.
    fn racy(&self, read_at_ns: i64) -> bool {
        let s = &self.key.source;
        read_at_ns < s.mtime_ns.max(s.ctime_ns).saturating_add(RACY_NS)
    }

    /// Stores `table`, unless the file changed while it was read or the disk lacks room; a
    /// failure is a note.
    fn store(&self, path: &Path, table: &Table) {
        let Some(checksum) = table.checksum else {
            return;
        };
        // Changed while it was parsed: the table may hold part of each version.
        let now = std::fs::metadata(path).ok().map(|m| identity(&m));
        if now != Some(self.key.source) {
            return;
        }
        let encoded = match format::encode(table, &self.key, self.read_at_ns, checksum) {
            Ok(e) => e,
            Err(e) => {
                say!("note: {}", self.io(e.into()));
                return;
            }
        };
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let free = crate::resources::disk_available(dir);
        if !room(encoded.len(), free) {
            say!(
                "note: {} is not cached: its parsed table needs {} and {} has {} free (the cache leaves {} free)",
                path.display(),
                crate::resources::human(encoded.len()),
                dir.display(),
                crate::resources::human(free),
                crate::resources::human(DISK_RESERVE)
            );
            return;
        }
        let written =
            crate::files::write_atomic_unsynced_with(&self.file, |w| Ok(encoded.write_to(w)?));
        if let Err(e) = written {
            say!("note: {}", self.io(e));
        }
    }

    fn io(&self, source: anyhow::Error) -> CacheError {
        CacheError::Io {
            file: self.file.clone(),
            source,
        }
    }
}

/// Whether an entry of `needed` bytes fits on a disk with `free` bytes and leaves the reserve.
fn room(needed: u64, free: u64) -> bool {
    needed
        .checked_add(DISK_RESERVE)
        .is_some_and(|total| total <= free)
}

/// `file` mapped into memory, read-only.
#[allow(unsafe_code)]
fn map(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: memmap2 marks mapping unsafe because the bytes may change while mapped if another
    // process writes the file. burnfit never writes an entry in place (a new entry is a new file
    // renamed over the old name; the mapped old one lives on unchanged), and the folder is this
    // user's alone (`folder::check`). The row numbers, codes and labels are copied out and
    // checked against the stored checksum after copying; the numeric columns stay in the map
    // for the run (so a table read from the cache needs no memory of its own) and are checked
    // where they lie, so only a change by the user's own hand during the run, to a file in a
    // private folder, could change them after the check. Truncating the mapped file by hand
    // would end the process with SIGBUS: the hazard accepted, as for every mapped file.
    unsafe { memmap2::MmapOptions::new().map(file) }
}

/// The file system's identity of a file.
#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    Identity {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
    }
}

/// Off Unix there is no inode: never equal to anything, so nothing is reused.
#[cfg(not(unix))]
fn identity(m: &std::fs::Metadata) -> Identity {
    Identity {
        dev: 0,
        ino: 0,
        size: m.len(),
        mtime_ns: i64::MIN,
        ctime_ns: now_ns(),
    }
}

/// Nanoseconds since 1970.
fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// This program: its version and its executable's size and modification time.
fn program() -> String {
    static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let exe = std::env::current_exe()
                .and_then(std::fs::metadata)
                .map(|m| {
                    let t = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    format!("{} bytes, {t}", m.len())
                })
                .unwrap_or_default();
            format!("burnfit {} ({exe})", env!("CARGO_PKG_VERSION"))
        })
        .clone()
}

/// FNV-1a over `parts`: a short, stable file name (the key inside the file decides).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_written_only_with_a_reserve_left_on_the_disk() {
        assert!(room(10, DISK_RESERVE + 10));
        assert!(!room(11, DISK_RESERVE + 10));
        assert!(!room(u64::MAX, u64::MAX));
    }

    /// A stand-in for the loader: the file's bytes as one numeric column, with its checksum.
    fn parse(path: &Path) -> Table {
        let bytes = std::fs::read(path).unwrap();
        Table {
            origin: path.display().to_string(),
            header: vec!["x".into()],
            columns: vec![crate::data::Column::Numeric {
                name: "x".into(),
                values: bytes.iter().map(|&b| f32::from(b)).collect(),
            }],
            label_names: vec!["y".into()],
            labels: None,
            label_map: None,
            rows: (2..2 + bytes.len() as u64).collect(),
            checksum: Some(crate::data::table::parquet::checksum(path).unwrap()),
        }
    }

    fn spec() -> LoadSpec {
        LoadSpec {
            labels: vec!["y".into()],
            label_column: crate::data::LabelColumn::Ignored,
            label_rule: crate::data::LabelRule::Known(crate::data::LabelMap::Regression),
            selection: crate::data::Selection::AllExcept(Vec::new()),
            categorical: Vec::new(),
        }
    }

    #[test]
    fn a_racy_entry_is_used_only_while_the_file_s_bytes_match_it() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join("cache");
        folder::ready(&dir).unwrap();
        let data = tmp.path().join("d.csv");
        std::fs::write(&data, b"abc").unwrap();
        let first = Entry::in_folder(&dir, &data, &spec()).unwrap();
        assert!(first.read(&data).unwrap().is_none());
        let old = parse(&data);
        first.store(&data, &old);
        // Just written, so racy: used after its bytes are checked.
        let hit = Entry::in_folder(&dir, &data, &spec()).unwrap().read(&data);
        assert_eq!(format!("{:?}", hit.unwrap().unwrap()), format!("{old:?}"));
        // The file changes without changing its times (within one timestamp tick): stored
        // here as an entry of the old table under the file's new identity.
        std::fs::write(&data, b"abd").unwrap();
        let same_times = Entry::in_folder(&dir, &data, &spec()).unwrap();
        same_times.store(&data, &old);
        let again = Entry::in_folder(&dir, &data, &spec()).unwrap();
        assert!(again.read(&data).unwrap().is_none(), "the bytes decide");
        // A table whose entry is older than the margin is trusted by identity alone.
        let mut late = Entry::in_folder(&dir, &data, &spec()).unwrap();
        late.read_at_ns += 2 * RACY_NS;
        let new = parse(&data);
        late.store(&data, &new);
        let trusted = Entry::in_folder(&dir, &data, &spec()).unwrap().read(&data);
        assert_eq!(
            format!("{:?}", trusted.unwrap().unwrap()),
            format!("{new:?}")
        );
    }

    #[test]
    fn an_entry_is_racy_when_read_within_the_timestamp_margin_of_a_change() {
        let e = Entry {
            file: PathBuf::from("x"),
            key: Key {
                format: format::FORMAT,
                program: program(),
                source: Identity {
                    dev: 0,
                    ino: 0,
                    size: 0,
                    mtime_ns: 10 * RACY_NS,
                    ctime_ns: 20 * RACY_NS,
                },
                spec: String::new(),
            },
            read_at_ns: 0,
        };
        assert!(e.racy(20 * RACY_NS));
        assert!(e.racy(21 * RACY_NS - 1));
        assert!(!e.racy(21 * RACY_NS));
    }
}
