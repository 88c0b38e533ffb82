//! The ranked sweep of a binary classifier's scores: rows sorted from the highest score to the
//! lowest, walked one group of tied scores at a time with the cumulative true and false
//! positives above each threshold. It is the one routine behind the AUC and average precision
//! of `summary.json` ([`crate::metrics`]), the report's ROC and precision-recall curves
//! ([`crate::report`]) and the threshold rules ([`crate::threshold`]), so the four cannot
//! disagree about ties or about which side of a threshold a row is on.
//!
//! A row is positive when its label is above 0.5. Tied scores cross any threshold together,
//! so they form one step: scikit-learn's `roc_curve(drop_intermediate=False)` and
//! `precision_recall_curve` points, and the ties-count-half rank AUC.

use std::cmp::Ordering;

use crate::data::buffer::Buffer;

/// One point of a curve: `(x, y)`.
pub(crate) type Point = (f64, f64);

/// A score a ranking can sort: `f32` for the network's raw outputs (half the bytes to move
/// while sorting a large split), `f64` for probabilities and the report's saved outputs.
pub(crate) trait Score: bytemuck::Pod + PartialEq {
    /// IEEE total order, so that a NaN score sorts to a fixed place instead of breaking the
    /// sort.
    fn total(&self, other: &Self) -> Ordering;
    /// The value, widened exactly.
    fn wide(self) -> f64;
}

impl Score for f32 {
    fn total(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
}

impl Score for f64 {
    fn total(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
    fn wide(self) -> f64 {
        self
    }
}

/// `points` less each one within `step` of the last one kept on both axes, the first and the
/// last always kept: a curve of millions of steps (one per distinct score of a large split)
/// drawn with a point per `step` of either axis, so that its points do not grow with the rows
/// (64 MB for each curve of 4M rows), and every point when consecutive ones are further
/// apart than `step` (a split of fewer rows than `1 / step` on either side of a ROC curve).
fn thin(points: impl Iterator<Item = Point>, step: f64) -> Vec<Point> {
    let mut kept: Vec<Point> = Vec::new();
    let mut skipped = None;
    for (x, y) in points {
        match kept.last() {
            Some(&(a, b)) if (x - a).abs() < step && (y - b).abs() < step => {
                skipped = Some((x, y));
            }
            _ => {
                kept.push((x, y));
                skipped = None;
            }
        }
    }
    kept.extend(skipped);
    kept
}

/// One group of tied scores in the sweep, with the counts of every row ranked at or above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    /// The group's score.
    pub(crate) score: f64,
    /// Rows ranked strictly above the group (descending positions `above..above + rows`).
    pub(crate) above: usize,
    /// Rows in the group.
    pub(crate) rows: usize,
    /// Positive rows in the group.
    pub(crate) positives: usize,
    /// Positive rows at or above the group: the true positives of a threshold just below it.
    pub(crate) tp: usize,
    /// Negative rows at or above the group: the false positives of a threshold just below it.
    pub(crate) fp: usize,
}

/// A split's rows sorted by score, highest first, ready to sweep.
#[derive(Debug, Clone)]
pub(crate) struct Ranking<T: bytemuck::Pod> {
    /// The positive rows' scores and the negative rows' scores, each sorted by descending
    /// score and walked together ([`Steps`]): a row costs its score alone (4 bytes for the
    /// network's f32 outputs, not 8 for a score and a flag padded), which at the end of a run
    /// of millions of training rows is a third of what the metrics hold. Each in a mapped file
    /// past [`crate::data::buffer::SPILL_ABOVE`].
    positive: Buffer<T>,
    negative: Buffer<T>,
}

impl<T: Score> Ranking<T> {
    /// Sorts `scores` with their `labels` (paired by position; extra entries of the longer one
    /// are left out).
    pub(crate) fn of(scores: &[T], labels: &[T]) -> Self {
        let pairs = || {
            scores
                .iter()
                .zip(labels)
                .map(|(&s, &y)| (s, y.wide() > 0.5))
        };
        let positives = pairs().filter(|p| p.1).count();
        let rows = scores.len().min(labels.len());
        let mut positive = Buffer::for_rows("the positive rows' scores", positives);
        let mut negative = Buffer::for_rows("the negative rows' scores", rows - positives);
        let (mut p, mut n) = (0, 0);
        for (s, y) in pairs() {
            if y {
                positive[p] = s;
                p += 1;
            } else {
                negative[n] = s;
                n += 1;
            }
        }
        // Unstable is enough: rows of one tie are counted as a group, never one by one.
        positive.sort_unstable_by(|a, b| b.total(a));
        negative.sort_unstable_by(|a, b| b.total(a));
        Self { positive, negative }
    }

