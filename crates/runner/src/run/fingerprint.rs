//! What data a run trained on: each file's size and CRC32, taken while the data stage reads
//! it (`Table::from_csv`) and recorded when the run starts, so `--resume` can refuse to
//! continue on different data.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One data file as it was when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    /// The config key that names it (`data.path`, `data.validation_path`, `data.test_path`).
    pub(crate) key: String,
    /// The file, as resolved.
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) bytes: u64,
    /// CRC32 of its contents.
    pub(crate) crc32: u32,
}

/// Size and CRC32 of `path`, read in 1 MB blocks.
fn measure(path: &Path) -> Result<(u64, u32)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut hasher, mut bytes, mut buf) = (crc32fast::Hasher::new(), 0u64, vec![0u8; 1 << 20]);
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok((bytes, hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
}

/// Refuses to go on when a file differs from what the run recorded.
pub(crate) fn verify(recorded: &[Fingerprint], run: &Path) -> Result<()> {
    for f in recorded {
        let now = measure(&f.path)
            .with_context(|| format!("cannot resume {}: its {} is gone", run.display(), f.key))?;
        if now != (f.bytes, f.crc32) {
            bail!(
                "cannot resume {}: {} ({}) changed since the run started ({} bytes, CRC32 {:08x}; now {} bytes, CRC32 {:08x}); resuming would continue on other data. Start a new run instead",
                run.display(),
                f.path.display(),
                f.key,
                f.bytes,
                f.crc32,
                now.0,
                now.1
            );
        }
    }
    Ok(())
}

/// The runs among `runs` (a label and its folder) whose recorded data (`data.json`) is not the
/// files as they are now, each with the first difference in words. What a cv or sweep parent
/// checks before continuing, so that finished folds or trials on the old data and new ones on
/// the new are never reported together. A folder without a readable `data.json` (not started,
/// synthetic data) has nothing to compare. Each file is read once, however many runs name it.
pub(crate) fn changed(runs: &[(String, PathBuf)]) -> Vec<(String, String)> {
    let mut now: std::collections::HashMap<PathBuf, Option<(u64, u32)>> = Default::default();
    let mut out = Vec::new();
    for (label, dir) in runs {
        let Ok(recorded) = super::read_json::<Vec<Fingerprint>>(&dir.join(super::DATA)) else {
            continue;
        };
        let first = recorded.iter().find_map(|f| {
            let current = *now
                .entry(f.path.clone())
                .or_insert_with(|| measure(&f.path).ok());
            match current {
                Some(c) if c == (f.bytes, f.crc32) => None,
                Some((bytes, crc)) => Some(format!(
                    "{} ({}) was {} bytes, CRC32 {:08x}, and is now {bytes} bytes, CRC32 {crc:08x}",
                    f.path.display(),
                    f.key,
                    f.bytes,
                    f.crc32
                )),
                None => Some(format!(
                    "{} ({}) is gone or unreadable",
                    f.path.display(),
                    f.key
                )),
            }
        });
        if let Some(why) = first {
            out.push((label.clone(), why));
        }
    }
    out
}

/// `Err` naming every run of `runs` whose data changed ([`changed`]), for a cv or sweep
/// continued in `parent`; `what` names the runs (`folds`, `trials`).
pub(crate) fn refuse_changed(parent: &Path, what: &str, runs: &[(String, PathBuf)]) -> Result<()> {
    let changed = changed(runs);
    if changed.is_empty() {
        return Ok(());
    }
    // Runs that differ the same way (usually all of them, on one replaced file) share a line.
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (label, why) in &changed {
        match groups.iter_mut().find(|(w, _)| *w == why.as_str()) {
            Some((_, labels)) => labels.push(label),
            None => groups.push((why, vec![label])),
        }
    }
    let list: Vec<String> = groups
        .iter()
        .map(|(why, labels)| format!("{}: {why}", labels.join(", ")))
        .collect();
    bail!(
        "cannot continue {}: {} of its {what} trained on data that has changed since ({}); continuing would report runs on two different data sets together. Give a new --out to start over on the current data, or put the old files back to continue",
        parent.display(),
        changed.len(),
        list.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_changed_or_missing_data_are_named_with_the_file() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path();
        let data = d.join("d.csv");
        std::fs::write(&data, "a,y\n1,0\n").unwrap();
        let (bytes, crc32) = measure(&data).unwrap();
        let record = |run: &str, path: &Path| {
            let dir = d.join(run);
            std::fs::create_dir_all(&dir).unwrap();
            let f = vec![Fingerprint {
                key: "data.path".into(),
                path: path.to_path_buf(),
                bytes,
                crc32,
            }];
            std::fs::write(
                dir.join(super::super::DATA),
                serde_json::to_vec(&f).unwrap(),
            )
            .unwrap();
            (run.to_string(), dir)
        };
        let runs = vec![
            record("fold-1", &data),
            record("fold-2", &data),
            record("fold-3", &d.join("gone.csv")),
            ("fold-4".to_string(), d.join("never-started")),
        ];
        let names = |c: Vec<(String, String)>| c.into_iter().map(|(l, _)| l).collect::<Vec<_>>();
        assert_eq!(names(changed(&runs)), ["fold-3"]);
        std::fs::write(&data, "a,y\n1,1\n").unwrap();
        let now = changed(&runs);
        assert_eq!(names(now.clone()), ["fold-1", "fold-2", "fold-3"]);
        assert!(
            now[0].1.contains("d.csv (data.path) was 8 bytes"),
            "{:?}",
            now[0]
        );
        let err = refuse_changed(d, "folds", &runs).unwrap_err().to_string();
        assert!(
            err.contains("3 of its folds") && err.contains("--out"),
            "{err}"
        );
    }
}
