//! Metrics computed on the host from a whole split's outputs, in f64.
//!
//! Validation runs as a few large forward passes; the outputs come back to the host once, and
//! every metric is computed here. That keeps the metric code backend-free and exact, and means
//! one device read per evaluation rather than one per batch.

use burnfit_model::Loss;

use crate::head::Head;
use crate::ranking::Ranking;

pub(crate) mod classes;
pub(crate) mod labels;
pub(crate) mod targets;

/// Metric values in a fixed order (the order of `history.csv`'s columns).
pub(crate) type Metrics = Vec<(&'static str, f64)>;

/// The rows a metric was computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// The training rows, as running sums while the epoch trains.
    Training,
    /// The validation rows (or the test file's, for a final evaluation), after the epoch.
    Validation,
}

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Larger is better (accuracy, AUC, R²).
    Higher,
    /// Smaller is better (a loss, an error).
    Lower,
}

/// A metric as `history.csv`, `summary.json`, `train.early_stopping.monitor`, `sweep.metric`
/// and `--sort` name it: a base name (`auc`) and the rows it was computed on, written as the
/// prefix `val_` for validation. The one place that prefix is added or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Metric {
    /// The name without prefix, one of [`all_bases`].
    pub(crate) base: &'static str,
    /// The rows.
    pub(crate) split: Split,
}

/// Every base name any run records: [`base_names`] of every head.
fn all_bases() -> impl Iterator<Item = &'static str> {
    [
        Head::Binary,
        Head::Regression,
        Head::Classes,
        Head::Labels,
        Head::Targets,
    ]
    .into_iter()
    .flat_map(|h| base_names(h).iter().copied())
}

impl Metric {
    /// How a validation metric's name starts.
    const VALIDATION: &'static str = "val_";

    /// A metric on `split`; `base` must be one of [`all_bases`] (an unknown one is a
    /// programming error, caught by the tests).
    pub(crate) fn new(base: &str, split: Split) -> Self {
        let base = all_bases()
            .find(|b| *b == base)
            .unwrap_or_else(|| panic!("`{base}` is not a metric burnfit records"));
        Self { base, split }
    }

    /// Reads a name as written in a file or by the user; `None` for a name no run records.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let (rest, split) = match name.strip_prefix(Self::VALIDATION) {
            Some(rest) => (rest, Split::Validation),
            None => (name, Split::Training),
        };
        let base = all_bases().find(|b| *b == rest)?;
        Some(Self { base, split })
    }

    /// The name as files and keys write it (`val_auc`, `loss`).
    pub(crate) fn name(&self) -> String {
        match self.split {
            Split::Training => self.base.to_string(),
            Split::Validation => format!("{}{}", Self::VALIDATION, self.base),
        }
    }

    /// The same metric on the validation rows.
    pub(crate) fn validation(self) -> Self {
        Self {
            split: Split::Validation,
            ..self
        }
    }

    /// Which way it is better.
    pub(crate) fn direction(&self) -> Direction {
        match self.base {
            "accuracy" | "auc" | "avg_precision" | "precision" | "recall" | "f1" | "r2"
            | "top2_accuracy" | "macro_f1" | "weighted_f1" | "macro_precision" | "macro_recall"
            | "subset_accuracy" | "micro_f1" | "macro_auc" => Direction::Higher,
            _ => Direction::Lower,
        }
    }

    /// Whether a larger value is better.
    pub(crate) fn higher_is_better(&self) -> bool {
        self.direction() == Direction::Higher
    }

    /// Whether it depends on the decision threshold of a `head` run (a class prediction, not
    /// a probability).
    pub(crate) fn depends_on_threshold(&self, head: Head) -> bool {
        match head {
            Head::Binary => matches!(self.base, "accuracy" | "precision" | "recall" | "f1"),
            Head::Labels => matches!(
                self.base,
                "hamming_loss"
                    | "subset_accuracy"
                    | "micro_f1"
                    | "macro_f1"
                    | "macro_precision"
                    | "macro_recall"
            ),
            Head::Regression | Head::Classes | Head::Targets => false,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The metrics of a run with this head, without prefix.
pub(crate) fn base_names(head: Head) -> &'static [&'static str] {
    match head {
        Head::Binary => &[
            "loss",
            "accuracy",
            "auc",
            "avg_precision",
            "brier",
            "precision",
            "recall",
            "f1",
        ],
        Head::Regression => &["loss", "rmse", "mae", "r2"],
        Head::Classes => classes::NAMES,
        Head::Labels => labels::NAMES,
        Head::Targets => targets::NAMES,
    }
}

/// The metrics tracked on the training split while it trains (cheap running sums on the
/// device): the loss, and the share of wrong predictions as the head counts them, or the
/// loss's root.
pub(crate) fn train_names(head: Head) -> &'static [&'static str] {
    match head {
        Head::Binary | Head::Classes => &["loss", "accuracy"],
        Head::Labels => &["loss", "hamming_loss"],
        Head::Regression | Head::Targets => &["loss", "rmse"],
    }
}

