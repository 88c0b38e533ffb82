//! The cost of a private (DP-SGD) step against an ordinary one on the seed network
//! (100-128-64-1, Adam on the host path, BCE from logits) on flex, and of its parts: the step
//! without noise (both passes), the ghost norms' pass alone, and the noise alone (an empty
//! batch, drawn over the pool). Not a test: a measurement.
//!
//! `cargo run --release -p burnfit-model --example private_step_bench [batch] [steps]`

use std::time::Instant;

// The binary's allocator (see crates/runner/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::{
    bce_with_logits, per_sample_grad_norms, AdamSettings, DpSgd, Loss, MlpConfig, NoiseSource,
    OptimizerSettings, PrivacySettings, UpdatePath,
};

fn main() {
    // On a thread of rayon's pool, as the trainer runs (see step_bench).
    rayon::scope(|_| run());
}

// Long because it is one measurement, set up and timed in order, as its output reads.
fn run() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(256);
    let steps = args.get(1).copied().unwrap_or(2000);
    burnfit_fpenv::set_flush(true);
    rayon::broadcast(|_| burnfit_fpenv::set_flush(true));
    let device = Device::flex().autodiff();
    let x_host: Vec<f32> = (0..batch * 100)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let y_host: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
    let settings = PrivacySettings {
        max_grad_norm: 1.0,
        noise_multiplier: 1.0,
    };
    let mut results = Vec::new();
    // Twice round, so the second figures are warm.
    for round in 0..2 {
        for variant in [
            "ordinary",
            "private",
            "private, σ = 0",
            "ghost norms only",
            "noise only",
        ] {
            let mut model = MlpConfig::new(100).init(&device, 1).unwrap();
            let mut optim = OptimizerSettings::Adam(AdamSettings::keras())
                .build(None, UpdatePath::Host)
                .unwrap();
            let settings = PrivacySettings {
                noise_multiplier: if variant == "private, σ = 0" {
                    0.0
                } else {
                    1.0
                },
                ..settings
            };
            let mut dp =
                DpSgd::new(settings, batch as f64, NoiseSource::from_key([3; 32])).unwrap();
            let start = Instant::now();
            for _ in 0..steps {
                let x =
                    Tensor::<2>::from_data(TensorData::new(x_host.clone(), [batch, 100]), &device);
                let y =
                    Tensor::<2>::from_data(TensorData::new(y_host.clone(), [batch, 1]), &device);
                match variant {
                    "ordinary" => {
                        let loss = bce_with_logits(model.forward(x), y).unwrap();
                        let grads = GradientsParams::from_grads(loss.backward(), &model);
                        model = optim.step(1e-3, model, grads);
                    }
                    "private" | "private, σ = 0" => {
                        let step = dp.gradients(&model, Loss::Bce, x, y).unwrap();
                        model = optim.step(1e-3, model, step.grads);
                    }
                    "ghost norms only" => {
                        let norms = per_sample_grad_norms(&model, Loss::Bce, x, y).unwrap();
                        let _ = norms.into_data();
                    }
                    _ => {
                        let empty = (
                            Tensor::<2>::zeros([0, 100], &device),
                            Tensor::<2>::zeros([0, 1], &device),
                        );
                        let step = dp.gradients(&model, Loss::Bce, empty.0, empty.1).unwrap();
                        model = optim.step(1e-3, model, step.grads);
                    }
                }
            }
            // Wait for the device (a no-op on flex, which computes eagerly).
            let _ = model.layers[0].weight.val().into_data();
            let us = start.elapsed().as_secs_f64() * 1e6 / steps as f64;
            if round == 1 {
                results.push((variant, us));
            }
        }
    }
    let ordinary = results[0].1;
    for (variant, us) in results {
        println!(
            "{variant:>17}: batch {batch}: {us:8.1} µs/step ({:.2}× the ordinary step)",
            us / ordinary
        );
    }
}
