//! Every key's default, one place each: the `Default` impl of each section of the schema, and
//! serde's default functions for the keys of the optional sections (`[privacy]`, `[sweep]`).
//! The network's and the optimizers' come from the model crate; serde fills every key a file
//! leaves out from these (`#[serde(default)]` on each section).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use burnfit_model::{AdamSettings, Loss, MlpConfig, SgdSettings};

use super::{
    BackendConfig, BackendKind, Calibrate, ClassWeight, Config, DataConfig, EarlyStopping, Finite,
    FootprintConfig, Fraction, LabelColumns, LrSchedule, Missing, ModelConfig, NonNegative,
    NonNegative32, Normalize, Optimizer, OutputConfig, Positive, Positive32, Source, SplitConfig,
    SyntheticConfig, Task, Threshold, TrainConfig, UnitInterval,
};

/// `privacy.max_grad_norm`'s default (serde's, since `[privacy]` is optional as a whole).
pub(super) fn default_max_grad_norm() -> Positive32 {
    Positive32(1.0)
}

/// `privacy.sampling`'s default.
pub(super) fn default_sampling() -> burnfit_privacy::Sampling {
    burnfit_privacy::Sampling::Poisson
}

/// `sweep.metric`'s default.
pub(super) fn default_sweep_metric() -> String {
    "val_loss".into()
}

/// A non-zero constant.
const fn nz(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("zero"),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 42,
            strict: false,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
            backend: BackendConfig::default(),
            output: OutputConfig::default(),
            footprint: FootprintConfig::default(),
            sweep: None,
            privacy: None,
            warnings: Vec::new(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: Source::default(),
            path: None,
            label: LabelColumns::one("label"),
            positive: None,
            features: None,
            exclude: Vec::new(),
            categorical: Vec::new(),
            weight: None,
            max_levels: nz(1000),
            missing: Missing::default(),
            fill_value: Finite(0.0),
            normalize: Normalize::default(),
            validation_path: None,
            test_path: None,
            cache: true,
            cache_dir: None,
            split: SplitConfig::default(),
            synthetic: SyntheticConfig::default(),
        }
    }
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            train: Fraction(0.8),
            shuffle: true,
            stratify: false,
            folds: None,
            fold: None,
        }
    }
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            task: Task::default(),
            rows: nz(100_000),
            features: nz(100),
            informative: nz(10),
            class_sep: Positive32(1.0),
            label_noise: UnitInterval(0.01),
            classes: nz(3),
            labels: nz(3),
            seed: None,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        let net = MlpConfig::new(1);
        Self {
            hidden: net
                .hidden
                .into_iter()
                .filter_map(NonZeroUsize::new)
                .collect(),
            activation: net.activation,
            init: net.init,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        let (adam, sgd) = (AdamSettings::keras(), SgdSettings::keras());
        Self {
            loss: Loss::Bce,
            epochs: nz(10),
            batch_size: nz(32),
            shuffle: true,
            optimizer: Optimizer::default(),
            lr: None,
            momentum: UnitInterval(sgd.momentum),
            beta1: UnitInterval(adam.beta1),
            beta2: UnitInterval(adam.beta2),
            epsilon: Positive32(adam.epsilon),
            weight_decay: NonNegative32(adam.weight_decay),
            grad_clip: None,
            lr_schedule: LrSchedule::default(),
            lr_step_every: NonZeroUsize::MIN,
            lr_gamma: Positive32(0.1),
            lr_min: NonNegative32(0.0),
            max_time: None,
            early_stopping: None,
            class_weight: ClassWeight::None,
            threshold: Threshold::default(),
            calibrate: Calibrate::None,
            label_smoothing: UnitInterval(0.0),
        }
    }
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            monitor: "val_loss".into(),
            patience: 3,
            min_delta: NonNegative(0.0),
            restore_best: true,
            max_time: None,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            kind: BackendKind::default(),
            device: "default".into(),
            flush_denormals: true,
        }
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runs"),
        }
    }
}

impl Default for FootprintConfig {
    fn default() -> Self {
        Self {
            grid_gco2_per_kwh: NonNegative(475.0),
            pue: Positive(1.0),
            price_per_kwh: NonNegative(0.15),
            currency: "USD".into(),
            cpu_tdp_watts: None,
            rapl_path: PathBuf::from("/sys/class/powercap"),
        }
    }
}
