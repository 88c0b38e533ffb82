//! The burnfit network, its losses and its optimizer settings.
//!
//! This crate is pure: it reads no files, parses no command line and picks no backend. Every
//! function takes a Burn [`Device`](burn::tensor::Device), so the same code runs on flex, ndarray,
//! wgpu or cuda; the runner decides which.

pub mod error;
pub mod loss;
pub mod mlp;
pub mod optim;
pub mod private;

pub use error::ModelError;
pub use loss::{bce_with_logits, mse, softmax_cross_entropy, Loss};
pub use mlp::{Activation, Init, Mlp, MlpConfig};
pub use optim::{AdamSettings, MlpOptimizer, OptimizerSettings, SgdSettings, UpdatePath};
pub use private::{
    per_sample_grad_norms, DpSgd, NoiseSource, NoiseState, PrivacySettings, PrivateGradients,
};
