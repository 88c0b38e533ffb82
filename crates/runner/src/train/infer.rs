//! Batched inference on the plain (non-autodiff) device: raw outputs and every metric.

use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::{Loss, Mlp};

use super::step::host;
use crate::data::Matrix;
use crate::metrics::{self, Metrics};

/// Rows per forward pass when evaluating.
const EVAL_CHUNK: usize = 8192;

/// Raw network outputs for every row of `m`, computed in large chunks on the plain device, on
/// rayon's pool (`threads::on_pool`: the chunks' products are split over it).
pub fn outputs(model: &Mlp, m: &Matrix, device: &Device) -> Vec<f32> {
    crate::threads::on_pool(|| outputs_here(model, m, device))
}

fn outputs_here(model: &Mlp, m: &Matrix, device: &Device) -> Vec<f32> {
    let mut out = Vec::with_capacity(m.rows);
    for lo in (0..m.rows).step_by(EVAL_CHUNK) {
        let hi = (lo + EVAL_CHUNK).min(m.rows);
        let x = Tensor::<2>::from_data(
            TensorData::new(m.x[lo * m.width..hi * m.width].to_vec(), [hi - lo, m.width]),
            device,
        );
        let y = model.forward(x); // [rows, 1]
        out.extend(host(y.into_data()));
    }
    out
}

/// What `predict` writes for every row of `m`: the raw outputs through the loss's head
/// (`Loss::activate_value`), probabilities for BCE and values for MSE, in f64.
pub fn predictions(model: &Mlp, m: &Matrix, loss: Loss, device: &Device) -> Vec<f64> {
    outputs(model, m, device)
        .into_iter()
        .map(|z| loss.activate_value(f64::from(z)))
        .collect()
}

/// Every metric of `loss` for `model` on `m`, class 1 above `threshold`.
pub fn evaluate(model: &Mlp, m: &Matrix, loss: Loss, threshold: f64, device: &Device) -> Metrics {
    metrics::compute(loss, &outputs(model, m, device), &m.y, threshold)
}
