//! The page comparing several runs (`burnfit report A B …`): their final metrics side by side
//! with the best of each marked, their validation curves overlaid, and the config keys in which
//! they differ. The cross-validation and sweep pages reuse its sections.

use std::collections::BTreeSet;

use maud::{html, Markup};

use super::{document, figure, value_cell};
use crate::metrics::{self, Metric, Split};
use crate::report::flatten;
use crate::report::record::RunRecord;
use crate::report::svg::{charts, DrawError};

/// The page comparing several runs.
pub(crate) fn compare(runs: &[RunRecord]) -> Result<String, DrawError> {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let body = html! {
        (runs_table(runs))
        (overlaid_curves(runs)?)
        (config_differences(runs))
    };
    Ok(document(
        "burnfit · comparison",
        &format!("Comparing {} runs", runs.len()),
        &format!("burnfit report · {}", names.join(", ")),
        body,
    ))
}

/// Every run's final metrics in one table, the best value of each column marked ★ among the
/// runs of the same loss.
pub(super) fn runs_table(runs: &[RunRecord]) -> Markup {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        for n in metrics::base_names(r.head()) {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    // Best among the runs of the same loss only: a cross-entropy and a squared error do not
    // compare. One peer alone is nobody's best.
    let is_best = |r: &RunRecord, n: &str, v: f64| -> bool {
        let peers = || runs.iter().filter(|o| o.head() == r.head());
        let values = peers()
            .filter_map(|o| o.metric(n))
            .filter(|v| v.is_finite());
        let best = if metrics::higher_is_better(n) {
            values.reduce(f64::max)
        } else {
            values.reduce(f64::min)
        };
        best == Some(v) && peers().count() > 1
    };
    html! {
        section #runs {
            h2 { "Final metrics" }
            p.note { "Each run's final model on its evaluated rows (validation, or test when the run had a test file); the best value per column among runs with the same loss is marked ★." }
            table {
                tr {
                    th { "run" } th { "ended" } th { "status" } th { "data" } th { "evaluated on" }
                    @for n in &names { th.num { (n) } }
                }
                @for r in runs {
                    tr data-run=(r.name) {
                        th { (r.name) }
                        td { (r.when()) }
                        td { (r.state()) }
                        td { (r.data_words()) }
                        td { (r.summary.as_ref().map_or("", |s| s.evaluated_on.as_str())) }
                        @for n in &names {
                            @let v = r.metric(n).unwrap_or(f64::NAN);
                            (value_cell(&format!("evaluation.{n}"), v, is_best(r, n, v)))
                        }
                    }
                }
            }
        }
    }
}

/// One chart per validation metric, every run's curve on it.
pub(super) fn overlaid_curves(runs: &[RunRecord]) -> Result<Markup, DrawError> {
    let mut bases: Vec<&'static str> = Vec::new();
    for r in runs {
        let first = r
            .history
            .first()
            .map(|h| h.metrics.as_slice())
            .unwrap_or(&[]);
        for m in first.iter().filter_map(|(n, _)| Metric::parse(n)) {
            if m.split == Split::Validation && !bases.contains(&m.base) {
                bases.push(m.base);
            }
        }
    }
    let mut figures = Vec::new();
    for base in bases {
        let chart = charts::overlaid(runs, Metric::new(base, Split::Validation));
        if chart.has_data() {
            figures.push(figure(
                &format!("compare-{base}"),
                "each run's validation rows",
                &chart,
            )?);
        }
    }
    Ok(html! {
        section #curves {
            h2 { "Learning curves" }
            p.note { "Validation metrics per epoch, one line per run; the loss chart adds each run's training loss, dashed." }
            div.grid { @for f in figures { (f) } }
        }
    })
}

/// The resolved config keys whose values are not the same in every run.
pub(super) fn config_differences(runs: &[RunRecord]) -> Markup {
    let flat: Vec<_> = runs.iter().map(|r| flatten(&r.config)).collect();
    let keys: BTreeSet<&String> = flat.iter().flat_map(|f| f.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| {
            let first = flat.first().and_then(|f| f.get(*k));
            flat.iter().any(|f| f.get(*k) != first)
        })
        .collect();
    html! {
        section #config {
            h2 { "Config keys that differ" }
            @if differing.is_empty() {
                p { "None: the runs share every key of their resolved configs." }
            } @else {
                table {
                    tr {
                        th { "key" }
                        @for r in runs { th { (r.name) } }
                    }
                    @for k in differing {
                        tr data-key=(k) {
                            th { code { (k) } }
                            @for f in &flat {
                                td { code { (f.get(k).map_or("(absent)", String::as_str)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
