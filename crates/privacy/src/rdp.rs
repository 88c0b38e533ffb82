//! Rényi differential privacy of the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019,
//! "Rényi Differential Privacy of the Sampled Gaussian Mechanism", section 3.3), computed as
//! Opacus's `accountants/analysis/rdp.py` computes it, so that the two agree to rounding.
//!
//! One step of DP-SGD adds `N(0, σ²C²)` to a sum of gradients each clipped to norm C, over a
//! batch in which each row took part independently with probability q. Its RDP at order α is
//! `ln(A_α) / (α − 1)`, where `A_α` is a moment of the privacy loss: a finite sum for integer α,
//! two converging series for fractional α. Both are summed in log space, since their terms span
//! hundreds of orders of magnitude.

use crate::erfc::log_erfc;
use crate::PrivacyError;

/// Opacus's `RDPAccountant.DEFAULT_ALPHAS`: 1.1, 1.2, …, 10.9, then 12, 13, …, 63.
///
/// Small orders give the best ε for large ε budgets and vice versa; the list's ends are where a
/// caller should warn (see [`Spent::edge`](crate::Spent::edge)). The fractional orders are built
/// as Opacus builds them (`1 + x / 10`), so 2.0, 3.0, … are exact integers and take the integer
/// path, as in Opacus.
pub fn default_orders() -> Vec<f64> {
    (1..100)
        .map(|x| 1.0 + f64::from(x) / 10.0)
        .chain((12..64).map(f64::from))
        .collect()
}

/// The RDP of `steps` compositions of the sampled Gaussian mechanism with sampling rate
/// `sample_rate` (q) and noise multiplier `noise_multiplier` (σ, the noise's standard deviation
/// over the clipping norm), at each of `orders`. An entry may be `+∞` (σ = 0: no privacy).
///
/// Special cases as in Opacus: q = 0 gives 0 (no row is ever used), σ = 0 gives +∞, q = 1 gives
/// the Gaussian mechanism's `α / (2σ²)`. Zero steps give 0 at every order whatever σ is (Opacus
/// gives NaN for σ = 0 there: nothing was released, so nothing leaked).
///
/// # Errors
/// A sample rate outside [0, 1], a noise multiplier that is negative or not finite, an empty
/// list of orders or an order that is not a finite number above 1: [`PrivacyError`]. The
/// fractional series never failed on inputs a training run can give; if it does not converge it
/// returns [`PrivacyError::Numerical`] instead of looping.
pub fn rdp_sampled_gaussian(
    sample_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    orders: &[f64],
) -> Result<Vec<f64>, PrivacyError> {
    check_sample_rate(sample_rate)?;
    check_noise_multiplier(noise_multiplier)?;
    check_orders(orders)?;
    if steps == 0 {
        return Ok(vec![0.0; orders.len()]);
    }
    // A u64 step count converts to f64 without overflow (at worst rounding past 2^53), and the
    // product saturates at +∞ rather than wrapping.
    let steps = steps as f64;
    orders
        .iter()
        .map(|&alpha| Ok(one_step(sample_rate, noise_multiplier, alpha)? * steps))
        .collect()
}

/// The RDP of one step at order `alpha` (inputs already checked).
fn one_step(q: f64, sigma: f64, alpha: f64) -> Result<f64, PrivacyError> {
    if q == 0.0 {
        return Ok(0.0);
    }
    if sigma == 0.0 {
        return Ok(f64::INFINITY);
    }
    if q == 1.0 {
        return Ok(alpha / (2.0 * sigma * sigma));
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_integer(q, sigma, alpha)
    } else {
        log_a_fractional(q, sigma, alpha).ok_or(PrivacyError::Numerical {
            order: alpha,
            sample_rate: q,
            noise_multiplier: sigma,
        })?
    };
    Ok(log_a / (alpha - 1.0))
}

