//! Training-step throughput of the seed network (100-128-64-1, Adam, BCE from logits) on flex,
//! with Burn's tensor-op Adam or the host loop the trainer uses on CPUs, with and without the
//! extra work the trainer does (a host copy of each batch; each step's loss and outputs kept and
//! read back every 200 steps), to see what each piece costs; then a subnormal stress case with
//! the flush-to-zero setting on and off (`backend.flush_denormals`). Not a test: a measurement.
//!
//! The stress case scales the loss by 1e-37 before the backward pass, as if it had all but
//! vanished: the gradients of the hidden layers and Adam's moments then live below
//! `f32::MIN_POSITIVE`, where a long run's state ends up on its own. Intel cores run every
//! operation on such values through microcode; AMD Zen cores much less so.
//!
//! `cargo run --release -p burnfit-model --example step_bench [batch] [steps]`

use std::time::Instant;

// The binary's allocator (see crates/runner/src/main.rs); glibc's malloc measured 12 % slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::{bce_with_logits, AdamSettings, MlpConfig, OptimizerSettings, UpdatePath};

fn main() {
    // On a thread of rayon's pool, as the trainer runs (`threads::on_pool` in the runner): flex
    // splits batch-1024 products over the pool, and a caller outside it competes with the
    // pool's spinning threads for the cores. (The trainer also keeps the pool's other threads
    // spinning at such batch sizes, `threads::on_pool_spinning`; not done here.)
    rayon::scope(|_| run());
}

fn run() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(32);
    let steps = args.get(1).copied().unwrap_or(5000);
    let device = Device::flex().autodiff();
    let x_host: Vec<f32> = (0..batch * 100)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let y_host: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
    for (variant, update, flush) in [
        ("bare", UpdatePath::Tensor, true),
        ("bare", UpdatePath::Host, true),
        ("bare+host-copy", UpdatePath::Host, true),
        ("trainer", UpdatePath::Host, true),
        ("subnormal", UpdatePath::Host, true),
        ("subnormal", UpdatePath::Host, false),
    ] {
        // The binary's default: flushed on this thread and on rayon's, where flex computes.
        burnfit_fpenv::set_flush(flush);
        rayon::broadcast(|_| burnfit_fpenv::set_flush(flush));
        let mut model = MlpConfig::new(100).init(&device, 1).unwrap();
        let mut optim = OptimizerSettings::Adam(AdamSettings::keras())
            .build(None, update)
            .unwrap();
        let x0 = Tensor::<2>::from_data(TensorData::new(x_host.clone(), [batch, 100]), &device);
        let y0 = Tensor::<2>::from_data(TensorData::new(y_host.clone(), [batch, 1]), &device);
        let (mut losses, mut outputs, mut read) = (Vec::new(), Vec::new(), 0usize);
        let start = Instant::now();
        for step in 0..steps {
            let (x, y) = if variant == "bare" || variant == "subnormal" {
                (x0.clone(), y0.clone())
            } else {
                (
                    Tensor::<2>::from_data(TensorData::new(x_host.clone(), [batch, 100]), &device),
                    Tensor::<2>::from_data(TensorData::new(y_host.clone(), [batch, 1]), &device),
                )
            };
            let out = model.forward(x);
            let mut loss = bce_with_logits(out.clone(), y).unwrap();
            if variant == "subnormal" {
                loss = loss.mul_scalar(1e-37);
            }
            if variant == "trainer" {
                losses.push(loss.clone().inner());
                outputs.push(out.inner());
                if (step + 1) % 200 == 0 || step + 1 == steps {
                    read += Tensor::cat(std::mem::take(&mut losses), 0)
                        .into_data()
                        .num_elements();
                    read += Tensor::cat(std::mem::take(&mut outputs), 0)
                        .into_data()
                        .num_elements();
                }
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        assert!(variant != "trainer" || read == steps * (batch + 1));
        let secs = start.elapsed().as_secs_f64();
        let mode = if flush { "flushed" } else { "IEEE" };
        println!(
            "{variant:>14}, {update:?} update, subnormals {mode}: batch {batch}: {:.0} samples/s ({:.1} µs/step)",
            (steps * batch) as f64 / secs,
            secs * 1e6 / steps as f64
        );
    }
}
