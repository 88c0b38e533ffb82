//! The sections of the config: every key and its meaning (the defaults are in
//! [`super::defaults`]).

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use burnfit_model::{
    Activation, AdamSettings, Init, Loss, MlpConfig, OptimizerSettings, SgdSettings,
};
use serde::{Deserialize, Serialize};

use super::{
    ClassWeight, Finite, Fraction, LabelColumns, NonNegative, NonNegative32, Positive, Positive32,
    Threshold, UnitInterval,
};

/// The whole run: data, model, training, backend and output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Seeds everything: weight init, shuffles, synthetic data (unless it has its own).
    pub(crate) seed: u64,
    /// Turn every warning about a key that cannot act into an error.
    pub(crate) strict: bool,
    /// Where the rows come from and how they are prepared.
    pub(crate) data: DataConfig,
    /// The network's shape.
    pub(crate) model: ModelConfig,
    /// The loss, optimizer and loop.
    pub(crate) train: TrainConfig,
    /// Which hardware runs it.
    pub(crate) backend: BackendConfig,
    /// Where the run folder goes.
    pub(crate) output: OutputConfig,
    /// How the run's energy, carbon and cost are reckoned.
    pub(crate) footprint: FootprintConfig,
    /// A hyperparameter sweep, read by `burnfit sweep` (never part of a run's config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sweep: Option<SweepConfig>,
    /// Differentially private training (DP-SGD); absent: ordinary training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) privacy: Option<PrivacyConfig>,
    /// Keys the user wrote that cannot act in this config, each with why (filled by
    /// [`Config::load`], reported at start and in `summary.json`; never written to a file).
    #[serde(skip)]
    pub(crate) warnings: Vec<String>,
}

/// `[sweep]`: which trials to run and how to rank them (`burnfit sweep`, `crate::sweep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SweepConfig {
    /// What ranks the trials: a metric as `history.csv` names it (`val_auc`, `val_loss`).
    #[serde(default = "super::defaults::default_sweep_metric")]
    pub(crate) metric: String,
    /// `"max"` or `"min"` (default: what is better for the metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) goal: Option<Goal>,
    /// `[sweep.grid]`: dotted key = list of values; every combination is a trial.
    #[serde(default)]
    pub(crate) grid: toml::Table,
    /// `[sweep.random]`: `trials`, `seed` and dotted key = distribution, sampled for each grid
    /// combination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) random: Option<toml::Table>,
    /// Seconds: start no new trial after this much time (running ones finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_time: Option<Positive>,
    /// Rank only private trials (`[privacy]`) whose ε is at most this: the best model under a
    /// privacy budget. Trials over it are listed, not ranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_epsilon: Option<Positive>,
}

/// `[privacy]`: DP-SGD. Each training row's gradient is clipped to `max_grad_norm`, Gaussian
/// noise is added to the batch's sum, and an accountant states (ε, δ) after every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrivacyConfig {
    /// σ: the noise's standard deviation over `max_grad_norm` (> 0, at most 1e6). Give this or
    /// `target_epsilon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) noise_multiplier: Option<Positive32>,
    /// The ε to reach after the planned epochs: the smallest σ that reaches it is searched for
    /// and printed. Give this or `noise_multiplier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target_epsilon: Option<Positive>,
    /// C: every row's gradient (all parameters together) is scaled down to at most this norm.
    #[serde(default = "super::defaults::default_max_grad_norm")]
    pub(crate) max_grad_norm: Positive32,
    /// δ (default: the largest power of ten below 1/n of the training rows; an error at or
    /// above 1/n).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) delta: Option<Positive>,
    /// `"poisson"` (each row joins each step's batch with probability batch_size / n, so batch
    /// sizes vary: the sampling the accountant's amplification assumes) or `"shuffle"` (the
    /// usual fixed-size batches; ε then has no amplification by subsampling).
    #[serde(default = "super::defaults::default_sampling")]
    pub(crate) sampling: burnfit_privacy::Sampling,
    /// Seeds the noise instead of a fresh secret key from the operating system, to reproduce a
    /// run. Anyone who knows it can remove the noise: the guarantee holds only while it stays
    /// secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) noise_seed: Option<u64>,
}

/// Which way a sweep's metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Goal {
    /// Larger is better.
    Max,
    /// Smaller is better.
    Min,
}

/// Where the data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// A CSV file with a header row (`data.path`).
    Csv,
    /// The built-in generator (`[data.synthetic]`).
    #[default]
    Synthetic,
}

/// `train.calibrate`: what is done to a classifier's probabilities after training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Calibrate {
    /// The probabilities as trained.
    #[default]
    None,
    /// One temperature fitted on the validation rows' log loss, folded into the last layer
    /// (`calibrate.rs`).
    Temperature,
}

/// What to do with empty cells, `NA` and `NaN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Missing {
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
pub(crate) enum Normalize {
    /// Leave values as they are.
    None,
    /// `x / ‖x‖₂` per column (the seed's).
    L2,
    /// `(x − mean) / std` per column: the default, as for most tabular pipelines (scikit-learn's
    /// `StandardScaler`), since it makes no assumption about the columns' sign or spread.
    #[default]
    Zscore,
    /// `(x − min) / (max − min)` per column.
    Minmax,
}

