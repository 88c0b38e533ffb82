//! Several `burnfit train` runs as child processes, at most `jobs` at a time, with the cores
//! divided between them: what `cv` (folds) and `sweep` (trials) are made of.
//!
//! Each run is an ordinary run folder: a finished one is skipped, an interrupted one resumed
//! (`train --resume`), so the whole batch resumes by running the same command again. Each
//! child's log goes to a file beside its folder; the terminal gets one line per start and end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::run::{self as rundir, read_json, Status, StatusFile, Summary};

/// One run of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// A short name for the terminal (`fold 2`, `trial 7`).
    pub(crate) label: String,
    /// Its run folder.
    pub(crate) dir: PathBuf,
    /// `train`'s arguments for a fresh start (config and overrides); `--out` is added. OS
    /// strings: a config path need not be UTF-8.
    pub(crate) args: Vec<std::ffi::OsString>,
}

/// How one run of the batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It had finished before this command: skipped.
    AlreadyDone,
    /// It finished now.
    Finished,
    /// It exited with this code (interrupted: 128 + signal; failed: 1).
    Failed(i32),
    /// Not started: the batch was stopped first.
    NotStarted,
    /// Not started: another live process is writing its folder (a child of an earlier,
    /// killed parent, or another task of a job array); it is left to that process.
    HeldElsewhere(String),
}

/// Whether `dir` holds a finished run (its `status.json` says so and `summary.json` exists).
pub(crate) fn finished(dir: &Path) -> bool {
    dir.join(rundir::SUMMARY).is_file()
        && read_json::<StatusFile>(&dir.join(rundir::STATUS))
            .is_ok_and(|s| s.status == Status::Finished)
}

/// The finished run's summary.
pub(crate) fn summary(dir: &Path) -> Result<Summary> {
    read_json(&dir.join(rundir::SUMMARY))
}

