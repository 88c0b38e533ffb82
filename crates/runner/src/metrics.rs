//! Metrics computed on the host from a whole split's outputs, in f64.
//!
//! Validation runs as a few large forward passes; the outputs come back to the host once, and
//! every metric is computed here. That keeps the metric code backend-free and exact, and means
//! one device read per evaluation rather than one per batch.

use burnfit_model::Loss;

/// Metric values in a fixed order (the order of `history.csv`'s columns).
pub type Metrics = Vec<(&'static str, f64)>;

/// The metrics of a run with this loss, without prefix.
pub fn base_names(loss: Loss) -> &'static [&'static str] {
    match loss {
        Loss::Bce => &[
            "loss",
            "accuracy",
            "auc",
            "avg_precision",
            "brier",
            "precision",
            "recall",
            "f1",
        ],
        Loss::Mse => &["loss", "rmse", "mae", "r2"],
    }
}

/// The metrics tracked on the training split while it trains (cheap running sums on the device).
pub fn train_names(loss: Loss) -> &'static [&'static str] {
    match loss {
        Loss::Bce => &["loss", "accuracy"],
        Loss::Mse => &["loss", "rmse"],
    }
}

/// Every name a history row can hold: training ones, then `val_` ones when `with_val`.
pub fn metric_names(loss: Loss, with_val: bool) -> Vec<String> {
    let mut names: Vec<String> = train_names(loss).iter().map(|s| s.to_string()).collect();
    if with_val {
        names.extend(base_names(loss).iter().map(|s| format!("val_{s}")));
    }
    names
}

/// Whether `name` is a metric early stopping can watch.
pub fn is_known_metric(name: &str, loss: Loss) -> bool {
    metric_names(loss, true).iter().any(|n| n == name)
}

/// Whether a larger value of this metric is better.
pub fn higher_is_better(name: &str) -> bool {
    let base = name.strip_prefix("val_").unwrap_or(name);
    matches!(
        base,
        "accuracy" | "auc" | "avg_precision" | "precision" | "recall" | "f1" | "r2"
    )
}

/// The headline metric besides the loss (for the plot and the final line).
pub fn main_metric(loss: Loss) -> &'static str {
    match loss {
        Loss::Bce => "accuracy",
        Loss::Mse => "rmse",
    }
}

/// The metrics that are undefined on the data they were computed on (NaN: one class, a
/// constant target, nothing predicted positive).
pub fn undefined(m: &Metrics) -> Vec<&'static str> {
    m.iter()
        .filter(|(_, v)| v.is_nan())
        .map(|(k, _)| *k)
        .collect()
}

/// A metric's value for people: four decimals, or `n/a` when undefined.
pub fn show(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.4}")
    }
}

/// Binary cross-entropy of one logit, in the stable form.
fn bce(z: f64, y: f64) -> f64 {
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

/// The metrics that depend on the decision threshold.
pub fn depends_on_threshold(name: &str) -> bool {
    let base = name.strip_prefix("val_").unwrap_or(name);
    matches!(base, "accuracy" | "precision" | "recall" | "f1")
}

/// All metrics of `loss` for raw network outputs (`logits` for BCE, values for MSE); a row is
/// class 1 when its probability is above `threshold` (BCE only).
pub fn compute(loss: Loss, outputs: &[f32], targets: &[f32], threshold: f64) -> Metrics {
    assert_eq!(outputs.len(), targets.len(), "one output per target");
    let n = outputs.len().max(1) as f64;
    let pairs = || {
        outputs
            .iter()
            .zip(targets)
            .map(|(&o, &t)| (o as f64, t as f64))
    };
    match loss {
        Loss::Bce => {
            let loss = pairs().map(|(z, y)| bce(z, y)).sum::<f64>() / n;
            let ranked = Ranked::of(outputs, targets);
            let (mut tp, mut fp, mut tn, mut fn_) = (0f64, 0f64, 0f64, 0f64);
            let mut brier = 0.0;
            for (z, y) in pairs() {
                let p = Loss::Bce.activate_value(z);
                brier += (p - y).powi(2);
                match (p > threshold, y > 0.5) {
                    (true, true) => tp += 1.0,
                    (true, false) => fp += 1.0,
                    (false, false) => tn += 1.0,
                    (false, true) => fn_ += 1.0,
                }
            }
            // A ratio over nothing (no predicted positives, no actual positives) is undefined,
            // as scikit-learn warns, and reported so rather than as 0.
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
            let precision = ratio(tp, tp + fp);
            let recall = ratio(tp, tp + fn_);
            let sum = precision + recall;
            let f1 = if sum == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / sum // NaN when either is undefined
            };
            vec![
                ("loss", loss),
                ("accuracy", (tp + tn) / n),
                ("auc", ranked.auc),
                ("avg_precision", ranked.average_precision),
                ("brier", brier / n),
                ("precision", precision),
                ("recall", recall),
                ("f1", f1),
            ]
        }
        Loss::Mse => {
            let mse = pairs().map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n;
            let mae = pairs().map(|(p, y)| (p - y).abs()).sum::<f64>() / n;
            let mean = targets.iter().map(|&t| t as f64).sum::<f64>() / n;
            let ss_tot = targets
                .iter()
                .map(|&t| (t as f64 - mean).powi(2))
                .sum::<f64>();
            // A constant target has no variance to explain: R² is undefined, not 0.
            let r2 = if ss_tot > 0.0 {
                1.0 - mse * n / ss_tot
            } else {
                f64::NAN
            };
            vec![
                ("loss", mse),
                ("rmse", mse.sqrt()),
                ("mae", mae),
                ("r2", r2),
            ]
        }
    }
}

