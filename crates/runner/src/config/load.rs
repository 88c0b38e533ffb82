//! Reading a config: the file (or the built-in seed), then `--set` overrides, then the checks.

use std::path::{Path, PathBuf};

use super::rules::{self, Written};
use super::{Config, ConfigError, SEED_CONFIG};

/// The data files a config names, and the folder their parsed tables are cached in.
fn data_paths(config: &mut Config) -> impl Iterator<Item = &mut PathBuf> {
    let d = &mut config.data;
    [
        &mut d.path,
        &mut d.validation_path,
        &mut d.test_path,
        &mut d.cache_dir,
    ]
    .into_iter()
    .flatten()
}

/// Refuses a path the resolved config cannot record: `config.toml` is text, and a path whose
/// bytes are not UTF-8 (a folder named in another encoding) would be written as some other
/// path, or not at all. Relative paths were joined to the config file's folder or the working
/// folder first, so either's name can be the cause, which the message says.
fn check_utf8_paths(config: &Config, origin: &str) -> Result<(), ConfigError> {
    let d = &config.data;
    let paths = [
        ("data.path", d.path.as_ref()),
        ("data.validation_path", d.validation_path.as_ref()),
        ("data.test_path", d.test_path.as_ref()),
        ("data.cache_dir", d.cache_dir.as_ref()),
        ("output.dir", Some(&config.output.dir)),
        ("footprint.rapl_path", Some(&config.footprint.rapl_path)),
    ];
    for (key, path) in paths {
        if let Some(p) = path.filter(|p| p.to_str().is_none()) {
            return Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key: key.to_string(),
                message: format!(
                    "the path {} is not valid UTF-8 (a relative path is taken from the config file's folder, or the working folder); a run records its paths in config.toml, which holds only UTF-8: rename the folder, or give an absolute UTF-8 path",
                    p.display()
                ),
            });
        }
    }
    Ok(())
}

/// The keys written in `text` (already parsed once without error), from `origin`.
fn written_in(text: &str, origin: &str) -> Written {
    let mut written = Written::default();
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        written.add_table(&table, origin);
    }
    written
}

/// `path` taken relative to `base` (the config file's folder) when it is relative.
fn resolve_against(base: &Path, path: &mut PathBuf) {
    // An empty path stays empty, for the check that says so.
    if path.is_relative() && !base.as_os_str().is_empty() && !path.as_os_str().is_empty() {
        *path = base.join(&*path);
    }
}

/// Deserializes `T` from TOML text, naming the dotted key of any error.
pub(super) fn parse_text<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // toml's own Display draws a multi-line snippet; one line reads better in a log and
        // still says where: the message, then the line and column of the span.
        let inner = e.inner();
        let mut message = did_you_mean(inner.message().trim_end());
        if message.contains("too large") {
            // TOML's integers are 64-bit signed, whatever the key's type.
            message.push_str(" (TOML integers go up to 9223372036854775807)");
        }
        let mut key = e.path().to_string();
        if let Some(span) = inner.span() {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            message.push_str(&format!(" (line {line}, column {column})"));
            if key == "." || key.is_empty() {
                // A value toml rejects before serde sees it (an integer beyond i64): the key is
                // the one written on that line, under the last table header before it.
                key = key_at(text, span.start).unwrap_or(key);
            }
        }
        ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            message,
        }
    })
}

/// Names other tools give the keys, for the suggestion when one of them is written.
const ALIASES: &[(&str, &str)] = &[
    ("learning_rate", "lr"),
    ("learningrate", "lr"),
    ("epoch", "epochs"),
    ("n_epochs", "epochs"),
    ("max_epochs", "epochs"),
    ("batch", "batch_size"),
    ("batchsize", "batch_size"),
    ("optimiser", "optimizer"),
    ("layers", "hidden"),
    ("units", "hidden"),
    ("hidden_layers", "hidden"),
    ("target", "label"),
    ("label_column", "label"),
    ("y", "label"),
    ("normalise", "normalize"),
    ("normalization", "normalize"),
    ("scaler", "normalize"),
    ("loss_fn", "loss"),
    ("momentum_sgd", "momentum"),
    ("validation_split", "train"),
];

