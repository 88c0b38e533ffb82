//! Reading a config: the file (or the built-in seed), then `--set` overrides, then the checks.

use std::path::{Path, PathBuf};

use super::rules::{self, Written};
use super::{Config, ConfigError, SEED_CONFIG};

/// The data files a config names.
fn data_paths(config: &mut Config) -> impl Iterator<Item = &mut PathBuf> {
    let d = &mut config.data;
    [&mut d.path, &mut d.validation_path, &mut d.test_path]
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
        written.add_table(&table, "", origin);
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
        let mut message = inner.message().trim_end().to_string();
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
pub(super) fn parse_override(arg: &str) -> Result<(Vec<String>, toml::Value), ConfigError> {
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| ConfigError::BadOverride(arg.to_string()))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(ConfigError::BadOverride(arg.to_string()));
    }
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((
        key.split('.').map(|p| p.trim().to_string()).collect(),
        value,
    ))
}

fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    arg: &str,
) -> Result<(), ConfigError> {
    let (last, parents) = path.split_last().expect("non-empty key");
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| ConfigError::Invalid {
            origin: format!("--set {arg}"),
            key: p.clone(),
            message: "is not a table".into(),
        })?;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

impl Config {
    /// Reads `path` (or the built-in seed when `None`), applies `--set` overrides, and validates.
    ///
    /// Relative data paths written in the file are taken relative to the file's folder, so a
    /// config keeps working from any working directory; paths given with `--set` are relative to
    /// the working directory, as on any command line.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_as(path, overrides, true)
    }

    /// Reads a run folder's resolved `config.toml`. Its keys were written by `train`, not by
    /// the user, so none of them is reported as unable to act (a run made before a key's rule
    /// existed still opens); `--set` overrides are checked as usual.
    pub fn load_resolved(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_as(Some(path), overrides, false)
    }

    fn load_as(
        path: Option<&Path>,
        overrides: &[String],
        users_file: bool,
    ) -> Result<Self, ConfigError> {
        let (text, origin, base) = match path {
            Some(p) => (
                crate::files::read_limited(p, crate::files::CONFIG_LIMIT, "config file")
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "stream did not contain valid UTF-8",
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
        };
        // First pass on the text itself, so file errors carry line and column.
        let mut config: Config = parse_text(&text, &origin)?;
        let mut written = if users_file {
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
        if !overrides.is_empty() {
            let mut table = toml::Table::try_from(&config).expect("a config serializes");
            for arg in overrides {
                let (key, value) = parse_override(arg)?;
                set_path(&mut table, &key, value, arg)?;
                written.add(&key, arg);
                let origin = format!("--set {arg}");
                config = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
                    .map_err(|e| ConfigError::Invalid {
                        origin: origin.clone(),
                        key: e.path().to_string(),
                        message: e.inner().to_string().trim_end().to_string(),
                    })?;
            }
        }
        // Absolute paths, so the resolved config saved in a run folder works from anywhere.
        for p in data_paths(&mut config) {
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
        // Again: made absolute, a path takes on the working folder's name.
        check_utf8_paths(&config, &origin)?;
        config.settle(&origin, &written, Some(&text))?;
        Ok(config)
    }

    /// Parses a config from TOML text (no path resolution).
    #[cfg(test)]
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Config = parse_text(text, "config")?;
        config.settle("config", &written_in(text, "config"), Some(text))?;
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
    pub fn to_toml(&self) -> String {
        let mut table = toml::Table::try_from(self).expect("a config serializes");
        for (key, _) in rules::inert(self) {
            rules::remove(&mut table, key);
        }
        // A run trains one config; the sweep that made it is the sweep folder's.
        table.remove("sweep");
        toml::to_string_pretty(&table).expect("a config serializes")
    }

    /// The run's name: the config file's stem, or `seed` for the built-in one.
    pub fn run_name(path: Option<&Path>) -> String {
        path.and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "seed".into())
    }
}
