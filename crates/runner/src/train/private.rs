//! `[privacy]`: the plan of a private run (σ given or searched for, C, δ, the sampling), the
//! batches Poisson sampling draws, one DP-SGD step, and the privacy spent after each epoch.
//!
//! The step's mathematics is the model crate's ([`burnfit_model::DpSgd`]); the accounting is
//! `burnfit-privacy`'s. What this module adds is what only a run knows: how many rows, the
//! batch size and the epochs (which fix q and the steps), and which rows each step takes.

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::{DpSgd, Loss, Mlp, MlpOptimizer, NoiseSource, NoiseState, PrivacySettings};
use burnfit_privacy::{Sampling, Schedule, Spent};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::config::PrivacyConfig;
use crate::data::Matrix;
use crate::run::PrivacySummary;

/// A private run's settings, settled before training from `[privacy]` and the data.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// σ and C.
    pub(crate) settings: PrivacySettings,
    /// δ.
    pub(crate) delta: f64,
    /// n, B and the sampling.
    pub(crate) schedule: Schedule,
    /// The target σ was searched for, when one was given.
    pub(crate) target: Option<f64>,
    /// `privacy.noise_seed`, when given.
    pub(crate) noise_seed: Option<u64>,
}

impl Plan {
    /// Settles `[privacy]` for `rows` training rows in batches of `batch` over `epochs`: δ (the
    /// default below 1/n, or the user's, checked against 1/n) and σ (given, or the smallest
    /// that reaches `target_epsilon` after the planned epochs).
    pub(crate) fn settle(
        config: &PrivacyConfig,
        rows: usize,
        batch: usize,
        epochs: usize,
    ) -> Result<Self> {
        let schedule =
            Schedule::new(config.sampling, rows as u64, batch as u64).context("[privacy]")?;
        let n = rows as u64;
        let delta = match config.delta {
            Some(d) => {
                burnfit_privacy::check_delta(d.0, n).context("privacy.delta")?;
                d.0
            }
            None => burnfit_privacy::default_delta(n).context("privacy.delta")?,
        };
        let steps = schedule.steps_for_epochs(epochs as u64);
        let (noise_multiplier, target) = match (config.noise_multiplier, config.target_epsilon) {
            (Some(s), None) => (s.0, None),
            (None, Some(t)) => (
                schedule
                    .noise_for_target_epsilon(t.0, steps, delta)
                    .context("privacy.target_epsilon")?,
                Some(t.0),
            ),
            // The config's own check refuses both and neither; a caller that did not is told.
            _ => {
                anyhow::bail!("[privacy]: give exactly one of noise_multiplier and target_epsilon")
            }
        };
        // A huge target needs a σ that is no noise in 32-bit arithmetic: no guarantee at all.
        if !(noise_multiplier as f32).is_normal() {
            anyhow::bail!(
                "privacy.target_epsilon = {}: the noise that reaches it (σ = {noise_multiplier:e}) is zero in 32-bit arithmetic, which protects nothing; choose a target below 100",
                target.unwrap_or(f64::NAN)
            );
        }
        let settings = PrivacySettings {
            max_grad_norm: config.max_grad_norm.0,
            noise_multiplier,
        };
        settings
            .validate()
            .map_err(|e| crate::config::setting_error("privacy", e))?;
        Ok(Self {
            settings,
            delta,
            schedule,
            target,
            noise_seed: config.noise_seed,
        })
    }

    /// Steps in one epoch.
    pub(crate) fn steps_per_epoch(&self) -> usize {
        usize::try_from(self.schedule.steps_per_epoch()).unwrap_or(usize::MAX)
    }

    /// The privacy spent after `steps` steps.
    pub(crate) fn spent(&self, steps: u64) -> Result<Spent> {
        self.schedule
            .epsilon(self.settings.noise_multiplier, steps, self.delta)
            .context("the privacy accountant")
    }

    /// The DP-SGD step of a new run (a fresh secret key, or `noise_seed`'s) or of a resumed
    /// one (its checkpoint's noise state).
    pub(crate) fn dp_sgd(&self, resumed: Option<&NoiseState>) -> Result<DpSgd> {
        let noise = match (resumed, self.noise_seed) {
            (Some(state), _) => NoiseSource::from_state(state),
            (None, Some(seed)) => {
                let mut key = [0u8; 32];
                ChaCha20Rng::seed_from_u64(seed).fill(&mut key);
                NoiseSource::from_key(key)
            }
            (None, None) => {
                NoiseSource::from_os().map_err(|e| crate::config::setting_error("privacy", e))?
            }
        };
        Ok(
            DpSgd::new(self.settings, self.schedule.expected_batch_size(), noise)
                .map_err(|e| crate::config::setting_error("privacy", e))?,
        )
    }

    /// What the plan is, in one line for the log.
    pub(crate) fn words(&self) -> String {
        let sigma = match self.target {
            Some(t) => format!(
                "σ = {:.4} (the smallest reaching ε = {t} after the planned epochs)",
                self.settings.noise_multiplier
            ),
            None => format!("σ = {}", self.settings.noise_multiplier),
        };
        let sampling = match self.schedule.sampling() {
            Sampling::Poisson => format!(
                "Poisson sampling, q = {:.6} (batches of {} rows on average)",
                self.schedule.sample_rate(),
                self.schedule.batch_size()
            ),
            Sampling::Shuffle => format!(
                "shuffled batches of {} without amplification by subsampling: ε is that of one full pass of the data per epoch",
                self.schedule.batch_size()
            ),
        };
        format!(
            "DP-SGD, {sigma}, C = {}, δ = {:e}, {sampling}",
            self.settings.max_grad_norm, self.delta
        )
    }
}

