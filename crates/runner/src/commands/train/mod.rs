//! `burnfit train`: check everything, make the run folder, train, and write what the run left
//! (`finish.rs`).

mod finish;

use finish::Trained;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burnfit_model::MlpConfig;

use crate::backend::{self, Selected};
use crate::config::{ClassWeight, Config};
use crate::pipeline::{self, Prepared};
use crate::run::fingerprint::{self, Fingerprint};
use crate::run::{self as rundir, Checkpoint, ModelFile, RunDir, Status, StatusFile};
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
    if resumed.as_ref().is_some_and(finished_already) {
        return Ok(ExitCode::SUCCESS);
    }
    let (config, run_path) = resolve(&args)?;
    super::report_warnings(&config);
    crate::data::cache::configure(&config.data);
    crate::threads::init(config.backend.flush_denormals);
    let meter = crate::footprint::Meter::start(&config.footprint.rapl_path);
    let selected = backend::select(&config.backend)?;
    backend::announce(&selected);
    let data = prepare_data(&config)?;
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
        probe_init_from(&config, &network, &data.pre.labels, path)?;
    }
    let privacy = settle_privacy(&config, &data)?;
    if args.dry_run {
        say_part!("{}", network.summary(config.train.loss.head()));
        say!("dry run: config, backend and data are valid; nothing was trained or written");
        return Ok(ExitCode::SUCCESS);
    }
    // From here a stop signal is the loop's to act on (a checkpoint, `status.json`); before,
    // with nothing to save, it ended the process at once (`crate::stop`).
    let _graceful = crate::stop::Graceful::enter();
    let (run, checkpoint) = start(&args, resumed, run_path, &config, &network, &data)?;
    say_notes(
        &config,
        class_weights.as_deref(),
        &data.pre.labels.class_names(),
    );
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
    let outcome = fit(&job, checkpoint, &selected)?;
    run.write(rundir::HISTORY, &crate::history::to_csv(&outcome.history)?)?;
    if outcome.stop == Stop::Interrupted {
        return interrupted(&run, interrupt);
    }
    let ended = Trained {
        class_weights,
        config: &config,
        selected: &selected,
        data: &data,
        network: &network,
        run: &run,
    };
    crate::threads::on_pool(|| ended.write(outcome, meter, total))
}

/// Whether a resumed run is finished already, said if so. A finished run has its summary:
/// resuming it would only rewrite what it wrote.
fn finished_already(run: &RunDir) -> bool {
    let finished = run.file(rundir::SUMMARY).is_file();
    if finished {
        say!(
            "{} is finished (it has its {}); nothing to resume, nothing changed",
            run.path.display(),
            rundir::SUMMARY
        );
    }
    finished
}

/// The data, prepared, with what the user should know about it said on stderr.
fn prepare_data(config: &Config) -> Result<Prepared> {
    let data = pipeline::prepare(config).context("cannot prepare the data")?;
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
    Ok(data)
}

/// Loads `--init-from`'s weights into a throwaway network, checked before the run folder
/// exists: a file of the wrong shapes costs nothing. Outputs that the file's own metadata
/// names otherwise than this run (labels or classes in another order, other ones) are a
/// warning: the shapes fit, but each output starts from another one's weights.
fn probe_init_from(
    config: &Config,
    network: &MlpConfig,
    labels: &crate::data::LabelMap,
    path: &Path,
) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let mut probe = network
        .init(&device, config.seed)
        .map_err(|e| crate::config::setting_error("model", e))?;
    crate::init_from::load(&mut probe, path, &device)?;
    let (file_labels, file_classes) = crate::init_from::output_names(path)?;
    for (what, file, run) in [
        ("label columns", file_labels, labels.column_names()),
        ("classes", file_classes, labels.class_names()),
    ] {
        if !file.is_empty() && file != run {
            say!(
                "warning: {} was trained for the {what} [{}], this run's are [{}]: each output starts from the weights of the file's output in the same place",
                path.display(),
                file.join(", "),
                run.join(", ")
            );
        }
    }
    say!("initial weights: {}", path.display());
    Ok(())
}

