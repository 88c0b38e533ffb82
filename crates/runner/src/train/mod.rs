//! The training loop: Burn's autodiff, `burn::optim` and burnpack on any device, with
//! validation, early stopping, a time budget, learning-rate schedules, checkpoints and resume.
//!
//! Why a lean loop and not burn-train's `Learner`: the loop must read the loss from the device
//! only every [`READ_EVERY`] steps (a read is a device sync, which costs on a GPU), resume
//! mid-epoch to the bit, and report metrics for a single sigmoid output; these are a few lines
//! here and extension work there. The parts are Burn's own (`Module`, `ModuleOptimizer`,
//! `GradientsParams`, burnpack records).
//!
//! The rooms: [`step`] (one step, its order and learning rate, the running sums), [`infer`]
//! (batched inference and metrics), [`stopping`] (early stopping and the time budget),
//! [`progress`] (the terminal bar); this file holds the loop over a [`TrainState`].

mod infer;
mod memory;
mod private;
mod progress;
mod step;
mod stopping;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::{Bytes, Device};
use burnfit_model::MlpOptimizer;
use burnfit_model::{Loss, Mlp, MlpConfig, UpdatePath};

use crate::run::PrivacySummary;
pub(crate) use infer::{evaluate, outputs, predictions_of, CPU_EVAL_CHUNK, EVAL_CHUNK};
pub(crate) use memory::check_memory;
pub(crate) use private::Plan as PrivacyPlan;
pub(crate) use step::{
    epoch_order, host, learning_rate, read_scalar, step_on, Objective, Order, READ_EVERY,
};

use crate::config::{setting_error, Config};
use crate::data::Matrix;
use crate::head::Head;
use crate::history::EpochRow;
pub(crate) use crate::history::Stop;
use crate::metrics::{self, Metric, Split};
use crate::run::weights::{from_bytes, to_bytes};
use crate::run::{Best, Checkpoint, CheckpointState, Partial, RunDir, CHECKPOINTS};
use progress::Progress;
use step::Tally;
use stopping::Stopper;

/// What training produced.
pub(crate) struct Outcome {
    /// The final (or restored best) model, on the plain device.
    pub(crate) model: Mlp,
    /// Every epoch.
    pub(crate) history: Vec<EpochRow>,
    /// Best epoch by the monitored metric (or the last).
    pub(crate) best_epoch: usize,
    /// Why it stopped.
    pub(crate) stop: Stop,
    /// Seconds in the loop.
    pub(crate) seconds: f64,
    /// Training samples processed in this process.
    pub(crate) samples: u64,
    /// A private run's privacy spent over all its steps (resumed ones included).
    pub(crate) privacy: Option<PrivacySummary>,
}

/// A non-finite loss: the run cannot go on.
#[derive(Debug, thiserror::Error)]
#[error("training diverged at epoch {epoch}, step {step}: the loss became {value}; {kept}\nhint: lower train.lr or set train.grad_clip")]
pub(crate) struct Diverged {
    /// 1-based epoch.
    pub(crate) epoch: usize,
    /// 1-based step within it.
    pub(crate) step: usize,
    /// The value read.
    pub(crate) value: f32,
    /// What the run folder keeps, in words: the newest good checkpoint, or that there is none.
    pub(crate) kept: String,
    /// The epochs that finished before it, for `history.csv`.
    pub(crate) history: Vec<EpochRow>,
}

