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

/// The memory this process can still take: Linux's `MemAvailable`, or, where that cannot be
/// read, `u64::MAX` (no refusal).
pub(crate) fn available() -> u64 {
    proc_kib("/proc/meminfo", "MemAvailable:").unwrap_or(u64::MAX)
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
