//! What each subcommand does, on top of the library modules.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burnfit_model::Loss;
use serde_json::json;

use crate::artifact::{ModelFile, RunDir};
use crate::backend;
use crate::config::Config;
use crate::data::synthetic::{generate, SyntheticSpec};
use crate::data::{Column, Table};
use crate::metrics::{self, Metrics};
use crate::pipeline;
use crate::train::{self, Stop};

/// Exit code of a run stopped by Ctrl-C (after its checkpoint is written), as shells use.
pub const EXIT_INTERRUPTED: u8 = 130;

fn history_csv(history: &[train::EpochRow]) -> String {
    let mut out = String::from("epoch,lr");
    if let Some(first) = history.first() {
        for (k, _) in &first.metrics {
            out.push(',');
            out.push_str(k);
        }
    }
    out.push('\n');
    for row in history {
        out.push_str(&format!("{},{}", row.epoch, row.lr));
        for (_, v) in &row.metrics {
            out.push_str(&format!(",{v}"));
        }
        out.push('\n');
    }
    out
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

/// The seed's closing line: `Loss: 0.1234 Accuracy: 0.9600`.
fn final_line(m: &Metrics, loss: Loss) -> String {
    let get = |k: &str| {
        m.iter()
            .find(|(n, _)| *n == k)
            .map_or(f64::NAN, |(_, v)| *v)
    };
    let main = metrics::main_metric(loss);
    let mut name = main.to_string();
    name[..1].make_ascii_uppercase();
    format!("Loss: {:.4} {name}: {:.4}", get("loss"), get(main))
}

/// `burnfit train`.
pub fn train(
    config_path: Option<&Path>,
    sets: &[String],
    out: Option<PathBuf>,
    resume: Option<&Path>,
    dry_run: bool,
    interrupt: &AtomicBool,
) -> Result<ExitCode> {
    let total = Instant::now();
    // Everything that can fail on the user's input (config, backend, data) is checked before
    // a run folder is created, so a failed start leaves nothing behind.
    let (config, run_path) = match resume {
        Some(dir) => {
            let config = Config::load(Some(&dir.join("config.toml")), &[]).with_context(|| {
                format!(
                    "cannot resume {}: its config.toml is unreadable",
                    dir.display()
                )
            })?;
            if !dir.join("checkpoints").is_dir() {
                bail!(
                    "cannot resume {}: it has no checkpoints folder",
                    dir.display()
                );
            }
            (config, dir.to_path_buf())
        }
        None => {
            let config = Config::load(config_path, sets)?;
            let path = out.unwrap_or_else(|| {
                RunDir::default_path(&config.output.dir, &Config::run_name(config_path))
            });
            RunDir::check_free(&path)?;
            (config, path)
        }
    };
    crate::threads::init(config.backend.flush_denormals);
    let meter = crate::footprint::Meter::start(&config.footprint.rapl_path);
    let selected = backend::select(&config.backend)?;
    eprintln!("backend: {}", selected.description);
    let data = pipeline::prepare(&config).context("cannot prepare the data")?;
    for note in &data.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "data: {} training rows, {} validation rows, {} inputs ({:.2}s)",
        data.train.rows, data.valid.rows, data.train.width, data.seconds
    );
    if dry_run {
        let network = config.model.mlp(data.pre.width());
        eprint!("{}", network.summary(config.train.loss.head()));
        eprintln!("dry run: config, backend and data are valid; nothing was trained or written");
        return Ok(ExitCode::SUCCESS);
    }
    let run = if resume.is_some() {
        RunDir { path: run_path }
    } else {
        RunDir::create(run_path)?
    };
    eprintln!("run folder: {}", run.path.display());
    let network = config.model.mlp(data.pre.width());
    eprint!("{}", network.summary(config.train.loss.head()));
    let loss = config.train.loss;
    let model_file = ModelFile {
        network: network.clone(),
        loss,
        inputs: data.pre.input_names(),
    };
    let checkpoint = if resume.is_some() {
        let mut skipped = Vec::new();
        let c = run.latest_checkpoint(&mut skipped);
        for s in skipped {
            eprintln!("warning: skipping damaged checkpoint {s}");
        }
        match &c {
            Some(c) => eprintln!(
                "resuming from {} (epoch {}, step {})",
                c.path.display(),
                c.state.epoch,
                c.state.step
            ),
            None => eprintln!(
                "note: no usable checkpoint in {}; starting from the beginning",
                run.path.display()
            ),
        }
        c
    } else {
        run.write("config.toml", config.to_toml().as_bytes())?;
        run.write_json("model.json", &model_file)?;
        run.write_json("preprocess.json", &data.pre)?;
        None
    };
    let outcome = train::train(
        &config,
        &network,
        &data.train,
        &data.valid,
        &selected.device,
        selected.update_path(),
        &run,
        checkpoint,
        interrupt,
    )?;
    run.write("history.csv", history_csv(&outcome.history).as_bytes())?;
    if outcome.stop == Stop::Interrupted {
        eprintln!(
            "interrupted: checkpoint and history written; continue with `burnfit train --resume {}`",
            run.path.display()
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    let weights = train::to_bytes(&outcome.model)?;
    run.write("model.bpk", &weights)?;
    run.write(
        "curves.svg",
        crate::plot::learning_curves(&outcome.history, metrics::main_metric(loss)).as_bytes(),
    )?;
    match outcome.stop {
        Stop::EarlyStopped => eprintln!(
            "early stopping after epoch {}; best epoch {}",
            outcome.history.len(),
            outcome.best_epoch
        ),
        Stop::TimeBudget => eprintln!("time budget reached after epoch {}", outcome.history.len()),
        _ => {}
    }
    let (eval_name, eval_set) = match &data.test {
        Some(t) => ("test", t),
        None => ("validation", &data.valid),
    };
    let final_metrics = train::evaluate(&outcome.model, eval_set, loss, &selected.device);
    let train_metrics = train::evaluate(&outcome.model, &data.train, loss, &selected.device);
    let last = outcome.history.last();
    // Forward-only rows: validation every epoch, then the two final evaluations.
    let evaluated =
        (data.valid.rows * outcome.history.len() + eval_set.rows + data.train.rows) as u64;
    let footprint = meter.finish(
        &config.footprint,
        &network,
        weights.len() as u64,
        outcome.samples,
        evaluated,
    );
    let run_id = run
        .path
        .file_name()
        .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
    run.write("emissions.csv", footprint.emissions_csv(&run_id).as_bytes())?;
    let summary = json!({
        "backend": selected.kind.to_string(),
        "device": selected.description,
        "epochs_run": outcome.history.len(),
        "best_epoch": outcome.best_epoch,
        "stopped": outcome.stop,
        "train_metrics": metrics_json(&train_metrics),
        "final_epoch": last.map(|r| serde_json::Value::Object(r.metrics.iter().map(|(k, v)| (k.clone(), json!(v))).collect())),
        "evaluated_on": eval_name,
        "evaluation": metrics_json(&final_metrics),
        "flush_denormals": config.backend.flush_denormals,
        "parameters": network.num_params(),
        "model_bytes": weights.len(),
        "load_seconds": data.seconds,
        "train_seconds": outcome.seconds,
        "total_seconds": total.elapsed().as_secs_f64(),
        "samples_per_second": outcome.samples as f64 / outcome.seconds.max(1e-9),
        "footprint": footprint,
    });
    run.write_json("summary.json", &summary)?;
    eprintln!(
        "trained {} epochs in {:.2}s ({:.0} samples/s); evaluating on the {eval_name} rows",
        outcome.history.len(),
        outcome.seconds,
        outcome.samples as f64 / outcome.seconds.max(1e-9)
    );
    eprint!("{}", footprint.block());
    println!("{}", final_line(&final_metrics, loss));
    Ok(ExitCode::SUCCESS)
}

/// A trained model ready to run, with what it needs.
struct Loaded {
    run: RunDir,
    model_file: ModelFile,
    pre: crate::data::Preprocessor,
    device: burn::tensor::Device,
    model: burnfit_model::Mlp,
}

fn load_run(dir: &Path, backend_override: Option<&str>) -> Result<Loaded> {
    let run = RunDir::open(dir)?;
    let model_file = run.model_file()?;
    let pre = run.preprocessor()?;
    let sets: Vec<String> = backend_override
        .map(|b| format!("backend.kind={b}"))
        .into_iter()
        .collect();
    let config = Config::load(Some(&run.file("config.toml")), &sets)?;
    crate::threads::init(config.backend.flush_denormals);
    let selected = backend::select(&config.backend)?;
    eprintln!("backend: {}", selected.description);
    let model = train::from_bytes(
        &model_file.network,
        run.weights()?,
        &selected.device,
        &run.file("model.bpk").display().to_string(),
    )?;
    Ok(Loaded {
        run,
        model_file,
        pre,
        device: selected.device,
        model,
    })
}

/// `burnfit evaluate`.
pub fn evaluate(
    dir: &Path,
    data: &Path,
    as_json: bool,
    backend_override: Option<&str>,
) -> Result<ExitCode> {
    let l = load_run(dir, backend_override)?;
    let m = labelled_matrix(&l, data)?;
    let metrics = train::evaluate(&l.model, &m, l.model_file.loss, &l.device);
    if as_json {
        let v = json!({ "model": l.run.path, "data": data, "rows": m.rows, "metrics": metrics_json(&metrics) });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        eprintln!("evaluated {} rows", m.rows);
        for (k, v) in &metrics {
            eprintln!("{k}: {v:.4}");
        }
        println!("{}", final_line(&metrics, l.model_file.loss));
    }
    Ok(ExitCode::SUCCESS)
}

/// A labelled CSV through the run's saved preprocessing, with notes and warnings printed.
fn labelled_matrix(l: &Loaded, data: &Path) -> Result<crate::data::Matrix> {
    let table = Table::from_csv(data, &l.pre.load_spec(true))?;
    let mut notes = Vec::new();
    let rows = pipeline::usable_rows(&table, l.pre.missing, &mut notes)?;
    let (m, unseen) = l.pre.transform(&table, &rows)?;
    for n in notes {
        eprintln!("note: {n}");
    }
    for u in unseen {
        eprintln!("warning: column `{}` value `{}` ({} rows) was not seen in training; encoded as all zeros", u.column, u.value, u.count);
    }
    Ok(m)
}

/// The arguments of `burnfit explain`.
pub struct ExplainArgs<'a> {
    /// The run folder.
    pub dir: &'a Path,
    /// The labelled CSV.
    pub data: &'a Path,
    /// Shuffles per column.
    pub repeats: usize,
    /// Columns to print and draw.
    pub top: usize,
    /// The metric (default: the loss's main one).
    pub metric: Option<&'a str>,
    /// 1-based CSV rows for gradient × input.
    pub rows: &'a [u64],
    /// Seed of the shuffles.
    pub seed: u64,
    /// Output folder.
    pub out: Option<&'a Path>,
    /// Backend override.
    pub backend: Option<&'a str>,
}

/// `burnfit explain`.
pub fn explain(a: &ExplainArgs) -> Result<ExitCode> {
    use crate::explain;
    if a.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let l = load_run(a.dir, a.backend)?;
    let loss = l.model_file.loss;
    let metric = a.metric.unwrap_or(metrics::main_metric(loss));
    if !metrics::base_names(loss).contains(&metric) {
        bail!(
            "--metric {metric} is not a metric of this model; choose from {}",
            metrics::base_names(loss).join(", ")
        );
    }
    let m = labelled_matrix(&l, a.data)?;
    let groups = explain::column_groups(&l.pre);
    eprintln!(
        "permutation importance: {} columns x {} shuffles of {} rows",
        groups.len(),
        a.repeats,
        m.rows
    );
    let (baseline, importances) = explain::permutation_importance(
        &l.model,
        &m,
        &groups,
        (loss, metric),
        explain::Shuffles {
            repeats: a.repeats,
            seed: a.seed,
        },
        &l.device,
    );
    let out_dir = a
        .out
        .map_or_else(|| l.run.file("explain"), Path::to_path_buf);
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut csv = String::from("feature,importance_mean,importance_sd");
    for r in 0..a.repeats {
        csv.push_str(&format!(",repeat_{}", r + 1));
    }
    csv.push('\n');
    for i in &importances {
        csv.push_str(&format!("{},{},{}", csv_field(&i.feature), i.mean, i.sd));
        for d in &i.drops {
            csv.push_str(&format!(",{d}"));
        }
        csv.push('\n');
    }
    crate::artifact::write_atomic(&out_dir.join("importance.csv"), csv.as_bytes())?;
    crate::artifact::write_atomic(
        &out_dir.join("importance.svg"),
        explain::importance_svg(&importances, metric, a.top).as_bytes(),
    )?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{metric} on {} rows: {baseline:.4}; drop when each column is shuffled ({} times):",
        m.rows, a.repeats
    )?;
    for (k, i) in importances.iter().take(a.top).enumerate() {
        writeln!(
            stdout,
            "{:>3}. {:<24} {:>8.4} ± {:.4}",
            k + 1,
            i.feature,
            i.mean,
            i.sd
        )?;
    }
    if !a.rows.is_empty() {
        let index: Vec<usize> = a
            .rows
            .iter()
            .map(|r| {
                m.source_rows.iter().position(|s| s == r).with_context(|| {
                    format!(
                        "--rows {r}: {} has no usable row {r} (rows start at 2, after the header; rows with missing values may have been dropped)",
                        a.data.display()
                    )
                })
            })
            .collect::<Result<_>>()?;
        let ad = l.device.clone().autodiff();
        let model_ad =
            train::from_bytes(&l.model_file.network, l.run.weights()?, &ad, "model.bpk")?;
        let attr = explain::gradient_x_input(&model_ad, &m, &index, &ad);
        let names = l.pre.input_names();
        let mut csv = String::from("row");
        for n in &names {
            csv.push(',');
            csv.push_str(&csv_field(n));
        }
        csv.push('\n');
        for (r, values) in a.rows.iter().zip(&attr) {
            csv.push_str(&r.to_string());
            for v in values {
                csv.push_str(&format!(",{v}"));
            }
            csv.push('\n');
            let mut ranked: Vec<(usize, f32)> = values.iter().copied().enumerate().collect();
            ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            let top: Vec<String> = ranked
                .iter()
                .take(a.top.min(5))
                .map(|(j, v)| format!("{} {v:+.4}", names[*j]))
                .collect();
            writeln!(
                stdout,
                "row {r}: gradient x input, largest: {}",
                top.join(", ")
            )?;
        }
        crate::artifact::write_atomic(&out_dir.join("attributions.csv"), csv.as_bytes())?;
    }
    eprintln!(
        "wrote importance.csv, importance.svg{} to {}",
        if a.rows.is_empty() {
            ""
        } else {
            ", attributions.csv"
        },
        out_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `burnfit predict`.
pub fn predict(
    dir: &Path,
    data: &Path,
    out: &Path,
    backend_override: Option<&str>,
) -> Result<ExitCode> {
    let l = load_run(dir, backend_override)?;
    let table = Table::from_csv(data, &l.pre.load_spec(false))?;
    let rows: Vec<usize> = match l.pre.missing {
        crate::config::Missing::Drop => (0..table.len())
            .filter(|&i| table.columns.iter().all(|c: &Column| !c.is_missing(i)))
            .collect(),
        _ => (0..table.len()).collect(),
    };
    if rows.len() < table.len() {
        eprintln!(
            "warning: {} of {} rows have missing values and are skipped (the model was trained with data.missing = \"drop\"); the `row` column says which rows were predicted",
            table.len() - rows.len(),
            table.len()
        );
    }
    let (m, unseen) = l.pre.transform(&table, &rows)?;
    for u in unseen {
        eprintln!("warning: column `{}` value `{}` ({} rows) was not seen in training; encoded as all zeros", u.column, u.value, u.count);
    }
    let raw = train::outputs(&l.model, &m, &l.device);
    let mut text = String::new();
    match l.model_file.loss {
        Loss::Bce => {
            text.push_str("row,probability,class\n");
            for (r, z) in m.source_rows.iter().zip(&raw) {
                let p = 1.0 / (1.0 + (-(*z as f64)).exp());
                text.push_str(&format!("{r},{p:.6},{}\n", u8::from(p > 0.5)));
            }
        }
        Loss::Mse => {
            text.push_str("row,prediction\n");
            for (r, v) in m.source_rows.iter().zip(&raw) {
                text.push_str(&format!("{r},{v}\n"));
            }
        }
    }
    if out == Path::new("-") {
        std::io::stdout().write_all(text.as_bytes())?;
    } else {
        crate::artifact::write_atomic(out, text.as_bytes())?;
        eprintln!("wrote {} predictions to {}", m.rows, out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `burnfit synth`.
pub fn synth(spec: &SyntheticSpec, out: &Path) -> Result<ExitCode> {
    let SyntheticSpec {
        task,
        rows,
        features,
        informative,
        class_sep,
        label_noise,
        ..
    } = *spec;
    if rows == 0 || features == 0 {
        bail!("--rows and --features must be at least 1");
    }
    if informative == 0 || informative > features {
        bail!("--informative must be between 1 and --features ({features}), got {informative}");
    }
    if !(class_sep.is_finite() && class_sep > 0.0) {
        bail!("--class-sep must be > 0, got {class_sep}");
    }
    if !(0.0..1.0).contains(&label_noise) {
        bail!("--label-noise must be in [0, 1), got {label_noise}");
    }
    let g = generate(spec);
    if out == Path::new("-") {
        g.write_csv(features, task, std::io::stdout().lock())?;
    } else {
        let mut bytes = Vec::new();
        g.write_csv(features, task, &mut bytes)?;
        crate::artifact::write_atomic(out, &bytes)
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!(
            "wrote {rows} rows x {features} features to {}",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `burnfit parity`.
pub fn parity(
    config_path: Option<&Path>,
    sets: &[String],
    backends: &[String],
    steps: usize,
    tolerance: Option<f64>,
    json: bool,
) -> Result<ExitCode> {
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let config = Config::load(config_path, sets)?;
    crate::threads::init(config.backend.flush_denormals);
    let named = backends
        .iter()
        .map(|b| Ok((b.trim().to_string(), crate::parity::parse_backend(b)?)))
        .collect::<Result<Vec<_>>>()?;
    let report = crate::parity::run(&config, &named, steps, tolerance)?;
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(report.losses_csv().as_bytes())?;
    }
    let reference = &report.backends[0].name;
    for b in &report.backends[1..] {
        eprintln!(
            "{} vs {reference}: largest relative weight difference {:.3e} (tolerance {:.0e}), largest relative loss difference {:.3e} over {} steps: {}",
            b.name,
            b.weight_rel_diff,
            b.tolerance,
            b.loss_rel_diff,
            report.steps,
            if b.weight_rel_diff <= b.tolerance { "ok" } else { "DIFFERENT" }
        );
    }
    let failures = report.failures();
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!(
            "parity failed: {} drifted past tolerance",
            failures
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `burnfit inspect`.
pub fn inspect(path: &Path, categorical: &[String]) -> Result<ExitCode> {
    let start = Instant::now();
    let spec = crate::data::LoadSpec {
        // No label: every column is read as a feature, as the file is.
        label: String::new(),
        label_required: false,
        label_rule: crate::data::LabelRule::Numeric,
        selection: crate::data::Selection::AllExcept(Vec::new()),
        categorical: categorical.to_vec(),
    };
    let table = Table::from_csv(path, &spec)?;
    let seconds = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{}: {} rows x {} columns in {seconds:.3}s ({:.0} MB/s)",
        path.display(),
        table.len(),
        table.columns.len(),
        bytes as f64 / 1e6 / seconds.max(1e-9)
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "column,kind,missing,min,mean,max,levels")?;
    for c in &table.columns {
        match c {
            Column::Numeric { name, values } => {
                let present: Vec<f64> = values
                    .iter()
                    .filter(|v| !v.is_nan())
                    .map(|&v| f64::from(v))
                    .collect();
                let (min, max) = present
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                let mean = present.iter().sum::<f64>() / present.len().max(1) as f64;
                let missing = values.len() - present.len();
                if present.is_empty() {
                    writeln!(out, "{name},numeric,{missing},,,,")?;
                } else {
                    writeln!(out, "{name},numeric,{missing},{min},{mean},{max},")?;
                }
            }
            Column::Categorical {
                name,
                codes,
                levels,
            } => {
                let missing = codes
                    .iter()
                    .filter(|&&c| c == crate::data::table::MISSING_CODE)
                    .count();
                writeln!(out, "{name},categorical,{missing},,,,{}", levels.len())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
