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
//!
//! Here the plan and the running of trials; the ranking, `sweep.csv` and `best.toml` in
//! `collect.rs`.

mod collect;

pub(crate) use collect::collect;
use collect::collect_held;

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
use crate::run::{read_json, write_atomic, RunDir};
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

/// Trial `i`'s run folder.
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

/// `burnfit sweep` (running trials): the plan, the trials, the ranking.
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
    let only = Only::choose(a.trial, trials.len())?;
    let root = match (&a.out, &only) {
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
    let _lock = open_folder(&root, &plan, &base_toml, only.is_some())?;
    let chosen = announce(&plan, &root, only.as_ref(), a.jobs);
    let planned = commands(&root, &chosen);
    let ended = run_trials(&root, &plan, &chosen, &planned, a.jobs, interrupt)?;
    conclude(&root, only.is_some(), &planned, &ended, interrupt)
}

/// The one trial a process runs (`--trial`, or the scheduler's index), and where its number
/// came from.
struct Only {
    index: usize,
    /// The scheduler's variable that gave it; `None` for `--trial`.
    from: Option<&'static str>,
}

impl Only {
    /// `--trial`, else the scheduler's index, checked against the number of trials; `None`:
    /// the whole sweep.
    fn choose(trial: Option<usize>, count: usize) -> Result<Option<Self>> {
        let only = match trial {
            Some(index) => Some(Self { index, from: None }),
            None => scheduler_index()?.map(|(index, var)| Self {
                index,
                from: Some(var),
            }),
        };
        if let Some(Self { index: i, .. }) = only {
            if i >= count {
                bail!(
                    "trial {i} does not exist: the sweep has {} trials, 0 to {} (`burnfit sweep --count` prints the number for --array=0-{})",
                    count,
                    count - 1,
                    count - 1
                );
            }
        }
        Ok(only)
    }
}

/// Creates and locks the sweep folder and settles its plan. A sweep on one machine owns its
/// folder; the tasks of a job array share it (each trial's own folder is then locked by its
/// `train`), and none runs beside a whole sweep.
fn open_folder(root: &Path, plan: &Plan, base_toml: &str, shared: bool) -> Result<FolderLock> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let mode = if shared {
        Mode::Shared
    } else {
        Mode::Exclusive
    };
    let lock = FolderLock::acquire(root, mode)?;
    settle_plan(root, plan, base_toml, shared)?;
    // Continuing: every trial already started must have read its data as it is now, or the
    // ranking would compare runs on different data.
    let started: Vec<(String, PathBuf)> = plan
        .trials
        .iter()
        .map(|t| (format!("trial {}", t.index), trial_dir(root, t.index)))
        .collect();
    crate::run::fingerprint::refuse_changed(root, "trials", &started)?;
    Ok(lock)
}

/// The trials this process runs, said on stderr.
fn announce<'p>(plan: &'p Plan, root: &Path, only: Option<&Only>, jobs: usize) -> Vec<&'p Trial> {
    match only {
        Some(&Only { index: i, from }) => {
            let why = from.map_or(String::new(), |var| format!(" (from {var})"));
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
                jobs,
                pool::threads_per_job(jobs),
                plan.metric,
                goal_word(plan.goal)
            );
            plan.trials.iter().collect()
        }
    }
}

/// Each chosen trial as a `train` of the base config with its overrides.
fn commands(root: &Path, chosen: &[&Trial]) -> Vec<Planned> {
    let base_path = root.join(BASE);
    chosen
        .iter()
        .map(|t| {
            let mut args = vec![
                OsString::from("--config"),
                base_path.clone().into_os_string(),
            ];
            args.extend(t.set_args().into_iter().map(OsString::from));
            Planned {
                label: format!("trial {}", t.index),
                dir: trial_dir(root, t.index),
                args,
            }
        })
        .collect()
}

/// Runs the planned trials, `jobs` at a time, until done, interrupted or past the sweep's
/// time budget.
fn run_trials(
    root: &Path,
    plan: &Plan,
    chosen: &[&Trial],
    planned: &[Planned],
    jobs: usize,
    interrupt: &AtomicUsize,
) -> Result<Vec<pool::Ended>> {
    // A budget beyond what a clock can hold (`max_time = 1e308`) is no budget at all.
    let deadline = plan
        .max_time
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .and_then(|d| Instant::now().checked_add(d));
    pool::check_dirs(planned)?;
    refuse_other_trials("continue the sweep", root, chosen.iter().copied(), planned)?;
    // The children are stopped by the signal the parent passes on, and wait for it.
    let _graceful = crate::stop::Graceful::enter();
    pool::run_all(planned, jobs.min(planned.len()), interrupt, deadline)
}

/// The exit code: an interrupted sweep's signal; a single trial's own outcome; else the
/// ranking's, and a failure when any trial failed.
fn conclude(
    root: &Path,
    single: bool,
    planned: &[Planned],
    ended: &[pool::Ended],
    interrupt: &AtomicUsize,
) -> Result<ExitCode> {
    let signal = interrupt.load(Ordering::SeqCst);
    if signal != 0 {
        say!(
            "interrupted: finished trials are kept and interrupted ones checkpointed; run the same command with --out {} to continue",
            root.display()
        );
        return Ok(ExitCode::from(crate::stop::exit_code(signal)));
    }
    if single {
        return Ok(match ended.first() {
            Some(pool::Ended::Finished | pool::Ended::AlreadyDone) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        });
    }
    let code = collect_held(root)?;
    // A trial that failed makes the sweep fail, ranking or not: a job script must see it.
    let failed: Vec<String> = planned
        .iter()
        .zip(ended)
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

/// A trial's overrides as `load_with` takes them: each value called by the sweep key that made
/// it, never by a `--set` nobody typed.
fn said(t: &Trial) -> Vec<(String, String)> {
    t.overrides
        .iter()
        .map(|(k, v)| (format!("{k}={v}"), format!("the sweep's {k} = {v}")))
        .collect()
}

/// Refuses to `whole` (continue or rank the sweep) when a trial's folder holds a run of
/// another config than the base with the trial's overrides: a link, a copy of another run or a
/// trial trained with another config in a trial's place.
fn refuse_other_trials<'a>(
    whole: &str,
    root: &Path,
    trials: impl Iterator<Item = &'a Trial>,
    planned: &[Planned],
) -> Result<()> {
    let base = root.join(BASE);
    let expected = trials
        .zip(planned)
        .map(|(t, p)| Ok((p, Config::load_with(Some(&base), &said(t))?)));
    pool::refuse_other_configs(whole, "trials", expected)
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
        Config::load_with(Some(&path), &said(t))
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

/// The goal in words, for the sweep's first line.
fn goal_word(g: Goal) -> &'static str {
    match g {
        Goal::Max => "higher is better",
        Goal::Min => "lower is better",
    }
}
