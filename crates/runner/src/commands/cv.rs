//! `burnfit cv`: k-fold cross-validation as K ordinary runs (`data.split.folds`/`fold`), each
//! fitting its preprocessing on its own training rows, then the mean and spread of every
//! metric.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::pool::{self, Ended, Planned};
use crate::config::Config;
use crate::lock::{FolderLock, Mode};
use crate::metrics;
use crate::report::{page, RunRecord, Spread};
use crate::run::{read_json, write_atomic, RunDir, Summary};

/// The arguments of `burnfit cv`.
pub(crate) struct CvArgs<'a> {
    /// `--config`; none: the built-in seed.
    pub(crate) config: Option<&'a Path>,
    /// `--set key=value`, for every fold.
    pub(crate) sets: &'a [String],
    /// `--folds`.
    pub(crate) folds: usize,
    /// `--stratify`.
    pub(crate) stratify: bool,
    /// `--seed`: the fold assignment, weights and shuffles.
    pub(crate) seed: Option<u64>,
    /// `--jobs`: folds at once.
    pub(crate) jobs: usize,
    /// `--out`: the parent folder.
    pub(crate) out: Option<PathBuf>,
}

/// What a cross-validation is: kept in the parent folder so that running the same command
/// again resumes it, and a different one is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Plan {
    config: Option<PathBuf>,
    sets: Vec<String>,
    folds: usize,
}

const PLAN: &str = "cv-plan.json";
const RESULT: &str = "cv.json";

/// `burnfit cv`.
pub(crate) fn cv(a: &CvArgs, interrupt: &AtomicUsize) -> Result<ExitCode> {
    if a.folds < 2 {
        bail!(
            "--folds {}: cross-validation needs at least 2 folds",
            a.folds
        );
    }
    if a.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let said = said(a);
    let sets: Vec<String> = said.iter().map(|(s, _)| s.clone()).collect();
    // Every fold's config checked before any starts: the errors of `train`, once.
    let probe = Config::load_with(a.config, &fold_said(&said, 1, a.folds))?;
    super::report_warnings(&probe);
    check_rows(&probe, a.folds)?;
    let parent = a.out.clone().unwrap_or_else(|| {
        RunDir::default_path(
            &probe.output.dir,
            &format!("{}-cv", Config::run_name(a.config)),
        )
    });
    let plan = Plan {
        // Resolved (`sub/../c.toml` is `c.toml`), so the same config named from another folder
        // is the same plan.
        config: a.config.map(|p| {
            p.canonicalize()
                .or_else(|_| std::path::absolute(p))
                .unwrap_or_else(|_| p.to_path_buf())
        }),
        sets,
        folds: a.folds,
    };
    let _lock = prepare_parent(&parent, &plan)?;
    // Continuing: every fold already started must have read the data as it is now, or the
    // mean ± sd below would mix two data sets.
    let started: Vec<(String, PathBuf)> = (1..=a.folds)
        .map(|i| (format!("fold {i}"), parent.join(format!("fold-{i}"))))
        .collect();
    crate::run::fingerprint::refuse_changed(&parent, "folds", &started)?;
    say!(
        "cross-validation: {} folds in {}, {} at a time ({} threads each)",
        a.folds,
        parent.display(),
        a.jobs,
        pool::threads_per_job(a.jobs)
    );
    let planned = commands(&plan, &parent);
    pool::check_dirs(&planned)?;
    let expected = (1..=a.folds).zip(&planned).map(|(i, p)| {
        Ok((
            p,
            Config::load_with(a.config, &fold_said(&said, i, a.folds))?,
        ))
    });
    pool::refuse_other_configs("continue the cross-validation", "folds", expected)?;
    // The children are stopped by the signal the parent passes on, and wait for it.
    let _graceful = crate::stop::Graceful::enter();
    let ended = pool::run_all(&planned, a.jobs.min(a.folds), interrupt, None)?;
    let signal = interrupt.load(Ordering::SeqCst);
    if signal != 0 {
        say!(
            "interrupted: finished folds are kept and interrupted ones checkpointed; run the same command with --out {} to continue",
            parent.display()
        );
        return Ok(ExitCode::from(crate::stop::exit_code(signal)));
    }
    conclude(
        a.folds,
        a.stratify || probe.data.split.stratify,
        &parent,
        &planned,
        &ended,
    )
}

