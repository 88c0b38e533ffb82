//! What each subcommand does, on top of the library modules, one file a command (the data
//! tools `synth`, `inspect` and `parity` share [`tools`]); [`loaded`] is the loading of a
//! trained run that evaluate, predict and explain share; here, the lines every command prints
//! the same way.

pub(crate) mod cv;
mod evaluate;
mod explain;
pub(crate) mod export;
mod init;
mod loaded;
mod pool;
mod predict;
pub(crate) mod predict_parquet;
pub(crate) mod report;
pub(crate) mod sweep;
mod tools;
mod train;

pub(crate) use evaluate::evaluate;
pub(crate) use explain::{explain, ExplainArgs};
pub(crate) use init::{init, InitArgs, InitLoss};
pub(crate) use predict::{predict, PredictOptions};
pub(crate) use tools::{inspect, load_only, parity, synth};
pub(crate) use train::{train, TrainArgs};

use serde_json::json;

use crate::config::Config;
use crate::metrics::{self, Metrics};

/// Warns, in words, of the metrics undefined on `what` (the rows they were computed on).
pub(crate) fn warn_undefined(m: &Metrics, what: &str) {
    let names = metrics::undefined(m);
    if !names.is_empty() {
        say!(
            "warning: {} undefined on {what} (one class only, a constant target, or nothing predicted positive); reported as n/a, and null in JSON",
            names.join(", ")
        );
    }
}

/// Warns of each label (or target) of several whose own scores are undefined on `what`: a
/// yes/no label with one value only (no AUC), a constant target (no R²). The means leave it
/// out, which the user should know.
pub(crate) fn warn_undefined_labels(per_label: &[(String, Metrics)], what: &str) {
    for (name, m) in per_label {
        let names = metrics::undefined(m);
        if !names.is_empty() {
            say!(
                "warning: label `{name}`: {} undefined on {what} (one value only in these rows); reported as n/a, and left out of the macro mean",
                names.join(", ")
            );
        }
    }
}

/// Prints the config's warnings (keys that cannot act) as one block on stderr.
pub(crate) fn report_warnings(config: &Config) {
    if config.warnings.is_empty() {
        return;
    }
    say!(
        "warning: {} key{} in the config cannot act (strict = true makes this an error):",
        config.warnings.len(),
        if config.warnings.len() == 1 { "" } else { "s" }
    );
    for w in &config.warnings {
        say!("  {w}");
    }
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

/// The seed's closing line: `Loss: 0.1234 Accuracy: 0.9600`.
fn final_line(m: &Metrics, head: crate::head::Head) -> String {
    let get = |k: &str| {
        m.iter()
            .find(|(n, _)| *n == k)
            .map_or(f64::NAN, |(_, v)| *v)
    };
    let main = metrics::main_metric(head);
    let mut name = main.to_string();
    name[..1].make_ascii_uppercase();
    format!(
        "Loss: {} {name}: {}",
        metrics::show(get("loss")),
        metrics::show(get(main))
    )
}
