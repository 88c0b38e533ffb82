//! The private step: the ghost norms equal per-row gradients' norms computed one row at a time;
//! without noise and with a huge clip it is the ordinary mean gradient; with a tiny clip every
//! row weighs exactly C; the noise has the right spread and resumes exactly from its state.

mod common;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use burnfit_model::{
    per_sample_grad_norms, Activation, AdamSettings, DpSgd, Loss, Mlp, MlpConfig, ModelError,
    NoiseSource, OptimizerSettings, PrivacySettings, UpdatePath,
};
use common::{assert_close, cpu_devices, scalar, tensor2, to_vec};

/// Every gradient in `grads`, layer by layer, weight then bias, flattened.
fn flat(mlp: &Mlp, grads: &GradientsParams) -> Vec<f64> {
    let mut out = Vec::new();
    for layer in &mlp.layers {
        out.extend(to_vec(grads.get::<2>(layer.weight.id).unwrap()));
        if let Some(b) = &layer.bias {
            out.extend(to_vec(grads.get::<1>(b.id).unwrap()));
        }
    }
    out.into_iter().map(f64::from).collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `rows` rows of `width` features and `outputs` targets (0/1 for BCE, real for MSE, one-hot
/// for cross-entropy), varied
/// enough that rows' gradients differ by orders of magnitude.
fn batch(rows: usize, width: usize, outputs: usize, loss: Loss) -> (Vec<f32>, Vec<f32>) {
    let x = (0..rows * width)
        .map(|i| (i as f32 * 0.731).sin() * (1.0 + (i % 5) as f32))
        .collect();
    let y = (0..rows * outputs)
        .map(|i| match loss {
            Loss::Bce => (i % 3 == 0) as u8 as f32,
            Loss::Mse => (i as f32 * 1.37).cos() * 3.0,
            // One-hot: row r is class r mod k.
            Loss::CrossEntropy => (i % outputs == (i / outputs) % outputs) as u8 as f32,
        })
        .collect();
    (x, y)
}

fn network(width: usize, outputs: usize, activation: Activation, device: &Device) -> Mlp {
    let mut config = MlpConfig::new(width)
        .with_hidden(vec![7, 5])
        .with_activation(activation);
    config.output = outputs;
    config.init(device, 11).unwrap()
}

fn dp(c: f64, sigma: f64, expected_batch: f64) -> DpSgd {
    let settings = PrivacySettings {
        max_grad_norm: c,
        noise_multiplier: sigma,
    };
    DpSgd::new(settings, expected_batch, NoiseSource::from_key([7; 32])).unwrap()
}

/// The naive reference: one forward and backward pass per row, each row's full gradient, its
/// norm (what Opacus's `GradSampleModule` materialises and the ghost trick avoids).
#[test]
fn ghost_norms_equal_the_norms_of_per_row_gradients() {
    for (name, device) in cpu_devices() {
        let device = device.autodiff();
        for (loss, outputs, activation) in [
            (Loss::Bce, 1, Activation::Relu),
            (Loss::Mse, 1, Activation::Tanh),
            (Loss::Mse, 2, Activation::Gelu),
            (Loss::Bce, 3, Activation::Sigmoid),
            (Loss::CrossEntropy, 3, Activation::Relu),
        ] {
            let (rows, width) = (9, 4);
            let mlp = network(width, outputs, activation, &device);
            let (x, y) = batch(rows, width, outputs, loss);
            let ghost = per_sample_grad_norms(
                &mlp,
                loss,
                tensor2(&x, rows, width, &device),
                tensor2(&y, rows, outputs, &device),
            )
            .unwrap();
            let ghost: Vec<f64> = to_vec(ghost).into_iter().map(f64::from).collect();
            let naive: Vec<f64> = (0..rows)
                .map(|i| {
                    let xi = tensor2(&x[i * width..(i + 1) * width], 1, width, &device);
                    let yi = tensor2(&y[i * outputs..(i + 1) * outputs], 1, outputs, &device);
                    let grads = loss.compute(mlp.forward(xi), yi).unwrap().backward();
                    norm(&flat(&mlp, &GradientsParams::from_grads(grads, &mlp)))
                })
                .collect();
            let what = format!("{name} {loss:?} {outputs} outputs {activation:?}");
            assert_close(&ghost, &naive, 1e-5, 1e-7, &what);
            let spread = naive.iter().cloned().fold(0.0, f64::max)
                / naive.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(
                spread > 1.05,
                "{what}: rows' norms too alike to test: {naive:?}"
            );
        }
    }
}

#[test]
fn without_noise_and_with_a_huge_clip_it_is_the_mean_gradient() {
    for (name, device) in cpu_devices() {
        let device = device.autodiff();
        for loss in [Loss::Bce, Loss::Mse] {
            let (rows, width) = (6, 4);
            let mlp = network(width, 1, Activation::Relu, &device);
            let (x, y) = batch(rows, width, 1, loss);
            let (xt, yt) = (
                tensor2(&x, rows, width, &device),
                tensor2(&y, rows, 1, &device),
            );
            let ordinary = loss.compute(mlp.forward(xt.clone()), yt.clone()).unwrap();
            let expected_loss = scalar(ordinary.clone().inner());
            let mean = flat(
                &mlp,
                &GradientsParams::from_grads(ordinary.backward(), &mlp),
            );
            let step = dp(1e6, 0.0, rows as f64)
                .gradients(&mlp, loss, xt, yt)
                .unwrap();
            let got = flat(&mlp, &step.grads);
            assert_close(&got, &mean, 1e-5, 1e-7, &format!("{name} {loss:?}"));
            assert!((scalar(step.loss) - expected_loss).abs() < 1e-6);
            assert_eq!(step.outputs.dims(), [rows, 1]);
        }
    }
}

#[test]
fn with_a_tiny_clip_every_row_weighs_exactly_c() {
    let device = Device::flex().autodiff();
    let (rows, width, c) = (5, 4, 1e-3);
    let mlp = network(width, 1, Activation::Relu, &device);
    let (x, _) = batch(rows, width, 1, Loss::Bce);
    // One label for all: the rows pull the same way, so their clipped sum is far from C.
    let y = vec![1.0; rows];
    let mut sum = vec![
        0.0;
        flat(
            &mlp,
            &dp(1.0, 0.0, 1.0)
                .gradients(
                    &mlp,
                    Loss::Bce,
                    tensor2(&x, rows, width, &device),
                    tensor2(&y, rows, 1, &device)
                )
                .unwrap()
                .grads
        )
        .len()
    ];
    for i in 0..rows {
        let one = dp(c, 0.0, 1.0)
            .gradients(
                &mlp,
                Loss::Bce,
                tensor2(&x[i * width..(i + 1) * width], 1, width, &device),
                tensor2(&y[i..i + 1], 1, 1, &device),
            )
            .unwrap();
        let g = flat(&mlp, &one.grads);
        // c_i·‖∇_i‖ = C·‖∇_i‖/(‖∇_i‖ + 1e-6): C to within 1e-6 relative for norms near 1.
        assert!((norm(&g) - c).abs() < 1e-5 * c, "row {i}: {}", norm(&g));
        sum.iter_mut().zip(&g).for_each(|(s, g)| *s += g);
    }
    // The batch clips each row on its own: its gradient is the sum of the rows' (B = 1), not
    // the sum clipped once.
    let whole = dp(c, 0.0, 1.0)
        .gradients(
            &mlp,
            Loss::Bce,
            tensor2(&x, rows, width, &device),
            tensor2(&y, rows, 1, &device),
        )
        .unwrap();
    assert_close(
        &flat(&mlp, &whole.grads),
        &sum,
        1e-4,
        1e-9,
        "batch against rows",
    );
    // Clipping the summed gradient once would give norm C.
    let ratio = norm(&sum) / c;
    assert!(ratio > 2.0, "‖Σ‖/C = {ratio}");
}

/// An empty batch releases the noise alone, `N(0, σ²C²)/B`: on the seed's network's 21,249
/// parameters the sample standard deviation is within 5 % (about five standard errors) and the
/// mean within five standard errors of 0.
#[test]
fn the_noise_has_the_right_spread_and_an_empty_batch_gets_it_alone() {
    let device = Device::flex().autodiff();
    let mlp = MlpConfig::new(100).init(&device, 1).unwrap();
    let (sigma, c, b) = (2.0, 0.5, 4.0);
    let mut private = dp(c, sigma, b);
    let step = private
        .gradients(
            &mlp,
            Loss::Bce,
            Tensor::zeros([0, 100], &device),
            Tensor::zeros([0, 1], &device),
        )
        .unwrap();
    assert_eq!(scalar(step.loss), 0.0);
    assert_eq!(step.outputs.dims(), [0, 1]);
    let noise = flat(&mlp, &step.grads);
    let n = noise.len() as f64;
    assert_eq!(n, 21_249.0);
    let mean = noise.iter().sum::<f64>() / n;
    let std = (noise.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let expected = sigma * c / b;
    assert!(
        (std / expected - 1.0).abs() < 0.05,
        "std {std}, expected {expected}"
    );
    assert!(mean.abs() < 5.0 * expected / n.sqrt(), "mean {mean}");
    // Gaussian, not merely of the right variance: the fourth moment is 3σ⁴ (within 10 %).
    let kurtosis = noise
        .iter()
        .map(|v| ((v - mean) / std).powi(4))
        .sum::<f64>()
        / n;
    assert!((kurtosis - 3.0).abs() < 0.3, "kurtosis {kurtosis}");
}

#[test]
fn the_noise_resumes_exactly_from_its_state_and_the_key_decides_it() {
    let device = Device::flex().autodiff();
    let mlp = network(4, 1, Activation::Relu, &device);
    let (x, y) = batch(3, 4, 1, Loss::Bce);
    let run = |dp: &mut DpSgd| {
        let g = dp
            .gradients(
                &mlp,
                Loss::Bce,
                tensor2(&x, 3, 4, &device),
                tensor2(&y, 3, 1, &device),
            )
            .unwrap();
        flat(&mlp, &g.grads)
    };
    let mut first = dp(1.0, 1.0, 3.0);
    run(&mut first);
    let state = first.noise_state();
    let next = run(&mut first);
    let settings = first.settings();
    let mut resumed = DpSgd::new(settings, 3.0, NoiseSource::from_state(&state)).unwrap();
    assert_eq!(run(&mut resumed), next, "bit for bit");
    assert_eq!(resumed.noise_state(), first.noise_state());
    let other = DpSgd::new(settings, 3.0, NoiseSource::from_key([8; 32]));
    assert_ne!(run(&mut other.unwrap()), next);
    // The noise is drawn over the pool in blocks, each from its own slice of the stream: the
    // same bits on one thread or three.
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut again = DpSgd::new(settings, 3.0, NoiseSource::from_state(&state)).unwrap();
        assert_eq!(pool.install(|| run(&mut again)), next, "{threads} threads");
    }
    // A network larger than one block per parameter, twice: the steps' noise differs.
    let big = MlpConfig::new(100).init(&device, 1).unwrap();
    let mut source = dp(1.0, 1.0, 1.0);
    let empty = || {
        (
            Tensor::zeros([0, 100], &device),
            Tensor::zeros([0, 1], &device),
        )
    };
    let mut noise = || {
        let (x, y) = empty();
        flat(
            &big,
            &source.gradients(&big, Loss::Bce, x, y).unwrap().grads,
        )
    };
    let (a, b) = (noise(), noise());
    assert_ne!(a, b);
    assert!(a[..4096] != a[4096..8192], "blocks differ");
    // A fresh key from the OS each time.
    let (a, b) = (
        NoiseSource::from_os().unwrap().state(),
        NoiseSource::from_os().unwrap().state(),
    );
    assert_ne!(a.key, b.key);
    assert!(!format!("{a:?}").contains(&format!("{:?}", a.key)), "{a:?}");
}

#[test]
fn a_private_run_still_learns() {
    let device = Device::flex().autodiff();
    let (rows, width) = (64, 4);
    let mut mlp = network(width, 1, Activation::Relu, &device);
    // Separable: the label is the sign of the first feature.
    let (x, _) = batch(rows, width, 1, Loss::Bce);
    let y: Vec<f32> = (0..rows)
        .map(|i| (x[i * width] > 0.0) as u8 as f32)
        .collect();
    let (xt, yt) = (
        tensor2(&x, rows, width, &device),
        tensor2(&y, rows, 1, &device),
    );
    let loss = |mlp: &Mlp| {
        scalar(
            Loss::Bce
                .compute(mlp.forward(xt.clone()), yt.clone())
                .unwrap()
                .inner(),
        )
    };
    let before = loss(&mlp);
    let mut optim = OptimizerSettings::Adam(AdamSettings {
        lr: 0.05,
        ..AdamSettings::keras()
    })
    .build(None, UpdatePath::Host)
    .unwrap();
    let mut private = dp(1.0, 0.5, rows as f64);
    for _ in 0..60 {
        let step = private
            .gradients(&mlp, Loss::Bce, xt.clone(), yt.clone())
            .unwrap();
        mlp = optim.step(0.05, mlp, step.grads);
    }
    let after = loss(&mlp);
    assert!(after < 0.6 * before, "{before} -> {after}");
}

#[test]
fn bad_settings_and_shapes_are_typed_errors() {
    let noise = || NoiseSource::from_key([0; 32]);
    for (c, sigma) in [
        (0.0, 1.0),
        (-1.0, 1.0),
        (f64::NAN, 1.0),
        (1.0, -0.5),
        (1.0, f64::INFINITY),
    ] {
        let settings = PrivacySettings {
            max_grad_norm: c,
            noise_multiplier: sigma,
        };
        assert!(matches!(
            DpSgd::new(settings, 8.0, noise()),
            Err(ModelError::InvalidSetting { .. })
        ));
    }
    let ok = PrivacySettings {
        max_grad_norm: 1.0,
        noise_multiplier: 1.0,
    };
    for b in [0.0, -1.0, f64::NAN] {
        assert!(DpSgd::new(ok, b, noise()).is_err());
    }
    let device = Device::flex().autodiff();
    let mlp = network(4, 1, Activation::Relu, &device);
    let mut private = DpSgd::new(ok, 2.0, noise()).unwrap();
    let x = tensor2(&[0.0; 6], 2, 3, &device);
    assert_eq!(
        private
            .gradients(&mlp, Loss::Bce, x, tensor2(&[0.0; 2], 2, 1, &device))
            .err(),
        Some(ModelError::InputWidth {
            expected: 4,
            got: 3
        })
    );
    let x = tensor2(&[0.0; 8], 2, 4, &device);
    assert!(matches!(
        private.gradients(&mlp, Loss::Bce, x, tensor2(&[0.0; 3], 3, 1, &device)),
        Err(ModelError::ShapeMismatch { .. })
    ));
}

/// Poisson batches: each row in with probability q, from the secret stream of the next step, so
/// the same state draws the same batch on any pool, and the next step another.
#[test]
fn poisson_batches_are_secret_draws_that_resume_exactly() {
    let device = Device::flex().autodiff();
    let mlp = network(4, 1, Activation::Relu, &device);
    let (rows, q) = (200_000, 0.01);
    let mut private = dp(1.0, 1.0, rows as f64 * q);
    let first = private.poisson_batch(rows, q).unwrap();
    // Not advanced by drawing the batch; a resumed source draws the same one.
    assert_eq!(private.poisson_batch(rows, q).unwrap(), first);
    let resumed = DpSgd::new(
        private.settings(),
        rows as f64 * q,
        NoiseSource::from_state(&private.noise_state()),
    )
    .unwrap();
    assert_eq!(resumed.poisson_batch(rows, q).unwrap(), first);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| private.poisson_batch(rows, q)).unwrap(),
            first
        );
    }
    // Binomial(200,000, 0.01): mean 2,000, standard deviation 44.5; five of them.
    assert!(
        (first.len() as f64 - 2000.0).abs() < 5.0 * 44.5,
        "{}",
        first.len()
    );
    assert!(first.windows(2).all(|w| w[0] < w[1]) && *first.last().unwrap() < rows);
    // Rows from every block of 65,536 (the last one short).
    assert!(first.iter().any(|&r| r >= 3 * 65_536));
    // The next step draws another batch.
    let (x, y) = batch(2, 4, 1, Loss::Bce);
    private
        .gradients(
            &mlp,
            Loss::Bce,
            tensor2(&x, 2, 4, &device),
            tensor2(&y, 2, 1, &device),
        )
        .unwrap();
    let second = private.poisson_batch(rows, q).unwrap();
    assert_ne!(second, first);
    let overlap = first
        .iter()
        .filter(|r| second.binary_search(r).is_ok())
        .count();
    assert!(
        overlap < 60,
        "independent draws share about q·2000 = 20 rows, not {overlap}"
    );
    assert_eq!(private.poisson_batch(10, 0.0).unwrap(), Vec::<usize>::new());
    assert_eq!(private.poisson_batch(5, 1.0).unwrap(), vec![0, 1, 2, 3, 4]);
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(
            private.poisson_batch(10, bad),
            Err(ModelError::InvalidSetting { .. })
        ));
    }
}
