//! What each subcommand does, on top of the library modules: `train` in [`train`], `explain`
//! in [`explain`], the data tools (`synth`, `inspect`) and `parity` in [`tools`]; evaluate and
//! predict, which share loading a run, here.

pub mod cv;
mod explain;
pub mod export;
mod init;
mod pool;
pub mod report;
pub mod sweep;
mod tools;
mod train;

pub use explain::{explain, ExplainArgs};
pub use init::{init, InitArgs, InitLoss};
pub use tools::{inspect, parity, synth};
pub use train::{train, TrainArgs};

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use burnfit_model::Loss;
use serde_json::json;

use crate::backend;
use crate::config::Config;
use crate::data::{Column, Table};
use crate::metrics::{self, Metrics};
use crate::pipeline;
use crate::run::weights::from_bytes;
use crate::run::{self as rundir, ModelFile, RunDir};
use crate::train::{evaluate as evaluate_model, predictions};

/// Warns, in words, of the metrics undefined on `what` (the rows they were computed on).
pub fn warn_undefined(m: &Metrics, what: &str) {
    let names = metrics::undefined(m);
    if !names.is_empty() {
        say!(
            "warning: {} undefined on {what} (one class only, a constant target, or nothing predicted positive); reported as n/a, and null in JSON",
            names.join(", ")
        );
    }
}

