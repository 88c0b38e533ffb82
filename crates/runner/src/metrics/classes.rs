//! Metrics of a k-class softmax, from its raw outputs (logits, row-major `[rows, k]`) and each
//! row's class index, in f64, with scikit-learn's definitions (each test names the call).

use crate::data::buffer::Buffer;
use crate::ranking::Ranking;

use super::Metrics;

/// The metrics of a k-class run, without prefix, in `history.csv`'s order.
pub(crate) const NAMES: &[&str] = &[
    "loss",
    "accuracy",
    "top2_accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "auc",
    "brier",
];

/// Each row's class probabilities (softmax in f64, largest logit subtracted first), row-major.
pub(crate) fn probabilities(outputs: &[f32], k: usize) -> Buffer<f64> {
    let mut p = Buffer::collect_rows(
        "a split's probabilities",
        outputs.iter().map(|&z| f64::from(z)),
    );
    p.chunks_mut(k)
        .for_each(|row| burnfit_model::Loss::CrossEntropy.activate_row(row));
    p
}

/// The predicted class of each row: the first class with the largest output (numpy's
/// `argmax`). The logits' order is the probabilities' order, so no softmax is needed.
pub(crate) fn predicted(outputs: &[f32], k: usize) -> Vec<usize> {
    outputs.chunks(k).map(argmax).collect()
}

/// The index of the first largest value of `row` (numpy's `argmax`): a softmax's predicted
/// class, from its logits or its probabilities alike.
pub(crate) fn argmax<T: PartialOrd>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = j;
        }
    }
    best
}

/// A k×k confusion matrix: `counts[true][predicted]` (scikit-learn's `confusion_matrix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfusionMatrix {
    /// Rows are true classes, columns predicted ones.
    pub(crate) counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts predicted against true classes (`targets` hold class indices).
    pub(crate) fn count(
        predicted: impl IntoIterator<Item = usize>,
        targets: &[f32],
        k: usize,
    ) -> Self {
        let mut counts = vec![vec![0u64; k]; k];
        for (p, &t) in predicted.into_iter().zip(targets) {
            counts[t as usize][p] += 1;
        }
        Self { counts }
    }

    /// Each class's precision, recall, F1 and support.
    pub(crate) fn per_class(&self) -> Vec<ClassScores> {
        let k = self.counts.len();
        (0..k)
            .map(|c| {
                let support: u64 = self.counts[c].iter().sum();
                let predicted: u64 = self.counts.iter().map(|row| row[c]).sum();
                ClassScores::of(self.counts[c][c], predicted, support)
            })
            .collect()
    }
}

impl ClassScores {
    /// The scores of a class (or a yes/no label) with `hits` rows right among `predicted`
    /// predicted and `support` true. scikit-learn's zero_division default: a ratio over
    /// nothing counts as 0 (and warns); such a class still counts in a macro mean if it was
    /// predicted or true.
    pub(crate) fn of(hits: u64, predicted: u64, support: u64) -> Self {
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        let (precision, recall) = (ratio(hits, predicted), ratio(hits, support));
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            precision,
            recall,
            f1,
            support,
            predicted,
        }
    }
}

/// One class's scores, as `classification_report` lists them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClassScores {
    /// Of the rows predicted this class, the share that are.
    pub(crate) precision: f64,
    /// Of the rows of this class, the share predicted so.
    pub(crate) recall: f64,
    /// Their harmonic mean.
    pub(crate) f1: f64,
    /// Rows of this class.
    pub(crate) support: u64,
    /// Rows predicted this class.
    pub(crate) predicted: u64,
}

