//! One writer per folder: an advisory lock (`flock`, through `File::try_lock`) on
//! `FOLDER/.burnfit.lock`, held by every process that writes a run, cv or sweep folder for as
//! long as it writes it. A second writer is refused at once, naming the holder's pid and start.
//!
//! The operating system releases the lock when its holder dies, however it dies, so a lock left
//! by a killed process never needs cleaning by hand; the file itself stays (removing it would
//! race with a process opening it). Files are opened close-on-exec, so the children of a cv or
//! sweep parent do not inherit the parent's lock.

use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::files;

/// The lock file's name in each folder it guards. Not a run's file: the checks for an empty
/// folder and for "is this a run" pass over it.
pub(crate) const LOCK: &str = ".burnfit.lock";

/// How a folder is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The only writer (a run, a cv parent, a sweep on one machine).
    Exclusive,
    /// One of several cooperating writers, none of which may run beside an exclusive one (the
    /// tasks of a job array sharing one sweep folder, each training its own trial).
    Shared,
}

/// Who holds a lock, as it wrote itself into the lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Holder {
    /// Its process id, when recorded and still alive.
    pub(crate) pid: Option<u32>,
    /// When it took the lock (RFC 3339, UTC).
    pub(crate) started: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pid, &self.started) {
            (Some(pid), Some(t)) => write!(f, "pid {pid}, started {t}"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            // Shared holders (job-array tasks) do not record themselves.
            _ => write!(f, "pid not recorded"),
        }
    }
}

/// A folder another live process is writing.
#[derive(Debug, thiserror::Error)]
#[error("{} is being written by another burnfit process ({holder}); wait for it to finish or stop it", .folder.display())]
pub(crate) struct Busy {
    /// The folder.
    pub(crate) folder: PathBuf,
    /// Who holds it.
    pub(crate) holder: Holder,
}

/// A held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub(crate) struct FolderLock {
    /// The folder itself, locked: the lock that counts. Nobody can delete a folder's lock out
    /// from under its holder (a lock file can be removed, and a second writer would then lock
    /// a new file of the same name).
    _folder: File,
    /// The open lock file, locked too: it carries the holder's pid and start for the message
    /// a second writer gets.
    _file: File,
}

/// Takes `lock` on the open `file` (a folder or the lock file) in `mode`.
fn try_take(file: &File, mode: Mode) -> Result<(), fs::TryLockError> {
    match mode {
        Mode::Exclusive => file.try_lock(),
        Mode::Shared => file.try_lock_shared(),
    }
}

/// Opens (creating it if need be) `folder`'s lock file without following a link planted under
/// its name. A lock file made by another user may be read-only to us: `flock` works on a
/// read-only descriptor too, we only cannot record ourselves in it.
fn open_lock_file(folder: &Path) -> Result<(File, bool)> {
    let path = folder.join(LOCK);
    let open = |write: bool| {
        let mut o = fs::OpenOptions::new();
        o.read(true);
        if write {
            o.write(true).create(true);
        }
        files::open_regular(&path, &mut o)
    };
    match open(true) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && path.exists() => {
            let f = open(false).with_context(|| format!("cannot open {}", path.display()))?;
            Ok((f, false))
        }
        Err(e) => Err(e).with_context(|| format!("cannot lock {}", folder.display())),
    }
}

impl FolderLock {
    /// `Err` when the folder's path no longer names the folder this lock holds: it was moved,
    /// deleted or replaced while we wrote it. Writes by path would then land in another folder
    /// (one another process may hold) or recreate half a folder, so the writer stops instead.
    pub(crate) fn still_at(&self, folder: &Path) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let held = self
                ._folder
                .metadata()
                .context("cannot read the locked folder")?;
            let now = fs::symlink_metadata(folder).ok();
            if now.is_none_or(|m| !m.is_dir() || m.dev() != held.dev() || m.ino() != held.ino()) {
                anyhow::bail!(
                    "{} was moved, deleted or replaced while this run wrote it; stopping rather than writing into whatever holds its name now",
                    folder.display()
                );
            }
        }
        #[cfg(not(unix))]
        let _ = folder;
        Ok(())
    }

    /// Takes `folder`'s lock, or fails at once with [`Busy`] when another process holds it in a
    /// way that excludes `mode`. An exclusive holder records its pid and the time.
    pub(crate) fn acquire(folder: &Path, mode: Mode) -> Result<Self> {
        let (mut file, writable) = open_lock_file(folder)?;
        // A link in the folder's place is not the folder: refused, as for every file of a run.
        if fs::symlink_metadata(folder).is_ok_and(|m| !m.is_dir()) {
            anyhow::bail!("{} is not a folder burnfit can lock", folder.display());
        }
        let dir =
            File::open(folder).with_context(|| format!("cannot lock {}", folder.display()))?;
        let taken = try_take(&dir, mode).and_then(|()| try_take(&file, mode));
        match taken {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Busy {
                    folder: folder.to_path_buf(),
                    holder: read_holder(&mut file),
                }
                .into())
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", folder.display()))
            }
        }
        if mode == Mode::Exclusive && writable {
            // Best effort: the lock holds whether or not the note is written.
            let note = format!(
                "pid {}\nstarted {}\n",
                std::process::id(),
                crate::run::now_rfc3339()
            );
            let _ = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(note.as_bytes()));
        }
        Ok(Self {
            _folder: dir,
            _file: file,
        })
    }
}