/// What a training run is given.
pub(crate) struct Job<'a> {
    /// The resolved config.
    pub(crate) config: &'a Config,
    /// The network's shape.
    pub(crate) network: &'a MlpConfig,
    /// Training rows.
    pub(crate) train: &'a Matrix,
    /// Validation rows (may be empty).
    pub(crate) valid: &'a Matrix,
    /// The plain device; training runs on its autodiff form.
    pub(crate) device: &'a Device,
    /// How the optimizer updates (host loop on CPUs, tensor ops on GPUs).
    pub(crate) update: UpdatePath,
    /// Where checkpoints go.
    pub(crate) run: &'a RunDir,
    /// The number of a stop signal (Ctrl-C, SIGTERM, SIGHUP) once one came: checkpoint and stop.
    pub(crate) interrupt: &'a AtomicUsize,
    /// Each training row's weight in the loss (`train.class_weight`); `None`: all 1.
    pub(crate) weights: Option<&'a [f32]>,
    /// Start from these weights (`--init-from`, safetensors) instead of seeded ones.
    pub(crate) init_from: Option<&'a std::path::Path>,
    /// Batches of more rows run as parts of at most this many, in parallel
    /// ([`step_on`]); `None`: one pass a batch.
    pub(crate) part_rows: Option<usize>,
    /// `[privacy]`, settled: every step is a DP-SGD step.
    pub(crate) privacy: Option<&'a PrivacyPlan>,
}

/// Everything the loop carries from step to step, and what a checkpoint saves of it.
pub(crate) struct TrainState {
    /// The model, on the autodiff device.
    pub(crate) model: Mlp,
    /// The optimizer and its state.
    pub(crate) optim: MlpOptimizer,
    /// Epochs fully done.
    pub(crate) epoch: usize,
    /// Steps done in the current epoch (non-zero only after an interrupted run).
    pub(crate) step: usize,
    /// The current epoch's running sums at `step`: loss × rows, and wrong predictions.
    pub(crate) partial: Partial,
    /// Every finished epoch.
    pub(crate) history: Vec<EpochRow>,
    /// Early stopping's best (epoch, value).
    pub(crate) best: Option<Best>,
    /// Epochs without improvement.
    pub(crate) wait: usize,
    /// Early stopping's best weights, when they are to be restored.
    pub(crate) best_weights: Option<Vec<u8>>,
    /// A private run's DP-SGD step, with its noise source.
    pub(crate) dp: Option<burnfit_model::DpSgd>,
    /// Training rows the current epoch's steps have taken so far (a private run's batches
    /// vary in size under Poisson sampling).
    pub(crate) seen: usize,
}

impl TrainState {
    /// A fresh start: seeded weights, a new optimizer.
    pub(crate) fn new(job: &Job, ad: &Device) -> Result<Self> {
        let mut model =
            (job.network.init(ad, job.config.seed)).map_err(|e| setting_error("model", e))?;
        if let Some(path) = job.init_from {
            crate::init_from::load(&mut model, path, ad)?;
        }
        Ok(Self {
            model,
            optim: optimizer(job)?,
            epoch: 0,
            step: 0,
            partial: Partial::default(),
            history: Vec::new(),
            best: None,
            wait: 0,
            best_weights: None,
            dp: job.privacy.map(|p| p.dp_sgd(None)).transpose()?,
            seen: 0,
        })
    }

    /// Where checkpoint `c` left off.
    pub(crate) fn from_checkpoint(job: &Job, ad: &Device, c: Checkpoint) -> Result<Self> {
        let optim = optimizer(job)?
            .with_bytes(Bytes::from_bytes_vec(c.optim))
            .map_err(|e| anyhow::anyhow!("checkpoint optimizer state is not valid: {e}"))?;
        let s = c.state;
        let dp = match job.privacy {
            Some(plan) => {
                let Some(noise) = s.noise.as_ref() else {
                    bail!("the checkpoint is of a run trained without [privacy]; a private run cannot continue it: train into a new folder")
                };
                Some(plan.dp_sgd(Some(noise))?)
            }
            None if s.noise.is_some() => bail!(
                "the checkpoint is of a private run; its config's [privacy] section is gone: put it back to continue"
            ),
            None => None,
        };
        Ok(Self {
            model: from_bytes(job.network, c.model, ad, "checkpoint weights")?,
            optim,
            epoch: s.epoch,
            step: s.step,
            partial: s.partial,
            history: s.history,
            best: s.best,
            wait: s.wait,
            best_weights: c.best,
            dp,
            seen: s.seen.unwrap_or(0),
        })
    }

