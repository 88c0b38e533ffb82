//! The training loop: Burn's autodiff, `burn::optim` and burnpack on any device, with
//! validation, early stopping, a time budget, learning-rate schedules, checkpoints and resume.
//!
//! Why a lean loop and not burn-train's `Learner`: the loop must read the loss from the device
//! only every [`READ_EVERY`] steps (a read is a device sync, which costs on a GPU), resume
//! mid-epoch to the bit, and report metrics for a single sigmoid output; these are a few lines
//! here and extension work there. The parts are Burn's own (`Module`, `ModuleOptimizer`,
//! `GradientsParams`, burnpack records).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use burnfit_model::{Loss, Mlp, MlpConfig, UpdatePath};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::artifact::{CheckpointState, RunDir};
use crate::config::{Config, LrSchedule};
use crate::data::Matrix;
use crate::metrics::{self, Metrics};

/// Steps between reads of the losses and outputs (progress display and divergence check).
pub const READ_EVERY: usize = 200;

/// Rows per forward pass when evaluating.
const EVAL_CHUNK: usize = 8192;

/// One epoch's metrics (a row of `history.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate at the epoch's start.
    pub lr: f64,
    /// Metric name and value, training ones first.
    pub metrics: Vec<(String, f64)>,
}

impl EpochRow {
    /// The value of `name`, if recorded.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// All epochs ran.
    Completed,
    /// Early stopping.
    EarlyStopped,
    /// `max_time` ran out.
    TimeBudget,
    /// Ctrl-C.
    Interrupted,
}

/// What training produced.
pub struct Outcome {
    /// The final (or restored best) model, on the plain device.
    pub model: Mlp,
    /// Every epoch.
    pub history: Vec<EpochRow>,
    /// Best epoch by the monitored metric (or the last).
    pub best_epoch: usize,
    /// Why it stopped.
    pub stop: Stop,
    /// Seconds in the loop.
    pub seconds: f64,
    /// Training samples processed in this process.
    pub samples: u64,
}

/// A non-finite loss: the run cannot go on.
#[derive(Debug, thiserror::Error)]
#[error("training diverged at epoch {epoch}, step {step}: the loss became {value}; the last good checkpoint is kept in {checkpoints}\nhint: lower train.lr or set train.grad_clip")]
pub struct Diverged {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within it.
    pub step: usize,
    /// The value read.
    pub value: f32,
    /// The checkpoint folder.
    pub checkpoints: String,
}

/// Serializes a module's weights to burnpack bytes.
pub fn to_bytes(model: &Mlp) -> Result<Vec<u8>> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(bytes.to_vec())
}

/// Builds `config` on `device` and loads burnpack `bytes` into it; a corrupt or mismatched
/// file is an error, not a panic.
pub fn from_bytes(config: &MlpConfig, bytes: Vec<u8>, device: &Device, what: &str) -> Result<Mlp> {
    let model = config.init(device, 0)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("{what} is not a valid burnpack file: {e}"))?;
    model
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{what} does not match the saved network: {e}"))
}

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

/// One optimization step on rows `rows` of `m` at learning rate `lr`. Returns the updated model
/// and, detached, the batch's outputs and its mean loss.
pub fn step_on(
    model: Mlp,
    optim: &mut burn::optim::ModuleOptimizer,
    loss_fn: Loss,
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
    let loss = loss_fn.compute(out.clone(), y)?;
    let detached = loss.clone().detach();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(lr, model, grads);
    Ok((model, out.detach(), detached))
}

/// Reads a one-element tensor back to the host (a device sync).
pub fn read_scalar(t: &Tensor<1>) -> f32 {
    host(t.clone().into_data())[0]
}

