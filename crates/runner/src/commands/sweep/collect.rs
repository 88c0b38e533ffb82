//! `burnfit sweep --collect` and the end of a sweep: each trial's standing, the ranking,
//! `sweep.csv`, `best.toml` and the sweep's report.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::{refuse_other_trials, trial_dir, Plan, PLAN};
use crate::commands::pool::{self, Planned};
use crate::config::Goal;
use crate::lock::{FolderLock, Mode};
use crate::metrics::{self, Metric};
use crate::report::{page, RunRecord};
use crate::run::{self as rundir, read_json, write_atomic, Summary};
use crate::sweep::Trial;

/// A trial's standing when collected.
struct Row {
    trial: Trial,
    status: String,
    metric: f64,
    seconds: f64,
    summary: Option<Summary>,
}

impl Row {
    /// The trial's privacy spent, when it trained with `[privacy]`.
    fn epsilon(&self) -> Option<f64> {
        self.summary.as_ref()?.privacy.as_ref().map(|p| p.epsilon)
    }
}

/// The metric of a finished trial: on its validation rows (the final evaluation when that was
/// on them, else the last epoch's validation value).
fn metric_of(s: &Summary, name: &str) -> f64 {
    let Some(metric) = Metric::parse(name) else {
        return f64::NAN;
    };
    if s.evaluated_on == "validation" {
        if let Some(v) = s.evaluation.get(metric.base) {
            return *v;
        }
    }
    s.final_epoch
        .as_ref()
        .and_then(|e| e.get(&metric.validation().name()).or_else(|| e.get(name)))
        .copied()
        .unwrap_or(f64::NAN)
}

/// `burnfit sweep --collect DIR`: ranks whatever has finished and says what has not. Shares
/// the folder with the tasks of a job array still training (its files are its own), but not
/// with a whole sweep running on one machine, which collects when it ends.
pub(crate) fn collect(root: &Path) -> Result<ExitCode> {
    if !root.join(PLAN).is_file() {
        bail!(
            "{} is not a sweep folder (no readable sweep.json)",
            root.display()
        );
    }
    let _lock = FolderLock::acquire(root, Mode::Shared)?;
    collect_held(root)
}

