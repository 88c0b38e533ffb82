//! The TOML schema: every key, its default, and its check, in one place.
//!
//! Values are validated while they are deserialized (newtypes with `try_from`), so a bad value is
//! reported by `toml` with the file's line and column, and `serde_path_to_error` names the dotted
//! key. Checks that involve several keys run once in [`Config::validate`]. The rest of the program
//! takes a [`Config`] as already valid.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use burnfit_model::{
    Activation, AdamSettings, Init, Loss, MlpConfig, OptimizerSettings, SgdSettings,
};
use serde::{Deserialize, Serialize};

/// The built-in seed configuration, used when `--config` is not given.
pub const SEED_CONFIG: &str = include_str!("../../../configs/seed.toml");

/// A config that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
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
    /// A `--set` argument that is not `key=value`.
    #[error("--set {0}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=3")]
    BadOverride(String),
}

macro_rules! checked_f64 {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(pub f64);

        impl TryFrom<f64> for $name {
            type Error = String;
            fn try_from(v: f64) -> Result<Self, String> {
                let check: fn(f64) -> bool = $check;
                if v.is_finite() && check(v) {
                    Ok(Self(v))
                } else {
                    Err(format!(concat!("must be ", $what, ", got {}"), v))
                }
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }
    };
}

checked_f64!(
    /// A finite number > 0 (learning rates, ε).
    Positive, |v| v > 0.0, "a number > 0"
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
    /// A number in [0, 1) (momentum, Adam's betas, label noise).
    UnitInterval, |v| (0.0..1.0).contains(&v), "in [0, 1)"
);
checked_f64!(
    /// Any finite number (fill constants).
    Finite, |_| true, "finite"
);

/// The whole run: data, model, training, backend and output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seeds everything: weight init, shuffles, synthetic data (unless it has its own).
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Where the rows come from and how they are prepared.
    #[serde(default)]
    pub data: DataConfig,
    /// The network's shape.
    #[serde(default)]
    pub model: ModelConfig,
    /// The loss, optimizer and loop.
    #[serde(default)]
    pub train: TrainConfig,
    /// Which hardware runs it.
    #[serde(default)]
    pub backend: BackendConfig,
    /// Where the run folder goes.
    #[serde(default)]
    pub output: OutputConfig,
    /// How the run's energy, carbon and cost are reckoned.
    #[serde(default)]
    pub footprint: FootprintConfig,
}

mod defaults {
    use std::num::NonZeroUsize;

    pub fn seed() -> u64 {
        42
    }
    pub fn label() -> String {
        "label".into()
    }
    pub fn epochs() -> NonZeroUsize {
        NonZeroUsize::new(10).unwrap()
    }
    pub fn batch_size() -> NonZeroUsize {
        NonZeroUsize::new(32).unwrap()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn rows() -> NonZeroUsize {
        NonZeroUsize::new(100_000).unwrap()
    }
    pub fn features() -> NonZeroUsize {
        NonZeroUsize::new(100).unwrap()
    }
    pub fn informative() -> NonZeroUsize {
        NonZeroUsize::new(10).unwrap()
    }
}

/// Where the data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A CSV file with a header row (`data.path`).
    Csv,
    /// The built-in generator (`[data.synthetic]`).
    #[default]
    Synthetic,
}

/// What to do with empty cells, `NA` and `NaN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Drop every row with a missing value (the seed's `dropna()`).
    #[default]
    Drop,
    /// Fill numeric cells with the training split's column mean; categorical ones become all-zero.
    Mean,
    /// Fill numeric cells with `data.fill_value`.
    Constant,
}

/// Per-column scaling, fit on the training split only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Leave values as they are.
    None,
    /// `x / ‖x‖₂` per column (the seed's).
    #[default]
    L2,
    /// `(x − mean) / std` per column.
    Zscore,
    /// `(x − min) / (max − min)` per column.
    Minmax,
}

/// The synthetic task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes, in the spirit of scikit-learn's `make_classification`.
    #[default]
    Binary,
    /// A linear target plus Gaussian noise.
    Regression,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `"csv"` or `"synthetic"`.
    #[serde(default)]
    pub source: Source,
    /// The CSV file (relative paths are relative to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The label column's name.
    #[serde(default = "defaults::label")]
    pub label: String,
    /// The label value that means class 1, for string labels (e.g. `"Yes"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
    /// Use only these feature columns (default: every column but the label and `exclude`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Columns to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Text columns to one-hot encode.
    #[serde(default)]
    pub categorical: Vec<String>,
    /// Missing-value rule.
    #[serde(default)]
    pub missing: Missing,
    /// The constant for `missing = "constant"`.
    #[serde(default = "DataConfig::default_fill")]
    pub fill_value: Finite,
    /// Per-column scaling.
    #[serde(default)]
    pub normalize: Normalize,
    /// A separate validation CSV; when given, every row of `path` trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_path: Option<PathBuf>,
    /// A separate test CSV for the final evaluation (default: the validation rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_path: Option<PathBuf>,
    /// How rows are split into train and validation.
    #[serde(default)]
    pub split: SplitConfig,
    /// The built-in generator's settings.
    #[serde(default)]
    pub synthetic: SyntheticConfig,
}

