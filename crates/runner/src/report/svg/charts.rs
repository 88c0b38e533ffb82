//! The report's charts, built from a run's records: learning curves, the classifier's
//! trade-offs (ROC, precision-recall, calibration, probabilities by class), the regression's
//! predictions and residuals, permutation importance, and several runs overlaid. Each returns a
//! [`Chart`] (data, axes, title) for a page to draw and caption; [`curves_svg`] draws the run
//! folder's `curves.svg`.

use burnfit_model::Loss;

use super::plot::{bars_with_errors, panels, Axis, Chart, Mark, Series, REFERENCE};
use super::{DrawError, Svg};
use crate::data::buffer::Buffer;
use crate::history::EpochRow;
use crate::metrics::{self, Metric, Split};
use crate::ranking::Ranking;
use crate::report::curves;
use crate::report::record::{ColumnImportance, Outputs, RunRecord};

/// Most points a scatter plot draws; more are thinned evenly (and the caption says so).
const MAX_SCATTER: usize = 2000;

/// Most points a curve (ROC, precision-recall) draws; its area is computed from all of them.
const MAX_CURVE: usize = 2000;

/// Bins of the calibration chart.
pub(crate) const CALIBRATION_BINS: usize = 10;

/// What a metric measures, with its unit, for an axis title.
pub(crate) fn describe(base: &str, loss: Loss) -> String {
    match (base, loss) {
        ("loss", Loss::Bce) => "binary cross-entropy".into(),
        ("loss", Loss::Mse) => "mean squared error (target units²)".into(),
        ("loss", Loss::CrossEntropy) => "softmax cross-entropy".into(),
        ("rmse", _) => "RMSE (target units)".into(),
        ("mae", _) => "MAE (target units)".into(),
        ("r2", _) => "R² (fraction of variance)".into(),
        ("lr", _) => "learning rate".into(),
        (other, _) => format!("{other} (fraction)"),
    }
}

/// The chart of one metric per epoch: training (dashed) and validation, where recorded.
pub(crate) fn learning(history: &[EpochRow], metric: Metric, loss: Loss) -> Chart {
    let base = metric.base;
    let names: Vec<&str> = history
        .first()
        .map(|r| r.metrics.iter().map(|m| m.0.as_str()).collect())
        .unwrap_or_default();
    let mut series = Vec::new();
    for (name, label, color, mark) in [
        (
            Metric::new(base, Split::Training).name(),
            "training",
            0,
            Mark::Dashed,
        ),
        (
            Metric::new(base, Split::Validation).name(),
            "validation",
            1,
            Mark::Line,
        ),
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

/// The learning rate at each epoch's start.
pub(crate) fn learning_rate(history: &[EpochRow]) -> Chart {
    Chart::new(
        "learning rate per epoch",
        Axis::whole("epoch"),
        Axis::fit("learning rate"),
        vec![Series::new(
            "lr at the epoch's start",
            history.iter().map(|r| (r.epoch as f64, r.lr)).collect(),
            Mark::Line,
            2,
        )],
    )
}

/// `curves.svg`: the loss and the main metric per epoch, side by side.
pub(crate) fn curves_svg(history: &[EpochRow], head: crate::head::Head) -> Result<Svg, DrawError> {
    let loss = head.loss();
    panels(&[
        learning(history, Metric::new("loss", Split::Training), loss),
        learning(
            history,
            Metric::new(metrics::main_metric(head), Split::Training),
            loss,
        ),
    ])
}

/// How far apart on either axis the points of a drawn ROC or precision-recall curve are at the
/// least: a chart some hundreds of pixels wide shows nothing finer, and a split of millions of
/// distinct scores would otherwise hold a point for each.
const CURVE_STEP: f64 = 1.0 / 4096.0;

/// The ROC curve of the ranked outputs, titled with its AUC (the rank AUC `summary.json`
/// holds); `None` when a class is absent.
pub(crate) fn roc(ranking: &Ranking<f64>) -> Option<Chart> {
    let points = ranking.roc(CURVE_STEP)?;
    let auc = ranking.auc();
    Some(Chart::new(
        format!("ROC curve, AUC {auc:.4}"),
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
                format!("model (AUC {auc:.4})"),
                thin_curve(points),
                Mark::Line,
                0,
            ),
        ],
    ))
}

