//! The accountant against published values, and the shape every ε must have: less with more
//! noise, more with more steps or a larger sampling rate.

use burnfit_privacy::{
    default_orders, rdp_sampled_gaussian, OrderEdge, PrivacyError, Sampling, Schedule,
    EPSILON_TOLERANCE,
};
use proptest::prelude::*;

fn assert_rel(actual: f64, expected: f64, rtol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= rtol * expected.abs(),
        "{what}: got {actual}, expected {expected}"
    );
}

/// TF Privacy's `rdp_accountant_test.py` (`test_compute_eps_tf_mnist`-style settings), and
/// Opacus's `RDPAccountant`, which agree:
/// ```python
/// from opacus.accountants.analysis import rdp
/// alphas = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
/// r = rdp.compute_rdp(q=150 / 60000, noise_multiplier=1.3, steps=6000, orders=alphas)
/// rdp.get_privacy_spent(orders=alphas, rdp=r, delta=1e-5)  # (0.7242234026109339, 19.0)
/// r = rdp.compute_rdp(q=100 / 100000, noise_multiplier=1.0, steps=30000, orders=alphas)
/// rdp.get_privacy_spent(orders=alphas, rdp=r, delta=1e-7)  # (1.4154988495444845, 13.0)
/// ```
#[test]
fn the_published_reference_values() {
    let mnist = Schedule::new(Sampling::Poisson, 60_000, 150).unwrap();
    let steps = mnist.steps_for_epochs(15);
    assert_eq!(steps, 6000);
    let spent = mnist.epsilon(1.3, steps, 1e-5).unwrap();
    assert_rel(spent.epsilon, 0.7242234026, 1e-6, "N=60000, B=150, σ=1.3");
    assert_eq!((spent.order, spent.edge, spent.delta), (19.0, None, 1e-5));

    let large = Schedule::new(Sampling::Poisson, 100_000, 100).unwrap();
    let spent = large
        .epsilon(1.0, large.steps_for_epochs(30), 1e-7)
        .unwrap();
    assert_rel(spent.epsilon, 1.41549885, 1e-6, "N=100000, B=100, σ=1");
    assert_eq!(spent.order, 13.0);
}

/// Fixed-size batches compose the Gaussian mechanism once per epoch started: ε has the closed
/// form `min_α [k·α/(2σ²) + ln((α−1)/α) − (ln δ + ln α)/(α−1)]` for k epochs.
#[test]
fn shuffled_batches_count_epochs_of_the_plain_gaussian_mechanism() {
    let s = Schedule::new(Sampling::Shuffle, 1000, 300).unwrap();
    assert_eq!(s.steps_per_epoch(), 4);
    for (steps, epochs) in [(0, 0), (1, 1), (4, 1), (5, 2), (8, 2), (9, 3)] {
        assert_eq!(s.composition(steps).count, epochs, "{steps} steps");
        assert_eq!(s.composition(steps).sample_rate, 1.0);
    }
    let (sigma, delta) = (4.0, 1e-5);
    let spent = s.epsilon(sigma, 12, delta).unwrap();
    let closed_form = default_orders()
        .into_iter()
        .map(|a: f64| {
            3.0 * a / (2.0 * sigma * sigma) + ((a - 1.0) / a).ln()
                - (delta.ln() + a.ln()) / (a - 1.0)
        })
        .fold(f64::INFINITY, f64::min);
    assert_rel(spent.epsilon, closed_form, 1e-12, "3 epochs at σ = 4");
    // Without amplification the same run costs far more than under Poisson sampling.
    let poisson = Schedule::new(Sampling::Poisson, 1000, 300).unwrap();
    assert!(poisson.epsilon(sigma, 12, delta).unwrap().epsilon < spent.epsilon);
    assert_eq!(s.expected_batch_size(), 300.0);
}

#[test]
fn the_noise_search_reaches_the_target_from_below() {
    let mnist = Schedule::new(Sampling::Poisson, 60_000, 150).unwrap();
    for target in [0.7242234026, 1.0, 3.0, 8.0] {
        let sigma = mnist.noise_for_target_epsilon(target, 6000, 1e-5).unwrap();
        let eps = mnist.epsilon(sigma, 6000, 1e-5).unwrap().epsilon;
        assert!(
            eps < target && target - eps <= EPSILON_TOLERANCE,
            "target {target}: σ = {sigma} gives ε = {eps}"
        );
    }
    // The reference run's own ε asks for about its own σ.
    let sigma = mnist
        .noise_for_target_epsilon(0.7242234026, 6000, 1e-5)
        .unwrap();
    assert!((sigma - 1.3).abs() < 0.02, "{sigma}");

    let shuffled = Schedule::new(Sampling::Shuffle, 60_000, 150).unwrap();
    let sigma = shuffled.noise_for_target_epsilon(3.0, 6000, 1e-5).unwrap();
    let eps = shuffled.epsilon(sigma, 6000, 1e-5).unwrap().epsilon;
    assert!(
        eps < 3.0 && 3.0 - eps <= EPSILON_TOLERANCE,
        "{sigma}: {eps}"
    );
}

