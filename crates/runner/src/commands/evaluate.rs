//! `burnfit evaluate`: a trained run's metrics on a labelled file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use burnfit_model::Loss;
use serde_json::json;

use super::loaded::{labelled_matrix, load_run};
use super::{final_line, metrics_json, warn_undefined};
use crate::metrics;
use crate::train::evaluate as evaluate_model;

/// `burnfit evaluate`.
pub(crate) fn evaluate(
    dir: &Path,
    data: &Path,
    as_json: bool,
    backend_override: Option<&str>,
    threshold: Option<f64>,
) -> Result<ExitCode> {
    let l = load_run(dir, backend_override)?;
    let loss = l.model_file.loss;
    if threshold.is_some() && loss == Loss::Mse {
        anyhow::bail!(
            "--threshold is for classifiers; this model is a regression (train.loss = \"mse\")"
        );
    }
    let threshold = threshold.unwrap_or(l.model_file.threshold);
    let m = labelled_matrix(&l, data)?;
    let metrics = evaluate_model(&l.model, &m, loss, threshold, &l.device);
    warn_undefined(&metrics, &format!("{} ({} rows)", data.display(), m.rows));
    if as_json {
        let mut v = json!({ "model": l.run.path, "data": data, "rows": m.rows, "metrics": metrics_json(&metrics) });
        if loss == Loss::Bce {
            v["threshold"] = json!(threshold);
        }
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        say!("evaluated {} rows", m.rows);
        if loss == Loss::Bce {
            say!("accuracy, precision, recall and f1 at threshold {threshold}");
        }
        for (k, v) in &metrics {
            say!("{k}: {}", metrics::show(*v));
        }
        outln!("{}", final_line(&metrics, l.model_file.loss))?;
    }
    Ok(ExitCode::SUCCESS)
}
