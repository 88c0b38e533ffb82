//! Batched inference on the plain (non-autodiff) device: raw outputs and every metric.

use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::Mlp;
use rayon::prelude::*;

use super::step::host;
use crate::data::buffer::Buffer;
use crate::data::Matrix;
use crate::head::Head;
use crate::metrics::{self, Metrics};

/// Rows per forward pass when evaluating on a GPU.
pub(crate) const EVAL_CHUNK: usize = 8192;

/// Rows per forward pass when evaluating on flex, where the chunks run in parallel.
pub(crate) const CPU_EVAL_CHUNK: usize = 2048;

/// Raw network outputs for every row of `m`, computed in chunks on the plain device, on
/// rayon's pool (`threads::on_pool`).
///
/// On flex the chunks run in parallel over the pool, so its threads share the element-wise
/// work as well as the products: the seed's validation at batch 1024 (20,000 rows) took 8–14 →
/// 6–7 ms an epoch on a 2-core AMD EPYC. A GPU takes larger chunks one after another from one
/// thread. A row's output does not depend on the chunk it is in.
pub(crate) fn outputs(model: &Mlp, m: &Matrix, device: &Device) -> Buffer {
    let width = model.output_width();
    let mut out = Buffer::for_rows("a split's outputs", m.rows * width);
    outputs_into(model, m, 0..m.rows, device, &mut out);
    out
}

/// [`outputs`] for rows `range` of `m` only: a part of a table larger than memory.
pub(crate) fn outputs_of(
    model: &Mlp,
    m: &Matrix,
    range: std::ops::Range<usize>,
    device: &Device,
) -> Vec<f32> {
    let rows = range.end.min(m.rows).saturating_sub(range.start);
    let mut out = vec![0f32; rows * model.output_width()];
    outputs_into(model, m, range, device, &mut out);
    out
}

/// The outputs of rows `range` of `m` into `out` (their number of rows times the outputs).
fn outputs_into(
    model: &Mlp,
    m: &Matrix,
    range: std::ops::Range<usize>,
    device: &Device,
    out: &mut [f32],
) {
    let end = range.end.min(m.rows);
    let width = model.output_width().max(1);
    crate::threads::on_pool(|| {
        if *device == Device::flex() {
            // Each chunk writes its own place: the outputs are held once, not once in parts
            // and again joined (4 bytes a row more at the end of a run of millions of rows).
            out.par_chunks_mut(CPU_EVAL_CHUNK * width)
                .enumerate()
                .for_each(|(i, place)| {
                    let lo = range.start + i * CPU_EVAL_CHUNK;
                    place.copy_from_slice(&chunk(
                        model,
                        m,
                        lo,
                        (lo + CPU_EVAL_CHUNK).min(end),
                        device,
                    ));
                });
        } else {
            for (place, lo) in out
                .chunks_mut(EVAL_CHUNK * width)
                .zip(range.step_by(EVAL_CHUNK))
            {
                place.copy_from_slice(&chunk(model, m, lo, (lo + EVAL_CHUNK).min(end), device));
            }
        }
    })
}

/// Raw outputs for rows `lo..hi` of `m`.
fn chunk(model: &Mlp, m: &Matrix, lo: usize, hi: usize, device: &Device) -> Vec<f32> {
    let x = Tensor::<2>::from_data(
        TensorData::new(m.x[lo * m.width..hi * m.width].to_vec(), [hi - lo, m.width]),
        device,
    );
    host(model.forward(x).into_data()) // [rows, outputs]
}

/// What `predict` writes for rows `range` of `m`: the raw outputs through the loss's head
/// (`Loss::activate_row`), in f64, row-major: a probability per label for BCE, the values for
/// MSE, k class probabilities for cross-entropy.
pub(crate) fn predictions_of(
    model: &Mlp,
    m: &Matrix,
    range: std::ops::Range<usize>,
    head: Head,
    device: &Device,
) -> Vec<f64> {
    let loss = head.loss();
    let mut out: Vec<f64> = outputs_of(model, m, range, device)
        .into_iter()
        .map(f64::from)
        .collect();
    out.chunks_mut(model.output_width())
        .for_each(|row| loss.activate_row(row));
    out
}

/// Every metric of `head` for `model` on `m`, a label 1 above its threshold (`thresholds`:
/// one for all labels, or one each).
pub(crate) fn evaluate(
    model: &Mlp,
    m: &Matrix,
    head: Head,
    thresholds: &[f64],
    device: &Device,
) -> Metrics {
    let width = model.output_width();
    metrics::compute(head, (&outputs(model, m, device), width), &m.y, thresholds)
}
