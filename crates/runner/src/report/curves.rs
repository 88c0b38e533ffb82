//! The numbers behind the report's classifier and regression charts, computed from a split's
//! saved outputs (`outputs.csv`) in f64, with scikit-learn's definitions so the figures can be
//! checked against it.

/// One point of a curve: `(x, y)`.
pub type Point = (f64, f64);

/// Scores sorted from highest to lowest, with the positive and total counts at each distinct
/// score: the cumulative true and false positives when the threshold is just at that score.
fn cumulative(scores: &[f64], labels: &[f64]) -> Vec<(f64, f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if labels[i] > 0.5 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        // One point per distinct score: tied rows cross the threshold together.
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            out.push((scores[i], tp, fp));
        }
    }
    out
}

/// The ROC curve, `(false positive rate, true positive rate)` from `(0, 0)` to `(1, 1)`, one
/// point per distinct score (scikit-learn's `roc_curve(drop_intermediate=False)`), and its area
/// by the trapezoid rule (equal to the rank AUC of [`crate::metrics::auc`], ties counted half).
/// `None` when a class is absent: the curve is undefined.
pub fn roc(scores: &[f64], labels: &[f64]) -> Option<(Vec<Point>, f64)> {
    let steps = cumulative(scores, labels);
    let &(_, p, n) = steps.last()?;
    if p == 0.0 || n == 0.0 {
        return None;
    }
    let mut points = vec![(0.0, 0.0)];
    points.extend(steps.iter().map(|&(_, tp, fp)| (fp / n, tp / p)));
    let area = points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum();
    Some((points, area))
}

/// The precision-recall curve, `(recall, precision)` from the highest threshold down (one point
/// per distinct score), and the average precision `Σ (Rₙ − Rₙ₋₁) Pₙ` (scikit-learn's
/// `average_precision_score`, no interpolation). `None` without a positive row.
pub fn precision_recall(scores: &[f64], labels: &[f64]) -> Option<(Vec<Point>, f64)> {
    let steps = cumulative(scores, labels);
    let &(_, p, _) = steps.last()?;
    if p == 0.0 {
        return None;
    }
    let points: Vec<Point> = steps
        .iter()
        .map(|&(_, tp, fp)| (tp / p, tp / (tp + fp)))
        .collect();
    let mut ap = 0.0;
    let mut last_recall = 0.0;
    for &(r, pr) in &points {
        ap += (r - last_recall) * pr;
        last_recall = r;
    }
    Some((points, ap))
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    /// Mean predicted probability of the rows in the bin.
    pub predicted: f64,
    /// Fraction of them that are positive.
    pub observed: f64,
    /// Rows in the bin.
    pub count: usize,
}

/// The reliability diagram: `bins` equal-width probability bins over `[0, 1]`, the empty ones
/// left out (scikit-learn's `calibration_curve(strategy="uniform")`: a probability on an inner
/// edge belongs to the bin below it).
pub fn calibration(probabilities: &[f64], labels: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    let step = 1.0 / bins as f64;
    let edges: Vec<f64> = (1..bins).map(|k| k as f64 * step).collect();
    for (&p, &y) in probabilities.iter().zip(labels) {
        let b = edges.partition_point(|&e| e < p);
        sum_p[b] += p;
        sum_y[b] += y;
        count[b] += 1;
    }
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| CalibrationBin {
            predicted: sum_p[b] / count[b] as f64,
            observed: sum_y[b] / count[b] as f64,
            count: count[b],
        })
        .collect()
}

/// The bin of `v` among `bins` equal bins over `[lo, hi]`; values outside go to the end bins.
fn bin_of(v: f64, lo: f64, hi: f64, bins: usize) -> usize {
    if hi <= lo {
        return 0;
    }
    let b = ((v - lo) / (hi - lo) * bins as f64).floor();
    if b.is_nan() || b < 0.0 {
        0
    } else {
        (b as usize).min(bins - 1)
    }
}

/// Counts of `values` in `bins` equal bins over `[lo, hi]`.
pub fn histogram(values: impl IntoIterator<Item = f64>, lo: f64, hi: f64, bins: usize) -> Vec<u64> {
    let mut counts = vec![0; bins];
    for v in values {
        counts[bin_of(v, lo, hi, bins)] += 1;
    }
    counts
}

/// A confusion matrix at one threshold: a row is predicted positive when its probability is
/// above the threshold (the rule `evaluate` and `predict` use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Positive rows predicted positive.
    pub tp: u64,
    /// Negative rows predicted positive.
    pub fp: u64,
    /// Negative rows predicted negative.
    pub tn: u64,
    /// Positive rows predicted negative.
    pub fn_: u64,
}

