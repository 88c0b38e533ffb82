//! The page of a cross-validation (`CV/report.html`): the spread of every metric over the
//! folds, then the folds compared as runs.

use std::collections::BTreeMap;

use maud::html;

use super::comparison::{overlaid_curves, runs_table};
use super::{document, show_threshold, value_cell};
use crate::report::record::{RunRecord, Spread};
use crate::report::svg::DrawError;

/// The page of a cross-validation whose folds are `runs`, with each metric's `spread`.
pub(crate) fn cross_validation(
    runs: &[RunRecord],
    spread: &BTreeMap<String, Spread>,
    per_label: &[(String, BTreeMap<String, Spread>)],
) -> Result<String, DrawError> {
    let first = runs.first();
    let threshold = show_threshold(first.map_or(crate::threshold::DEFAULT, RunRecord::threshold));
    // With a test file, each fold's final evaluation is on it, not on the fold.
    let evaluated = if first.is_some_and(|r| r.evaluated_on() == "test") {
        "the test file (data.test_path)"
    } else {
        "its own validation fold"
    };
    let body = html! {
        section #cv {
            h2 { "Spread over the folds" }
            p.note {
                "Each fold's final model on " (evaluated)
                "; preprocessing fitted on each fold's training rows. Mean and sample standard deviation (n − 1); threshold-dependent metrics at each fold's threshold ("
                (threshold) " for the first)."
            }
            table {
                tr {
                    th { "metric" } th.num { "mean" } th.num { "sd" }
                    @for k in 1..=runs.len() { th.num { "fold " (k) } }
                }
                @for (name, s) in spread {
                    tr {
                        th { (name) }
                        (value_cell(&format!("cv.{name}.mean"), s.mean, false))
                        (value_cell(&format!("cv.{name}.sd"), s.sd, false))
                        @for v in &s.folds {
                            (value_cell(&format!("cv.{name}.fold"), *v, false))
                        }
                    }
                }
            }
        }
        @if let Some((_, first_label)) = per_label.first() {
            section #cv-labels {
                h2 { "Each label over the folds" }
                p.note { "Mean ± sample standard deviation of each label column's own scores over the folds." }
                table {
                    tr {
                        th { "label" }
                        @for metric in first_label.keys() { th.num { (metric) } }
                    }
                    @for (label, metrics) in per_label {
                        tr {
                            th { (label) }
                            @for metric in first_label.keys() {
                                @match metrics.get(metric) {
                                    Some(s) => td.num { (crate::metrics::show(s.mean)) " ± " (crate::metrics::show(s.sd)) },
                                    None => td.num { "—" },
                                }
                            }
                        }
                    }
                }
            }
        }
        (runs_table(runs))
        (overlaid_curves(runs)?)
    };
    Ok(document(
        "burnfit · cross-validation",
        &format!("Cross-validation, {} folds", runs.len()),
        &format!(
            "burnfit cv · {}",
            first.map(RunRecord::data_words).unwrap_or_default()
        ),
        body,
    ))
}
