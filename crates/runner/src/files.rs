//! The one way burnfit puts bytes on disk. Every file goes through a temporary with an
//! unpredictable name, created exclusively in the target's own folder, flushed and renamed over
//! the target; nothing but a regular file is ever replaced; logs are appended without following
//! links; scratch folders are fresh and private.
//!
//! Why so strict: burnfit writes into shared folders (one sweep folder for a whole job array,
//! runs other users can reach, jobs run as root). There a temporary whose name another user can
//! guess, or a write that follows a symbolic link, lets that user turn a write of ours into a
//! write of any file we may write; and `--force` over a device node (a copy of `/dev/null`)
//! would turn the node into a regular file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// What `path` is when it exists and is not a regular file (`"a symbolic link"`, `"a character
/// device"`, …); `None` for a regular file or nothing at all. A link is named as a link, not by
/// what it points at: a link is never written through.
pub(crate) fn not_regular(path: &Path) -> Option<&'static str> {
    let meta = fs::symlink_metadata(path).ok()?;
    kind(&meta.file_type())
}

/// The words for a file type that is not a regular file.
fn kind(t: &fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_symlink() {
        return Some("a symbolic link");
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// `Err` when `path` exists and is not a regular file: the only kind burnfit replaces.
pub(crate) fn refuse_unless_regular(path: &Path) -> Result<()> {
    if let Some(what) = not_regular(path) {
        bail!(
            "{} is {what}, not a regular file; burnfit replaces only regular files, even with --force",
            path.display()
        );
    }
    Ok(())
}

/// The folder a file at `path` lives in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A builder for temporaries named `NAME<random>.tmp`, created with `mode` less the umask
/// (0666 for a file, 0777 for a folder): what `File::create` and `create_dir` would give, so a
/// run's files stay as readable to the user's group as before, where tempfile's default is
/// private to the owner.
fn builder(name: &str, mode: u32) -> tempfile::Builder<'_, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(name).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    b
}

/// Writes `bytes` to `path` atomically ([`write_atomic_with`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Streams what `fill` writes to `path` atomically: a temporary created exclusively (`O_EXCL`,
/// a random name) in `path`'s folder, fsync, rename. `path` must be a regular file or nothing;
/// anything else (a link, a device, a FIFO, a folder) is refused before and again just before
/// the rename. On any error the temporary is removed and `path` is untouched.
///
/// Several processes may write the same file of a shared folder at once (a sweep's plan, from
/// every task of a job array): each writes its own temporary and the last rename wins whole.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    write_renamed(path, true, fill)
}

/// [`write_atomic_with`] without the fsync: for a file that is checked whole whenever it is read
/// and may be lost (a parsed-data cache entry, which carries its own checksums): a crash before
/// its bytes reach the disk leaves an entry that fails its check and is rewritten, and the
/// fsync of a 400 MB entry costs seconds.
pub(crate) fn write_atomic_unsynced_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    write_renamed(path, false, fill)
}

/// The temporary, the write, the flush (with `sync`, to the disk too) and the rename.
fn write_renamed(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    refuse_unless_regular(path)?;
    // A stop signal while the temporary exists is stored, not obeyed at once: the process ends
    // after the temporary is renamed or removed, never with it left behind. A long `fill`
    // polls `crate::stop::check` itself.
    let _graceful = crate::stop::Graceful::enter();
    let dir = folder_of(path);
    let name = path
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .unwrap_or_else(|| ".burnfit.".to_string());
    let tmp = builder(&name, 0o666).tempfile_in(dir).with_context(|| {
        format!(
            "cannot write {}: cannot create a temporary file in {}",
            path.display(),
            dir.display()
        )
    })?;
    let shown = tmp.path().display().to_string();
    let handle = tmp
        .as_file()
        .try_clone()
        .with_context(|| format!("cannot write {shown}"))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, WriteBack::new(tmp, handle));
    fill(&mut w).with_context(|| format!("cannot write {shown}"))?;
    // Dropping the temporary on any error below removes it.
    let tmp = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {shown}"))?
        .inner;
    if sync {
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot flush {shown}"))?;
    }
    // The target may have changed while we wrote (a link planted meanwhile): checked again. A
    // rename replaces a link itself, never its target, so what remains is only the rule.
    refuse_unless_regular(path)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot rename {shown} to {}", path.display()))?;
    Ok(())
}

