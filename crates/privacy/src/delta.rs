//! δ: the default for a table of n rows, and the check that a chosen δ is below 1/n.
//!
//! (ε, δ)-DP allows the guarantee to fail outright with probability δ. A mechanism that publishes
//! one row chosen at random, whole, is (0, 1/n)-DP, so a δ near 1/n promises nothing; the usual
//! advice is δ well below 1/n.

use crate::conversion::check_delta_range;
use crate::PrivacyError;

/// `1e-1, 1e-2, …, 1e-20`, each the f64 nearest its decimal (a u64 has at most 20 digits).
const POWERS: [f64; 20] = [
    1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
    1e-16, 1e-17, 1e-18, 1e-19, 1e-20,
];

/// The default δ for `rows` training rows: the largest power of ten strictly below 1/n, i.e.
/// `10^-d` where d is the number of decimal digits of n (60,000 rows → 1e-5, 100,000 → 1e-6).
///
/// Chosen over `1/(10n)` because it is the convention of the published DP-SGD results (δ = 1e-5
/// for MNIST's 60,000 rows in Abadi et al. 2016, Opacus's and TF Privacy's tutorials), so a
/// default run is comparable to them, and because a round number reads better in a log line.
/// It is always below 1/n and never less than 1/(10n).
///
/// # Errors
/// Zero rows: [`PrivacyError::InvalidCount`].
pub fn default_delta(rows: u64) -> Result<f64, PrivacyError> {
    if rows == 0 {
        return Err(PrivacyError::InvalidCount {
            name: "rows",
            value: 0,
            reason: "a private run needs at least one training row".into(),
        });
    }
    let digits = rows.ilog10() as usize + 1;
    Ok(POWERS[digits - 1])
}

/// Checks a user's δ for `rows` training rows: a probability in (0, 1) and below 1/n.
///
/// # Errors
/// δ not in (0, 1): [`PrivacyError::InvalidValue`]; zero rows:
/// [`PrivacyError::InvalidCount`]; δ ≥ 1/n: [`PrivacyError::DeltaTooLarge`], which names the
/// default to suggest.
pub fn check_delta(delta: f64, rows: u64) -> Result<(), PrivacyError> {
    let default = default_delta(rows)?;
    check_delta_range(delta)?;
    if delta >= 1.0 / rows as f64 {
        return Err(PrivacyError::DeltaTooLarge {
            delta,
            rows,
            default,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_largest_power_of_ten_below_one_over_n() {
        for (rows, expected) in [
            (1, 1e-1),
            (9, 1e-1),
            (10, 1e-2),
            (60_000, 1e-5),
            (99_999, 1e-5),
            (100_000, 1e-6),
            (u64::MAX, 1e-20),
        ] {
            let delta = default_delta(rows).unwrap();
            assert_eq!(delta, expected, "{rows} rows");
            assert!(delta < 1.0 / rows as f64 && delta >= 0.1 / rows as f64);
            check_delta(delta, rows).unwrap();
        }
        assert!(matches!(
            default_delta(0),
            Err(PrivacyError::InvalidCount { name: "rows", .. })
        ));
    }

    #[test]
    fn a_delta_at_or_above_one_over_n_is_refused_with_the_default() {
        assert_eq!(
            check_delta(1e-4, 10_000),
            Err(PrivacyError::DeltaTooLarge {
                delta: 1e-4,
                rows: 10_000,
                default: 1e-5
            })
        );
        assert!(check_delta(0.5, 3).is_err());
        check_delta(9.9e-5, 10_000).unwrap();
        for bad in [0.0, -1e-6, f64::NAN, f64::INFINITY, 1.0] {
            assert!(matches!(
                check_delta(bad, 100),
                Err(PrivacyError::InvalidValue { name: "delta", .. })
            ));
        }
    }
}