/// The macro mean (over classes that are true or predicted at least once, scikit-learn's
/// `labels=None`) and the support-weighted mean of one score.
fn averages(scores: &[ClassScores], get: impl Fn(&ClassScores) -> f64) -> (f64, f64) {
    let present: Vec<&ClassScores> = scores
        .iter()
        .filter(|s| s.support > 0 || s.predicted > 0)
        .collect();
    let total: u64 = scores.iter().map(|s| s.support).sum();
    let macro_ = present.iter().map(|s| get(s)).sum::<f64>() / present.len().max(1) as f64;
    let weighted = if total > 0 {
        scores
            .iter()
            .map(|s| get(s) * s.support as f64)
            .sum::<f64>()
            / total as f64
    } else {
        f64::NAN
    };
    (macro_, weighted)
}

/// Every metric of [`NAMES`] for raw outputs `[rows, k]` and class indices.
pub(crate) fn compute(outputs: &[f32], targets: &[f32], k: usize) -> Metrics {
    assert_eq!(outputs.len(), targets.len() * k, "k outputs per target");
    let n = targets.len();
    let rows = n.max(1) as f64;
    let p = probabilities(outputs, k);
    // −log softmax(z)_y = logsumexp(z) − z_y, exact for any logit size.
    let loss = outputs
        .chunks(k)
        .zip(targets)
        .map(|(z, &y)| {
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + z.iter()
                    .map(|&v| (f64::from(v) - max).exp())
                    .sum::<f64>()
                    .ln();
            lse - f64::from(z[y as usize])
        })
        .sum::<f64>()
        / rows;
    let correct = outputs
        .chunks(k)
        .map(argmax)
        .zip(targets)
        .filter(|&(p, &t)| p == t as usize)
        .count();
    let top2 = p
        .chunks(k)
        .zip(targets)
        .filter(|(row, &t)| {
            let t = t as usize;
            row.iter().filter(|&&v| v > row[t]).count() < 2
        })
        .count();
    let scores = ConfusionMatrix::count(outputs.chunks(k).map(argmax), targets, k).per_class();
    let (macro_f1, weighted_f1) = averages(&scores, |s| s.f1);
    let (macro_precision, _) = averages(&scores, |s| s.precision);
    let (macro_recall, _) = averages(&scores, |s| s.recall);
    let brier = p
        .chunks(k)
        .zip(targets)
        .map(|(row, &t)| {
            row.iter()
                .enumerate()
                .map(|(j, &v)| (v - f64::from(u8::from(j == t as usize))).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / rows;
    vec![
        ("loss", loss),
        ("accuracy", correct as f64 / rows),
        ("top2_accuracy", top2 as f64 / rows),
        ("macro_f1", macro_f1),
        ("weighted_f1", weighted_f1),
        ("macro_precision", macro_precision),
        ("macro_recall", macro_recall),
        ("auc", one_vs_rest_auc(&p, targets, k)),
        ("brier", brier),
    ]
}

/// The mean over classes of each class's ROC AUC against the rest, from the probabilities
/// (scikit-learn's `roc_auc_score(multi_class="ovr")`, macro); NaN when a class has no rows
/// or every row (undefined, where scikit-learn raises).
pub(crate) fn one_vs_rest_auc(p: &[f64], targets: &[f32], k: usize) -> f64 {
    let mut sum = 0.0;
    for c in 0..k {
        let scores = Buffer::collect_rows("a class's scores", p.chunks(k).map(|row| row[c]));
        let labels = Buffer::collect_rows(
            "a class's labels",
            targets
                .iter()
                .map(|&t| f64::from(u8::from(t as usize == c))),
        );
        let auc = Ranking::of(&scores, &labels).auc();
        if auc.is_nan() {
            return f64::NAN;
        }
        sum += auc;
    }
    sum / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(m: &Metrics, k: &str) -> f64 {
        m.iter().find(|(n, _)| *n == k).unwrap().1
    }

    #[test]
    fn every_metric_equals_scikit_learns() {
        // 12 rows, 3 classes, with a tie (row 4), a true class outside the top two (row 8) and
        // wrong predictions of every class; scikit-learn 1.9.1's values (the Python below).
        #[rustfmt::skip]
        let z: [f32; 36] = [
            2.0, 0.5, -1.0,   0.1, 1.2, 0.3,   -0.5, 0.2, 1.5,   1.0, 0.9, -0.2,
            0.3, 0.3, 0.1,    -2.0, 3.0, 0.0,  0.0, 0.0, 4.0,    1.5, -1.0, 0.8,
            0.2, 0.4, 0.6,    3.0, -3.0, 0.0,  -1.0, 2.5, 2.4,   0.7, 0.1, 0.6,
        ];
        let y = [
            0.0f32, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 2.0, 0.0, 0.0, 2.0, 0.0,
        ];
        // import numpy as np; from scipy.special import softmax; from sklearn import metrics as M
        // z = np.array(<above>, dtype=np.float32).reshape(12, 3).astype(np.float64)
        // y = np.array([0,1,2,1,0,1,2,2,0,0,2,0]); p = softmax(z, axis=1); pred = z.argmax(1)
        // M.log_loss(y, p), M.accuracy_score(y, pred), M.top_k_accuracy_score(y, p, k=2),
        // M.f1_score(y, pred, average='macro'), M.f1_score(y, pred, average='weighted'),
        // M.precision_score(y, pred, average='macro'), M.recall_score(y, pred, average='macro'),
        // M.roc_auc_score(y, p, multi_class='ovr'), M.brier_score_loss(y, p)
        const REF_LOSS: f64 = 0.6110438325262822;
        const REF_ACCURACY: f64 = 0.6666666666666666;
        const REF_TOP2: f64 = 0.9166666666666666;
        const REF_MACRO_F1: f64 = 0.6551226551226551;
        const REF_WEIGHTED_F1: f64 = 0.6601731601731602;
        const REF_MACRO_PRECISION: f64 = 0.6666666666666666;
        const REF_MACRO_RECALL: f64 = 0.6555555555555556;
        const REF_AUC: f64 = 0.9096781305114638;
        const REF_BRIER: f64 = 0.37134919882892187;
        let want = [
            ("loss", REF_LOSS),
            ("accuracy", REF_ACCURACY),
            ("top2_accuracy", REF_TOP2),
            ("macro_f1", REF_MACRO_F1),
            ("weighted_f1", REF_WEIGHTED_F1),
            ("macro_precision", REF_MACRO_PRECISION),
            ("macro_recall", REF_MACRO_RECALL),
            ("auc", REF_AUC),
            ("brier", REF_BRIER),
        ];
        let m = compute(&z, &y, 3);
        assert_eq!(m.iter().map(|(n, _)| *n).collect::<Vec<_>>(), NAMES);
        for (name, want) in want {
            let got = get(&m, name);
            assert!((got - want).abs() < 1e-6, "{name}: {got} against {want}");
        }
    }

    #[test]
    fn undefined_and_degenerate_cases_are_not_panics() {
        // A class absent from the targets: the one-vs-rest AUC is undefined.
        let z = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0];
        let m = compute(&z, &[0.0, 1.0], 3);
        assert!(get(&m, "auc").is_nan());
        assert_eq!(get(&m, "accuracy"), 1.0);
        // Huge logits: finite loss, exact probabilities.
        let m = compute(&[100.0, -100.0, 0.0], &[1.0], 3);
        assert!((get(&m, "loss") - 200.0).abs() < 1e-9);
        assert_eq!(get(&m, "accuracy"), 0.0);
        // No rows.
        let m = compute(&[], &[], 3);
        assert_eq!(get(&m, "loss"), 0.0);
    }

    #[test]
    fn the_confusion_matrix_counts_true_rows_by_predicted_columns() {
        let c = ConfusionMatrix::count([0, 1, 1, 2, 0], &[0.0, 1.0, 2.0, 2.0, 2.0], 3);
        assert_eq!(c.counts, vec![vec![1, 0, 0], vec![0, 1, 0], vec![1, 1, 1]]);
        let s = c.per_class();
        assert_eq!(s[2].support, 3);
        assert!((s[1].precision - 0.5).abs() < 1e-12);
        assert!((s[2].recall - 1.0 / 3.0).abs() < 1e-12);
    }
}
