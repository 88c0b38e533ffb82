//! One SGD step equals `θ − α∇J`; Adam's first two steps equal the textbook update, on both
//! update paths; the host path gives Burn's bits and reads and writes Burn's state.

mod common;

use burn::optim::GradientsParams;
use burn::tensor::Device;
use burnfit_model::{
    AdamSettings, Loss, Mlp, MlpConfig, OptimizerSettings, SgdSettings, UpdatePath,
};
use common::{assert_close, cpu_devices, tensor2, to_vec};

/// The BCE gradients of `mlp` on batch number `s` of a small deterministic set (4 rows, 3 inputs).
fn batch_grads(mlp: &Mlp, device: &Device, s: usize) -> burn::tensor::Gradients {
    scaled_batch_grads(mlp, device, s, 1.0)
}

/// [`batch_grads`] of the loss times `scale`: 1e-37 puts the gradients and Adam's moments below
/// `f32::MIN_POSITIVE`, where flushing subnormals changes the arithmetic.
fn scaled_batch_grads(mlp: &Mlp, device: &Device, s: usize, scale: f32) -> burn::tensor::Gradients {
    let x: Vec<f32> = (0..12).map(|i| ((i + 5 * s) as f32 * 0.37).sin()).collect();
    let y = [1.0f32, 0.0, ((s + 1) % 2) as f32, 0.0];
    Loss::Bce
        .compute(
            mlp.forward(tensor2(&x, 4, 3, device)),
            tensor2(&y, 4, 1, device),
        )
        .unwrap()
        .mul_scalar(scale)
        .backward()
}

/// A batch, and the gradient of the BCE loss for `mlp` on it, as host vectors for the first
/// layer's weight and the last layer's bias (one matrix and one vector parameter).
fn loss_and_grads(mlp: &Mlp, device: &Device) -> (Vec<f64>, Vec<f64>, GradientsParams) {
    let grads = batch_grads(mlp, device, 0);
    let f = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    let gw = f(to_vec(mlp.layers[0].weight.val().grad(&grads).unwrap()));
    let gb = f(to_vec(
        mlp.layers
            .last()
            .unwrap()
            .bias
            .as_ref()
            .unwrap()
            .val()
            .grad(&grads)
            .unwrap(),
    ));
    (gw, gb, GradientsParams::from_grads(grads, mlp))
}

fn params(mlp: &Mlp) -> (Vec<f64>, Vec<f64>) {
    let f = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    (
        f(to_vec(mlp.layers[0].weight.val())),
        f(to_vec(
            mlp.layers.last().unwrap().bias.as_ref().unwrap().val(),
        )),
    )
}

/// 3-37-1: the first layer's 111 weights and 37 biases fill whole vectors of every width the
/// host Adam loop may run at (4, 8, 16 lanes) and leave a remainder, so both are checked.
fn small_mlp(device: &Device) -> Mlp {
    MlpConfig::new(3)
        .with_hidden(vec![37])
        .init(device, 11)
        .unwrap()
}

#[test]
fn one_sgd_step_is_theta_minus_lr_grad() {
    for (name, device) in cpu_devices() {
        let ad = device.clone().autodiff();
        let lr = 0.1;
        let settings = OptimizerSettings::Sgd(SgdSettings {
            lr,
            ..SgdSettings::keras()
        });
        let mut optim = settings.build(None, UpdatePath::Tensor).unwrap();
        let mlp = small_mlp(&ad);
        let (w0, b0) = params(&mlp);
        let (gw, gb, grads) = loss_and_grads(&mlp, &ad);
        assert!(
            gw.iter().any(|g| g.abs() > 1e-4),
            "{name}: a zero gradient tests nothing"
        );
        let mlp = optim.step(lr, mlp, grads);
        let (w1, b1) = params(&mlp);
        let step =
            |t: &[f64], g: &[f64]| t.iter().zip(g).map(|(t, g)| t - lr * g).collect::<Vec<_>>();
        assert_close(&w1, &step(&w0, &gw), 1e-6, 1e-7, name);
        assert_close(&b1, &step(&b0, &gb), 1e-6, 1e-7, name);
    }
}

