//! The run report: one self-contained HTML page for a run or a comparison of runs, built from
//! the files in the run folders alone (no data, no model), and the terminal list of runs.
//!
//! Parts: [`curves`] (ROC, precision-recall, calibration: the numbers), [`chart`] (plotters
//! SVG), [`page`] (the HTML), and here the reading of a run folder into a [`RunRecord`].

pub mod chart;
pub mod curves;
pub mod page;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burnfit_model::Loss;
use serde::{Deserialize, Serialize};

use crate::history::EpochRow;
use crate::run::{
    self as rundir, fingerprint::Fingerprint, read_json, ModelFile, StatusFile, Summary,
};

/// Everything a report shows of one run, read from its folder.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The folder.
    pub dir: PathBuf,
    /// The folder's name (the config name and its start time).
    pub name: String,
    /// `config.toml` as written.
    pub config_text: String,
    /// The same, parsed.
    pub config: toml::Table,
    /// `model.json`.
    pub model: ModelFile,
    /// `summary.json`, for a finished run.
    pub summary: Option<Summary>,
    /// `history.csv`, when any epoch finished.
    pub history: Vec<EpochRow>,
    /// `outputs.csv`, for a finished run.
    pub outputs: Option<Outputs>,
    /// `explain/importance.csv`, after `burnfit explain`.
    pub importance: Option<ImportanceRecord>,
    /// `data.json`.
    pub files: Vec<Fingerprint>,
    /// `status.json`, if the run got as far as writing one.
    pub status: Option<StatusFile>,
}

/// The evaluated split's rows, as `outputs.csv` holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    /// Targets (0/1 for a classifier).
    pub target: Vec<f64>,
    /// Raw network outputs (logits for a classifier, predictions for regression).
    pub output: Vec<f64>,
    /// Probabilities (classifier only).
    pub probability: Vec<f64>,
}

/// Permutation importance as `explain` left it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceRecord {
    /// `(column, mean drop, sd)`, most important first.
    pub columns: Vec<(String, f64, f64)>,
    /// What it was computed on (`explain/explain.json`), when recorded.
    pub about: Option<ExplainAbout>,
}

/// What `explain` measured its importances on (`explain/explain.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainAbout {
    /// The labelled CSV.
    pub data: PathBuf,
    /// Its usable rows.
    pub rows: usize,
    /// The metric whose drop is measured.
    pub metric: String,
    /// Its value before shuffling.
    pub baseline: f64,
    /// Shuffles per column.
    pub repeats: usize,
}

/// The file `explain` records its settings in, inside `explain/`.
pub const EXPLAIN_ABOUT: &str = "explain.json";