    /// Saves the state as the run's newest checkpoint, made under `config`.
    pub(crate) fn checkpoint(&self, run: &RunDir, config: &Config) -> Result<()> {
        let state = CheckpointState {
            epoch: self.epoch,
            step: self.step,
            partial: self.partial,
            history: self.history.clone(),
            best: self.best,
            wait: self.wait,
            model_crc: 0,
            optim_crc: 0,
            best_crc: None,
            noise: self.dp.as_ref().map(burnfit_model::DpSgd::noise_state),
            seen: self.dp.as_ref().map(|_| self.seen),
            config_crc: Some(config_crc(config)),
        };
        let optim = self
            .optim
            .to_bytes()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_vec();
        let best = self.best_weights.as_deref();
        run.save_checkpoint(state, &to_bytes(&self.model)?, &optim, best)
    }
}

/// CRC32 of `config` resolved (`Config::to_toml`), as checkpoints record it: the same for the
/// file a run wrote and for that file read back, whatever its comments and spacing.
pub(crate) fn config_crc(config: &Config) -> u32 {
    crc32fast::hash(config.to_toml().as_bytes())
}

/// The optimizer `job` trains with, its state new.
fn optimizer(job: &Job) -> Result<MlpOptimizer> {
    let t = &job.config.train;
    Ok(t.optimizer_settings()
        .build(t.grad_clip.map(|c| c.0), job.update)
        .map_err(|e| setting_error("train", e))?)
}

/// How an epoch's steps ended.
enum Steps {
    /// Every step ran: the epoch's sums.
    Done(Tally),
    /// Ctrl-C: the checkpoint is written.
    Interrupted,
}

/// Trains on `job.train`, validating on `job.valid` each epoch, from `resume` if given.
pub(crate) fn train(job: &Job, resume: Option<Checkpoint>) -> Result<Outcome> {
    let t = &job.config.train;
    let (n, batch) = (job.train.rows, t.batch_size.get());
    // The command checks this before it makes the run folder; a caller that did not is told.
    if batch > n {
        bail!(
            "train.batch_size = {batch} is larger than the {n} training rows; lower it to at most {n}"
        );
    }
    let ad = job.device.clone().autodiff();
    let mut state = match resume {
        Some(c) => TrainState::from_checkpoint(job, &ad, c)?,
        None => TrainState::new(job, &ad)?,
    };
    let max_time = t.max_time.map(|m| m.0);
    let mut stopper = Stopper::new(t.early_stopping.as_ref(), max_time, state.best, state.wait);
    let started = Instant::now();
    let mut samples = 0u64;
    let mut stop = Stop::Completed;
    let epochs = t.epochs.get();
    while state.epoch < epochs {
        let epoch_start = Instant::now();
        let tally;
        (state, tally) = run_steps(job, state, &ad, &mut samples)?;
        let tally = match tally {
            Steps::Done(tally) => tally,
            Steps::Interrupted => {
                stop = Stop::Interrupted;
                break;
            }
        };
        let row = end_epoch(job, &state, tally)?;
        let line = row.line(epochs, epoch_start.elapsed().as_secs_f64());
        match job.privacy {
            Some(plan) => {
                let spent = plan.spent(private_steps(plan, state.epoch + 1, 0))?;
                say!("{line} - {}", private::epsilon_words(&spent));
            }
            None => say!("{line}"),
        }
        state.history.push(row.clone());
        let verdict = stopper.observe(&row, started.elapsed().as_secs_f64());
        (state.best, state.wait) = (stopper.best, stopper.wait);
        if verdict.improved && stopper.restores_best() {
            // Saved with the checkpoint below, checksummed with the rest.
            state.best_weights = Some(to_bytes(&state.model)?);
        }
        (state.epoch, state.step, state.partial) = (state.epoch + 1, 0, Partial::default());
        state
            .checkpoint(job.run, job.config)
            .context("cannot write checkpoint")?;
        if job.interrupt.load(Ordering::SeqCst) != 0 && state.epoch < epochs {
            stop = Stop::Interrupted;
            break;
        }
        if let Some(why) = verdict.stop {
            stop = why;
            break;
        }
    }
    finish(job, state, &stopper, stop, started, samples)
}

