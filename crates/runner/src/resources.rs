//! Memory and disk: big allocations and big files are estimated before they are made and refused
//! with the numbers, instead of ending in the allocator's abort, the kernel's out-of-memory
//! killer, or a full disk halfway through.

use std::path::Path;

/// A plan that needs more memory (or disk) than the machine has free.
#[derive(Debug, thiserror::Error)]
#[error("{what} needs about {} but {} is available{}; {hint}", human(*.needed), human(*.available), .cause.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub(crate) struct TooBig {
    /// What would be allocated, in the user's terms.
    pub(crate) what: String,
    /// The estimate, in bytes.
    pub(crate) needed: u64,
    /// The memory available, in bytes.
    pub(crate) available: u64,
    /// How the estimate is made up, if it helps.
    pub(crate) cause: Option<String>,
    /// What to change.
    pub(crate) hint: String,
}

/// Bytes as the user reads them: `1.5 GB`.
pub(crate) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match b {
        b if b >= 1e12 => format!("{:.1} TB", b / 1e12),
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        _ => format!("{bytes} bytes"),
    }
}

/// A size set in binary units as the user reads it: `16 MiB` for a whole number of MiB (the
/// limits the docs name so), else as [`human`] writes it.
pub(crate) fn human_binary(bytes: u64) -> String {
    if bytes > 0 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        human(bytes)
    }
}

/// The memory this process can still take: the least of Linux's `MemAvailable` and the room
/// left under every memory cgroup limit that holds the process (a Slurm job's `--mem`, a
/// container's limit), where the kernel would otherwise end the process long before the
/// machine ran out; `u64::MAX` where none can be read (no refusal).
pub(crate) fn available() -> u64 {
    let machine = proc_kib("/proc/meminfo", "MemAvailable:").unwrap_or(u64::MAX);
    machine.min(cgroup::room().unwrap_or(u64::MAX))
}

/// The most one large structure of a run (a table's columns as they are parsed, an input
/// matrix) may hold in memory: half the memory available, and never more than this. Past it
/// the structure lives in mapped files in the private folder, so a run's own memory stays
/// about 1 GB (a table's half, a matrix's half) whatever the number of rows, on any machine.
pub(crate) const RESIDENT_MOST: u64 = 512 << 20;

/// [`RESIDENT_MOST`], or half the memory available when that is less.
pub(crate) fn resident_room() -> u64 {
    (available() / 2).min(RESIDENT_MOST)
}

/// [`resident_room`] in words, for the notes that say something went to a file: `512 MB`, or
/// `300 MB: half the memory available`.
pub(crate) fn resident_words() -> String {
    let room = resident_room();
    if room < RESIDENT_MOST {
        format!("{}: half the memory available", human(room))
    } else {
        human_binary(room)
    }
}

/// Memory cgroup limits, v1 and v2, read the way the kernel applies them: a process is held by
/// its own cgroup and each one above it, and the tightest of their limits is the one that
/// ends it.
mod cgroup {
    use std::path::{Path, PathBuf};