/// The user's `--set`s, then the keys cv sets for its own flags, each called by the flag in
/// an error: what every fold shares.
fn said(a: &CvArgs) -> Vec<(String, String)> {
    let mut said: Vec<(String, String)> = a
        .sets
        .iter()
        .map(|s| (s.clone(), format!("--set {s}")))
        .collect();
    said.push((
        format!("data.split.folds={}", a.folds),
        format!("--folds {}", a.folds),
    ));
    if a.stratify {
        said.push(("data.split.stratify=true".into(), "--stratify".into()));
    }
    if let Some(s) = a.seed {
        said.push((format!("seed={s}"), format!("--seed {s}")));
    }
    said
}

/// What fold `i` of `folds` is told: what every fold shares, and its own fold number.
fn fold_said(shared: &[(String, String)], i: usize, folds: usize) -> Vec<(String, String)> {
    let mut said = shared.to_vec();
    said.push((
        format!("data.split.fold={i}"),
        format!("fold {i} of --folds {folds}"),
    ));
    said
}

/// The data read once here: its errors said once, not by every fold, and a fold count the
/// rows cannot fill refused before any fold starts.
fn check_rows(probe: &Config, folds: usize) -> Result<()> {
    // Read through the cache, whose entry every fold then maps instead of parsing.
    crate::data::cache::configure(&probe.data);
    let data = crate::pipeline::prepare(probe)?;
    let rows = data.train.rows + data.valid.rows;
    if folds > rows {
        bail!(
            "--folds {folds}: the data has {rows} usable rows, and every fold needs at least one to validate on"
        );
    }
    Ok(())
}

/// Each fold as a `train` of the plan's config with its `--set`s and its fold number.
fn commands(plan: &Plan, parent: &Path) -> Vec<Planned> {
    (1..=plan.folds)
        .map(|i| {
            let mut args: Vec<OsString> = Vec::new();
            if let Some(c) = &plan.config {
                // The path as it is, not as text: a folder name that is not UTF-8 still works.
                args.extend([OsString::from("--config"), c.clone().into_os_string()]);
            }
            for s in plan
                .sets
                .iter()
                .chain(std::iter::once(&format!("data.split.fold={i}")))
            {
                args.extend([OsString::from("--set"), OsString::from(s)]);
            }
            Planned {
                label: format!("fold {i}/{}", plan.folds),
                dir: parent.join(format!("fold-{i}")),
                args,
            }
        })
        .collect()
}