impl DataConfig {
    fn default_fill() -> Finite {
        Finite(0.0)
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `[data.split]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// The share of rows that trains.
    #[serde(default = "SplitConfig::default_train")]
    pub train: Fraction,
    /// Shuffle rows (with the run seed) before splitting; otherwise the first rows train.
    #[serde(default)]
    pub shuffle: bool,
    /// Keep the class ratio equal in both parts (binary labels; implies a shuffle).
    #[serde(default)]
    pub stratify: bool,
}

impl SplitConfig {
    fn default_train() -> Fraction {
        Fraction(0.8)
    }
}

impl Default for SplitConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `[data.synthetic]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Binary classification or regression.
    #[serde(default)]
    pub task: Task,
    /// Number of rows.
    #[serde(default = "defaults::rows")]
    pub rows: NonZeroUsize,
    /// Number of feature columns.
    #[serde(default = "defaults::features")]
    pub features: NonZeroUsize,
    /// How many of them carry signal (the first ones).
    #[serde(default = "defaults::informative")]
    pub informative: NonZeroUsize,
    /// Distance between class clusters (larger is easier).
    #[serde(default = "SyntheticConfig::default_sep")]
    pub class_sep: Positive,
    /// Share of labels replaced by a coin flip.
    #[serde(default = "SyntheticConfig::default_noise")]
    pub label_noise: UnitInterval,
    /// The generator's seed (default: the run's `seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl SyntheticConfig {
    fn default_sep() -> Positive {
        Positive(1.0)
    }
    fn default_noise() -> UnitInterval {
        UnitInterval(0.01)
    }
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden layer widths.
    #[serde(default = "ModelConfig::default_hidden")]
    pub hidden: Vec<NonZeroUsize>,
    /// Hidden activation.
    #[serde(default)]
    pub activation: Activation,
    /// Weight initialisation.
    #[serde(default)]
    pub init: Init,
}

impl Default for ModelConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl ModelConfig {
    fn default_hidden() -> Vec<NonZeroUsize> {
        MlpConfig::default_hidden()
            .into_iter()
            .filter_map(NonZeroUsize::new)
            .collect()
    }

    /// The network for `input` features.
    pub fn mlp(&self, input: usize) -> MlpConfig {
        MlpConfig {
            input,
            hidden: self.hidden.iter().map(|w| w.get()).collect(),
            output: 1,
            activation: self.activation,
            init: self.init,
        }
    }
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam.
    #[default]
    Adam,
    /// (Stochastic) gradient descent.
    Sgd,
}

/// How the learning rate changes over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// `lr · gamma^(epoch / step_every)`.
    Step,
    /// Cosine from `lr` down to `lr_min` over all steps.
    Cosine,
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `"bce"` (binary classification, sigmoid output) or `"mse"` (regression, linear output).
    #[serde(default = "TrainConfig::default_loss")]
    pub loss: Loss,
    /// Passes over the training split.
    #[serde(default = "defaults::epochs")]
    pub epochs: NonZeroUsize,
    /// Rows per step.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: NonZeroUsize,
    /// Reshuffle the training rows every epoch (from the run seed).
    #[serde(default = "defaults::yes")]
    pub shuffle: bool,
    /// `"adam"` or `"sgd"`.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Learning rate (default: Keras's, 1e-3 for Adam and 1e-2 for SGD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<Positive>,
    /// SGD momentum.
    #[serde(default = "TrainConfig::zero")]
    pub momentum: UnitInterval,
    /// Adam β1.
    #[serde(default = "TrainConfig::default_beta1")]
    pub beta1: UnitInterval,
    /// Adam β2.
    #[serde(default = "TrainConfig::default_beta2")]
    pub beta2: UnitInterval,
    /// Adam ε (Keras's 1e-7).
    #[serde(default = "TrainConfig::default_epsilon")]
    pub epsilon: Positive,
    /// L2 penalty.
    #[serde(default = "TrainConfig::zero_nn")]
    pub weight_decay: NonNegative,
    /// Clip each parameter's gradient norm to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<Positive>,
    /// Learning-rate schedule.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// For `step`: epochs between decays.
    #[serde(default = "TrainConfig::one")]
    pub lr_step_every: NonZeroUsize,
    /// For `step`: the decay factor.
    #[serde(default = "TrainConfig::default_gamma")]
    pub lr_gamma: Positive,
    /// For `cosine`: the final learning rate.
    #[serde(default = "TrainConfig::zero_nn")]
    pub lr_min: NonNegative,
    /// Stop early when the monitored metric stops improving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
}

