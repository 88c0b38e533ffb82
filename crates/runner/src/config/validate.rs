//! The checks that involve several keys, run once after every key has its value.

use burnfit_model::Loss;

use super::rules::{self, Written};
use super::{ClassWeight, Config, ConfigError, LrSchedule, Source, Task};

impl Config {
    /// Checks that involve several keys.
    // Long, but flat: a list of independent checks, each returning its own error.
    pub(super) fn validate(
        &self,
        origin: &str,
        written: &Written,
        text: Option<&str>,
    ) -> Result<(), ConfigError> {
        // Named where the key was written: the file with its line and column, or the `--set`
        // that set it.
        let fail = |key: &str, message: String| ConfigError::Invalid {
            origin: written
                .place(key, text)
                .unwrap_or_else(|| origin.to_string()),
            key: key.to_string(),
            message,
        };
        // The footprint's factors multiply the energy: beyond these bounds no grid, data
        // centre or tariff exists, and the products overflow to a `null` in summary.json.
        let f = &self.footprint;
        for (key, value, most) in [
            ("footprint.grid_gco2_per_kwh", f.grid_gco2_per_kwh.0, 1e5),
            ("footprint.pue", f.pue.0, 100.0),
            ("footprint.price_per_kwh", f.price_per_kwh.0, 1e6),
            (
                "footprint.cpu_tdp_watts",
                f.cpu_tdp_watts.map_or(1.0, |w| w.0),
                1e5,
            ),
        ] {
            if value > most {
                return Err(fail(
                    key,
                    format!("must be at most {most:e}, got {value:e}; is the unit right?"),
                ));
            }
        }
        if f.pue.0 < 1.0 {
            return Err(fail(
                "footprint.pue",
                format!(
                    "must be at least 1 (the machine's own power, with nothing for cooling), got {}",
                    f.pue.0
                ),
            ));
        }
        let d = &self.data;
        for (key, why) in rules::inert(self) {
            if written.has(key) && rules::is_other_source(self, key, written) {
                return Err(fail(
                    key,
                    format!(
                        "belongs to the other data source: {why}; remove it, or set data.source"
                    ),
                ));
            }
        }
        if d.features.is_some() && !d.exclude.is_empty() {
            return Err(fail(
                "data.exclude",
                "is given with data.features; use one: data.features lists the columns to use, data.exclude the ones to leave out".into(),
            ));
        }
        for (key, list) in [
            ("data.features", d.features.as_deref().unwrap_or_default()),
            ("data.exclude", &d.exclude[..]),
            ("data.categorical", &d.categorical[..]),
        ] {
            if let Some((i, name)) = list
                .iter()
                .enumerate()
                .find(|(i, n)| list[..*i].contains(n))
            {
                return Err(fail(
                    key,
                    format!(
                        "lists `{name}` twice (entries {} and {})",
                        list.iter().position(|n| n == name).unwrap_or(0) + 1,
                        i + 1
                    ),
                ));
            }
            if let Some(blank) = list.iter().position(|n| n.trim().is_empty()) {
                return Err(fail(key, format!("entry {} is empty", blank + 1)));
            }
        }
        match (d.split.folds, d.split.fold) {
            (Some(k), _) if k.get() < 2 => {
                return Err(fail(
                    "data.split.folds",
                    format!("is {k}; cross-validation needs at least 2 folds"),
                ));
            }
            (Some(k), Some(i)) if i > k => {
                return Err(fail("data.split.fold", format!("is {i}, but there are only {k} folds (data.split.folds); folds are numbered 1 to {k}")));
            }
            (Some(_), None) => {
                return Err(fail("data.split.folds", "is set without data.split.fold, the fold that validates (1 to data.split.folds)".into()));
            }
            (None, Some(_)) => {
                return Err(fail(
                    "data.split.fold",
                    "is set without data.split.folds, the number of folds".into(),
                ));
            }
            _ => {}
        }
        if d.split.folds.is_some() && d.validation_path.is_some() {
            return Err(fail("data.split.folds", "is given with data.validation_path; cross-validation cuts its folds from data.path, so use one or the other".into()));
        }
        if let Some(w) = &d.weight {
            if w.trim().is_empty() {
                return Err(fail(
                    "data.weight",
                    "is empty; name the column of row weights".into(),
                ));
            }
            if d.label.contains(w) {
                return Err(fail(
                    "data.weight",
                    format!("names the label column `{w}`; the weights need a column of their own"),
                ));
            }
            for (key, list) in [
                ("data.features", d.features.as_deref().unwrap_or_default()),
                ("data.exclude", &d.exclude[..]),
                ("data.categorical", &d.categorical[..]),
            ] {
                if list.contains(w) {
                    return Err(fail("data.weight", format!("`{w}` is also listed in {key}; the weight column is never a feature, so leave it out of {key}")));
                }
            }
        }
        let t = &self.train;
        if t.loss == Loss::Mse {
            for key in ["train.class_weight", "train.threshold", "train.calibrate"] {
                if written.has(key) {
                    return Err(fail(
                        key,
                        "is for classifiers, and train.loss = \"mse\" is a regression; remove it, or set train.loss = \"bce\"".into(),
                    ));
                }
            }
        }
        if t.loss == Loss::CrossEntropy {
            if written.has("train.threshold") {
                return Err(fail(
                    "train.threshold",
                    "is for one yes/no label (train.loss = \"bce\"); a softmax over classes (\"cross_entropy\") predicts the class of the largest probability. Remove it".into(),
                ));
            }
            if let ClassWeight::Explicit(_) = t.class_weight {
                return Err(fail(
                    "train.class_weight",
                    "[weight of class 0, weight of class 1] is for two classes; with train.loss = \"cross_entropy\" set \"balanced\" (n / (k · count) for each of the k classes) or \"none\"".into(),
                ));
            }
        }
        let lr = t.optimizer_settings().lr();
        if t.lr_schedule == LrSchedule::Cosine && t.lr_min.0 > lr {
            return Err(fail(
                "train.lr_min",
                format!("is {} but the learning rate it decays from is {lr}; the cosine schedule would raise the rate instead. Set train.lr_min below train.lr", t.lr_min.0),
            ));
        }
        for (key, p) in [
            ("data.path", &d.path),
            ("data.validation_path", &d.validation_path),
            ("data.test_path", &d.test_path),
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(fail(key, "is empty; name a CSV file".into()));
            }
        }
        if d.cache_dir
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(fail(
                "data.cache_dir",
                "is empty; name a folder, or leave the key out for the default".into(),
            ));
        }
        if d.source == Source::Csv && d.path.is_none() {
            return Err(fail(
                "data.path",
                "data.source is \"csv\" but no data.path is given".into(),
            ));
        }
        self.check_labels(&fail)?;
        for (key, list) in [
            ("data.exclude", &d.exclude),
            ("data.categorical", &d.categorical),
        ] {
            if let Some(l) = list.iter().find(|c| d.label.contains(c)) {
                return Err(fail(key, format!("lists the label column `{l}`")));
            }
        }
        if let Some(f) = &d.features {
            if f.is_empty() {
                return Err(fail(
                    "data.features",
                    "is empty; omit it to use every column".into(),
                ));
            }
            if let Some(l) = f.iter().find(|c| d.label.contains(c)) {
                return Err(fail(
                    "data.features",
                    format!("lists the label column `{l}`"),
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
        let max = crate::data::table::MAX_CLASSES;
        if s.task == Task::Multiclass && !(2..=max).contains(&s.classes.get()) {
            return Err(fail(
                "data.synthetic.classes",
                format!(
                    "is {} but a k-class task needs 2 to {max} classes",
                    s.classes
                ),
            ));
        }
        if s.task == Task::Multilabel && !(2..=max).contains(&s.labels.get()) {
            return Err(fail(
                "data.synthetic.labels",
                format!(
                    "is {} but a multi-label task needs 2 to {max} label columns",
                    s.labels
                ),
            ));
        }
        if d.source == Source::Synthetic {
            let want = match s.task {
                Task::Binary | Task::Multilabel => Loss::Bce,
                Task::Regression => Loss::Mse,
                Task::Multiclass => Loss::CrossEntropy,
            };
            if want != self.train.loss {
                return Err(fail(
                    "train.loss",
                    format!(
                        "is {:?} but the synthetic task is {:?}; use loss = \"{}\"",
                        self.train.loss,
                        s.task,
                        want.key()
                    ),
                ));
            }
        }
        if self.train.loss == Loss::Mse && d.split.stratify {
            return Err(fail(
                "data.split.stratify",
                "needs classes (loss = \"bce\" or \"cross_entropy\"); a numeric target has none"
                    .into(),
            ));
        }
        if let Some(p) = &self.privacy {
            if p.noise_multiplier.is_some() == p.target_epsilon.is_some() {
                return Err(fail(
                    "privacy",
                    "give exactly one of noise_multiplier (σ) and target_epsilon (the σ that reaches it is searched for)".into(),
                ));
            }
            // No noise gives ε = ∞ (no guarantee); beyond Opacus's largest σ the noise times
            // C leaves f32 and every step is NaN.
            if let Some(sigma) = p.noise_multiplier {
                let most = burnfit_privacy::MAX_NOISE_MULTIPLIER;
                if sigma.0 > most {
                    return Err(fail(
                        "privacy.noise_multiplier",
                        format!("must be at most {most:e}, got {sigma}; σ that large leaves nothing of the gradients"),
                    ));
                }
            }
            // A row's influence must be bounded by the clip alone, and nothing may be computed
            // from the private labels outside the accounted steps.
            if self.train.class_weight != crate::config::ClassWeight::None {
                return Err(fail(
                    "train.class_weight",
                    "cannot be used with [privacy]: \"balanced\" is computed from the private labels, outside what the accountant covers, and the private step weighs every row alike".into(),
                ));
            }
            if self.data.weight.is_some() {
                return Err(fail(
                    "data.weight",
                    "cannot be used with [privacy]: the private step clips each row's gradient and weighs every row alike".into(),
                ));
            }
        }
        // Checked with the config, not after every trial has run: a sweep ranked by a metric
        // its runs never record would be an hour's work with no answer.
        if let Some(sweep) = &self.sweep {
            if !crate::metrics::is_known_metric(&sweep.metric, self.head()) {
                return Err(fail(
                    "sweep.metric",
                    format!(
                        "`{}` is not a metric of this run; choose one of {}",
                        sweep.metric,
                        crate::metrics::metric_names(self.head(), true).join(", ")
                    ),
                ));
            }
        }
        if let Some(es) = &self.train.early_stopping {
            if !crate::metrics::is_known_metric(&es.monitor, self.head()) {
                return Err(fail(
                    "train.early_stopping.monitor",
                    format!(
                        "`{}` is not a metric of this run; choose one of {}",
                        es.monitor,
                        crate::metrics::metric_names(self.head(), true).join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `data.label`: named, each column once, and one column for a softmax; several columns
    /// are several 0/1 labels (`"bce"`) or several numbers (`"mse"`), split by a shuffle.
    fn check_labels(&self, fail: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        let d = &self.data;
        let names = d.label.names();
        if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
            return Err(fail(
                "data.label",
                "must name the label column (or list the label columns)".into(),
            ));
        }
        if let Some((i, n)) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            return Err(fail(
                "data.label",
                format!(
                    "lists `{n}` twice (as entries {} and {})",
                    names[..i].iter().position(|m| m == n).unwrap_or(0) + 1,
                    i + 1
                ),
            ));
        }
        if d.source == Source::Csv && d.label.is_several() && self.train.loss == Loss::CrossEntropy
        {
            return Err(fail(
                "data.label",
                format!(
                    "lists {} columns, but train.loss = \"cross_entropy\" predicts one of k classes of one column; for several yes/no columns set train.loss = \"bce\" (one sigmoid each), for several numeric targets train.loss = \"mse\"",
                    names.len()
                ),
            ));
        }
        if !self.head().is_several() {
            return Ok(());
        }
        if d.split.stratify {
            return Err(fail(
                "data.split.stratify",
                "keeps one class column's shares equal; with several label columns the rows are split by a plain shuffle (leave it out)".into(),
            ));
        }
        if self.train.class_weight != ClassWeight::None {
            return Err(fail(
                "train.class_weight",
                "weighs the classes of one label column; with several label columns give rows their weights with data.weight".into(),
            ));
        }
        Ok(())
    }
}