/// `ln A_α` for integer α: `A_α = Σ_{i=0..α} C(α, i) qⁱ (1−q)^{α−i} exp((i² − i) / (2σ²))`.
fn log_a_integer(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (log_q, log_1mq) = (q.ln(), (-q).ln_1p());
    let two_var = 2.0 * sigma * sigma;
    let mut log_a = f64::NEG_INFINITY;
    // ln C(α, i), updated term by term: C(α, i) = C(α, i−1)·(α − i + 1)/i.
    let mut log_binom = 0.0;
    let mut i = 0.0;
    while i <= alpha {
        if i > 0.0 {
            log_binom += (alpha - i + 1.0).ln() - i.ln();
        }
        let term = log_binom + i * log_q + (alpha - i) * log_1mq + (i * i - i) / two_var;
        log_a = log_add(log_a, term);
        i += 1.0;
    }
    log_a
}

/// `ln A_α` for fractional α: the integral of the privacy loss split at
/// `z₀ = σ² ln(1/q − 1) + ½` into two series in the generalised binomial coefficients
/// `C(α, i)`, whose signs alternate past i > α; each term carries a normal tail
/// `½ erfc(·/(√2σ))`. Summed until both terms fall 30 nats below 1, as Opacus does; `None` if
/// the partial sums cancel below zero or the series has not ended after a million terms.
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> Option<f64> {
    let (log_q, log_1mq) = (q.ln(), (-q).ln_1p());
    let two_var = 2.0 * sigma * sigma;
    let root2_sigma = std::f64::consts::SQRT_2 * sigma;
    let z0 = sigma * sigma * (log_1mq - log_q) + 0.5;
    let log_half = -std::f64::consts::LN_2;
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    // ln |C(α, i)| and the sign of C(α, i).
    let (mut log_coef, mut positive) = (0.0, true);
    for n in 0..1_000_000u32 {
        let i = f64::from(n);
        if n > 0 {
            let factor = alpha - i + 1.0;
            log_coef += factor.abs().ln() - i.ln();
            if factor < 0.0 {
                positive = !positive;
            }
        }
        let j = alpha - i;
        let log_t0 = log_coef + i * log_q + j * log_1mq;
        let log_t1 = log_coef + j * log_q + i * log_1mq;
        let log_e0 = log_half + log_erfc((i - z0) / root2_sigma);
        let log_e1 = log_half + log_erfc((z0 - j) / root2_sigma);
        let log_s0 = log_t0 + (i * i - i) / two_var + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        if positive {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0)?;
            log_a1 = log_sub(log_a1, log_s1)?;
        }
        if log_s0.max(log_s1) < -30.0 {
            return Some(log_add(log_a0, log_a1));
        }
    }
    None
}

/// `ln(eˣ + eʸ)`.
fn log_add(x: f64, y: f64) -> f64 {
    let (lo, hi) = if x < y { (x, y) } else { (y, x) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    (lo - hi).exp().ln_1p() + hi
}

/// `ln(eˣ − eʸ)`, or `None` when y > x (the difference would be negative).
fn log_sub(x: f64, y: f64) -> Option<f64> {
    if x < y {
        return None;
    }
    if y == f64::NEG_INFINITY {
        return Some(x);
    }
    if x == y {
        return Some(f64::NEG_INFINITY);
    }
    let gap = (x - y).exp_m1();
    // Past ~709 nats `e^{x−y} − 1` overflows, and ln of it is x − y to every digit.
    Some(if gap.is_finite() { gap.ln() + y } else { x })
}

/// q must be a probability.
pub(crate) fn check_sample_rate(q: f64) -> Result<(), PrivacyError> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(PrivacyError::InvalidValue {
            name: "sample_rate",
            value: q,
            reason: "must be a probability in [0, 1]",
        })
    }
}

/// σ must be a finite number ≥ 0 (0 means no noise: ε = ∞).
pub(crate) fn check_noise_multiplier(sigma: f64) -> Result<(), PrivacyError> {
    if sigma.is_finite() && sigma >= 0.0 {
        Ok(())
    } else {
        Err(PrivacyError::InvalidValue {
            name: "noise_multiplier",
            value: sigma,
            reason: "must be a finite number >= 0",
        })
    }
}