#[test]
fn a_target_below_what_the_conversion_costs_is_refused_with_what_was_reached() {
    let s = Schedule::new(Sampling::Poisson, 60_000, 150).unwrap();
    match s.noise_for_target_epsilon(0.05, 6000, 1e-5) {
        Err(PrivacyError::TargetUnreachable {
            target,
            reached,
            max_noise,
            ..
        }) => {
            assert_eq!(target, 0.05);
            assert!(reached > 0.05 && reached.is_finite(), "{reached}");
            assert!(max_noise <= burnfit_privacy::MAX_NOISE_MULTIPLIER);
        }
        other => panic!("{other:?}"),
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            s.noise_for_target_epsilon(bad, 6000, 1e-5),
            Err(PrivacyError::InvalidValue {
                name: "target_epsilon",
                ..
            })
        ));
    }
}

#[test]
fn no_noise_means_no_guarantee_and_the_edges_are_flagged() {
    let s = Schedule::new(Sampling::Poisson, 1000, 10).unwrap();
    let none = s.epsilon(0.0, 100, 1e-5).unwrap();
    assert_eq!((none.epsilon, none.edge), (f64::INFINITY, None));
    // Very little noise over many steps: the best order is the smallest.
    let loud = s.epsilon(0.3, 100_000, 1e-5).unwrap();
    assert_eq!((loud.order, loud.edge), (1.1, Some(OrderEdge::Smallest)));
    // A lot of noise, one step: the largest.
    let quiet = s.epsilon(50.0, 1, 1e-5).unwrap();
    assert_eq!((quiet.order, quiet.edge), (63.0, Some(OrderEdge::Largest)));
}

#[test]
fn bad_schedules_and_inputs_are_typed_errors() {
    for (rows, batch) in [(0, 1), (10, 0), (10, 11)] {
        assert!(matches!(
            Schedule::new(Sampling::Poisson, rows, batch),
            Err(PrivacyError::InvalidCount { .. })
        ));
    }
    let s = Schedule::new(Sampling::Shuffle, 10, 10).unwrap();
    assert!(s.epsilon(f64::NAN, 1, 1e-5).is_err());
    assert!(s.epsilon(1.0, 1, 2.0).is_err());
    assert!(s.epsilon_with_orders(1.0, 1, 1e-5, &[0.9]).is_err());
    // The largest step counts neither overflow nor panic.
    let huge = Schedule::new(Sampling::Poisson, u64::MAX, 1).unwrap();
    let spent = huge.epsilon(1.0, u64::MAX, 1e-20).unwrap();
    assert!(spent.epsilon.is_finite(), "{spent:?}");
    assert_eq!(huge.steps_for_epochs(u64::MAX), u64::MAX);
}

/// ε from the low-level functions, over a few orders (the proptests run hundreds of cases).
fn eps(q: f64, sigma: f64, steps: u64) -> f64 {
    let orders = [1.5, 2.0, 2.5, 4.0, 8.0, 16.0, 32.0, 63.0];
    let rdp = rdp_sampled_gaussian(q, sigma, steps, &orders).unwrap();
    burnfit_privacy::epsilon_from_rdp(&orders, &rdp, 1e-5)
        .unwrap()
        .epsilon
}

/// RDP at each order is monotone in each argument, so the minimum over orders is too; the
/// slack allows for the last digits of the fractional series.
fn no_more_than(a: f64, b: f64) -> bool {
    a <= b + 1e-9 * b.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn more_noise_never_costs_more(
        q in 1e-4f64..0.9, sigma in 0.4f64..6.0, more in 0.0f64..3.0, steps in 1u64..20_000
    ) {
        prop_assert!(no_more_than(eps(q, sigma + more, steps), eps(q, sigma, steps)));
    }

    #[test]
    fn more_steps_never_cost_less(
        q in 1e-4f64..0.9, sigma in 0.4f64..6.0, steps in 1u64..20_000, more in 0u64..20_000
    ) {
        prop_assert!(no_more_than(eps(q, sigma, steps), eps(q, sigma, steps + more)));
    }

    #[test]
    fn a_larger_sample_never_costs_less(
        q in 1e-4f64..0.9, factor in 1.0f64..1.1, sigma in 0.4f64..6.0, steps in 1u64..20_000
    ) {
        prop_assert!(no_more_than(eps(q, sigma, steps), eps((q * factor).min(1.0), sigma, steps)));
    }
}
