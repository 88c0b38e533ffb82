//! `train.class_weight` and `train.threshold`: how a classifier weighs its classes in the loss,
//! and where it draws the line between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `train.class_weight`: `"none"`, `"balanced"`, or `[weight of class 0, weight of class 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) enum ClassWeight {
    /// Every row counts once.
    #[default]
    None,
    /// `n / (k · count of the class)` for k classes on the training split (Keras's and
    /// scikit-learn's `"balanced"`), so each class weighs the same in the loss.
    Balanced,
    /// The weights of class 0 and class 1.
    Explicit([f64; 2]),
}

impl ClassWeight {
    /// The weight of each of `k` classes (0/1 labels: k = 2; a softmax's class indices) for
    /// training labels `labels` (`None` for [`ClassWeight::None`]). A class with no row gets
    /// weight 1: it never meets the loss.
    pub(crate) fn weights(self, labels: &[f32], k: usize) -> Option<Vec<f64>> {
        match self {
            ClassWeight::None => None,
            ClassWeight::Explicit(w) => Some(w.to_vec()),
            ClassWeight::Balanced => {
                let n = labels.len() as f64;
                let mut counts = vec![0usize; k];
                for &y in labels {
                    counts[usize::from(y > 0.5).max(y as usize)] += 1;
                }
                let per = |count: usize| {
                    if count > 0 {
                        n / (k as f64 * count as f64)
                    } else {
                        1.0
                    }
                };
                Some(counts.into_iter().map(per).collect())
            }
        }
    }

    /// The class of a training label, as [`weights`](Self::weights) indexes it: 0/1 by the
    /// side of 0.5, or a softmax's class index.
    pub(crate) fn class_of(label: f32) -> usize {
        usize::from(label > 0.5).max(label as usize)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ClassWeightRepr {
    Name(String),
    Weights(Vec<f64>),
}

impl Serialize for ClassWeight {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ClassWeight::None => s.serialize_str("none"),
            ClassWeight::Balanced => s.serialize_str("balanced"),
            ClassWeight::Explicit(w) => w.serialize(s),
        }
    }
}

/// The largest ratio of the two class weights: beyond it the lighter class's share of a batch's
/// f32 loss is below rounding, and training is inert (`[1e30, 1]` trained to the same metrics
/// every epoch).
pub(crate) const MAX_CLASS_WEIGHT_RATIO: f64 = 1e6;

impl<'de> Deserialize<'de> for ClassWeight {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let expected = "\"none\", \"balanced\", or [weight of class 0, weight of class 1]";
        match ClassWeightRepr::deserialize(d)
            .map_err(|_| D::Error::custom(format!("must be {expected}")))?
        {
            ClassWeightRepr::Name(n) => match n.as_str() {
                "none" => Ok(ClassWeight::None),
                "balanced" => Ok(ClassWeight::Balanced),
                other => Err(D::Error::custom(format!(
                    "must be {expected}, got \"{other}\""
                ))),
            },
            ClassWeightRepr::Weights(w) => match w.as_slice() {
                // Checked as the f32 the loss multiplies by: finite and normal there.
                &[a, b]
                    if [a, b].iter().all(|v| {
                        v.is_finite() && *v > 0.0 && (*v as f32).is_normal() && (*v as f32).is_finite()
                    }) =>
                {
                    let ratio = a.max(b) / a.min(b);
                    if ratio > MAX_CLASS_WEIGHT_RATIO {
                        return Err(D::Error::custom(format!(
                            "[{a:?}, {b:?}]: one class weighs {ratio:.3e} times the other, more than the {MAX_CLASS_WEIGHT_RATIO:.0e} training in 32-bit floats can use (a batch's loss is summed in f32, which keeps about 7 digits: the lighter class would count for nothing and the model would learn one class)"
                        )));
                    }
                    Ok(ClassWeight::Explicit([a, b]))
                }
                _ => Err(D::Error::custom(format!(
                    "must be {expected} (two positive numbers within a 32-bit float's range, about 1.2e-38 to 3.4e38), got {w:?}"
                ))),
            },
        }
    }
}

/// `train.threshold`: a probability, or a rule that picks one on the validation rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Threshold {
    /// This probability, in (0, 1).
    Fixed(f64),
    /// The rule's pick on the validation rows after training.
    Chosen(ThresholdRule),
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::Fixed(crate::threshold::DEFAULT)
    }
}

