//! `burnfit sweep`: every trial of a `[sweep]` as its own run folder under one sweep folder, on
//! this machine (`--jobs`) or one trial per process on many (`--trial`, a scheduler's job array),
//! then the ranking (`--collect`).
//!
//! ```text
//! <sweep>/
//!   sweep.json        the spec, the base config and every trial's overrides
//!   base.toml         the resolved config every trial starts from
//!   trial-0000/ ...   one run folder per trial (trial-0000.log beside it)
//!   sweep.csv         one row per trial: varied keys, status, metrics, seconds
//!   best.toml         the best trial's config, ready to train
//!   report.html       the finished trials compared, best first
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::pool::{self, Planned};
use crate::config::{Config, Goal};
use crate::lock::{is_empty_but_lock, FolderLock, Mode};
use crate::metrics::{self, Metric};
use crate::report::{page, RunRecord};
use crate::run::{self as rundir, read_json, write_atomic, RunDir, Summary};
use crate::sweep::{self, Trial};

/// The arguments of `burnfit sweep`.
pub(crate) struct SweepArgs<'a> {
    /// `--config`.
    pub(crate) config: Option<&'a Path>,
    /// `--set`, for every trial.
    pub(crate) sets: &'a [String],
    /// `--jobs`: trials at once.
    pub(crate) jobs: usize,
    /// `--out`: the sweep folder.
    pub(crate) out: Option<PathBuf>,
    /// `--trial I`: run this trial only.
    pub(crate) trial: Option<usize>,
    /// `--count`: print the number of trials.
    pub(crate) count: bool,
}

/// `sweep.json`: what the sweep is, so that any machine sharing the folder runs the same
/// trials, and `--collect` can rank them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Plan {
    metric: String,
    goal: Goal,
    /// The sweep's time budget, seconds.
    max_time: Option<f64>,
    /// Only private trials whose ε is at most this are ranked (`sweep.max_epsilon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_epsilon: Option<f64>,
    trials: Vec<Trial>,
}

const PLAN: &str = "sweep.json";
const BASE: &str = "base.toml";

fn trial_dir(root: &Path, i: usize) -> PathBuf {
    root.join(format!("trial-{i:04}"))
}

/// The trial index a scheduler gives this process: Slurm's array index, or a Kubernetes
/// Indexed Job's completion index.
/// A variable that is set but holds no index (`-1`, `abc`, not UTF-8) is an error: running the
/// whole sweep in each task of an array would run every trial once per task.
fn scheduler_index() -> Result<Option<(usize, &'static str)>> {
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        let Some(raw) = std::env::var_os(var) else {
            continue;
        };
        let text = raw.to_string_lossy();
        return match text.trim().parse::<usize>() {
            Ok(i) => Ok(Some((i, var))),
            Err(_) => bail!(
                "{var} is `{}`, not a trial index (0, 1, 2, …); unset it to run the whole sweep, or pass --trial",
                crate::term::excerpt(&text, 40)
            ),
        };
    }
    Ok(None)
}