impl TrainConfig {
    fn default_loss() -> Loss {
        Loss::Bce
    }
    fn zero() -> UnitInterval {
        UnitInterval(0.0)
    }
    fn zero_nn() -> NonNegative {
        NonNegative(0.0)
    }
    fn one() -> NonZeroUsize {
        NonZeroUsize::MIN
    }
    fn default_beta1() -> UnitInterval {
        UnitInterval(0.9)
    }
    fn default_beta2() -> UnitInterval {
        UnitInterval(0.999)
    }
    fn default_epsilon() -> Positive {
        Positive(1e-7)
    }
    fn default_gamma() -> Positive {
        Positive(0.1)
    }

    /// The optimizer settings for the model crate.
    pub fn optimizer_settings(&self) -> OptimizerSettings {
        match self.optimizer {
            Optimizer::Adam => OptimizerSettings::Adam(AdamSettings {
                lr: self.lr.map_or(AdamSettings::keras().lr, |v| v.0),
                beta1: self.beta1.0,
                beta2: self.beta2.0,
                epsilon: self.epsilon.0,
                weight_decay: self.weight_decay.0,
            }),
            Optimizer::Sgd => OptimizerSettings::Sgd(SgdSettings {
                lr: self.lr.map_or(SgdSettings::keras().lr, |v| v.0),
                momentum: self.momentum.0,
                weight_decay: self.weight_decay.0,
            }),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `[train.early_stopping]`: present means enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// The metric to watch, as named in `history.csv` (`val_loss`, `val_accuracy`, ...).
    #[serde(default = "EarlyStopping::default_monitor")]
    pub monitor: String,
    /// Epochs without improvement before stopping.
    #[serde(default = "EarlyStopping::default_patience")]
    pub patience: usize,
    /// The smallest change that counts as an improvement.
    #[serde(default = "TrainConfig::zero_nn")]
    pub min_delta: NonNegative,
    /// Put back the best epoch's weights at the end.
    #[serde(default = "defaults::yes")]
    pub restore_best: bool,
    /// A time budget in seconds for the whole training loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time: Option<Positive>,
}

impl EarlyStopping {
    fn default_monitor() -> String {
        "val_loss".into()
    }
    fn default_patience() -> usize {
        3
    }
}

/// Which backend runs the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A real GPU through wgpu if one is found, else flex.
    Auto,
    /// Burn's pure-Rust CPU backend.
    #[default]
    Flex,
    /// The ndarray CPU backend (deprecated in Burn 0.22, kept working).
    Ndarray,
    /// wgpu: Vulkan, Metal or DX12.
    Wgpu,
    /// wgpu pinned to Vulkan (cargo feature `vulkan`).
    Vulkan,
    /// CUDA (cargo feature `cuda`).
    Cuda,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            BackendKind::Auto => "auto",
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Vulkan => "vulkan",
            BackendKind::Cuda => "cuda",
        };
        f.write_str(s)
    }
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// The backend.
    #[serde(default)]
    pub kind: BackendKind,
    /// For wgpu: `default`, `discrete:N`, `integrated:N`, `virtual:N` or `cpu`; for cuda: `N`.
    #[serde(default = "BackendConfig::default_device")]
    pub device: String,
    /// Flush subnormal floats to zero on every CPU thread that computes (FTZ and DAZ on x86,
    /// FZ on aarch64), as TensorFlow does by default: on Intel cores an operation on a
    /// subnormal costs tens of times a normal one. `false` keeps strict IEEE arithmetic.
    #[serde(default = "defaults::yes")]
    pub flush_denormals: bool,
}

