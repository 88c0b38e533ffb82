//! `summary.json`: what a finished run did and measured.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::footprint::Footprint;
use crate::history::Stop;

/// Metric name to value; a non-finite value is written as `null`.
pub(crate) type MetricMap = BTreeMap<String, f64>;

/// The metrics as a [`MetricMap`].
pub(crate) fn metric_map<'a>(m: impl IntoIterator<Item = (&'a str, f64)>) -> MetricMap {
    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The whole of `summary.json`. Written with its keys sorted (see [`RunDir::write_summary`]);
/// read back by `report` and `runs`, which accept the files of older runs (the fields added
/// since default to empty).
///
/// [`RunDir::write_summary`]: super::RunDir::write_summary
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// When the run ended, RFC 3339 in UTC.
    #[serde(default)]
    pub(crate) finished: String,
    /// Rows and class balance (or target range) of each split.
    #[serde(default)]
    pub(crate) splits: Vec<SplitProfile>,
    /// `backend.kind` as resolved (`auto` names what it picked).
    pub(crate) backend: String,
    /// The device, in words.
    pub(crate) device: String,
    /// Epochs in the history.
    pub(crate) epochs_run: usize,
    /// Early stopping's best epoch, or the last.
    pub(crate) best_epoch: usize,
    /// Why the loop ended.
    pub(crate) stopped: Stop,
    /// Every metric on the training rows, from the final model.
    #[serde(deserialize_with = "nullable")]
    pub(crate) train_metrics: MetricMap,
    /// The last epoch's history row.
    #[serde(deserialize_with = "nullable_option")]
    pub(crate) final_epoch: Option<MetricMap>,
    /// Which rows `evaluation` is on: `test` or `validation`.
    pub(crate) evaluated_on: String,
    /// Every metric of the final model on those rows.
    #[serde(deserialize_with = "nullable")]
    pub(crate) evaluation: MetricMap,
    /// The probability above which a row is predicted class 1 (accuracy, precision, recall and
    /// F1 depend on it).
    #[serde(default = "half")]
    pub(crate) threshold: f64,
    /// `train.threshold` as written: the number, or the rule that chose `threshold`.
    #[serde(default)]
    pub(crate) threshold_rule: String,
    /// The weights of class 0 and class 1 in the training loss (`train.class_weight`); absent:
    /// every row weighed 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) class_weights: Option<Vec<f64>>,
    /// `backend.flush_denormals`: whether subnormals were flushed to zero.
    pub(crate) flush_denormals: bool,
    /// Keys the config set that could not act, each with why (empty: every key acted).
    pub(crate) warnings: Vec<String>,
    /// What the data stage warned of (training and validation classes out of balance, an
    /// ordered split of a sorted file); absent in runs made before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) data_warnings: Vec<String>,
    /// The network's parameters.
    pub(crate) parameters: usize,
    /// Bytes of `model.bpk`.
    pub(crate) model_bytes: usize,
    /// Seconds to load and prepare the data.
    pub(crate) load_seconds: f64,
    /// Seconds in the training loop.
    pub(crate) train_seconds: f64,
    /// Seconds for the whole command.
    pub(crate) total_seconds: f64,
    /// Training samples per second of the loop.
    pub(crate) samples_per_second: f64,
    /// Energy, carbon, cost, FLOPs, memory.
    pub(crate) footprint: Footprint,
    /// A private run's (ε, δ) and what gave them; absent for ordinary training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) privacy: Option<PrivacySummary>,
    /// The temperature fitted by `train.calibrate`, and what it did; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) calibration: Option<CalibrationSummary>,
    /// Each label's (or target's) scores on the evaluated rows, for several label columns;
    /// absent for one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) per_label: Vec<LabelRow>,
    /// Each label's decision threshold, for several yes/no labels (`threshold` is the first's
    /// or, without a per-label rule, every label's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) thresholds: Vec<f64>,
}

/// `train.calibrate = "temperature"`'s fit on the validation rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct CalibrationSummary {
    /// T: the trained logits were divided by it (folded into the last layer of `model.bpk`).
    pub(crate) temperature: f64,
    /// The validation rows it was fitted on.
    pub(crate) rows: usize,
    /// Their log loss before and after.
    pub(crate) log_loss_before: f64,
    /// After.
    pub(crate) log_loss_after: f64,
    /// Their expected calibration error (top label, 15 bins) before and after.
    pub(crate) ece_before: f64,
    /// After.
    pub(crate) ece_after: f64,
}