/// `burnfit sweep` (running trials).
pub(crate) fn sweep(a: &SweepArgs, interrupt: &AtomicUsize) -> Result<ExitCode> {
    let mut config = Config::load(a.config, a.sets)?;
    let Some(spec) = config.sweep.take() else {
        bail!(
            "{} has no [sweep] section: name the keys to vary under [sweep.grid] or [sweep.random]",
            a.config
                .map_or("the seed config".into(), |p| p.display().to_string())
        );
    };
    let trials = sweep::expand(&spec)?;
    if a.count {
        outln!("{}", trials.len())?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let from_scheduler = if a.trial.is_none() {
        scheduler_index()?
    } else {
        None
    };
    let only = a.trial.or(from_scheduler.map(|s| s.0));
    if let Some(i) = only {
        if i >= trials.len() {
            bail!(
                "trial {i} does not exist: the sweep has {} trials, 0 to {} (`burnfit sweep --count` prints the number for --array=0-{})",
                trials.len(),
                trials.len() - 1,
                trials.len() - 1
            );
        }
    }
    let root = match (&a.out, only) {
        (Some(o), _) => o.clone(),
        (None, Some(_)) => bail!(
            "a single trial needs --out SHARED_DIR: the sweep folder every trial of the array writes into"
        ),
        (None, None) => RunDir::default_path(
            &config.output.dir,
            &format!("{}-sweep", Config::run_name(a.config)),
        ),
    };
    super::report_warnings(&config);
    let plan = Plan {
        metric: spec.metric.clone(),
        goal: sweep::goal(&spec),
        max_time: spec.max_time.map(|m| m.0),
        max_epsilon: spec.max_epsilon.map(|m| m.0),
        trials,
    };
    // Every trial's config checked before any starts: the errors of `train`, once.
    let base_toml = config.to_toml();
    probe(&base_toml, &plan.trials)?;
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    // A sweep on one machine owns its folder; the tasks of a job array share it (each trial's
    // own folder is then locked by its `train`), and none runs beside a whole sweep.
    let mode = if only.is_some() {
        Mode::Shared
    } else {
        Mode::Exclusive
    };
    let _lock = FolderLock::acquire(&root, mode)?;
    let base_path = root.join(BASE);
    settle_plan(&root, &plan, &base_toml, only.is_some())?;
    // Continuing: every trial already started must have read its data as it is now, or the
    // ranking would compare runs on different data.
    let started: Vec<(String, PathBuf)> = plan
        .trials
        .iter()
        .map(|t| (format!("trial {}", t.index), trial_dir(&root, t.index)))
        .collect();
    crate::run::fingerprint::refuse_changed(&root, "trials", &started)?;
    let chosen: Vec<&Trial> = match only {
        Some(i) => {
            let why = from_scheduler.map_or(String::new(), |(_, var)| format!(" (from {var})"));
            say!(
                "trial {i} of {}{why} into {}",
                plan.trials.len(),
                root.display()
            );
            vec![&plan.trials[i]]
        }
        None => {
            say!(
                "sweep: {} trials in {}, {} at a time ({} threads each), ranked by {} ({})",
                plan.trials.len(),
                root.display(),
                a.jobs,
                pool::threads_per_job(a.jobs),
                plan.metric,
                goal_word(plan.goal)
            );
            plan.trials.iter().collect()
        }
    };
    let planned: Vec<Planned> = chosen
        .iter()
        .map(|t| {
            let mut args = vec![
                OsString::from("--config"),
                base_path.clone().into_os_string(),
            ];
            args.extend(t.set_args().into_iter().map(OsString::from));
            Planned {
                label: format!("trial {}", t.index),
                dir: trial_dir(&root, t.index),
                args,
            }
        })
        .collect();
    // A budget beyond what a clock can hold (`max_time = 1e308`) is no budget at all.
    let deadline = plan
        .max_time
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .and_then(|d| Instant::now().checked_add(d));
    pool::check_dirs(&planned)?;
    let expected = chosen.iter().zip(&planned).map(|(t, p)| {
        let said: Vec<(String, String)> = t
            .overrides
            .iter()
            .map(|(k, v)| (format!("{k}={v}"), format!("the sweep's {k} = {v}")))
            .collect();
        Ok((p, Config::load_with(Some(&base_path), &said)?))
    });
    pool::refuse_other_configs("continue the sweep", "trials", expected)?;
    // The children are stopped by the signal the parent passes on, and wait for it.
    let _graceful = crate::stop::Graceful::enter();
    let ended = pool::run_all(&planned, a.jobs.min(planned.len()), interrupt, deadline)?;
    let signal = interrupt.load(Ordering::SeqCst);
    if signal != 0 {
        say!(
            "interrupted: finished trials are kept and interrupted ones checkpointed; run the same command with --out {} to continue",
            root.display()
        );
        return Ok(ExitCode::from(crate::stop::exit_code(signal)));
    }
    if only.is_some() {
        return Ok(match ended.first() {
            Some(pool::Ended::Finished | pool::Ended::AlreadyDone) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        });
    }
    let code = collect_held(&root)?;
    // A trial that failed makes the sweep fail, ranking or not: a job script must see it.
    let failed: Vec<String> = planned
        .iter()
        .zip(&ended)
        .filter(|(_, e)| matches!(e, pool::Ended::Failed(_)))
        .map(|(p, _)| format!("{} (log {})", p.label, pool::log_path(&p.dir).display()))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} trials failed: {}; fix the cause and run the same command with --out {} to continue",
            failed.len(),
            planned.len(),
            failed.join(", "),
            root.display()
        );
    }
    Ok(code)
}

