//! Where the cache lives, and whether that folder is safe to trust.
//!
//! The folder is treated as shared and burnfit as run by root (docs/RELIABILITY.md): an entry
//! read from it becomes a table that trains a model, so nobody but this user may be able to put
//! a file there. The folder is made mode 0700; an existing one must be a real folder (not a
//! link), owned by this user and writable by nobody else, or the cache is not used.

use std::path::{Path, PathBuf};

use super::CacheError;

/// The default folder: `$XDG_CACHE_HOME/burnfit`, else `$HOME/.cache/burnfit` (the XDG base
/// directory rules: a relative `XDG_CACHE_HOME` is ignored); `None` with neither.
pub(super) fn default_dir() -> Option<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|h| h.join(".cache")))
        .map(|base| base.join("burnfit"))
}

/// Makes `dir` (mode 0700, its missing parents as ordinary folders) if it is missing, then
/// checks that it may be trusted ([`check`]).
#[cfg(unix)]
pub(super) fn ready(dir: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::DirBuilderExt;
    let refused = |why: String| CacheError::Folder {
        dir: dir.to_path_buf(),
        why,
    };
    if std::fs::symlink_metadata(dir).is_err() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| refused(format!("cannot create {}: {e}", parent.display())))?;
        }
        // Another process may make it at the same moment: then it is checked like any other.
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(refused(format!("cannot create it: {e}"))),
        }
    }
    check(dir)
}

/// No cache off Unix: the ownership and permission checks above have no portable equivalent.
#[cfg(not(unix))]
pub(super) fn ready(dir: &Path) -> Result<(), CacheError> {
    Err(CacheError::Folder {
        dir: dir.to_path_buf(),
        why: "the cache needs a Unix system's file ownership checks".into(),
    })
}

/// `Ok` when `dir` is a real folder (its last component not a link), owned by this process's
/// effective user, and writable by no group or other user. A link is refused even when it
/// points at a good folder: whoever could replace the link could replace its target.
#[cfg(unix)]
fn check(dir: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    let refused = |why: String| CacheError::Folder {
        dir: dir.to_path_buf(),
        why,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| refused(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(refused(
            "it is a symbolic link; the cache is used only in a real folder".into(),
        ));
    }
    if !meta.is_dir() {
        return Err(refused("it is not a folder".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(refused(format!(
            "it belongs to user {}, not to this user ({me}); only a folder of one's own is trusted",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refused(format!(
            "other users may write into it (mode {:o}); `chmod 700` it",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_folder_is_private_and_links_or_open_folders_are_refused() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join("a/b/burnfit");
        ready(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Again: an existing good folder is fine.
        ready(&dir).unwrap();

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = ready(&link).unwrap_err().to_string();
        assert!(
            err.contains("symbolic link") && err.contains("link"),
            "{err}"
        );

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = ready(&open).unwrap_err().to_string();
        assert!(err.contains("mode 777"), "{err}");

        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = ready(&file).unwrap_err().to_string();
        assert!(err.contains("not a folder"), "{err}");
    }
}