/// Every name a history row can hold: training ones, then validation ones when `with_val`.
pub(crate) fn metric_names(head: Head, with_val: bool) -> Vec<String> {
    let train = train_names(head)
        .iter()
        .map(|b| Metric::new(b, Split::Training));
    let val = base_names(head)
        .iter()
        .filter(|_| with_val)
        .map(|b| Metric::new(b, Split::Validation));
    train.chain(val).map(|m| m.name()).collect()
}

/// Whether `name` is a metric early stopping can watch.
pub(crate) fn is_known_metric(name: &str, head: Head) -> bool {
    metric_names(head, true).iter().any(|n| n == name)
}

/// Whether a larger value of the metric named `name` is better (lower for an unknown name).
pub(crate) fn higher_is_better(name: &str) -> bool {
    Metric::parse(name).is_some_and(|m| m.higher_is_better())
}

/// The headline metric besides the loss (for the plot and the final line): the second of
/// [`train_names`], so the plot has it for both splits.
pub(crate) fn main_metric(head: Head) -> &'static str {
    train_names(head)[1]
}

/// The metrics that are undefined on the data they were computed on (NaN: one class, a
/// constant target, nothing predicted positive).
pub(crate) fn undefined(m: &Metrics) -> Vec<&'static str> {
    m.iter()
        .filter(|(_, v)| v.is_nan())
        .map(|(k, _)| *k)
        .collect()
}

/// The mean and sample standard deviation (n − 1; 0 for fewer than two) of the defined
/// (finite) values; the mean is NaN when none is. The one computation behind cv's mean ± sd
/// and explain's importance ± sd.
pub(crate) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let defined: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = defined.len() as f64;
    if defined.is_empty() {
        return (f64::NAN, 0.0);
    }
    let mean = defined.iter().sum::<f64>() / n;
    let sd = if defined.len() < 2 {
        0.0
    } else {
        (defined.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    (mean, sd)
}

/// A metric's value for people: four decimals, or `n/a` when undefined.
pub(crate) fn show(v: f64) -> String {
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

/// Whether the metric named `name` depends on the decision threshold of a `head` run.
pub(crate) fn depends_on_threshold(name: &str, head: Head) -> bool {
    Metric::parse(name).is_some_and(|m| m.depends_on_threshold(head))
}

/// All metrics of `head` for raw network outputs (logits for the classifiers, values for
/// regression), row-major `[rows, width]`; `targets` are one value per row (a 0/1 label, a
/// class index, a number) or, for several label columns, one per output. A label is 1 when
/// its probability is above its threshold: `thresholds` holds one for all, or one per label.
pub(crate) fn compute(
    head: Head,
    (outputs, width): (&[f32], usize),
    targets: &[f32],
    thresholds: &[f64],
) -> Metrics {
    match head {
        Head::Classes => return classes::compute(outputs, targets, width),
        Head::Labels => return labels::compute(outputs, targets, width, thresholds),
        // One target is the case k = 1 of several.
        Head::Targets | Head::Regression => return targets::compute(outputs, targets, width),
        Head::Binary => {}
    }
    let loss = head.loss();
    let threshold = thresholds
        .first()
        .copied()
        .unwrap_or(crate::threshold::DEFAULT);
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
            let ranking = Ranking::of(outputs, targets);
            let probabilities = || pairs().map(|(z, y)| (Loss::Bce.activate_value(z), y));
            let c = Confusion::count(probabilities(), threshold);
            let (tp, fp, tn, fn_) = (c.tp as f64, c.fp as f64, c.tn as f64, c.fn_ as f64);
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
                ("auc", ranking.auc()),
                ("avg_precision", ranking.average_precision()),
                ("brier", brier(probabilities())),
                ("precision", precision),
                ("recall", recall),
                ("f1", f1),
            ]
        }
        Loss::CrossEntropy | Loss::Mse => unreachable!("computed by classes:: and targets::"),
    }
}