/// What a chosen threshold optimizes, on the validation rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ThresholdRule {
    /// The largest F1.
    F1,
    /// The largest Youden's J: true positive rate − false positive rate.
    Youden,
    /// The largest recall whose precision is at least this.
    PrecisionAtLeast(f64),
    /// The largest precision whose recall is at least this.
    RecallAtLeast(f64),
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Fixed(t) => write!(f, "{t}"),
            Threshold::Chosen(ThresholdRule::F1) => f.write_str("f1"),
            Threshold::Chosen(ThresholdRule::Youden) => f.write_str("youden"),
            Threshold::Chosen(ThresholdRule::PrecisionAtLeast(p)) => write!(f, "precision>={p}"),
            Threshold::Chosen(ThresholdRule::RecallAtLeast(r)) => write!(f, "recall>={r}"),
        }
    }
}

/// Why a threshold was refused.
const THRESHOLD_EXPECTED: &str =
    "a probability in (0, 1), \"f1\", \"youden\", \"precision>=P\" or \"recall>=R\" (P, R in (0, 1])";

impl FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("must be {THRESHOLD_EXPECTED}, got \"{s}\"");
        let level = |v: &str| -> Result<f64, String> {
            let v: f64 = v.trim().parse().map_err(|_| bad())?;
            if v > 0.0 && v <= 1.0 {
                Ok(v)
            } else {
                Err(bad())
            }
        };
        match s {
            "f1" => Ok(Threshold::Chosen(ThresholdRule::F1)),
            "youden" => Ok(Threshold::Chosen(ThresholdRule::Youden)),
            _ => {
                if let Some(p) = s.strip_prefix("precision>=") {
                    Ok(Threshold::Chosen(ThresholdRule::PrecisionAtLeast(level(
                        p,
                    )?)))
                } else if let Some(r) = s.strip_prefix("recall>=") {
                    Ok(Threshold::Chosen(ThresholdRule::RecallAtLeast(level(r)?)))
                } else {
                    let t: f64 = s.parse().map_err(|_| bad())?;
                    Threshold::fixed(t).ok_or_else(bad)
                }
            }
        }
    }
}

impl Threshold {
    /// A fixed threshold, if `t` is a probability strictly between 0 and 1.
    pub(crate) fn fixed(t: f64) -> Option<Self> {
        (t > 0.0 && t < 1.0).then_some(Threshold::Fixed(t))
    }

    /// The threshold validation uses during training: the fixed one, or 0.5 until a rule has
    /// picked one after the last epoch.
    pub(crate) fn during_training(self) -> f64 {
        match self {
            Threshold::Fixed(t) => t,
            Threshold::Chosen(_) => crate::threshold::DEFAULT,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ThresholdRepr {
    Number(f64),
    Text(String),
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Threshold::Fixed(t) => s.serialize_f64(*t),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match ThresholdRepr::deserialize(d)
            .map_err(|_| D::Error::custom(format!("must be {THRESHOLD_EXPECTED}")))?
        {
            ThresholdRepr::Number(t) => Threshold::fixed(t)
                .ok_or_else(|| D::Error::custom(format!("must be {THRESHOLD_EXPECTED}, got {t}"))),
            ThresholdRepr::Text(s) => s.parse().map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_weights_are_n_over_twice_the_class_count() {
        // 2 positives of 10: class 0 weighs 10 / (2·8) = 0.625, class 1 10 / (2·2) = 2.5.
        let mut labels = vec![0.0f32; 8];
        labels.extend([1.0, 1.0]);
        assert_eq!(
            ClassWeight::Balanced.weights(&labels, 2),
            Some(vec![0.625, 2.5])
        );
        // The weighted classes then weigh the same: 8 · 0.625 = 2 · 2.5 = 5 = n / 2.
        assert_eq!(ClassWeight::None.weights(&labels, 2), None);
        assert_eq!(
            ClassWeight::Explicit([1.0, 9.0]).weights(&labels, 2),
            Some(vec![1.0, 9.0])
        );
        // k classes (indices): 6 rows of 0, 3 of 1, 1 of 2, none of 3: n / (4 · count), and 1
        // for the class no row has.
        let mut labels = vec![0.0f32; 6];
        labels.extend([1.0, 1.0, 1.0, 2.0]);
        assert_eq!(
            ClassWeight::Balanced.weights(&labels, 4),
            Some(vec![10.0 / 24.0, 10.0 / 12.0, 2.5, 1.0])
        );
    }

    #[test]
    fn thresholds_parse_and_print_back() {
        for text in ["0.3", "f1", "youden", "precision>=0.9", "recall>=0.75"] {
            let t: Threshold = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
        for bad in [
            "0",
            "1",
            "1.5",
            "-0.1",
            "precision>=0",
            "recall>=2",
            "f2",
            "precision>0.9",
        ] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }
}
