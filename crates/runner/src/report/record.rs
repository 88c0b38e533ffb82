//! What a report knows of one run ([`RunRecord`]), as [`super::read`] loads it from the run
//! folder, and the views of it the pages and `burnfit runs` share.

use std::path::{Path, PathBuf};

use burnfit_model::Loss;
use serde::{Deserialize, Serialize};

use crate::data::buffer::Buffer;
use crate::history::{EpochRow, Stop};
use crate::run::{fingerprint::Fingerprint, ModelFile, StatusFile, Summary};

/// Everything a report shows of one run, read from its folder.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    /// The folder.
    pub(crate) dir: PathBuf,
    /// The folder's name (the config name and its start time).
    pub(crate) name: String,
    /// `config.toml` as written.
    pub(crate) config_text: String,
    /// The same, parsed.
    pub(crate) config: toml::Table,
    /// `model.json`.
    pub(crate) model: ModelFile,
    /// `summary.json`, for a finished run.
    pub(crate) summary: Option<Summary>,
    /// `history.csv`, when any epoch finished.
    pub(crate) history: Vec<EpochRow>,
    /// `outputs.csv`, for a finished run.
    pub(crate) outputs: Option<Outputs>,
    /// `explain/importance.csv`, after `burnfit explain`.
    pub(crate) importance: Option<ImportanceRecord>,
    /// `data.json`.
    pub(crate) files: Vec<Fingerprint>,
    /// `status.json`, if the run got as far as writing one.
    pub(crate) status: Option<StatusFile>,
}

/// The evaluated split's rows, as `outputs.csv` holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Outputs {
    /// Targets (0/1 for a classifier, the class index for a k-class softmax).
    pub(crate) target: Buffer<f64>,
    /// Raw network outputs (logits for a classifier, predictions for regression), `width`
    /// per row.
    pub(crate) output: Buffer<f64>,
    /// Outputs per row: k for a k-class softmax, else 1.
    pub(crate) width: usize,
    /// Probabilities (a classifier's, one per row; empty for regression).
    pub(crate) probability: Buffer<f64>,
}

/// One column's permutation importance, as `explain/importance.csv` holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnImportance {
    /// The column.
    pub(crate) column: String,
    /// Mean drop of the metric when it is shuffled.
    pub(crate) mean: f64,
    /// Sample standard deviation of the drop over the shuffles.
    pub(crate) sd: f64,
}

/// Permutation importance as `explain` left it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImportanceRecord {
    /// The columns, most important first.
    pub(crate) columns: Vec<ColumnImportance>,
    /// What it was computed on (`explain/explain.json`), when recorded.
    pub(crate) about: Option<ExplainAbout>,
}

/// What `explain` measured its importances on (`explain/explain.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExplainAbout {
    /// The labelled CSV.
    pub(crate) data: PathBuf,
    /// Its usable rows.
    pub(crate) rows: usize,
    /// The metric whose drop is measured.
    pub(crate) metric: String,
    /// Its value before shuffling.
    pub(crate) baseline: f64,
    /// Shuffles per column.
    pub(crate) repeats: usize,
}

impl RunRecord {
    /// The loss, which fixes the task.
    pub(crate) fn loss(&self) -> Loss {
        self.model.loss
    }

    /// What the outputs mean.
    pub(crate) fn head(&self) -> crate::head::Head {
        self.model.head()
    }

    /// How the run ended, in one word: `finished` (with why the epochs stopped), `interrupted`,
    /// `diverged`, or `incomplete` (still running, or killed before it could say).
    pub(crate) fn state(&self) -> String {
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
    pub(crate) fn when(&self) -> String {
        self.summary
            .as_ref()
            .map(|s| s.finished.clone())
            .filter(|f| !f.is_empty())
            .or_else(|| self.status.as_ref().map(|s| s.at.clone()))
            .unwrap_or_default()
    }

    /// The data in a few words: the training file's name, or the synthetic set's shape.
    pub(crate) fn data_words(&self) -> String {
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
    pub(crate) fn metric(&self, name: &str) -> Option<f64> {
        let base = crate::metrics::Metric::parse(name)?.base;
        self.summary.as_ref()?.evaluation.get(base).copied()
    }

    /// The decision threshold the run's class predictions used.
    pub(crate) fn threshold(&self) -> f64 {
        self.summary
            .as_ref()
            .map_or(crate::threshold::DEFAULT, |s| s.threshold)
    }

    /// The rows the final evaluation was on: `validation` or `test` (`validation` for a run
    /// that has not finished).
    pub(crate) fn evaluated_on(&self) -> &str {
        self.summary
            .as_ref()
            .map_or("validation", |s| s.evaluated_on.as_str())
    }
}

/// Mean, sample standard deviation and per-fold values of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Spread {
    /// Mean over the folds where it is defined.
    pub(crate) mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub(crate) sd: f64,
    /// Each fold's value, fold 1 first (`null`: undefined on that fold).
    pub(crate) folds: Vec<f64>,
}

impl Spread {
    /// The spread of `values`, leaving out undefined (NaN) ones.
    pub(crate) fn of(values: Vec<f64>) -> Self {
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