/// Each of several label columns' own scores on these rows (outputs `[rows, width]`, targets
/// one per output), named by `names`: support, precision, recall, F1, AUC and threshold of a
/// yes/no label; RMSE, MAE and R² of a numeric target. Empty for one label column.
pub(crate) fn per_label(
    head: Head,
    names: &[String],
    (outputs, width): (&[f32], usize),
    targets: &[f32],
    thresholds: &[f64],
) -> Vec<(String, Metrics)> {
    match head {
        Head::Labels => labels::per_label(outputs, targets, width, thresholds)
            .iter()
            .zip(names)
            .map(|(s, name)| {
                let scores = vec![
                    ("support", s.class.support as f64),
                    ("precision", s.class.precision),
                    ("recall", s.class.recall),
                    ("f1", s.class.f1),
                    ("auc", s.auc),
                    ("threshold", s.threshold),
                ];
                (name.clone(), scores)
            })
            .collect(),
        Head::Targets => targets::per_target(outputs, targets, width)
            .iter()
            .zip(names)
            .map(|(s, name)| {
                let scores = vec![("rmse", s.rmse), ("mae", s.mae), ("r2", s.r2)];
                (name.clone(), scores)
            })
            .collect(),
        Head::Binary | Head::Regression | Head::Classes => Vec::new(),
    }
}

/// A confusion matrix at one threshold: a row is predicted positive when its probability is
/// above the threshold (the rule `evaluate`, `predict` and the report apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Confusion {
    /// Positive rows predicted positive.
    pub(crate) tp: u64,
    /// Negative rows predicted positive.
    pub(crate) fp: u64,
    /// Negative rows predicted negative.
    pub(crate) tn: u64,
    /// Positive rows predicted negative.
    pub(crate) fn_: u64,
}