/// The name in `candidates` closest to `word` (case aside), if one is close enough to be a
/// typo of it: for "did you mean" in config keys, values and `init --label`.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_lowercase()), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// serde's message for an unknown key or value with the closest valid one suggested, as clap
/// and cargo do: `unknown field `epoch`, expected one of …` lists up to twenty names the user
/// has to read through, when the one they meant is usually a typo or another tool's name away.
/// Messages of other kinds come back unchanged.
fn did_you_mean(message: &str) -> String {
    let (written, expected) = match message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
        .and_then(|rest| rest.split_once("`, expected "))
    {
        Some(parts) => parts,
        None => return message.to_string(),
    };
    let valid: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|v| !v.is_empty())
        .collect();
    let lower = written.to_ascii_lowercase();
    let alias = ALIASES
        .iter()
        .find(|(from, to)| *from == lower && valid.contains(to))
        .map(|(_, to)| *to);
    match alias.or_else(|| closest(written, &valid)) {
        Some(best) => {
            let kind = if message.starts_with("unknown field") {
                "field"
            } else {
                "variant"
            };
            let more = if kind == "field" {
                " (`burnfit config --docs` lists every key)"
            } else {
                ""
            };
            format!("unknown {kind} `{written}`; did you mean `{best}`?{more}")
        }
        None => message.to_string(),
    }
}

/// The dotted key assigned on the line holding byte `at` of `text`, under the table header
/// above it.
fn key_at(text: &str, at: usize) -> Option<String> {
    let start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let name = line.split_once('=')?.0.trim();
    let section = text[..start]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|s| s.trim_matches(['[', ']']).trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{name}"),
        None => name.to_string(),
    })
}

/// Splits `a.b.c=value` and parses the value as TOML, falling back to a bare string, so that
/// `--set data.label=Private` works without quotes.
pub(super) fn parse_override(
    arg: &str,
    said: &str,
) -> Result<(Vec<String>, toml::Value), ConfigError> {
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| ConfigError::BadOverride(said.to_string()))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(ConfigError::BadOverride(said.to_string()));
    }
    let raw = raw.trim();
    // A whole number past TOML's integers would otherwise become a string, and the error a
    // confusing "invalid type: string".
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && raw.parse::<i64>().is_err()
    {
        return Err(ConfigError::Invalid {
            origin: said.to_string(),
            key: key.to_string(),
            message: format!(
                "{raw} is beyond the whole numbers a config holds (-9223372036854775808 to 9223372036854775807)"
            ),
        });
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((
        key.split('.').map(|p| p.trim().to_string()).collect(),
        value,
    ))
}

/// The user's `--set` arguments, each called by what they typed.
fn said_as_set(overrides: &[String]) -> Vec<(String, String)> {
    overrides
        .iter()
        .map(|arg| (arg.clone(), format!("--set {arg}")))
        .collect()
}

fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    said: &str,
) -> Result<(), ConfigError> {
    let (last, parents) = path.split_last().expect("non-empty key");
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| ConfigError::Invalid {
            origin: said.to_string(),
            key: p.clone(),
            message: "is not a table".into(),
        })?;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

/// The config's text, what errors call it, and the folder its relative paths are relative to:
/// the file's, or the built-in seed's.
fn read_text(
    path: Option<&Path>,
    users_file: bool,
) -> Result<(String, String, PathBuf), ConfigError> {
    Ok(match path {
        Some(p) => (
            // A run folder's config is burnfit's own file: never read through a link
            // planted in its place. The user's `--config` may be a link they made.
            if users_file {
                crate::files::read_limited(p, crate::files::CONFIG_LIMIT, "config file")
            } else {
                crate::files::read_own(p, crate::files::CONFIG_LIMIT, "config file")
            }
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "it is not UTF-8 text (byte {} of the file)",
                            e.utf8_error().valid_up_to() + 1
                        ),
                    )
                })
            })
            .map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            p.display().to_string(),
            p.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (
            SEED_CONFIG.to_string(),
            "built-in seed config".to_string(),
            PathBuf::new(),
        ),
    })
}

