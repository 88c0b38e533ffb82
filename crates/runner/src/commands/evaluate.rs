//! `burnfit evaluate`: a trained run's metrics on a labelled file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::loaded::{labelled_matrix, load_run};
use super::{final_line, metrics_json, warn_undefined};
use crate::metrics;

/// `burnfit evaluate`.
pub(crate) fn evaluate(
    dir: &Path,
    data: &Path,
    as_json: bool,
    backend_override: Option<&str>,
    threshold: Option<f64>,
) -> Result<ExitCode> {
    let l = load_run(dir, backend_override)?;
    let head = l.model_file.head();
    if threshold.is_some() && !head.has_threshold() {
        anyhow::bail!(
            "--threshold is for yes/no labels; this model is a {} (train.loss = \"{}\")",
            head.words(),
            head.loss().key()
        );
    }
    // `--threshold` is every label's; else each label's own.
    let thresholds = threshold.map_or_else(|| l.model_file.thresholds(), |t| vec![t]);
    let m = labelled_matrix(&l, data)?;
    let outputs = crate::train::outputs(&l.model, &m, &l.device);
    let width = l.model.output_width();
    let metrics = metrics::compute(head, (&outputs, width), &m.y, &thresholds);
    let per_label = metrics::per_label(
        head,
        &l.model_file.labels,
        (&outputs, width),
        &m.y,
        &thresholds,
    );
    let what = format!("{} ({} rows)", data.display(), m.rows);
    warn_undefined(&metrics, &what);
    super::warn_undefined_labels(&per_label, &what);
    if as_json {
        let mut v = json!({ "model": l.run.path, "data": data, "rows": m.rows, "metrics": metrics_json(&metrics) });
        if head.has_threshold() {
            v["threshold"] = json!(thresholds[0]);
        }
        if !per_label.is_empty() {
            v["per_label"] = per_label
                .iter()
                .map(|(name, m)| json!({ "name": name, "metrics": metrics_json(m) }))
                .collect();
        }
        if thresholds.len() > 1 {
            v["thresholds"] = json!(thresholds);
        }
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        say!("evaluated {} rows", m.rows);
        match (head, &thresholds[..]) {
            (crate::head::Head::Binary, [t]) => {
                say!("accuracy, precision, recall and f1 at threshold {t}")
            }
            (crate::head::Head::Labels, [t]) => say!("every label at threshold {t}"),
            (crate::head::Head::Labels, _) => say!("each label at its own threshold"),
            _ => {}
        }
        for (k, v) in &metrics {
            say!("{k}: {}", metrics::show(*v));
        }
        for (name, m) in &per_label {
            let scores: Vec<String> = m
                .iter()
                .map(|(k, v)| match *k {
                    "support" => format!("{k} {v}"),
                    _ => format!("{k} {}", metrics::show(*v)),
                })
                .collect();
            say!("  {name}: {}", scores.join(", "));
        }
        outln!("{}", final_line(&metrics, head))?;
    }
    Ok(ExitCode::SUCCESS)
}
