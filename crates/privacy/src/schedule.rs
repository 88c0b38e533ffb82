//! What a DP-SGD run releases, as the accountant composes it: how batches are drawn, how many
//! rows and steps, and the noise; ε for it, and the noise that reaches a target ε.

use serde::{Deserialize, Serialize};

use crate::conversion::{check_delta_range, epsilon_from_rdp, Spent};
use crate::rdp::{check_noise_multiplier, default_orders, rdp_sampled_gaussian};
use crate::PrivacyError;

/// How each step's batch is drawn from the n training rows, which decides what the accountant
/// may assume. Both guarantees are for per-row gradients clipped to norm C, noise `N(0, σ²C²)`
/// added to their sum, the sum divided by a public constant (the batch size B), and noise the
/// adversary cannot predict; both cover every intermediate model, not only the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// Each row joins each step's batch independently with probability q = B / n, so batch
    /// sizes vary (and may be 0: the step still adds its noise). Add-or-remove-one-row
    /// adjacency. ε is the RDP of the *sampled* Gaussian mechanism composed over the steps,
    /// with the amplification by subsampling that this sampling earns (Abadi et al. 2016;
    /// Mironov et al. 2019): what Opacus reports. Valid only if the batches really are drawn
    /// this way, with randomness the adversary does not see.
    Poisson,
    /// Fixed-size batches from a partition of the rows each epoch (shuffled or not): each row is
    /// in at most one batch per epoch. ε is that of the plain Gaussian mechanism (q = 1)
    /// composed once per epoch *started*, with no amplification by subsampling or shuffling:
    /// TF Privacy's `compute_dp_sgd_privacy_statement`, "epsilon with each example occurring
    /// once per epoch" (without microbatching). It holds whatever the order of the rows, even a
    /// public one chosen by an adversary. Composing a q = 1 mechanism per *step* would also be
    /// valid, but ⌈n/B⌉ times too pessimistic in RDP.
    ///
    /// Precisely: the neighbouring dataset keeps all n rows in their places and has one of them
    /// replaced by a null row whose clipped gradient is zero ("zero-out" adjacency, Kairouz et
    /// al. 2021, the stand-in for add-or-remove when batches have a fixed size). Then the
    /// partition is the same for both, one step per epoch sees a sum that differs by at most C,
    /// and the epoch is one Gaussian mechanism of sensitivity C. Plain add-or-remove is not
    /// covered when batches are cut from one permutation of the rows, since an added row
    /// shifts every later batch of its epoch; and under replace-one adjacency the sum differs
    /// by up to 2C, so the guarantee is that of noise multiplier σ/2. Shuffling very likely
    /// gives a smaller true ε, but nothing here claims it.
    Shuffle,
}

/// The batching of a private run: the sampling, the number of training rows n and the
/// (expected) batch size B. Checked when built: n ≥ 1 and 1 ≤ B ≤ n (so it is written out but
/// never read back except through [`Schedule::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Schedule {
    sampling: Sampling,
    rows: u64,
    batch_size: u64,
}

/// What the accountant composes for a number of steps: `count` runs of the Gaussian mechanism
/// on a `sample_rate` sample of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    /// q: 1 for [`Sampling::Shuffle`].
    pub sample_rate: f64,
    /// Steps (Poisson) or epochs started (shuffle).
    pub count: u64,
}

/// The largest noise multiplier the search for a target ε tries, as Opacus's
/// `get_noise_multiplier` (`MAX_SIGMA`).
pub const MAX_NOISE_MULTIPLIER: f64 = 1e6;

/// How close to the target the noise search brings ε from below (Opacus's default
/// `epsilon_tolerance`).
pub const EPSILON_TOLERANCE: f64 = 0.01;

impl Schedule {
    /// A schedule of `rows` training rows in batches of `batch_size` (the expected size under
    /// Poisson sampling).
    ///
    /// # Errors
    /// No rows, a batch size of 0 or above the number of rows: [`PrivacyError::InvalidCount`].
    pub fn new(sampling: Sampling, rows: u64, batch_size: u64) -> Result<Self, PrivacyError> {
        if rows == 0 {
            return Err(PrivacyError::InvalidCount {
                name: "rows",
                value: rows,
                reason: "a private run needs at least one training row".into(),
            });
        }
        if batch_size == 0 || batch_size > rows {
            return Err(PrivacyError::InvalidCount {
                name: "batch_size",
                value: batch_size,
                reason: format!("must be between 1 and the number of training rows ({rows})"),
            });
        }
        Ok(Self {
            sampling,
            rows,
            batch_size,
        })
    }

    /// How batches are drawn.
    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// The number of training rows n.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The batch size B (expected, under Poisson sampling).
    pub fn batch_size(&self) -> u64 {
        self.batch_size
    }

    /// q = B / n: each row's probability of joining a step's batch under Poisson sampling.
    pub fn sample_rate(&self) -> f64 {
        self.batch_size as f64 / self.rows as f64
    }

