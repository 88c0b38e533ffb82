//! Hyperparameter sweeps: the trials on this machine (in parallel, resumed), one trial per
//! process into a shared folder then `--collect`, and the same as a job array on a real
//! single-node Slurm cluster.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};

use common::{burnfit, stderr, stdout, write};
use tempfile::TempDir;

/// Four trials (2 learning rates × 2 widths) of a small synthetic problem.
const SWEEP: &str = r#"
seed = 3
[data]
source = "synthetic"
normalize = "zscore"
[data.synthetic]
rows = 2000
features = 10
informative = 4
[train]
epochs = 3
batch_size = 64

[sweep]
metric = "val_auc"
[sweep.grid]
"train.lr" = [0.001, 0.01]
"model.hidden" = [[8], [32, 16]]
"#;

fn sweep(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = burnfit(dir).arg("sweep").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sweep {args:?} failed:\n{}",
        stderr(&out)
    );
    out
}

/// `sweep.csv`'s rows (header first) without the seconds column: what must not depend on how
/// the trials were run.
/// `burnfit sweep --collect FOLDER`, which must succeed with no trial left unfinished; the rows
/// of the `sweep.csv` it wrote.
fn collect_all(dir: &Path, folder: &str) -> Vec<Vec<String>> {
    let all = burnfit(dir)
        .args(["sweep", "--collect", folder])
        .output()
        .unwrap();
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(!stderr(&all).contains("not finished"), "{}", stderr(&all));
    results(&dir.join(folder))
}

fn results(dir: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(dir.join("sweep.csv"))
        .unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            rec.iter().take(rec.len() - 1).map(String::from).collect()
        })
        .collect()
}

#[test]
fn a_sweep_ranks_its_trials_writes_the_best_config_and_runs_the_same_in_parallel() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "sweep.toml", SWEEP);
    assert_eq!(
        stdout(&sweep(dir, &["--config", "sweep.toml", "--count"])).trim(),
        "4"
    );
    let out = sweep(
        dir,
        &["--config", "sweep.toml", "--jobs", "2", "--out", "par"],
    );
    let table = stdout(&out);
    assert!(table.lines().next().unwrap().contains("val_auc"), "{table}");
    // Ranked best first, by the metric in sweep.csv.
    let rows = results(&dir.join("par"));
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows[1..].iter().all(|r| r[1] == "finished"), "{rows:?}");
    assert_eq!(rows[0][4], "val_auc");
    let auc = |r: &[String]| -> f64 { r[4].parse().unwrap() };
    let best = rows[1..].iter().map(|r| auc(r)).fold(f64::MIN, f64::max);
    let ranked_first: usize = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(auc(&rows[1 + ranked_first]), best, "{table}");
    // The best config is ready to train, and is the best trial's.
    let best_toml = fs::read_to_string(dir.join("par/best.toml")).unwrap();
    assert!(
        best_toml.contains(&format!("trial {ranked_first}")),
        "{best_toml}"
    );
    let dry = burnfit(dir)
        .args(["train", "--config", "par/best.toml", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr(&dry));
    // One at a time gives the same results as two at once.
    sweep(
        dir,
        &["--config", "sweep.toml", "--jobs", "1", "--out", "seq"],
    );
    assert_eq!(results(&dir.join("seq")), rows);
    // Run again: every trial is found finished, nothing retrains.
    let again = sweep(dir, &["--config", "sweep.toml", "--out", "par"]);
    assert_eq!(
        stderr(&again).matches("already finished").count(),
        4,
        "{}",
        stderr(&again)
    );
    assert!(dir.join("par/report.html").is_file());
}

