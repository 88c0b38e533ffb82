//! The run folder: everything a run leaves behind, and everything evaluate, predict and
//! `--resume` need to rebuild it.
//!
//! ```text
//! runs/<config>-<timestamp>/
//!   config.toml       the resolved config, defaults included
//!   model.json        network shape, loss and input names
//!   preprocess.json   feature order, fills, vocabularies, scaling, label mapping
//!   model.bpk         final weights (burnpack)
//!   history.csv       one row per epoch, every metric
//!   summary.json      backend, timings, final metrics, footprint
//!   data.json         each data file's size and CRC32, for `--resume`
//!   emissions.csv     energy and carbon with CodeCarbon's column names
//!   curves.svg        loss and the main metric per epoch
//!   outputs.csv       the evaluated split's rows: target, raw output, probability
//!   status.json       finished, interrupted or diverged, and when
//!   report.html       the run on one page (`burnfit report`)
//!   checkpoints/epoch-NNNN-step-NNNNNN/{model.bpk, optim.bpk, state.json, best.bpk}
//!   explain/          after `burnfit explain`
//! ```
//!
//! Every file is written to a temporary name, flushed and renamed, so a crash leaves either the
//! old file or the new one, never half of one. The file names are the constants below; the
//! parts: [`checkpoint`] (checksummed checkpoints), [`weights`] (burnpack bytes), [`summary`]
//! (the typed `summary.json`).

pub mod checkpoint;
pub mod fingerprint;
pub mod summary;
pub mod weights;

pub use checkpoint::{Checkpoint, CheckpointState};
pub use summary::Summary;

/// The resolved config.
pub const CONFIG: &str = "config.toml";
/// Network shape and loss ([`ModelFile`]).
pub const MODEL_JSON: &str = "model.json";
/// The fitted preprocessing.
pub const PREPROCESS: &str = "preprocess.json";
/// Final weights.
pub const WEIGHTS: &str = "model.bpk";
/// One row per epoch.
pub const HISTORY: &str = "history.csv";
/// The run's outcome ([`Summary`]).
pub const SUMMARY: &str = "summary.json";
/// Energy and carbon, CodeCarbon's columns.
pub const EMISSIONS: &str = "emissions.csv";
/// The learning-curve chart.
pub const CURVES: &str = "curves.svg";
/// The evaluated split's outputs, so the report can draw its curves without the data.
pub const OUTPUTS: &str = "outputs.csv";
/// How the run ended ([`Status`]).
pub const STATUS: &str = "status.json";
/// The run's report page.
pub const REPORT: &str = "report.html";
/// The data files' sizes and checksums ([`fingerprint`]).
pub const DATA: &str = "data.json";
/// The checkpoint folder.
pub const CHECKPOINTS: &str = "checkpoints";
/// `burnfit explain`'s folder.
pub const EXPLAIN: &str = "explain";

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burnfit_model::{Loss, MlpConfig};
use serde::{Deserialize, Serialize};

use crate::data::Preprocessor;

/// Network shape and loss, saved as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// The network.
    pub network: MlpConfig,
    /// The loss (fixes the output head).
    pub loss: Loss,
    /// The names of the network's inputs, in order.
    pub inputs: Vec<String>,
    /// The probability above which a row is class 1 (classifiers): `train.threshold`, or what
    /// its rule chose on the validation rows. Written when training ends.
    #[serde(default = "half")]
    pub threshold: f64,
}

fn half() -> f64 {
    0.5
}

/// How a run ended, as `status.json` records it; a folder without one is a run still going, or
/// one killed before it could say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `finished`, `interrupted` or `diverged`.
    pub status: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// What happened, for a run that did not finish.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Status {
    /// A status dated now.
    pub fn now(status: &str, message: impl Into<String>) -> Self {
        Self {
            status: status.to_string(),
            at: now_rfc3339(),
            message: message.into(),
        }
    }
}

