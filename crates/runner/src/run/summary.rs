//! `summary.json`: what a finished run did and measured.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::footprint::Footprint;
use crate::history::Stop;

/// Metric name to value; a non-finite value is written as `null`.
pub type MetricMap = BTreeMap<String, f64>;

/// The metrics as a [`MetricMap`].
pub fn metric_map<'a>(m: impl IntoIterator<Item = (&'a str, f64)>) -> MetricMap {
    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The whole of `summary.json`. Written with its keys sorted (see [`RunDir::write_summary`]).
///
/// [`RunDir::write_summary`]: super::RunDir::write_summary
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `backend.kind` as resolved (`auto` names what it picked).
    pub backend: String,
    /// The device, in words.
    pub device: String,
    /// Epochs in the history.
    pub epochs_run: usize,
    /// Early stopping's best epoch, or the last.
    pub best_epoch: usize,
    /// Why the loop ended.
    pub stopped: Stop,
    /// Every metric on the training rows, from the final model.
    pub train_metrics: MetricMap,
    /// The last epoch's history row.
    pub final_epoch: Option<MetricMap>,
    /// Which rows `evaluation` is on: `test` or `validation`.
    pub evaluated_on: String,
    /// Every metric of the final model on those rows.
    pub evaluation: MetricMap,
    /// `backend.flush_denormals`: whether subnormals were flushed to zero.
    pub flush_denormals: bool,
    /// Keys the config set that could not act, each with why (empty: every key acted).
    pub warnings: Vec<String>,
    /// The network's parameters.
    pub parameters: usize,
    /// Bytes of `model.bpk`.
    pub model_bytes: usize,
    /// Seconds to load and prepare the data.
    pub load_seconds: f64,
    /// Seconds in the training loop.
    pub train_seconds: f64,
    /// Seconds for the whole command.
    pub total_seconds: f64,
    /// Training samples per second of the loop.
    pub samples_per_second: f64,
    /// Energy, carbon, cost, FLOPs, memory.
    pub footprint: Footprint,
}