#[test]
fn trials_by_index_from_several_processes_share_one_folder_and_collect_finds_them() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "sweep.toml", SWEEP);
    // Half the sweep first, collected: the rest is reported missing.
    sweep(
        dir,
        &["--config", "sweep.toml", "--trial", "1", "--out", "shared"],
    );
    let partial = burnfit(dir)
        .args(["sweep", "--collect", "shared"])
        .output()
        .unwrap();
    assert!(partial.status.success(), "{}", stderr(&partial));
    assert!(
        stderr(&partial).contains(
            "3 of 4 trials have not finished: 0 (not started), 2 (not started), 3 (not started)"
        ),
        "{}",
        stderr(&partial)
    );
    // The other three at once, as an array's tasks would start: by index, one from the
    // scheduler's variable.
    let exe = assert_cmd::cargo::cargo_bin("burnfit");
    let mut children = Vec::new();
    for (i, var) in [("0", None), ("2", None), ("3", Some("SLURM_ARRAY_TASK_ID"))] {
        let mut cmd = StdCommand::new(&exe);
        cmd.current_dir(dir)
            .args(["sweep", "--config", "sweep.toml", "--out", "shared"]);
        match var {
            Some(v) => cmd.env(v, i),
            None => cmd.args(["--trial", i]),
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        children.push(cmd.spawn().unwrap());
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = collect_all(dir, "shared");
    assert!(
        rows[1..].iter().all(|r| r[1] == "finished") && rows.len() == 5,
        "{rows:?}"
    );
    // The same trials as a sweep run in one go.
    sweep(dir, &["--config", "sweep.toml", "--out", "whole"]);
    assert_eq!(results(&dir.join("whole")), rows);
}

#[test]
fn sweep_mistakes_are_named() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "sweep.toml", SWEEP);
    write(dir, "plain.toml", "[train]\nepochs = 1\n");
    write(
        dir,
        "bad.toml",
        &SWEEP.replace(
            "\"model.hidden\" = [[8], [32, 16]]",
            "\"model.hiden\" = [[8]]",
        ),
    );
    for (args, expect) in [
        (
            vec![
                "sweep",
                "--config",
                "sweep.toml",
                "--trial",
                "9",
                "--out",
                "x",
            ],
            "trial 9 does not exist: the sweep has 4 trials",
        ),
        (
            vec!["sweep", "--config", "sweep.toml", "--trial", "1"],
            "needs --out SHARED_DIR",
        ),
        (
            vec!["sweep", "--config", "plain.toml"],
            "has no [sweep] section",
        ),
        (vec!["sweep", "--config", "bad.toml"], "model.hiden"),
        (vec!["sweep", "--collect", "nowhere"], "not a sweep folder"),
    ] {
        common::fails(dir, expect, &args, &[expect]);
    }
}

/// Whether a Slurm cluster answers here; without one the test is skipped with the reason,
/// unless `BURNFIT_REQUIRE_SLURM` is set (CI starts one with `.ci/slurm-up`).
fn slurm_or_skip(test: &str) -> bool {
    let up = StdCommand::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("idle"));
    if up {
        return true;
    }
    if std::env::var_os("BURNFIT_REQUIRE_SLURM").is_some() {
        panic!(
            "BURNFIT_REQUIRE_SLURM is set but no Slurm cluster answers `sinfo` with an idle node"
        );
    }
    eprintln!(
        "skipping {test}: no Slurm cluster (install Debian's slurm-wlm and munge and run .ci/slurm-up; \
         set BURNFIT_REQUIRE_SLURM=1 to make this a failure)"
    );
    false
}