/// The time now, RFC 3339 to the second, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Streams what `fill` writes to `path` atomically: a temporary file beside it, fsync, rename.
/// On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Named for this process too: several processes may write the same file of a shared
    // folder at once (a sweep's plan, from every task of a job array), each through its own
    // temporary, and the last rename wins whole.
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let file = fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let written = (|| -> Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut w).with_context(|| format!("cannot write {}", tmp.display()))?;
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot flush {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid burnfit file", path.display()))
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates a new, empty run folder. An existing non-empty folder is never reused silently.
    pub fn create(path: PathBuf) -> Result<Self> {
        Self::check_free(&path)?;
        fs::create_dir_all(path.join(CHECKPOINTS))
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        let probe = path.join(".write-test");
        fs::write(&probe, b"")
            .with_context(|| format!("run folder {} is not writable", path.display()))?;
        let _ = fs::remove_file(probe);
        Ok(Self { path })
    }

    /// Fails when `path` holds anything: a run never overwrites files silently. Checked before
    /// the data is loaded, so the user hears of it at once.
    pub fn check_free(path: &Path) -> Result<()> {
        if path.exists() {
            let empty = fs::read_dir(path)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty {
                bail!(
                    "output folder {} already exists and is not empty; choose another with --out, or use --resume {} to continue it",
                    path.display(),
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Opens an existing run folder, checking that the files evaluate and predict need are there.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            bail!("run folder {} does not exist", path.display());
        }
        for f in [MODEL_JSON, PREPROCESS, WEIGHTS, CONFIG] {
            if !path.join(f).is_file() {
                bail!(
                    "run folder {} is missing {f}; was the run finished?",
                    path.display()
                );
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The default folder for a run: `<dir>/<name>-<UTC timestamp>`.
    pub fn default_path(dir: &Path, name: &str) -> PathBuf {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(['-', ':'], "")
            .replace('T', "-")
            .trim_end_matches('Z')
            .to_string();
        let mut path = dir.join(format!("{name}-{stamp}"));
        let mut i = 2;
        while path.exists() {
            path = dir.join(format!("{name}-{stamp}-{i}"));
            i += 1;
        }
        path
    }

    /// `path/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file of the run atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// Writes a JSON file of the run.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.write(
            name,
            &serde_json::to_vec_pretty(value).expect("serializable"),
        )
    }

    /// Writes `summary.json`. Through a JSON value, whose maps sort their keys: the file reads
    /// the same whatever order the struct declares its fields in.
    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let value = serde_json::to_value(summary).context("cannot encode summary.json")?;
        self.write_json(SUMMARY, &value)
    }

    /// Writes `outputs.csv`: each evaluated row's source row, target and raw output, and for
    /// a classifier its probability. Shortest round-trip numbers, so the report recomputes
    /// the run's own figures exactly.
    pub fn write_outputs(&self, m: &crate::data::Matrix, raw: &[f32], loss: Loss) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let classifier = loss == Loss::Bce;
        let mut header = vec!["row", "target", "output"];
        if classifier {
            header.push("probability");
        }
        w.write_record(&header)?;
        for ((row, y), z) in m.source_rows.iter().zip(&m.y).zip(raw) {
            let mut record = vec![row.to_string(), y.to_string(), z.to_string()];
            if classifier {
                record.push(loss.activate_value(f64::from(*z)).to_string());
            }
            w.write_record(&record)?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        self.write(OUTPUTS, &bytes)
    }

    /// Writes `status.json`.
    pub fn write_status(&self, status: &Status) -> Result<()> {
        self.write_json(STATUS, status)
    }

    /// Reads `model.json`.
    pub fn model_file(&self) -> Result<ModelFile> {
        read_json(&self.file(MODEL_JSON))
    }

    /// Reads `preprocess.json`.
    pub fn preprocessor(&self) -> Result<Preprocessor> {
        read_json(&self.file(PREPROCESS))
    }

    /// Reads the final weights.
    pub fn weights(&self) -> Result<Vec<u8>> {
        read(&self.file(WEIGHTS))
    }
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
    }
}