/// `[privacy]` settled against the data before anything is written: δ against 1/n, and the σ
/// for a target ε searched for here, so a target that cannot be met costs nothing.
fn settle_privacy(config: &Config, data: &Prepared) -> Result<Option<train::PrivacyPlan>> {
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
    Ok(privacy)
}

/// Says what the config adds to an ordinary run: an unread `[sweep]`, and weights in the loss.
fn say_notes(config: &Config, class_weights: Option<&[f64]>, classes: &[String]) {
    if config.sweep.is_some() {
        say!("note: [sweep] is read by `burnfit sweep`; `burnfit train` trains this config as written, without it");
    }
    if let Some(w) = class_weights {
        say!(
            "class weights in the loss: {}",
            crate::run::class_weight_words(w, classes)
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
}

/// Runs the loop on the compute pool. A divergence leaves every finished epoch readable: the
/// history and a `diverged` status are written before the error goes up.
fn fit(job: &Job, checkpoint: Option<Checkpoint>, selected: &Selected) -> Result<Outcome> {
    let run_training = || train::train(job, checkpoint);
    let trained = if selected.keeps_pool_busy(job.network, job.config.train.batch_size.get()) {
        crate::threads::on_pool_spinning(run_training)
    } else {
        crate::threads::on_pool(run_training)
    };
    match trained {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            if let Some(d) = e.downcast_ref::<train::Diverged>() {
                let run = job.run;
                run.write(rundir::HISTORY, &crate::history::to_csv(&d.history)?)?;
                run.write_status(&StatusFile::now(Status::Diverged, format!("{e:#}")))?;
                refresh_report(run);
            }
            Err(e)
        }
    }
}

/// Ends a run stopped by a signal: its status and report, and the exit code of the signal.
fn interrupted(run: &RunDir, interrupt: &AtomicUsize) -> Result<ExitCode> {
    run.write_status(&StatusFile::now(
        Status::Interrupted,
        "stopped by a signal; resume with --resume",
    ))?;
    refresh_report(run);
    say!(
        "interrupted: checkpoint and history written; continue with `burnfit train --resume {}`",
        run.path.display()
    );
    let signal = interrupt.load(Ordering::SeqCst);
    Ok(ExitCode::from(crate::stop::exit_code(signal)))
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
    // The final evaluations hold every output of the largest evaluated split on the host: as
    // f32, and as f64 probabilities for the metrics (a k-class head's k per row).
    let evaluated = [Some(&data.train), Some(&data.valid), data.test.as_ref()]
        .into_iter()
        .flatten()
        .map(|m| m.rows)
        .max()
        .unwrap_or(0);
    crate::resources::check(
        "the evaluation's outputs",
        crate::resources::product(&[evaluated as u64, network.output as u64, 12]),
        Some(format!(
            "{evaluated} rows x {} outputs, as f32 and as f64 probabilities",
            network.output
        )),
        "use fewer rows, or fewer classes or label columns",
    )?;
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
        // Class weights come with one label column (the config refuses them with several).
        (cw, rows) => Some(
            (0..data.train.rows)
                .map(|i| {
                    let y = data.train.labels_of(i)[0];
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
            data.train.source_rows.get(i),
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
            temperature: None,
            labels: data.pre.labels.column_names(),
            thresholds: Vec::new(),
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
    if let Some(want) = c.as_ref().and_then(|c| c.state.config_crc) {
        if crate::train::config_crc(config) != want {
            bail!(
                "cannot resume {}: its {} is not the config the run trained under (it was edited since); a resumed run continues with the same labels, network and settings. Restore the file, or start a new run",
                run.path.display(),
                rundir::CONFIG
            );
        }
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
