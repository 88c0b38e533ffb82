//! Reading a run folder into a [`RunRecord`]: every file the report reads is read here, and
//! nowhere else in `report/`, so that this one module can later be switched to the run folder's
//! typed readers in `run/`.
//!
//! A file the run never wrote (a run still going has no `summary.json`) is simply absent from
//! the record. A file that is there but cannot be read, does not parse, or contradicts itself or
//! the run's other files (a split with more positive rows than rows, an `outputs.csv` of another
//! length than its split) is an error naming the file: the report never shows figures it cannot
//! stand behind, and never panics on an edited file.

use std::path::{Path, PathBuf};

use burnfit_model::Loss;
use serde::de::DeserializeOwned;

use super::record::{ColumnImportance, ExplainAbout, ImportanceRecord, RunRecord};
use crate::files::{read_own, CONFIG_LIMIT, JSON_LIMIT};
use crate::history::EpochRow;
use crate::run::{
    self as rundir, fingerprint::Fingerprint, ModelFile, StatusFile, Summary, EXPLAIN_ABOUT,
    IMPORTANCE,
};

/// Why a run folder could not be read. Every variant names the folder or file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The path is not a folder.
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// A folder without the files every run has.
    #[error(
        "{} is not a run folder: it has no {missing} (a run folder is what `burnfit train` writes)",
        .dir.display()
    )]
    NotARun {
        /// The folder.
        dir: PathBuf,
        /// The file it lacks.
        missing: &'static str,
    },
    /// The folder cannot be listed.
    #[error("cannot list {}", .dir.display())]
    Unlisted {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file that is there but cannot be read (permissions, a folder in its place, too big).
    #[error("cannot read {}", .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file that does not parse as what its name says.
    #[error("{} is not a valid {what}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What it should be (`burnfit summary`, `TOML config`, `CSV`).
        what: &'static str,
        /// The parser's words, with the line and column.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file whose rows could not be kept in a mapped file past the memory they may take.
    #[error("cannot read the rows of {}", .path.display())]
    Kept {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::data::DataError,
    },
    /// A file that parses but contradicts itself or the run's other files.
    #[error("{}: {why}; was the file edited?", .path.display())]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What does not add up.
        why: String,
    },
}

pub(super) type Result<T> = std::result::Result<T, ReadError>;

pub(super) fn inconsistent(path: &Path, why: impl Into<String>) -> ReadError {
    ReadError::Inconsistent {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

pub(super) fn kept(path: &Path, source: crate::data::DataError) -> ReadError {
    ReadError::Kept {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn malformed(
    path: &Path,
    what: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> ReadError {
    ReadError::Malformed {
        path: path.to_path_buf(),
        what,
        source: Box::new(source),
    }
}

impl RunRecord {
    /// Reads the run folder `dir`; a folder that is not a run is an error naming what is
    /// missing, and so is any file of it that is unreadable or inconsistent.
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, true)
    }

    /// [`load`](Self::load) without `outputs.csv` (one row per evaluated row): what a listing
    /// or a comparison of many runs needs.
    pub(crate) fn load_brief(dir: &Path) -> Result<Self> {
        Self::load_with(dir, false)
    }

    fn load_with(dir: &Path, with_outputs: bool) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ReadError::NotAFolder(dir.to_path_buf()));
        }
        for missing in [rundir::CONFIG, rundir::MODEL_JSON] {
            if !dir.join(missing).is_file() {
                return Err(ReadError::NotARun {
                    dir: dir.to_path_buf(),
                    missing,
                });
            }
        }
        let (config_text, config) = read_config(&dir.join(rundir::CONFIG))?;
        let model = read_model(&dir.join(rundir::MODEL_JSON))?;
        let summary_path = dir.join(rundir::SUMMARY);
        let summary = optional_json::<Summary>(&summary_path, "burnfit summary")?;
        if let Some(s) = &summary {
            check_summary(&summary_path, s)?;
        }
        let status_path = dir.join(rundir::STATUS);
        // An unknown word is a parse error naming the file: the status is an enum.
        let status = optional_json::<StatusFile>(&status_path, "burnfit status file")?;
        let files = optional_json::<Vec<Fingerprint>>(&dir.join(rundir::DATA), "data record")?
            .unwrap_or_default();
        let history = match optional(&dir.join(rundir::HISTORY))? {
            Some(path) => read_history(&path)?,
            None => Vec::new(),
        };
        let outputs = match optional(&dir.join(rundir::OUTPUTS))? {
            Some(path) if with_outputs && model.head().is_several() => Some(
                super::outputs::read_several_outputs(&path, &model, summary.as_ref())?,
            ),
            Some(path) if with_outputs && model.loss == Loss::CrossEntropy => Some(
                super::outputs::read_class_outputs(&path, model.network.output, summary.as_ref())?,
            ),
            Some(path) if with_outputs => Some(super::outputs::read_outputs(
                &path,
                model.loss,
                summary.as_ref(),
            )?),
            _ => None,
        };
        let explain = dir.join(rundir::EXPLAIN);
        let importance = match optional(&explain.join(IMPORTANCE))? {
            Some(path) => Some(ImportanceRecord {
                columns: read_importance(&path)?,
                about: optional_json::<ExplainAbout>(
                    &explain.join(EXPLAIN_ABOUT),
                    "explain record",
                )?,
            }),
            None => None,
        };
        Ok(Self {
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            dir: dir.to_path_buf(),
            config_text,
            config,
            model,
            summary,
            history,
            outputs,
            importance,
            files,
            status,
        })
    }
}