/// The synthetic task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Task {
    /// Two classes, in the spirit of scikit-learn's `make_classification`.
    #[default]
    Binary,
    /// A linear target plus Gaussian noise.
    Regression,
    /// `classes` classes (`data.synthetic.classes`, `synth --classes`), two clusters each, as
    /// the binary task has.
    Multiclass,
    /// `labels` yes/no label columns (`data.synthetic.labels`, `synth --labels`), each a noisy
    /// cut of its own direction of the informative features.
    Multilabel,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DataConfig {
    /// Where the rows come from: `"csv"` (`data.path`) or `"synthetic"` (the built-in generator).
    pub(crate) source: Source,
    /// The CSV file (relative paths are relative to the config file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<PathBuf>,
    /// The label column's name, or a list of columns: several 0/1 labels with `"bce"`
    /// (multi-label, one sigmoid each) or several numeric targets with `"mse"` (multi-output).
    pub(crate) label: LabelColumns,
    /// The label value that means class 1, for string labels (e.g. `"Yes"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) positive: Option<String>,
    /// Use only these feature columns (default: every column but the label and `exclude`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) features: Option<Vec<String>>,
    /// Columns to leave out.
    pub(crate) exclude: Vec<String>,
    /// Text columns to one-hot encode.
    pub(crate) categorical: Vec<String>,
    /// A numeric column of per-row weights in the training loss (never a feature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) weight: Option<String>,
    /// The most distinct values a categorical column may have in the training rows (one input
    /// each); more is an error naming the column, which is usually an identifier.
    pub(crate) max_levels: NonZeroUsize,
    /// Missing-value rule.
    pub(crate) missing: Missing,
    /// The constant for `missing = "constant"`.
    pub(crate) fill_value: Finite,
    /// Per-column scaling.
    pub(crate) normalize: Normalize,
    /// A separate validation CSV; when given, every row of `path` trains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) validation_path: Option<PathBuf>,
    /// A separate test CSV for the final evaluation (default: the validation rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) test_path: Option<PathBuf>,
    /// Keep each data file's parsed table in a cache folder, so the next read of the same file
    /// with the same settings maps it instead of parsing (`--no-cache` turns it off for one
    /// command).
    pub(crate) cache: bool,
    /// The parsed-data cache's folder (default: `$XDG_CACHE_HOME/burnfit`, else
    /// `$HOME/.cache/burnfit`); made private (0700), and not used if it is a link or others can
    /// write into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// How rows are split into train and validation.
    pub(crate) split: SplitConfig,
    /// The built-in generator's settings.
    pub(crate) synthetic: SyntheticConfig,
}

/// `[data.split]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SplitConfig {
    /// The share of rows that trains.
    pub(crate) train: Fraction,
    /// Shuffle rows (with the run seed) before splitting; otherwise the first rows train. On by
    /// default: a file sorted by its label would otherwise train and validate on different
    /// classes.
    pub(crate) shuffle: bool,
    /// Keep the class ratio equal in both parts (binary labels; implies a shuffle). When a
    /// user's config does not say, on for a class label with a shuffled split
    /// ([`Config::load`] writes the choice into the resolved config).
    pub(crate) stratify: bool,
    /// k-fold cross-validation (what `burnfit cv` sets): the rows are cut into this many folds
    /// and fold `fold` validates while the others train.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) folds: Option<NonZeroUsize>,
    /// The validating fold, 1 to `folds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fold: Option<NonZeroUsize>,
}

/// `[data.synthetic]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SyntheticConfig {
    /// Binary, multiclass or multilabel classification, or regression.
    pub(crate) task: Task,
    /// Number of rows.
    pub(crate) rows: NonZeroUsize,
    /// Number of feature columns.
    pub(crate) features: NonZeroUsize,
    /// How many of them carry signal (the first ones).
    pub(crate) informative: NonZeroUsize,
    /// Distance between class clusters (larger is easier).
    pub(crate) class_sep: Positive32,
    /// Share of labels replaced by a coin flip.
    pub(crate) label_noise: UnitInterval,
    /// Classes of the multiclass task (2 to 1000).
    pub(crate) classes: NonZeroUsize,
    /// Label columns of the multilabel task (2 to 1000), `label_1`….
    pub(crate) labels: NonZeroUsize,
    /// The generator's seed (default: the run's `seed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ModelConfig {
    /// Hidden layer widths.
    pub(crate) hidden: Vec<NonZeroUsize>,
    /// Hidden activation.
    pub(crate) activation: Activation,
    /// Weight initialisation.
    pub(crate) init: Init,
}

