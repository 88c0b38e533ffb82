//! Metrics of several yes/no labels (multi-label), from the raw outputs (one logit per label,
//! row-major `[rows, k]`) and the 0/1 labels in the same layout, in f64, with scikit-learn's
//! definitions (the test names the calls). A label is predicted 1 when its probability is above
//! its own threshold.

use crate::data::buffer::Buffer;
use crate::ranking::Ranking;

use super::classes::ClassScores;
use super::Metrics;

/// The metrics of a multi-label run, without prefix, in `history.csv`'s order.
pub(crate) const NAMES: &[&str] = &[
    "loss",
    "hamming_loss",
    "subset_accuracy",
    "micro_f1",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "macro_auc",
    "brier",
];

/// One label's scores, as the per-label table lists them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LabelScores {
    /// Its class 1's precision, recall, F1, support and rows predicted, as a class's.
    pub(crate) class: ClassScores,
    /// Rows that are 1 and predicted 1.
    pub(crate) hits: u64,
    /// ROC AUC of the label's probability; NaN when the rows hold one value only.
    pub(crate) auc: f64,
    /// The threshold its predictions used.
    pub(crate) threshold: f64,
}

/// Each label's threshold: `thresholds` holds one per label, or one for all.
fn threshold_of(thresholds: &[f64], j: usize) -> f64 {
    match thresholds {
        [one] => *one,
        many => many[j],
    }
}

/// The probability of a logit, in f64.
fn sigmoid(z: f32) -> f64 {
    burnfit_model::Loss::Bce.activate_value(f64::from(z))
}

/// Column `j` of a row-major `[rows, k]` matrix.
fn column(v: &[f32], j: usize, k: usize) -> impl ExactSizeIterator<Item = f32> + '_ {
    v.iter().skip(j).step_by(k).copied()
}

/// Each label's counts and scores for logits `outputs` and 0/1 `targets`, both `[rows, k]`.
pub(crate) fn per_label(
    outputs: &[f32],
    targets: &[f32],
    k: usize,
    thresholds: &[f64],
) -> Vec<LabelScores> {
    (0..k)
        .map(|j| {
            let t = threshold_of(thresholds, j);
            let column = |v| Buffer::collect_rows("a label's column", column(v, j, k));
            let (scores, labels) = (column(outputs), column(targets));
            let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
            for (&z, &y) in scores.iter().zip(&labels) {
                match (sigmoid(z) > t, y > 0.5) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    (false, false) => {}
                }
            }
            LabelScores {
                class: ClassScores::of(tp, tp + fp, tp + fn_),
                hits: tp,
                auc: Ranking::of(&scores, &labels).auc(),
                threshold: t,
            }
        })
        .collect()
}