/// The precision-recall curve of the ranked outputs, titled with its average precision, over
/// the no-skill line at the share of positive rows; `None` without a positive row.
pub(crate) fn precision_recall(ranking: &Ranking<f64>) -> Option<Chart> {
    let points = ranking.precision_recall(CURVE_STEP)?;
    let ap = ranking.average_precision();
    let prevalence = ranking.positives() as f64 / ranking.rows().max(1) as f64;
    Some(Chart::new(
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
    ))
}

/// The reliability diagram, titled with the Brier score.
pub(crate) fn calibration(o: &Outputs) -> Chart {
    let brier = metrics::brier(o.probability.iter().copied().zip(o.target.iter().copied()));
    reliability(
        format!("Calibration, Brier score {brier:.4}"),
        ("mean predicted probability", "fraction positive"),
        (&o.probability, &o.target),
        CALIBRATION_BINS,
    )
}

/// A reliability diagram of `probabilities` against 0/1 `labels` in `bins` equal bins, over
/// the diagonal of perfect calibration.
fn reliability(
    title: String,
    (x, y): (&str, &str),
    (probabilities, labels): (&[f64], &[f64]),
    bins: usize,
) -> Chart {
    let points = curves::calibration(probabilities, labels, bins);
    Chart::new(
        title,
        Axis::over(x, 0.0, 1.0),
        Axis::over(y, 0.0, 1.0),
        vec![
            Series::new(
                "perfectly calibrated",
                vec![(0.0, 0.0), (1.0, 1.0)],
                Mark::Dashed,
                REFERENCE,
            ),
            Series::new(
                format!("model ({bins} bins)"),
                points.iter().map(|b| (b.predicted, b.observed)).collect(),
                Mark::Line,
                0,
            ),
        ],
    )
}

/// A k-class run's ROC curve of each class against the rest (its probability as the score),
/// titled with their macro mean AUC; `None` when no class has rows of both kinds.
pub(crate) fn one_vs_rest_roc(classes: &[(String, Ranking<f64>)]) -> Option<Chart> {
    let mut series = vec![Series::new(
        "chance",
        vec![(0.0, 0.0), (1.0, 1.0)],
        Mark::Dashed,
        REFERENCE,
    )];
    let mut aucs = Vec::new();
    for (j, (name, ranking)) in classes.iter().enumerate() {
        let Some(points) = ranking.roc(CURVE_STEP) else {
            continue;
        };
        let auc = ranking.auc();
        aucs.push(auc);
        series.push(Series::new(
            format!("{name} (AUC {auc:.4})"),
            thin_curve(points),
            Mark::Line,
            j,
        ));
    }
    let (mean, _) = metrics::mean_sd(&aucs);
    (!aucs.is_empty()).then(|| {
        Chart::new(
            format!("One-vs-rest ROC curves, macro AUC {mean:.4}"),
            Axis::over("false positive rate", 0.0, 1.0),
            Axis::over("true positive rate (recall)", 0.0, 1.0),
            series,
        )
    })
}

/// A k-class run's reliability diagram of the top label (`calibrate::top_label`), titled with
/// its expected calibration error over the same bins as `summary.json`'s.
pub(crate) fn top_label_reliability(confidence: &[f64], correct: &[f64]) -> Chart {
    let bins = crate::calibrate::ECE_BINS;
    let ece = curves::expected_calibration_error(confidence, correct, bins);
    reliability(
        format!("Top-label calibration, expected calibration error {ece:.4}"),
        ("probability of the predicted class", "fraction right"),
        (confidence, correct),
        bins,
    )
}