/// Runs the steps of epoch `state.epoch` from `state.step`: reads the device every
/// [`READ_EVERY`] steps, and on Ctrl-C checkpoints mid-epoch. Takes the state by value so that
/// each step owns the model it updates (a second reference would stop the optimizer from
/// updating the weights in place).
fn run_steps(
    job: &Job,
    mut state: TrainState,
    ad: &Device,
    samples: &mut u64,
) -> Result<(TrainState, Steps)> {
    if let Some(plan) = job.privacy {
        return run_private_steps(job, plan, state, ad, samples);
    }
    let t = &job.config.train;
    let (n, batch, epoch) = (job.train.rows, t.batch_size.get(), state.epoch);
    let steps = n.div_ceil(batch);
    let order = epoch_order(job.config, n, epoch);
    // A batch's rows, the next batch's (read ahead), and the labels of the steps the tally has
    // not read, in step order: gathered as they are needed (at most `READ_EVERY` batches'), not
    // held for the whole epoch. The inputs are gathered one batch at a time by `step_on`.
    let (mut rows, mut ahead, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let yw = job.train.y_width;
    let first = state.step;
    // Each step's loss and outputs stay on the device until READ_EVERY steps have run: one
    // read (a sync) then adds them to the epoch's sums here, instead of a sync, or a chain of
    // small device ops, per step.
    let mut tally = epoch_tally(&state);
    tally.cut = logit(t.threshold.during_training()) as f32;
    tally.width = state.model.output_width();
    tally.y_width = yw;
    let bar = Progress::start(epoch, t.epochs.get(), steps, first);
    let base = t.optimizer_settings().lr();
    // A matrix larger than memory read in a shuffled order: each batch's rows are asked for
    // while the step before them runs, a page each.
    job.train.read_at_random(t.shuffle);
    if t.shuffle {
        order.rows(first * batch..((first + 1) * batch).min(n), &mut ahead);
        job.train.prefetch(&ahead);
    }
    for step in first..steps {
        let (lo, hi) = (step * batch, ((step + 1) * batch).min(n));
        if t.shuffle && hi < n {
            order.rows(hi..(hi + batch).min(n), &mut ahead);
            job.train.prefetch(&ahead);
        }
        let lr = learning_rate(job.config, base, epoch, step, steps);
        order.rows(lo..hi, &mut rows);
        let (next, out, loss) = step_on(
            state.model,
            &mut state.optim,
            Objective {
                loss: t.loss,
                weights: job.weights,
                smoothing: t.label_smoothing.0 as f32,
            },
            lr,
            (job.train, &rows),
            ad,
            job.part_rows,
        )?;
        state.model = next;
        tally.losses.push(loss);
        if t.loss != Loss::Mse {
            tally.outputs.push(out);
        }
        *samples += (hi - lo) as u64;
        let done = step + 1;
        let interrupted = job.interrupt.load(Ordering::SeqCst) != 0 && done < steps;
        if done % READ_EVERY == 0 || done == steps || interrupted {
            // The labels are read for the wrong-prediction count only (none for MSE).
            labels.clear();
            if !tally.outputs.is_empty() {
                order.each(tally.first * batch..hi, |r| {
                    labels.extend_from_slice(job.train.labels_of(r));
                });
            }
            if let Err((step, value)) = tally.read(batch, n, &labels) {
                bar.abandon();
                return Err(diverged(job, &state, step, value).into());
            }
            bar.read(done, tally.loss / (done * batch).min(n) as f64);
        } else {
            bar.inc();
        }
        if interrupted {
            job.train.read_at_random(false);
            return stop_mid_epoch(job, state, &tally, done, bar);
        }
    }
    // Evaluation reads the matrix in order.
    job.train.read_at_random(false);
    bar.finish();
    Ok((state, Steps::Done(tally)))
}

/// [`run_steps`] for a private run: every step a DP-SGD step on a Poisson sample of the rows
/// (or a shuffled batch), its sums read to the host as it ends (batch sizes vary).
fn run_private_steps(
    job: &Job,
    plan: &PrivacyPlan,
    mut state: TrainState,
    ad: &Device,
    samples: &mut u64,
) -> Result<(TrainState, Steps)> {
    let t = &job.config.train;
    let (n, batch, epoch) = (job.train.rows, t.batch_size.get(), state.epoch);
    let steps = plan.steps_per_epoch();
    let order = epoch_order(job.config, n, epoch);
    let first = state.step;
    let mut tally = epoch_tally(&state);
    if first == 0 {
        state.seen = 0;
    }
    let cut = logit(t.threshold.during_training()) as f32;
    let bar = Progress::start(epoch, t.epochs.get(), steps, first);
    let base = t.optimizer_settings().lr();
    let q = plan.schedule.sample_rate();
    for step in first..steps {
        let lr = learning_rate(job.config, base, epoch, step, steps);
        let Some(dp) = state.dp.as_mut() else {
            bail!("a private run without its DP-SGD step");
        };
        let rows: Vec<usize> = match plan.schedule.sampling() {
            burnfit_privacy::Sampling::Poisson => {
                private::poisson_rows(&dp.noise_state(), epoch, step, n, q)
            }
            burnfit_privacy::Sampling::Shuffle => {
                let mut rows = Vec::new();
                order.rows(step * batch..((step + 1) * batch).min(n), &mut rows);
                rows
            }
        };
        let (next, loss, wrong) = private::step(
            state.model,
            &mut state.optim,
            dp,
            (
                Objective {
                    smoothing: t.label_smoothing.0 as f32,
                    ..Objective::plain(t.loss)
                },
                cut,
            ),
            lr,
            (job.train, &rows),
            ad,
        )?;
        state.model = next;
        if !loss.is_finite() {
            bar.abandon();
            return Err(diverged(job, &state, step, loss as f32).into());
        }
        (tally.loss, tally.wrong) = (tally.loss + loss, tally.wrong + wrong);
        state.seen += rows.len();
        *samples += rows.len() as u64;
        let done = step + 1;
        bar.read(done, tally.loss / state.seen.max(1) as f64);
        if job.interrupt.load(Ordering::SeqCst) != 0 && done < steps {
            return stop_mid_epoch(job, state, &tally, done, bar);
        }
    }
    bar.finish();
    tally.seen = Some(state.seen);
    Ok((state, Steps::Done(tally)))
}

/// The running sums an epoch's steps start from: an interrupted epoch's, or nothing.
fn epoch_tally(state: &TrainState) -> Tally {
    let first = state.step;
    Tally::new(
        if first > 0 {
            state.partial
        } else {
            Partial::default()
        },
        first,
    )
}

/// What a stop signal asks in the middle of an epoch: a checkpoint after `done` steps, with
/// the sums so far, and the loop's end.
fn stop_mid_epoch(
    job: &Job,
    mut state: TrainState,
    tally: &Tally,
    done: usize,
    bar: Progress,
) -> Result<(TrainState, Steps)> {
    (state.step, state.partial) = (
        done,
        Partial {
            loss: tally.loss,
            wrong: tally.wrong,
        },
    );
    state.checkpoint(job.run, job.config)?;
    bar.abandon();
    Ok((state, Steps::Interrupted))
}

/// `ln(t / (1 − t))`: the raw output at which the probability is `t` (0 for 0.5, exactly).
fn logit(t: f64) -> f64 {
    (t / (1.0 - t)).ln()
}

/// The finished epoch's history row: training sums and validation metrics.
fn end_epoch(job: &Job, state: &TrainState, tally: Tally) -> Result<EpochRow> {
    let t = &job.config.train;
    // Rows the epoch's steps took: every training row once, or a private run's Poisson
    // samples.
    let n = tally.seen.unwrap_or(job.train.rows).max(1);
    let train_loss = tally.loss / n as f64;
    let head = job.config.head();
    let second = match head {
        Head::Binary | Head::Classes => 1.0 - tally.wrong / n as f64,
        // Wrong labels of all the epoch's labels.
        Head::Labels => tally.wrong / (n * job.train.y_width) as f64,
        Head::Regression | Head::Targets => train_loss.sqrt(),
    };
    let val = if job.valid.rows > 0 {
        evaluate(
            &state.model.valid(),
            job.valid,
            head,
            &[t.threshold.during_training()],
            job.device,
        )
    } else {
        Vec::new()
    };
    let steps = n.div_ceil(t.batch_size.get());
    let mut row = EpochRow {
        epoch: state.epoch + 1,
        lr: learning_rate(
            job.config,
            t.optimizer_settings().lr(),
            state.epoch,
            0,
            steps,
        ),
        metrics: vec![
            ("loss".into(), train_loss),
            (metrics::train_names(head)[1].into(), second),
        ],
    };
    row.metrics.extend(
        val.iter()
            .map(|(k, v)| (Metric::new(k, Split::Validation).name(), *v)),
    );
    let val_loss = Metric::new("loss", Split::Validation).name();
    if let Some(v) = row.get(&val_loss).filter(|v| !v.is_finite()) {
        return Err(diverged(job, state, steps - 1, v as f32).into());
    }
    Ok(row)
}

/// The divergence error at 0-based `step` of the current epoch. Checkpoints are written only
/// from finite losses, so the newest one on disk is good.
fn diverged(job: &Job, state: &TrainState, step: usize, value: f32) -> Diverged {
    let kept = match job.run.latest_checkpoint(&mut Vec::new()) {
        Some(c) => format!(
            "the newest good checkpoint, {} (epoch {}, step {}), is kept",
            c.path.display(),
            c.state.epoch,
            c.state.step
        ),
        None => format!(
            "no checkpoint was kept: it diverged before the first epoch ended, so {} is empty",
            job.run.file(CHECKPOINTS).display()
        ),
    };
    Diverged {
        epoch: state.epoch + 1,
        step: step + 1,
        value,
        kept,
        history: state.history.clone(),
    }
}

/// The outcome: the final model (early stopping's best, restored, unless interrupted).
fn finish(
    job: &Job,
    state: TrainState,
    stopper: &Stopper,
    stop: Stop,
    started: Instant,
    samples: u64,
) -> Result<Outcome> {
    let mut best_epoch = state.history.last().map_or(0, |r| r.epoch);
    let mut model = state.model.valid();
    if let (Some(Best { epoch: e, .. }), Some(bytes)) = (state.best, state.best_weights) {
        best_epoch = e;
        if stopper.restores_best() && stop != Stop::Interrupted {
            model = from_bytes(job.network, bytes, job.device, "best weights")?;
        }
    }
    let privacy = job
        .privacy
        .map(|plan| private::summary(plan, private_steps(plan, state.epoch, state.step)))
        .transpose()?;
    Ok(Outcome {
        model,
        history: state.history,
        best_epoch,
        stop,
        seconds: started.elapsed().as_secs_f64(),
        samples,
        privacy,
    })
}

/// Private steps taken after `epochs` whole epochs and `step` more.
fn private_steps(plan: &PrivacyPlan, epochs: usize, step: usize) -> u64 {
    (epochs as u64)
        .saturating_mul(plan.steps_per_epoch() as u64)
        .saturating_add(step as u64)
}
