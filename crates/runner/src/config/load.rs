//! Reading a config: the file (or the built-in seed), then `--set` overrides, then the checks.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, SEED_CONFIG};

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
        if let Some(span) = inner.span() {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            message.push_str(&format!(" (line {line}, column {column})"));
        }
        ConfigError::Invalid {
            origin: origin.to_string(),
            key: e.path().to_string(),
            message,
        }
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
        let (text, origin, base) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
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
        for p in [
            &mut config.data.path,
            &mut config.data.validation_path,
            &mut config.data.test_path,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
        if !overrides.is_empty() {
            let mut table = toml::Table::try_from(&config).expect("a config serializes");
            for arg in overrides {
                let (key, value) = parse_override(arg)?;
                set_path(&mut table, &key, value, arg)?;
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
        for p in [
            &mut config.data.path,
            &mut config.data.validation_path,
            &mut config.data.test_path,
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = abs;
            }
        }
        config.validate(&origin)?;
        Ok(config)
    }

    /// Parses a config from TOML text (no path resolution).
    #[cfg(test)]
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = parse_text(text, "config")?;
        config.validate("config")?;
        Ok(config)
    }

    /// The fully resolved config as TOML, defaults included.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config serializes")
    }

    /// The run's name: the config file's stem, or `seed` for the built-in one.
    pub fn run_name(path: Option<&Path>) -> String {
        path.and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "seed".into())
    }
}
