//! When to stop before the last epoch: Keras's `EarlyStopping` rule (stop after `patience`
//! epochs without an improvement larger than `min_delta`) and the time budget. Shaped like
//! burn-train's `EarlyStoppingStrategy`: told of each epoch, it says whether to go on.

use super::Stop;
use crate::config::EarlyStopping;
use crate::history::EpochRow;
use crate::metrics;

/// What the stopper makes of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The monitored metric improved: this epoch is the best so far.
    pub improved: bool,
    /// Stop after this epoch, and why.
    pub stop: Option<Stop>,
}

/// Early stopping's memory: the best (epoch, value) and the epochs since it.
pub(super) struct Stopper<'a> {
    rule: Option<&'a EarlyStopping>,
    /// `train.max_time`, seconds.
    max_time: Option<f64>,
    /// The best epoch (1-based) and its value.
    pub best: Option<(usize, f64)>,
    /// Epochs without improvement.
    pub wait: usize,
}

impl<'a> Stopper<'a> {
    /// A stopper for `rule` (none: no early stopping) and a time budget of `max_time`
    /// seconds (none: no budget), resuming from `best` and `wait`.
    pub fn new(
        rule: Option<&'a EarlyStopping>,
        max_time: Option<f64>,
        best: Option<(usize, f64)>,
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
    pub fn restores_best(&self) -> bool {
        self.rule.is_some_and(|r| r.restore_best)
    }

    /// Judges a finished epoch, `elapsed` seconds into training.
    pub fn observe(&mut self, row: &EpochRow, elapsed: f64) -> Verdict {
        let mut verdict = Verdict {
            improved: false,
            stop: None,
        };
        let over_time = self.max_time.is_some_and(|limit| elapsed > limit);
        let Some(rule) = self.rule else {
            verdict.stop = over_time.then_some(Stop::TimeBudget);
            return verdict;
        };
        if let Some(v) = row.get(&rule.monitor) {
            let better = match self.best {
                None => true,
                Some((_, b)) if metrics::higher_is_better(&rule.monitor) => {
                    v > b + rule.min_delta.0
                }
                Some((_, b)) => v < b - rule.min_delta.0,
            };
            if better {
                self.best = Some((row.epoch, v));
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