/// The two ranking metrics of a split, from one sort of its scores.
struct Ranked {
    /// [`auc`].
    auc: f64,
    /// [`average_precision`].
    average_precision: f64,
}

impl Ranked {
    /// Sorts `(score, label)` pairs once, highest score first, and walks the groups of tied
    /// scores: the rank sum of the positives for the AUC, the precision at each distinct score
    /// for the average precision. Each used to sort the split on its own, through an index
    /// array (a cache miss per comparison on the training split's 80,000 rows of the seed).
    fn of(scores: &[f32], labels: &[f32]) -> Self {
        let mut pairs: Vec<(f32, bool)> = scores
            .iter()
            .zip(labels)
            .map(|(&s, &y)| (s, y > 0.5))
            .collect();
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let n = pairs.len();
        let positives = pairs.iter().filter(|p| p.1).count() as f64;
        let negatives = n as f64 - positives;
        let (mut rank_sum, mut tp, mut fp) = (0f64, 0f64, 0f64);
        let (mut ap, mut last_recall) = (0f64, 0f64);
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j + 1 < n && pairs[j + 1].0 == pairs[i].0 {
                j += 1;
            }
            // Descending positions i..=j are ascending ranks n − j ..= n − i (from 1).
            let mid_rank = (2 * n - i - j) as f64 / 2.0;
            let group_positives = pairs[i..=j].iter().filter(|p| p.1).count() as f64;
            rank_sum += mid_rank * group_positives;
            tp += group_positives;
            fp += (j + 1 - i) as f64 - group_positives;
            if positives > 0.0 {
                // Tied rows cross the threshold together: one precision-recall point each.
                let recall = tp / positives;
                ap += (recall - last_recall) * (tp / (tp + fp));
                last_recall = recall;
            }
            i = j + 1;
        }
        let auc = if positives == 0.0 || negatives == 0.0 {
            // One class only: no pair to rank, so AUC is undefined (not 0.5).
            f64::NAN
        } else {
            (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
        };
        let average_precision = if positives > 0.0 { ap } else { f64::NAN };
        Self {
            auc,
            average_precision,
        }
    }
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative (Mann–Whitney U), ties counted half. NaN when a class is absent.
#[cfg(test)]
pub(crate) fn auc(scores: &[f32], labels: &[f32]) -> f64 {
    Ranked::of(scores, labels).auc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(m: &Metrics, k: &str) -> f64 {
        m.iter().find(|(n, _)| *n == k).unwrap().1
    }

    #[test]
    fn classification_metrics_match_a_hand_count() {
        // logits > 0 predict 1: predictions 1,1,0,0,1 against labels 1,0,0,1,1
        // tp 2, fp 1, tn 1, fn 1 -> accuracy 3/5, precision 2/3, recall 2/3, f1 2/3
        let z = [2.0, 0.5, -1.0, -0.2, 3.0];
        let y = [1.0, 0.0, 0.0, 1.0, 1.0];
        let m = compute(Loss::Bce, &z, &y, 0.5);
        assert!((get(&m, "accuracy") - 0.6).abs() < 1e-12);
        assert!((get(&m, "precision") - 2.0 / 3.0).abs() < 1e-12);
        assert!((get(&m, "f1") - 2.0 / 3.0).abs() < 1e-12);
        // sklearn.metrics.roc_auc_score([1,0,0,1,1], [2,.5,-1,-.2,3]) = 0.8333...
        assert!((get(&m, "auc") - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn regression_metrics_match_a_hand_count() {
        let p = [1.0, 2.0, 3.0];
        let y = [1.0, 3.0, 5.0];
        let m = compute(Loss::Mse, &p, &y, 0.5);
        // errors 0, 1, 2: mse 5/3, mae 1; ss_tot = 8 -> r2 = 1 - 5/8
        assert!((get(&m, "loss") - 5.0 / 3.0).abs() < 1e-12);
        assert!((get(&m, "mae") - 1.0).abs() < 1e-12);
        assert!((get(&m, "r2") - 0.375).abs() < 1e-12);
    }

    #[test]
    fn metrics_undefined_on_their_rows_are_nan_not_a_number() {
        // One class only: nothing to rank (AUC), no actual positive (recall).
        let m = compute(Loss::Bce, &[-1.0, 2.0, -3.0], &[0.0, 0.0, 0.0], 0.5);
        assert!(get(&m, "auc").is_nan() && get(&m, "recall").is_nan());
        assert_eq!(get(&m, "precision"), 0.0, "one predicted positive, wrong");
        assert_eq!(undefined(&m), ["auc", "avg_precision", "recall", "f1"]);
        // A constant target: no variance for R² to explain.
        let m = compute(Loss::Mse, &[1.0, 2.0], &[3.0, 3.0], 0.5);
        assert!(get(&m, "r2").is_nan());
        assert_eq!(show(f64::NAN), "n/a");
    }

    #[test]
    fn the_threshold_moves_the_class_metrics_and_nothing_else() {
        // Probabilities σ(z): 0.88, 0.62, 0.27, 0.45, 0.95 against labels 1,0,0,1,1.
        let z = [2.0, 0.5, -1.0, -0.2, 3.0];
        let y = [1.0, 0.0, 0.0, 1.0, 1.0];
        let at = |t| compute(Loss::Bce, &z, &y, t);
        // At 0.4 the 0.45 row becomes a true positive: recall 3/3, precision 3/4.
        assert!((get(&at(0.4), "recall") - 1.0).abs() < 1e-12);
        assert!((get(&at(0.4), "precision") - 0.75).abs() < 1e-12);
        for free in ["loss", "auc", "avg_precision", "brier"] {
            assert_eq!(get(&at(0.4), free), get(&at(0.5), free), "{free}");
        }
        // brier_score_loss([1,0,0,1,1], sigmoid(z)) and average_precision_score(y, z)
        assert!(
            (get(&at(0.5), "brier") - 0.155_712_216_358_931_4).abs() < 1e-6,
            "{}",
            get(&at(0.5), "brier")
        );
        assert!((get(&at(0.5), "avg_precision") - 0.9166667).abs() < 1e-6);
    }

    /// The one-sort metrics equal the report's curves, which sort on their own, on scores with
    /// many ties.
    #[test]
    fn ranked_metrics_equal_the_curves_areas() {
        let scores: Vec<f32> = (0..500)
            .map(|i| ((i * 37) % 41) as f32 / 8.0 - 2.0)
            .collect();
        let labels: Vec<f32> = (0..500).map(|i| ((i * 13) % 7 < 3) as u8 as f32).collect();
        let s: Vec<f64> = scores.iter().map(|&v| v.into()).collect();
        let y: Vec<f64> = labels.iter().map(|&v| v.into()).collect();
        let (_, area) = crate::report::curves::roc(&s, &y).unwrap();
        let (_, ap) = crate::report::curves::precision_recall(&s, &y).unwrap();
        assert!((auc(&scores, &labels) - area).abs() < 1e-12);
        assert_eq!(Ranked::of(&scores, &labels).average_precision, ap);
    }

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), 0.5);
        assert_eq!(auc(&[0.1, 0.9], &[0.0, 1.0]), 1.0);
    }
}
