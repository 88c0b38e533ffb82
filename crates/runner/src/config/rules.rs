//! One meaning for every key: a key either acts in the run or is reported. Written in a
//! context where it cannot act, a key is a warning at start (all of them in one block, each
//! with why), recorded in `summary.json`, or an error when `strict = true`; a key that
//! contradicts another is an error before anything is loaded. The resolved config
//! (`burnfit config`, a run's `config.toml`) leaves the inert keys out, so what it prints is
//! what runs.

use std::collections::BTreeMap;

use burnfit_model::Loss;

use super::{Config, LrSchedule, Missing, Optimizer, Source, Task};

/// The keys written in a config file's text and in `--set` overrides, dotted (`train.lr`),
/// each with where it was written (the file, or `--set KEY=VALUE`), so an error about a key
/// names the place the user wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Written(BTreeMap<String, (String, bool)>);

/// Every leaf of a TOML table under its dotted key (`train.lr`), in the table's order. An empty
/// table is a leaf (a section written with nothing in it). The one walk over a config's keys,
/// for where each was written and for the report's comparison of configs.
pub(crate) fn leaves(table: &toml::Table) -> Vec<(String, &toml::Value)> {
    fn walk<'t>(prefix: &str, t: &'t toml::Table, out: &mut Vec<(String, &'t toml::Value)>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) if !inner.is_empty() => walk(&key, inner, out),
                _ => out.push((key, v)),
            }
        }
    }
    let mut out = Vec::new();
    walk("", table, &mut out);
    out
}

impl Written {
    /// Every leaf key of `table` ([`leaves`]), written in `origin`.
    pub(crate) fn add_table(&mut self, table: &toml::Table, origin: &str) {
        for (key, _) in leaves(table) {
            self.0.insert(key, (origin.to_string(), false));
        }
    }

    /// Every key written, with where.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// A key given on the command line, `said` as the user gave it (`--set ARG`, `--folds 5`).
    pub(crate) fn add(&mut self, key: &[String], said: &str) {
        self.0.insert(key.join("."), (said.to_string(), true));
    }

    /// Whether `key`, or any key under it (`data.synthetic` covers `data.synthetic.rows`), was
    /// written.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.origin(key).is_some()
    }

    /// Where `key` was written, for an error message: the file with the line and column of the
    /// key (found in `text`, the file's contents), or the `--set`.
    pub(crate) fn place(&self, key: &str, text: Option<&str>) -> Option<String> {
        let origin = self.origin(key)?;
        if self.on_command_line(key) {
            return Some(origin.to_string());
        }
        match text.and_then(|t| locate(t, key)) {
            Some((line, column)) => Some(format!("{origin} (line {line}, column {column})")),
            None => Some(origin.to_string()),
        }
    }

    /// Whether `key` (or a key under it) was last given on the command line (`--set`, or a
    /// key cv or sweep set for the user's flag) rather than in the file.
    pub(crate) fn on_command_line(&self, key: &str) -> bool {
        self.entry(key)
            .is_some_and(|(_, command_line)| *command_line)
    }

    /// Where `key` (or a key under it) was last written.
    pub(crate) fn origin(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|(o, _)| o.as_str())
    }

    fn entry(&self, key: &str) -> Option<&(String, bool)> {
        let under = format!("{key}.");
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key || k.starts_with(&under))
            .map(|(_, o)| o)
    }
}

/// The line and column (1-based) where `key` (dotted) is assigned in TOML `text`, or where its
/// table starts: `name = ...` under the `[section]` that holds it.
pub(crate) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(header) = trimmed.strip_prefix('[') {
            section = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if section == key {
                return Some((i + 1, indent + 1));
            }
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        let full = if section.is_empty() {
            name.to_string()
        } else {
            format!("{section}.{name}")
        };
        if full == key || full.starts_with(&format!("{key}.")) {
            return Some((i + 1, indent + 1));
        }
    }
    None
}

/// The keys of `[data]` that only a CSV source reads.
const CSV_KEYS: [&str; 8] = [
    "data.path",
    "data.label",
    "data.positive",
    "data.features",
    "data.exclude",
    "data.categorical",
    "data.max_levels",
    "data.weight",
];