impl RunRecord {
    /// Reads the run folder `dir`; a folder that is not a run is an error naming what is
    /// missing.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, true)
    }

    /// [`load`](Self::load) without `outputs.csv` (one row per evaluated row): what a listing
    /// or a comparison of many runs needs.
    pub fn load_brief(dir: &Path) -> Result<Self> {
        Self::load_with(dir, false)
    }

    fn load_with(dir: &Path, with_outputs: bool) -> Result<Self> {
        if !dir.is_dir() {
            bail!("{} is not a folder", dir.display());
        }
        for f in [rundir::CONFIG, rundir::MODEL_JSON] {
            if !dir.join(f).is_file() {
                bail!(
                    "{} is not a run folder: it has no {f} (a run folder is what `burnfit train` writes)",
                    dir.display()
                );
            }
        }
        let config_text = crate::files::read_limited(
            &dir.join(rundir::CONFIG),
            crate::files::CONFIG_LIMIT,
            "config file",
        )
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .with_context(|| format!("cannot read {}", dir.join(rundir::CONFIG).display()))?;
        let config: toml::Table = toml::from_str(&config_text)
            .with_context(|| format!("{} is not valid TOML", dir.join(rundir::CONFIG).display()))?;
        let optional_json = |name: &str| -> Result<Option<serde_json::Value>> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(Some(read_json(&p)?))
            } else {
                Ok(None)
            }
        };
        let summary = match optional_json(rundir::SUMMARY)? {
            Some(v) => Some(serde_json::from_value(v).with_context(|| {
                format!(
                    "{} is not a burnfit summary",
                    dir.join(rundir::SUMMARY).display()
                )
            })?),
            None => None,
        };
        let files = match optional_json(rundir::DATA)? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => Vec::new(),
        };
        let status = match optional_json(rundir::STATUS)? {
            Some(v) => serde_json::from_value(v).ok(),
            None => None,
        };
        let history_path = dir.join(rundir::HISTORY);
        let history = if history_path.is_file() {
            read_history(&history_path)?
        } else {
            Vec::new()
        };
        let outputs_path = dir.join(rundir::OUTPUTS);
        let outputs = if with_outputs && outputs_path.is_file() {
            Some(read_outputs(&outputs_path)?)
        } else {
            None
        };
        let importance_path = dir.join(rundir::EXPLAIN).join("importance.csv");
        let importance = if importance_path.is_file() {
            let about_path = dir.join(rundir::EXPLAIN).join(EXPLAIN_ABOUT);
            Some(ImportanceRecord {
                columns: read_importance(&importance_path)?,
                about: if about_path.is_file() {
                    read_json(&about_path).ok()
                } else {
                    None
                },
            })
        } else {
            None
        };
        Ok(Self {
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            dir: dir.to_path_buf(),
            config_text,
            config,
            model: read_json(&dir.join(rundir::MODEL_JSON))?,
            summary,
            history,
            outputs,
            importance,
            files,
            status,
        })
    }

    /// The loss, which fixes the task.
    pub fn loss(&self) -> Loss {
        self.model.loss
    }

    /// How the run ended, in one word: `finished` (with why the epochs stopped), `interrupted`,
    /// `diverged`, or `incomplete` (still running, or killed before it could say).
    pub fn state(&self) -> String {
        match (&self.summary, &self.status) {
            (Some(s), _) => match s.stopped {
                crate::history::Stop::Completed => "finished".into(),
                crate::history::Stop::EarlyStopped => "finished (early stop)".into(),
                crate::history::Stop::TimeBudget => "finished (time budget)".into(),
                crate::history::Stop::Interrupted => "interrupted".into(),
            },
            (None, Some(st)) => st.status.word().to_string(),
            (None, None) => "incomplete".into(),
        }
    }

    /// When the run ended (or last said how it stood), if known.
    pub fn when(&self) -> String {
        self.summary
            .as_ref()
            .map(|s| s.finished.clone())
            .filter(|f| !f.is_empty())
            .or_else(|| self.status.as_ref().map(|s| s.at.clone()))
            .unwrap_or_default()
    }

    /// The data in a few words: the training file's name, or the synthetic set's shape.
    pub fn data_words(&self) -> String {
        let data = self.config.get("data").and_then(|d| d.as_table());
        let source = data
            .and_then(|d| d.get("source"))
            .and_then(|s| s.as_str())
            .unwrap_or("csv");
        if source == "synthetic" {
            let syn = data
                .and_then(|d| d.get("synthetic"))
                .and_then(|s| s.as_table());
            let get = |k: &str| {
                syn.and_then(|s| s.get(k))
                    .and_then(|v| v.as_integer())
                    .map_or("?".into(), |v| v.to_string())
            };
            format!("synthetic {}×{}", get("rows"), get("features"))
        } else {
            data.and_then(|d| d.get("path"))
                .and_then(|p| p.as_str())
                .map(|p| {
                    Path::new(p)
                        .file_name()
                        .map_or(p.to_string(), |n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_default()
        }
    }

    /// A final metric, from the evaluation in `summary.json`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let base = name.strip_prefix("val_").unwrap_or(name);
        self.summary.as_ref()?.evaluation.get(base).copied()
    }
}

/// Mean, sample standard deviation and per-fold values of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// Mean over the folds where it is defined.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub sd: f64,
    /// Each fold's value, fold 1 first (`null`: undefined on that fold).
    pub folds: Vec<f64>,
}

