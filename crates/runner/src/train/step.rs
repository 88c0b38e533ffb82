//! One optimization step, the order and learning rate that feed it, and the running sums that
//! read its results back from the device.

use anyhow::Result;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::{Loss, Mlp};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::config::{Config, LrSchedule};
use crate::data::Matrix;

/// Steps between reads of the losses and outputs (progress display and divergence check).
pub const READ_EVERY: usize = 200;

/// The learning rate for `epoch` (0-based) and `step`, from the schedule.
pub fn learning_rate(
    config: &Config,
    base: f64,
    epoch: usize,
    step: usize,
    steps_per_epoch: usize,
) -> f64 {
    let t = &config.train;
    match t.lr_schedule {
        LrSchedule::Constant => base,
        LrSchedule::Step => base * t.lr_gamma.0.powi((epoch / t.lr_step_every.get()) as i32),
        LrSchedule::Cosine => {
            let total = (t.epochs.get() * steps_per_epoch).max(1) as f64;
            let progress = (epoch * steps_per_epoch + step) as f64 / total;
            t.lr_min.0 + 0.5 * (base - t.lr_min.0) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// The order in which epoch `epoch` (0-based) visits the `n` training rows. It depends only on
/// the seed and the epoch, so a resumed run, and every backend of a parity check, sees the same
/// batches.
pub fn epoch_order(config: &Config, n: usize, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if config.train.shuffle {
        order.shuffle(&mut StdRng::seed_from_u64(
            config.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
    }
    order
}

/// Each training row's loss weight, and the rows of this batch (indices into it).
pub type RowWeights<'a> = (&'a [f32], &'a [usize]);

/// One optimization step on rows `rows` of `m` at learning rate `lr`. Returns the updated model
/// and, off the autodiff graph (on the inner device), the batch's outputs and its mean loss.
pub fn step_on(
    model: Mlp,
    optim: &mut burnfit_model::MlpOptimizer,
    (loss_fn, weights): (Loss, Option<RowWeights<'_>>),
    lr: f64,
    (m, rows): (&Matrix, &[usize]),
    ad: &Device,
) -> Result<(Mlp, Tensor<2>, Tensor<1>)> {
    let width = m.width;
    // Gathered straight into the buffers the tensors take over: one copy of each row.
    let mut x = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        x.extend_from_slice(&m.x[r * width..(r + 1) * width]);
    }
    let y: Vec<f32> = rows.iter().map(|&r| m.y[r]).collect();
    let x = Tensor::<2>::from_data(TensorData::new(x, [rows.len(), width]), ad);
    let y = Tensor::<2>::from_data(TensorData::new(y, [rows.len(), 1]), ad);
    let out = model.forward(x); // [rows, 1]
    let loss = match weights {
        // Each training row's weight (`train.class_weight`), gathered like its label.
        Some((w, rows)) => {
            let w: Vec<f32> = rows.iter().map(|&r| w[r]).collect();
            let w = Tensor::<2>::from_data(TensorData::new(w, [rows.len(), 1]), ad);
            loss_fn.compute_weighted(out.clone(), y, w)?
        }
        None => loss_fn.compute(out.clone(), y)?,
    };
    // `inner()`, not `detach()`: the kept tensors leave autodiff altogether, so the reads that
    // concatenate two hundred of them run on the inner device, not through autodiff's
    // bookkeeping (`trainer` against `bare` in step_bench: 12 µs a step of 32 with `detach`).
    let detached = loss.clone().inner();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(lr, model, grads);
    Ok((model, out.inner(), detached))
}

/// Reads a one-element tensor back to the host (a device sync).
pub fn read_scalar(t: &Tensor<1>) -> f32 {
    host(t.clone().into_data())[0]
}

/// A tensor's values on the host as `f32`.
pub(crate) fn host(data: TensorData) -> Vec<f32> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// An epoch's running sums, and the steps not yet read from the device.
pub(super) struct Tally {
    /// Σ loss × rows.
    pub loss: f64,
    /// Wrong predictions (BCE).
    pub wrong: f64,
    /// The 0-based step of `losses[0]`.
    pub first: usize,
    /// Each unread step's mean loss, `[1]`.
    pub losses: Vec<Tensor<1>>,
    /// Each unread step's raw outputs, `[rows, 1]` (BCE only, for the wrong-prediction count).
    pub outputs: Vec<Tensor<2>>,
    /// The logit of the decision threshold: a row is predicted class 1 above it.
    pub cut: f32,
}

impl Tally {
    /// Sums that start from `partial` (an interrupted epoch's) at step `first`.
    pub fn new((loss, wrong): (f64, f64), first: usize) -> Self {
        Self {
            loss,
            wrong,
            first,
            losses: Vec::with_capacity(READ_EVERY),
            outputs: Vec::with_capacity(READ_EVERY),
            cut: 0.0,
        }
    }

    /// Reads the unread steps (one concatenation and one sync each for losses and outputs) into
    /// the sums; `ybuf` holds the epoch's labels in step order. A non-finite loss is returned
    /// with its 0-based step.
    pub fn read(&mut self, batch: usize, ybuf: &[f32]) -> Result<(), (usize, f32)> {
        if self.losses.is_empty() {
            return Ok(());
        }
        let count = self.losses.len();
        let losses = host(Tensor::cat(std::mem::take(&mut self.losses), 0).into_data());
        for (i, &l) in losses.iter().enumerate() {
            let step = self.first + i;
            if !l.is_finite() {
                return Err((step, l));
            }
            let rows = batch.min(ybuf.len() - step * batch);
            self.loss += l as f64 * rows as f64;
        }
        if !self.outputs.is_empty() {
            let z = host(Tensor::cat(std::mem::take(&mut self.outputs), 0).into_data());
            let y = &ybuf[self.first * batch..self.first * batch + z.len()];
            // Wrong: the logit's side of the threshold's logit differs from the label.
            let cut = self.cut;
            self.wrong += z
                .iter()
                .zip(y)
                .filter(|(&z, &y)| (z > cut) != (y > 0.5))
                .count() as f64;
        }
        self.first += count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    #[test]
    fn the_tally_weights_losses_by_rows_and_counts_wrong_sides_of_zero() {
        // Five rows in batches of two: the last step has one row.
        let ybuf = [1.0, 0.0, 1.0, 1.0, 0.0];
        let mut tally = Tally::new((0.0, 0.0), 0);
        tally.losses = vec![tensor(vec![0.5], [1]), tensor(vec![1.0], [1])];
        tally.outputs = vec![
            tensor(vec![2.0, -1.0], [2, 1]), // both right
            tensor(vec![-0.5, 0.0], [2, 1]), // both wrong (0 is not > 0)
        ];
        tally.read(2, &ybuf).unwrap();
        assert_eq!((tally.loss, tally.wrong, tally.first), (3.0, 2.0, 2));
        tally.losses.push(tensor(vec![4.0], [1]));
        tally.outputs.push(tensor(vec![3.0], [1, 1])); // wrong: label 0
        tally.read(2, &ybuf).unwrap();
        assert_eq!((tally.loss, tally.wrong, tally.first), (7.0, 3.0, 3));
    }

    #[test]
    fn the_tally_names_the_first_step_whose_loss_is_not_finite() {
        let mut tally = Tally::new((0.0, 0.0), 4);
        tally.losses = vec![
            tensor(vec![0.1], [1]),
            tensor(vec![f32::NAN], [1]),
            tensor(vec![f32::INFINITY], [1]),
        ];
        let (step, value) = tally.read(1, &[0.0; 8]).unwrap_err();
        assert!(step == 5 && value.is_nan(), "{step} {value}");
    }
}
