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
        Loss::Bce => &["loss", "accuracy", "auc", "precision", "recall", "f1"],
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
        "accuracy" | "auc" | "precision" | "recall" | "f1" | "r2"
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

/// All metrics of `loss` for raw network outputs (`logits` for BCE, values for MSE).
pub fn compute(loss: Loss, outputs: &[f32], targets: &[f32]) -> Metrics {
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
            let (mut tp, mut fp, mut tn, mut fn_) = (0f64, 0f64, 0f64, 0f64);
            for (z, y) in pairs() {
                match (z > 0.0, y > 0.5) {
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
                ("auc", auc(outputs, targets)),
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

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative (Mann–Whitney U), ties counted half. 0.5 when a class is absent.
pub fn auc(scores: &[f32], labels: &[f32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0f64, 0f64);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] > 0.5 {
                rank_sum += mid_rank;
                positives += 1.0;
            }
        }
        i = j + 1;
    }
    let negatives = scores.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        // One class only: no pair to rank, so AUC is undefined (not 0.5).
        return f64::NAN;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
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
        let m = compute(Loss::Bce, &z, &y);
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
        let m = compute(Loss::Mse, &p, &y);
        // errors 0, 1, 2: mse 5/3, mae 1; ss_tot = 8 -> r2 = 1 - 5/8
        assert!((get(&m, "loss") - 5.0 / 3.0).abs() < 1e-12);
        assert!((get(&m, "mae") - 1.0).abs() < 1e-12);
        assert!((get(&m, "r2") - 0.375).abs() < 1e-12);
    }

    #[test]
    fn metrics_undefined_on_their_rows_are_nan_not_a_number() {
        // One class only: nothing to rank (AUC), no actual positive (recall).
        let m = compute(Loss::Bce, &[-1.0, 2.0, -3.0], &[0.0, 0.0, 0.0]);
        assert!(get(&m, "auc").is_nan() && get(&m, "recall").is_nan());
        assert_eq!(get(&m, "precision"), 0.0, "one predicted positive, wrong");
        assert_eq!(undefined(&m), ["auc", "recall", "f1"]);
        // A constant target: no variance for R² to explain.
        let m = compute(Loss::Mse, &[1.0, 2.0], &[3.0, 3.0]);
        assert!(get(&m, "r2").is_nan());
        assert_eq!(show(f64::NAN), "n/a");
    }

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), 0.5);
        assert_eq!(auc(&[0.1, 0.9], &[0.0, 1.0]), 1.0);
    }
}