/// Class weights in words, as the log and the report give them: `class 0 0.7500, class 1
/// 1.5000`, or each class by its name when the run has names (a softmax's).
pub(crate) fn class_weight_words(weights: &[f64], names: &[String]) -> String {
    weights
        .iter()
        .enumerate()
        .map(|(j, w)| match names.get(j) {
            Some(name) => format!("{name} {w:.4}"),
            None => format!("class {j} {w:.4}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One split as the run saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SplitProfile {
    /// `train`, `validation` or `test`.
    pub(crate) name: String,
    /// Rows in it.
    pub(crate) rows: usize,
    /// Rows of class 1 (classification).
    pub(crate) positives: Option<usize>,
    /// Smallest, mean and largest target (regression).
    pub(crate) target: Option<[f64; 3]>,
    /// Rows of each class, in class order (a k-class softmax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) classes: Option<Vec<usize>>,
    /// Rows where each label is 1, in label order (several yes/no labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) label_positives: Option<Vec<usize>>,
    /// Smallest, mean and largest of each target, in target order (several numeric targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) targets: Option<Vec<[f64; 3]>>,
}

/// One label's (or target's) scores on the evaluated rows, in `summary.json`'s per-label table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LabelRow {
    /// The label column.
    pub(crate) name: String,
    /// Its scores: support, precision, recall, f1, auc and threshold for a yes/no label;
    /// rmse, mae and r2 for a numeric target.
    #[serde(deserialize_with = "nullable")]
    pub(crate) metrics: MetricMap,
}

/// Smallest, mean and largest of `values`.
fn range(values: impl Iterator<Item = f32>) -> [f64; 3] {
    let (lo, hi, sum, n) = values.fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize),
        |(lo, hi, sum, n), y| {
            (
                lo.min(y.into()),
                hi.max(y.into()),
                sum + f64::from(y),
                n + 1,
            )
        },
    );
    [lo, sum / n.max(1) as f64, hi]
}

impl SplitProfile {
    /// The profile of a split with these labels (`map.width()` a row), mapped by `map`.
    pub(crate) fn of(name: &str, labels: &[f32], map: &crate::data::LabelMap) -> Self {
        use crate::data::LabelMap;
        let k = map.width();
        let mut profile = Self {
            name: name.to_string(),
            rows: labels.len() / k,
            positives: None,
            target: None,
            classes: None,
            label_positives: None,
            targets: None,
        };
        let column = |j: usize| labels.iter().skip(j).step_by(k).copied();
        match map {
            LabelMap::Classes { classes } => {
                let mut counts = vec![0; classes.len()];
                for &y in labels {
                    counts[y as usize] += 1;
                }
                profile.classes = Some(counts);
            }
            LabelMap::Binary { .. } => {
                profile.positives = Some(labels.iter().filter(|&&y| y > 0.5).count());
            }
            LabelMap::Regression => profile.target = Some(range(labels.iter().copied())),
            LabelMap::Labels { .. } => {
                profile.label_positives = Some(
                    (0..k)
                        .map(|j| column(j).filter(|&y| y > 0.5).count())
                        .collect(),
                );
            }
            LabelMap::Targets { .. } => {
                profile.targets = Some((0..k).map(|j| range(column(j))).collect());
            }
        }
        profile
    }
}

fn half() -> f64 {
    0.5
}

/// A metric map whose undefined values were written as `null`: read back as NaN.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MetricMap, D::Error> {
    let raw: BTreeMap<String, Option<f64>> = Deserialize::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

/// [`nullable`] for an optional map.
fn nullable_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<MetricMap>, D::Error> {
    let raw: Option<BTreeMap<String, Option<f64>>> = Deserialize::deserialize(d)?;
    Ok(raw.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect()
    }))
}

/// What a private run records of its privacy in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PrivacySummary {
    /// ε after the steps run.
    pub(crate) epsilon: f64,
    /// δ.
    pub(crate) delta: f64,
    /// σ.
    pub(crate) noise_multiplier: f64,
    /// C.
    pub(crate) max_grad_norm: f64,
    /// `poisson` or `shuffle`.
    pub(crate) sampling: burnfit_privacy::Sampling,
    /// The RDP order whose bound gave ε.
    pub(crate) order: f64,
    /// Set when that order is at an end of the list: ε is valid but may be loose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) order_edge: Option<burnfit_privacy::OrderEdge>,
    /// Private steps run.
    pub(crate) steps: u64,
    /// What the numbers cover, in words.
    pub(crate) covers: String,
}