/// Applies `--set` (and burnfit's own) overrides in order, each checked as it is applied so an
/// error names the one at fault; each key is recorded as written by what set it.
fn apply_overrides(
    config: &mut Config,
    overrides: &[(String, String)],
    written: &mut Written,
) -> Result<(), ConfigError> {
    if overrides.is_empty() {
        return Ok(());
    }
    let mut table = toml::Table::try_from(&*config).expect("a config serializes");
    for (arg, said) in overrides {
        let (key, value) = parse_override(arg, said)?;
        set_path(&mut table, &key, value, said)?;
        written.add(&key, said);
        if key == ["data", "path"] && !written.has("data.source") {
            // A file named on the command line is the data, whatever the file (or the
            // seed) said; a source written by the user is still a contradiction.
            let source = ["data".to_string(), "source".to_string()];
            set_path(&mut table, &source, "csv".into(), said)?;
        }
        let origin = said.clone();
        *config =
            serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Invalid {
                    origin: origin.clone(),
                    key: e.path().to_string(),
                    message: did_you_mean(e.inner().to_string().trim_end()),
                }
            })?;
    }
    Ok(())
}

/// Absolute paths, so the resolved config saved in a run folder works from anywhere.
fn make_absolute(config: &mut Config) {
    for p in data_paths(config) {
        if p.as_os_str().is_empty() {
            continue;
        }
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs;
        }
    }
    if let Ok(abs) = std::path::absolute(&config.output.dir) {
        config.output.dir = abs;
    }
}

