//! `ln erfc(x)` for any real x, accurate where `erfc` itself underflows.
//!
//! The series for fractional orders (`rdp.rs`) multiplies tiny tails of the normal distribution
//! by huge exponentials, so it needs the logarithm of the tail far past where `erfc(x)` rounds to
//! zero in f64 (x ≈ 27). Opacus calls scipy's `log_ndtr`; Rust's standard library has no `erfc`,
//! and two textbook expansions cover the line with full f64 accuracy in a few dozen terms, so we
//! compute it here rather than add a special-functions crate.

/// Where the continued fraction takes over from the power series: below it the series' sum
/// `1 − erf(x)` loses at most a few digits to cancellation (erfc(3) ≈ 2e-5, so ~5e-12 relative),
/// above it the continued fraction converges in under a hundred terms.
const SWITCH: f64 = 3.0;

/// `ln erfc(x)`.
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x == f64::INFINITY {
        f64::NEG_INFINITY
    } else if x == f64::NEG_INFINITY {
        std::f64::consts::LN_2
    } else if x >= SWITCH {
        // erfc(x) = e^{-x²} / (√π · F(x)): keep the e^{-x²} in log space, where it cannot
        // underflow.
        -x * x - 0.5 * std::f64::consts::PI.ln() - continued_fraction(x).ln()
    } else if x <= -SWITCH {
        // erfc(x) = 2 − erfc(−x), and erfc(−x) < 2.3e-5 here.
        let tail = (-x * x).exp() / (std::f64::consts::PI.sqrt() * continued_fraction(-x));
        std::f64::consts::LN_2 + (-tail / 2.0).ln_1p()
    } else {
        (1.0 - erf_series(x)).ln()
    }
}

/// `erf(x)` for |x| < 3 from `erf(x) = 2/√π · e^{-x²} · Σ_n 2ⁿ x^{2n+1} / (1·3·…·(2n+1))`,
/// whose terms all have the sign of x, so the sum does not cancel.
fn erf_series(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let (mut term, mut sum) = (x, x);
    let mut n = 0.0;
    // At |x| = 3 the terms peak near n = 9 and fall below 1e-17 of the sum by n ≈ 60.
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= two_x2 / (2.0 * n + 1.0);
        sum += term;
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
}

/// `F(x) = x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))`, so that `erfc(x) = e^{-x²}/(√π F(x))`
/// for x > 0 (Abramowitz & Stegun 7.1.14), by the modified Lentz method.
fn continued_fraction(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut f = x;
    let (mut c, mut d) = (x, 0.0);
    // At x = 3 it converges to f64 precision in about 60 terms; the cap only bounds the loop.
    for k in 1..=500 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From scipy 1.17.1, as Opacus computes it:
    /// `math.log(2) + scipy.special.log_ndtr(-x * 2**0.5)`.
    const SCIPY: [(f64, f64); 23] = [
        (-30.0, std::f64::consts::LN_2), // scipy prints 0.6931471805599453
        (-5.0, 0.6931471805591766),
        (-3.0, 0.6931361352504468),
        (-2.5, 0.6929436838471712),
        (-1.0, 0.6112323176780705),
        (-0.1, 0.10657640058652262),
        (0.0, 0.0),
        (0.5, -0.7350111298370848),
        (1.0, -1.849605509933249),
        (2.0, -5.36494126461664),
        (2.5, -7.806815272727267),
        (2.9, -10.099554065545236),
        (3.0, -10.720363041981116),
        (3.1, -11.360319632044744),
        (4.0, -17.987778312103014),
        (5.0, -27.200889545537446),
        (7.0, -51.52823109371016),
        (10.0, -102.87988902484493),
        (20.0, -403.5693433341044),
        (27.0, -732.8688865078977),
        (30.0, -903.9741171106442),
        (100.0, -10005.177585122668),
        (1e5, -10000000012.085293),
    ];

    #[test]
    fn log_erfc_matches_scipy_across_the_line() {
        for (x, expected) in SCIPY {
            let got = log_erfc(x);
            let tol = 1e-11 * expected.abs().max(1e-3);
            assert!(
                (got - expected).abs() <= tol,
                "log_erfc({x}) = {got}, scipy {expected}"
            );
        }
    }

    #[test]
    fn both_expansions_agree_where_they_meet() {
        for x in [2.99, 3.0, 3.01] {
            let series = (1.0 - erf_series(x)).ln();
            let fraction = -x * x - 0.5 * std::f64::consts::PI.ln() - continued_fraction(x).ln();
            assert!(
                (series - fraction).abs() < 1e-10,
                "{x}: {series} against {fraction}"
            );
        }
        assert!(log_erfc(f64::NAN).is_nan());
        assert_eq!(log_erfc(f64::INFINITY), f64::NEG_INFINITY);
        assert_eq!(log_erfc(f64::NEG_INFINITY), std::f64::consts::LN_2);
    }
}
