//! Optimizer settings as plain data, turned into Burn optimizers.
//!
//! Burn's own config types keep their fields private and have their own defaults (Adam ε = 1e-5,
//! SGD momentum dampening 0.1); these structs state ours, with Keras's values available, and map
//! them onto Burn once.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Plain (stochastic) gradient descent: `θ ← θ − α∇J`, optionally with momentum and L2 decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SgdSettings {
    /// Learning rate α.
    pub lr: f64,
    /// Momentum factor (0 disables it). Undampened, as in Keras and PyTorch.
    pub momentum: f64,
    /// L2 penalty added to the gradient (`∇J + λθ`).
    pub weight_decay: f64,
}

impl SgdSettings {
    /// Keras's `SGD()` defaults: lr 0.01, no momentum, no decay.
    pub fn keras() -> Self {
        Self {
            lr: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }
}

/// Adam (Kingma & Ba, 2015) with bias correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamSettings {
    /// Learning rate α.
    pub lr: f64,
    /// Decay of the first-moment estimate.
    pub beta1: f64,
    /// Decay of the second-moment estimate.
    pub beta2: f64,
    /// Added to the denominator for stability.
    pub epsilon: f64,
    /// L2 penalty added to the gradient (`∇J + λθ`; not AdamW's decoupled decay).
    pub weight_decay: f64,
}

impl AdamSettings {
    /// Keras's `Adam()` defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-7 (Burn's default ε is 1e-5).
    pub fn keras() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.0,
        }
    }
}

/// One of the two update rules, with an optional gradient-norm clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerSettings {
    /// Gradient descent.
    Sgd(SgdSettings),
    /// Adam.
    Adam(AdamSettings),
}

impl OptimizerSettings {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSettings::Sgd(s) => s.lr,
            OptimizerSettings::Adam(a) => a.lr,
        }
    }

    /// Checks every value, naming the config key at fault.
    pub fn validate(&self) -> Result<(), ModelError> {
        fn check(key: &'static str, ok: bool, why: &str, value: f64) -> Result<(), ModelError> {
            if ok {
                Ok(())
            } else {
                Err(ModelError::InvalidSetting {
                    key,
                    reason: format!("{why}, got {value}"),
                })
            }
        }
        let lr = self.lr();
        check(
            "train.lr",
            lr.is_finite() && lr > 0.0,
            "must be a positive number",
            lr,
        )?;
        match self {
            OptimizerSettings::Sgd(s) => {
                check(
                    "train.momentum",
                    (0.0..1.0).contains(&s.momentum),
                    "must be in [0, 1)",
                    s.momentum,
                )?;
                check(
                    "train.weight_decay",
                    s.weight_decay >= 0.0,
                    "must be >= 0",
                    s.weight_decay,
                )
            }
            OptimizerSettings::Adam(a) => {
                check(
                    "train.beta1",
                    (0.0..1.0).contains(&a.beta1),
                    "must be in [0, 1)",
                    a.beta1,
                )?;
                check(
                    "train.beta2",
                    (0.0..1.0).contains(&a.beta2),
                    "must be in [0, 1)",
                    a.beta2,
                )?;
                check("train.epsilon", a.epsilon > 0.0, "must be > 0", a.epsilon)?;
                check(
                    "train.weight_decay",
                    a.weight_decay >= 0.0,
                    "must be >= 0",
                    a.weight_decay,
                )
            }
        }
    }

    /// Builds the Burn optimizer. `grad_clip` clips the global gradient norm of each parameter
    /// tensor to that value (Burn's `GradientClipping::Norm`).
    pub fn build(&self, grad_clip: Option<f64>) -> Result<ModuleOptimizer, ModelError> {
        self.validate()?;
        if let Some(c) = grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return Err(ModelError::InvalidSetting {
                    key: "train.grad_clip",
                    reason: format!("must be a positive number, got {c}"),
                });
            }
        }
        let clip = grad_clip.map(|c| GradientClippingConfig::Norm(c as f32));
        let decay = |wd: f64| (wd > 0.0).then(|| WeightDecayConfig::new(wd as f32));
        Ok(match self {
            OptimizerSettings::Sgd(s) => SgdConfig::new()
                .with_momentum((s.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(s.momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay(s.weight_decay))
                .with_gradient_clipping(clip)
                .init(),
            OptimizerSettings::Adam(a) => AdamConfig::new()
                .with_beta_1(a.beta1 as f32)
                .with_beta_2(a.beta2 as f32)
                .with_epsilon(a.epsilon as f32)
                .with_weight_decay(decay(a.weight_decay))
                .with_grad_clipping(clip)
                .init(),
        })
    }
}
