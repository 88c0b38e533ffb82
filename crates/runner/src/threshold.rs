//! Choosing a classifier's decision threshold on the validation rows (`train.threshold`'s
//! rules). A row is class 1 when its probability is above the threshold, the rule `evaluate`
//! and `predict` apply.

use crate::config::ThresholdRule;

/// The threshold when none is set or chosen yet: a row is class 1 when its probability is above
/// one half. The one place this default lives.
pub(crate) const DEFAULT: f64 = 0.5;
use crate::ranking::{Ranking, Step};

/// The counts at one candidate threshold.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    threshold: f64,
    tp: f64,
    fp: f64,
}

/// Every threshold worth trying, highest first: between each two neighbouring distinct
/// probabilities (any threshold in that gap splits the rows the same way; the middle of it
/// leaves room on both sides), and halfway below the lowest (every row class 1). The counts
/// come from the one ranked sweep ([`Ranking`]) that the AUC and the report's curves use.
fn candidates(ranking: &Ranking<f64>) -> Vec<Candidate> {
    let mut out = Vec::new();
    // The step above the current one: the rows counted so far are those above the gap.
    let mut above: Option<Step> = None;
    for step in ranking.steps() {
        if let Some(higher) = above {
            out.push(Candidate {
                threshold: (step.score + higher.score) / 2.0,
                tp: higher.tp as f64,
                fp: higher.fp as f64,
            });
        }
        above = Some(step);
    }
    if let Some(lowest) = above.filter(|s| s.score > 0.0) {
        out.push(Candidate {
            threshold: lowest.score / 2.0,
            tp: lowest.tp as f64,
            fp: lowest.fp as f64,
        });
    }
    out
}

/// The threshold `rule` picks on these rows, or `None` when it cannot pick one (one class
/// only, or no threshold meets a precision or recall target). Ties go to the highest
/// threshold.
pub(crate) fn choose(rule: ThresholdRule, probabilities: &[f64], labels: &[f64]) -> Option<f64> {
    let ranking = Ranking::of(probabilities, labels);
    let positives = ranking.positives() as f64;
    let negatives = ranking.negatives() as f64;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let precision = |c: &Candidate| {
        if c.tp + c.fp > 0.0 {
            c.tp / (c.tp + c.fp)
        } else {
            f64::NAN
        }
    };
    let recall = |c: &Candidate| c.tp / positives;
    // What to maximise, NaN where the candidate does not qualify.
    let score = |c: &Candidate| -> f64 {
        match rule {
            ThresholdRule::F1 => {
                let (p, r) = (precision(c), recall(c));
                if p.is_nan() || p + r == 0.0 {
                    0.0
                } else {
                    2.0 * p * r / (p + r)
                }
            }
            ThresholdRule::Youden => recall(c) - c.fp / negatives,
            ThresholdRule::PrecisionAtLeast(target) => {
                if precision(c) >= target {
                    recall(c)
                } else {
                    f64::NAN
                }
            }
            ThresholdRule::RecallAtLeast(target) => {
                if recall(c) >= target {
                    precision(c)
                } else {
                    f64::NAN
                }
            }
        }
    };
    let mut best: Option<(f64, f64)> = None;
    for c in candidates(&ranking) {
        let s = score(&c);
        if s.is_nan() {
            continue;
        }
        // Strictly better only: the first (highest) threshold keeps a tie.
        if best.is_none_or(|(b, _)| s > b) {
            best = Some((s, c.threshold));
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// The rule's score at threshold `t`, counted row by row.
    fn brute(rule: ThresholdRule, p: &[f64], y: &[f64], t: f64) -> f64 {
        let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
        for (&p, &y) in p.iter().zip(y) {
            match (p > t, y > 0.5) {
                (true, true) => tp += 1.0,
                (true, false) => fp += 1.0,
                (false, true) => fn_ += 1.0,
                (false, false) => tn += 1.0,
            }
        }
        let precision = if tp + fp > 0.0 {
            tp / (tp + fp)
        } else {
            f64::NAN
        };
        let recall = tp / (tp + fn_);
        match rule {
            ThresholdRule::F1 if precision.is_nan() || precision + recall == 0.0 => 0.0,
            ThresholdRule::F1 => 2.0 * precision * recall / (precision + recall),
            ThresholdRule::Youden => recall - fp / (fp + tn),
            ThresholdRule::PrecisionAtLeast(x) if precision >= x => recall,
            ThresholdRule::RecallAtLeast(x) if recall >= x => precision,
            _ => f64::NAN,
        }
    }

    #[test]
    fn each_rule_picks_the_best_threshold_a_brute_force_search_finds() {
        let mut rng = StdRng::seed_from_u64(5);
        let rules = [
            ThresholdRule::F1,
            ThresholdRule::Youden,
            ThresholdRule::PrecisionAtLeast(0.8),
            ThresholdRule::RecallAtLeast(0.9),
        ];
        for case in 0..40 {
            let n = 20 + case * 7;
            // Probabilities on a coarse grid, so that ties occur.
            let y: Vec<f64> = (0..n).map(|_| f64::from(rng.random_bool(0.3))).collect();
            let p: Vec<f64> = y
                .iter()
                .map(|&y| ((0.35 * y + rng.random_range(0.0..0.65)) * 40.0).round() / 40.0)
                .collect();
            // Every threshold in steps of 1/400, and every probability itself.
            let mut grid: Vec<f64> = (0..400).map(|k| k as f64 / 400.0).collect();
            grid.extend(p.iter().copied());
            for rule in rules {
                let best = grid
                    .iter()
                    .map(|&t| brute(rule, &p, &y, t))
                    .filter(|s| !s.is_nan())
                    .fold(f64::NAN, f64::max);
                match choose(rule, &p, &y) {
                    Some(t) => {
                        let got = brute(rule, &p, &y, t);
                        assert!(
                            (got - best).abs() < 1e-12,
                            "case {case} {rule:?}: threshold {t} scores {got}, the best is {best}"
                        );
                    }
                    None => assert!(
                        best.is_nan(),
                        "case {case} {rule:?}: none chosen, {best} possible"
                    ),
                }
            }
        }
    }

    #[test]
    fn a_perfectly_separated_split_gets_a_threshold_between_the_classes() {
        let p = [0.1, 0.2, 0.3, 0.7, 0.8];
        let y = [0.0, 0.0, 0.0, 1.0, 1.0];
        let t = choose(ThresholdRule::F1, &p, &y).unwrap();
        assert_eq!(t, 0.5, "the middle of the gap between the classes");
        assert_eq!(choose(ThresholdRule::F1, &p, &[0.0; 5]), None, "one class");
        // No threshold gives precision 1 when the top row is negative.
        let y = [0.0, 0.0, 1.0, 1.0, 0.0];
        assert_eq!(choose(ThresholdRule::PrecisionAtLeast(1.0), &p, &y), None);
    }
}
