//! The page of one run (`RUN/report.html`): what ran on what, the final metrics, the learning
//! curves, the classifier's or the regression's charts, permutation importance, the footprint
//! and the resolved config.

use maud::{html, Markup};

use super::{document, drawn_figure, figure, show_threshold, value_cell};
use crate::head::Head;
use crate::metrics::{self, Confusion, Metric, Split};
use crate::ranking::Ranking;
use crate::report::record::RunRecord;
use crate::report::svg::{charts, DrawError};
use crate::run::Summary;

/// The page of one run.
pub(crate) fn single(run: &RunRecord) -> Result<String, DrawError> {
    let task = run.head().words();
    let body = html! {
        (identity(run))
        (metrics_table(run))
        (learning_curves(run)?)
        @match run.head() {
            Head::Binary => (classifier(run)?),
            Head::Regression => (regression(run)?),
            Head::Classes => (super::classes::section(run)?),
            Head::Labels | Head::Targets => (super::labels::section(run)?),
        }
        (importance(run)?)
        @if let Some(s) = &run.summary {
            section #footprint {
                h2 { "What the run cost" }
                pre { (s.footprint.block()) }
            }
        }
        section #config {
            h2 { "Resolved config" }
            p.note { "Every key that acted, defaults included (" code { "config.toml" } ")." }
            pre { (run.config_text) }
        }
    };
    Ok(document(
        &format!("burnfit · {}", run.name),
        &run.name,
        &format!("burnfit run · {task} · {}", run.state()),
        body,
    ))
}

/// The rows of the "Run" table: what ran, where, on what.
fn identity_rows(run: &RunRecord) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let folder = std::path::absolute(&run.dir).unwrap_or_else(|_| run.dir.clone());
    rows.push(("run folder".into(), folder.display().to_string()));
    rows.push(("ended".into(), run.when()));
    if let Some(s) = &run.summary {
        rows.push(("backend".into(), format!("{} · {}", s.backend, s.device)));
        let stopped = serde_json::to_value(s.stopped)
            .ok()
            .and_then(|v| v.as_str().map(|w| w.replace('_', " ")))
            .unwrap_or_default();
        rows.push((
            "epochs".into(),
            format!("{} run, best {} ({stopped})", s.epochs_run, s.best_epoch),
        ));
    }
    let net = &run.model.network;
    let mut shape: Vec<String> = vec![net.input.to_string()];
    shape.extend(net.hidden.iter().map(ToString::to_string));
    shape.push(net.output.to_string());
    rows.push((
        "network".into(),
        format!(
            "{} dense ({}), {} loss",
            shape.join("-"),
            format!("{:?}", net.activation).to_lowercase(),
            run.loss().words()
        ),
    ));
    rows.push(("data".into(), run.data_words()));
    for f in &run.files {
        rows.push((
            f.key.clone(),
            format!(
                "{} ({} bytes, CRC32 {:08x})",
                f.path.display(),
                f.bytes,
                f.crc32
            ),
        ));
    }
    if let Some(s) = &run.summary {
        rows.extend(evaluation_rows(run, s));
    }
    rows
}

/// The rows of the "Run" table that `summary.json` gives: the splits, the decision threshold,
/// class weights and calibration of a classifier, what the run warned of, and its privacy.
fn evaluation_rows(run: &RunRecord, s: &Summary) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = s
        .splits
        .iter()
        .map(|p| (format!("{} split", p.name), split_words(run, p)))
        .collect();
    if run.head().has_threshold() {
        let how = match s.threshold_rule.as_str() {
            "" => String::new(),
            rule if rule.parse::<f64>().is_ok() => " (train.threshold)".into(),
            rule => format!(" (chosen by train.threshold = \"{rule}\" on the validation rows)"),
        };
        let value = if s.thresholds.is_empty() {
            show_threshold(s.threshold)
        } else {
            let each: Vec<String> = run
                .model
                .labels
                .iter()
                .zip(&s.thresholds)
                .map(|(n, t)| format!("{n} {}", show_threshold(*t)))
                .collect();
            each.join(", ")
        };
        rows.push(("decision threshold".into(), format!("{value}{how}")));
    }
    if run.head().is_classifier() {
        rows.push((
            "class weights".into(),
            match &s.class_weights {
                Some(w) => format!(
                    "{} in the training loss",
                    crate::run::class_weight_words(w, &run.model.classes)
                ),
                None => "none: every row weighs 1".into(),
            },
        ));
    }
    if let Some(c) = &s.calibration {
        rows.push((
            "calibration".into(),
            format!(
                "temperature {:.4} fitted on the {} validation rows (folded into the model's last layer): log loss {:.4} → {:.4}, expected calibration error {:.4} → {:.4}",
                c.temperature, c.rows, c.log_loss_before, c.log_loss_after, c.ece_before, c.ece_after
            ),
        ));
    }
    if !s.warnings.is_empty() {
        rows.push(("config warnings".into(), s.warnings.join("; ")));
    }
    if !s.data_warnings.is_empty() {
        rows.push(("data warnings".into(), s.data_warnings.join("; ")));
    }
    if let Some(p) = &s.privacy {
        rows.push(("privacy".into(), privacy_words(p)));
    }
    rows
}

