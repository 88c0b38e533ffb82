//! One optimization step, the order and learning rate that feed it, and the running sums that
//! read its results back from the device.

use anyhow::Result;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::{Loss, Mlp};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::config::{Config, LrSchedule};
use crate::data::buffer::Buffer;
use crate::data::Matrix;

/// Steps between reads of the losses and outputs (progress display and divergence check).
pub(crate) const READ_EVERY: usize = 200;

/// The learning rate for `epoch` (0-based) and `step`, from the schedule.
pub(crate) fn learning_rate(
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
pub(crate) fn epoch_order(config: &Config, n: usize, epoch: usize) -> Order {
    match u32::try_from(n) {
        Ok(_) => Order::Narrow(shuffled(identity(n, |i| i as u32), config, epoch)),
        Err(_) => Order::Wide(shuffled(identity(n, |i| i), config, epoch)),
    }
}

/// `0, 1, … n − 1` as `T`, in a [`Buffer::for_rows`].
fn identity<T: bytemuck::Pod>(n: usize, f: impl Fn(usize) -> T) -> Buffer<T> {
    let mut order = Buffer::for_rows("an epoch's order of the training rows", n);
    for (i, place) in order.iter_mut().enumerate() {
        *place = f(i);
    }
    order
}

/// `order` shuffled for `epoch` when the config shuffles. The permutation depends on the length
/// alone, not on the type of the indices (a unit test holds it to that).
fn shuffled<T: bytemuck::Pod>(mut order: Buffer<T>, config: &Config, epoch: usize) -> Buffer<T> {
    if config.train.shuffle {
        order.shuffle(&mut StdRng::seed_from_u64(
            config.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
    }
    order
}

/// An epoch's order of the training rows: 4 bytes a row below 2^32 rows, where row indices as
/// `usize` took 8 (a third of the memory a row of a 20M-row run held besides its inputs); in a
/// mapped file past [`crate::data::buffer::SPILL_ABOVE`].
pub(crate) enum Order {
    /// Fewer than 2^32 rows.
    Narrow(Buffer<u32>),
    /// More.
    Wide(Buffer<usize>),
}

impl Order {
    /// Positions `range` of the order (a batch), into `out`.
    pub(crate) fn rows(&self, range: std::ops::Range<usize>, out: &mut Vec<usize>) {
        out.clear();
        self.each(range, |r| out.push(r));
    }

    /// Each row at positions `range` of the order, in order.
    pub(crate) fn each(&self, range: std::ops::Range<usize>, mut f: impl FnMut(usize)) {
        match self {
            Order::Narrow(o) => o[range].iter().for_each(|&r| f(r as usize)),
            Order::Wide(o) => o[range].iter().for_each(|&r| f(r)),
        }
    }
}

/// What a step minimises: the loss, each training row's weight in it (`train.class_weight`
/// times `data.weight`; `None`: all 1), and a softmax's label smoothing
/// (`train.label_smoothing`; 0 for the other losses).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Objective<'a> {
    /// The loss.
    pub(crate) loss: Loss,
    /// Each training row's weight, indexed like the rows of the training matrix.
    pub(crate) weights: Option<&'a [f32]>,
    /// ε: a one-hot target becomes `(1 − ε)·onehot + ε/k`.
    pub(crate) smoothing: f32,
}

impl Objective<'_> {
    /// The plain loss: no weights, no smoothing.
    pub(crate) fn plain(loss: Loss) -> Self {
        Objective {
            loss,
            weights: None,
            smoothing: 0.0,
        }
    }
}

/// One optimization step on rows `rows` of `m` at learning rate `lr`, each row's loss weighted
/// by `weights[row]` (`train.class_weight`, `data.weight`) when given. Returns the updated model
/// and, off the autodiff graph (on the inner device), the batch's outputs and its mean loss.
///
/// With `part_rows` set, a batch of more rows is split into that many rows or fewer a part, each
/// part's forward and backward pass runs on its own thread of rayon's pool over its own
/// [`Mlp::replica`], and the parts' gradients are added in order (a CPU's cores then share
/// the element-wise work too, not only the matrix products: docs/DESIGN.md). The parts depend on
/// the batch alone, never on the number of threads, so a run gives the same bits on any pool.
pub(crate) fn step_on(
    model: Mlp,
    optim: &mut burnfit_model::MlpOptimizer,
    objective: Objective<'_>,
    lr: f64,
    (m, rows): (&Matrix, &[usize]),
    ad: &Device,
    part_rows: Option<usize>,
) -> Result<(Mlp, Tensor<2>, Tensor<1>)> {
    let parts = part_rows.map_or(1, |p| rows.len().div_ceil(p.max(1)));
    if parts <= 1 {
        let (grads, out, loss) = pass(&model, objective, (m, rows), ad, None)?;
        let model = optim.step(lr, model, grads);
        return Ok((model, out, loss));
    }
    let n = rows.len();
    let bounds: Vec<(usize, usize)> = (0..parts)
        .map(|i| (i * n / parts, (i + 1) * n / parts))
        .collect();
    // A wave of parts per pool thread at a time, summed into `grads` before the next: memory for
    // a pool's worth of gradients, not a batch's.
    let wave = rayon::current_num_threads().max(1);
    let (mut grads, mut outs, mut losses) =
        (None, Vec::with_capacity(parts), Vec::with_capacity(parts));
    for group in bounds.chunks(wave) {
        let done: Vec<Result<_>> = group
            .par_iter()
            .map(|&(lo, hi)| {
                let scale = (hi - lo) as f64 / n as f64;
                pass(
                    &model.replica(),
                    objective,
                    (m, &rows[lo..hi]),
                    ad,
                    Some(scale),
                )
            })
            .collect();
        let mut wave_grads: Vec<GradientsParams> = grads.take().into_iter().collect();
        for part in done {
            let (g, out, loss) = part?;
            wave_grads.push(g);
            outs.push(out);
            losses.push(loss);
        }
        grads = Some(model.sum_gradients(wave_grads));
    }
    let grads = grads.expect("at least one part");
    let loss = losses
        .into_iter()
        .reduce(|a, b| a + b)
        .expect("at least one part");
    let model = optim.step(lr, model, grads);
    Ok((model, Tensor::cat(outs, 0), loss))
}

/// The forward and backward pass over rows `rows` of `m`: the gradients, and off the autodiff
/// graph the outputs and the mean loss, times `scale` when the rows are a part of a batch
/// (their share of its rows, so the parts' losses and gradients add up to the batch's).
fn pass(
    model: &Mlp,
    objective: Objective<'_>,
    (m, rows): (&Matrix, &[usize]),
    ad: &Device,
    scale: Option<f64>,
) -> Result<(GradientsParams, Tensor<2>, Tensor<1>)> {
    let width = m.width;
    // Gathered straight into the buffer the tensor takes over: one copy of each row.
    let x = m.gather(rows);
    let x = Tensor::<2>::from_data(TensorData::new(x, [rows.len(), width]), ad);
    let (loss_fn, weights) = (objective.loss, objective.weights);
    let y = targets(m, rows, objective, model.output_width(), ad);
    let out = model.forward(x); // [rows, outputs]
    let mut loss = match weights {
        // Each training row's weight (`train.class_weight`), gathered like its label.
        Some(w) => {
            let w: Vec<f32> = rows.iter().map(|&r| w[r]).collect();
            let w = Tensor::<2>::from_data(TensorData::new(w, [rows.len(), 1]), ad);
            loss_fn.compute_weighted(out.clone(), y, w)?
        }
        None => loss_fn.compute(out.clone(), y)?,
    };
    if let Some(scale) = scale {
        loss = loss.mul_scalar(scale);
    }
    // `inner()`, not `detach()`: the kept tensors leave autodiff altogether, so the reads that
    // concatenate two hundred of them run on the inner device, not through autodiff's
    // bookkeeping (`trainer` against `bare` in step_bench: 12 µs a step of 32 with `detach`).
    let detached = loss.clone().inner();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    Ok((grads, out.inner(), detached))
}

/// The targets of rows `rows` of `m` as the loss takes them: `[rows, 1]`, `[rows, k]` for k
/// label columns, or for a k-class softmax each row's class as a one-hot row of `[rows, k]`,
/// smoothed by the objective's ε (built here, so the matrix keeps one number per row whatever
/// k is).
pub(crate) fn targets(
    m: &Matrix,
    rows: &[usize],
    objective: Objective<'_>,
    k: usize,
    device: &Device,
) -> Tensor<2> {
    if objective.loss == Loss::CrossEntropy {
        let eps = objective.smoothing;
        let (off, on) = (eps / k as f32, 1.0 - eps + eps / k as f32);
        let mut y = vec![off; rows.len() * k];
        for (i, &r) in rows.iter().enumerate() {
            y[i * k + m.y[r] as usize] = on;
        }
        return Tensor::<2>::from_data(TensorData::new(y, [rows.len(), k]), device);
    }
    Tensor::<2>::from_data(
        TensorData::new(m.gather_y(rows), [rows.len(), m.y_width]),
        device,
    )
}

/// Wrong predictions in `outputs` (`width` raw outputs a row) against `targets`: labels on the
/// other side of the threshold's logit `cut` (one target per output: one label, or several),
/// or rows whose first largest output is not their class (a softmax, one target a row).
pub(crate) fn wrong(outputs: &[f32], width: usize, targets: &[f32], cut: f32) -> usize {
    if outputs.len() == targets.len() {
        return outputs
            .iter()
            .zip(targets)
            .filter(|(&z, &y)| (z > cut) != (y > 0.5))
            .count();
    }
    crate::metrics::classes::predicted(outputs, width)
        .into_iter()
        .zip(targets)
        .filter(|(p, &y)| *p != y as usize)
        .count()
}

/// Reads a one-element tensor back to the host (a device sync).
pub(crate) fn read_scalar(t: &Tensor<1>) -> f32 {
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
    pub(crate) loss: f64,
    /// Wrong predictions (BCE and cross-entropy).
    pub(crate) wrong: f64,
    /// The 0-based step of `losses[0]`.
    pub(crate) first: usize,
    /// Each unread step's mean loss, `[1]`.
    pub(crate) losses: Vec<Tensor<1>>,
    /// Each unread step's raw outputs, `[rows, width]` (classifiers only, for the
    /// wrong-prediction count).
    pub(crate) outputs: Vec<Tensor<2>>,
    /// Outputs per row.
    pub(crate) width: usize,
    /// Label values per row (one, or one per label column of several).
    pub(crate) y_width: usize,
    /// The logit of the decision threshold: a row is predicted class 1 above it.
    pub(crate) cut: f32,
    /// The rows the epoch's steps took, when not every training row once (a private run's
    /// Poisson samples).
    pub(crate) seen: Option<usize>,
}

impl Tally {
    /// Sums that start from `partial` (an interrupted epoch's) at step `first`.
    pub(crate) fn new(partial: crate::run::Partial, first: usize) -> Self {
        Self {
            loss: partial.loss,
            wrong: partial.wrong,
            first,
            losses: Vec::with_capacity(READ_EVERY),
            outputs: Vec::with_capacity(READ_EVERY),
            cut: 0.0,
            width: 1,
            y_width: 1,
            seen: None,
        }
    }

    /// Reads the unread steps (one concatenation and one sync each for losses and outputs) into
    /// the sums; `y` holds the labels of their rows (from step `first` on) in step order, of an
    /// epoch of `n` rows. A non-finite loss is returned with its 0-based step.
    pub(crate) fn read(&mut self, batch: usize, n: usize, y: &[f32]) -> Result<(), (usize, f32)> {
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
            let rows = batch.min(n - step * batch);
            self.loss += l as f64 * rows as f64;
        }
        if !self.outputs.is_empty() {
            let z = host(Tensor::cat(std::mem::take(&mut self.outputs), 0).into_data());
            let (yw, rows) = (self.y_width, z.len() / self.width);
            let y = &y[..rows * yw];
            self.wrong += wrong(&z, self.width, y, self.cut) as f64;
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

    /// Eight rows of three features and their labels.
    fn matrix() -> Matrix {
        Matrix {
            x: (0..24)
                .map(|i| ((i * 37) % 11) as f32 / 11.0 - 0.4)
                .collect(),
            y: vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0].into(),
            y_width: 1,
            rows: 8,
            width: 3,
            source_rows: (1..=8).collect(),
        }
    }

    /// Two steps of `settings` from the same seed over rows `rows` (with row weights for the
    /// second), with the batch in parts of `part_rows`, on a pool of `threads`: the weights and
    /// both losses.
    fn two_steps(
        settings: &burnfit_model::OptimizerSettings,
        part_rows: Option<usize>,
        threads: usize,
        rows: &[usize],
    ) -> (Vec<f32>, [f32; 2]) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let ad = Device::flex().autodiff();
            let network = burnfit_model::MlpConfig::new(3).with_hidden(vec![5, 4]);
            let mut model = network.init(&ad, 7).unwrap();
            let mut optim = settings
                .build(None, burnfit_model::UpdatePath::Host)
                .unwrap();
            let (m, weights) = (matrix(), [0.5, 2.0, 1.0, 1.0, 3.0, 1.0, 0.25, 1.0]);
            let mut losses = [0.0; 2];
            for (i, w) in [None, Some(&weights[..])].into_iter().enumerate() {
                let (next, out, loss) = step_on(
                    model,
                    &mut optim,
                    Objective {
                        weights: w,
                        ..Objective::plain(Loss::Bce)
                    },
                    settings.lr(),
                    (&m, rows),
                    &ad,
                    part_rows,
                )
                .unwrap();
                assert_eq!(out.dims(), [rows.len(), 1]);
                (model, losses[i]) = (next, read_scalar(&loss));
            }
            let weights = model
                .layers
                .iter()
                .flat_map(|l| host(l.weight.val().into_data()))
                .collect();
            (weights, losses)
        })
    }

    /// With plain gradient descent the update is the gradient itself, so a part's loss share
    /// that was off would show; Adam is the host path the CPU backends train with.
    #[test]
    fn softmax_targets_are_one_hot_rows_smoothed_by_epsilon() {
        // Rows 0 and 3 of a 3-class matrix (classes 1 and 2), ε = 0.3: off 0.1, on 0.8.
        let mut m = matrix();
        m.y = vec![0.0, 1.0, 2.0, 2.0, 0.0, 1.0, 2.0, 0.0].into();
        let objective = Objective {
            smoothing: 0.3,
            ..Objective::plain(Loss::CrossEntropy)
        };
        let y = host(targets(&m, &[1, 3], objective, 3, &Device::flex()).into_data());
        let want = [0.1, 0.8, 0.1, 0.1, 0.1, 0.8];
        for (g, w) in y.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{y:?}");
        }
        // No smoothing: one-hot; one output: the label itself.
        let y = host(
            targets(
                &m,
                &[2],
                Objective::plain(Loss::CrossEntropy),
                3,
                &Device::flex(),
            )
            .into_data(),
        );
        assert_eq!(y, [0.0, 0.0, 1.0]);
        let y = host(
            targets(
                &matrix(),
                &[0, 1],
                Objective::plain(Loss::Bce),
                1,
                &Device::flex(),
            )
            .into_data(),
        );
        assert_eq!(y, [1.0, 0.0]);
    }

    #[test]
    fn a_batch_in_parts_trains_like_the_whole_batch_and_the_same_on_any_pool() {
        use burnfit_model::{AdamSettings, OptimizerSettings, SgdSettings};
        let rows = [6, 1, 3, 0, 7, 2, 5];
        let sgd = SgdSettings {
            lr: 0.5,
            ..SgdSettings::keras()
        };
        for settings in [
            OptimizerSettings::Sgd(sgd),
            OptimizerSettings::Adam(AdamSettings::keras()),
        ] {
            let (whole, whole_losses) = two_steps(&settings, None, 2, &rows);
            // Parts of 3, 2 and 2 rows: unequal shares of the loss.
            let (parts, part_losses) = two_steps(&settings, Some(3), 2, &rows);
            for (a, b) in whole.iter().zip(&parts) {
                assert!(
                    (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                    "{settings:?}: {a} against {b}"
                );
            }
            for (a, b) in whole_losses.iter().zip(&part_losses) {
                assert!((a - b).abs() <= 1e-6, "{settings:?}: loss {a} against {b}");
            }
            let fewer = two_steps(&settings, None, 2, &rows[..4]).0;
            assert_ne!(whole, fewer, "{settings:?}: the rows reach the weights");
            // The parts depend on the batch, not on the pool: the same bits on one thread or
            // three.
            let parts = (parts, part_losses);
            assert_eq!(
                two_steps(&settings, Some(3), 1, &rows),
                parts,
                "{settings:?}"
            );
            assert_eq!(
                two_steps(&settings, Some(3), 3, &rows),
                parts,
                "{settings:?}"
            );
        }
    }

    /// The 4-byte order is the permutation the 8-byte one was: results and resumed runs are
    /// the same as before it, and the same either side of 2^32 rows.
    #[test]
    fn an_epoch_s_order_is_the_same_permutation_in_4_and_8_byte_indices() {
        let config = Config {
            seed: 7,
            ..Config::default()
        };
        for n in [0usize, 1, 2, 31, 1000, 65_537] {
            for epoch in [0, 1, 9] {
                let narrow = shuffled((0..n as u32).collect(), &config, epoch);
                let wide = shuffled((0..n).collect::<Buffer<usize>>(), &config, epoch).to_vec();
                let narrow: Vec<usize> = narrow.iter().map(|&r| r as usize).collect();
                assert_eq!(narrow, wide, "{n} rows, epoch {epoch}");
                let mut rows = Vec::new();
                let order = epoch_order(&config, n, epoch);
                order.rows(0..n, &mut rows);
                assert_eq!(rows, wide);
                // The same from a mapped file.
                let dir = tempfile::TempDir::new().unwrap();
                let spilled = crate::data::buffer::spilling_into(dir.path(), || {
                    epoch_order(&config, n, epoch)
                });
                assert!(n == 0 || matches!(&spilled, Order::Narrow(o) if o.is_spilled()));
                spilled.rows(0..n, &mut rows);
                assert_eq!(rows, wide);
                if n > 30 {
                    assert_ne!(wide, (0..n).collect::<Vec<_>>(), "shuffled");
                }
            }
        }
    }

    #[test]
    fn the_tally_weights_losses_by_rows_and_counts_wrong_sides_of_zero() {
        // Five rows in batches of two: the last step has one row.
        let y = [1.0, 0.0, 1.0, 1.0, 0.0];
        let mut tally = Tally::new(crate::run::Partial::default(), 0);
        tally.losses = vec![tensor(vec![0.5], [1]), tensor(vec![1.0], [1])];
        tally.outputs = vec![
            tensor(vec![2.0, -1.0], [2, 1]), // both right
            tensor(vec![-0.5, 0.0], [2, 1]), // both wrong (0 is not > 0)
        ];
        tally.read(2, 5, &y).unwrap();
        assert_eq!((tally.loss, tally.wrong, tally.first), (3.0, 2.0, 2));
        tally.losses.push(tensor(vec![4.0], [1]));
        tally.outputs.push(tensor(vec![3.0], [1, 1])); // wrong: label 0
        tally.read(2, 5, &y[4..]).unwrap(); // the labels of the unread step's rows only
        assert_eq!((tally.loss, tally.wrong, tally.first), (7.0, 3.0, 3));
    }

    #[test]
    fn the_tally_names_the_first_step_whose_loss_is_not_finite() {
        let mut tally = Tally::new(crate::run::Partial::default(), 4);
        tally.losses = vec![
            tensor(vec![0.1], [1]),
            tensor(vec![f32::NAN], [1]),
            tensor(vec![f32::INFINITY], [1]),
        ];
        let (step, value) = tally.read(1, 8, &[0.0; 4]).unwrap_err();
        assert!(step == 5 && value.is_nan(), "{step} {value}");
    }
}
