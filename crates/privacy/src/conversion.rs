//! From Rényi DP at a list of orders to an (ε, δ) guarantee.
//!
//! The conversion is Balle, Barthe, Gaboardi, Hsu & Sato 2020 ("Hypothesis testing
//! interpretations and Rényi differential privacy", theorem 21), the one Opacus's
//! `get_privacy_spent` uses today:
//! `ε = min_α [RDP(α) + ln((α − 1)/α) − (ln δ + ln α)/(α − 1)]`. The older
//! `ε = min_α [RDP(α) − ln δ/(α − 1)]` (Mironov 2017) is never smaller, which is why ε values in
//! older papers and READMEs come out larger for the same run.

use serde::{Deserialize, Serialize};

use crate::rdp::check_orders;
use crate::PrivacyError;

/// Which end of the list of orders the best one sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderEdge {
    /// The smallest order: a larger ε budget or more steps than the list suits; orders closer
    /// to 1 might give a smaller ε.
    Smallest,
    /// The largest order: a very small ε; larger orders might give a smaller ε.
    Largest,
}

/// The privacy spent: (ε, δ), and the RDP order whose bound gave ε.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// ε at [`delta`](Self::delta); `+∞` when there is no guarantee (no noise).
    pub epsilon: f64,
    /// δ, as given.
    pub delta: f64,
    /// The order α at which the bound is tightest.
    pub order: f64,
    /// Set when [`order`](Self::order) is the first or last of the orders tried: the true
    /// optimum may lie outside the list, so ε is a valid but possibly loose bound, and the
    /// caller should say so (Opacus warns). Never set when ε is infinite.
    pub edge: Option<OrderEdge>,
}

/// ε at `delta` from the RDP values `rdp` at `orders` (the same length, as
/// [`rdp_sampled_gaussian`](crate::rdp_sampled_gaussian) returns them), with the best order.
///
/// Ties go to the first order, and an order whose RDP is NaN is skipped, as numpy's `nanargmin`
/// does in Opacus. ε is not clamped at 0 (it is positive for every δ below 1/n with n ≥ 2).
///
/// # Errors
/// δ not in (0, 1), orders that are empty, not finite or not above 1, or `rdp` of another
/// length: [`PrivacyError`].
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> Result<Spent, PrivacyError> {
    check_orders(orders)?;
    check_delta_range(delta)?;
    if orders.len() != rdp.len() {
        return Err(PrivacyError::Orders(format!(
            "and the RDP values differ in length: {} orders, {} values",
            orders.len(),
            rdp.len()
        )));
    }
    let log_delta = delta.ln();
    let mut best: Option<(usize, f64)> = None;
    for (i, (&alpha, &r)) in orders.iter().zip(rdp).enumerate() {
        let eps = r - (log_delta + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln();
        if eps.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| eps < b) {
            best = Some((i, eps));
        }
    }
    let Some((i, epsilon)) = best else {
        // Every order NaN: no bound (Opacus returns ε = ∞ here too).
        return Ok(Spent {
            epsilon: f64::INFINITY,
            delta,
            order: orders[0],
            edge: None,
        });
    };
    let edge = if epsilon.is_infinite() {
        None
    } else if i == 0 {
        Some(OrderEdge::Smallest)
    } else if i == orders.len() - 1 {
        Some(OrderEdge::Largest)
    } else {
        None
    };
    Ok(Spent {
        epsilon,
        delta,
        order: orders[i],
        edge,
    })
}

/// δ must be a probability strictly between 0 and 1 (δ = 0 would need pure DP, which no
/// Gaussian mechanism gives; the conversion takes ln δ).
pub(crate) fn check_delta_range(delta: f64) -> Result<(), PrivacyError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(PrivacyError::InvalidValue {
            name: "delta",
            value: delta,
            reason: "must be a probability strictly between 0 and 1",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_order_and_its_edge() {
        let orders = [2.0, 4.0, 8.0];
        // With zero RDP the conversion's own terms decrease with α: the last order wins.
        let spent = epsilon_from_rdp(&orders, &[0.0; 3], 1e-5).unwrap();
        assert_eq!((spent.order, spent.edge), (8.0, Some(OrderEdge::Largest)));
        // ε at α = 8: 0 − (ln 1e-5 + ln 8)/7 + ln(7/8).
        let expected = -((1e-5f64).ln() + 8f64.ln()) / 7.0 + (7.0f64 / 8.0).ln();
        assert!((spent.epsilon - expected).abs() < 1e-12);
        let spent = epsilon_from_rdp(&orders, &[0.0, 10.0, 100.0], 1e-5).unwrap();
        assert_eq!((spent.order, spent.edge), (2.0, Some(OrderEdge::Smallest)));
        let spent = epsilon_from_rdp(&orders, &[5.0, 0.5, 100.0], 1e-5).unwrap();
        assert_eq!((spent.order, spent.edge), (4.0, None));
    }

    #[test]
    fn infinite_and_nan_rdp() {
        let orders = [2.0, 4.0, 8.0];
        let inf = epsilon_from_rdp(&orders, &[f64::INFINITY; 3], 1e-5).unwrap();
        assert_eq!((inf.epsilon, inf.edge), (f64::INFINITY, None));
        let nan = epsilon_from_rdp(&orders, &[f64::NAN; 3], 1e-5).unwrap();
        assert_eq!(nan.epsilon, f64::INFINITY);
        let skip = epsilon_from_rdp(&orders, &[f64::NAN, 1.0, f64::NAN], 1e-5).unwrap();
        assert_eq!(skip.order, 4.0);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        for delta in [0.0, 1.0, -1e-5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                epsilon_from_rdp(&[2.0], &[1.0], delta),
                Err(PrivacyError::InvalidValue { name: "delta", .. })
            ));
        }
        assert!(matches!(
            epsilon_from_rdp(&[2.0, 3.0], &[1.0], 1e-5),
            Err(PrivacyError::Orders(_))
        ));
        assert!(matches!(
            epsilon_from_rdp(&[], &[], 1e-5),
            Err(PrivacyError::Orders(_))
        ));
    }
}