/// The run folders directly inside `dir`, oldest name first (names sort by start time).
pub(crate) fn runs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReadError::Unlisted {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| rundir::is_run_folder(p))
        .collect();
    runs.sort();
    Ok(runs)
}

/// `Some(path)` when something is there under that name (a file, or anything reading it will
/// then refuse), `None` when nothing is: the run never wrote it. A dangling link counts as
/// there, so that it is reported rather than taken for a file never written.
fn optional(path: &Path) -> Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(Some(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReadError::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads `path` (at most `limit` bytes), never through a link planted under its name.
fn bytes(path: &Path, limit: u64, kind: &str) -> Result<Vec<u8>> {
    read_own(path, limit, kind).map_err(|source| ReadError::Unreadable {
        path: path.to_path_buf(),
        source,
    })
}

fn json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T> {
    let raw = bytes(path, JSON_LIMIT, "burnfit JSON file")?;
    serde_json::from_slice(&raw).map_err(|e| malformed(path, what, e))
}

/// A JSON file the run may not have written yet.
fn optional_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<Option<T>> {
    optional(path)?.map(|p| json(&p, what)).transpose()
}

fn read_config(path: &Path) -> Result<(String, toml::Table)> {
    let text = String::from_utf8_lossy(&bytes(path, CONFIG_LIMIT, "config file")?).into_owned();
    let table = toml::from_str(&text).map_err(|e| malformed(path, "TOML config", e))?;
    Ok((text, table))
}

fn read_model(path: &Path) -> Result<ModelFile> {
    let model: ModelFile = json(path, "burnfit model file")?;
    if !(model.threshold > 0.0 && model.threshold < 1.0) {
        return Err(inconsistent(
            path,
            format!(
                "threshold {} is not a probability strictly between 0 and 1",
                model.threshold
            ),
        ));
    }
    Ok(model)
}

/// What the report computes with must add up: counts within their totals, a threshold that is
/// a probability, an evaluated split that exists.
fn check_summary(path: &Path, s: &Summary) -> Result<()> {
    if !(s.threshold > 0.0 && s.threshold < 1.0) {
        return Err(inconsistent(
            path,
            format!(
                "threshold {} is not a probability strictly between 0 and 1",
                s.threshold
            ),
        ));
    }
    if !matches!(s.evaluated_on.as_str(), "validation" | "test") {
        return Err(inconsistent(
            path,
            format!(
                "evaluated_on is `{}`, not `validation` or `test`",
                crate::term::excerpt(&s.evaluated_on, 40)
            ),
        ));
    }
    if s.best_epoch > s.epochs_run {
        return Err(inconsistent(
            path,
            format!(
                "best_epoch {} is after the last epoch run ({})",
                s.best_epoch, s.epochs_run
            ),
        ));
    }
    for p in &s.splits {
        let most = p.label_positives.iter().flatten().copied().max();
        if let Some(pos) = p.positives.or(most).filter(|&pos| pos > p.rows) {
            return Err(inconsistent(
                path,
                format!(
                    "the {} split has {pos} positive rows but only {} rows",
                    crate::term::excerpt(&p.name, 40),
                    p.rows
                ),
            ));
        }
    }
    Ok(())
}

/// The most `history.csv` or `importance.csv` may hold: a row per epoch or per column, a few
/// hundred bytes each. A planted 5 GB sparse file is refused by its size, not read.
const SMALL_CSV_LIMIT: u64 = 64_000_000;

/// The most a CSV the report reads may hold, and what sets it.
#[derive(Clone, Copy)]
pub(super) struct Limit {
    /// The most bytes.
    pub(super) bytes: u64,
    /// The memory available sets it, not what burnfit writes there: a file over it is too
    /// big to read here, not replaced.
    pub(super) memory: bool,
}

impl From<u64> for Limit {
    /// What burnfit ever writes there.
    fn from(bytes: u64) -> Self {
        Limit {
            bytes,
            memory: false,
        }
    }
}

/// A CSV reader over `path` (a regular file of at most `limit` bytes, never read through a
/// link) and its header.
pub(super) fn csv_with_header(
    path: &Path,
    limit: impl Into<Limit>,
) -> Result<(csv::Reader<std::fs::File>, Vec<String>)> {
    let limit = limit.into();
    let unreadable = |source| ReadError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::files::open_regular(path, std::fs::OpenOptions::new().read(true))
        .map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > limit.bytes {
        let why = if limit.memory {
            format!(
                "the file is {}, more than the {} (a quarter of the memory available) the report may read it into; `burnfit report {}` writes the report where more memory is free",
                crate::resources::human(size),
                crate::resources::human(limit.bytes),
                path.parent().unwrap_or(Path::new(".")).display()
            )
        } else {
            format!(
                "the file is {}, more than the {} burnfit ever writes there; was it replaced?",
                crate::resources::human(size),
                crate::resources::human(limit.bytes)
            )
        };
        return Err(unreadable(std::io::Error::other(why)));
    }
    let mut r = csv::Reader::from_reader(file);
    let header = r
        .headers()
        .map_err(|e| malformed(path, "CSV", e))?
        .iter()
        .map(String::from)
        .collect();
    Ok((r, header))
}

/// A cell of one of the run's CSVs as a number, or an error naming the file, line and column.
pub(super) fn number(path: &Path, line: usize, column: &str, cell: &str) -> Result<f64> {
    cell.parse().map_err(|_| {
        inconsistent(
            path,
            format!(
                "line {line}, column {}: `{}` is not a number",
                crate::term::excerpt(column, 40),
                crate::term::excerpt(cell, 40)
            ),
        )
    })
}

fn read_history(path: &Path) -> Result<Vec<EpochRow>> {
    let (mut r, header) = csv_with_header(path, SMALL_CSV_LIMIT)?;
    if header.len() < 2 || header[0] != "epoch" || header[1] != "lr" {
        return Err(inconsistent(
            path,
            "not a burnfit history: its header should start epoch,lr",
        ));
    }
    let mut rows: Vec<EpochRow> = Vec::new();
    for (i, record) in r.records().enumerate() {
        let record = record.map_err(|e| malformed(path, "CSV", e))?;
        let line = i + 2;
        let num = |k: usize| number(path, line, &header[k], record.get(k).unwrap_or(""));
        let epoch = num(0)?;
        // Epochs count from 1 and rise by row; a cast would quietly turn -3 or 1e300 into
        // some other epoch.
        let previous = rows.last().map_or(0, |r| r.epoch);
        if epoch.fract() != 0.0 || epoch <= previous as f64 || epoch > u32::MAX as f64 {
            return Err(inconsistent(
                path,
                format!("line {line}: epoch {epoch} does not follow epoch {previous}"),
            ));
        }
        rows.push(EpochRow {
            epoch: epoch as usize,
            lr: num(1)?,
            metrics: (2..header.len())
                .map(|k| Ok((header[k].clone(), num(k)?)))
                .collect::<Result<_>>()?,
        });
    }
    Ok(rows)
}

fn read_importance(path: &Path) -> Result<Vec<ColumnImportance>> {
    let (mut r, header) = csv_with_header(path, SMALL_CSV_LIMIT)?;
    if header.len() < 3 || header[1] != "importance_mean" || header[2] != "importance_sd" {
        return Err(inconsistent(
            path,
            "its header should start feature,importance_mean,importance_sd",
        ));
    }
    let mut out = Vec::new();
    for (i, record) in r.records().enumerate() {
        let record = record.map_err(|e| malformed(path, "CSV", e))?;
        let num = |k: usize| number(path, i + 2, &header[k], record.get(k).unwrap_or(""));
        out.push(ColumnImportance {
            column: record.get(0).unwrap_or("").to_string(),
            mean: num(1)?,
            sd: num(2)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> tempfile::TempDir {
        let tmp = tempfile::TempDir::new().unwrap();
        let model = r#"{"network":{"input":2,"hidden":[3],"output":1,"activation":"relu","init":"glorot_uniform"},"loss":"bce","inputs":["a","b"]}"#;
        std::fs::write(tmp.path().join(rundir::MODEL_JSON), model).unwrap();
        std::fs::write(tmp.path().join(rundir::CONFIG), "seed = 1\n").unwrap();
        tmp
    }

    #[test]
    fn absent_files_are_fine_and_present_bad_ones_are_errors_naming_them() {
        let tmp = folder();
        let d = tmp.path();
        let r = RunRecord::load(d).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.summary.is_none() && r.status.is_none() && r.files.is_empty());
        for (name, text) in [
            (rundir::DATA, "{not json"),
            (rundir::STATUS, r#"{"status": 3}"#),
            (rundir::STATUS, r#"{"status": "running", "at": ""}"#),
            (rundir::HISTORY, "epoch,lr,loss\n1,0.1,0.5\n1,0.1,0.4\n"),
            (rundir::HISTORY, "epoch,lr,loss\n-2,0.1,0.5\n"),
            (rundir::HISTORY, "epoch,lr,loss\n1,0.1,x\n"),
        ] {
            std::fs::write(d.join(name), text).unwrap();
            let e = RunRecord::load(d).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
            std::fs::remove_file(d.join(name)).unwrap();
        }
        // A folder where a file should be is not a file never written.
        std::fs::create_dir(d.join(rundir::STATUS)).unwrap();
        let e = RunRecord::load(d).unwrap_err();
        assert!(matches!(e, ReadError::Unreadable { .. }), "{e}");
        std::fs::remove_dir(d.join(rundir::STATUS)).unwrap();
        std::fs::create_dir(d.join(rundir::EXPLAIN)).unwrap();
        std::fs::write(
            d.join(rundir::EXPLAIN).join(IMPORTANCE),
            "feature,importance_mean,importance_sd\na,0.1,0.01\n",
        )
        .unwrap();
        std::fs::write(d.join(rundir::EXPLAIN).join(EXPLAIN_ABOUT), "[]").unwrap();
        let e = RunRecord::load(d).unwrap_err();
        assert!(e.to_string().contains(EXPLAIN_ABOUT), "{e}");
    }

    #[test]
    fn outputs_must_match_the_task() {
        let tmp = folder();
        let p = tmp.path().join(rundir::OUTPUTS);
        for bad in [
            "row,target,output\n2,1,0.3\n",
            "row,target,output,probability\n2,0.5,0.3,0.5\n",
            "row,target,output,probability\n2,1,0.3,1.5\n",
        ] {
            std::fs::write(&p, bad).unwrap();
            let e = RunRecord::load(tmp.path()).unwrap_err();
            assert!(e.to_string().contains("outputs.csv"), "{bad}: {e}");
        }
        std::fs::write(&p, "row,target,output,probability\n2,1,0.3,0.57\n").unwrap();
        let r = RunRecord::load(tmp.path()).unwrap();
        assert_eq!(*r.outputs.unwrap().probability, [0.57]);
    }
}
