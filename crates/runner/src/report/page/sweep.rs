//! The page of a sweep (`SWEEP/report.html`): its best trials, best first, compared as runs
//! are (final metrics, overlaid curves, the config keys the trials vary).

use super::comparison::{config_differences, overlaid_curves, runs_table};
use super::document;
use crate::report::record::RunRecord;
use crate::report::svg::DrawError;

/// The page of a sweep's `trials`, ranked best first by `metric`.
pub(crate) fn sweep(trials: &[RunRecord], metric: &str) -> Result<String, DrawError> {
    let names: Vec<&str> = trials.iter().map(|r| r.name.as_str()).collect();
    let body = maud::html! {
        (runs_table(trials))
        (overlaid_curves(trials)?)
        (config_differences(trials))
    };
    Ok(document(
        "burnfit · sweep",
        &format!("Sweep: {} trials, best {metric} first", trials.len()),
        &format!("burnfit sweep · {}", names.join(", ")),
        body,
    ))
}
