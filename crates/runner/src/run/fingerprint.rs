//! What data a run trained on: each file's size and CRC32, taken while the data stage reads
//! it (`Table::from_csv`) and recorded when the run starts, so `--resume` can refuse to
//! continue on different data.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One data file as it was when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The config key that names it (`data.path`, `data.validation_path`, `data.test_path`).
    pub key: String,
    /// The file, as resolved.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// CRC32 of its contents.
    pub crc32: u32,
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
pub fn verify(recorded: &[Fingerprint], run: &Path) -> Result<()> {
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
