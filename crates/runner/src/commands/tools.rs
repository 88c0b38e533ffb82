//! The data tools (`synth`, `inspect`) and `parity`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::config::{Config, SyntheticConfig};
use crate::data::profile::Kind;
use crate::data::synthetic::{self, SyntheticSpec};
use crate::output::{self, Replace};
use crate::resources;
use crate::run::write_atomic_with;

/// `burnfit synth`: streams the rows to the file, so memory stays small whatever `--rows` is.
pub(crate) fn synth(
    config: &SyntheticConfig,
    seed: u64,
    out: &Path,
    rule: Replace,
) -> Result<ExitCode> {
    // Each flag's own range is checked by its type as it is parsed; this is the one check
    // between two of them.
    let spec = SyntheticSpec::from_config(config, seed);
    let (rows, features) = (spec.rows, spec.features);
    let max = crate::data::table::MAX_CLASSES;
    if config.task == crate::config::Task::Multiclass && !(2..=max).contains(&spec.classes) {
        bail!(
            "--classes must be between 2 and {max}, got {}",
            spec.classes
        );
    }
    if config.task == crate::config::Task::Multilabel && !(2..=max).contains(&spec.labels) {
        bail!("--labels must be between 2 and {max}, got {}", spec.labels);
    }
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
    // About 11 bytes a value (`-0.12345678,`), a label (two bytes each of several) and a
    // newline per row.
    let file = resources::product(&[
        rows as u64,
        resources::product(&[features as u64, 11])
            .saturating_add(resources::product(&[spec.labels as u64, 2]))
            .saturating_add(1),
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
pub(crate) fn parity(
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
    crate::data::cache::configure(&config.data);
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

/// `burnfit inspect --load-only`: the file read as `inspect` reads it, and the time that took
/// (the loader's and the parsed-data cache's timing path, bench/loading/).
pub(crate) fn load_only(path: &Path, categorical: &[String]) -> Result<ExitCode> {
    let start = Instant::now();
    let table = crate::data::profile::read_all(path, categorical)?;
    outln!(
        "{}: {} rows x {} columns loaded in {:.3} s",
        path.display(),
        table.len(),
        table.columns.len(),
        start.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `burnfit inspect`.
pub(crate) fn inspect(path: &Path, categorical: &[String]) -> Result<ExitCode> {
    let start = Instant::now();
    let (table, columns) = crate::data::profile::profile(path, categorical)?;
    let seconds = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    say!(
        "{}: {} rows x {} columns in {seconds:.3}s ({:.0} MB/s)",
        path.display(),
        table.len(),
        columns.len(),
        bytes as f64 / 1e6 / seconds.max(1e-9)
    );
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record([
        "column", "kind", "missing", "min", "mean", "max", "levels", "suggest",
    ])?;
    for c in &columns {
        let [min, mean, max] = c.stats.map_or([""; 3].map(String::from), |s| {
            // Min and max as the file's f32 values print; the mean is an f64 sum's.
            [
                (s[0] as f32).to_string(),
                s[1].to_string(),
                (s[2] as f32).to_string(),
            ]
        });
        let levels = match c.kind {
            Kind::Text | Kind::Identifier if c.stats.is_none() => c.distinct.to_string(),
            _ => String::new(),
        };
        out.write_record([
            c.name.clone(),
            c.kind.as_str().to_string(),
            c.missing.to_string(),
            min,
            mean,
            max,
            levels,
            c.suggestion().unwrap_or_default(),
        ])?;
    }
    out.flush()?;
    let named = |kind: Kind| -> Vec<&str> {
        columns
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.as_str())
            .collect()
    };
    let text = named(Kind::Text);
    if !text.is_empty() {
        say!(
            "text columns, one-hot encoded with `{}` under [data]",
            crate::data::table::categorical_line(&text)
        );
    }
    let mut leave = named(Kind::Identifier);
    leave.extend(named(Kind::Constant));
    for c in columns.iter().filter(|c| c.kind == Kind::Unreadable) {
        say!(
            "column `{}` holds {}, which burnfit does not read: set it aside with `exclude`",
            c.name,
            c.holds.as_deref().unwrap_or("values")
        );
    }
    leave.extend(named(Kind::Unreadable));
    if !leave.is_empty() {
        say!(
            "identifier-like, constant or unreadable columns, best left out with `exclude = {}` (or `burnfit init` writes the whole config)",
            crate::data::table::toml_list(&leave)
        );
    }
    Ok(ExitCode::SUCCESS)
}
