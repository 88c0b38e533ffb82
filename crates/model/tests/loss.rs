//! The losses against the seed's formulas (and cross-entropy against PyTorch's), evaluated
//! independently in f64, and their gradients against central finite differences.

mod common;

use burn::module::Param;
use burn::tensor::Tensor;
use burnfit_model::{
    bce_with_logits, mse, softmax_cross_entropy, Activation, Loss, MlpConfig, ModelError,
};
use common::{assert_close, cpu_devices, scalar, tensor2, to_vec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seed's `CE = −1/n Σ [y log ŷ + (1−y) log(1−ŷ)]` with ŷ = σ(z), in f64. `log ŷ` is
/// written `−ln(1 + e^{−z})` so that the reference itself stays exact at |z| = 50, where
/// `1 − σ(z)` rounds to 0 even in f64.
///
/// numpy: `-np.mean(y * -np.log1p(np.exp(-z)) + (1 - y) * -np.log1p(np.exp(z)))`
fn reference_bce(z: &[f32], y: &[f32]) -> f64 {
    let n = z.len() as f64;
    -z.iter()
        .zip(y)
        .map(|(&z, &y)| {
            let (z, y) = (z as f64, y as f64);
            let log_p = -(-z).exp().ln_1p();
            let log_1mp = -z.exp().ln_1p();
            y * log_p + (1.0 - y) * log_1mp
        })
        .sum::<f64>()
        / n
}

fn random_batch(rng: &mut StdRng, n: usize, scale: f32) -> (Vec<f32>, Vec<f32>) {
    let z = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
    let y = (0..n).map(|_| rng.random_range(0..2) as f32).collect();
    (z, y)
}

#[test]
fn bce_equals_the_seed_formula_on_random_logits() {
    let mut rng = StdRng::seed_from_u64(3);
    for (name, device) in cpu_devices() {
        for scale in [1.0f32, 8.0] {
            let (z, y) = random_batch(&mut rng, 64, scale);
            // The naive formula agrees with the reference where it is still exact.
            let naive: f64 = -z
                .iter()
                .zip(&y)
                .map(|(&z, &y)| {
                    let p = 1.0 / (1.0 + (-(z as f64)).exp());
                    y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln()
                })
                .sum::<f64>()
                / 64.0;
            let expected = reference_bce(&z, &y);
            assert!((naive - expected).abs() < 1e-9);
            let got = scalar(
                bce_with_logits(tensor2(&z, 64, 1, &device), tensor2(&y, 64, 1, &device)).unwrap(),
            );
            assert_close(&[got], &[expected], 1e-5, 1e-6, name);
        }
    }
}

#[test]
fn bce_is_finite_and_exact_at_extreme_logits() {
    // z = ±50 with both labels: the confident-right cases cost ~2e-22, the wrong ones cost 50.
    let z = [50.0f32, -50.0, 50.0, -50.0, 0.0, 20.0];
    let y = [1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0];
    let expected = reference_bce(&z, &y); // (0 + 0 + 50 + 50 + ln 2 + 20.000000002) / 6
    for (name, device) in cpu_devices() {
        let got = scalar(
            bce_with_logits(tensor2(&z, 6, 1, &device), tensor2(&y, 6, 1, &device)).unwrap(),
        );
        assert!(got.is_finite(), "{name}: {got}");
        assert_close(&[got], &[expected], 1e-6, 1e-6, name);
    }
}

#[test]
fn mse_equals_the_seed_formula() {
    let mut rng = StdRng::seed_from_u64(4);
    for (name, device) in cpu_devices() {
        let p: Vec<f32> = (0..40).map(|_| rng.random_range(-3.0..3.0)).collect();
        let y: Vec<f32> = (0..40).map(|_| rng.random_range(-3.0..3.0)).collect();
        // numpy: np.mean((y - p) ** 2)
        let expected = p
            .iter()
            .zip(&y)
            .map(|(&p, &y)| (y as f64 - p as f64).powi(2))
            .sum::<f64>()
            / 40.0;
        let got = scalar(mse(tensor2(&p, 40, 1, &device), tensor2(&y, 40, 1, &device)).unwrap());
        assert_close(&[got], &[expected], 1e-5, 1e-7, name);
    }
}

#[test]
fn mismatched_shapes_are_errors() {
    for (_, device) in cpu_devices() {
        let a = tensor2(&[0.0; 4], 4, 1, &device);
        let b = tensor2(&[0.0; 3], 3, 1, &device);
        for err in [
            bce_with_logits(a.clone(), b.clone()).unwrap_err(),
            mse(a.clone(), b.clone()).unwrap_err(),
        ] {
            assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");
            assert!(err.to_string().contains("[4, 1]"), "{err}");
        }
    }
}

#[test]
fn bce_gradient_wrt_logits_is_sigmoid_minus_label_over_n() {
    let z = [50.0f32, -50.0, 0.5, -2.0];
    let y = [0.0f32, 0.0, 1.0, 1.0];
    for (name, device) in cpu_devices() {
        let ad = device.clone().autodiff();
        let logits = tensor2(&z, 4, 1, &ad).require_grad();
        let grads = bce_with_logits(logits.clone(), tensor2(&y, 4, 1, &ad))
            .unwrap()
            .backward();
        let g: Vec<f64> = to_vec(logits.grad(&grads).unwrap())
            .into_iter()
            .map(f64::from)
            .collect();
        let expected: Vec<f64> = z
            .iter()
            .zip(&y)
            .map(|(&z, &y)| (1.0 / (1.0 + (-(z as f64)).exp()) - y as f64) / 4.0)
            .collect();
        assert_close(&g, &expected, 1e-5, 1e-7, name);
    }
}

/// Backprop through the whole network against `(J(θ + h) − J(θ − h)) / 2h` for every weight
/// of the first layer, for every loss. tanh keeps J smooth so the difference quotient is exact
/// to O(h²).
#[test]
fn network_gradients_match_central_finite_differences() {
    let mut rng = StdRng::seed_from_u64(5);
    let x: Vec<f32> = (0..8 * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<f32> = (0..8).map(|_| rng.random_range(0..2) as f32).collect();
    let config = MlpConfig::new(3)
        .with_hidden(vec![4, 3])
        .with_activation(Activation::Tanh);
    // Cross-entropy over a 3-wide head, one class per row.
    let classes: Vec<f32> = (0..8)
        .flat_map(|r| (0..3).map(move |j| f32::from(u8::from(j == r % 3))))
        .collect();
    for loss in [Loss::Bce, Loss::Mse, Loss::CrossEntropy] {
        let (config, y, width) = match loss {
            Loss::CrossEntropy => (config.clone().with_output(3), &classes, 3),
            _ => (config.clone(), &y, 1),
        };
        for (name, device) in cpu_devices() {
            let ad = device.clone().autodiff();
            let mlp = config.init(&ad, 9).unwrap();
            let objective = |w: Vec<f32>| {
                let mut m = config.init(&device, 9).unwrap();
                m.layers[0].weight = Param::from_tensor(tensor2(&w, 3, 4, &device));
                scalar(
                    loss.compute(
                        m.forward(tensor2(&x, 8, 3, &device)),
                        tensor2(y, 8, width, &device),
                    )
                    .unwrap(),
                )
            };
            let grads = loss
                .compute(
                    mlp.forward(tensor2(&x, 8, 3, &ad)),
                    tensor2(y, 8, width, &ad),
                )
                .unwrap()
                .backward();
            let analytic: Vec<f64> = to_vec(mlp.layers[0].weight.val().grad(&grads).unwrap())
                .into_iter()
                .map(f64::from)
                .collect();
            let w0 = to_vec(mlp.layers[0].weight.val());
            let h = 1e-2f32;
            let numeric: Vec<f64> = (0..w0.len())
                .map(|i| {
                    let (mut plus, mut minus) = (w0.clone(), w0.clone());
                    plus[i] += h;
                    minus[i] -= h;
                    (objective(plus) - objective(minus)) / (2.0 * h as f64)
                })
                .collect();
            assert_close(&analytic, &numeric, 2e-2, 2e-4, &format!("{name} {loss:?}"));
            let _: Tensor<2> = mlp.layers[0].weight.val();
        }
    }
}

#[test]
fn weighted_losses_are_the_mean_of_weight_times_row_loss() {
    let mut rng = StdRng::seed_from_u64(11);
    let (z, y) = random_batch(&mut rng, 32, 6.0);
    let w: Vec<f32> = (0..32)
        .map(|i| if i % 3 == 0 { 4.0 } else { 0.5 })
        .collect();
    for (name, device) in cpu_devices() {
        let t = |v: &[f32]| tensor2(v, v.len(), 1, &device);
        // Keras's reduction: Σ wᵢ·lᵢ / n, each row's loss from the seed's formula.
        let want_bce = z
            .iter()
            .zip(&y)
            .zip(&w)
            .map(|((&z, &y), &w)| w as f64 * reference_bce(&[z], &[y]))
            .sum::<f64>()
            / 32.0;
        let got = Loss::Bce.compute_weighted(t(&z), t(&y), t(&w)).unwrap();
        assert_close(
            &[scalar(got)],
            &[want_bce],
            1e-5,
            1e-7,
            &format!("{name} weighted bce"),
        );
        let want_mse = z
            .iter()
            .zip(&y)
            .zip(&w)
            .map(|((&z, &y), &w)| w as f64 * (z as f64 - y as f64).powi(2))
            .sum::<f64>()
            / 32.0;
        let got = Loss::Mse.compute_weighted(t(&z), t(&y), t(&w)).unwrap();
        assert_close(
            &[scalar(got)],
            &[want_mse],
            1e-5,
            1e-7,
            &format!("{name} weighted mse"),
        );
        // Weights of one are the plain loss.
        let ones = vec![1.0; 32];
        let plain = scalar(Loss::Bce.compute(t(&z), t(&y)).unwrap());
        let weighted = scalar(Loss::Bce.compute_weighted(t(&z), t(&y), t(&ones)).unwrap());
        assert_eq!(plain, weighted, "{name}");
        assert!(Loss::Bce
            .compute_weighted(t(&z), t(&y), t(&ones[..31]))
            .is_err());
    }
}

#[test]
fn per_row_losses_are_each_rows_own_and_average_to_the_batch_loss() {
    let mut rng = StdRng::seed_from_u64(12);
    // 8 rows of 3 outputs: a row's loss is the mean over its outputs.
    let (z, y) = random_batch(&mut rng, 24, 6.0);
    for (name, device) in cpu_devices() {
        for loss in [Loss::Bce, Loss::Mse] {
            let rows = to_vec(
                loss.per_row(tensor2(&z, 8, 3, &device), tensor2(&y, 8, 3, &device))
                    .unwrap(),
            );
            assert_eq!(rows.len(), 8);
            let want: Vec<f64> = (0..8)
                .map(|r| {
                    let (zr, yr) = (&z[3 * r..3 * r + 3], &y[3 * r..3 * r + 3]);
                    match loss {
                        Loss::Bce => reference_bce(zr, yr),
                        Loss::Mse => {
                            zr.iter()
                                .zip(yr)
                                .map(|(&z, &y)| (z as f64 - y as f64).powi(2))
                                .sum::<f64>()
                                / 3.0
                        }
                        Loss::CrossEntropy => unreachable!("not in this loop"),
                    }
                })
                .collect();
            let got: Vec<f64> = rows.iter().map(|&v| v as f64).collect();
            assert_close(&got, &want, 1e-5, 1e-7, &format!("{name} {loss:?} rows"));
            let batch = scalar(
                loss.compute(tensor2(&z, 8, 3, &device), tensor2(&y, 8, 3, &device))
                    .unwrap(),
            );
            let mean = got.iter().sum::<f64>() / 8.0;
            assert!((mean - batch).abs() < 1e-5, "{name} {loss:?}");
            assert!(loss
                .per_row(tensor2(&z, 8, 3, &device), tensor2(&y[..21], 7, 3, &device))
                .is_err());
        }
    }
}

/// Four rows of three logits (the last with |z| = 50, where `softmax` underflows to 0 in f32)
/// and their classes.
const CE_LOGITS: [f32; 12] = [
    2.0, 1.0, 0.1, 0.5, 2.5, -1.0, -3.0, 0.0, 3.0, 50.0, -50.0, 0.0,
];
const CE_CLASSES: [usize; 4] = [0, 2, 2, 1];

/// One-hot rows for `classes`, smoothed as Keras's `label_smoothing` does:
/// `(1 − ε)·onehot + ε/k`.
fn one_hot(classes: &[usize], k: usize, smoothing: f32) -> Vec<f32> {
    classes
        .iter()
        .flat_map(|&c| {
            (0..k).map(move |j| {
                (1.0 - smoothing) * f32::from(u8::from(j == c)) + smoothing / k as f32
            })
        })
        .collect()
}

#[test]
fn cross_entropy_equals_pytorch_on_fixed_logits() {
    // PyTorch 2, float64:
    //   z = torch.tensor([[2,1,.1],[.5,2.5,-1],[-3,0,3],[50,-50,0]], dtype=torch.float64)
    //   y = torch.tensor([0,2,2,1])
    //   F.cross_entropy(z, y, reduction='none')  # the rows
    //   F.cross_entropy(z, y), F.cross_entropy(z, y, label_smoothing=0.1)
    let rows = [
        0.41703001627783354,
        3.6531782071222882,
        0.05094576352299849,
        100.0,
    ];
    let (plain, smoothed) = (26.03028849673078, 24.83778849673078);
    for (name, device) in cpu_devices() {
        let z = || tensor2(&CE_LOGITS, 4, 3, &device);
        let y = |s| tensor2(&one_hot(&CE_CLASSES, 3, s), 4, 3, &device);
        let got = scalar(Loss::CrossEntropy.compute(z(), y(0.0)).unwrap());
        assert!(got.is_finite(), "{name}: {got}");
        assert_close(&[got], &[plain], 1e-6, 1e-6, name);
        let got = scalar(softmax_cross_entropy(z(), y(0.1)).unwrap());
        assert_close(&[got], &[smoothed], 1e-6, 1e-6, &format!("{name} smoothed"));
        let got: Vec<f64> = to_vec(Loss::CrossEntropy.per_row(z(), y(0.0)).unwrap())
            .into_iter()
            .map(f64::from)
            .collect();
        assert_close(&got, &rows, 1e-5, 1e-6, &format!("{name} rows"));
        // Per-row weights: Σ wᵢ·lᵢ / n.
        let w = [1.0f32, 0.5, 2.0, 0.0];
        let want = rows
            .iter()
            .zip(&w)
            .map(|(l, &w)| l * f64::from(w))
            .sum::<f64>()
            / 4.0;
        let got = Loss::CrossEntropy
            .compute_weighted(z(), y(0.0), tensor2(&w, 4, 1, &device))
            .unwrap();
        assert_close(
            &[scalar(got)],
            &[want],
            1e-5,
            1e-6,
            &format!("{name} weighted"),
        );
        assert!(Loss::CrossEntropy
            .compute_weighted(z(), y(0.0), tensor2(&w[..3], 3, 1, &device))
            .is_err());
    }
}

#[test]
fn cross_entropy_stays_finite_where_exp_overflows_f32() {
    // e^500 is far past f32's 3.4e38: the row maximum is subtracted before exp.
    let z = [500.0f32, 0.0, -500.0, -500.0, 500.0, 0.0];
    let y = one_hot(&[2, 1], 3, 0.0);
    for (name, device) in cpu_devices() {
        let got = scalar(
            Loss::CrossEntropy
                .compute(tensor2(&z, 2, 3, &device), tensor2(&y, 2, 3, &device))
                .unwrap(),
        );
        // Row 1 costs 1000 (its class is 1000 below the top), row 2 nothing: a mean of 500.
        assert_close(&[got], &[500.0], 1e-6, 1e-3, name);
    }
}

#[test]
fn softmax_rows_are_probabilities_on_the_device_and_the_host() {
    // PyTorch: F.softmax(z, 1) for the logits above.
    let want = [
        0.6590011388859679,
        0.24243297070471392,
        0.09856589040931818,
        0.11611453467414115,
        0.8579768106084571,
        0.025908654717401523,
        0.0023556330807966803,
        0.04731415522182404,
        0.9503302116973793,
        1.0,
        3.720075976020836e-44,
        1.9287498479639178e-22,
    ];
    for (name, device) in cpu_devices() {
        let got: Vec<f64> = to_vec(Loss::CrossEntropy.activate(tensor2(&CE_LOGITS, 4, 3, &device)))
            .into_iter()
            .map(f64::from)
            .collect();
        assert_close(&got, &want, 1e-5, 1e-7, name);
    }
    let mut host: Vec<f64> = CE_LOGITS.iter().map(|&z| f64::from(z)).collect();
    for row in host.chunks_mut(3) {
        Loss::CrossEntropy.activate_row(row);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // The logits are f32 (0.1 is not exact), PyTorch's f64: agreement to f32 rounding.
    assert_close(&host, &want, 1e-8, 1e-300, "host");
    assert_eq!(Loss::CrossEntropy.head(), "softmax");
}

#[test]
fn cross_entropy_gradient_wrt_logits_is_softmax_minus_target_over_n() {
    for (name, device) in cpu_devices() {
        let ad = device.clone().autodiff();
        let logits = tensor2(&CE_LOGITS, 4, 3, &ad).require_grad();
        let targets = one_hot(&CE_CLASSES, 3, 0.1);
        let grads = Loss::CrossEntropy
            .compute(logits.clone(), tensor2(&targets, 4, 3, &ad))
            .unwrap()
            .backward();
        let g: Vec<f64> = to_vec(logits.grad(&grads).unwrap())
            .into_iter()
            .map(f64::from)
            .collect();
        let mut p: Vec<f64> = CE_LOGITS.iter().map(|&z| f64::from(z)).collect();
        p.chunks_mut(3)
            .for_each(|r| Loss::CrossEntropy.activate_row(r));
        let want: Vec<f64> = p
            .iter()
            .zip(&targets)
            .map(|(p, &y)| (p - f64::from(y)) / 4.0)
            .collect();
        assert_close(&g, &want, 1e-5, 1e-7, name);
    }
}
