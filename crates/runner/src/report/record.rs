//! What a report knows of one run ([`RunRecord`]), as [`super::read`] loads it from the run
//! folder, and the views of it the pages and `burnfit runs` share.

use std::path::{Path, PathBuf};

use burnfit_model::Loss;
use serde::{Deserialize, Serialize};

use crate::history::{EpochRow, Stop};
use crate::run::{fingerprint::Fingerprint, ModelFile, StatusFile, Summary};

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
    /// Probabilities (a classifier's, one per row; empty for regression).
    pub probability: Vec<f64>,
}

/// One column's permutation importance, as `explain/importance.csv` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnImportance {
    /// The column.
    pub column: String,
    /// Mean drop of the metric when it is shuffled.
    pub mean: f64,
    /// Sample standard deviation of the drop over the shuffles.
    pub sd: f64,
}

/// Permutation importance as `explain` left it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceRecord {
    /// The columns, most important first.
    pub columns: Vec<ColumnImportance>,
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

impl RunRecord {
    /// The loss, which fixes the task.
    pub fn loss(&self) -> Loss {
        self.model.loss
    }

    /// How the run ended, in one word: `finished` (with why the epochs stopped), `interrupted`,
    /// `diverged`, or `incomplete` (still running, or killed before it could say).
    pub fn state(&self) -> String {
        match (&self.summary, &self.status) {
            (Some(s), _) => match s.stopped {
                Stop::Completed => "finished".into(),
                Stop::EarlyStopped => "finished (early stop)".into(),
                Stop::TimeBudget => "finished (time budget)".into(),
                Stop::Interrupted => "interrupted".into(),
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
        let base = crate::metrics::Metric::parse(name)?.base;
        self.summary.as_ref()?.evaluation.get(base).copied()
    }

    /// The decision threshold the run's class predictions used.
    pub fn threshold(&self) -> f64 {
        self.summary
            .as_ref()
            .map_or(crate::threshold::DEFAULT, |s| s.threshold)
    }

    /// The rows the final evaluation was on: `validation` or `test` (`validation` for a run
    /// that has not finished).
    pub fn evaluated_on(&self) -> &str {
        self.summary
            .as_ref()
            .map_or("validation", |s| s.evaluated_on.as_str())
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
        let (mean, sd) = crate::metrics::mean_sd(&values);
        Self {
            mean,
            sd,
            folds: values,
        }
    }
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
}