/// A split in words: its rows of each class, its positives, or its target's range.
fn split_words(run: &RunRecord, p: &crate::run::summary::SplitProfile) -> String {
    if let Some(counts) = &p.classes {
        let names = &run.model.classes;
        let each: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(j, n)| match names.get(j) {
                Some(name) => format!("{name} {n}"),
                None => format!("class {j} {n}"),
            })
            .collect();
        return format!("{} rows: {}", p.rows, each.join(", "));
    }
    let labels = &run.model.labels;
    if let Some(ones) = &p.label_positives {
        let each: Vec<String> = labels
            .iter()
            .zip(ones)
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        return format!(
            "{} rows; rows where each label is 1: {}",
            p.rows,
            each.join(", ")
        );
    }
    if let Some(ranges) = &p.targets {
        let each: Vec<String> = labels
            .iter()
            .zip(ranges)
            .map(|(n, [lo, mean, hi])| format!("{n} {lo:.4} to {hi:.4} (mean {mean:.4})"))
            .collect();
        return format!("{} rows; {}", p.rows, each.join(", "));
    }
    // The reader checked that a split's positives are among its rows.
    match (p.positives, p.target) {
        (Some(pos), _) => format!(
            "{} rows: {pos} positive ({:.1} %), {} negative",
            p.rows,
            100.0 * pos as f64 / p.rows.max(1) as f64,
            p.rows.saturating_sub(pos)
        ),
        (None, Some([lo, mean, hi])) => {
            format!(
                "{} rows: target from {lo:.4} to {hi:.4}, mean {mean:.4}",
                p.rows
            )
        }
        _ => format!("{} rows", p.rows),
    }
}

/// A private run's guarantee and what gave it, in words.
fn privacy_words(p: &crate::run::PrivacySummary) -> String {
    format!(
        "(ε = {:.4}, δ = {:e})-differentially private (DP-SGD: σ = {}, C = {}, {} sampling, {} steps, RDP order {}). For any one training row, anything computed from the trained model is at most e^ε times more (or less) likely with the row than without it, except with probability δ; smaller ε is stronger. Covers {}",
        p.epsilon,
        p.delta,
        p.noise_multiplier,
        p.max_grad_norm,
        match p.sampling {
            burnfit_privacy::Sampling::Poisson => "Poisson",
            burnfit_privacy::Sampling::Shuffle => "shuffled-batch",
        },
        p.steps,
        p.order,
        p.covers
    )
}

fn identity(run: &RunRecord) -> Markup {
    html! {
        section #identity {
            h2 { "Run" }
            table {
                @for (key, value) in identity_rows(run) {
                    tr { th { (key) } td { (value) } }
                }
            }
        }
    }
}