    /// What the private step divides the noised sum by: B, the expected batch size (q·n) under
    /// Poisson sampling, the fixed one otherwise. A public constant, never the batch's actual
    /// size, which would depend on the data.
    pub fn expected_batch_size(&self) -> f64 {
        self.batch_size as f64
    }

    /// Steps in an epoch, `⌈n / B⌉` (the last batch of a shuffled epoch may be short).
    pub fn steps_per_epoch(&self) -> u64 {
        self.rows.div_ceil(self.batch_size)
    }

    /// Steps in `epochs` epochs, saturating at `u64::MAX`.
    pub fn steps_for_epochs(&self, epochs: u64) -> u64 {
        epochs.saturating_mul(self.steps_per_epoch())
    }

    /// What `steps` private steps compose: every step a sampled mechanism (Poisson), or one
    /// plain Gaussian mechanism per epoch started (shuffle).
    pub fn composition(&self, steps: u64) -> Composition {
        match self.sampling {
            Sampling::Poisson => Composition {
                sample_rate: self.sample_rate(),
                count: steps,
            },
            Sampling::Shuffle => Composition {
                sample_rate: 1.0,
                count: steps.div_ceil(self.steps_per_epoch()),
            },
        }
    }

    /// The privacy spent after `steps` steps with noise multiplier `noise_multiplier` (σ), at
    /// `delta`, over [`default_orders`].
    ///
    /// # Errors
    /// σ negative or not finite, δ not in (0, 1): [`PrivacyError`]. δ is not compared with
    /// 1/n here; [`check_delta`](crate::check_delta) does that where the user's δ comes in.
    pub fn epsilon(
        &self,
        noise_multiplier: f64,
        steps: u64,
        delta: f64,
    ) -> Result<Spent, PrivacyError> {
        self.epsilon_with_orders(noise_multiplier, steps, delta, &default_orders())
    }

    /// [`epsilon`](Self::epsilon) over the RDP orders `orders`.
    ///
    /// # Errors
    /// As [`epsilon`](Self::epsilon), and orders that are empty, not finite or not above 1.
    pub fn epsilon_with_orders(
        &self,
        noise_multiplier: f64,
        steps: u64,
        delta: f64,
        orders: &[f64],
    ) -> Result<Spent, PrivacyError> {
        check_delta_range(delta)?;
        let c = self.composition(steps);
        let rdp = rdp_sampled_gaussian(c.sample_rate, noise_multiplier, c.count, orders)?;
        epsilon_from_rdp(orders, &rdp, delta)
    }

    /// The smallest noise multiplier, to Opacus's precision, whose ε after `steps` steps at
    /// `delta` is below `target_epsilon`: Opacus's `get_noise_multiplier`, over the default
    /// orders. It doubles σ from 20 until ε < target, then bisects between the last two until
    /// ε is within [`EPSILON_TOLERANCE`] below the target, and returns the σ of that ε, so
    /// it never overshoots the budget and gives Opacus's σ for the same inputs.
    ///
    /// # Errors
    /// A target that is not a positive finite number, δ not in (0, 1): [`PrivacyError`]; no σ
    /// up to [`MAX_NOISE_MULTIPLIER`] reaching the target (the conversion to (ε, δ) alone costs
    /// some ε, about 0.1 at δ = 1e-5 over the default orders, so a smaller target can never be
    /// met): [`PrivacyError::TargetUnreachable`] with the ε that was reached.
    pub fn noise_for_target_epsilon(
        &self,
        target_epsilon: f64,
        steps: u64,
        delta: f64,
    ) -> Result<f64, PrivacyError> {
        if !(target_epsilon.is_finite() && target_epsilon > 0.0) {
            return Err(PrivacyError::InvalidValue {
                name: "target_epsilon",
                value: target_epsilon,
                reason: "must be a positive finite number",
            });
        }
        check_delta_range(delta)?;
        let orders = default_orders();
        let eps = |sigma: f64| -> Result<f64, PrivacyError> {
            Ok(self
                .epsilon_with_orders(sigma, steps, delta, &orders)?
                .epsilon)
        };
        let (mut low, mut high) = (0.0, 10.0);
        let mut eps_high = f64::INFINITY;
        while eps_high > target_epsilon {
            if 2.0 * high > MAX_NOISE_MULTIPLIER {
                return Err(PrivacyError::TargetUnreachable {
                    target: target_epsilon,
                    delta,
                    steps,
                    max_noise: high,
                    reached: eps_high,
                });
            }
            high *= 2.0;
            eps_high = eps(high)?;
        }
        // Bisection halves the interval each time; 200 rounds exhaust an f64 long before, and
        // the cap only guards against an ε that is not monotone in σ through rounding.
        for _ in 0..200 {
            if target_epsilon - eps_high <= EPSILON_TOLERANCE {
                break;
            }
            let mid = (low + high) / 2.0;
            let e = eps(mid)?;
            if e < target_epsilon {
                (high, eps_high) = (mid, e);
            } else {
                low = mid;
            }
        }
        check_noise_multiplier(high)?;
        Ok(high)
    }
}