#[test]
fn sgd_with_momentum_and_decay_follows_pytorch_two_steps() {
    // torch.optim.SGD(momentum=m, weight_decay=λ, dampening=0):
    //   g' = g + λθ; v = m v + g' (v = g' at the first step); θ ← θ − α v
    let (lr, m, wd) = (0.05, 0.9, 0.01);
    for (name, device) in cpu_devices() {
        let ad = device.clone().autodiff();
        let settings = OptimizerSettings::Sgd(SgdSettings {
            lr,
            momentum: m,
            weight_decay: wd,
        });
        let mut optim = settings.build(None, UpdatePath::Tensor).unwrap();
        let mut mlp = small_mlp(&ad);
        let (mut w, _) = params(&mlp);
        let mut v = vec![0.0; w.len()];
        for t in 0..2 {
            let (gw, _, grads) = loss_and_grads(&mlp, &ad);
            for i in 0..w.len() {
                let g = gw[i] + wd * w[i];
                v[i] = if t == 0 { g } else { m * v[i] + g };
                w[i] -= lr * v[i];
            }
            mlp = optim.step(lr, mlp, grads);
        }
        assert_close(&params(&mlp).0, &w, 1e-5, 1e-7, name);
    }
}

#[test]
fn adam_first_two_steps_follow_the_textbook() {
    // Kingma & Ba, Algorithm 1:
    //   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²
    //   θ ← θ − α · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
    let a = AdamSettings::keras();
    assert_eq!(a.epsilon, 1e-7);
    for ((name, device), update) in cpu_devices()
        .into_iter()
        .flat_map(|d| [(d.clone(), UpdatePath::Tensor), (d, UpdatePath::Host)])
    {
        let name = &format!("{name} {update:?}");
        let ad = device.clone().autodiff();
        let mut optim = OptimizerSettings::Adam(a.clone())
            .build(None, update)
            .unwrap();
        let mut mlp = small_mlp(&ad);
        let (mut w, _) = params(&mlp);
        let (mut m, mut v) = (vec![0.0; w.len()], vec![0.0; w.len()]);
        for t in 1..=2 {
            let (gw, _, grads) = loss_and_grads(&mlp, &ad);
            for i in 0..w.len() {
                m[i] = a.beta1 * m[i] + (1.0 - a.beta1) * gw[i];
                v[i] = a.beta2 * v[i] + (1.0 - a.beta2) * gw[i] * gw[i];
                let m_hat = m[i] / (1.0 - a.beta1.powi(t));
                let v_hat = v[i] / (1.0 - a.beta2.powi(t));
                w[i] -= a.lr * m_hat / (v_hat.sqrt() + a.epsilon);
            }
            mlp = optim.step(a.lr, mlp, grads);
        }
        // Burn puts ε inside the bias correction (ε·sqrt(1−β2^t)), a difference far below this
        // tolerance for gradients of this size; the update itself is ~2e-3 per weight.
        assert_close(&params(&mlp).0, &w, 1e-4, 1e-6, name);
    }
}

#[test]
fn out_of_range_settings_name_their_key() {
    let bad = [
        (
            OptimizerSettings::Adam(AdamSettings {
                lr: -1.0,
                ..AdamSettings::keras()
            }),
            "`lr`",
        ),
        (
            OptimizerSettings::Adam(AdamSettings {
                beta1: 1.0,
                ..AdamSettings::keras()
            }),
            "`beta1`",
        ),
        (
            OptimizerSettings::Sgd(SgdSettings {
                momentum: -0.5,
                ..SgdSettings::keras()
            }),
            "`momentum`",
        ),
    ];
    for (settings, key) in bad {
        for update in [UpdatePath::Tensor, UpdatePath::Host] {
            let Err(err) = settings.build(None, update) else {
                panic!("{key} accepted")
            };
            assert!(err.to_string().contains(key), "{err}");
        }
    }
    let Err(err) =
        OptimizerSettings::Adam(AdamSettings::keras()).build(Some(0.0), UpdatePath::Host)
    else {
        panic!("clip 0 accepted")
    };
    assert!(err.to_string().contains("`grad_clip`"), "{err}");
}

/// Steps `steps` of `optim` on `mlp`, each on its own batch; the model and its parameters' bits.
fn train_bits(
    optim: &mut burnfit_model::MlpOptimizer,
    mlp: Mlp,
    device: &Device,
    steps: std::ops::Range<usize>,
) -> (Mlp, Vec<u32>) {
    scaled_train_bits(optim, mlp, device, steps, 1.0)
}

/// [`train_bits`] on [`scaled_batch_grads`].
fn scaled_train_bits(
    optim: &mut burnfit_model::MlpOptimizer,
    mut mlp: Mlp,
    device: &Device,
    steps: std::ops::Range<usize>,
    scale: f32,
) -> (Mlp, Vec<u32>) {
    for s in steps {
        let grads = GradientsParams::from_grads(scaled_batch_grads(&mlp, device, s, scale), &mlp);
        // A learning rate that changes per step, as a schedule would.
        mlp = optim.step(1e-2 / (1 + s) as f64, mlp, grads);
    }
    let bits = mlp
        .layers
        .iter()
        .flat_map(|l| {
            let mut v = to_vec(l.weight.val());
            v.extend(to_vec(l.bias.as_ref().unwrap().val()));
            v
        })
        .map(f32::to_bits)
        .collect();
    (mlp, bits)
}