/// Histograms of the predicted probability, one per actual class.
pub(crate) fn probability_by_class(o: &Outputs) -> Chart {
    let n_bins = 20;
    let width = 1.0 / n_bins as f64;
    let mut series = Vec::new();
    for (positive, label, color) in [
        (false, "class 0 (negative)", 0),
        (true, "class 1 (positive)", 3),
    ] {
        let counts = curves::histogram(
            o.probability
                .iter()
                .zip(&o.target)
                .filter(|(_, &y)| (y > 0.5) == positive)
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
    Chart::new(
        "Predicted probability by class",
        Axis::over("predicted probability of class 1", 0.0, 1.0),
        Axis {
            integer: true,
            ..Axis::fit("rows")
        },
        series,
    )
}

/// The rows a scatter plot of `n` rows draws (every `step`th, so that at most
/// [`MAX_SCATTER`] are), and `step`.
pub(crate) fn thinned(n: usize) -> (Vec<usize>, usize) {
    let step = n.div_ceil(MAX_SCATTER).max(1);
    ((0..n).step_by(step).collect(), step)
}

/// The smallest and largest of `values` (infinite when there are none).
fn range<'a>(values: impl IntoIterator<Item = &'a f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}

/// Predicted against actual, over the line of perfect prediction, for the rows `drawn`.
pub(crate) fn predicted_actual(o: &Outputs, drawn: &[usize]) -> Chart {
    let (lo, hi) = range(o.target.iter().chain(&o.output));
    let pairs: Vec<(f64, f64)> = drawn.iter().map(|&i| (o.target[i], o.output[i])).collect();
    Chart::new(
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
    )
}

/// Each row's residual, actual − predicted.
fn residual_values(o: &Outputs) -> Buffer<f64> {
    let residuals = o.target.iter().zip(&o.output).map(|(y, p)| y - p);
    Buffer::collect_rows("the residuals", residuals)
}

/// Residuals against predicted, around zero, for the rows `drawn`.
pub(crate) fn residuals(o: &Outputs, drawn: &[usize]) -> Chart {
    let residuals = residual_values(o);
    let (lo, hi) = range(&o.output);
    Chart::new(
        "Residuals against predicted",
        Axis::fit("predicted (target units)"),
        Axis::fit("residual: actual − predicted"),
        vec![
            Series::new("zero", vec![(lo, 0.0), (hi, 0.0)], Mark::Dashed, REFERENCE),
            Series::new(
                "rows",
                drawn.iter().map(|&i| (o.output[i], residuals[i])).collect(),
                Mark::Dots,
                0,
            ),
        ],
    )
}

/// The distribution of the residuals in 30 bins; `None` when they do not spread (no rows,
/// or every one the same).
pub(crate) fn residual_histogram(o: &Outputs) -> Option<Chart> {
    let residuals = residual_values(o);
    let (lo, hi) = range(&residuals);
    if !(lo.is_finite() && hi > lo) {
        return None;
    }
    let n_bins = 30;
    let w = (hi - lo) / n_bins as f64;
    let counts = curves::histogram(residuals.iter().copied(), lo, hi, n_bins);
    Some(Chart::new(
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
                .map(|(k, &c)| (lo + (k as f64 + 0.5) * w, c as f64))
                .collect(),
            Mark::Bars(w),
            0,
        )],
    ))
}

/// Permutation importance of `columns` (most important first) as bars with ±sd whiskers,
/// under `title`.
pub(crate) fn importance(
    title: &str,
    metric: &str,
    columns: &[ColumnImportance],
) -> Result<Svg, DrawError> {
    let bars: Vec<(String, f64, f64)> = columns
        .iter()
        .map(|c| (c.column.clone(), c.mean, c.sd))
        .collect();
    bars_with_errors(title, &format!("drop in {metric} (mean ± sd)"), &bars)
}

/// One validation metric per epoch for several runs, one line each; the loss adds each run's
/// training loss, dashed. The y axis says what the metric measures when every run has the
/// same loss.
pub(crate) fn overlaid(runs: &[RunRecord], metric: Metric) -> Chart {
    let base = metric.base;
    let mut series = Vec::new();
    for (k, r) in runs.iter().enumerate() {
        let curve = |name: &str| -> Vec<(f64, f64)> {
            r.history
                .iter()
                .map(|row| (row.epoch as f64, row.get(name).unwrap_or(f64::NAN)))
                .collect()
        };
        let val = curve(&metric.validation().name());
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
    let one_loss = runs.windows(2).all(|w| w[0].loss() == w[1].loss());
    let y = match runs.first() {
        Some(first) if one_loss => describe(base, first.loss()),
        _ => base.to_string(),
    };
    Chart::new(
        format!("{} per epoch", metric.validation()),
        Axis::whole("epoch"),
        Axis::fit(y),
        series,
    )
}

/// `points` thinned evenly to at most [`MAX_CURVE`], first and last kept: a million-row
/// split's curve would otherwise be a polyline of a million points in the page.
fn thin_curve(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let Some(&last) = points.last() else {
        return points;
    };
    if points.len() <= MAX_CURVE {
        return points;
    }
    let step = points.len().div_ceil(MAX_CURVE);
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
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
        assert!(thin_curve(Vec::new()).is_empty());
    }

    #[test]
    fn scatter_plots_draw_at_most_their_share_of_rows() {
        let (idx, step) = thinned(10_000);
        assert_eq!(step, 5);
        assert!(idx.len() <= MAX_SCATTER);
        assert_eq!(thinned(3), (vec![0, 1, 2], 1));
        assert_eq!(thinned(0), (vec![], 1));
    }
}