    /// The controller files of one cgroup version.
    struct Files {
        limit: &'static str,
        usage: &'static str,
        /// `memory.stat`'s page cache, active and inactive: counted in the usage, but the kernel
        /// reclaims it before it ends a process (the active list is aged into the inactive
        /// one), so not memory taken. A cgroup that has written and read gigabytes of files (a
        /// cache entry, a table kept in files) holds them there.
        file: [&'static str; 2],
        /// The part of it that must be written first: dirty and under writeback.
        unwritten: [&'static str; 2],
    }

    const V1: Files = Files {
        limit: "memory.limit_in_bytes",
        usage: "memory.usage_in_bytes",
        file: ["total_inactive_file", "total_active_file"],
        unwritten: ["total_dirty", "total_writeback"],
    };

    const V2: Files = Files {
        limit: "memory.max",
        usage: "memory.current",
        file: ["inactive_file", "active_file"],
        unwritten: ["file_dirty", "file_writeback"],
    };

    /// The least room (limit − usage not reclaimable) of the memory cgroups that hold this
    /// process; `None` when there is none with a limit, or off Linux.
    pub(super) fn room() -> Option<u64> {
        let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mut least: Option<u64> = None;
        for line in membership.lines() {
            // `ID:controllers:path`; v2 has no controllers.
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let (files, dir) = if controllers.is_empty() {
                (&V2, hierarchy_dir(&mounts, "cgroup2", None, path))
            } else if controllers.split(',').any(|c| c == "memory") {
                (&V1, hierarchy_dir(&mounts, "cgroup", Some("memory"), path))
            } else {
                continue;
            };
            let Some((root, mut dir)) = dir else {
                continue;
            };
            // This cgroup and each one above it, up to the hierarchy's root.
            loop {
                if let Some(room) = room_in(&dir, files) {
                    least = Some(least.map_or(room, |l| l.min(room)));
                }
                if dir == root || !dir.pop() {
                    break;
                }
            }
        }
        least
    }

    /// The folder of cgroup `path` in the hierarchy mounted with `fstype` (and, for v1, the
    /// `controller` among its options), with the mount point: `/proc/self/mountinfo` lines read
    /// `id parent dev root mountpoint options ... - fstype source superoptions`.
    fn hierarchy_dir(
        mounts: &str,
        fstype: &str,
        controller: Option<&str>,
        path: &str,
    ) -> Option<(PathBuf, PathBuf)> {
        for line in mounts.lines() {
            let Some((before, after)) = line.split_once(" - ") else {
                continue;
            };
            let mut after = after.split(' ');
            let (kind, _, options) = (after.next()?, after.next()?, after.next().unwrap_or(""));
            if kind != fstype || controller.is_some_and(|c| !options.split(',').any(|o| o == c)) {
                continue;
            }
            let fields: Vec<&str> = before.split(' ').collect();
            let (root, point) = (*fields.get(3)?, PathBuf::from(fields.get(4)?));
            // A mount of a sub-tree (a container's view) shows paths below its own root.
            let rest = path
                .strip_prefix(root)
                .unwrap_or(path)
                .trim_start_matches('/');
            let dir = point.join(rest);
            return Some((point, dir));
        }
        None
    }

    /// The room under one cgroup's limit; `None` without a limit (`max`, or v1's huge number).
    fn room_in(dir: &Path, files: &Files) -> Option<u64> {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let limit: u64 = read(files.limit)?.trim().parse().ok()?;
        // v1 writes "no limit" as the largest page-aligned i64.
        if limit >= (1 << 62) {
            return None;
        }
        let usage: u64 = read(files.usage)?.trim().parse().ok()?;
        let stat = read("memory.stat").unwrap_or_default();
        let sum = |keys: &[&str]| -> u64 {
            stat.lines()
                .filter_map(|l| {
                    let (key, value) = l.split_once(' ')?;
                    keys.contains(&key)
                        .then(|| value.trim().parse::<u64>().ok())?
                })
                .sum()
        };
        let reclaimable = sum(&files.file).saturating_sub(sum(&files.unwritten));
        Some(limit.saturating_sub(usage.saturating_sub(reclaimable)))
    }
}

/// Hands the memory freed so far back to the system at once. mimalloc, the global allocator,
/// returns a freed block only after a delay and on a later allocation, so the data stage's
/// large temporaries (the table's labels and the row index vectors: hundreds of MB at 20M rows)
/// would stay in the process through training, where a memory cgroup needs that memory for the
/// page cache of a table kept in files.
pub(crate) fn release_freed() {
    extern "C" {
        /// mimalloc's own entry point (`mimalloc.h`): frees what it holds unused, and with
        /// `force` returns it to the system without waiting.
        fn mi_collect(force: bool);
    }
    // SAFETY: mimalloc is linked in as the global allocator (`main.rs`); `mi_collect` takes no
    // pointers, may be called from any thread at any time, and changes no live allocation.
    #[allow(unsafe_code)]
    unsafe {
        mi_collect(true);
    }
}

/// A `KEY: N kB` line of a Linux `/proc` file (`/proc/meminfo`, `/proc/self/status`), in
/// bytes; `None` off Linux or when the line is absent. The one reader of such lines.
pub(crate) fn proc_kib(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// `Err` when `needed` bytes exceed what is available.
pub(crate) fn check(
    what: &str,
    needed: u64,
    cause: Option<String>,
    hint: &str,
) -> Result<(), TooBig> {
    let available = available();
    if needed > available {
        return Err(TooBig {
            what: what.to_string(),
            needed,
            available,
            cause,
            hint: hint.to_string(),
        });
    }
    Ok(())
}

/// Bytes free for this user on the file system that holds `path` (or its nearest existing
/// folder); `u64::MAX` where that cannot be asked.
pub(crate) fn disk_available(path: &Path) -> u64 {
    #[cfg(unix)]
    {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(dir) = abs.ancestors().find(|a| a.is_dir()) {
            if let Ok(st) = rustix::fs::statvfs(dir) {
                return st.f_bavail.saturating_mul(st.f_frsize);
            }
        }
    }
    let _ = path;
    u64::MAX
}

/// `Err` when a file of about `needed` bytes would not fit where `path` goes.
pub(crate) fn check_disk(path: &Path, needed: u64, hint: &str) -> Result<(), TooBig> {
    let available = disk_available(path);
    if needed > available {
        return Err(TooBig {
            what: format!("{}", path.display()),
            needed,
            available,
            cause: Some("free disk space".into()),
            hint: hint.to_string(),
        });
    }
    Ok(())
}

/// `a × b × c` bytes, saturating (an estimate beyond u64 is simply too big).
pub(crate) fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, &f| acc.saturating_mul(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_beyond_the_machine_is_refused_with_both_numbers() {
        let err = check("a test", u64::MAX - 1, Some("much".into()), "ask for less").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("a test needs about") && text.contains("TB"),
            "{text}"
        );
        assert!(
            text.contains("available") && text.contains("ask for less"),
            "{text}"
        );
        assert!(check("a test", 1, None, "").is_ok());
        assert_eq!(product(&[u64::MAX, 2]), u64::MAX);
        assert_eq!(human(1_500_000_000), "1.5 GB");
    }
}