/// Every key that cannot act in `c`, with why. A key listed here is left out of the resolved
/// config; written by the user, it is a warning (or, for another source's keys, an error).
// Long because flat: one short rule per setting that leaves other keys without effect.
pub(crate) fn inert(c: &Config) -> Vec<(&'static str, String)> {
    let (d, t) = (&c.data, &c.train);
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut add = |key: &'static str, why: String| out.push((key, why));
    match d.source {
        Source::Synthetic => {
            for key in CSV_KEYS {
                add(
                    key,
                    "data.source is \"synthetic\": the generator makes its own columns and label"
                        .into(),
                );
            }
        }
        Source::Csv => add("data.synthetic", "data.source is \"csv\"".into()),
    }
    // The cache acts wherever a file is read: the data file, or a validation or test file
    // beside the generator's rows.
    if d.source == Source::Synthetic && d.validation_path.is_none() && d.test_path.is_none() {
        for key in ["data.cache", "data.cache_dir"] {
            add(
                key,
                "no file is read: data.source is \"synthetic\" and no validation or test file is given".into(),
            );
        }
    } else if !d.cache {
        add("data.cache_dir", "data.cache is false".into());
    }
    if d.synthetic.task != Task::Multiclass {
        add(
            "data.synthetic.classes",
            "data.synthetic.task is not \"multiclass\"".into(),
        );
    }
    if d.synthetic.task != Task::Multilabel {
        add(
            "data.synthetic.labels",
            "data.synthetic.task is not \"multilabel\"".into(),
        );
    }
    if d.split.folds.is_some() && d.validation_path.is_none() {
        add(
            "data.split.train",
            "data.split.folds is set: each fold validates in turn, the others train".into(),
        );
    }
    if t.loss == Loss::Mse {
        for key in ["train.class_weight", "train.threshold", "train.calibrate"] {
            add(
                key,
                "train.loss is \"mse\": a regression has no classes".into(),
            );
        }
    }
    if t.loss != Loss::CrossEntropy {
        add(
            "train.label_smoothing",
            "it smooths a softmax's one-hot targets (train.loss = \"cross_entropy\")".into(),
        );
    }
    if t.loss == Loss::CrossEntropy {
        add(
            "train.threshold",
            "train.loss is \"cross_entropy\": the class of the largest probability is predicted"
                .into(),
        );
        add(
            "data.positive",
            "train.loss is \"cross_entropy\": every class has an output of its own, none is \"positive\"".into(),
        );
    }
    if d.label.is_several() && d.source == Source::Csv && t.loss == Loss::Bce {
        add(
            "data.positive",
            "data.label lists several columns, each read as 0/1 or true/false".into(),
        );
    }
    if t.loss == Loss::Mse && d.source == Source::Csv {
        add(
            "data.positive",
            "train.loss is \"mse\": the label is a number, not a class".into(),
        );
    }
    if d.missing != Missing::Constant {
        add(
            "data.fill_value",
            format!("data.missing is {:?}, not \"constant\"", d.missing).to_lowercase(),
        );
    }
    if d.validation_path.is_some() {
        add(
            "data.split",
            "data.validation_path is set: every row of data.path trains".into(),
        );
    } else if d.split.stratify {
        add(
            "data.split.shuffle",
            "data.split.stratify shuffles the rows itself".into(),
        );
    }
    if t.lr_schedule != LrSchedule::Step {
        for key in ["train.lr_step_every", "train.lr_gamma"] {
            add(key, "train.lr_schedule is not \"step\"".into());
        }
    }
    if t.lr_schedule != LrSchedule::Cosine {
        add("train.lr_min", "train.lr_schedule is not \"cosine\"".into());
    }
    match t.optimizer {
        Optimizer::Adam => add(
            "train.momentum",
            "train.optimizer is \"adam\" (momentum is SGD's)".into(),
        ),
        Optimizer::Sgd => {
            for key in ["train.beta1", "train.beta2", "train.epsilon"] {
                add(key, "train.optimizer is \"sgd\" (this is Adam's)".into());
            }
        }
    }
    if c.backend.kind.is_cpu() {
        add(
            "backend.device",
            format!(
                "backend.kind = \"{}\" has one device, the CPU",
                c.backend.kind
            ),
        );
    }
    out
}

/// Whether `key` belongs to the other data source and contradicts `data.source`: written for
/// it in the same file, with `--set`, or with no source named. A source switched by
/// `--set data.source=...` over a file leaves that file's other-source keys inert, which is a
/// warning.
pub(crate) fn is_other_source(c: &Config, key: &str, written: &Written) -> bool {
    let other = match c.data.source {
        Source::Synthetic => CSV_KEYS.contains(&key),
        Source::Csv => key == "data.synthetic",
    };
    // The one case that is a leftover: the source switched by `--set` over a file that set
    // this key. Anything else written for the other source is meant, and contradicts.
    let from_set = |k: &str| written.on_command_line(k);
    other && (from_set(key) || !from_set("data.source"))
}

/// Removes `key` (dotted) from `table`, and the tables it leaves empty.
pub(crate) fn remove(table: &mut toml::Table, key: &str) {
    match key.split_once('.') {
        None => {
            table.remove(key);
        }
        Some((head, rest)) => {
            if let Some(toml::Value::Table(t)) = table.get_mut(head) {
                remove(t, rest);
            }
        }
    }
}