impl Spread {
    /// The spread of `values`, leaving out undefined (NaN) ones.
    pub fn of(values: Vec<f64>) -> Self {
        let defined: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = defined.len() as f64;
        let mean = if defined.is_empty() {
            f64::NAN
        } else {
            defined.iter().sum::<f64>() / n
        };
        let sd = if defined.len() < 2 {
            0.0
        } else {
            (defined.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Self {
            mean,
            sd,
            folds: values,
        }
    }
}

/// Every dotted key of a TOML table with its value as TOML text: `train.lr = 0.001`.
pub fn flatten(table: &toml::Table) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => walk(&key, inner, out),
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", table, &mut out);
    out
}

/// A cell of one of the run's CSVs as a number, or an error naming the file, row and column.
fn number(path: &Path, row: usize, column: &str, cell: &str) -> Result<f64> {
    cell.parse().with_context(|| {
        format!(
            "{} row {row}, column {column}: `{cell}` is not a number",
            path.display()
        )
    })
}

fn read_history(path: &Path) -> Result<Vec<EpochRow>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = r
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    if header.len() < 2 || header[0] != "epoch" || header[1] != "lr" {
        bail!(
            "{} is not a burnfit history (its header should start epoch,lr)",
            path.display()
        );
    }
    let mut rows = Vec::new();
    for (i, record) in r.records().enumerate() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let num = |k: usize| number(path, i + 2, &header[k], record.get(k).unwrap_or(""));
        rows.push(EpochRow {
            epoch: num(0)? as usize,
            lr: num(1)?,
            metrics: (2..header.len())
                .map(|k| Ok((header[k].clone(), num(k)?)))
                .collect::<Result<_>>()?,
        });
    }
    Ok(rows)
}

fn read_outputs(path: &Path) -> Result<Outputs> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Outputs::default();
    for (i, record) in r.records().enumerate() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let num = |k: usize| {
            let column = ["row", "target", "output", "probability"]
                .get(k)
                .copied()
                .unwrap_or("?");
            number(path, i + 2, column, record.get(k).unwrap_or(""))
        };
        out.target.push(num(1)?);
        out.output.push(num(2)?);
        if record.len() > 3 {
            out.probability.push(num(3)?);
        }
    }
    Ok(out)
}

fn read_importance(path: &Path) -> Result<Vec<(String, f64, f64)>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for record in r.records() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let num = |k: usize| {
            record
                .get(k)
                .and_then(|c| c.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        out.push((record.get(0).unwrap_or("").to_string(), num(1), num(2)));
    }
    Ok(out)
}

/// The run folders directly inside `dir`, oldest name first (names sort by start time).
pub fn runs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(rundir::CONFIG).is_file() && p.join(rundir::MODEL_JSON).is_file())
        .collect();
    runs.sort();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_the_mean_and_sample_sd_of_the_defined_values() {
        // numpy: np.mean([1, 2, 4]) = 2.3333, np.std([1, 2, 4], ddof=1) = 1.5275
        let s = Spread::of(vec![1.0, 2.0, f64::NAN, 4.0]);
        assert!((s.mean - 7.0 / 3.0).abs() < 1e-12);
        assert!((s.sd - 1.527_525_231_651_946_7).abs() < 1e-12);
        assert_eq!(s.folds.len(), 4);
        assert_eq!(Spread::of(vec![3.0]).sd, 0.0);
    }

    #[test]
    fn flatten_gives_dotted_keys_with_toml_values() {
        let t: toml::Table = toml::from_str("seed = 1\n[train]\nlr = 0.5\n[train.early_stopping]\npatience = 3\n[model]\nhidden = [8, 4]\n").unwrap();
        let f = flatten(&t);
        assert_eq!(f["seed"], "1");
        assert_eq!(f["train.lr"], "0.5");
        assert_eq!(f["train.early_stopping.patience"], "3");
        assert_eq!(f["model.hidden"], "[8, 4]");
    }
}
