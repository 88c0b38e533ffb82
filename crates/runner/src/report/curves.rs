//! The numbers behind the report's calibration and histogram charts, computed from a split's
//! saved outputs (`outputs.csv`) in f64, with scikit-learn's definitions so the figures can be
//! checked against it. The ROC and precision-recall curves come from the ranked sweep that the
//! metrics use ([`crate::ranking`]); confusion counts and the Brier score from
//! [`crate::metrics`].

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CalibrationBin {
    /// Mean predicted probability of the rows in the bin.
    pub(crate) predicted: f64,
    /// Fraction of them that are positive.
    pub(crate) observed: f64,
    /// Rows in the bin.
    pub(crate) count: usize,
}

/// The reliability diagram: `bins` equal-width probability bins over `[0, 1]`, the empty ones
/// left out (scikit-learn's `calibration_curve(strategy="uniform")`: a probability on an inner
/// edge belongs to the bin below it).
pub(crate) fn calibration(
    probabilities: &[f64],
    labels: &[f64],
    bins: usize,
) -> Vec<CalibrationBin> {
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

/// Expected calibration error: the row-weighted mean over [`calibration`]'s bins of
/// |fraction positive − mean probability| (Guo et al., 2017, for the top label's confidence and
/// whether it was right); 0 for no rows.
pub(crate) fn expected_calibration_error(
    probabilities: &[f64],
    labels: &[f64],
    bins: usize,
) -> f64 {
    let n = probabilities.len().max(1) as f64;
    calibration(probabilities, labels, bins)
        .iter()
        .map(|b| b.count as f64 / n * (b.observed - b.predicted).abs())
        .sum()
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
pub(crate) fn histogram(
    values: impl IntoIterator<Item = f64>,
    lo: f64,
    hi: f64,
    bins: usize,
) -> Vec<u64> {
    let mut counts = vec![0; bins];
    for v in values {
        counts[bin_of(v, lo, hi, bins)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranking::fixture::{close, S, Y};

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
    fn histograms_count_by_hand() {
        assert_eq!(histogram(S, 0.0, 1.0, 2), vec![6, 4]);
        assert_eq!(histogram([1.0, -3.0, 7.0], 0.0, 1.0, 4), vec![1, 0, 0, 2]);
        // A probability outside [0, 1] or NaN lands in an end bin, never out of bounds.
        let bins = calibration(&[1.5, -0.5, f64::NAN], &[1.0, 0.0, 1.0], 10);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 3);
    }
}