#[test]
fn the_sweep_runs_as_a_slurm_job_array_and_collect_finds_every_trial() {
    if !slurm_or_skip("the_sweep_runs_as_a_slurm_job_array") {
        return;
    }
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "sweep.toml", SWEEP);
    let n: usize = stdout(&sweep(dir, &["--config", "sweep.toml", "--count"]))
        .trim()
        .parse()
        .unwrap();
    let exe = assert_cmd::cargo::cargo_bin("burnfit");
    // The batch script the README shows, with this build's binary.
    let script = write(
        dir,
        "sweep.sbatch",
        &format!(
            "#!/bin/bash\n#SBATCH --job-name=burnfit-sweep\n#SBATCH --array=0-{}\n#SBATCH --cpus-per-task=1\n#SBATCH --output={}/slurm-%A_%a.out\n{} sweep --config sweep.toml --out shared\n",
            n - 1,
            dir.display(),
            exe.display()
        ),
    );
    let out = StdCommand::new("sbatch")
        .current_dir(dir)
        .args(["--wait", "--chdir"])
        .arg(dir)
        .arg(&script)
        .output()
        .unwrap();
    let logs: String = (0..n)
        .filter_map(|i| {
            fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("_{i}.out"))
            })
        })
        .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        out.status.success(),
        "sbatch: {}\n{}\n{logs}",
        stdout(&out),
        stderr(&out)
    );
    for i in 0..n {
        assert!(
            logs.contains(&format!("trial {i} of {n} (from SLURM_ARRAY_TASK_ID)")),
            "{logs}"
        );
    }
    let rows = collect_all(dir, "shared");
    assert_eq!(rows.len(), n + 1);
    assert!(rows[1..].iter().all(|r| r[1] == "finished"), "{rows:?}");
}

#[test]
fn an_interrupted_sweep_checkpoints_its_running_trial_and_the_same_command_resumes_it() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Two trials long enough to be caught mid-epoch.
    let long = SWEEP
        .replace("rows = 2000", "rows = 6000")
        .replace("epochs = 3", "epochs = 5")
        .replace("batch_size = 64", "batch_size = 8")
        .replace("\"model.hidden\" = [[8], [32, 16]]\n", "");
    write(dir, "long.toml", &long);
    let exe = assert_cmd::cargo::cargo_bin("burnfit");
    let mut child = StdCommand::new(&exe)
        .current_dir(dir)
        .args(["sweep", "--config", "long.toml", "--out", "sw"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the first trial has checkpointed an epoch, Ctrl-C to the sweep alone: it must pass
    // the signal on to the trial it runs.
    let ckpt = dir.join("sw/trial-0000/checkpoints");
    let start = std::time::Instant::now();
    while !fs::read_dir(&ckpt).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("epoch-")))
    }) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be interrupted"
        );
        assert!(
            start.elapsed().as_secs() < 120,
            "no checkpoint after two minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sent = StdCommand::new("kill")
        .arg("-2")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "the sweep exits as Ctrl-C does");
    let st: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("sw/trial-0000/status.json")).unwrap())
            .unwrap();
    assert_eq!(
        st["status"], "interrupted",
        "the trial checkpointed and said so"
    );
    assert!(
        !dir.join("sw/trial-0001").exists(),
        "nothing new starts after the signal"
    );
    // The same command again resumes trial 0 and runs trial 1.
    let out = sweep(dir, &["--config", "long.toml", "--out", "sw"]);
    assert!(
        stderr(&out).contains("trial 0: resuming"),
        "{}",
        stderr(&out)
    );
    let rows = results(&dir.join("sw"));
    assert!(
        rows[1..].iter().all(|r| r[1] == "finished") && rows.len() == 3,
        "{rows:?}"
    );
    let history = fs::read_to_string(dir.join("sw/trial-0000/history.csv")).unwrap();
    assert_eq!(history.lines().count(), 6, "all five epochs: {history}");
}

#[test]
fn a_spent_time_budget_starts_no_more_trials_and_collect_says_which() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // A budget spent before the first trial could start.
    write(
        dir,
        "budget.toml",
        &SWEEP.replace(
            "metric = \"val_auc\"",
            "metric = \"val_auc\"\nmax_time = 1e-9",
        ),
    );
    let out = burnfit(dir)
        .args(["sweep", "--config", "budget.toml", "--out", "b"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "nothing finished: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("time budget reached: 4 not started"), "{err}");
    assert!(
        err.contains("4 of 4 trials have not finished: 0 (not started)"),
        "{err}"
    );
    assert!(!dir.join("b/trial-0000").exists());
}