/// Threads for each of `jobs` runs sharing this machine's cores: at least one.
pub(crate) fn threads_per_job(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// Runs `planned`, `jobs` at a time. A stop signal (its number in `interrupt`) is passed on to
/// the running children, which checkpoint; nothing new starts after it, nor after `deadline`.
pub(crate) fn run_all(
    planned: &[Planned],
    jobs: usize,
    interrupt: &AtomicUsize,
    deadline: Option<Instant>,
) -> Result<Vec<Ended>> {
    let exe = std::env::current_exe().context("cannot find the burnfit binary to run")?;
    let threads = threads_per_job(jobs);
    let mut ended: Vec<Option<Ended>> = vec![None; planned.len()];
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let mut next = 0;
    let mut forwarded = false;
    loop {
        let stopping = interrupt.load(Ordering::SeqCst) != 0;
        if stopping && !forwarded {
            forwarded = true;
            for (_, child, _) in &running {
                forward(child, interrupt.load(Ordering::SeqCst));
            }
        }
        let late = deadline.is_some_and(|d| Instant::now() >= d);
        if late && next < planned.len() && running.is_empty() {
            say!("time budget reached: {} not started", planned.len() - next);
            break;
        }
        while !stopping && !late && running.len() < jobs && next < planned.len() {
            let p = &planned[next];
            if finished(&p.dir) {
                say!("{}: already finished ({})", p.label, p.dir.display());
                ended[next] = Some(Ended::AlreadyDone);
            } else if let Some(holder) = crate::lock::holder(&p.dir) {
                say!(
                    "{}: skipped: {} is being written by another burnfit process ({holder})",
                    p.label,
                    p.dir.display()
                );
                ended[next] = Some(Ended::HeldElsewhere(holder.to_string()));
            } else {
                let child = spawn(&exe, p, threads)?;
                running.push((next, child, Instant::now()));
            }
            next += 1;
        }
        if running.is_empty() && (stopping || next >= planned.len()) {
            break;
        }
        let mut k = 0;
        while k < running.len() {
            let (i, child, started) = &mut running[k];
            match child.try_wait().context("cannot wait for a child run")? {
                Some(status) => {
                    let p = &planned[*i];
                    let secs = started.elapsed().as_secs_f64();
                    let e = if status.success() {
                        say!("{}: finished in {secs:.1}s ({})", p.label, p.dir.display());
                        Ended::Finished
                    } else {
                        let code = status.code().unwrap_or(1);
                        say!(
                            "{}: exited with {code} after {secs:.1}s; see {}",
                            p.label,
                            log_path(&p.dir).display()
                        );
                        Ended::Failed(code)
                    };
                    ended[*i] = Some(e);
                    running.swap_remove(k);
                }
                None => k += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(ended
        .into_iter()
        .map(|e| e.unwrap_or(Ended::NotStarted))
        .collect())
}

/// `<dir>.log`: the child's stderr and stdout.
pub(crate) fn log_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".log");
    dir.with_file_name(name)
}

/// Refuses any planned folder that exists as something other than a real folder (a link
/// planted as `fold-3` or `trial-0007` would carry a run's training, and its metrics, from
/// somewhere else). Called before anything starts.
pub(crate) fn check_dirs(planned: &[Planned]) -> Result<()> {
    for p in planned {
        if let Ok(m) = std::fs::symlink_metadata(&p.dir) {
            if !m.is_dir() {
                anyhow::bail!(
                    "{} ({}) is {}, not a folder burnfit made; remove it and run the same command again",
                    p.dir.display(),
                    p.label,
                    crate::files::not_regular(&p.dir).unwrap_or("a file")
                );
            }
        }
    }
    Ok(())
}

/// Refuses to continue when a run already started holds another config than the one this
/// command gives it (the config file edited since, or another run copied or linked in its
/// place): its figures would be ranked or averaged with the others' as one experiment.
/// `expected` gives each planned run with its config. `output.dir` is left out of the
/// comparison: it is where a run folder goes by default, resolved against the working folder,
/// and the same command from another folder continues the same runs.
pub(crate) fn refuse_other_configs<'a>(
    whole: &str,
    runs: &str,
    expected: impl Iterator<Item = Result<(&'a Planned, Config)>>,
) -> Result<()> {
    let comparable = |mut t: toml::Table| {
        t.remove("output");
        t
    };
    let mut other = Vec::new();
    for item in expected {
        let (p, config) = item?;
        let path = p.dir.join(rundir::CONFIG);
        // A run another live process is writing is not started here either (`run_all` skips
        // it, naming the holder); its config is that process's business.
        if !path.exists() || crate::lock::holder(&p.dir).is_some() {
            continue;
        }
        let want: toml::Table =
            toml::from_str(&config.to_toml()).context("cannot read back the resolved config")?;
        let found = crate::files::read_own(&path, crate::files::CONFIG_LIMIT, "config file")
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| toml::from_str::<toml::Table>(&t).ok());
        if found.map(comparable) != Some(comparable(want)) {
            other.push(p.label.clone());
        }
    }
    if !other.is_empty() {
        anyhow::bail!(
            "cannot {whole}: {} of its {runs} ({}) {} trained with another config than this command gives {} (the config was edited since, or another run was put in its place); continuing would put runs of two experiments together. Give a new --out to start over, or put the old config back to continue",
            other.len(),
            other.join(", "),
            if other.len() == 1 { "was" } else { "were" },
            if other.len() == 1 { "it" } else { "them" },
        );
    }
    Ok(())
}

fn spawn(exe: &Path, p: &Planned, threads: usize) -> Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.arg("train");
    if crate::data::cache::disabled_by_flag() {
        cmd.arg("--no-cache");
    }
    if rundir::is_run_folder(&p.dir) {
        say!("{}: resuming {}", p.label, p.dir.display());
        cmd.arg("--resume").arg(&p.dir);
    } else {
        say!("{}: starting {}", p.label, p.dir.display());
        cmd.args(&p.args).arg("--out").arg(&p.dir);
    }
    let log_file = log_path(&p.dir);
    // Appended through no link: in a shared sweep folder a link planted under the log's name
    // would otherwise send the child's output into any file this process may write.
    let log = crate::files::open_append(&log_file)?;
    let err = log
        .try_clone()
        .with_context(|| format!("cannot write {}", log_file.display()))?;
    // Each child's compute pools sized to its share of the cores, so that `jobs` runs side
    // by side do not oversubscribe the machine.
    cmd.env("RAYON_NUM_THREADS", threads.to_string())
        .env("MATMUL_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    cmd.spawn()
        .with_context(|| format!("cannot start {}", exe.display()))
}

/// Passes a stop signal on to a child, which checkpoints and exits as a `train` does.
fn forward(child: &Child, signal: usize) {
    #[cfg(unix)]
    {
        let sig = match signal as i32 {
            1 => rustix::process::Signal::HUP,
            15 => rustix::process::Signal::TERM,
            _ => rustix::process::Signal::INT,
        };
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            // A child that already ended has nothing to stop.
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
    #[cfg(not(unix))]
    let _ = (child, signal);
}