impl Confusion {
    /// Counts the rows of `probabilities` against `labels` at `threshold`.
    pub fn at(probabilities: &[f64], labels: &[f64], threshold: f64) -> Self {
        let mut c = Self::default();
        for (&p, &y) in probabilities.iter().zip(labels) {
            match (p > threshold, y > 0.5) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }
}

/// Brier score: the mean squared difference between probability and label.
pub fn brier(probabilities: &[f64], labels: &[f64]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - y).powi(2))
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from scikit-learn 1.9 on these arrays:
    //   y = [0,0,1,1,0,1,1,0,1,0], s = [.1,.4,.35,.8,.4,.9,.65,.2,.4,.7]
    const Y: [f64; 10] = [0., 0., 1., 1., 0., 1., 1., 0., 1., 0.];
    const S: [f64; 10] = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.65, 0.2, 0.4, 0.7];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn roc_matches_scikit_learn() {
        // roc_curve(y, s, drop_intermediate=False) and roc_auc_score(y, s)
        let (points, area) = roc(&S, &Y).unwrap();
        let fpr = [0.0, 0.0, 0.0, 0.2, 0.2, 0.6, 0.6, 0.8, 1.0];
        let tpr = [0.0, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0];
        assert_eq!(points.len(), fpr.len(), "{points:?}");
        for (k, &(x, y)) in points.iter().enumerate() {
            assert!(
                close(x, fpr[k]) && close(y, tpr[k]),
                "point {k}: {points:?}"
            );
        }
        assert!(close(area, 0.76), "{area}");
        let rank = crate::metrics::auc(&S.map(|v| v as f32), &Y.map(|v| v as f32));
        assert!((area - rank).abs() < 1e-6, "{area} vs rank AUC {rank}");
    }

    #[test]
    fn precision_recall_and_average_precision_match_scikit_learn() {
        // average_precision_score(y, s) = 0.7892857142857144
        let (points, ap) = precision_recall(&S, &Y).unwrap();
        assert!(close(ap, 0.7892857142857144), "{ap}");
        // precision_recall_curve reversed, without its (0, 1) start: (recall, precision)
        let want = [
            (0.2, 1.0),
            (0.4, 1.0),
            (0.4, 2.0 / 3.0),
            (0.6, 0.75),
            (0.8, 4.0 / 7.0),
            (1.0, 0.625),
            (1.0, 5.0 / 9.0),
            (1.0, 0.5),
        ];
        assert_eq!(points.len(), want.len(), "{points:?}");
        for (k, (&p, w)) in points.iter().zip(want).enumerate() {
            assert!(close(p.0, w.0) && close(p.1, w.1), "point {k}: {points:?}");
        }
    }

    #[test]
    fn calibration_matches_scikit_learn() {
        // calibration_curve(y, s, n_bins=5): prob_true, prob_pred (two bins are empty, and
        // the three 0.4s on an edge count in the bin below it)
        let bins = calibration(&S, &Y, 5);
        let observed = [0.0, 0.5, 2.0 / 3.0, 1.0];
        let predicted = [0.15, 0.3875, 0.7166666666666667, 0.9];
        assert_eq!(bins.len(), 4, "{bins:?}");
        for (k, b) in bins.iter().enumerate() {
            assert!(close(b.observed, observed[k]), "bin {k}: {bins:?}");
            assert!(close(b.predicted, predicted[k]), "bin {k}: {bins:?}");
        }
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 10);
    }

    #[test]
    fn confusion_brier_and_histogram_match_hand_counts() {
        let c = Confusion::at(&S, &Y, 0.5);
        // above 0.5: .8(1) .9(1) .65(1) .7(0) -> tp 3, fp 1; the rest: 2 positives, 4 negatives
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (3, 1, 4, 2));
        // brier_score_loss(y, s) = 0.18150000000000002
        assert!(close(brier(&S, &Y), 0.1815), "{}", brier(&S, &Y));
        assert_eq!(histogram(S, 0.0, 1.0, 2), vec![6, 4]);
        assert_eq!(histogram([1.0, -3.0, 7.0], 0.0, 1.0, 4), vec![1, 0, 0, 2]);
    }

    #[test]
    fn curves_of_one_class_are_undefined() {
        assert!(roc(&[0.1, 0.2], &[0.0, 0.0]).is_none());
        assert!(precision_recall(&[0.1, 0.2], &[0.0, 0.0]).is_none());
        assert!(roc(&[], &[]).is_none());
    }
}