/// At least one order, each finite and above 1 (RDP of order 1 is the KL divergence, which the
/// conversion to (ε, δ) divides by zero at).
pub(crate) fn check_orders(orders: &[f64]) -> Result<(), PrivacyError> {
    if orders.is_empty() {
        return Err(PrivacyError::Orders("list is empty".into()));
    }
    match orders.iter().find(|a| !(a.is_finite() && **a > 1.0)) {
        Some(&bad) => Err(PrivacyError::InvalidValue {
            name: "order",
            value: bad,
            reason: "every RDP order must be a finite number above 1",
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_orders_are_opacus_s() {
        let orders = default_orders();
        assert_eq!(orders.len(), 99 + 52);
        assert_eq!((orders[0], orders[98], orders[99]), (1.1, 10.9, 12.0));
        assert_eq!(*orders.last().unwrap(), 63.0);
        // Python's `1 + 30 / 10.0` is exactly 4.0, so it takes the integer path there too.
        assert_eq!(orders[29], 4.0);
    }

    #[test]
    fn log_space_arithmetic() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(log_add(2f64.ln(), 3f64.ln()), 5f64.ln()));
        assert_eq!(log_add(f64::NEG_INFINITY, 1.5), 1.5);
        assert!(close(log_sub(5f64.ln(), 3f64.ln()).unwrap(), 2f64.ln()));
        assert_eq!(log_sub(1.0, 1.0), Some(f64::NEG_INFINITY));
        assert_eq!(log_sub(1.0, f64::NEG_INFINITY), Some(1.0));
        assert_eq!(log_sub(1.0, 2.0), None);
        assert_eq!(log_sub(1000.0, 1.0), Some(1000.0));
    }

    #[test]
    fn the_special_cases() {
        let orders = [1.5, 2.0, 32.0];
        assert_eq!(
            rdp_sampled_gaussian(0.0, 1.0, 10, &orders).unwrap(),
            [0.0; 3]
        );
        assert!(rdp_sampled_gaussian(0.1, 0.0, 10, &orders)
            .unwrap()
            .iter()
            .all(|r| *r == f64::INFINITY));
        // The Gaussian mechanism: α / (2σ²) per step.
        assert_eq!(
            rdp_sampled_gaussian(1.0, 2.0, 3, &orders).unwrap(),
            [3.0 * 1.5 / 8.0, 3.0 * 2.0 / 8.0, 3.0 * 32.0 / 8.0]
        );
        assert_eq!(
            rdp_sampled_gaussian(0.1, 0.0, 0, &orders).unwrap(),
            [0.0; 3]
        );
        // u64::MAX steps: a large but finite number, not an overflow.
        let huge = rdp_sampled_gaussian(0.01, 1.0, u64::MAX, &orders).unwrap();
        assert!(huge.iter().all(|r| r.is_finite() && *r > 1e15), "{huge:?}");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let orders = default_orders();
        for q in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                rdp_sampled_gaussian(q, 1.0, 1, &orders),
                Err(PrivacyError::InvalidValue {
                    name: "sample_rate",
                    ..
                })
            ));
        }
        for sigma in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                rdp_sampled_gaussian(0.1, sigma, 1, &orders),
                Err(PrivacyError::InvalidValue {
                    name: "noise_multiplier",
                    ..
                })
            ));
        }
        for bad in [1.0, 0.5, f64::NAN, f64::INFINITY, -3.0] {
            assert!(matches!(
                rdp_sampled_gaussian(0.1, 1.0, 1, &[2.0, bad]),
                Err(PrivacyError::InvalidValue { name: "order", .. })
            ));
        }
        assert!(matches!(
            rdp_sampled_gaussian(0.1, 1.0, 1, &[]),
            Err(PrivacyError::Orders(_))
        ));
    }
}