/// Every metric of [`NAMES`] for logits and 0/1 labels `[rows, k]`.
pub(crate) fn compute(outputs: &[f32], targets: &[f32], k: usize, thresholds: &[f64]) -> Metrics {
    assert_eq!(outputs.len(), targets.len(), "one output per label");
    let k = k.max(1);
    let cells = outputs.len().max(1) as f64;
    let rows = (outputs.len() / k).max(1) as f64;
    let mut loss = 0.0;
    let mut brier = 0.0;
    let mut wrong = 0usize;
    let mut exact = 0usize;
    for (zs, ys) in outputs.chunks(k).zip(targets.chunks(k)) {
        let mut all = true;
        for (j, (&z, &y)) in zs.iter().zip(ys).enumerate() {
            let (z64, y64) = (f64::from(z), f64::from(y));
            loss += z64.max(0.0) - z64 * y64 + (-z64.abs()).exp().ln_1p();
            let p = sigmoid(z);
            brier += (p - y64).powi(2);
            if (p > threshold_of(thresholds, j)) != (y > 0.5) {
                wrong += 1;
                all = false;
            }
        }
        exact += usize::from(all);
    }
    let labels = per_label(outputs, targets, k, thresholds);
    // Micro: the counts of every label pooled, 2·tp / (predicted + support).
    let (tp, pooled) = labels.iter().fold((0u64, 0u64), |(tp, pooled), s| {
        (tp + s.hits, pooled + s.class.predicted + s.class.support)
    });
    let micro_f1 = if pooled > 0 {
        2.0 * tp as f64 / pooled as f64
    } else {
        0.0
    };
    let mean =
        |get: fn(&ClassScores) -> f64| labels.iter().map(|s| get(&s.class)).sum::<f64>() / k as f64;
    // The labels whose AUC is defined (both values among the rows); scikit-learn raises on a
    // label with one value, this averages the others and is undefined only when none is.
    let aucs: Vec<f64> = labels.iter().map(|s| s.auc).collect();
    let (macro_auc, _) = super::mean_sd(&aucs);
    vec![
        ("loss", loss / cells),
        ("hamming_loss", wrong as f64 / cells),
        ("subset_accuracy", exact as f64 / rows),
        ("micro_f1", micro_f1),
        ("macro_f1", mean(|s| s.f1)),
        ("macro_precision", mean(|s| s.precision)),
        ("macro_recall", mean(|s| s.recall)),
        ("macro_auc", macro_auc),
        ("brier", brier / cells),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(m: &Metrics, k: &str) -> f64 {
        m.iter().find(|(n, _)| *n == k).unwrap().1
    }

    /// 8 rows, 3 labels: ties, a row with every label wrong, a label predicted for no row.
    #[rustfmt::skip]
    const Z: [f32; 24] = [
        2.0, -1.0, 0.5,    -0.3, 1.2, -2.0,   0.4, 0.4, -0.1,   -1.5, -0.2, 3.0,
        1.1, 0.0, -0.7,    -0.8, 2.2, 0.9,    0.3, -2.5, -1.2,  -0.1, 0.6, 0.2,
    ];
    #[rustfmt::skip]
    const Y: [f32; 24] = [
        1.0, 0.0, 1.0,   0.0, 1.0, 0.0,   0.0, 1.0, 0.0,   0.0, 1.0, 1.0,
        0.0, 0.0, 1.0,   0.0, 1.0, 1.0,   1.0, 0.0, 1.0,   1.0, 0.0, 0.0,
    ];

    #[test]
    fn every_metric_equals_scikit_learns() {
        // import numpy as np; from scipy.special import expit; from sklearn import metrics as M
        // z = np.array(Z, dtype=np.float32).reshape(8, 3).astype(np.float64)
        // y = np.array(Y).reshape(8, 3); p = expit(z); pred = (p > 0.5).astype(int)
        // M.log_loss(y.ravel(), p.ravel()), M.hamming_loss(y, pred), M.accuracy_score(y, pred),
        // M.f1_score(y, pred, average='micro'), M.f1_score(y, pred, average='macro'),
        // M.precision_score(y, pred, average='macro'), M.recall_score(y, pred, average='macro'),
        // M.roc_auc_score(y, p, average='macro'), ((p - y) ** 2).mean()
        // scikit-learn 1.9.1's values:
        const REF_LOSS: f64 = 0.5689565189249001;
        const REF_HAMMING: f64 = 0.3333333333333333;
        const REF_SUBSET: f64 = 0.375;
        const REF_MICRO_F1: f64 = 0.6666666666666666;
        const REF_MACRO_F1: f64 = 0.6626984126984127;
        const REF_MACRO_PRECISION: f64 = 0.6666666666666666;
        const REF_MACRO_RECALL: f64 = 0.6722222222222222;
        const REF_MACRO_AUC: f64 = 0.7597222222222223;
        const REF_BRIER: f64 = 0.1992579994082717;
        const REF_AUCS: [f64; 3] = [0.7333333333333333, 0.8125, 0.7333333333333334];
        let want = [
            ("loss", REF_LOSS),
            ("hamming_loss", REF_HAMMING),
            ("subset_accuracy", REF_SUBSET),
            ("micro_f1", REF_MICRO_F1),
            ("macro_f1", REF_MACRO_F1),
            ("macro_precision", REF_MACRO_PRECISION),
            ("macro_recall", REF_MACRO_RECALL),
            ("macro_auc", REF_MACRO_AUC),
            ("brier", REF_BRIER),
        ];
        let m = compute(&Z, &Y, 3, &[0.5]);
        assert_eq!(m.iter().map(|(n, _)| *n).collect::<Vec<_>>(), NAMES);
        for (name, want) in want {
            let got = get(&m, name);
            assert!((got - want).abs() < 1e-6, "{name}: {got} against {want}");
        }
        // M.roc_auc_score(y, p, average=None): REF_AUCS
        let per = per_label(&Z, &Y, 3, &[0.5]);
        for (s, want) in per.iter().zip(REF_AUCS) {
            assert!((s.auc - want).abs() < 1e-9, "{} against {want}", s.auc);
        }
    }

    #[test]
    fn each_label_takes_its_own_threshold() {
        // Label 2 at 0.9: σ(0.9) = 0.71 and σ(0.5) = 0.62 fall below, so its 1s are missed.
        let one = per_label(&Z, &Y, 3, &[0.5]);
        let own = per_label(&Z, &Y, 3, &[0.5, 0.5, 0.9]);
        assert_eq!(one[..2], own[..2]);
        assert!(own[2].class.recall < one[2].class.recall);
        assert_eq!(own[2].threshold, 0.9);
        let m = compute(&Z, &Y, 3, &[0.5, 0.5, 0.9]);
        assert!(get(&m, "hamming_loss") > get(&compute(&Z, &Y, 3, &[0.5]), "hamming_loss"));
        assert_eq!(get(&m, "loss"), get(&compute(&Z, &Y, 3, &[0.5]), "loss"));
    }

    #[test]
    fn a_label_with_one_value_leaves_its_auc_out_and_no_rows_are_no_panic() {
        // Label 1 is 0 in every row: its AUC is undefined, the macro mean is label 0's.
        let z = [1.0f32, 0.5, -1.0, -0.5, 0.2, 0.1];
        let y = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0];
        let per = per_label(&z, &y, 2, &[0.5]);
        assert!(per[1].auc.is_nan());
        assert_eq!(get(&compute(&z, &y, 2, &[0.5]), "macro_auc"), per[0].auc);
        let m = compute(&[], &[], 2, &[0.5]);
        assert_eq!(get(&m, "loss"), 0.0);
        assert!(get(&m, "macro_auc").is_nan());
    }
}