fn metrics_table(run: &RunRecord) -> Markup {
    let Some(s) = &run.summary else {
        return html! {
            section #metrics {
                h2 { "Final metrics" }
                p.note { "The run has not finished: no final evaluation." }
            }
        };
    };
    let head = run.head();
    let names = metrics::base_names(head);
    let several = s.thresholds.len() > 1;
    let threshold = if several {
        "each label's threshold".to_string()
    } else {
        show_threshold(run.threshold())
    };
    // Only yes/no labels' class metrics depend on a threshold; a softmax predicts the class of
    // the largest probability.
    let at_threshold = |n: &str| metrics::depends_on_threshold(n, head);
    let how = match head {
        Head::Binary => format!("Accuracy, precision, recall and F1 are at the decision threshold {threshold}; loss, AUC, average precision and Brier score do not depend on it."),
        Head::Classes => "Each row's predicted class is the one with the largest probability; top-2 accuracy counts a row right when its class is among the two largest.".into(),
        Head::Labels => format!("Every label counts: the loss and Brier score are their means, Hamming loss the share of wrong labels, subset accuracy the share of rows with every label right, micro F1 pools the labels' counts and the macro scores average the labels'; the class metrics are at {threshold}."),
        Head::Targets => "Every target counts: the loss is the mean squared error over the targets, RMSE its root, MAE the mean absolute error, R² the mean of the targets' own.".into(),
        Head::Regression => String::new(),
    };
    html! {
        section #metrics {
            h2 { "Final metrics" }
            p.note {
                "The final model on the " (s.evaluated_on) " rows (" (rows_of(run, &s.evaluated_on))
                ") and on the training rows. " (how)
            }
            table {
                tr {
                    th { "split" }
                    @for n in names {
                        th.num {
                            (n)
                            @if at_threshold(n) { " @" (threshold) }
                        }
                    }
                }
                @for (label, key, map) in [
                    (s.evaluated_on.as_str(), "evaluation", &s.evaluation),
                    ("train", "train_metrics", &s.train_metrics),
                ] {
                    tr {
                        th { (label) }
                        @for n in names {
                            (value_cell(&format!("{key}.{n}"), map.get(*n).copied().unwrap_or(f64::NAN), false))
                        }
                    }
                }
            }
        }
    }
}

/// "20000 rows", from the split profile of that name.
fn rows_of(run: &RunRecord, split: &str) -> String {
    run.summary
        .as_ref()
        .and_then(|s| s.splits.iter().find(|p| p.name == split))
        .map_or_else(
            || {
                run.outputs
                    .as_ref()
                    .map_or("? rows".into(), |o| format!("{} rows", o.target.len()))
            },
            |p| format!("{} rows", p.rows),
        )
}

fn learning_curves(run: &RunRecord) -> Result<Markup, DrawError> {
    // The history's columns as metrics (a column no run records is not drawn), one chart per
    // base name with its training and validation curves.
    let recorded: Vec<Metric> = run
        .history
        .first()
        .map(|r| {
            r.metrics
                .iter()
                .filter_map(|m| Metric::parse(&m.0))
                .collect()
        })
        .unwrap_or_default();
    let mut bases: Vec<&'static str> = Vec::new();
    for m in &recorded {
        if !bases.contains(&m.base) {
            bases.push(m.base);
        }
    }
    let mut figures = Vec::new();
    for base in bases {
        let training = Metric::new(base, Split::Training);
        let chart = charts::learning(&run.history, training, run.head().loss());
        let note = if chart.series.len() == 2 {
            "training rows (dashed) and validation rows"
        } else if recorded.contains(&training) {
            "training rows"
        } else {
            "validation rows"
        };
        figures.push(figure(&format!("curve-{base}"), note, &chart)?);
    }
    if !run.history.is_empty() {
        figures.push(figure(
            "curve-lr",
            "the schedule",
            &charts::learning_rate(&run.history),
        )?);
    }
    Ok(html! {
        section #curves {
            h2 { "Learning curves" }
            p.note { "Per epoch: training metrics are running averages over the epoch's batches on the training rows; validation metrics are computed after the epoch on the validation rows." }
            div.grid {
                @if run.history.is_empty() { p { "No epoch finished." } }
                @for f in figures { (f) }
            }
        }
    })
}

/// The section a run without `outputs.csv` shows instead of its charts.
pub(super) fn no_outputs(id: &str, heading: &str) -> Markup {
    html! {
        section id=(id) {
            h2 { (heading) }
            p.note { "No saved outputs (" code { "outputs.csv" } "): the run did not finish." }
        }
    }
}

fn classifier(run: &RunRecord) -> Result<Markup, DrawError> {
    let Some(o) = &run.outputs else {
        return Ok(no_outputs("classifier", "Classifier"));
    };
    let split = run.evaluated_on();
    let note = format!("final model on the {split} rows ({})", o.target.len());
    let t = run.threshold();
    // ROC and precision-recall rank by the raw output, as the AUC in summary.json does.
    let ranking = Ranking::of(&o.output, &o.target);
    let roc = charts::roc(&ranking)
        .map(|c| figure("roc", &note, &c))
        .transpose()?;
    let pr = charts::precision_recall(&ranking)
        .map(|c| figure("pr", &note, &c))
        .transpose()?;
    let confusion = Confusion::count(
        o.probability.iter().copied().zip(o.target.iter().copied()),
        t,
    );
    Ok(html! {
        section #classifier {
            h2 { "Classifier trade-offs" }
            p.note {
                "All on the " (split) " rows (" (o.target.len()) "), from " code { "outputs.csv" }
                "; decision threshold " (show_threshold(t)) "."
            }
            div.grid {
                @match roc {
                    Some(f) => (f),
                    None => p { "ROC and precision-recall: undefined, the rows hold one class only." },
                }
                @if let Some(f) = pr { (f) }
                (figure("calibration", &note, &charts::calibration(o))?)
                (figure("histogram", &note, &charts::probability_by_class(o))?)
            }
            (confusion_matrix(&confusion, t, &note))
        }
    })
}

