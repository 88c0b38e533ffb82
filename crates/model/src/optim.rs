//! Optimizer settings as plain data, turned into Burn optimizers.
//!
//! Burn's own config types keep their fields private and have their own defaults (Adam ε = 1e-5,
//! SGD momentum dampening 0.1); these structs state ours, with Keras's values available, and map
//! them onto Burn once.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
    SgdConfig,
};
use burn::tensor::{DType, Device, Tensor, TensorData};
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

    /// Builds the Burn optimizer. `grad_clip` clips the global gradient norm of each parameter
    /// tensor to that value (Burn's `GradientClipping::Norm`); `update` says where Adam's
    /// element-wise arithmetic runs (SGD always uses Burn's own, a couple of operations).
    pub fn build(
        &self,
        grad_clip: Option<f64>,
        update: UpdatePath,
    ) -> Result<ModuleOptimizer, ModelError> {
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
            OptimizerSettings::Adam(a) if update == UpdatePath::Host => {
                let optim = ModuleOptimizer::from(HostAdam::new(a));
                match clip {
                    Some(c) => optim.with_grad_clipping(c.init()),
                    None => optim,
                }
            }
            OptimizerSettings::Adam(a) => adam_config(a).with_grad_clipping(clip).init(),
        })
    }
}

/// The per-step constants of one Adam update, in Burn's f32 arithmetic.
struct AdamStep {
    beta1: f32,
    beta2: f32,
    /// `sqrt(1 − β2^t) / (1 − β1^t)`: both bias corrections folded into the first moment.
    factor: f32,
    /// `ε · sqrt(1 − β2^t)`: Burn puts ε inside the second moment's bias correction.
    eps: f32,
    lr: f32,
    weight_decay: f32,
}

impl AdamStep {
    /// Updates `θ`, `m` and `v` in place from the gradient `g`, element by element, with the
    /// operations of `burn::optim::Adam` in its order.
    #[inline(always)]
    fn apply<const FIRST: bool, const DECAY: bool>(
        &self,
        (theta, g, m, v): (&mut [f32], &[f32], &mut [f32], &mut [f32]),
    ) {
        let (f1, f2) = (1.0 - self.beta1, 1.0 - self.beta2);
        assert!(g.len() == theta.len() && m.len() == theta.len() && v.len() == theta.len());
        for (((t, &g), m), v) in theta.iter_mut().zip(g).zip(m).zip(v) {
            // Burn's weight decay: `grad = θ·λ + grad`.
            let g = if DECAY { *t * self.weight_decay + g } else { g };
            let (gm, gv) = (g * f1, (g * g) * f2);
            // Burn's first step starts the moments from the scaled gradient, not `0·β + x`
            // (the same value but for the sign of a zero; the bits are kept).
            *m = if FIRST { gm } else { *m * self.beta1 + gm };
            *v = if FIRST { gv } else { *v * self.beta2 + gv };
            *t -= ((*m * self.factor) / (v.sqrt() + self.eps)) * self.lr;
        }
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

/// Adam computed in one pass over host memory, with exactly Burn's arithmetic (the same f32
/// operations in the same order, so the same bits) and Burn's state type, so checkpoints move
/// freely between this and `burn::optim::Adam`.
#[derive(Clone)]
struct HostAdam {
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: Option<f32>,
    /// Burn's own Adam with the same settings, for tensors that are not f32 (half or double
    /// precision), which this loop does not handle.
    fallback: Adam,
}

impl HostAdam {
    fn new(a: &AdamSettings) -> Self {
        Self {
            beta1: a.beta1 as f32,
            beta2: a.beta2 as f32,
            epsilon: a.epsilon as f32,
            // Burn's `WeightDecayConfig` keeps its penalty as f32 too.
            weight_decay: (a.weight_decay > 0.0).then_some(a.weight_decay as f32),
            fallback: adam_config(a).build(),
        }
    }
}

impl Optimizer for HostAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let f32_state = state.as_ref().is_none_or(|s| {
            s.momentum.max_moment_2.is_none()
                && s.momentum.moment_1.dtype() == DType::F32
                && s.momentum.moment_2.dtype() == DType::F32
        });
        if tensor.dtype() != DType::F32 || grad.dtype() != DType::F32 || !f32_state {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let device = tensor.device();
        let shape = tensor.shape();
        // On flex, `into_data` hands over the tensor's own buffer when nothing else holds it (the
        // moments always; a parameter or gradient still shared elsewhere is copied) and
        // `from_data` takes it back without a copy.
        let mut theta = tensor.into_data();
        let g = grad.into_data();
        let (time, mut m, mut v) = match state {
            Some(s) => (
                s.momentum.time,
                s.momentum.moment_1.into_data(),
                s.momentum.moment_2.into_data(),
            ),
            None => (
                0,
                TensorData::zeros::<f32, _>(shape.clone()),
                TensorData::zeros::<f32, _>(shape),
            ),
        };
        let time = time + 1;
        let bias2_sqrt = (1.0 - self.beta2.powi(time as i32)).sqrt();
        let k = AdamStep {
            beta1: self.beta1,
            beta2: self.beta2,
            factor: bias2_sqrt / (1.0 - self.beta1.powi(time as i32)),
            eps: self.epsilon * bias2_sqrt,
            lr: lr as f32,
            weight_decay: self.weight_decay.unwrap_or(0.0),
        };
        let f32s = "dtypes checked above";
        let slices = (
            theta.as_mut_slice::<f32>().expect(f32s),
            g.as_slice::<f32>().expect(f32s),
            m.as_mut_slice::<f32>().expect(f32s),
            v.as_mut_slice::<f32>().expect(f32s),
        );
        // Four copies of one loop, so that neither choice is a branch per element.
        match (time == 1, self.weight_decay.is_some()) {
            (true, true) => k.apply::<true, true>(slices),
            (true, false) => k.apply::<true, false>(slices),
            (false, true) => k.apply::<false, true>(slices),
            (false, false) => k.apply::<false, false>(slices),
        }
        let state = AdamState::new(AdaptiveMomentumState::new(
            time,
            Tensor::from_data(m, &device),
            Tensor::from_data(v, &device),
        ));
        (Tensor::from_data(theta, &device), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps of `optim` on one f64 parameter; the parameter's values afterwards.
    fn two_steps<O: Optimizer>(optim: &O) -> (DType, Vec<f64>) {
        let device = Device::flex();
        let f64s =
            |v: Vec<f64>| Tensor::<1>::from_data(TensorData::new(v, [3]), &device).cast(DType::F64);
        let mut theta = f64s(vec![0.5, -1.0, 2.0]);
        let mut state = None;
        for grad in [vec![0.1, -0.2, 0.3], vec![-0.05, 0.4, 0.0]] {
            let (t, s) = optim.step(1e-2, theta, f64s(grad), state);
            (theta, state) = (t, s);
        }
        let dtype = theta.dtype();
        (dtype, theta.into_data().try_to_vec::<f64>().unwrap())
    }

    #[test]
    fn parameters_that_are_not_f32_take_burns_own_adam() {
        let a = AdamSettings::keras();
        let (dtype, host) = two_steps(&HostAdam::new(&a));
        assert_eq!(
            dtype,
            DType::F64,
            "the update kept the parameter's precision"
        );
        assert_eq!(host, two_steps(&adam_config(&a).build()).1);
        assert_ne!(host, vec![0.5, -1.0, 2.0], "two steps moved the parameter");
    }
}