/// After every fold has run: refuses a cross-validation with folds that did not finish, and
/// otherwise writes `cv.json` (each metric's mean ± sd over the folds) and the report, then
/// prints the table.
fn conclude(
    folds: usize,
    stratified: bool,
    parent: &Path,
    planned: &[Planned],
    ended: &[Ended],
) -> Result<ExitCode> {
    refuse_unfinished(folds, parent, planned, ended)?;
    let summaries = planned
        .iter()
        .map(|p| pool::summary(&p.dir))
        .collect::<Result<Vec<_>>>()?;
    let spread = spread(&summaries);
    let per_label = per_label_spread(&summaries);
    let mut result = serde_json::json!({
        "folds": folds,
        "stratified": stratified,
        // Each fold's final evaluation is on the test file when the config names one.
        "evaluated_on": if summaries[0].evaluated_on == "test" {
            "the test file (data.test_path), by each fold's model"
        } else {
            "each fold's validation rows"
        },
        // The folds' folder names, inside this folder (always ASCII, whatever the path is).
        "runs": planned
            .iter()
            .map(|p| p.dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>(),
        "metrics": spread,
    });
    if !per_label.is_empty() {
        // Several label columns: each one's metrics over the folds, as summary.json has them.
        result["per_label"] = serde_json::json!(per_label
            .iter()
            .map(|(name, metrics)| serde_json::json!({ "name": name, "metrics": metrics }))
            .collect::<Vec<_>>());
    }
    write_atomic(
        &parent.join(RESULT),
        &serde_json::to_vec_pretty(&result).context("cannot encode cv.json")?,
    )?;
    let records = planned
        .iter()
        .map(|p| RunRecord::load_brief(&p.dir))
        .collect::<Result<Vec<_>, _>>()?;
    let html = page::cross_validation(&records, &spread, &per_label)?;
    write_atomic(&parent.join(crate::run::REPORT), html.as_bytes())?;
    print_table(&spread, folds)?;
    say!(
        "wrote {} and {}",
        parent.join(RESULT).display(),
        parent.join(crate::run::REPORT).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// An error naming every fold that did not finish, and why.
fn refuse_unfinished(
    folds: usize,
    parent: &Path,
    planned: &[Planned],
    ended: &[Ended],
) -> Result<()> {
    let failed: Vec<String> = planned
        .iter()
        .zip(ended)
        .filter(|(_, e)| !matches!(e, Ended::Finished | Ended::AlreadyDone))
        .map(|(p, e)| match e {
            Ended::HeldElsewhere(holder) => format!(
                "{} (being written by another burnfit process, {holder})",
                p.label
            ),
            _ => format!(
                "{} ({e:?}, log {})",
                p.label,
                pool::log_path(&p.dir).display()
            ),
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} folds did not finish: {}; fix the cause and run the same command with --out {} to continue",
            failed.len(),
            folds,
            failed.join(", "),
            parent.display()
        );
    }
    Ok(())
}

/// Each metric's values over the folds, with their mean and standard deviation.
fn spread(summaries: &[Summary]) -> BTreeMap<String, Spread> {
    let names: Vec<String> = summaries[0].evaluation.keys().cloned().collect();
    let mut spread: BTreeMap<String, Spread> = names
        .iter()
        .map(|n| {
            let values = summaries
                .iter()
                .map(|s| s.evaluation.get(n).copied().unwrap_or(f64::NAN))
                .collect();
            (n.clone(), Spread::of(values))
        })
        .collect();
    // Private folds: each fold's ε beside its metrics (each fold is its own private run).
    if summaries.iter().any(|s| s.privacy.is_some()) {
        let eps = summaries
            .iter()
            .map(|s| s.privacy.as_ref().map_or(f64::NAN, |p| p.epsilon))
            .collect();
        spread.insert("epsilon".into(), Spread::of(eps));
    }
    spread
}

/// Each label column's metrics over the folds (runs of several label columns; empty for one),
/// in the first fold's order, a label or metric a fold lacks counted as undefined there.
fn per_label_spread(summaries: &[Summary]) -> Vec<(String, BTreeMap<String, Spread>)> {
    summaries[0]
        .per_label
        .iter()
        .map(|row| {
            let metrics = row
                .metrics
                .keys()
                .map(|metric| {
                    let values = summaries
                        .iter()
                        .map(|s| {
                            s.per_label
                                .iter()
                                .find(|r| r.name == row.name)
                                .and_then(|r| r.metrics.get(metric).copied())
                                .unwrap_or(f64::NAN)
                        })
                        .collect();
                    (metric.clone(), Spread::of(values))
                })
                .collect();
            (row.name.clone(), metrics)
        })
        .collect()
}

/// Creates the parent folder, or checks that an existing one holds this same plan; either way
/// takes the parent's lock, held until the cross-validation ends (one parent per folder: a
/// second `cv` on it is refused while the first runs).
fn prepare_parent(parent: &Path, plan: &Plan) -> Result<FolderLock> {
    let plan_path = parent.join(PLAN);
    if plan_path.is_file() {
        let lock = FolderLock::acquire(parent, Mode::Exclusive)?;
        let before: Plan = read_json(&plan_path)?;
        if &before != plan {
            bail!(
                "{} holds another cross-validation ({}{}, {} folds); give a new --out, or the same config, --set keys and --folds to continue it",
                parent.display(),
                before
                    .config
                    .as_ref()
                    .map_or("the built-in seed config".to_string(), |c| c.display().to_string()),
                if before.sets.is_empty() {
                    String::new()
                } else {
                    format!(" with --set {}", before.sets.join(" --set "))
                },
                before.folds
            );
        }
        say!("continuing the cross-validation in {}", parent.display());
        return Ok(lock);
    }
    // cv has no --resume: the same command continues its own folder, and nothing else.
    let free = || {
        RunDir::check_free(parent).map_err(|_| {
            anyhow::anyhow!(
                "output folder {} already exists, is not empty and holds no cross-validation; choose another with --out",
                parent.display()
            )
        })
    };
    free()?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let lock = FolderLock::acquire(parent, Mode::Exclusive)?;
    // Again under the lock: another `cv` may have started here meanwhile.
    free()?;
    write_atomic(
        &plan_path,
        &serde_json::to_vec_pretty(plan).context("cannot encode the plan")?,
    )?;
    Ok(lock)
}

fn print_table(spread: &BTreeMap<String, Spread>, folds: usize) -> std::io::Result<()> {
    outln!(
        "{:<14} {:>18}   per fold (1..{folds})",
        "metric",
        "mean ± sd"
    )?;
    for (name, s) in spread {
        let per: Vec<String> = s.folds.iter().map(|v| metrics::show(*v)).collect();
        outln!(
            "{name:<14} {:>18}   {}",
            format!("{} ± {}", metrics::show(s.mean), metrics::show(s.sd)),
            per.join(" ")
        )?;
    }
    Ok(())
}
