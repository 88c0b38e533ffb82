//! The network's shapes, parameter count, initialisation and input checks.

mod common;

use burn::tensor::Tensor;
use burnfit_model::{Init, Loss, MlpConfig, ModelError};
use common::{cpu_devices, tensor2, to_vec};

#[test]
fn seed_network_maps_batch_to_one_output_on_every_cpu_backend() {
    for (name, device) in cpu_devices() {
        let mlp = MlpConfig::new(100).init(&device, 7).unwrap();
        let x = Tensor::<2>::ones([5, 100], &device);
        assert_eq!(mlp.forward(x.clone()).dims(), [5, 1], "{name}");
        let p = to_vec(mlp.predict(x.clone(), Loss::Bce));
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{name}: {p:?}");
        // A regression head is linear: the outputs themselves.
        let v = to_vec(mlp.predict(x.clone(), Loss::Mse));
        assert_eq!(v, to_vec(mlp.forward(x)), "{name}");
    }
}

#[test]
fn parameter_count_matches_keras_for_the_seed() {
    // Keras: Dense(128) on 100 inputs = 12,928; Dense(64) = 8,256; Dense(1) = 65.
    let config = MlpConfig::new(100);
    assert_eq!(config.num_params(), 21_249);
    let (_, device) = &cpu_devices()[0];
    let mlp = config.init(device, 0).unwrap();
    use burn::module::Module;
    assert_eq!(mlp.num_params(), 21_249);
    let summary = config.summary(burnfit_model::Loss::Bce.head());
    assert!(summary.contains("Total params: 21,249"), "{summary}");
    assert!(summary.contains("dense_2 (Dense, sigmoid)"), "{summary}");
    assert!(
        summary.contains("12,928") && summary.contains("8,256"),
        "{summary}"
    );
}

#[test]
fn same_seed_gives_same_weights_on_every_backend() {
    let config = MlpConfig::new(10).with_hidden(vec![8]);
    let reference = {
        let (_, device) = &cpu_devices()[0];
        to_vec(config.init(device, 42).unwrap().layers[0].weight.val())
    };
    for (name, device) in cpu_devices() {
        let w = to_vec(config.init(&device, 42).unwrap().layers[0].weight.val());
        assert_eq!(w, reference, "{name}");
        let other = to_vec(config.init(&device, 43).unwrap().layers[0].weight.val());
        assert_ne!(
            other, reference,
            "{name}: another seed must give other weights"
        );
    }
}

#[test]
fn glorot_and_kaiming_limits_and_zero_bias() {
    let (_, device) = &cpu_devices()[0];
    for (init, limit) in [
        (Init::GlorotUniform, (6.0f32 / (100.0 + 128.0)).sqrt()),
        (Init::KaimingUniform, (1.0f32 / 100.0).sqrt()),
    ] {
        let mlp = MlpConfig::new(100).with_init(init).init(device, 1).unwrap();
        let w = to_vec(mlp.layers[0].weight.val());
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= limit, "{init:?}: {max} > {limit}");
        // 12,800 uniform draws: the largest lies within 1% of the limit.
        assert!(max > 0.99 * limit, "{init:?}: {max} far below {limit}");
        let b = to_vec(mlp.layers[0].bias.as_ref().unwrap().val());
        assert!(b.iter().all(|&v| v == 0.0));
    }
}

#[test]
fn wrong_input_width_is_an_error_not_a_panic() {
    let (_, device) = &cpu_devices()[0];
    let mlp = MlpConfig::new(4).init(device, 0).unwrap();
    let x = tensor2(&[1.0; 6], 2, 3, device);
    assert_eq!(
        mlp.try_forward(x).unwrap_err(),
        ModelError::InputWidth {
            expected: 4,
            got: 3
        }
    );
}

#[test]
fn zero_width_settings_are_rejected_at_init() {
    let (_, device) = &cpu_devices()[0];
    let err = MlpConfig::new(4)
        .with_hidden(vec![8, 0])
        .init(device, 0)
        .unwrap_err();
    assert!(err.to_string().contains("`hidden`"), "{err}");
    assert!(MlpConfig::new(0).init(device, 0).is_err());
}

/// A replica is the same network (ids, values) on new autodiff leaves, and the gradients of
/// the parts of a batch, each loss scaled by its share of the rows, add up to the batch's.
#[test]
fn replicas_give_part_gradients_that_sum_to_the_batch_gradient() {
    use burn::optim::GradientsParams;
    for (name, device) in cpu_devices() {
        let ad = device.autodiff();
        let mlp = MlpConfig::new(4)
            .with_hidden(vec![6, 3])
            .init(&ad, 3)
            .unwrap();
        let xs: Vec<f32> = (0..28).map(|i| ((i * 13) % 9) as f32 / 9.0 - 0.5).collect();
        let ys = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        let grads = |model: &burnfit_model::Mlp, lo: usize, hi: usize, scale: f64| {
            let x = tensor2(&xs[lo * 4..hi * 4], hi - lo, 4, &ad);
            let y = tensor2(&ys[lo..hi], hi - lo, 1, &ad);
            let loss = Loss::Bce
                .compute(model.forward(x), y)
                .unwrap()
                .mul_scalar(scale);
            GradientsParams::from_grads(loss.backward(), model)
        };
        let replica = mlp.replica();
        for (a, b) in mlp.layers.iter().zip(&replica.layers) {
            assert_eq!(a.weight.id, b.weight.id, "{name}");
            assert_eq!(to_vec(a.weight.val()), to_vec(b.weight.val()), "{name}");
        }
        let mut whole = grads(&mlp, 0, 7, 1.0);
        let parts = vec![
            grads(&mlp.replica(), 0, 4, 4.0 / 7.0),
            grads(&mlp.replica(), 4, 7, 3.0 / 7.0),
        ];
        let mut sum = mlp.sum_gradients(parts);
        for layer in &mlp.layers {
            let bias = layer.bias.as_ref().unwrap().id;
            let w: Tensor<2> = whole.remove(layer.weight.id).unwrap();
            let s: Tensor<2> = sum.remove(layer.weight.id).unwrap();
            let (w, s) = (to_vec(w), to_vec(s));
            assert!(w.iter().any(|v| *v != 0.0), "{name}: a gradient to compare");
            for (a, b) in w.iter().zip(&s) {
                assert!(
                    (a - b).abs() <= 1e-6,
                    "{name}: weight gradient {a} against {b}"
                );
            }
            let (w, s): (Tensor<1>, Tensor<1>) =
                (whole.remove(bias).unwrap(), sum.remove(bias).unwrap());
            for (a, b) in to_vec(w).iter().zip(&to_vec(s)) {
                assert!(
                    (a - b).abs() <= 1e-6,
                    "{name}: bias gradient {a} against {b}"
                );
            }
        }
    }
}
