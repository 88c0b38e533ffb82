//! The config: the TOML schema ([`schema`]) with every key's default ([`defaults`]), reading a
//! file and `--set` overrides ([`load`]), and the checks that involve several keys
//! ([`validate`]).
//!
//! Values are validated while they are deserialized (newtypes with `try_from`), so a bad value is
//! reported by `toml` with the file's line and column, and `serde_path_to_error` names the dotted
//! key. Checks that involve several keys run once, in `validate`. The rest of the program takes
//! a [`Config`] as already valid.

mod classes;
mod defaults;
pub(crate) mod docs;
mod label;
mod load;
pub(crate) mod rules;
mod schema;
mod validate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub(crate) use classes::{ClassWeight, Threshold, ThresholdRule};
pub(crate) use label::LabelColumns;
pub(crate) use load::closest;
pub(crate) use schema::*;

/// The built-in seed configuration, used when `--config` is not given.
pub(crate) const SEED_CONFIG: &str = include_str!("../../../../configs/seed.toml");

/// A config that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TOML syntax error or a bad value, with the line and column for file errors.
    #[error("{origin}: key `{key}`: {message}")]
    Invalid {
        /// The file, or `--set`.
        origin: String,
        /// The dotted key at fault (empty for syntax errors outside any key).
        key: String,
        /// What is wrong, ending with the line and column for file errors.
        message: String,
    },
    /// A `--set` argument that is not `key=value` (as the user gave it).
    #[error("{0}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=3")]
    BadOverride(String),
    /// `strict = true` and some written keys cannot act.
    #[error("{origin}: strict = true and these keys have no effect: {warnings}")]
    Strict {
        /// The file, or `--set`.
        origin: String,
        /// Each key and why.
        warnings: String,
    },
    /// The model crate refused the network or the optimizer for another reason.
    #[error(transparent)]
    Model(burnfit_model::ModelError),
}

/// A number as an error quotes it: in exponent form when very small or very large, where the
/// plain form would print hundreds of zeros.
fn shown(v: f64) -> String {
    if v != 0.0 && v.is_finite() && (v.abs() < 1e-6 || v.abs() >= 1e16) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

macro_rules! checked_f64 {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub(crate) struct $name(pub f64);

        impl TryFrom<f64> for $name {
            type Error = String;
            fn try_from(v: f64) -> Result<Self, String> {
                let check: fn(f64) -> bool = $check;
                if v.is_finite() && check(v) {
                    Ok(Self(v))
                } else {
                    Err(format!(concat!("must be ", $what, ", got {}"), shown(v)))
                }
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }

        /// For command-line flags: the same check as in a config file.
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
                Self::try_from(v)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

checked_f64!(
    /// A finite number > 0 (learning rates, ε).
    Positive, |v| v > 0.0, "a number > 0"
);
checked_f64!(
    /// A number > 0 used in 32-bit training arithmetic (the learning rate, Adam's ε, the
    /// gradient clip): positive and finite as f64 is not enough, since `1e-320` becomes 0 in
    /// f32 (nothing is learned, or Adam divides by zero and the run is blamed on the learning
    /// rate) and `1e39` becomes infinite. Checked as the f32 it becomes.
    Positive32,
    |v| v > 0.0 && (v as f32).is_normal(),
    "a number > 0 that a 32-bit float holds (about 1.2e-38 to 3.4e38)"
);
checked_f64!(
    /// A finite number >= 0 (decays, tolerances).
    NonNegative, |v| v >= 0.0, "a number >= 0"
);
checked_f64!(
    /// A fraction strictly between 0 and 1 (the train share of a split).
    Fraction, |v| v > 0.0 && v < 1.0, "strictly between 0 and 1"
);
checked_f64!(
    /// A number in [0, 1) (momentum, Adam's betas, label noise), also as the f32 it becomes:
    /// `0.9999999999` is 1.0 in f32, and a β of 1 divides Adam's update by zero.
    UnitInterval,
    |v| (0.0..1.0).contains(&v) && (v as f32) < 1.0,
    "in [0, 1), and below 1 as a 32-bit float (at most 0.99999994)"
);
checked_f64!(
    /// A number >= 0 used in 32-bit training arithmetic (weight decay, the floor of a decaying
    /// learning rate): 0, or a normal f32 (`1e39` is infinite in f32, `1e-320` is 0).
    NonNegative32,
    |v| v == 0.0 || (v > 0.0 && (v as f32).is_normal()),
    "0 or a number > 0 that a 32-bit float holds (about 1.2e-38 to 3.4e38)"
);
checked_f64!(
    /// Any finite number (fill constants).
    Finite, |_| true, "finite"
);

impl Config {
    /// What the network predicts: fixed by the loss and the label columns (the generator's,
    /// for synthetic data).
    pub(crate) fn head(&self) -> crate::head::Head {
        let columns = match self.data.source {
            Source::Csv => self.data.label.len(),
            Source::Synthetic => match self.data.synthetic.task {
                Task::Multilabel => self.data.synthetic.labels.get(),
                Task::Binary | Task::Regression | Task::Multiclass => 1,
            },
        };
        crate::head::Head::new(self.train.loss, columns)
    }

    /// The label columns as the loader reads them: `data.label`, or the generator's names.
    pub(crate) fn label_columns(&self) -> Vec<String> {
        match self.data.source {
            Source::Csv => self.data.label.names().to_vec(),
            Source::Synthetic => crate::data::synthetic::label_names(
                &crate::data::synthetic::SyntheticSpec::from_config(
                    &self.data.synthetic,
                    self.seed,
                ),
            ),
        }
    }
}

/// A model-crate setting error in the config's words: the model names its own field (`lr`),
/// the config file knows its section (`train.lr`).
pub(crate) fn setting_error(section: &str, e: burnfit_model::ModelError) -> ConfigError {
    match e {
        burnfit_model::ModelError::InvalidSetting { key, reason } => ConfigError::Invalid {
            origin: "config".into(),
            key: format!("{section}.{key}"),
            message: reason,
        },
        other => ConfigError::Model(other),
    }
}

#[cfg(test)]
mod tests;