impl Confusion {
    /// Counts `(probability, label)` rows at `threshold`; a label above 0.5 is positive.
    pub(crate) fn count(rows: impl IntoIterator<Item = (f64, f64)>, threshold: f64) -> Self {
        let mut c = Self::default();
        for (p, y) in rows {
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

/// Brier score of `(probability, label)` rows: the mean squared difference between the two
/// (0 for no rows).
pub(crate) fn brier(rows: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for (p, y) in rows {
        sum += (p - y).powi(2);
        n += 1;
    }
    sum / n.max(1) as f64
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
        let m = compute(Head::Binary, (&z, 1), &y, &[0.5]);
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
        let m = compute(Head::Regression, (&p, 1), &y, &[0.5]);
        // errors 0, 1, 2: mse 5/3, mae 1; ss_tot = 8 -> r2 = 1 - 5/8
        assert!((get(&m, "loss") - 5.0 / 3.0).abs() < 1e-12);
        assert!((get(&m, "mae") - 1.0).abs() < 1e-12);
        assert!((get(&m, "r2") - 0.375).abs() < 1e-12);
    }

    #[test]
    fn metrics_undefined_on_their_rows_are_nan_not_a_number() {
        // One class only: nothing to rank (AUC), no actual positive (recall).
        let m = compute(
            Head::Binary,
            (&[-1.0, 2.0, -3.0], 1),
            &[0.0, 0.0, 0.0],
            &[0.5],
        );
        assert!(get(&m, "auc").is_nan() && get(&m, "recall").is_nan());
        assert_eq!(get(&m, "precision"), 0.0, "one predicted positive, wrong");
        assert_eq!(undefined(&m), ["auc", "avg_precision", "recall", "f1"]);
        // A constant target: no variance for R² to explain.
        let m = compute(Head::Regression, (&[1.0, 2.0], 1), &[3.0, 3.0], &[0.5]);
        assert!(get(&m, "r2").is_nan());
        assert_eq!(show(f64::NAN), "n/a");
    }

    #[test]
    fn the_threshold_moves_the_class_metrics_and_nothing_else() {
        // Probabilities σ(z): 0.88, 0.62, 0.27, 0.45, 0.95 against labels 1,0,0,1,1.
        let z = [2.0, 0.5, -1.0, -0.2, 3.0];
        let y = [1.0, 0.0, 0.0, 1.0, 1.0];
        let at = |t| compute(Head::Binary, (&z, 1), &y, &[t]);
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

    /// The metrics rank the network's f32 outputs; the report ranks the same outputs read back
    /// from `outputs.csv` as f64. Both go through the one ranked sweep, so the AUC and average
    /// precision of `summary.json` are those of the report's curves to the last bit, on scores
    /// with many ties.
    #[test]
    fn ranked_metrics_equal_the_reports_on_the_saved_outputs() {
        let scores: Vec<f32> = (0..500)
            .map(|i| ((i * 37) % 41) as f32 / 8.0 - 2.0)
            .collect();
        let labels: Vec<f32> = (0..500).map(|i| ((i * 13) % 7 < 3) as u8 as f32).collect();
        let s: Vec<f64> = scores.iter().map(|&v| v.into()).collect();
        let y: Vec<f64> = labels.iter().map(|&v| v.into()).collect();
        let m = compute(Head::Binary, (&scores, 1), &labels, &[0.5]);
        let saved = Ranking::of(&s, &y);
        assert_eq!(get(&m, "auc"), saved.auc());
        assert_eq!(get(&m, "avg_precision"), saved.average_precision());
        // The probabilities the report reads give the same Brier score and confusion counts.
        let p: Vec<(f64, f64)> = s
            .iter()
            .zip(&y)
            .map(|(&z, &y)| (Loss::Bce.activate_value(z), y))
            .collect();
        assert_eq!(get(&m, "brier"), brier(p.iter().copied()));
        let c = Confusion::count(p.iter().copied(), 0.5);
        assert_eq!(get(&m, "accuracy"), (c.tp + c.tn) as f64 / 500.0);
    }

    #[test]
    fn confusion_and_brier_match_hand_counts() {
        // y = [0,0,1,1,0,1,1,0,1,0], p = [.1,.4,.35,.8,.4,.9,.65,.2,.4,.7]
        let y = [0., 0., 1., 1., 0., 1., 1., 0., 1., 0.];
        let p = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.65, 0.2, 0.4, 0.7];
        let rows = || p.iter().copied().zip(y.iter().copied());
        let c = Confusion::count(rows(), 0.5);
        // above 0.5: .8(1) .9(1) .65(1) .7(0) -> tp 3, fp 1; the rest: 2 positives, 4 negatives
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (3, 1, 4, 2));
        // sklearn.metrics.brier_score_loss(y, p) = 0.18150000000000002
        assert!((brier(rows()) - 0.1815).abs() < 1e-12, "{}", brier(rows()));
        assert_eq!(brier(std::iter::empty()), 0.0);
    }

    #[test]
    fn metric_names_read_back_to_the_same_metric_and_every_base_is_known() {
        for head in [
            Head::Binary,
            Head::Regression,
            Head::Classes,
            Head::Labels,
            Head::Targets,
        ] {
            for name in metric_names(head, true) {
                let m = Metric::parse(&name).unwrap();
                assert_eq!(m.name(), name);
            }
            for b in base_names(head) {
                assert!(all_bases().any(|a| a == *b));
            }
        }
        let auc = Metric::parse("val_auc").unwrap();
        assert_eq!((auc.base, auc.split), ("auc", Split::Validation));
        assert!(auc.higher_is_better() && !Metric::parse("val_rmse").unwrap().higher_is_better());
        assert_eq!(
            Metric::parse("loss").unwrap().validation().name(),
            "val_loss"
        );
        assert!(Metric::parse("val_banana").is_none() && Metric::parse("val_").is_none());
    }
}