/// [`collect`], by a process that holds the folder's lock already.
pub(super) fn collect_held(root: &Path) -> Result<ExitCode> {
    let plan: Plan = read_json(&root.join(PLAN)).with_context(|| {
        format!(
            "{} is not a sweep folder (no readable sweep.json)",
            root.display()
        )
    })?;
    // What is ranked must be this sweep's own trials, as when continuing.
    let planned: Vec<Planned> = plan
        .trials
        .iter()
        .map(|t| Planned {
            label: format!("trial {}", t.index),
            dir: trial_dir(root, t.index),
            args: Vec::new(),
        })
        .collect();
    pool::check_dirs(&planned)?;
    refuse_other_trials("rank the sweep", root, plan.trials.iter(), &planned)?;
    let mut rows: Vec<Row> = plan
        .trials
        .iter()
        .map(|t| Row::of(root, &plan, t))
        .collect();
    rank(&mut rows, plan.goal);
    // Every file first, the printing last: a reader that stops early (`| head -1`) leaves
    // the folder complete.
    write_csv(root, &plan, &rows)?;
    let finished: Vec<&Row> = rows.iter().filter(|r| r.summary.is_some()).collect();
    let unfinished: Vec<String> = rows
        .iter()
        .filter(|r| r.summary.is_none())
        .map(|r| format!("{} ({})", r.trial.index, r.status))
        .collect();
    if !unfinished.is_empty() {
        say!(
            "{} of {} trials have not finished: {}",
            unfinished.len(),
            plan.trials.len(),
            unfinished.join(", ")
        );
    }
    let Some(best) = finished.iter().find(|r| r.metric.is_finite()) else {
        print_ranking(&plan, &rows)?;
        say!("no finished trial has a value of {}", plan.metric);
        return Ok(ExitCode::FAILURE);
    };
    let config = write_best(root, &plan, best)?;
    let records = finished
        .iter()
        .take(20)
        .map(|r| RunRecord::load_brief(&trial_dir(root, r.trial.index)))
        .collect::<Result<Vec<_>, _>>()?;
    let html = page::sweep(&records, &plan.metric)?;
    write_atomic(&root.join(rundir::REPORT), html.as_bytes())?;
    print_ranking(&plan, &rows)?;
    outln!(
        "\nbest: trial {} ({} = {})",
        best.trial.index,
        plan.metric,
        metrics::show(best.metric)
    )?;
    out!("{config}")?;
    say!(
        "wrote sweep.csv, best.toml and report.html to {}",
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

impl Row {
    /// Trial `t` as its folder stands now.
    fn of(root: &Path, plan: &Plan, t: &Trial) -> Self {
        let dir = trial_dir(root, t.index);
        let (status, summary) = standing(&dir);
        // Under an ε budget, a trial over it (or not private at all) has no place in the
        // ranking: its metric is left out, and its status says why.
        let over = plan.max_epsilon.is_some_and(|most| {
            summary
                .as_ref()
                // A NaN ε is over any budget too.
                .is_some_and(|s| {
                    s.privacy
                        .as_ref()
                        .is_none_or(|p| p.epsilon.is_nan() || p.epsilon > most)
                })
        });
        let status = if over {
            format!("{status}, over the ε budget")
        } else {
            status
        };
        Row {
            metric: summary
                .as_ref()
                .filter(|_| !over)
                .map_or(f64::NAN, |s| metric_of(s, &plan.metric)),
            seconds: summary.as_ref().map_or(f64::NAN, |s| s.total_seconds),
            trial: t.clone(),
            status,
            summary,
        }
    }
}

/// A trial folder's status in words, with its summary when it finished.
fn standing(dir: &Path) -> (String, Option<Summary>) {
    let status: Option<rundir::StatusFile> = read_json(&dir.join(rundir::STATUS)).ok();
    if pool::finished(dir) {
        ("finished".to_string(), pool::summary(dir).ok())
    } else if crate::lock::holder(dir).is_some() {
        ("running".to_string(), None)
    } else if let Some(s) = status {
        (s.status.word().to_string(), None)
    } else if dir.is_dir() {
        ("incomplete".to_string(), None)
    } else if pool::log_path(dir).is_file() {
        // Started, and ended before its run folder existed (a config or data error):
        // its log says why.
        ("failed".to_string(), None)
    } else {
        ("not started".to_string(), None)
    }
}

/// Best first; trials without a value (unfinished, undefined) last, by number.
fn rank(rows: &mut [Row], goal: Goal) {
    rows.sort_by(|a, b| {
        let (x, y) = (a.metric, b.metric);
        match (x.is_finite(), y.is_finite()) {
            (true, true) => match goal {
                Goal::Max => y.total_cmp(&x),
                Goal::Min => x.total_cmp(&y),
            }
            .then(a.trial.index.cmp(&b.trial.index)),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => a.trial.index.cmp(&b.trial.index),
        }
    });
}

/// Writes `best.toml`: the best trial's own config under a header saying where it came from;
/// returns the config's text.
fn write_best(root: &Path, plan: &Plan, best: &Row) -> Result<String> {
    let best_dir = trial_dir(root, best.trial.index);
    let config = crate::files::read_own(
        &best_dir.join(rundir::CONFIG),
        crate::files::CONFIG_LIMIT,
        "config file",
    )
    .map(|b| String::from_utf8_lossy(&b).into_owned())
    .with_context(|| format!("cannot read {}", best_dir.join(rundir::CONFIG).display()))?;
    let header = format!(
        "# The best trial of the sweep in {}: trial {}, {} = {}\n# ({}). Train it with `burnfit train --config best.toml`.\n",
        root.display(),
        best.trial.index,
        plan.metric,
        metrics::show(best.metric),
        best.trial
            .overrides
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The trial's config says where its own run went; a run from this file goes elsewhere.
    write_atomic(&root.join("best.toml"), (header + &config).as_bytes())?;
    Ok(config)
}

/// Writes `sweep.csv`: one row per trial in trial order, with its varied keys, status, ranked
/// metric, every evaluation metric, ε when any trial is private, and seconds.
fn write_csv(root: &Path, plan: &Plan, rows: &[Row]) -> Result<()> {
    let keys: Vec<String> = plan
        .trials
        .first()
        .map(|t| t.overrides.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let names: Vec<String> = rows
        .iter()
        .find_map(|r| r.summary.as_ref())
        .map(|s| s.evaluation.keys().cloned().collect())
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["trial".to_string(), "status".to_string()];
    header.extend(keys.iter().cloned());
    header.push(plan.metric.clone());
    header.extend(names.iter().cloned());
    let private = rows.iter().any(|r| r.epsilon().is_some());
    if private {
        header.push("epsilon".into());
    }
    header.push("seconds".into());
    w.write_record(&header)?;
    let mut by_index: Vec<&Row> = rows.iter().collect();
    by_index.sort_by_key(|r| r.trial.index);
    let num = |v: f64| {
        if v.is_finite() {
            v.to_string()
        } else {
            String::new()
        }
    };
    for r in by_index {
        let mut record = vec![r.trial.index.to_string(), r.status.clone()];
        record.extend(r.trial.overrides.iter().map(|(_, v)| v.clone()));
        record.push(num(r.metric));
        for n in &names {
            record.push(num(r
                .summary
                .as_ref()
                .and_then(|s| s.evaluation.get(n).copied())
                .unwrap_or(f64::NAN)));
        }
        if private {
            record.push(num(r.epsilon().unwrap_or(f64::NAN)));
        }
        record.push(num(r.seconds));
        w.write_record(&record)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    write_atomic(&root.join("sweep.csv"), &bytes)
}

/// The ranking on stdout, best first.
fn print_ranking(plan: &Plan, rows: &[Row]) -> std::io::Result<()> {
    let keys: Vec<&str> = plan
        .trials
        .first()
        .map(|t| t.overrides.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let width = |k: &str, i: usize| {
        rows.iter()
            .map(|r| r.trial.overrides.get(i).map_or(0, |o| o.1.len()))
            .max()
            .unwrap_or(0)
            .max(k.len())
    };
    let widths: Vec<usize> = keys.iter().enumerate().map(|(i, k)| width(k, i)).collect();
    let mut line = format!("{:>4}  {:>5}  {:<12}", "rank", "trial", "status");
    for (k, w) in keys.iter().zip(&widths) {
        line.push_str(&format!("  {k:<w$}"));
    }
    line.push_str(&format!("  {:>10}  {:>8}", plan.metric, "seconds"));
    outln!("{line}")?;
    for (rank, r) in rows.iter().enumerate() {
        let mut line = format!("{:>4}  {:>5}  {:<12}", rank + 1, r.trial.index, r.status);
        for ((_, v), w) in r.trial.overrides.iter().zip(&widths) {
            line.push_str(&format!("  {v:<w$}"));
        }
        let secs = if r.seconds.is_finite() {
            format!("{:.1}", r.seconds)
        } else {
            "-".into()
        };
        line.push_str(&format!("  {:>10}  {secs:>8}", metrics::show(r.metric)));
        outln!("{line}")?;
    }
    Ok(())
}