/// Prints the config's warnings (keys that cannot act) as one block on stderr.
pub fn report_warnings(config: &Config) {
    if config.warnings.is_empty() {
        return;
    }
    say!(
        "warning: {} key{} in the config cannot act (strict = true makes this an error):",
        config.warnings.len(),
        if config.warnings.len() == 1 { "" } else { "s" }
    );
    for w in &config.warnings {
        say!("  {w}");
    }
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
    format!(
        "Loss: {} {name}: {}",
        metrics::show(get("loss")),
        metrics::show(get(main))
    )
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
    if let Some(b) = backend_override {
        // Checked here, so the error names the flag the user typed, not a `--set`.
        let parsed: Result<crate::config::BackendKind, _> =
            toml::Value::String(b.trim().to_string()).try_into();
        if parsed.is_err() {
            anyhow::bail!(
                "--backend {b}: not a backend; choose from flex, ndarray, wgpu, vulkan, cuda, auto (`burnfit devices` lists what this build has)"
            );
        }
    }
    let sets: Vec<String> = backend_override
        .map(|b| format!("backend.kind={}", b.trim()))
        .into_iter()
        .collect();
    let config = Config::load_resolved(&run.file(rundir::CONFIG), &sets)?;
    crate::threads::init_all(config.backend.flush_denormals);
    let selected = backend::select(&config.backend)?;
    backend::announce(&selected);
    let model = from_bytes(
        &model_file.network,
        run.weights()?,
        &selected.device,
        &run.file(rundir::WEIGHTS).display().to_string(),
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
    threshold: Option<f64>,
) -> Result<ExitCode> {
    let l = load_run(dir, backend_override)?;
    let loss = l.model_file.loss;
    if threshold.is_some() && loss == Loss::Mse {
        anyhow::bail!(
            "--threshold is for classifiers; this model is a regression (train.loss = \"mse\")"
        );
    }
    let threshold = threshold.unwrap_or(l.model_file.threshold);
    let m = labelled_matrix(&l, data)?;
    let metrics = evaluate_model(&l.model, &m, loss, threshold, &l.device);
    warn_undefined(&metrics, &format!("{} ({} rows)", data.display(), m.rows));
    if as_json {
        let mut v = json!({ "model": l.run.path, "data": data, "rows": m.rows, "metrics": metrics_json(&metrics) });
        if loss == Loss::Bce {
            v["threshold"] = json!(threshold);
        }
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        say!("evaluated {} rows", m.rows);
        if loss == Loss::Bce {
            say!("accuracy, precision, recall and f1 at threshold {threshold}");
        }
        for (k, v) in &metrics {
            say!("{k}: {}", metrics::show(*v));
        }
        outln!("{}", final_line(&metrics, l.model_file.loss))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A labelled CSV through the run's saved preprocessing, with notes and warnings printed.
fn labelled_matrix(l: &Loaded, data: &Path) -> Result<crate::data::Matrix> {
    let table = Table::from_csv(data, &l.pre.load_spec(crate::data::LabelColumn::Required))?;
    let mut notes = Vec::new();
    let rows = pipeline::usable_rows(&table, l.pre.missing, &mut notes)?;
    let (m, unseen) = l.pre.transform(&table, &rows)?;
    for n in notes {
        say!("note: {n}");
    }
    for u in unseen {
        say!("warning: column `{}` value `{}` ({} rows) was not seen in training; encoded as all zeros", u.column, u.value, u.count);
    }
    Ok(m)
}

/// What `burnfit predict` writes besides the predictions.
pub struct PredictOptions<'a> {
    /// `--backend`: another backend than the one trained on.
    pub backend: Option<&'a str>,
    /// `--threshold`: the decision threshold instead of the saved one.
    pub threshold: Option<f64>,
    /// `--keep`: columns of the data carried into the output as they are (an ID, say).
    pub keep: &'a [String],
}

/// `burnfit predict`.
pub fn predict(
    dir: &Path,
    data: &Path,
    out: &Path,
    force: bool,
    options: PredictOptions,
) -> Result<ExitCode> {
    // Before any work: a refused output costs nothing.
    crate::output::check(out, &[data], crate::output::Replace { force })?;
    if !options.keep.is_empty() {
        // The user's own path: a link they made to a file is fine; what it names must be a file.
        if std::fs::metadata(data).is_ok_and(|m| !m.is_file()) {
            anyhow::bail!(
                "--keep reads {} a second time for the kept columns, and it is not a regular file (a FIFO or a device can be read only once); save it to a file first",
                data.display()
            );
        }
    }
    let l = load_run(dir, options.backend)?;
    let table = Table::from_csv(data, &l.pre.load_spec(crate::data::LabelColumn::Ignored))?;
    let kept = kept_columns(data, options.keep, table.len())?;
    let rows: Vec<usize> = match l.pre.missing {
        crate::config::Missing::Drop => (0..table.len())
            .filter(|&i| table.columns.iter().all(|c: &Column| !c.is_missing(i)))
            .collect(),
        _ => (0..table.len()).collect(),
    };
    if rows.len() < table.len() {
        say!(
            "warning: {} of {} rows have missing values and are skipped (the model was trained with data.missing = \"drop\"); the `row` column says which rows were predicted",
            table.len() - rows.len(),
            table.len()
        );
    }
    let (m, unseen) = l.pre.transform(&table, &rows)?;
    for u in unseen {
        say!("warning: column `{}` value `{}` ({} rows) was not seen in training; encoded as all zeros", u.column, u.value, u.count);
    }
    let loss = l.model_file.loss;
    if options.threshold.is_some() && loss == Loss::Mse {
        anyhow::bail!(
            "--threshold is for classifiers; this model is a regression (train.loss = \"mse\")"
        );
    }
    let threshold = options.threshold.unwrap_or(l.model_file.threshold);
    if loss == Loss::Bce {
        say!("class 1 where the probability is above {threshold}");
    }
    let values = predictions(&l.model, &m, loss, &l.device);
    let bytes = predictions_csv(
        &l.pre.labels,
        &rows,
        &values,
        threshold,
        options.keep,
        &kept,
    )
    .with_context(|| format!("cannot write the predictions for {}", data.display()))?;
    if out == Path::new("-") {
        std::io::stdout().write_all(&bytes)?;
    } else {
        rundir::write_atomic(out, &bytes)?;
        say!("wrote {} predictions to {}", m.rows, out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The predictions as CSV: the data row (counted from 1, the header not counted), the `--keep`
/// columns, then `probability,class` with the class as the label's own value (`Yes`/`No`), or
/// `prediction` for a regression.
fn predictions_csv(
    labels: &crate::data::LabelMap,
    rows: &[usize],
    values: &[f64],
    threshold: f64,
    keep: &[String],
    kept: &[Vec<String>],
) -> Result<Vec<u8>> {
    use crate::data::LabelMap;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["row"];
    header.extend(keep.iter().map(String::as_str));
    match labels {
        LabelMap::Binary { .. } => header.extend(["probability", "class"]),
        LabelMap::Regression => header.push("prediction"),
    }
    w.write_record(&header)?;
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for (&r, &v) in rows.iter().zip(values) {
        record.clear();
        record.push((r + 1).to_string());
        record.extend(kept.iter().map(|column| column[r].clone()));
        match labels {
            LabelMap::Binary { positive, negative } => {
                record.push(format!("{v:.6}"));
                record.push(if v > threshold {
                    positive.clone()
                } else {
                    // A model whose training rows never held class 0 has no name for it.
                    negative
                        .clone()
                        .unwrap_or_else(|| format!("not {positive}"))
                });
            }
            // The network's f32 output, written as it was computed.
            LabelMap::Regression => record.push((v as f32).to_string()),
        }
        w.write_record(&record)?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// The cells of each `--keep` column of `data`, one entry per data row, as written (a second
/// streaming read of the file, made only when columns are kept).
fn kept_columns(data: &Path, keep: &[String], rows: usize) -> Result<Vec<Vec<String>>> {
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    if let Some((i, name)) = keep
        .iter()
        .enumerate()
        .find(|(i, n)| keep[..*i].contains(n))
    {
        // Twice in the header, the output could not be read back (duplicate names are refused).
        anyhow::bail!(
            "--keep names `{name}` twice (entries {} and {}); name each column once",
            keep.iter().position(|n| n == name).unwrap_or(0) + 1,
            i + 1
        );
    }
    let mut rdr = csv::Reader::from_reader(
        crate::data::table::open_bounded(data)
            .with_context(|| format!("cannot read {}", data.display()))?,
    );
    let header: Vec<String> = rdr
        .headers()
        .with_context(|| format!("cannot read the header of {}", data.display()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let fields = keep
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "--keep {name}: {} has no column `{name}`; the columns are: {}",
                    data.display(),
                    header.join(", ")
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut columns = vec![Vec::with_capacity(rows); keep.len()];
    for record in rdr.records() {
        let record = record.with_context(|| format!("cannot read {}", data.display()))?;
        for (column, &f) in columns.iter_mut().zip(&fields) {
            column.push(record.get(f).unwrap_or_default().to_string());
        }
    }
    if columns.iter().any(|c| c.len() != rows) {
        anyhow::bail!(
            "{} changed while it was read (a second read for --keep found another number of rows)",
            data.display()
        );
    }
    Ok(columns)
}