impl ModelConfig {
    /// The network for `input` features.
    pub(crate) fn mlp(&self, input: usize) -> MlpConfig {
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
pub(crate) enum Optimizer {
    /// Adam.
    #[default]
    Adam,
    /// (Stochastic) gradient descent.
    Sgd,
}

/// How the learning rate changes over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LrSchedule {
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
#[serde(default, deny_unknown_fields)]
pub(crate) struct TrainConfig {
    /// `"bce"` (binary classification, sigmoid output) or `"mse"` (regression, linear output).
    pub(crate) loss: Loss,
    /// Passes over the training split.
    pub(crate) epochs: NonZeroUsize,
    /// Rows per step.
    pub(crate) batch_size: NonZeroUsize,
    /// Reshuffle the training rows every epoch (from the run seed).
    pub(crate) shuffle: bool,
    /// `"adam"` or `"sgd"`.
    pub(crate) optimizer: Optimizer,
    /// Learning rate (default: Keras's, 1e-3 for Adam and 1e-2 for SGD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lr: Option<Positive32>,
    /// SGD momentum.
    pub(crate) momentum: UnitInterval,
    /// Adam β1.
    pub(crate) beta1: UnitInterval,
    /// Adam β2.
    pub(crate) beta2: UnitInterval,
    /// Adam ε (Keras's 1e-7).
    pub(crate) epsilon: Positive32,
    /// L2 penalty.
    pub(crate) weight_decay: NonNegative32,
    /// Clip each parameter's gradient norm to this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) grad_clip: Option<Positive32>,
    /// Learning-rate schedule.
    pub(crate) lr_schedule: LrSchedule,
    /// For `step`: epochs between decays.
    pub(crate) lr_step_every: NonZeroUsize,
    /// For `step`: the decay factor.
    pub(crate) lr_gamma: Positive32,
    /// For `cosine`: the final learning rate.
    pub(crate) lr_min: NonNegative32,
    /// A time budget in seconds for the training loop: stop after the epoch that passes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_time: Option<Positive>,
    /// Stop early when the monitored metric stops improving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) early_stopping: Option<EarlyStopping>,
    /// How much each class counts in the loss (BCE): `"none"`, `"balanced"`, or `[w0, w1]`.
    pub(crate) class_weight: ClassWeight,
    /// The probability above which a row is class 1 (BCE): a number, or a rule applied to
    /// the validation rows after training (`"f1"`, `"youden"`, `"precision>=0.9"`, ...).
    pub(crate) threshold: Threshold,
    /// Calibration of a classifier's probabilities after training: `"none"` or
    /// `"temperature"`.
    pub(crate) calibrate: Calibrate,
    /// Label smoothing ε of a softmax's targets, `(1 − ε)·onehot + ε/k` (Keras's
    /// `label_smoothing`), in [0, 1).
    pub(crate) label_smoothing: UnitInterval,
}

impl TrainConfig {
    /// The optimizer settings for the model crate.
    pub(crate) fn optimizer_settings(&self) -> OptimizerSettings {
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

/// `[train.early_stopping]`: present means enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EarlyStopping {
    /// The metric to watch, as named in `history.csv` (`val_loss`, `val_accuracy`, ...).
    pub(crate) monitor: String,
    /// Epochs without improvement before stopping.
    pub(crate) patience: usize,
    /// The smallest change that counts as an improvement.
    pub(crate) min_delta: NonNegative,
    /// Put back the best epoch's weights at the end.
    pub(crate) restore_best: bool,
    /// Deprecated: `train.max_time`, which works without early stopping. Still read (as
    /// `train.max_time`, with a warning) so that older configs and run folders load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_time: Option<Positive>,
}

/// Which backend runs the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BackendKind {
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

impl BackendKind {
    /// flex and ndarray: the CPU backends (host memory, strict tolerances, one device).
    pub(crate) fn is_cpu(self) -> bool {
        matches!(self, BackendKind::Flex | BackendKind::Ndarray)
    }
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
#[serde(default, deny_unknown_fields)]
pub(crate) struct BackendConfig {
    /// The backend.
    pub(crate) kind: BackendKind,
    /// For wgpu: `default`, `discrete:N`, `integrated:N`, `virtual:N` or `cpu`; for cuda: `N`.
    pub(crate) device: String,
    /// Flush subnormal floats to zero on every CPU thread that computes (FTZ and DAZ on x86,
    /// FZ on aarch64), as TensorFlow does by default: on Intel cores an operation on a
    /// subnormal costs tens of times a normal one. `false` keeps strict IEEE arithmetic.
    pub(crate) flush_denormals: bool,
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OutputConfig {
    /// The folder under which each run gets `<config name>-<timestamp>/`.
    pub(crate) dir: PathBuf,
}

/// `[footprint]`: the factors that turn a run's energy into carbon and money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FootprintConfig {
    /// Grid carbon intensity in gCO2e per kWh (default: the world average, 475).
    pub(crate) grid_gco2_per_kwh: NonNegative,
    /// Power usage effectiveness of the data centre (1.0: a machine on a desk).
    pub(crate) pue: Positive,
    /// Electricity price per kWh, in `currency`.
    pub(crate) price_per_kwh: NonNegative,
    /// The currency of `price_per_kwh`.
    pub(crate) currency: String,
    /// The CPU's thermal design power in watts, for the estimate when RAPL is not readable
    /// (default: CodeCarbon's 85 W for an unknown CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_tdp_watts: Option<Positive>,
    /// Where the RAPL counters live.
    pub(crate) rapl_path: PathBuf,
}