/// Raw network outputs for every row of `m`, computed in large chunks on the plain device.
pub fn outputs(model: &Mlp, m: &Matrix, device: &Device) -> Vec<f32> {
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

/// Every metric of `loss` for `model` on `m`.
pub fn evaluate(model: &Mlp, m: &Matrix, loss: Loss, device: &Device) -> Metrics {
    metrics::compute(loss, &outputs(model, m, device), &m.y)
}

/// Formats a history row the way Keras's `verbose=2` does.
pub fn epoch_line(row: &EpochRow, epochs: usize, seconds: f64) -> String {
    let mut s = format!("epoch {}/{} - {:.1}s", row.epoch, epochs, seconds);
    for (name, v) in &row.metrics {
        s.push_str(&format!(" - {name} {v:.4}"));
    }
    s
}

/// An epoch's running sums, and the steps not yet read from the device.
struct Tally {
    /// Σ loss × rows.
    loss: f64,
    /// Wrong predictions (BCE).
    wrong: f64,
    /// The 0-based step of `losses[0]`.
    first: usize,
    /// Each unread step's mean loss, `[1]`.
    losses: Vec<Tensor<1>>,
    /// Each unread step's raw outputs, `[rows, 1]` (BCE only, for the wrong-prediction count).
    outputs: Vec<Tensor<2>>,
}

impl Tally {
    /// Reads the unread steps (one concatenation and one sync each for losses and outputs) into
    /// the sums; `ybuf` holds the epoch's labels in step order. A non-finite loss is returned
    /// with its 0-based step.
    fn read(&mut self, batch: usize, ybuf: &[f32]) -> Result<(), (usize, f32)> {
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
            // Wrong: the logit's side of 0 (probability 0.5) differs from the label.
            self.wrong += z
                .iter()
                .zip(y)
                .filter(|(&z, &y)| (z > 0.0) != (y > 0.5))
                .count() as f64;
        }
        self.first += count;
        Ok(())
    }
}