/// The holder an exclusive lock recorded; a pid whose process is gone (a shared holder took
/// over a file an old exclusive one wrote) is not reported.
fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.rewind();
    // The file is ours and tiny; a larger one was not written by burnfit.
    let _ = file.take(256).read_to_string(&mut text);
    let mut holder = Holder::default();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("pid ") {
            holder.pid = p.trim().parse().ok();
        } else if let Some(t) = line.strip_prefix("started ") {
            holder.started = Some(t.trim().to_string());
        }
    }
    if !holder.pid.is_some_and(alive) {
        holder = Holder::default();
    }
    holder
}

/// Whether a process with this id exists (a signal-0 probe; `EPERM` means it exists but is
/// another user's).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        match rustix::process::test_kill_process(pid) {
            Ok(()) => true,
            Err(e) => e == rustix::io::Errno::PERM,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Who holds `folder` exclusively right now, if anyone: what a cv or sweep parent asks before
/// starting a fold or trial there. Probes with a shared lock released at once; the child takes
/// the real lock itself, so a race between the probe and the start is still refused there.
pub(crate) fn holder(folder: &Path) -> Option<Holder> {
    if !folder.is_dir() {
        return None;
    }
    let dir = File::open(folder).ok()?;
    let held = matches!(dir.try_lock_shared(), Err(fs::TryLockError::WouldBlock));
    let mut o = fs::OpenOptions::new();
    o.read(true);
    let file = files::open_regular(&folder.join(LOCK), &mut o).ok();
    let file_held = file
        .as_ref()
        .is_some_and(|f| matches!(f.try_lock_shared(), Err(fs::TryLockError::WouldBlock)));
    if !(held || file_held) {
        return None;
    }
    Some(file.map_or_else(Holder::default, |mut f| read_holder(&mut f)))
}

/// Whether `folder` holds nothing but (possibly) its lock file.
pub(crate) fn is_empty_but_lock(folder: &Path) -> Result<bool> {
    let mut entries =
        fs::read_dir(folder).with_context(|| format!("cannot list {}", folder.display()))?;
    Ok(entries.all(|e| e.is_ok_and(|e| e.file_name() == LOCK)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path();
        let first = FolderLock::acquire(d, Mode::Exclusive).unwrap();
        let err = FolderLock::acquire(d, Mode::Exclusive).unwrap_err();
        let busy = err.downcast_ref::<Busy>().expect("Busy");
        assert_eq!(busy.holder.pid, Some(std::process::id()));
        let text = err.to_string();
        assert!(
            text.contains("being written by another burnfit process (pid ")
                && text.contains("started 20"),
            "{text}"
        );
        assert!(FolderLock::acquire(d, Mode::Shared).is_err());
        assert_eq!(holder(d).and_then(|h| h.pid), Some(std::process::id()));
        drop(first);
        assert!(holder(d).is_none());
        // Shared holders share, and keep an exclusive one out.
        let a = FolderLock::acquire(d, Mode::Shared).unwrap();
        let b = FolderLock::acquire(d, Mode::Shared).unwrap();
        assert!(FolderLock::acquire(d, Mode::Exclusive).is_err());
        drop((a, b));
        let _again = FolderLock::acquire(d, Mode::Exclusive).unwrap();
        assert!(is_empty_but_lock(d).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_as_the_lock_file_is_refused_and_its_target_untouched() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path();
        let target = d.join("precious");
        fs::write(&target, b"keep").unwrap();
        let run = d.join("run");
        fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&target, run.join(LOCK)).unwrap();
        let err = format!(
            "{:#}",
            FolderLock::acquire(&run, Mode::Exclusive).unwrap_err()
        );
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
    }
}
