//! When to stop before the last epoch: Keras's `EarlyStopping` rule (stop after `patience`
//! epochs without an improvement larger than `min_delta`) and the time budget. Shaped like
//! burn-train's `EarlyStoppingStrategy`: told of each epoch, it says whether to go on.

use super::Stop;
use crate::config::EarlyStopping;
use crate::history::EpochRow;
use crate::metrics;
use crate::run::Best;

/// What the stopper makes of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The monitored metric improved: this epoch is the best so far.
    pub(crate) improved: bool,
    /// Stop after this epoch, and why.
    pub(crate) stop: Option<Stop>,
}

/// Early stopping's memory: the best (epoch, value) and the epochs since it.
pub(super) struct Stopper<'a> {
    rule: Option<&'a EarlyStopping>,
    /// `train.max_time`, seconds.
    max_time: Option<f64>,
    /// The best epoch (1-based) and its value.
    pub(crate) best: Option<Best>,
    /// Epochs without improvement.
    pub(crate) wait: usize,
}

impl<'a> Stopper<'a> {
    /// A stopper for `rule` (none: no early stopping) and a time budget of `max_time`
    /// seconds (none: no budget), resuming from `best` and `wait`.
    pub(crate) fn new(
        rule: Option<&'a EarlyStopping>,
        max_time: Option<f64>,
        best: Option<Best>,
        wait: usize,
    ) -> Self {
        Self {
            rule,
            max_time,
            best,
            wait,
        }
    }

    /// Whether the best weights are kept and restored at the end.
    pub(crate) fn restores_best(&self) -> bool {
        self.rule.is_some_and(|r| r.restore_best)
    }

    /// Judges a finished epoch, `elapsed` seconds into training.
    pub(crate) fn observe(&mut self, row: &EpochRow, elapsed: f64) -> Verdict {
        let mut verdict = Verdict {
            improved: false,
            stop: None,
        };
        let over_time = self.max_time.is_some_and(|limit| elapsed > limit);
        let Some(rule) = self.rule else {
            verdict.stop = over_time.then_some(Stop::TimeBudget);
            return verdict;
        };
        // An undefined value (AUC of a one-class validation split) is no observation: it neither
        // improves nor uses up patience.
        if let Some(v) = row.get(&rule.monitor).filter(|v| !v.is_nan()) {
            let better = match self.best {
                None => true,
                Some(b) if metrics::higher_is_better(&rule.monitor) => {
                    v > b.value + rule.min_delta.0
                }
                Some(b) => v < b.value - rule.min_delta.0,
            };
            if better {
                self.best = Some(Best {
                    epoch: row.epoch,
                    value: v,
                });
                self.wait = 0;
                verdict.improved = true;
            } else {
                self.wait += 1;
                if self.wait >= rule.patience {
                    verdict.stop = Some(Stop::EarlyStopped);
                }
            }
        }
        if verdict.stop.is_none() && over_time {
            verdict.stop = Some(Stop::TimeBudget);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NonNegative;

    fn row(epoch: usize, v: f64) -> EpochRow {
        EpochRow {
            epoch,
            lr: 0.1,
            metrics: vec![("val_loss".into(), v)],
        }
    }

    #[test]
    fn keras_rule_patience_time_budget_and_undefined_values() {
        let rule = EarlyStopping {
            patience: 2,
            min_delta: NonNegative(0.0),
            ..EarlyStopping::default()
        };
        let mut s = Stopper::new(Some(&rule), None, None, 0);
        assert!(s.observe(&row(1, 0.5), 0.0).improved);
        assert_eq!(
            s.observe(&row(2, f64::NAN), 0.0).stop,
            None,
            "NaN uses no patience"
        );
        assert_eq!(s.observe(&row(3, 0.6), 0.0).stop, None);
        assert_eq!(s.observe(&row(4, 0.7), 0.0).stop, Some(Stop::EarlyStopped));
        assert_eq!(
            s.best,
            Some(Best {
                epoch: 1,
                value: 0.5
            })
        );
        // A time budget alone, without early stopping.
        let mut t = Stopper::new(None, Some(1.0), None, 0);
        assert_eq!(t.observe(&row(1, 0.5), 0.5).stop, None);
        assert_eq!(t.observe(&row(2, 0.5), 1.5).stop, Some(Stop::TimeBudget));
    }
}
