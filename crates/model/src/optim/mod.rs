//! Optimizer settings as plain data, turned into Burn optimizers.
//!
//! Burn's own config types keep their fields private and have their own defaults (Adam ε = 1e-5,
//! SGD momentum dampening 0.1); these structs state ours, with Keras's values available, and map
//! them onto Burn once.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::store::RecordError;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Mlp, ModelError};

mod host;

use host::HostAdam;

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
            "lr",
            lr.is_finite() && lr > 0.0,
            "must be a positive number",
            lr,
        )?;
        match self {
            OptimizerSettings::Sgd(s) => {
                check(
                    "momentum",
                    (0.0..1.0).contains(&s.momentum),
                    "must be in [0, 1)",
                    s.momentum,
                )?;
                check(
                    "weight_decay",
                    s.weight_decay >= 0.0,
                    "must be >= 0",
                    s.weight_decay,
                )
            }
            OptimizerSettings::Adam(a) => {
                check(
                    "beta1",
                    (0.0..1.0).contains(&a.beta1),
                    "must be in [0, 1)",
                    a.beta1,
                )?;
                check(
                    "beta2",
                    (0.0..1.0).contains(&a.beta2),
                    "must be in [0, 1)",
                    a.beta2,
                )?;
                check("epsilon", a.epsilon > 0.0, "must be > 0", a.epsilon)?;
                check(
                    "weight_decay",
                    a.weight_decay >= 0.0,
                    "must be >= 0",
                    a.weight_decay,
                )
            }
        }
    }

    /// Builds the optimizer. `grad_clip` clips the global gradient norm of each parameter
    /// tensor to that value (Burn's `GradientClipping::Norm`); `update` says where Adam's
    /// element-wise arithmetic runs (SGD always uses Burn's own, a couple of operations).
    pub fn build(
        &self,
        grad_clip: Option<f64>,
        update: UpdatePath,
    ) -> Result<MlpOptimizer, ModelError> {
        self.validate()?;
        if let Some(c) = grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return Err(ModelError::InvalidSetting {
                    key: "grad_clip",
                    reason: format!("must be a positive number, got {c}"),
                });
            }
        }
        let clip = grad_clip.map(|c| GradientClippingConfig::Norm(c as f32));
        Ok(MlpOptimizer(match self {
            OptimizerSettings::Sgd(s) => SgdConfig::new()
                .with_momentum((s.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(s.momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay(s.weight_decay))
                .with_gradient_clipping(clip)
                .init()
                .into(),
            OptimizerSettings::Adam(a) if update == UpdatePath::Host => {
                Inner::Host(HostAdam::new(a, clip.map(|c| c.init())))
            }
            OptimizerSettings::Adam(a) => adam_config(a).with_grad_clipping(clip).init().into(),
        }))
    }
}

/// The optimizer of a [`Mlp`] and its state: Burn's `ModuleOptimizer`, or on the CPU backends
/// Adam stepping host memory itself ([`UpdatePath::Host`]). Both read and write Burn's
/// optimizer record, so a checkpoint moves between them.
pub struct MlpOptimizer(Inner);

enum Inner {
    Module(ModuleOptimizer),
    Host(HostAdam),
}

impl From<ModuleOptimizer> for Inner {
    fn from(o: ModuleOptimizer) -> Self {
        Inner::Module(o)
    }
}

impl MlpOptimizer {
    /// One update of `model`'s parameters from `grads` at learning rate `lr`.
    pub fn step(&mut self, lr: f64, model: Mlp, grads: GradientsParams) -> Mlp {
        match &mut self.0 {
            Inner::Module(o) => o.step(lr, model, grads),
            Inner::Host(o) => o.step(lr, model, grads),
        }
    }

    /// The state as Burn's optimizer record (burnpack bytes).
    pub fn to_bytes(&self) -> Result<Bytes, RecordError> {
        match &self.0 {
            Inner::Module(o) => o.into_bytes(),
            Inner::Host(o) => o.to_bytes(),
        }
    }

    /// This optimizer with the state of a record [`to_bytes`](Self::to_bytes) wrote, on
    /// either path.
    pub fn with_bytes(self, bytes: Bytes) -> Result<Self, RecordError> {
        Ok(Self(match self.0 {
            Inner::Module(o) => Inner::Module(o.from_bytes(bytes)?),
            Inner::Host(o) => Inner::Host(o.with_bytes(bytes)?),
        }))
    }
}

/// Burn's Adam with our settings.
fn adam_config(a: &AdamSettings) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(a.beta1 as f32)
        .with_beta_2(a.beta2 as f32)
        .with_epsilon(a.epsilon as f32)
        .with_weight_decay(decay(a.weight_decay))
}

/// Burn's L2 penalty, off at zero.
fn decay(wd: f64) -> Option<WeightDecayConfig> {
    (wd > 0.0).then(|| WeightDecayConfig::new(wd as f32))
}

/// Where an optimizer's element-wise update of each parameter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdatePath {
    /// Burn's tensor operations on the parameters' own device. Right for every device; Adam
    /// costs about thirteen operations per parameter tensor, each a dispatch and an allocation.
    #[default]
    Tensor,
    /// One loop over host memory per parameter tensor. For CPU devices only, where tensors
    /// already live in host memory and a batch-32 step of the seed network spends more time
    /// dispatching Adam's thirteen small operations than computing them; on a GPU it would copy
    /// every parameter to the host and back each step.
    Host,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpConfig;
    use burn::module::Param;
    use burn::tensor::{DType, Device, Tensor, TensorData};

    /// Two steps on a one-layer network whose parameters are f64; the weight's dtype and values.
    fn two_steps(update: UpdatePath) -> (DType, Vec<f64>) {
        let device = Device::flex().autodiff();
        let mut mlp = MlpConfig::new(3)
            .with_hidden(vec![])
            .init(&device, 3)
            .unwrap();
        let layer = &mut mlp.layers[0];
        let weight = std::mem::replace(
            &mut layer.weight,
            Param::from_tensor(Tensor::zeros([1, 1], &device)),
        );
        layer.weight = weight.map(|w| w.cast(DType::F64).detach().require_grad());
        layer.bias = layer
            .bias
            .take()
            .map(|b| b.map(|b| b.cast(DType::F64).detach().require_grad()));
        let mut optim = OptimizerSettings::Adam(AdamSettings::keras())
            .build(None, update)
            .unwrap();
        for s in 0..2 {
            let x = Tensor::<2>::from_data(
                TensorData::new(vec![0.5f32, -1.0, 2.0 + s as f32], [1, 3]),
                &device,
            );
            let out = mlp.forward(x.cast(DType::F64));
            let grads = GradientsParams::from_grads(out.sum().backward(), &mlp);
            mlp = optim.step(1e-2, mlp, grads);
        }
        let w = mlp.layers[0].weight.val();
        (
            w.dtype(),
            w.into_data().convert::<f64>().try_to_vec::<f64>().unwrap(),
        )
    }

    #[test]
    fn a_parameter_that_is_not_f32_keeps_its_dtype_on_the_host_path() {
        let (dtype, host) = two_steps(UpdatePath::Host);
        assert_eq!(
            dtype,
            DType::F64,
            "the update kept the parameter's precision"
        );
        let (_, burn) = two_steps(UpdatePath::Tensor);
        // Burn's Adam works in f64 there, the host loop in f32: equal to f32 precision.
        for (h, b) in host.iter().zip(&burn) {
            assert!((h - b).abs() < 1e-6, "{host:?} against Burn's {burn:?}");
        }
        assert_ne!(two_steps(UpdatePath::Host).1, vec![0.0; 3]);
    }
}
