//! The data tools (`synth`, `inspect`) and `parity`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::config::{Config, SyntheticConfig};
use crate::data::synthetic::{self, SyntheticSpec};
use crate::data::table::MISSING_CODE;
use crate::data::{Column, Table};
use crate::output::{self, Replace};
use crate::resources;
use crate::run::write_atomic_with;

/// `burnfit synth`: streams the rows to the file, so memory stays small whatever `--rows` is.
pub fn synth(config: &SyntheticConfig, seed: u64, out: &Path, rule: Replace) -> Result<ExitCode> {
    // Each flag's own range is checked by its type as it is parsed; this is the one check
    // between two of them.
    let spec = SyntheticSpec::from_config(config, seed);
    let (rows, features) = (spec.rows, spec.features);
    if spec.informative > features {
        bail!(
            "--informative must be between 1 and --features ({features}), got {}",
            spec.informative
        );
    }
    output::check(out, &[], rule)?;
    let hint = "lower --rows or --features";
    resources::check(
        "--rows",
        synthetic::stream_bytes(&spec),
        Some("8 bytes a row for the class assignment".into()),
        hint,
    )?;
    if out == Path::new("-") {
        synthetic::write_csv(&spec, &mut std::io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    // About 11 bytes a value (`-0.12345678,`), a label and a newline per row.
    let file = resources::product(&[
        rows as u64,
        resources::product(&[features as u64, 11]).saturating_add(3),
    ]);
    resources::check_disk(out, file, hint)?;
    write_atomic_with(out, |w| Ok(synthetic::write_csv(&spec, w)?))?;
    say!(
        "wrote {rows} rows x {features} features to {}",
        out.display()
    );
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
    super::report_warnings(&config);
    crate::threads::init_all(config.backend.flush_denormals);
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
        say!(
            "{} vs {reference}: largest relative weight difference {:.3e} (tolerance {:.0e}), largest relative loss difference {:.3e} over {} steps: {}",
            b.name,
            b.weight_rel_diff,
            b.tolerance,
            b.loss_rel_diff,
            report.steps,
            if b.agrees() { "ok" } else { "DIFFERENT (or not finite)" }
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
        label_column: crate::data::LabelColumn::Ignored,
        label_rule: crate::data::LabelRule::Known(crate::data::LabelMap::Regression),
        selection: crate::data::Selection::AllExcept(Vec::new()),
        categorical: categorical.to_vec(),
    };
    let table = Table::from_csv(path, &spec)?;
    let seconds = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    say!(
        "{}: {} rows x {} columns in {seconds:.3}s ({:.0} MB/s)",
        path.display(),
        table.len(),
        table.columns.len(),
        bytes as f64 / 1e6 / seconds.max(1e-9)
    );
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record(["column", "kind", "missing", "min", "mean", "max", "levels"])?;
    for c in &table.columns {
        out.write_record(column_summary(c))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One line of `inspect`'s output: name, kind, missing cells, and min/mean/max or the level count.
fn column_summary(c: &Column) -> [String; 7] {
    match c {
        Column::Numeric { name, values } => {
            let present: Vec<f64> = values
                .iter()
                .filter(|v| !v.is_nan())
                .map(|&v| f64::from(v))
                .collect();
            let missing = (values.len() - present.len()).to_string();
            let (kind, name) = ("numeric".to_string(), name.clone());
            if present.is_empty() {
                return [
                    name,
                    kind,
                    missing,
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                ];
            }
            let (min, max) = present
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            let mean = present.iter().sum::<f64>() / present.len() as f64;
            let stats = [min, mean, max].map(|v| v.to_string());
            let [min, mean, max] = stats;
            [name, kind, missing, min, mean, max, String::new()]
        }
        Column::Categorical {
            name,
            codes,
            levels,
        } => {
            let missing = codes.iter().filter(|&&c| c == MISSING_CODE).count();
            [
                name.clone(),
                "categorical".into(),
                missing.to_string(),
                String::new(),
                String::new(),
                String::new(),
                levels.len().to_string(),
            ]
        }
    }
}
