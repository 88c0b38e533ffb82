//! `burnfit train`: check everything, make the run folder, train, and write what the run left.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burnfit_model::{Loss, MlpConfig};

use super::final_line;
use crate::backend::{self, Selected};
use crate::config::{ClassWeight, Config};
use crate::metrics;
use crate::pipeline::{self, Prepared};
use crate::run::fingerprint::{self, Fingerprint};
use crate::run::summary::{metric_map, SplitProfile};
use crate::run::weights::to_bytes;
use crate::run::{self as rundir, Checkpoint, ModelFile, RunDir, Status, StatusFile, Summary};
use crate::train::{self, Job, Outcome, Stop};

/// What the command line asked of `train`.
pub(crate) struct TrainArgs<'a> {
    /// `--config`; none: the built-in seed.
    pub(crate) config: Option<&'a Path>,
    /// `--set key=value`.
    pub(crate) sets: &'a [String],
    /// `--out`.
    pub(crate) out: Option<PathBuf>,
    /// `--resume RUN_DIR`.
    pub(crate) resume: Option<&'a Path>,
    /// `--dry-run`.
    pub(crate) dry_run: bool,
    /// `--init-from FILE.safetensors`.
    pub(crate) init_from: Option<&'a Path>,
}

/// `burnfit train`.
pub(crate) fn train(args: TrainArgs, interrupt: &AtomicUsize) -> Result<ExitCode> {
    let total = Instant::now();
    // Everything that can fail on the user's input (config, backend, data) is checked before
    // a run folder is created, so a failed start leaves nothing behind.
    // A resumed folder is locked, and every file in it that the run will read or write checked
    // to be burnfit's own, before anything is read from it: a second `--resume` while the
    // first still trains, or a link planted in the folder, is refused at once, not after
    // loading the data or training.
    let resumed = args.resume.map(RunDir::hold).transpose()?;
    if let Some(run) = resumed
        .as_ref()
        .filter(|r| r.file(rundir::SUMMARY).is_file())
    {
        // A finished run has its summary: resuming it would only rewrite what it wrote.
        say!(
            "{} is finished (it has its {}); nothing to resume, nothing changed",
            run.path.display(),
            rundir::SUMMARY
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (config, run_path) = resolve(&args)?;
    super::report_warnings(&config);
    crate::threads::init(config.backend.flush_denormals);
    let meter = crate::footprint::Meter::start(&config.footprint.rapl_path);
    let selected = backend::select(&config.backend)?;
    backend::announce(&selected);
    let data = pipeline::prepare(&config).context("cannot prepare the data")?;
    for note in &data.notes {
        say!("note: {note}");
    }
    for warning in &data.warnings {
        say!("warning: {warning}");
    }
    say!(
        "data: {} training rows, {} validation rows, {} inputs ({:.2}s)",
        data.train.rows,
        data.valid.rows,
        data.train.width,
        data.seconds
    );
    crate::threads::init_pool(config.backend.flush_denormals);
    let network = config
        .model
        .mlp(data.pre.width())
        .with_output(data.pre.labels.outputs());
    preflight(&config, &data, &network)?;
    let class_weights = config
        .train
        .class_weight
        .weights(&data.train.y, data.pre.labels.outputs().max(2));
    let row_weights = row_weights(&config, &data, class_weights.as_deref())?;
    if let Some(path) = args.init_from {
        // Checked before the run folder exists: a file of the wrong shapes costs nothing.
        let device = burn::tensor::Device::flex();
        let mut probe = network
            .init(&device, config.seed)
            .map_err(|e| crate::config::setting_error("model", e))?;
        crate::init_from::load(&mut probe, path, &device)?;
        say!("initial weights: {}", path.display());
    }
    // `[privacy]` settled against the data before anything is written: δ against 1/n, and
    // the σ for a target ε searched for here, so a target that cannot be met costs nothing.
    let privacy = config
        .privacy
        .as_ref()
        .map(|p| {
            crate::train::PrivacyPlan::settle(
                p,
                data.train.rows,
                config.train.batch_size.get(),
                config.train.epochs.get(),
            )
        })
        .transpose()?;
    if let Some(plan) = &privacy {
        say!("privacy: {}", plan.words());
    }
    if args.dry_run {
        say_part!("{}", network.summary(config.train.loss.head()));
        say!("dry run: config, backend and data are valid; nothing was trained or written");
        return Ok(ExitCode::SUCCESS);
    }
    // From here a stop signal is the loop's to act on (a checkpoint, `status.json`); before,
    // with nothing to save, it ended the process at once (`crate::stop`).
    let _graceful = crate::stop::Graceful::enter();
    let (run, checkpoint) = start(&args, resumed, run_path, &config, &network, &data)?;
    if config.sweep.is_some() {
        say!("note: [sweep] is read by `burnfit sweep`; `burnfit train` trains this config as written, without it");
    }
    if let Some(w) = &class_weights {
        say!(
            "class weights in the loss: {}",
            crate::run::class_weight_words(w, &data.pre.labels.class_names())
        );
    }
    if let Some(name) = &config.data.weight {
        say!(
            "row weights in the loss: column `{name}` of {}",
            config
                .data
                .path
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    let job = Job {
        config: &config,
        network: &network,
        train: &data.train,
        valid: &data.valid,
        device: &selected.device,
        update: selected.update_path(),
        run: &run,
        interrupt,
        weights: row_weights.as_deref(),
        init_from: args.init_from,
        part_rows: selected.part_rows(),
        privacy: privacy.as_ref(),
    };
    let run_training = || train::train(&job, checkpoint);
    let trained = if selected.keeps_pool_busy(&network, config.train.batch_size.get()) {
        crate::threads::on_pool_spinning(run_training)
    } else {
        crate::threads::on_pool(run_training)
    };
    let outcome = match trained {
        Ok(outcome) => outcome,
        Err(e) => {
            // Every finished epoch stays readable after a divergence.
            if let Some(d) = e.downcast_ref::<train::Diverged>() {
                run.write(rundir::HISTORY, &crate::history::to_csv(&d.history)?)?;
                run.write_status(&StatusFile::now(Status::Diverged, format!("{e:#}")))?;
                refresh_report(&run);
            }
            return Err(e);
        }
    };
    run.write(rundir::HISTORY, &crate::history::to_csv(&outcome.history)?)?;
    if outcome.stop == Stop::Interrupted {
        run.write_status(&StatusFile::now(
            Status::Interrupted,
            "stopped by a signal; resume with --resume",
        ))?;
        refresh_report(&run);
        say!(
            "interrupted: checkpoint and history written; continue with `burnfit train --resume {}`",
            run.path.display()
        );
        let signal = interrupt.load(Ordering::SeqCst);
        return Ok(ExitCode::from(crate::stop::exit_code(signal)));
    }
    let ended = Trained {
        class_weights,
        config: &config,
        selected: &selected,
        data: &data,
        network: &network,
        run: &run,
    };
    crate::threads::on_pool(|| ended.write(&outcome, meter, total))
}

/// The checks that need the data and the network, run before anything is written (and by
/// `--dry-run`): a start that fails leaves no run folder behind.
fn preflight(config: &Config, data: &Prepared, network: &MlpConfig) -> Result<()> {
    let t = &config.train;
    let (rows, batch) = (data.train.rows, t.batch_size.get());
    if batch > rows {
        bail!(
            "train.batch_size = {batch} is larger than the {rows} training rows; lower it to at most {rows}"
        );
    }
    if network.input == 0 {
        bail!(
            "no input columns are left: data.exclude (or data.features) leaves no column but the label `{}`",
            config.data.label
        );
    }
    network
        .validate()
        .map_err(|e| crate::config::setting_error("model", e))?;
    crate::train::check_memory(config, network)?;
    Ok(())
}

/// The config and the run folder's path: a resumed run's own, or a new one that must be free.
fn resolve(args: &TrainArgs) -> Result<(Config, PathBuf)> {
    match args.resume {
        Some(dir) => {
            let config =
                Config::load_resolved(&dir.join(rundir::CONFIG), &[]).with_context(|| {
                    format!(
                        "cannot resume {}: its config.toml is unreadable",
                        dir.display()
                    )
                })?;
            if !dir.join(rundir::CHECKPOINTS).is_dir() {
                bail!(
                    "cannot resume {}: it has no checkpoints folder",
                    dir.display()
                );
            }
            match crate::run::read_json::<Vec<Fingerprint>>(&dir.join(rundir::DATA)) {
                Ok(recorded) => fingerprint::verify(&recorded, dir)?,
                Err(_) => say!(
                    "warning: {} has no readable {}: cannot check that the data is unchanged",
                    dir.display(),
                    rundir::DATA
                ),
            }
            Ok((config, dir.to_path_buf()))
        }
        None => {
            let config = Config::load(args.config, args.sets)?;
            let path = args.out.clone().unwrap_or_else(|| {
                RunDir::default_path(&config.output.dir, &Config::run_name(args.config))
            });
            RunDir::check_free(&path)?;
            Ok((config, path))
        }
    }
}

/// Each training row's weight in the loss: its class's (`train.class_weight`) times its own
/// (`data.weight`), as Keras multiplies class_weight and sample_weight; `None`: all 1.
fn row_weights(
    config: &Config,
    data: &Prepared,
    class_weights: Option<&[f64]>,
) -> Result<Option<Vec<f32>>> {
    let row_weights: Option<Vec<f32>> = match (class_weights, &data.weights) {
        (None, None) => None,
        (cw, rows) => Some(
            data.train
                .y
                .iter()
                .enumerate()
                .map(|(i, &y)| {
                    let c = cw.map_or(1.0, |w| w[ClassWeight::class_of(y)] as f32);
                    c * rows.as_ref().map_or(1.0, |r| r[i])
                })
                .collect(),
        ),
    };
    // A class weight times a row's weight is a product of two f32s, which can overflow even
    // when each is finite: refused here, naming both, rather than blamed on the learning rate.
    if let Some(i) = row_weights
        .as_ref()
        .and_then(|w| w.iter().position(|v| !v.is_finite()))
    {
        bail!(
            "row {}: its weight in the loss is not a finite 32-bit float (train.class_weight times data.weight{}); lower train.class_weight or rescale the weight column",
            data.train.source_rows[i],
            config
                .data
                .weight
                .as_ref()
                .map_or(String::new(), |c| format!(" `{c}`"))
        );
    }
    Ok(row_weights)
}

/// Opens the run folder: a new one (created and locked here) gets the config, the network
/// and the preprocessing; a resumed one (`resumed`, locked already) gives its newest intact
/// checkpoint.
fn start(
    args: &TrainArgs,
    resumed: Option<RunDir>,
    path: PathBuf,
    config: &Config,
    network: &MlpConfig,
    data: &Prepared,
) -> Result<(RunDir, Option<Checkpoint>)> {
    let run = match resumed {
        Some(run) => run,
        None => RunDir::create(path)?,
    };
    say!("run folder: {}", run.path.display());
    say_part!("{}", network.summary(config.train.loss.head()));
    if args.resume.is_none() {
        let model_file = ModelFile {
            network: network.clone(),
            loss: config.train.loss,
            inputs: data.pre.input_names(),
            threshold: config.train.threshold.during_training(),
            classes: data.pre.labels.class_names(),
        };
        run.write(rundir::CONFIG, config.to_toml().as_bytes())?;
        run.write_json(rundir::DATA, &data.files)?;
        run.write_json(rundir::MODEL_JSON, &model_file)?;
        run.write_json(rundir::PREPROCESS, &data.pre)?;
        return Ok((run, None));
    }
    let mut skipped = Vec::new();
    let c = run.latest_checkpoint(&mut skipped);
    for s in skipped {
        say!("warning: skipping damaged checkpoint {s}");
    }
    match &c {
        Some(c) => say!(
            "resuming from {} (epoch {}, step {})",
            c.path.display(),
            c.state.epoch,
            c.state.step
        ),
        None => say!(
            "note: no usable checkpoint in {}; starting from the beginning",
            run.path.display()
        ),
    }
    Ok((run, c))
}

/// Writes the run's `report.html`; a report that cannot be drawn is a warning, never the loss
/// of a finished run.
fn refresh_report(run: &RunDir) {
    match super::report::refresh(&run.path) {
        Ok(path) => say!("report: {}", path.display()),
        Err(e) => say!("warning: report.html not written: {e:#}"),
    }
}

/// Says why the loop ended before its last epoch, if it did.
fn report_stop(outcome: &Outcome) {
    match outcome.stop {
        Stop::EarlyStopped => say!(
            "early stopping after epoch {}; best epoch {}",
            outcome.history.len(),
            outcome.best_epoch
        ),
        Stop::TimeBudget => say!("time budget reached after epoch {}", outcome.history.len()),
        Stop::Completed | Stop::Interrupted => {}
    }
}

/// A run whose loop has ended (not interrupted), and what its files are made from.
struct Trained<'a> {
    /// The weights of class 0 and 1 in the loss, when `train.class_weight` set them.
    class_weights: Option<Vec<f64>>,
    config: &'a Config,
    selected: &'a Selected,
    data: &'a Prepared,
    network: &'a MlpConfig,
    run: &'a RunDir,
}

impl Trained<'_> {
    /// The decision threshold: `train.threshold`'s number, or its rule's pick on the
    /// validation rows (then saved in `model.json` for evaluate and predict).
    /// `eval_outputs` are the final model's raw outputs on the evaluated rows: the validation
    /// rows themselves unless there is a test file, then they are computed here.
    fn threshold(&self, model: &burnfit_model::Mlp, eval_outputs: &[f32]) -> Result<f64> {
        let t = self.config.train.threshold;
        let crate::config::Threshold::Chosen(rule) = t else {
            return Ok(t.during_training());
        };
        let valid = &self.data.valid;
        let own;
        let raw = if self.data.test.is_none() {
            eval_outputs
        } else {
            own = train::outputs(model, valid, &self.selected.device);
            &own
        };
        let p: Vec<f64> = raw
            .iter()
            .map(|&z| Loss::Bce.activate_value(f64::from(z)))
            .collect();
        let y: Vec<f64> = valid.y.iter().map(|&v| f64::from(v)).collect();
        let chosen = match crate::threshold::choose(rule, &p, &y) {
            Some(c) => {
                say!(
                    "threshold: {c:.4}, chosen by train.threshold = \"{t}\" on the {} validation rows",
                    valid.rows
                );
                c
            }
            None => {
                say!(
                    "warning: train.threshold = \"{t}\" found no threshold on the {} validation rows (one class, or no threshold meets the target); keeping 0.5",
                    valid.rows
                );
                0.5
            }
        };
        let mut model_file = self.run.model_file()?;
        model_file.threshold = chosen;
        self.run.write_json(rundir::MODEL_JSON, &model_file)?;
        Ok(chosen)
    }

    /// Writes the weights, the curves, the final evaluation, the footprint and the summary.
    fn write(
        &self,
        outcome: &Outcome,
        meter: crate::footprint::Meter,
        total: Instant,
    ) -> Result<ExitCode> {
        let (config, data, run) = (self.config, self.data, self.run);
        let loss = config.train.loss;
        let weights = to_bytes(&outcome.model)?;
        run.write(rundir::WEIGHTS, &weights)?;
        let curves = crate::report::svg::curves_svg(&outcome.history, loss)?;
        run.write(rundir::CURVES, curves.as_str().as_bytes())?;
        report_stop(outcome);
        let (eval_name, eval_set) = match &data.test {
            Some(t) => ("test", t),
            None => ("validation", &data.valid),
        };
        let device = &self.selected.device;
        let outputs = train::outputs(&outcome.model, eval_set, device);
        let threshold = self.threshold(&outcome.model, &outputs)?;
        let final_metrics = metrics::compute(loss, &outputs, &eval_set.y, threshold);
        run.write_outputs(eval_set, &outputs, loss)?;
        super::warn_undefined(&final_metrics, &format!("the {eval_name} rows"));
        let train_metrics = train::evaluate(&outcome.model, &data.train, loss, threshold, device);
        // Forward-only rows: validation every epoch, then the two final evaluations.
        let evaluated =
            (data.valid.rows * outcome.history.len() + eval_set.rows + data.train.rows) as u64;
        let footprint = meter.finish(
            &config.footprint,
            self.network,
            weights.len() as u64,
            outcome.samples,
            evaluated,
        );
        let run_id = run
            .path
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
        run.write(rundir::EMISSIONS, &footprint.emissions_csv(&run_id)?)?;
        let samples_per_second = outcome.samples as f64 / outcome.seconds.max(1e-9);
        let block = footprint.block();
        let map = &data.pre.labels;
        let mut splits = vec![
            SplitProfile::of("train", &data.train.y, map),
            SplitProfile::of("validation", &data.valid.y, map),
        ];
        if let Some(t) = &data.test {
            splits.push(SplitProfile::of("test", &t.y, map));
        }
        run.write_summary(&Summary {
            finished: rundir::now_rfc3339(),
            splits,
            threshold,
            threshold_rule: config.train.threshold.to_string(),
            class_weights: self.class_weights.clone(),
            backend: self.selected.kind.to_string(),
            device: self.selected.description.clone(),
            epochs_run: outcome.history.len(),
            best_epoch: outcome.best_epoch,
            stopped: outcome.stop,
            train_metrics: metric_map(train_metrics.iter().copied()),
            final_epoch: outcome
                .history
                .last()
                .map(|r| metric_map(r.metrics.iter().map(|(k, v)| (k.as_str(), *v)))),
            evaluated_on: eval_name.to_string(),
            evaluation: metric_map(final_metrics.iter().copied()),
            flush_denormals: config.backend.flush_denormals,
            warnings: config.warnings.clone(),
            data_warnings: data.warnings.clone(),
            parameters: self.network.num_params(),
            model_bytes: weights.len(),
            load_seconds: data.seconds,
            train_seconds: outcome.seconds,
            total_seconds: total.elapsed().as_secs_f64(),
            samples_per_second,
            footprint,
            privacy: outcome.privacy.clone(),
        })?;
        say!(
            "trained {} epochs in {:.2}s ({samples_per_second:.0} samples/s); evaluating on the {eval_name} rows",
            outcome.history.len(),
            outcome.seconds,
        );
        say_part!("{block}");
        if let Some(p) = &outcome.privacy {
            say!(
                "privacy: (ε = {:.4}, δ = {:e})-differentially private after {} steps (σ = {}, C = {}, {} sampling, RDP order {}); covers {}",
                p.epsilon,
                p.delta,
                p.steps,
                p.noise_multiplier,
                p.max_grad_norm,
                match p.sampling {
                    burnfit_privacy::Sampling::Poisson => "Poisson",
                    burnfit_privacy::Sampling::Shuffle => "shuffled-batch",
                },
                p.order,
                p.covers
            );
        }
        run.write_status(&StatusFile::now(Status::Finished, ""))?;
        if config.privacy.is_some() {
            // A private run's checkpoints hold its secret noise key, with which the noise
            // could be taken out of the intermediate models; a finished run needs neither.
            let checkpoints = run.file(rundir::CHECKPOINTS);
            if let Err(e) = std::fs::remove_dir_all(&checkpoints) {
                say!(
                    "warning: {} not removed ({e}); it holds the run's secret noise key: remove it",
                    checkpoints.display()
                );
            }
        }
        refresh_report(run);
        outln!("{}", final_line(&final_metrics, loss))?;
        Ok(ExitCode::SUCCESS)
    }
}