fn confusion_matrix(c: &Confusion, t: f64, note: &str) -> Markup {
    let total = (c.tp + c.fp + c.tn + c.fn_).max(1) as f64;
    let actual_pos = (c.tp + c.fn_).max(1) as f64;
    let actual_neg = (c.tn + c.fp).max(1) as f64;
    let cell = |n: u64, of_row: f64, good: bool| {
        let share = n as f64 / of_row;
        // Shade by the share of its actual class: green where right, red where wrong.
        let (r, g, b) = if good { (46, 160, 67) } else { (214, 39, 40) };
        let shade = format!("background:rgba({r},{g},{b},{:.2})", 0.08 + 0.5 * share);
        html! {
            td style=(shade) {
                b { (n) } br;
                (format!("{:.1} % of actual", 100.0 * share)) br;
                (format!("{:.1} % of all", 100.0 * n as f64 / total))
            }
        }
    };
    html! {
        figure.chart data-chart="confusion" {
            figcaption { b { "Confusion matrix at threshold " (show_threshold(t)) } " · " (note) }
            table.confusion {
                tr { th {} th { "predicted 0" } th { "predicted 1" } }
                tr { th { "actual 0" } (cell(c.tn, actual_neg, true)) (cell(c.fp, actual_neg, false)) }
                tr { th { "actual 1" } (cell(c.fn_, actual_pos, false)) (cell(c.tp, actual_pos, true)) }
            }
        }
    }
}

fn regression(run: &RunRecord) -> Result<Markup, DrawError> {
    let Some(o) = &run.outputs else {
        return Ok(no_outputs("regression", "Regression"));
    };
    let split = run.evaluated_on();
    let n = o.target.len();
    let (drawn, step) = charts::thinned(n);
    let thin = if step > 1 {
        format!(", every {step}th of {n} rows drawn")
    } else {
        String::new()
    };
    let note = format!("final model on the {split} rows ({n}){thin}");
    let histogram = charts::residual_histogram(o)
        .map(|c| figure("residual-histogram", &note, &c))
        .transpose()?;
    Ok(html! {
        section #regression {
            h2 { "Predictions and residuals" }
            p.note { "On the " (split) " rows, from " code { "outputs.csv" } "." }
            div.grid {
                (figure("predicted-actual", &note, &charts::predicted_actual(o, &drawn))?)
                (figure("residuals", &note, &charts::residuals(o, &drawn))?)
                @if let Some(f) = histogram { (f) }
            }
        }
    })
}

fn importance(run: &RunRecord) -> Result<Markup, DrawError> {
    let Some(imp) = &run.importance else {
        return Ok(html! {
            section #importance {
                h2 { "What the model relies on" }
                p.note {
                    "Not computed yet: " code { "burnfit explain --model RUN_DIR --data CSV" }
                    " measures permutation importance and refreshes this page."
                }
            }
        });
    };
    let top = &imp.columns[..imp.columns.len().min(15)];
    let (metric, about) = match &imp.about {
        Some(a) => (
            a.metric.as_str(),
            format!(
                "on {} ({} rows), {} shuffles per column; {} before shuffling {:.4}",
                a.data.display(),
                a.rows,
                a.repeats,
                a.metric,
                a.baseline
            ),
        ),
        None => ("the metric", "from explain/importance.csv".to_string()),
    };
    let title = format!("Permutation importance: drop in {metric} when a column is shuffled");
    let svg = charts::importance(&title, metric, top)?;
    let note = format!(
        "{about}; top {} of {} columns",
        top.len(),
        imp.columns.len()
    );
    Ok(html! {
        section #importance {
            h2 { "What the model relies on" }
            (drawn_figure("importance", &title, &note, &svg))
        }
    })
}