    /// Rows ranked.
    pub(crate) fn rows(&self) -> usize {
        self.positive.len() + self.negative.len()
    }

    /// Positive rows.
    pub(crate) fn positives(&self) -> usize {
        self.positive.len()
    }

    /// Negative rows.
    pub(crate) fn negatives(&self) -> usize {
        self.negative.len()
    }

    /// The groups of tied scores, highest first.
    pub(crate) fn steps(&self) -> Steps<'_, T> {
        Steps {
            positive: &self.positive,
            negative: &self.negative,
            tp: 0,
            fp: 0,
        }
    }

    /// Area under the ROC curve: the probability that a random positive scores above a random
    /// negative (Mann–Whitney U from the positives' rank sum), ties counted half. NaN when a
    /// class is absent: with no pair to rank it is undefined (not 0.5).
    pub(crate) fn auc(&self) -> f64 {
        let n = self.rows();
        let (positives, negatives) = (self.positives() as f64, self.negatives() as f64);
        if positives == 0.0 || negatives == 0.0 {
            return f64::NAN;
        }
        let mut rank_sum = 0f64;
        for s in self.steps() {
            // Descending positions i..=j are ascending ranks n − j ..= n − i (from 1).
            let (i, j) = (s.above, s.above + s.rows - 1);
            let mid_rank = (2 * n - i - j) as f64 / 2.0;
            rank_sum += mid_rank * s.positives as f64;
        }
        (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
    }

    /// Average precision `Σ (Rₙ − Rₙ₋₁) Pₙ` over the steps (scikit-learn's
    /// `average_precision_score`, no interpolation). NaN without a positive row.
    ///
    /// Summed while the steps are walked, not from [`precision_recall`](Self::precision_recall)'s
    /// points: a step per distinct score is 16 bytes a row of a large split (256 MB for the
    /// training rows of a 20M-row run), the same sums in the same order.
    pub(crate) fn average_precision(&self) -> f64 {
        let p = self.positives() as f64;
        if p == 0.0 {
            return f64::NAN;
        }
        let (mut ap, mut last_recall) = (0f64, 0f64);
        for s in self.steps() {
            let (tp, fp) = (s.tp as f64, s.fp as f64);
            let (recall, precision) = (tp / p, tp / (tp + fp));
            ap += (recall - last_recall) * precision;
            last_recall = recall;
        }
        ap
    }

    /// The ROC curve, `(false positive rate, true positive rate)` from `(0, 0)` to `(1, 1)`,
    /// one point per step (scikit-learn's `roc_curve(drop_intermediate=False)`), less the
    /// points within `step` of the last one kept on both axes ([`thin`]; 0 keeps every one).
    /// `None` when a class is absent: the curve is undefined.
    pub(crate) fn roc(&self, step: f64) -> Option<Vec<Point>> {
        let (p, n) = (self.positives() as f64, self.negatives() as f64);
        if p == 0.0 || n == 0.0 {
            return None;
        }
        let points = self.steps().map(|s| (s.fp as f64 / n, s.tp as f64 / p));
        Some(thin(std::iter::once((0.0, 0.0)).chain(points), step))
    }

    /// The precision-recall curve, `(recall, precision)` from the highest threshold down, one
    /// point per step (scikit-learn's `precision_recall_curve` reversed, without its `(0, 1)`
    /// start), thinned as [`roc`](Self::roc)'s. `None` without a positive row.
    pub(crate) fn precision_recall(&self, step: f64) -> Option<Vec<Point>> {
        let p = self.positives() as f64;
        if p == 0.0 {
            return None;
        }
        let points = self.steps().map(|s| {
            let (tp, fp) = (s.tp as f64, s.fp as f64);
            (tp / p, tp / (tp + fp))
        });
        Some(thin(points, step))
    }
}

/// The iterator of [`Ranking::steps`]: the two sorted score lists merged, `tp` and `fp`
/// rows of them taken so far.
#[derive(Debug, Clone)]
pub(crate) struct Steps<'a, T> {
    positive: &'a [T],
    negative: &'a [T],
    tp: usize,
    fp: usize,
}