impl BackendConfig {
    fn default_device() -> String {
        "default".into()
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The folder under which each run gets `<config name>-<timestamp>/`.
    #[serde(default = "OutputConfig::default_dir")]
    pub dir: PathBuf,
}

impl OutputConfig {
    fn default_dir() -> PathBuf {
        PathBuf::from("runs")
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `[footprint]`: the factors that turn a run's energy into carbon and money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FootprintConfig {
    /// Grid carbon intensity in gCO2e per kWh (default: the world average, 475).
    #[serde(default = "FootprintConfig::default_grid")]
    pub grid_gco2_per_kwh: NonNegative,
    /// Power usage effectiveness of the data centre (1.0: a machine on a desk).
    #[serde(default = "FootprintConfig::default_pue")]
    pub pue: Positive,
    /// Electricity price per kWh, in `currency`.
    #[serde(default = "FootprintConfig::default_price")]
    pub price_per_kwh: NonNegative,
    /// The currency of `price_per_kwh`.
    #[serde(default = "FootprintConfig::default_currency")]
    pub currency: String,
    /// The CPU's thermal design power in watts, for the estimate when RAPL is not readable
    /// (default: CodeCarbon's 85 W for an unknown CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_tdp_watts: Option<Positive>,
    /// Where the RAPL counters live.
    #[serde(default = "FootprintConfig::default_rapl")]
    pub rapl_path: PathBuf,
}

impl FootprintConfig {
    fn default_grid() -> NonNegative {
        NonNegative(475.0)
    }
    fn default_pue() -> Positive {
        Positive(1.0)
    }
    fn default_price() -> NonNegative {
        NonNegative(0.15)
    }
    fn default_currency() -> String {
        "USD".into()
    }
    fn default_rapl() -> PathBuf {
        PathBuf::from("/sys/class/powercap")
    }
}

impl Default for FootprintConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// Deserializes `T` from TOML text, naming the dotted key of any error.
fn parse_text<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
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
fn parse_override(arg: &str) -> Result<(Vec<String>, toml::Value), ConfigError> {
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

    /// Checks that involve several keys.
    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
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

    /// The run's name: the config file's stem, or `seed` for the built-in one.
    pub fn run_name(path: Option<&Path>) -> String {
        path.and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "seed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_seed_config_is_the_keras_seed() {
        let c = Config::from_toml(SEED_CONFIG).unwrap();
        assert_eq!(c.data.source, Source::Synthetic);
        assert_eq!(
            (c.data.synthetic.rows.get(), c.data.synthetic.features.get()),
            (100_000, 100)
        );
        assert_eq!(
            (c.data.missing, c.data.normalize),
            (Missing::Drop, Normalize::L2)
        );
        assert_eq!((c.data.split.train.0, c.data.split.shuffle), (0.8, false));
        assert_eq!(c.model.mlp(100).num_params(), 21_249);
        assert_eq!(c.model.init, Init::GlorotUniform);
        assert_eq!((c.train.epochs.get(), c.train.batch_size.get()), (10, 32));
        assert_eq!(
            c.train.optimizer_settings(),
            OptimizerSettings::Adam(AdamSettings::keras())
        );
    }

    #[test]
    fn empty_text_gives_every_default_and_round_trips() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn errors_name_key_line_and_column() {
        let err = Config::from_toml("[train]\nepochs = 2\nlr = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key `train.lr`") && err.contains("line 3, column 6"),
            "{err}"
        );
        let err = Config::from_toml("[model]\nhidden = [128, 0]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.hidden") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::from_toml("[train.early_stopping]\nmonitor = \"val_acc\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.early_stopping.monitor") && err.contains("val_accuracy"),
            "{err}"
        );
        let err = Config::from_toml("[data]\nsource = \"csv\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.path"), "{err}");
    }

    #[test]
    fn overrides_parse_values_as_toml_or_strings() {
        let (k, v) = parse_override("train.epochs=3").unwrap();
        assert_eq!(
            (k, v),
            (
                vec!["train".to_string(), "epochs".to_string()],
                toml::Value::Integer(3)
            )
        );
        assert_eq!(
            parse_override("data.label=Private").unwrap().1,
            toml::Value::String("Private".into())
        );
        assert!(parse_override("train.epochs").is_err());
        assert!(parse_override("train..epochs=3").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(2000)))]
        /// Arbitrary text never panics the config parser: it is a config or an error.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Config::from_toml(&text);
        }

        /// TOML-shaped input with our keys and random values never panics either.
        #[test]
        fn arbitrary_values_for_known_keys_never_panic(
            section in prop::sample::select(vec!["train", "data", "data.split", "data.synthetic", "model", "backend", "output", "train.early_stopping"]),
            key in prop::sample::select(vec!["epochs", "lr", "batch_size", "train", "rows", "hidden", "kind", "dir", "patience", "label", "missing", "informative", "features"]),
            value in prop::sample::select(vec!["0", "-1", "1e400", "nan", "inf", "\"x\"", "[]", "[0]", "true", "1.5", "18446744073709551615", "{}", "\"\""]),
        ) {
            let _ = Config::from_toml(&format!("[{section}]\n{key} = {value}\n"));
        }
    }
}
