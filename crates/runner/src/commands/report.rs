//! `burnfit report` (the HTML page of one run, or of several compared) and `burnfit runs` (the
//! runs in a folder, in the terminal).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::metrics;
use crate::output::{self, Replace};
use crate::report::{self, page, RunRecord};
use crate::run::{self as rundir, write_atomic, RunDir};

/// Writes `RUN/report.html` from the run folder's files: after `train` and `explain`, and by
/// `burnfit report RUN`. The one file of a run folder a command other than `train` rewrites,
/// since it holds nothing but what the folder's other files say.
pub(crate) fn refresh(dir: &Path) -> Result<PathBuf> {
    let record = RunRecord::load(dir)?;
    let html = page::single(&record)?;
    let path = dir.join(rundir::REPORT);
    write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// `burnfit report`.
pub(crate) fn report(dirs: &[PathBuf], out: Option<&Path>, force: Replace) -> Result<ExitCode> {
    let own = match dirs {
        [one] => Some(one.join(rundir::REPORT)),
        _ => None,
    };
    let is_own = |p: &Path| {
        own.as_ref()
            .is_some_and(|o| std::path::absolute(o).ok() == std::path::absolute(p).ok())
    };
    let target = match (out, &own) {
        (Some(p), _) if is_own(p) => p.to_path_buf(),
        (Some(p), _) => {
            output::check(p, &[], force)?;
            p.to_path_buf()
        }
        (None, Some(o)) => o.clone(),
        (None, None) => {
            let p = PathBuf::from("report.html");
            output::check(&p, &[], force).context("name the comparison page with --out FILE")?;
            p
        }
    };
    // Writing a run's own page is writing its folder: not while another process does.
    let _held = if is_own(&target) {
        Some(RunDir::hold(&dirs[0])?)
    } else {
        None
    };
    let records = match dirs {
        [one] => vec![RunRecord::load(one)?],
        many => many
            .iter()
            .map(|d| RunRecord::load_brief(d))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let html = match records.as_slice() {
        [] => bail!("name at least one run folder"),
        [one] => page::single(one)?,
        many => page::compare(many)?,
    };
    write_atomic(&target, html.as_bytes())?;
    say!("wrote {}", target.display());
    Ok(ExitCode::SUCCESS)
}

/// `burnfit runs`: one line per run folder in `dir`.
pub(crate) fn runs(dir: &Path, sort: Option<&str>) -> Result<ExitCode> {
    let mut records = load_runs(dir)?;
    if records.is_empty() {
        say!("no run folders in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    // The headline metrics of every kind of run; each shown when some run has it.
    let columns = [
        "loss",
        "accuracy",
        "auc",
        "f1",
        "macro_f1",
        "hamming_loss",
        "macro_auc",
        "rmse",
        "r2",
    ];
    let shown: Vec<&str> = columns
        .into_iter()
        .filter(|c| records.iter().any(|r| r.metric(c).is_some()))
        .collect();
    if let Some(key) = sort {
        sort_runs(&mut records, key, &columns, &shown)?;
    }
    print_runs(&records, &shown)?;
    Ok(ExitCode::SUCCESS)
}

/// The run folders in `dir`, read briefly; one that cannot be read is skipped with a warning.
fn load_runs(dir: &Path) -> Result<Vec<RunRecord>> {
    let mut records = Vec::new();
    for path in report::runs_in(dir)? {
        match RunRecord::load_brief(&path) {
            Ok(r) => records.push(r),
            Err(e) => say!(
                "warning: skipping {}: {}",
                path.display(),
                crate::term::excerpt(&format!("{e:#}"), 400)
            ),
        }
    }
    Ok(records)
}

/// `--sort KEY`: best first by the metric `KEY` names; runs without it (unfinished, other
/// task) last.
fn sort_runs(records: &mut [RunRecord], key: &str, columns: &[&str], shown: &[&str]) -> Result<()> {
    let base = crate::metrics::Metric::parse(key).map_or(key, |m| m.base);
    if !columns.contains(&base) && !records.iter().any(|r| r.metric(base).is_some()) {
        bail!(
            "--sort {key}: no run has this metric; choose from {}",
            shown.join(", ")
        );
    }
    let higher = metrics::higher_is_better(base);
    // Best first; runs without the metric (unfinished, other task) last.
    records.sort_by(|a, b| {
        let (x, y) = (a.metric(base), b.metric(base));
        match (x.filter(|v| v.is_finite()), y.filter(|v| v.is_finite())) {
            (Some(x), Some(y)) if higher => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    Ok(())
}

/// The table of runs on stdout: name, end, status, data, epochs, the metrics any run has, and
/// ε when any run is private.
fn print_runs(records: &[RunRecord], shown: &[&str]) -> Result<()> {
    let name_w = records
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let data_w = records
        .iter()
        .map(|r| r.data_words().chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{:<name_w$}  {:<20}  {:<22}  {:<data_w$}  {:>6}",
        "run", "ended", "status", "data", "epochs"
    )?;
    for c in shown {
        write!(out, "  {c:>8}")?;
    }
    // A private run's ε, when any run listed is one: the privacy spent beside the figures.
    let private = records
        .iter()
        .any(|r| r.summary.as_ref().is_some_and(|s| s.privacy.is_some()));
    if private {
        write!(out, "  {:>8}", "epsilon")?;
    }
    writeln!(out)?;
    for r in records {
        let epochs = r.history.len().to_string();
        write!(
            out,
            "{:<name_w$}  {:<20}  {:<22}  {:<data_w$}  {epochs:>6}",
            // A table for people: a folder or file name's control characters (a planted
            // escape sequence) are shown escaped, as on stderr.
            crate::term::defang(&r.name),
            r.when(),
            r.state(),
            crate::term::defang(&r.data_words())
        )?;
        for c in shown {
            let v = r.metric(c).map_or("-".to_string(), metrics::show);
            write!(out, "  {v:>8}")?;
        }
        if private {
            let eps = r
                .summary
                .as_ref()
                .and_then(|s| s.privacy.as_ref())
                .map_or("-".to_string(), |p| metrics::show(p.epsilon));
            write!(out, "  {eps:>8}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
