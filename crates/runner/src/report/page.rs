//! The report's HTML: one file, inline SVG and CSS, no script, nothing fetched (its content
//! security policy forbids it), readable offline and printable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use anyhow::Result;
use burnfit_model::Loss;

use super::chart::{self, Axis, Chart, Mark, Series, REFERENCE};
use super::curves::{self, Confusion};
use super::{flatten, RunRecord, Spread};
use crate::history::EpochRow;
use crate::metrics;

/// Most points a scatter plot draws; more are thinned evenly (and the caption says so).
const MAX_SCATTER: usize = 2000;

/// The decision threshold a run's class predictions used.
pub fn threshold(run: &RunRecord) -> f64 {
    run.summary.as_ref().map_or(0.5, |s| s.threshold)
}

/// A threshold for people: at most four decimals, no trailing zeros (`0.5`, `0.4195`).
fn show_threshold(t: f64) -> String {
    let s = format!("{t:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The page of one run.
pub fn single(run: &RunRecord) -> Result<String> {
    let mut body = String::new();
    let task = match run.loss() {
        Loss::Bce => "binary classification",
        Loss::Mse => "regression",
    };
    let _ = write!(
        body,
        "<header><h1>{}</h1><p class=\"sub\">burnfit run · {task} · {}</p></header>",
        esc(&run.name),
        esc(&run.state())
    );
    body.push_str(&identity(run));
    body.push_str(&metrics_tables(run));
    body.push_str(&learning_curves(run)?);
    match run.loss() {
        Loss::Bce => body.push_str(&classifier(run)?),
        Loss::Mse => body.push_str(&regression(run)?),
    }
    body.push_str(&importance(run)?);
    body.push_str(&footprint(run));
    let _ = write!(
        body,
        "<section id=\"config\"><h2>Resolved config</h2><p class=\"note\">Every key that acted, defaults included (<code>config.toml</code>).</p><pre>{}</pre></section>",
        esc(&run.config_text)
    );
    Ok(document(&format!("burnfit · {}", run.name), &body))
}

/// The page comparing several runs.
pub fn compare(runs: &[RunRecord]) -> Result<String> {
    let mut body = String::new();
    let _ = write!(
        body,
        "<header><h1>Comparing {} runs</h1><p class=\"sub\">burnfit report · {}</p></header>",
        runs.len(),
        esc(&runs
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", "))
    );
    body.push_str(&comparison_table(runs));
    body.push_str(&overlaid_curves(runs)?);
    body.push_str(&config_differences(runs));
    Ok(document("burnfit · comparison", &body))
}

/// The page of a cross-validation: the spread of every metric over the folds, then the folds
/// compared as runs.
pub fn cross_validation(runs: &[RunRecord], spread: &BTreeMap<String, Spread>) -> Result<String> {
    let mut body = String::new();
    let _ = write!(
        body,
        "<header><h1>Cross-validation, {} folds</h1><p class=\"sub\">burnfit cv · {}</p></header>",
        runs.len(),
        esc(&runs.first().map(RunRecord::data_words).unwrap_or_default())
    );
    let threshold = show_threshold(runs.first().map_or(0.5, threshold));
    // With a test file, each fold's final evaluation is on it, not on the fold.
    let on_test = runs
        .first()
        .and_then(|r| r.summary.as_ref())
        .is_some_and(|s| s.evaluated_on == "test");
    let evaluated = if on_test {
        "the test file (data.test_path)"
    } else {
        "its own validation fold"
    };
    let _ = write!(
        body,
        "<section id=\"cv\"><h2>Spread over the folds</h2><p class=\"note\">Each fold's final model on {evaluated}; preprocessing fitted on each fold's training rows. Mean and sample standard deviation (n − 1); threshold-dependent metrics at each fold's threshold ({threshold} for the first).</p><table><tr><th>metric</th><th class=\"num\">mean</th><th class=\"num\">sd</th>"
    );
    for k in 1..=runs.len() {
        let _ = write!(body, "<th class=\"num\">fold {k}</th>");
    }
    body.push_str("</tr>");
    for (name, s) in spread {
        let _ = write!(body, "<tr><th>{}</th>", esc(name));
        body.push_str(&value_cell(&format!("cv.{name}.mean"), s.mean, ""));
        body.push_str(&value_cell(&format!("cv.{name}.sd"), s.sd, ""));
        for v in &s.folds {
            body.push_str(&value_cell(&format!("cv.{name}.fold"), *v, ""));
        }
        body.push_str("</tr>");
    }
    body.push_str("</table></section>");
    body.push_str(&comparison_table(runs));
    body.push_str(&overlaid_curves(runs)?);
    Ok(document("burnfit · cross-validation", &body))
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"burnfit {}\">\n<title>{}</title>\n<style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title)
    )
}

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;max-width:1340px;margin:0 auto;padding:16px 24px;background:#fff}\
h1{font-size:22px;margin:0}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.sub,.note{color:#666;margin:2px 0 10px}\
table{border-collapse:collapse;margin:6px 0 12px}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.best{font-weight:bold;background:#e8f4e8}\
.grid{display:flex;flex-wrap:wrap;gap:14px}\
figure.chart{margin:0;border:1px solid #e4e4e4;padding:6px;background:#fff;break-inside:avoid}\
figure.chart figcaption{font-size:13px;color:#444;margin:0 0 4px;max-width:640px}\
figure.chart svg{display:block;max-width:100%;height:auto}\
table.confusion td{width:120px;text-align:center;padding:10px}\
pre{background:#f7f7f7;padding:10px;overflow-x:auto;font-size:12px}\
@media print{body{max-width:none}figure.chart{border:none}}";

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A chart in a `<figure>`: its title, then where its numbers come from, then the SVG.
fn figure(id: &str, title: &str, note: &str, chart: &Chart) -> Result<String> {
    Ok(format!(
        "<figure class=\"chart\" data-chart=\"{id}\"><figcaption><b>{}</b> · {}</figcaption>{}</figure>",
        esc(title),
        esc(note),
        chart.svg()?
    ))
}

/// A metric value: four decimals shown, the full value in `data-value` (what the browser test
/// compares with `summary.json`), `n/a` when undefined.
fn value_cell(key: &str, v: f64, class: &str) -> String {
    let data = if v.is_finite() {
        v.to_string()
    } else {
        "null".into()
    };
    format!(
        "<td class=\"num {class}\" data-metric=\"{}\" data-value=\"{data}\">{}</td>",
        esc(key),
        metrics::show(v)
    )
}

fn identity(run: &RunRecord) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let folder = std::path::absolute(&run.dir).unwrap_or_else(|_| run.dir.clone());
    rows.push(("run folder".into(), folder.display().to_string()));
    rows.push(("ended".into(), run.when()));
    if let Some(s) = &run.summary {
        rows.push(("backend".into(), format!("{} · {}", s.backend, s.device)));
        rows.push((
            "epochs".into(),
            format!(
                "{} run, best {} ({})",
                s.epochs_run,
                s.best_epoch,
                serde_json::to_value(s.stopped)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
                    .replace('_', " ")
            ),
        ));
    }
    let net = &run.model.network;
    let mut shape: Vec<String> = vec![net.input.to_string()];
    shape.extend(net.hidden.iter().map(ToString::to_string));
    shape.push("1".into());
    rows.push((
        "network".into(),
        format!(
            "{} dense ({}), {} loss",
            shape.join("-"),
            format!("{:?}", net.activation).to_lowercase(),
            match run.loss() {
                Loss::Bce => "binary cross-entropy",
                Loss::Mse => "mean squared error",
            }
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
        for p in &s.splits {
            let what = match (p.positives, p.target) {
                (Some(pos), _) => format!(
                    "{} rows: {pos} positive ({:.1} %), {} negative",
                    p.rows,
                    100.0 * pos as f64 / p.rows.max(1) as f64,
                    p.rows - pos
                ),
                (None, Some([lo, mean, hi])) => {
                    format!(
                        "{} rows: target from {lo:.4} to {hi:.4}, mean {mean:.4}",
                        p.rows
                    )
                }
                _ => format!("{} rows", p.rows),
            };
            rows.push((format!("{} split", p.name), what));
        }
        if run.loss() == Loss::Bce {
            let how = match s.threshold_rule.as_str() {
                "" => String::new(),
                rule if rule.parse::<f64>().is_ok() => " (train.threshold)".into(),
                rule => format!(" (chosen by train.threshold = \"{rule}\" on the validation rows)"),
            };
            rows.push((
                "decision threshold".into(),
                format!("{}{how}", show_threshold(s.threshold)),
            ));
            rows.push((
                "class weights".into(),
                match s.class_weights {
                    Some([w0, w1]) => {
                        format!("class 0 {w0:.4}, class 1 {w1:.4} in the training loss")
                    }
                    None => "none: every row weighs 1".into(),
                },
            ));
        }
        if !s.warnings.is_empty() {
            rows.push(("config warnings".into(), s.warnings.join("; ")));
        }
        if !s.data_warnings.is_empty() {
            rows.push(("data warnings".into(), s.data_warnings.join("; ")));
        }
    }
    let mut html = String::from("<section id=\"identity\"><h2>Run</h2><table>");
    for (k, v) in rows {
        let _ = write!(html, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    html.push_str("</table></section>");
    html
}

fn metrics_tables(run: &RunRecord) -> String {
    let Some(s) = &run.summary else {
        return "<section id=\"metrics\"><h2>Final metrics</h2><p class=\"note\">The run has not finished: no final evaluation.</p></section>".into();
    };
    let names = metrics::base_names(run.loss());
    let mut html = format!(
        "<section id=\"metrics\"><h2>Final metrics</h2><p class=\"note\">The final model on the {} rows ({}) and on the training rows. Accuracy, precision, recall and F1 are at the decision threshold {}; loss, AUC, average precision and Brier score do not depend on it.</p><table><tr><th>split</th>",
        esc(&s.evaluated_on),
        rows_of(run, &s.evaluated_on),
        show_threshold(threshold(run))
    );
    for n in names {
        let at = if metrics::depends_on_threshold(n) {
            format!(" @{}", show_threshold(threshold(run)))
        } else {
            String::new()
        };
        let _ = write!(html, "<th class=\"num\">{n}{at}</th>");
    }
    html.push_str("</tr>");
    for (label, key, map) in [
        (s.evaluated_on.as_str(), "evaluation", &s.evaluation),
        ("train", "train_metrics", &s.train_metrics),
    ] {
        let _ = write!(html, "<tr><th>{}</th>", esc(label));
        for n in names {
            let v = map.get(*n).copied().unwrap_or(f64::NAN);
            html.push_str(&value_cell(&format!("{key}.{n}"), v, ""));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></section>");
    html
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

/// What a metric measures, with its unit, for an axis title.
fn describe(base: &str, loss: Loss) -> String {
    match (base, loss) {
        ("loss", Loss::Bce) => "binary cross-entropy".into(),
        ("loss", Loss::Mse) => "mean squared error (target units²)".into(),
        ("rmse", _) => "RMSE (target units)".into(),
        ("mae", _) => "MAE (target units)".into(),
        ("r2", _) => "R² (fraction of variance)".into(),
        ("lr", _) => "learning rate".into(),
        (other, _) => format!("{other} (fraction)"),
    }
}

fn learning_curves(run: &RunRecord) -> Result<String> {
    let mut html = String::from(
        "<section id=\"curves\"><h2>Learning curves</h2><p class=\"note\">Per epoch: training metrics are running averages over the epoch's batches on the training rows; validation metrics are computed after the epoch on the validation rows.</p><div class=\"grid\">",
    );
    if run.history.is_empty() {
        html.push_str("<p>No epoch finished.</p></div></section>");
        return Ok(html);
    }
    let names: Vec<String> = run.history[0].metrics.iter().map(|m| m.0.clone()).collect();
    let mut bases: Vec<String> = Vec::new();
    for n in &names {
        let b = n.strip_prefix("val_").unwrap_or(n).to_string();
        if !bases.contains(&b) {
            bases.push(b);
        }
    }
    for base in &bases {
        let chart = learning_chart(&run.history, base, run.loss());
        let note = if chart.series.len() == 2 {
            "training rows (dashed) and validation rows"
        } else if names.iter().any(|n| n == base) {
            "training rows"
        } else {
            "validation rows"
        };
        html.push_str(&figure(
            &format!("curve-{base}"),
            &chart.title,
            note,
            &chart,
        )?);
    }
    let lr = Chart::new(
        "learning rate per epoch",
        Axis::whole("epoch"),
        Axis::fit("learning rate"),
        vec![Series::new(
            "lr at the epoch's start",
            run.history.iter().map(|r| (r.epoch as f64, r.lr)).collect(),
            Mark::Line,
            2,
        )],
    );
    html.push_str(&figure(
        "curve-lr",
        "learning rate per epoch",
        "the schedule",
        &lr,
    )?);
    html.push_str("</div></section>");
    Ok(html)
}

/// The chart of one metric per epoch: training (dashed) and validation, where recorded.
pub fn learning_chart(history: &[EpochRow], base: &str, loss: Loss) -> Chart {
    let names: Vec<&str> = history
        .first()
        .map(|r| r.metrics.iter().map(|m| m.0.as_str()).collect())
        .unwrap_or_default();
    let mut series = Vec::new();
    for (name, label, color, mark) in [
        (base.to_string(), "training", 0, Mark::Dashed),
        (format!("val_{base}"), "validation", 1, Mark::Line),
    ] {
        if names.contains(&name.as_str()) {
            let points = history
                .iter()
                .map(|r| (r.epoch as f64, r.get(&name).unwrap_or(f64::NAN)))
                .collect();
            series.push(Series::new(label, points, mark, color));
        }
    }
    Chart::new(
        format!("{base} per epoch"),
        Axis::whole("epoch"),
        Axis::fit(describe(base, loss)),
        series,
    )
}

/// `curves.svg`: the loss and the main metric per epoch, side by side.
pub fn curves_svg(history: &[EpochRow], loss: Loss) -> Result<String> {
    chart::panels(&[
        learning_chart(history, "loss", loss),
        learning_chart(history, metrics::main_metric(loss), loss),
    ])
}

fn classifier(run: &RunRecord) -> Result<String> {
    let Some(o) = &run.outputs else {
        return Ok("<section id=\"classifier\"><h2>Classifier</h2><p class=\"note\">No saved outputs (<code>outputs.csv</code>): the run did not finish.</p></section>".into());
    };
    let split = run
        .summary
        .as_ref()
        .map_or("validation".to_string(), |s| s.evaluated_on.clone());
    let note = format!("final model on the {split} rows ({})", o.target.len());
    let t = threshold(run);
    let shown = show_threshold(t);
    let mut html = format!(
        "<section id=\"classifier\"><h2>Classifier trade-offs</h2><p class=\"note\">All on the {split} rows ({}), from <code>outputs.csv</code>; decision threshold {shown}.</p><div class=\"grid\">",
        o.target.len()
    );
    // ROC and precision-recall rank by the raw output, as the AUC in summary.json does.
    match curves::roc(&o.output, &o.target) {
        Some((points, area)) => {
            let chart = Chart::new(
                format!("ROC curve, AUC {area:.4}"),
                Axis::over("false positive rate", 0.0, 1.0),
                Axis::over("true positive rate (recall)", 0.0, 1.0),
                vec![
                    Series::new(
                        "chance",
                        vec![(0.0, 0.0), (1.0, 1.0)],
                        Mark::Dashed,
                        REFERENCE,
                    ),
                    Series::new(
                        format!("model (AUC {area:.4})"),
                        thin_curve(points),
                        Mark::Line,
                        0,
                    ),
                ],
            );
            html.push_str(&figure(
                "roc",
                &format!("ROC curve, AUC {area:.4}"),
                &note,
                &chart,
            )?);
        }
        None => html
            .push_str("<p>ROC and precision-recall: undefined, the rows hold one class only.</p>"),
    }
    if let Some((points, ap)) = curves::precision_recall(&o.output, &o.target) {
        let prevalence = o.target.iter().sum::<f64>() / o.target.len().max(1) as f64;
        let chart = Chart::new(
            format!("Precision-recall, average precision {ap:.4}"),
            Axis::over("recall", 0.0, 1.0),
            Axis::over("precision", 0.0, 1.05),
            vec![
                Series::new(
                    format!("no skill ({prevalence:.3})"),
                    vec![(0.0, prevalence), (1.0, prevalence)],
                    Mark::Dashed,
                    REFERENCE,
                ),
                Series::new(
                    format!("model (AP {ap:.4})"),
                    thin_curve(points),
                    Mark::Line,
                    0,
                ),
            ],
        );
        html.push_str(&figure(
            "pr",
            &format!("Precision-recall, average precision {ap:.4}"),
            &note,
            &chart,
        )?);
    }
    let bins = curves::calibration(&o.probability, &o.target, 10);
    let brier = curves::brier(&o.probability, &o.target);
    let chart = Chart::new(
        format!("Calibration, Brier score {brier:.4}"),
        Axis::over("mean predicted probability", 0.0, 1.0),
        Axis::over("fraction positive", 0.0, 1.0),
        vec![
            Series::new(
                "perfectly calibrated",
                vec![(0.0, 0.0), (1.0, 1.0)],
                Mark::Dashed,
                REFERENCE,
            ),
            Series::new(
                "model (10 bins)",
                bins.iter().map(|b| (b.predicted, b.observed)).collect(),
                Mark::Line,
                0,
            ),
        ],
    );
    html.push_str(&figure(
        "calibration",
        &format!("Calibration, Brier score {brier:.4}"),
        &note,
        &chart,
    )?);
    let n_bins = 20;
    let width = 1.0 / n_bins as f64;
    let mut series = Vec::new();
    for (class, label, color) in [
        (0.0, "class 0 (negative)", 0),
        (1.0, "class 1 (positive)", 3),
    ] {
        let counts = curves::histogram(
            o.probability
                .iter()
                .zip(&o.target)
                .filter(|(_, &y)| (y > 0.5) == (class > 0.5))
                .map(|(&p, _)| p),
            0.0,
            1.0,
            n_bins,
        );
        let points = counts
            .iter()
            .enumerate()
            .map(|(k, &c)| ((k as f64 + 0.5) * width, c as f64))
            .collect();
        series.push(Series::new(label, points, Mark::Bars(width), color));
    }
    let chart = Chart::new(
        "Predicted probability by class",
        Axis::over("predicted probability of class 1", 0.0, 1.0),
        Axis {
            integer: true,
            ..Axis::fit("rows")
        },
        series,
    );
    html.push_str(&figure(
        "histogram",
        "Predicted probability by class",
        &note,
        &chart,
    )?);
    html.push_str("</div>");
    html.push_str(&confusion(
        &Confusion::at(&o.probability, &o.target, t),
        t,
        &note,
    ));
    html.push_str("</section>");
    Ok(html)
}

fn confusion(c: &Confusion, t: f64, note: &str) -> String {
    let total = (c.tp + c.fp + c.tn + c.fn_).max(1) as f64;
    let actual_pos = (c.tp + c.fn_).max(1) as f64;
    let actual_neg = (c.tn + c.fp).max(1) as f64;
    let cell = |n: u64, of_row: f64, good: bool| {
        let share = n as f64 / of_row;
        // Shade by the share of its actual class: green where right, red where wrong.
        let (r, g, b) = if good { (46, 160, 67) } else { (214, 39, 40) };
        format!(
            "<td style=\"background:rgba({r},{g},{b},{:.2})\"><b>{n}</b><br>{:.1} % of actual<br>{:.1} % of all</td>",
            0.08 + 0.5 * share,
            100.0 * share,
            100.0 * n as f64 / total
        )
    };
    format!(
        "<figure class=\"chart\" data-chart=\"confusion\"><figcaption><b>Confusion matrix at threshold {}</b> · {}</figcaption>\
         <table class=\"confusion\"><tr><th></th><th>predicted 0</th><th>predicted 1</th></tr>\
         <tr><th>actual 0</th>{}{}</tr><tr><th>actual 1</th>{}{}</tr></table></figure>",
        show_threshold(t),
        esc(note),
        cell(c.tn, actual_neg, true),
        cell(c.fp, actual_neg, false),
        cell(c.fn_, actual_pos, false),
        cell(c.tp, actual_pos, true),
    )
}

/// Most points a curve (ROC, precision-recall) draws; its area is computed from all of them.
const MAX_CURVE: usize = 2000;

/// `points` thinned evenly to at most [`MAX_CURVE`], first and last kept: a million-row
/// split's curve would otherwise be a polyline of a million points in the page.
fn thin_curve(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_CURVE {
        return points;
    }
    let step = points.len().div_ceil(MAX_CURVE);
    let last = *points.last().expect("non-empty");
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Every `step`th of `n` indices, so that at most [`MAX_SCATTER`] are drawn.
fn thinned(n: usize) -> (Vec<usize>, String) {
    let step = n.div_ceil(MAX_SCATTER).max(1);
    let idx: Vec<usize> = (0..n).step_by(step).collect();
    let words = if step > 1 {
        format!(", every {step}th of {n} rows drawn")
    } else {
        String::new()
    };
    (idx, words)
}

fn regression(run: &RunRecord) -> Result<String> {
    let Some(o) = &run.outputs else {
        return Ok("<section id=\"regression\"><h2>Regression</h2><p class=\"note\">No saved outputs (<code>outputs.csv</code>): the run did not finish.</p></section>".into());
    };
    let split = run
        .summary
        .as_ref()
        .map_or("validation".to_string(), |s| s.evaluated_on.clone());
    let (idx, thin) = thinned(o.target.len());
    let note = format!("final model on the {split} rows ({}){thin}", o.target.len());
    let mut html = format!(
        "<section id=\"regression\"><h2>Predictions and residuals</h2><p class=\"note\">On the {split} rows, from <code>outputs.csv</code>.</p><div class=\"grid\">"
    );
    let (lo, hi) = o
        .target
        .iter()
        .chain(&o.output)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let pairs: Vec<(f64, f64)> = idx.iter().map(|&i| (o.target[i], o.output[i])).collect();
    let chart = Chart::new(
        "Predicted against actual",
        Axis::fit("actual (target units)"),
        Axis::fit("predicted (target units)"),
        vec![
            Series::new(
                "perfect prediction",
                vec![(lo, lo), (hi, hi)],
                Mark::Dashed,
                REFERENCE,
            ),
            Series::new("rows", pairs, Mark::Dots, 0),
        ],
    );
    html.push_str(&figure(
        "predicted-actual",
        "Predicted against actual",
        &note,
        &chart,
    )?);
    let residuals: Vec<f64> = o.target.iter().zip(&o.output).map(|(y, p)| y - p).collect();
    let (plo, phi) = o
        .output
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let chart = Chart::new(
        "Residuals against predicted",
        Axis::fit("predicted (target units)"),
        Axis::fit("residual: actual − predicted"),
        vec![
            Series::new(
                "zero",
                vec![(plo, 0.0), (phi, 0.0)],
                Mark::Dashed,
                REFERENCE,
            ),
            Series::new(
                "rows",
                idx.iter().map(|&i| (o.output[i], residuals[i])).collect(),
                Mark::Dots,
                0,
            ),
        ],
    );
    html.push_str(&figure(
        "residuals",
        "Residuals against predicted",
        &note,
        &chart,
    )?);
    let (rlo, rhi) = residuals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if rlo.is_finite() && rhi > rlo {
        let n_bins = 30;
        let w = (rhi - rlo) / n_bins as f64;
        let counts = curves::histogram(residuals.iter().copied(), rlo, rhi, n_bins);
        let chart = Chart::new(
            "Residual distribution",
            Axis::fit("residual (target units)"),
            Axis {
                integer: true,
                ..Axis::fit("rows")
            },
            vec![Series::new(
                "rows per bin",
                counts
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| (rlo + (k as f64 + 0.5) * w, c as f64))
                    .collect(),
                Mark::Bars(w),
                0,
            )],
        );
        html.push_str(&figure(
            "residual-histogram",
            "Residual distribution",
            &note,
            &chart,
        )?);
    }
    html.push_str("</div></section>");
    Ok(html)
}

fn importance(run: &RunRecord) -> Result<String> {
    let Some(imp) = &run.importance else {
        return Ok("<section id=\"importance\"><h2>What the model relies on</h2><p class=\"note\">Not computed yet: <code>burnfit explain --model RUN_DIR --data CSV</code> measures permutation importance and refreshes this page.</p></section>".into());
    };
    let top: Vec<(String, f64, f64)> = imp.columns.iter().take(15).cloned().collect();
    let (metric, about) = match &imp.about {
        Some(a) => (
            a.metric.clone(),
            format!(
                "on {} ({} rows), {} shuffles per column; {} before shuffling {:.4}",
                a.data.display(),
                a.rows,
                a.repeats,
                a.metric,
                a.baseline
            ),
        ),
        None => ("the metric".into(), "from explain/importance.csv".into()),
    };
    let title = format!("Permutation importance: drop in {metric} when a column is shuffled");
    let svg = chart::bars_with_errors(&title, &format!("drop in {metric} (mean ± sd)"), &top)?;
    Ok(format!(
        "<section id=\"importance\"><h2>What the model relies on</h2><figure class=\"chart\" data-chart=\"importance\"><figcaption><b>{}</b> · {}; top {} of {} columns</figcaption>{svg}</figure></section>",
        esc(&title),
        esc(&about),
        top.len(),
        imp.columns.len()
    ))
}

fn footprint(run: &RunRecord) -> String {
    match &run.summary {
        Some(s) => format!(
            "<section id=\"footprint\"><h2>What the run cost</h2><pre>{}</pre></section>",
            esc(&s.footprint.block())
        ),
        None => String::new(),
    }
}

fn comparison_table(runs: &[RunRecord]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        for n in metrics::base_names(r.loss()) {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    let mut html = String::from(
        "<section id=\"runs\"><h2>Final metrics</h2><p class=\"note\">Each run's final model on its evaluated rows (validation, or test when the run had a test file); the best value per column among runs with the same loss is marked ★.</p><table><tr><th>run</th><th>ended</th><th>status</th><th>data</th><th>evaluated on</th>",
    );
    for n in &names {
        let _ = write!(html, "<th class=\"num\">{n}</th>");
    }
    html.push_str("</tr>");
    // Best among the runs of the same loss only: a cross-entropy and a squared error do not
    // compare.
    let best = |n: &str, loss: Loss| -> Option<f64> {
        let values = runs
            .iter()
            .filter(|r| r.loss() == loss)
            .filter_map(|r| r.metric(n))
            .filter(|v| v.is_finite());
        if metrics::higher_is_better(n) {
            values.reduce(f64::max)
        } else {
            values.reduce(f64::min)
        }
    };
    for r in runs {
        let _ = write!(
            html,
            "<tr data-run=\"{}\"><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&r.name),
            esc(&r.name),
            esc(&r.when()),
            esc(&r.state()),
            esc(&r.data_words()),
            esc(r.summary.as_ref().map_or("", |s| s.evaluated_on.as_str()))
        );
        let peers = runs.iter().filter(|o| o.loss() == r.loss()).count();
        for n in &names {
            let v = r.metric(n).unwrap_or(f64::NAN);
            let is_best = best(n, r.loss()).is_some_and(|b| v == b) && peers > 1;
            let mut cell = value_cell(
                &format!("evaluation.{n}"),
                v,
                if is_best { "best" } else { "" },
            );
            if is_best {
                cell = cell.replacen("</td>", " ★</td>", 1);
            }
            html.push_str(&cell);
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></section>");
    html
}

fn overlaid_curves(runs: &[RunRecord]) -> Result<String> {
    let mut html = String::from(
        "<section id=\"curves\"><h2>Learning curves</h2><p class=\"note\">Validation metrics per epoch, one line per run; the loss chart adds each run's training loss, dashed.</p><div class=\"grid\">",
    );
    let mut bases: Vec<String> = Vec::new();
    for r in runs {
        for (n, _) in r
            .history
            .first()
            .map(|h| h.metrics.as_slice())
            .unwrap_or(&[])
        {
            if let Some(b) = n.strip_prefix("val_") {
                if !bases.iter().any(|x| x == b) {
                    bases.push(b.to_string());
                }
            }
        }
    }
    let loss_kinds: BTreeSet<&str> = runs
        .iter()
        .map(|r| match r.loss() {
            Loss::Bce => "bce",
            Loss::Mse => "mse",
        })
        .collect();
    for base in &bases {
        let mut series = Vec::new();
        for (k, r) in runs.iter().enumerate() {
            let curve = |name: &str| -> Vec<(f64, f64)> {
                r.history
                    .iter()
                    .map(|row| (row.epoch as f64, row.get(name).unwrap_or(f64::NAN)))
                    .collect()
            };
            let val = curve(&format!("val_{base}"));
            if val.iter().any(|p| p.1.is_finite()) {
                series.push(Series::new(format!("{} (val)", r.name), val, Mark::Line, k));
            }
            if base == "loss" {
                series.push(Series::new(
                    format!("{} (train)", r.name),
                    curve("loss"),
                    Mark::Dashed,
                    k,
                ));
            }
        }
        let y = if loss_kinds.len() == 1 {
            describe(base, runs[0].loss())
        } else {
            base.clone()
        };
        let chart = Chart::new(
            format!("val_{base} per epoch"),
            Axis::whole("epoch"),
            Axis::fit(y),
            series,
        );
        if chart.has_data() {
            html.push_str(&figure(
                &format!("compare-{base}"),
                &format!("val_{base} per epoch"),
                "each run's validation rows",
                &chart,
            )?);
        }
    }
    html.push_str("</div></section>");
    Ok(html)
}

fn config_differences(runs: &[RunRecord]) -> String {
    let flat: Vec<_> = runs.iter().map(|r| flatten(&r.config)).collect();
    let keys: BTreeSet<&String> = flat.iter().flat_map(|f| f.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| {
            let first = flat[0].get(*k);
            flat.iter().any(|f| f.get(*k) != first)
        })
        .collect();
    let mut html = String::from("<section id=\"config\"><h2>Config keys that differ</h2>");
    if differing.is_empty() {
        html.push_str("<p>None: the runs share every key of their resolved configs.</p></section>");
        return html;
    }
    html.push_str("<table><tr><th>key</th>");
    for r in runs {
        let _ = write!(html, "<th>{}</th>", esc(&r.name));
    }
    html.push_str("</tr>");
    for k in differing {
        let _ = write!(
            html,
            "<tr data-key=\"{}\"><th><code>{}</code></th>",
            esc(k),
            esc(k)
        );
        for f in &flat {
            let _ = write!(
                html,
                "<td><code>{}</code></td>",
                esc(f.get(k).map_or("(absent)", String::as_str))
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></section>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_curves_are_thinned_keeping_both_ends() {
        let points: Vec<(f64, f64)> = (0..10_001).map(|i| (i as f64, 2.0 * i as f64)).collect();
        let thin = thin_curve(points.clone());
        assert!(thin.len() <= MAX_CURVE + 1, "{}", thin.len());
        assert_eq!(thin.first(), points.first());
        assert_eq!(thin.last(), points.last());
        assert_eq!(thin_curve(points[..10].to_vec()), points[..10].to_vec());
    }

    #[test]
    fn thresholds_show_four_decimals_at_most() {
        assert_eq!(show_threshold(0.5), "0.5");
        assert_eq!(show_threshold(0.419_497_456_790_426_4), "0.4195");
        assert_eq!(show_threshold(0.25), "0.25");
    }

    #[test]
    fn text_from_the_data_is_escaped() {
        assert_eq!(
            esc("<script>\"a\" & b</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; b&lt;/script&gt;"
        );
    }
}