#[test]
fn host_adam_gives_burns_bits_and_shares_its_state() {
    let settings = [
        AdamSettings::keras(),
        AdamSettings {
            beta1: 0.8,
            beta2: 0.99,
            epsilon: 1e-3,
            weight_decay: 0.05,
            ..AdamSettings::keras()
        },
    ];
    let cases = cpu_devices()
        .into_iter()
        .flat_map(|d| settings.clone().map(|a| (d.clone(), a)));
    // Set on this test's thread only (the harness gives each test its own).
    for (((name, device), a), flush) in cases.flat_map(|c| [(c.clone(), true), (c, false)]) {
        burnfit_fpenv::set_flush(flush);
        let what = format!("{name} {a:?} flush {flush}");
        let ad = device.clone().autodiff();
        let build = |update| {
            OptimizerSettings::Adam(a.clone())
                .build(Some(0.5), update)
                .unwrap()
        };
        let (_, want) = train_bits(&mut build(UpdatePath::Tensor), small_mlp(&ad), &ad, 0..6);
        let (_, host) = train_bits(&mut build(UpdatePath::Host), small_mlp(&ad), &ad, 0..6);
        assert_eq!(host, want, "{what}: six steps on each path");
        // Three steps on one path, its state through Burn's record, three on the other: the
        // state is Burn's own type, so a checkpoint moves between CPU and GPU runs.
        for (first, second) in [
            (UpdatePath::Host, UpdatePath::Tensor),
            (UpdatePath::Tensor, UpdatePath::Host),
        ] {
            let mut optim = build(first);
            let (mid, three) = train_bits(&mut optim, small_mlp(&ad), &ad, 0..3);
            assert_ne!(three, want, "{what}: three steps must differ from six");
            let mut resumed = build(second).with_bytes(optim.to_bytes().unwrap()).unwrap();
            let (_, bits) = train_bits(&mut resumed, mid, &ad, 3..6);
            assert_eq!(bits, want, "{what}: {first:?} then {second:?}");
        }
        // Read and written again before any step (a checkpoint right after a resume): the
        // state passes through whole.
        let mut optim = build(UpdatePath::Host);
        let (mid, _) = train_bits(&mut optim, small_mlp(&ad), &ad, 0..3);
        let again = build(UpdatePath::Host)
            .with_bytes(optim.to_bytes().unwrap())
            .unwrap()
            .to_bytes()
            .unwrap();
        let mut resumed = build(UpdatePath::Host).with_bytes(again).unwrap();
        let (_, bits) = train_bits(&mut resumed, mid, &ad, 3..6);
        assert_eq!(bits, want, "{what}: read, written, read");
    }
}

/// Both update paths agree bit for bit with subnormals flushed (the binary's default) and kept
/// (`backend.flush_denormals = false`), on gradients small enough that the mode matters. With
/// the loss scaled by 1e-37, Adam's first moment is subnormal; an ε of 1e-37 lets it move the
/// weights, so the weights after six steps differ between the modes, and not between the paths.
#[test]
fn host_adam_gives_burns_bits_in_both_subnormal_modes() {
    // Modes are per thread: this test's own thread, and rayon's, where flex may compute.
    std::thread::spawn(|| {
        let build = |update| {
            let a = AdamSettings {
                epsilon: 1e-37,
                ..AdamSettings::keras()
            };
            OptimizerSettings::Adam(a).build(None, update).unwrap()
        };
        for (name, device) in cpu_devices() {
            let ad = device.clone().autodiff();
            let mut weights = Vec::new();
            for flush in [true, false] {
                burnfit_fpenv::set_flush(flush);
                rayon::broadcast(|_| burnfit_fpenv::set_flush(flush));
                let run = |update| {
                    let (_, bits) =
                        scaled_train_bits(&mut build(update), small_mlp(&ad), &ad, 0..6, 1e-37);
                    bits
                };
                let (tensor, host) = (run(UpdatePath::Tensor), run(UpdatePath::Host));
                assert_eq!(host, tensor, "{name}, flush {flush}");
                weights.push(host);
            }
            if burnfit_fpenv::SUPPORTED {
                assert_ne!(weights[0], weights[1], "{name}: the mode changed nothing");
            }
        }
        burnfit_fpenv::set_flush(false);
        rayon::broadcast(|_| burnfit_fpenv::set_flush(false));
    })
    .join()
    .unwrap();
}