/// Loads the base config with each trial's overrides, as the trial's `train` will: a key that
/// does not exist or a value it refuses is said once, naming the trial, before any starts.
/// The base is written to a fresh private scratch folder (removed when dropped), never to a
/// folder of a predictable name that another user could have made first.
fn probe(base_toml: &str, trials: &[Trial]) -> Result<()> {
    let dir = crate::files::scratch_dir("burnfit-sweep-")?;
    let path = dir.path().join(BASE);
    write_atomic(&path, base_toml.as_bytes())?;
    for t in trials {
        // Each value called by the sweep key that made it, never by a `--set` nobody typed.
        let said: Vec<(String, String)> = t
            .overrides
            .iter()
            .map(|(k, v)| (format!("{k}={v}"), format!("the sweep's {k} = {v}")))
            .collect();
        Config::load_with(Some(&path), &said)
            .with_context(|| format!("trial {} of the sweep", t.index))?;
    }
    Ok(())
}

/// Writes `sweep.json` and `base.toml`, or checks that the folder's are this sweep's. Several
/// machines may start trials of one array at once: each writes the same bytes through its own
/// temporary file (`write_atomic`), and a rename over an identical file changes nothing.
fn settle_plan(root: &Path, plan: &Plan, base_toml: &str, shared: bool) -> Result<()> {
    let plan_path = root.join(PLAN);
    if plan_path.is_file() {
        let before: Plan = read_json(&plan_path)?;
        let base_before =
            crate::files::read_own(&root.join(BASE), crate::files::CONFIG_LIMIT, "config file")
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
        // Compared as TOML without `[output]`: its folder is resolved against the working
        // folder, and the same command from another folder continues the same sweep.
        let comparable = |text: &str| {
            toml::from_str::<toml::Table>(text).ok().map(|mut t| {
                t.remove("output");
                t
            })
        };
        let same_base = comparable(&base_before).is_some_and(|b| Some(b) == comparable(base_toml));
        if &before != plan || !same_base {
            bail!(
                "{} holds another sweep (its sweep.json or base.toml differ from this config's); give a new --out, or the same config and --set keys to continue it",
                root.display()
            );
        }
        return Ok(());
    }
    if !shared && !is_empty_but_lock(root)? {
        bail!(
            "{} is not empty and holds no sweep; choose another --out",
            root.display()
        );
    }
    write_atomic(&root.join(BASE), base_toml.as_bytes())?;
    write_atomic(
        &plan_path,
        &serde_json::to_vec_pretty(plan).context("cannot encode sweep.json")?,
    )
}

fn goal_word(g: Goal) -> &'static str {
    match g {
        Goal::Max => "higher is better",
        Goal::Min => "lower is better",
    }
}

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
fn collect_held(root: &Path) -> Result<ExitCode> {
    let plan: Plan = read_json(&root.join(PLAN)).with_context(|| {
        format!(
            "{} is not a sweep folder (no readable sweep.json)",
            root.display()
        )
    })?;
    // What is ranked must be this sweep's own trials: a link, a copy of another run or a
    // trial trained with another config in a trial's place is refused, as when continuing.
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
    let base = root.join(BASE);
    let expected = plan.trials.iter().zip(&planned).map(|(t, p)| {
        let said: Vec<(String, String)> = t
            .overrides
            .iter()
            .map(|(k, v)| (format!("{k}={v}"), format!("the sweep's {k} = {v}")))
            .collect();
        Ok((p, Config::load_with(Some(&base), &said)?))
    });
    pool::refuse_other_configs("rank the sweep", "trials", expected)?;
    let mut rows: Vec<Row> = plan
        .trials
        .iter()
        .map(|t| {
            let dir = trial_dir(root, t.index);
            let status: Option<rundir::StatusFile> = read_json(&dir.join(rundir::STATUS)).ok();
            let (status, summary) = if pool::finished(&dir) {
                ("finished".to_string(), pool::summary(&dir).ok())
            } else if crate::lock::holder(&dir).is_some() {
                ("running".to_string(), None)
            } else if let Some(s) = status {
                (s.status.word().to_string(), None)
            } else if dir.is_dir() {
                ("incomplete".to_string(), None)
            } else if pool::log_path(&dir).is_file() {
                // Started, and ended before its run folder existed (a config or data error):
                // its log says why.
                ("failed".to_string(), None)
            } else {
                ("not started".to_string(), None)
            };
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
        })
        .collect();
    // Best first; trials without a value (unfinished, undefined) last, by number.
    rows.sort_by(|a, b| {
        let (x, y) = (a.metric, b.metric);
        match (x.is_finite(), y.is_finite()) {
            (true, true) => match plan.goal {
                Goal::Max => y.total_cmp(&x),
                Goal::Min => x.total_cmp(&y),
            }
            .then(a.trial.index.cmp(&b.trial.index)),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => a.trial.index.cmp(&b.trial.index),
        }
    });
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
