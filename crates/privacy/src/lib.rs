//! The privacy accountant of DP-SGD: what (ε, δ) a private training run has spent.
//!
//! Rényi DP of the sampled Gaussian mechanism at a list of orders (`rdp.rs`, as Opacus computes
//! it), composed over the steps, converted to (ε, δ) by Balle et al. 2020 (`conversion.rs`); the
//! batching a run uses and what it lets the accountant assume (`schedule.rs`: Poisson sampling,
//! or fixed-size shuffled batches without amplification); the search for the noise that reaches
//! a target ε; δ's default and check (`delta.rs`).
//!
//! No tensors and no Burn: the accountant is a few hundred floating-point operations per order,
//! on the host, and its inputs are the run's settings, never its data.
//!
//! ```
//! use burnfit_privacy::{Sampling, Schedule};
//! // 60,000 rows, batches of 150 drawn by Poisson sampling, σ = 1.3, 15 epochs, δ = 1e-5.
//! let schedule = Schedule::new(Sampling::Poisson, 60_000, 150)?;
//! let spent = schedule.epsilon(1.3, schedule.steps_for_epochs(15), 1e-5)?;
//! assert!((spent.epsilon - 0.7242234026).abs() < 1e-9 && spent.order == 19.0);
//! # Ok::<(), burnfit_privacy::PrivacyError>(())
//! ```

mod conversion;
mod delta;
mod erfc;
mod error;
mod rdp;
mod schedule;

pub use conversion::{epsilon_from_rdp, OrderEdge, Spent};
pub use delta::{check_delta, default_delta};
pub use error::PrivacyError;
pub use rdp::{default_orders, rdp_sampled_gaussian};
pub use schedule::{Composition, Sampling, Schedule, EPSILON_TOLERANCE, MAX_NOISE_MULTIPLIER};