/// A tensor's values on the host as `f32`.
fn host(data: TensorData) -> Vec<f32> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// Trains on `data.train`, validating on `data.valid` each epoch.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &Config,
    mlp_config: &MlpConfig,
    train: &Matrix,
    valid: &Matrix,
    device: &Device,
    update: UpdatePath,
    run: &RunDir,
    resume: Option<crate::artifact::Checkpoint>,
    interrupt: &AtomicBool,
) -> Result<Outcome> {
    let t = &config.train;
    let loss_fn = t.loss;
    let n = train.rows;
    let batch = t.batch_size.get();
    if batch > n {
        bail!(
            "train.batch_size = {batch} is larger than the {n} training rows; lower it to at most {n}"
        );
    }
    let steps = n.div_ceil(batch);
    let epochs = t.epochs.get();
    let settings = t.optimizer_settings();
    let ad = device.clone().autodiff();
    let mut model = mlp_config.init(&ad, config.seed)?;
    let mut optim = settings.build(t.grad_clip.map(|c| c.0), update)?;
    let mut history: Vec<EpochRow> = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut best_weights: Option<Vec<u8>> = None;
    let mut wait = 0usize;
    let mut start_epoch = 0;
    let mut start_step = 0;
    let mut partial = vec![0f64; 2];
    if let Some(c) = resume {
        model = from_bytes(mlp_config, c.model, &ad, "checkpoint weights")?;
        optim = optim
            .from_bytes(Bytes::from_bytes_vec(c.optim))
            .map_err(|e| anyhow::anyhow!("checkpoint optimizer state is not valid: {e}"))?;
        history = c.state.history;
        best = c.state.best;
        wait = c.state.wait;
        start_epoch = c.state.epoch;
        start_step = c.state.step;
        if c.state.partial.len() == 2 {
            partial = c.state.partial;
        }
        if let Some((e, _)) = best {
            let best_file = run.file("checkpoints/best.bpk");
            best_weights = std::fs::read(&best_file).ok().filter(|_| e > 0);
        }
    }
    let monitor = t.early_stopping.as_ref().map(|e| e.monitor.clone());
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut samples = 0u64;
    let mut stop = Stop::Completed;
    // The epoch's labels in step order, which the tally reads back. The inputs are gathered one
    // batch at a time by `step_on` (a full copy of the training matrix per epoch would double
    // its memory).
    let mut ybuf = vec![0f32; n];

    let save =
        |model: &Mlp, optim: &burn::optim::ModuleOptimizer, state: CheckpointState| -> Result<()> {
            let optim_bytes = optim
                .into_bytes()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .to_vec();
            run.save_checkpoint(state, &to_bytes(model)?, &optim_bytes)
        };

    'epochs: for epoch in start_epoch..epochs {
        let epoch_start = Instant::now();
        let order = epoch_order(config, n, epoch);
        for (i, &r) in order.iter().enumerate() {
            ybuf[i] = train.y[r];
        }
        let first_step = if epoch == start_epoch { start_step } else { 0 };
        // Each step's loss and outputs stay on the device until READ_EVERY steps have run: one
        // read (a sync) then adds them to the epoch's sums here, instead of a sync, or a chain
        // of small device ops, per step.
        let mut tally = Tally {
            loss: if first_step > 0 { partial[0] } else { 0.0 },
            wrong: if first_step > 0 { partial[1] } else { 0.0 },
            first: first_step,
            losses: Vec::with_capacity(READ_EVERY),
            outputs: Vec::with_capacity(READ_EVERY),
        };
        let diverged = |step: usize, value: f32| Diverged {
            epoch: epoch + 1,
            step: step + 1,
            value,
            checkpoints: run.file("checkpoints").display().to_string(),
        };
        let bar = if tty {
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
                )
                .expect("valid template"),
            );
            bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
            bar.set_position(first_step as u64);
            Some(bar)
        } else {
            None
        };
        let lr_epoch = learning_rate(config, settings.lr(), epoch, 0, steps);
        for step in first_step..steps {
            let lo = step * batch;
            let hi = (lo + batch).min(n);
            let rows = hi - lo;
            let lr = learning_rate(config, settings.lr(), epoch, step, steps);
            let (next, out, loss) =
                step_on(model, &mut optim, loss_fn, lr, (train, &order[lo..hi]), &ad)?;
            model = next;
            tally.losses.push(loss);
            if loss_fn == Loss::Bce {
                tally.outputs.push(out);
            }
            samples += rows as u64;
            let done = step + 1;
            let interrupted = interrupt.load(Ordering::SeqCst) && done < steps;
            if done % READ_EVERY == 0 || done == steps || interrupted {
                if let Err((step, value)) = tally.read(batch, &ybuf) {
                    if let Some(b) = &bar {
                        b.abandon();
                    }
                    return Err(diverged(step, value).into());
                }
                if let Some(b) = &bar {
                    b.set_position(done as u64);
                    b.set_message(format!(
                        "loss {:.4}",
                        tally.loss / (done * batch).min(n) as f64
                    ));
                }
            } else if let Some(b) = &bar {
                b.inc(1);
            }
            if interrupted {
                let state = CheckpointState {
                    epoch,
                    step: done,
                    partial: vec![tally.loss, tally.wrong],
                    history: history.clone(),
                    best,
                    wait,
                    model_crc: 0,
                    optim_crc: 0,
                };
                save(&model, &optim, state)?;
                if let Some(b) = &bar {
                    b.abandon();
                }
                stop = Stop::Interrupted;
                break 'epochs;
            }
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let train_loss = tally.loss / n as f64;
        let second = match loss_fn {
            Loss::Bce => 1.0 - tally.wrong / n as f64,
            Loss::Mse => train_loss.sqrt(),
        };
        let inner = model.valid();
        let val = if valid.rows > 0 {
            evaluate(&inner, valid, loss_fn, device)
        } else {
            Vec::new()
        };
        let mut row = EpochRow {
            epoch: epoch + 1,
            lr: lr_epoch,
            metrics: vec![
                ("loss".into(), train_loss),
                (metrics::train_names(loss_fn)[1].into(), second),
            ],
        };
        row.metrics
            .extend(val.iter().map(|(k, v)| (format!("val_{k}"), *v)));
        if let Some(v) = row.get("val_loss").filter(|v| !v.is_finite()) {
            return Err(diverged(steps - 1, v as f32).into());
        }
        let line = epoch_line(&row, epochs, epoch_start.elapsed().as_secs_f64());
        eprintln!("{line}");
        history.push(row.clone());

        // Early stopping: Keras's rule (stop after `patience` epochs without an improvement
        // larger than `min_delta`).
        let mut stop_now = false;
        if let (Some(es), Some(name)) = (&t.early_stopping, &monitor) {
            if let Some(v) = row.get(name) {
                let better = match best {
                    None => true,
                    Some((_, b)) if metrics::higher_is_better(name) => v > b + es.min_delta.0,
                    Some((_, b)) => v < b - es.min_delta.0,
                };
                if better {
                    best = Some((epoch + 1, v));
                    wait = 0;
                    if es.restore_best {
                        let bytes = to_bytes(&model)?;
                        crate::artifact::write_atomic(&run.file("checkpoints/best.bpk"), &bytes)?;
                        best_weights = Some(bytes);
                    }
                } else {
                    wait += 1;
                    if wait >= es.patience {
                        stop = Stop::EarlyStopped;
                        stop_now = true;
                    }
                }
            }
            if let Some(limit) = es.max_time {
                if started.elapsed().as_secs_f64() > limit.0 && !stop_now {
                    stop = Stop::TimeBudget;
                    stop_now = true;
                }
            }
        }
        let state = CheckpointState {
            epoch: epoch + 1,
            step: 0,
            partial: vec![0.0; 2],
            history: history.clone(),
            best,
            wait,
            model_crc: 0,
            optim_crc: 0,
        };
        save(&model, &optim, state).context("cannot write checkpoint")?;
        if interrupt.load(Ordering::SeqCst) && epoch + 1 < epochs {
            stop = Stop::Interrupted;
            break;
        }
        if stop_now {
            break;
        }
    }

    let mut best_epoch = history.last().map_or(0, |r| r.epoch);
    let mut final_model = model.valid();
    if let (Some((e, _)), Some(bytes)) = (best, best_weights) {
        best_epoch = e;
        if t.early_stopping.as_ref().is_some_and(|es| es.restore_best) && stop != Stop::Interrupted
        {
            final_model = from_bytes(mlp_config, bytes, device, "best weights")?;
        }
    }
    Ok(Outcome {
        model: final_model,
        history,
        best_epoch,
        stop,
        seconds: started.elapsed().as_secs_f64(),
        samples,
    })
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
        let mut tally = Tally {
            loss: 0.0,
            wrong: 0.0,
            first: 0,
            losses: vec![tensor(vec![0.5], [1]), tensor(vec![1.0], [1])],
            outputs: vec![
                tensor(vec![2.0, -1.0], [2, 1]), // both right
                tensor(vec![-0.5, 0.0], [2, 1]), // both wrong (0 is not > 0)
            ],
        };
        tally.read(2, &ybuf).unwrap();
        assert_eq!((tally.loss, tally.wrong, tally.first), (3.0, 2.0, 2));
        tally.losses.push(tensor(vec![4.0], [1]));
        tally.outputs.push(tensor(vec![3.0], [1, 1])); // wrong: label 0
        tally.read(2, &ybuf).unwrap();
        assert_eq!((tally.loss, tally.wrong, tally.first), (7.0, 3.0, 3));
    }

    #[test]
    fn the_tally_names_the_first_step_whose_loss_is_not_finite() {
        let mut tally = Tally {
            loss: 0.0,
            wrong: 0.0,
            first: 4,
            losses: vec![
                tensor(vec![0.1], [1]),
                tensor(vec![f32::NAN], [1]),
                tensor(vec![f32::INFINITY], [1]),
            ],
            outputs: Vec::new(),
        };
        let (step, value) = tally.read(1, &[0.0; 8]).unwrap_err();
        assert!(step == 5 && value.is_nan(), "{step} {value}");
    }
}
