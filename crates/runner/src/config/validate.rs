//! The checks that involve several keys, run once after every key has its value.

use burnfit_model::Loss;

use super::{Config, ConfigError, Source, Task};

impl Config {
    /// Checks that involve several keys.
    // Long, but flat: a list of independent checks, each returning its own error.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let d = &self.data;
        if d.source == Source::Csv && d.path.is_none() {
            return Err(fail(
                "data.path",
                "data.source is \"csv\" but no data.path is given".into(),
            ));
        }
        if d.label.trim().is_empty() {
            return Err(fail("data.label", "must name the label column".into()));
        }
        for (key, list) in [
            ("data.exclude", &d.exclude),
            ("data.categorical", &d.categorical),
        ] {
            if list.contains(&d.label) {
                return Err(fail(key, format!("lists the label column `{}`", d.label)));
            }
        }
        if let Some(f) = &d.features {
            if f.is_empty() {
                return Err(fail(
                    "data.features",
                    "is empty; omit it to use every column".into(),
                ));
            }
            if f.contains(&d.label) {
                return Err(fail(
                    "data.features",
                    format!("lists the label column `{}`", d.label),
                ));
            }
        }
        let s = &d.synthetic;
        if s.informative > s.features {
            return Err(fail(
                "data.synthetic.informative",
                format!(
                    "is {} but there are only {} features",
                    s.informative, s.features
                ),
            ));
        }
        if d.source == Source::Synthetic {
            let want = match s.task {
                Task::Binary => Loss::Bce,
                Task::Regression => Loss::Mse,
            };
            if want != self.train.loss {
                return Err(fail(
                    "train.loss",
                    format!(
                        "is {:?} but the synthetic task is {:?}; use loss = \"{}\"",
                        self.train.loss,
                        s.task,
                        if want == Loss::Bce { "bce" } else { "mse" }
                    ),
                ));
            }
        }
        if self.train.loss == Loss::Mse && d.split.stratify {
            return Err(fail(
                "data.split.stratify",
                "needs a binary label (loss = \"bce\")".into(),
            ));
        }
        if let Some(es) = &self.train.early_stopping {
            if !crate::metrics::is_known_metric(&es.monitor, self.train.loss) {
                return Err(fail(
                    "train.early_stopping.monitor",
                    format!(
                        "`{}` is not a metric of this run; choose one of {}",
                        es.monitor,
                        crate::metrics::metric_names(self.train.loss, true).join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}