impl<T: Score> Iterator for Steps<'_, T> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let (p, n) = (&self.positive[self.tp..], &self.negative[self.fp..]);
        // The higher of the two next scores in the total order (a positive first on a tie).
        let score = match (p.first(), n.first()) {
            (None, None) => return None,
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (Some(&a), Some(&b)) => {
                if a.total(&b) == Ordering::Less {
                    b
                } else {
                    a
                }
            }
        };
        // A group is every following row of either list equal to it; a NaN score is a group
        // alone (equal to nothing, itself included).
        let (positives, negatives) = if !score.wide().is_nan() {
            let equal = |list: &[T]| list.iter().take_while(|&&s| s == score).count();
            (equal(p), equal(n))
        } else if p
            .first()
            .is_some_and(|a| a.total(&score) == Ordering::Equal)
        {
            (1, 0)
        } else {
            (0, 1)
        };
        let above = self.tp + self.fp;
        self.tp += positives;
        self.fp += negatives;
        Some(Step {
            score: score.wide(),
            above,
            rows: positives + negatives,
            positives,
            tp: self.tp,
            fp: self.fp,
        })
    }
}

/// Ten labelled scores with ties (three at 0.4, across both classes) whose curves and areas
/// the ranking and report tests compare with scikit-learn 1.9's, each test naming the call.
#[cfg(test)]
pub(crate) mod fixture {
    //   y = [0,0,1,1,0,1,1,0,1,0], s = [.1,.4,.35,.8,.4,.9,.65,.2,.4,.7]
    pub(crate) const Y: [f64; 10] = [0., 0., 1., 1., 0., 1., 1., 0., 1., 0.];
    pub(crate) const S: [f64; 10] = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.65, 0.2, 0.4, 0.7];

    /// Equal to the reference's printed digits.
    pub(crate) fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{close, S, Y};
    use super::*;

    #[test]
    fn a_thinned_curve_is_points_of_the_exact_one_a_step_apart_with_both_ends() {
        // 200,000 distinct scores: as many steps.
        let n = 200_000u32;
        let scores: Vec<f64> = (0..n)
            .map(|i| f64::from(i.wrapping_mul(2_654_435_761)))
            .collect();
        let labels: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
        let r = Ranking::of(&scores, &labels);
        let step = 1.0 / 4096.0;
        for (exact, thin, points) in [
            (r.roc(0.0).unwrap(), r.roc(step).unwrap(), n + 1),
            (
                r.precision_recall(0.0).unwrap(),
                r.precision_recall(step).unwrap(),
                n,
            ),
        ] {
            assert_eq!(exact.len(), points as usize);
            // A ROC curve moves at most 2 in all: a point per step of it, and both ends (this
            // precision-recall curve, whose precision settles early, fits the same bound).
            assert!(thin.len() <= 2 * 4096 + 2, "{}", thin.len());
            assert!(thin.len() > 1000, "{}", thin.len());
            assert_eq!((thin[0], thin.last()), (exact[0], exact.last()));
            let mut at = 0;
            for w in thin.windows(2) {
                let far = (w[1].0 - w[0].0).abs() >= step || (w[1].1 - w[0].1).abs() >= step;
                assert!(far || w[1] == *exact.last().unwrap(), "{w:?}");
            }
            for p in &thin {
                at += exact[at..]
                    .iter()
                    .position(|q| q == p)
                    .expect("a point of the curve");
            }
        }
    }

    #[test]
    fn roc_and_auc_match_scikit_learn() {
        // roc_curve(y, s, drop_intermediate=False) and roc_auc_score(y, s) = 0.76
        let r = Ranking::of(&S, &Y);
        let points = r.roc(0.0).unwrap();
        let fpr = [0.0, 0.0, 0.0, 0.2, 0.2, 0.6, 0.6, 0.8, 1.0];
        let tpr = [0.0, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0];
        assert_eq!(points.len(), fpr.len(), "{points:?}");
        for (k, &(x, y)) in points.iter().enumerate() {
            assert!(
                close(x, fpr[k]) && close(y, tpr[k]),
                "point {k}: {points:?}"
            );
        }
        assert!(close(r.auc(), 0.76), "{}", r.auc());
        // The rank AUC is the area under the curve by the trapezoid rule.
        let area: f64 = points
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        assert!(close(area, r.auc()), "{area}");
    }

    #[test]
    fn precision_recall_and_average_precision_match_scikit_learn() {
        // average_precision_score(y, s) = 0.7892857142857144
        let r = Ranking::of(&S, &Y);
        assert!(
            close(r.average_precision(), 0.7892857142857144),
            "{}",
            r.average_precision()
        );
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
        let points = r.precision_recall(0.0).unwrap();
        assert_eq!(points.len(), want.len(), "{points:?}");
        for (k, (&p, w)) in points.iter().zip(want).enumerate() {
            assert!(close(p.0, w.0) && close(p.1, w.1), "point {k}: {points:?}");
        }
    }

    #[test]
    fn steps_group_ties_and_count_every_row_once() {
        let r = Ranking::of(&S, &Y);
        let steps: Vec<Step> = r.steps().collect();
        // The three 0.4s are one step below .9, .8, .7 and .65: one positive, two negatives.
        let tie = steps.iter().find(|s| s.score == 0.4).unwrap();
        assert_eq!((tie.rows, tie.positives, tie.above), (3, 1, 4));
        assert_eq!(steps.len(), 8);
        let last = steps.last().unwrap();
        assert_eq!((last.tp, last.fp), (5, 5));
        assert_eq!(steps.iter().map(|s| s.rows).sum::<usize>(), 10);
        // f32 scores rank the same as their f64 values.
        let r32 = Ranking::of(&S.map(|v| v as f32), &Y.map(|v| v as f32));
        let counts = |r: Vec<Step>| r.iter().map(|s| (s.tp, s.fp)).collect::<Vec<_>>();
        assert_eq!(counts(r32.steps().collect()), counts(steps));
    }

    #[test]
    fn one_class_leaves_the_curves_and_areas_undefined() {
        let r = Ranking::of(&[0.1, 0.2], &[0.0, 0.0]);
        assert!(r.roc(0.0).is_none() && r.precision_recall(0.0).is_none());
        assert!(r.auc().is_nan() && r.average_precision().is_nan());
        let empty = Ranking::<f64>::of(&[], &[]);
        assert!(empty.roc(0.0).is_none() && empty.auc().is_nan());
        assert_eq!(empty.steps().count(), 0);
        // Ties count half; NaN scores are ranked, each a step of its own.
        assert_eq!(Ranking::of(&[0.5, 0.5], &[0.0, 1.0]).auc(), 0.5);
        assert_eq!(Ranking::of(&[0.1, 0.9], &[0.0, 1.0]).auc(), 1.0);
        assert_eq!(
            Ranking::of(&[f64::NAN, f64::NAN], &[0.0, 1.0])
                .steps()
                .count(),
            2
        );
    }

    /// The two sorted lists walked together give the steps one sorted list of (score, label)
    /// pairs gives: ties across the classes, +0 and -0, NaN scores.
    #[test]
    fn merged_lists_step_like_one_sorted_list() {
        use proptest::prelude::*;
        let score = prop_oneof![
            (0i8..6).prop_map(|v| f32::from(v) / 4.0),
            Just(0.0f32),
            Just(-0.0f32),
            Just(f32::NAN),
            any::<f32>(),
        ];
        proptest!(ProptestConfig::with_cases(crate::fuzz_cases(2000)), |(rows in prop::collection::vec((score, any::<bool>()), 0..60))| {
            let scores: Vec<f32> = rows.iter().map(|r| r.0).collect();
            let labels: Vec<f32> = rows.iter().map(|r| f32::from(u8::from(r.1))).collect();
            let mut pairs: Vec<(f32, bool)> = rows.clone();
            pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
            // The reference: one sorted list, a group every following row equal to its first.
            let (mut expected, mut at, mut tp, mut fp) = (Vec::new(), 0, 0, 0);
            while at < pairs.len() {
                let s = pairs[at].0;
                let n = pairs[at..].iter().take_while(|p| p.0 == s).count().max(1);
                let positives = pairs[at..at + n].iter().filter(|p| p.1).count();
                tp += positives;
                fp += n - positives;
                expected.push((s.to_bits(), at, n, positives, tp, fp));
                at += n;
            }
            let got: Vec<_> = Ranking::of(&scores, &labels)
                .steps()
                .map(|s| ((s.score as f32).to_bits(), s.above, s.rows, s.positives, s.tp, s.fp))
                .collect();
            // NaN groups may come in another order of the classes; their count is the same.
            let key = |v: &Vec<(u32, usize, usize, usize, usize, usize)>| -> Vec<(u32, usize)> {
                v.iter().filter(|s| !f32::from_bits(s.0).is_nan()).map(|s| (s.0, s.3)).collect()
            };
            prop_assert_eq!(key(&got), key(&expected));
            prop_assert_eq!(got.len(), expected.len());
            prop_assert_eq!(got.last().map(|s| (s.4, s.5)), expected.last().map(|s| (s.4, s.5)));
        });
    }
}