/// The privacy `plan` spent after `steps` steps, as `summary.json` records it.
pub(crate) fn summary(plan: &Plan, steps: u64) -> Result<PrivacySummary> {
    let spent = plan.spent(steps)?;
    Ok(PrivacySummary {
        epsilon: spent.epsilon,
        delta: spent.delta,
        noise_multiplier: plan.settings.noise_multiplier,
        max_grad_norm: plan.settings.max_grad_norm,
        sampling: plan.schedule.sampling(),
        order: spent.order,
        order_edge: spent.edge,
        steps,
        covers: COVERS.into(),
    })
}

/// What a private run's (ε, δ) covers and what it does not.
pub(crate) const COVERS: &str =
    "every model the training steps produced, for any one training row \
    (add or remove one row; for shuffled batches, zero one out). Not covered: the \
    normalisation statistics and category levels fitted on the training rows, the validation \
    metrics and early stopping on them, and the threshold a rule picks on the validation rows";

/// The ε line appended to an epoch's log line.
pub(crate) fn epsilon_words(spent: &Spent) -> String {
    let edge = if spent.edge.is_some() {
        " (at the end of the orders tried: a valid bound, possibly loose)"
    } else {
        ""
    };
    format!(
        "ε {:.4} (δ {:e}, order {}){edge}",
        spent.epsilon, spent.delta, spent.order
    )
}

/// The rows of step `step` of epoch `epoch` under Poisson sampling: each of the n rows
/// independently with probability `q`, drawn from a ChaCha20 stream keyed by the run's secret
/// noise key (so the batches are as unpredictable as the noise, the same on every backend,
/// and a resumed run draws the same ones).
pub(crate) fn poisson_rows(
    noise: &NoiseState,
    epoch: usize,
    step: usize,
    n: usize,
    q: f64,
) -> Vec<usize> {
    // Another key than the noise's: the two streams must not overlap.
    let mut key = noise.key;
    for b in &mut key {
        *b ^= 0x5c;
    }
    let mut rng = ChaCha20Rng::from_seed(key);
    rng.set_stream(((epoch as u64) << 32) ^ step as u64);
    if q >= 1.0 {
        return (0..n).collect();
    }
    // The gaps between chosen rows are geometric: one draw per chosen row (about B a step)
    // instead of one per training row, the same Bernoulli(q) choice of each row.
    let log_stay = (-q).ln_1p();
    let mut rows = Vec::with_capacity((q * n as f64 * 1.2) as usize + 8);
    let mut next = 0usize;
    loop {
        let u: f64 = rng.random();
        // ln(1 − u) ≤ 0 for u in [0, 1); the cast saturates for a gap past every row.
        next = next.saturating_add(((-u).ln_1p() / log_stay).floor() as usize);
        if next >= n {
            return rows;
        }
        rows.push(next);
        next += 1;
    }
}

/// One private step on rows `rows` of `m`: DP-SGD's gradients, then the optimizer. Returns
/// the updated model, and the batch's summed loss and wrong predictions (read to the host:
/// a private step's batch size varies, so its sums are taken as they come).
pub(crate) fn step(
    model: Mlp,
    optim: &mut MlpOptimizer,
    dp: &mut DpSgd,
    (objective, cut): (super::Objective<'_>, f32),
    lr: f64,
    (m, rows): (&Matrix, &[usize]),
    ad: &Device,
) -> Result<(Mlp, f64, f64)> {
    let x = Tensor::<2>::from_data(TensorData::new(m.gather(rows), [rows.len(), m.width]), ad);
    let ys = m.gather_y(rows);
    let loss_fn = objective.loss;
    let y = super::step::targets(m, rows, objective, model.output_width(), ad);
    let out = dp
        .gradients(&model, loss_fn, x, y)
        .map_err(|e| crate::config::setting_error("privacy", e))?;
    let loss = f64::from(super::read_scalar(&out.loss)) * rows.len() as f64;
    let wrong = if loss_fn != Loss::Mse && !rows.is_empty() {
        let z = super::step::host(out.outputs.into_data());
        super::step::wrong(&z, model.output_width(), &ys, cut) as f64
    } else {
        0.0
    };
    let model = optim.step(lr, model, out.grads);
    Ok((model, loss, wrong))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row joins with probability q: batch sizes average q·n, every row is chosen about
    /// equally often, the same (epoch, step) gives the same batch, and q = 1 takes every row.
    #[test]
    fn poisson_batches_take_each_row_with_probability_q() {
        let noise = NoiseState {
            key: [7; 32],
            steps: 0,
        };
        let (n, q, steps) = (1000, 0.05, 2000);
        let mut hits = vec![0u32; n];
        let mut total = 0usize;
        for step in 0..steps {
            let rows = poisson_rows(&noise, 0, step, n, q);
            assert!(rows.windows(2).all(|w| w[0] < w[1]) && rows.iter().all(|&r| r < n));
            total += rows.len();
            for r in rows {
                hits[r] += 1;
            }
        }
        let mean = total as f64 / steps as f64;
        // q·n = 50, with a standard error of sqrt(50·0.95/2000) ≈ 0.15.
        assert!((mean - 50.0).abs() < 1.0, "{mean}");
        // Each row's count is Binomial(2000, 0.05): mean 100, sd about 9.7.
        assert!(
            hits.iter().all(|&h| (40..=160).contains(&h)),
            "{:?}",
            hits.iter().max()
        );
        assert_eq!(
            poisson_rows(&noise, 3, 9, n, q),
            poisson_rows(&noise, 3, 9, n, q)
        );
        assert_ne!(
            poisson_rows(&noise, 3, 9, n, q),
            poisson_rows(&noise, 3, 10, n, q)
        );
        assert_eq!(
            poisson_rows(&noise, 0, 0, 10, 1.0),
            (0..10).collect::<Vec<_>>()
        );
    }
}