/// A writer that hands what it wrote to the disk and waits for it every [`WRITE_BACK`] bytes.
/// A memory cgroup (a Slurm job's `--mem`, a container's limit) counts the page cache's dirty
/// pages against the job and cannot reclaim them before they are written: a file of gigabytes
/// (a parsed-data cache entry, a column spilled while parsing) written at once would end the
/// job. Files smaller than that never wait.
pub(crate) struct WriteBack<W> {
    /// Where the bytes go.
    pub(crate) inner: W,
    /// The same file, to sync.
    file: fs::File,
    /// Bytes written since the last sync.
    dirty: u64,
}

/// How much a [`WriteBack`] writes between syncs.
pub(crate) const WRITE_BACK: u64 = 64 << 20;

impl<W> WriteBack<W> {
    /// `inner`, synced through `file` (a handle to the same file).
    pub(crate) fn new(inner: W, file: fs::File) -> Self {
        Self {
            inner,
            file,
            dirty: 0,
        }
    }
}

impl<W: Write> Write for WriteBack<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.dirty += n as u64;
        if self.dirty >= WRITE_BACK {
            self.inner.flush()?;
            self.file.sync_data()?;
            self.dirty = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A fresh folder `.NAME.<random>.tmp` inside `dir`, made exclusively (it cannot already
/// exist, so nobody else can have prepared it), removed when dropped unless kept. Its
/// permissions are an ordinary folder's (0777 less the umask): it becomes a checkpoint.
pub(crate) fn temp_dir_in(dir: &Path, name: &str) -> Result<tempfile::TempDir> {
    builder(&format!(".{name}."), 0o777)
        .tempdir_in(dir)
        .with_context(|| format!("cannot create a temporary folder in {}", dir.display()))
}

/// Makes the folder `path` (and its parents) if missing, and refuses it when it is a link or
/// not a folder: for the folders inside a run (`checkpoints/`, `explain/`), whose names
/// anyone can guess, so that a link planted in their place cannot carry a run's writes
/// elsewhere.
pub(crate) fn own_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => bail!(
            "{} is {}, not a folder; burnfit writes only into real folders there",
            path.display(),
            kind(&m.file_type()).unwrap_or("a file")
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A fresh private scratch folder (mode 0700, random name) in the system's temporary folder,
/// removed when dropped. Never a folder someone else made beforehand.
pub(crate) fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .with_context(|| {
            format!(
                "cannot create a scratch folder in {}",
                std::env::temp_dir().display()
            )
        })
}

/// Checks that a folder can take new files by creating (exclusively, under a random name) and
/// removing a temporary in it: a planted link under a guessable name cannot redirect it.
pub(crate) fn probe_writable(dir: &Path) -> Result<()> {
    builder(".write-test.", 0o666)
        .tempfile_in(dir)
        .map(drop)
        .with_context(|| format!("{} is not writable", dir.display()))
}

/// `O_NOFOLLOW | O_NONBLOCK`: a final component that is a link fails (`ELOOP`) instead of being
/// followed, and a FIFO planted under the name fails instead of blocking the open.
#[cfg(unix)]
fn no_follow(o: &mut fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    o.custom_flags(flags.bits() as i32).mode(0o666);
}

#[cfg(not(unix))]
fn no_follow(_: &mut fs::OpenOptions) {}

/// Opens `path` with `options`, never through a link, and only when it is (or becomes) a
/// regular file: what [`open_append`], [`read_own`] and the folder lock share.
pub(crate) fn open_regular(
    path: &Path,
    options: &mut fs::OpenOptions,
) -> std::io::Result<fs::File> {
    if let Some(what) = not_regular(path) {
        return Err(std::io::Error::other(format!(
            "{} is {what}, not a regular file",
            path.display()
        )));
    }
    no_follow(options);
    let file = options.open(path)?;
    // Between the check and the open the name may have been swapped: the open file decides.
    if let Some(what) = kind(&file.metadata()?.file_type()) {
        return Err(std::io::Error::other(format!(
            "{} is {what}, not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// Opens a log for appending (created if missing), without following a link planted under
/// its name and refusing anything but a regular file.
pub(crate) fn open_append(path: &Path) -> Result<fs::File> {
    open_regular(path, fs::OpenOptions::new().create(true).append(true))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The most a config file may hold (a real one is a few kB): `--config`, a run's
/// `config.toml`, a sweep's `base.toml`.
pub(crate) const CONFIG_LIMIT: u64 = 16_000_000;

/// The most one of burnfit's JSON files may hold (`summary.json`, `model.json`,
/// `preprocess.json` with its vocabularies, `sweep.json`).
pub(crate) const JSON_LIMIT: u64 = 256_000_000;

/// Reads the whole of `path` when it holds at most `limit` bytes. The size of a regular file is
/// checked before anything is read, so a 3 GB file given as a config costs nothing; a stream
/// (a pipe, `/dev/zero`) is read up to the limit and no further. The error says the size and
/// the limit in words, never the contents: `kind` names what the file should be. Callers add
/// the path.
pub(crate) fn read_limited(path: &Path, limit: u64, kind: &str) -> std::io::Result<Vec<u8>> {
    read_up_to(fs::File::open(path)?, limit, kind)
}

/// [`read_limited`] for a file burnfit itself wrote inside a folder others may reach (a run's
/// `model.json`, a checkpoint's weights, a sweep's plan): a link planted under the name, a
/// FIFO or a device is refused instead of followed or read. A user's own `--config` may be a
/// link they made, and [`read_limited`] follows it.
pub(crate) fn read_own(path: &Path, limit: u64, kind: &str) -> std::io::Result<Vec<u8>> {
    read_up_to(
        open_regular(path, fs::OpenOptions::new().read(true))?,
        limit,
        kind,
    )
}

fn read_up_to(file: fs::File, limit: u64, kind: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_big = |size: String| {
        std::io::Error::other(format!(
            "the file {size} more than the {} a {kind} may be; is it the right file?",
            crate::resources::human(limit)
        ))
    };
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_big(format!(
            "is {},",
            crate::resources::human(meta.len())
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big("holds".to_string()));
    }
    Ok(bytes)
}

/// `path`'s temporaries left by a killed writer: the `.NAME_PREFIX*.tmp` entries of `dir`.
pub(crate) fn leftover_temporaries(dir: &Path, name_prefix: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with(&format!(".{name_prefix}")) && n.ends_with(".tmp")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let tmp = tempfile::TempDir::new().unwrap();
        let p = tmp.path().join("f.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // A failed fill leaves the old file and no temporary.
        let err = write_atomic_with(&p, |_| bail!("no")).unwrap_err();
        assert!(format!("{err:#}").contains("no"));
        assert_eq!(fs::read(&p).unwrap(), b"second");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn links_folders_and_fifos_are_never_replaced_or_written_through() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path();
        let target = d.join("target.txt");
        fs::write(&target, b"keep").unwrap();
        let link = d.join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_atomic(&link, b"x").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let err = open_append(&link).unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let err = write_atomic(d, b"x").unwrap_err().to_string();
        assert!(err.contains("a folder"), "{err}");
        let fifo = d.join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let err = write_atomic(&fifo, b"x").unwrap_err().to_string();
        assert!(err.contains("FIFO"), "{err}");
        let err = open_append(&fifo).unwrap_err();
        assert!(format!("{err:#}").contains("FIFO"), "{err:#}");
        // Only what was there before: no temporary left behind.
        assert_eq!(fs::read_dir(d).unwrap().count(), 3);
    }

    #[test]
    fn temporaries_have_unpredictable_names_and_logs_append() {
        let tmp = tempfile::TempDir::new().unwrap();
        let a = temp_dir_in(tmp.path(), "x").unwrap();
        let b = temp_dir_in(tmp.path(), "x").unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".x.") && name.ends_with(".tmp"), "{name}");
        let log = tmp.path().join("l.log");
        open_append(&log).unwrap().write_all(b"a").unwrap();
        open_append(&log).unwrap().write_all(b"b").unwrap();
        assert_eq!(fs::read(&log).unwrap(), b"ab");
        probe_writable(tmp.path()).unwrap();
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
    }

    #[test]
    fn reads_past_their_limit_are_refused_by_size_or_after_the_limit_for_streams() {
        let tmp = tempfile::TempDir::new().unwrap();
        let p = tmp.path().join("c.toml");
        fs::write(&p, vec![b'#'; 2000]).unwrap();
        assert_eq!(read_limited(&p, 2000, "config file").unwrap().len(), 2000);
        let err = read_limited(&p, 1999, "config file")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the file is 2000 bytes, more than the 1999 bytes a config file may be"),
            "{err}"
        );
        // A device that never ends is read up to the limit only.
        let err = read_limited(Path::new("/dev/zero"), 1_000_000, "config file")
            .unwrap_err()
            .to_string();
        assert!(err.contains("the file holds more than the 1.0 MB"), "{err}");
    }
}