impl Config {
    /// Reads `path` (or the built-in seed when `None`), applies `--set` overrides, and validates.
    ///
    /// Relative data paths written in the file are taken relative to the file's folder, so a
    /// config keeps working from any working directory; paths given with `--set` are relative to
    /// the working directory, as on any command line.
    pub(crate) fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_as(path, &said_as_set(overrides), true)
    }

    /// [`Config::load`] with overrides that burnfit made itself (cv's `--folds`, a sweep's
    /// trial values), each `(KEY=VALUE, what to call it in an error)`: an error blames what the
    /// user typed (`--folds 5`, `trial 3's train.lr = 0.5`), never a `--set` they did not.
    pub(crate) fn load_with(
        path: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        Self::load_as(path, overrides, true)
    }

    /// Reads a run folder's resolved `config.toml`. Its keys were written by `train`, not by
    /// the user, so none of them is reported as unable to act (a run made before a key's rule
    /// existed still opens); `--set` overrides are checked as usual.
    pub(crate) fn load_resolved(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_as(Some(path), &said_as_set(overrides), false)
    }

    /// Reads the file (or the seed), applies the overrides, resolves every path and checks
    /// the whole; `users_file`: the user wrote it (its keys are reported when they cannot act,
    /// and its defaults chosen), else it is a run folder's own resolved config.
    fn load_as(
        path: Option<&Path>,
        overrides: &[(String, String)],
        users_file: bool,
    ) -> Result<Self, ConfigError> {
        let (text, origin, base) = read_text(path, users_file)?;
        // First pass on the text itself, so file errors carry line and column.
        let mut config: Config = parse_text(&text, &origin)?;
        // The built-in seed's keys are not the user's: a user who points it at a CSV with
        // `--set data.path=…` hears nothing about the seed's own synthetic settings.
        let mut written = if users_file && path.is_some() {
            written_in(&text, &origin)
        } else {
            Written::default()
        };
        // Every relative path written in the file is relative to the file's folder.
        if users_file && written.has("output.dir") {
            resolve_against(&base, &mut config.output.dir);
        }
        for p in data_paths(&mut config) {
            resolve_against(&base, p);
        }
        check_utf8_paths(&config, &origin)?;
        apply_overrides(&mut config, overrides, &mut written)?;
        make_absolute(&mut config);
        // Again: made absolute, a path takes on the working folder's name.
        check_utf8_paths(&config, &origin)?;
        config.settle(&origin, &written, Some(&text))?;
        if users_file {
            config.choose_defaults(&written);
        }
        Ok(config)
    }

    /// Fills in the defaults that depend on other keys, for a config the user wrote (a run
    /// folder's resolved config already holds its choices, which a later version's defaults
    /// must not change): a class label's shuffled split is stratified unless the user said.
    /// Called after the warnings, which speak only of what the user wrote.
    fn choose_defaults(&mut self, written: &Written) {
        let head = self.head();
        let d = &mut self.data;
        if !written.has("data.split.stratify") {
            d.split.stratify = head != crate::head::Head::Regression
                && !head.is_several()
                && d.split.shuffle
                && d.validation_path.is_none();
        }
    }

    /// Parses a config from TOML text (no path resolution).
    #[cfg(test)]
    pub(crate) fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Config = parse_text(text, "config")?;
        let written = written_in(text, "config");
        config.settle("config", &written, Some(text))?;
        config.choose_defaults(&written);
        Ok(config)
    }

    /// The deprecated `train.early_stopping.max_time` moved to `train.max_time`, the checks
    /// across keys, then the report of every written key that cannot act (an error when
    /// `strict = true`).
    fn settle(
        &mut self,
        origin: &str,
        written: &Written,
        text: Option<&str>,
    ) -> Result<(), ConfigError> {
        let mut warnings = Vec::new();
        if written.has("data.path") && !written.has("data.source") {
            // `data.path` alone means a file source.
            self.data.source = super::Source::Csv;
        }
        let s = &mut self.data.synthetic;
        if s.informative > s.features && !written.has("data.synthetic.informative") {
            // A default, not the user's: fewer features than it means every feature informs,
            // as `burnfit synth --features 5` does.
            s.informative = s.features;
        }
        if let Some(es) = self.train.early_stopping.as_mut() {
            if let Some(limit) = es.max_time.take() {
                if written.has("train.max_time") {
                    return Err(ConfigError::Invalid {
                        origin: written
                            .place("train.early_stopping.max_time", text)
                            .unwrap_or_else(|| origin.to_string()),
                        key: "train.early_stopping.max_time".into(),
                        message: "is the old name of train.max_time, which is also set; keep train.max_time alone".into(),
                    });
                }
                self.train.max_time = Some(limit);
                // Only the user's own file hears of it; a run folder's is read as it is.
                if written.has("train.early_stopping.max_time") {
                    warnings.push("train.early_stopping.max_time: moved to train.max_time (it works without early stopping too); read as train.max_time".to_string());
                }
            }
        }
        self.validate(origin, written, text)?;
        for (key, why) in rules::inert(self) {
            if written.has(key) && !rules::is_other_source(self, key, written) {
                warnings.push(format!("{key}: has no effect: {why}"));
            }
        }
        if self.strict && !warnings.is_empty() {
            return Err(ConfigError::Strict {
                origin: origin.to_string(),
                warnings: warnings.join("; "),
            });
        }
        self.warnings = warnings;
        Ok(())
    }

    /// The resolved config as TOML: every key that acts, with its value or default; the keys
    /// that cannot act in this config are left out (`rules::inert`).
    pub(crate) fn to_toml(&self) -> String {
        let mut table = toml::Table::try_from(self).expect("a config serializes");
        for (key, _) in rules::inert(self) {
            rules::remove(&mut table, key);
        }
        // A run trains one config; the sweep that made it is the sweep folder's.
        table.remove("sweep");
        toml::to_string_pretty(&table).expect("a config serializes")
    }

    /// What `burnfit config` prints: [`Config::to_toml`] with the values that defaults derive
    /// from other keys written out too (the learning rate, which depends on the optimizer), so
    /// the user sees every number that acts. Not what a run folder keeps: there an unset rate
    /// stays unset, so a sweep over optimizers still gives each its own default.
    pub(crate) fn to_toml_shown(&self) -> String {
        let mut table: toml::Table =
            toml::from_str(&self.to_toml()).expect("a config's own TOML parses");
        if let Some(toml::Value::Table(train)) = table.get_mut("train") {
            if !train.contains_key("lr") {
                train.insert(
                    "lr".into(),
                    toml::Value::Float(self.train.optimizer_settings().lr()),
                );
            }
        }
        toml::to_string_pretty(&table).expect("a config serializes")
    }

    /// The run's name: the config file's stem, or `seed` for the built-in one.
    pub(crate) fn run_name(path: Option<&Path>) -> String {
        path.and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "seed".into())
    }
}
