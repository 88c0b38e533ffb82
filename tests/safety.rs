//! A user's files and the machine are safe from any command: outputs never replace a file
//! unless asked (and never an input or a run's file), big plans are refused with their numbers
//! before anything is allocated, a failed start leaves nothing behind, and `--resume` refuses
//! changed data and leaves a finished run alone; in shared folders no write follows a planted
//! link or replaces a device node, one process writes a run folder at a time, and a closed
//! pipe ends a command quietly. `docs/RELIABILITY.md` lists these cases.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tempfile::TempDir;

/// Names of the temporary files (`.NAME.<random>.tmp`) in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn predict_never_replaces_an_input_or_a_run_file_and_asks_before_any_other() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    synth(d, 50, 4, 9, "fresh.csv");
    let predict = |out: &str, force: bool| {
        let mut args = vec![
            "predict",
            "--model",
            "run",
            "--data",
            "fresh.csv",
            "--out",
            out,
        ];
        if force {
            args.push("--force");
        }
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| burnfit(d).args(&args).output().unwrap();
    fs::write(d.join("old.csv"), "keep me").unwrap();
    let a = predict("old.csv", false);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails(d, "existing --out", &a, &["already exists", "--force"]);
    assert_eq!(fs::read_to_string(d.join("old.csv")).unwrap(), "keep me");
    assert!(run(predict("old.csv", true)).status.success());
    assert!(fs::read_to_string(d.join("old.csv"))
        .unwrap()
        .starts_with("row,"));
    let data = fs::read(d.join("fresh.csv")).unwrap();
    let model = fs::read(d.join("run/model.bpk")).unwrap();
    for (case, out, expect) in [
        ("--out is --data", "fresh.csv", "inputs"),
        ("--out in the run", "run/model.bpk", "run folder"),
        ("--out a folder", "run", "is a folder"),
    ] {
        let a = predict(out, true);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        fails(d, case, &a, &[expect]);
    }
    assert_eq!(fs::read(d.join("fresh.csv")).unwrap(), data);
    assert_eq!(fs::read(d.join("run/model.bpk")).unwrap(), model);
    assert!(temporaries(d).is_empty() && temporaries(&d.join("run")).is_empty());
}

#[test]
fn synth_streams_and_refuses_what_would_not_fit_without_leaving_a_temporary() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fs::create_dir(d.join("folder")).unwrap();
    let synth_args = |rows: &str, task: &str, out: &str| {
        let args = [
            "synth",
            "--rows",
            rows,
            "--features",
            "10",
            "--task",
            task,
            "--out",
            out,
        ];
        args.map(String::from).to_vec()
    };
    let a = synth_args("10", "binary", "folder");
    fails(
        d,
        "synth into a folder",
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &["is a folder"],
    );
    // The binary task's class assignment alone would need 8 TB; the file 110 TB of disk.
    let a = synth_args("1000000000000", "binary", "huge.csv");
    fails(
        d,
        "synth 1e12 rows",
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &["needs about", "TB", "available", "--rows"],
    );
    let a = synth_args("1000000000000", "regression", "huge.csv");
    fails(
        d,
        "synth 1e12 rows to disk",
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &["needs about", "free disk space"],
    );
    assert!(!d.join("huge.csv").exists());
    assert!(temporaries(d).is_empty() && temporaries(&d.join("folder")).is_empty());
    // Fewer features than the default informative count: every feature informs.
    let out = burnfit(d)
        .args([
            "synth",
            "--rows",
            "20",
            "--features",
            "5",
            "--out",
            "five.csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let a = synth_args("20", "binary", "five.csv");
    fails(
        d,
        "synth over a file",
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &["--force"],
    );
}

#[test]
fn plans_too_big_for_the_machine_are_refused_before_allocating() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let huge_data = SMALL.replace("rows = 2000", "rows = 1000000000000");
    let cfg = write(d, "huge.toml", &huge_data);
    fails(
        d,
        "synthetic rows = 1e12",
        &["train", "--dry-run", "--config", cfg.to_str().unwrap()],
        &["data.synthetic needs about", "available"],
    );
    let wide = SMALL.replace("[train]", "[model]\nhidden = [100000000]\n[train]");
    let cfg = write(d, "wide.toml", &wide);
    for args in [&["train", "--dry-run"][..], &["train", "--out", "run"][..]] {
        let args = [args, &["--config", cfg.to_str().unwrap()]].concat();
        fails(
            d,
            "hidden = [1e8]",
            &args,
            &["the network needs about", "model.hidden"],
        );
    }
    assert!(!d.join("run").exists(), "a refused start made a run folder");
    // An identifier read as a categorical column: 40,000 levels.
    let mut csv = String::from("id,x,y\n");
    for i in 0..40_000 {
        csv.push_str(&format!("user{i},{},{}\n", i % 7, i % 2));
    }
    fs::write(d.join("ids.csv"), csv).unwrap();
    let text = "[data]\nsource = \"csv\"\npath = \"ids.csv\"\nlabel = \"y\"\ncategorical = [\"id\"]\nnormalize = \"none\"\n[data.split]\ntrain = 0.99\n";
    let cfg = write(d, "ids.toml", text);
    fails(
        d,
        "40,000 levels",
        &["train", "--dry-run", "--config", cfg.to_str().unwrap()],
        &[
            "`id`",
            "39600 distinct values",
            "data.max_levels = 1000",
            "data.exclude",
        ],
    );
}

#[test]
fn a_start_that_fails_leaves_no_run_folder_and_dry_run_says_so_first() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cases = [
        (
            "batch larger than the rows",
            SMALL.replace("batch_size = 64", "batch_size = 5000"),
            "train.batch_size = 5000",
        ),
        (
            "every column excluded",
            {
                let cols: Vec<String> = (0..10).map(|j| format!("\"f{j}\"")).collect();
                let csv_cfg = format!(
                    "[data]\nsource = \"csv\"\npath = \"data.csv\"\nexclude = [{}]\n",
                    cols.join(", ")
                );
                csv_cfg
            },
            "no input columns",
        ),
    ];
    synth(d, 100, 4, 1, "data.csv");
    for (case, text, expect) in cases {
        let cfg = write(d, "case.toml", &text);
        let cfg = cfg.to_str().unwrap();
        fails(d, case, &["train", "--dry-run", "--config", cfg], &[expect]);
        fails(
            d,
            case,
            &["train", "--config", cfg, "--out", "run"],
            &[expect],
        );
        assert!(!d.join("run").exists(), "{case}: a run folder was left");
    }
}

#[test]
fn resume_refuses_changed_data_and_leaves_a_finished_run_unchanged() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    synth(d, 300, 4, 2, "data.csv");
    let cfg = write(
        d,
        "csv.toml",
        "[data]\nsource = \"csv\"\npath = \"data.csv\"\n[train]\nepochs = 2\nbatch_size = 32\n",
    );
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    let summary = fs::read(d.join("run/summary.json")).unwrap();
    let emissions = fs::read(d.join("run/emissions.csv")).unwrap();
    let out = burnfit(d)
        .args(["train", "--resume", "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is finished"), "{}", stderr(&out));
    assert_eq!(fs::read(d.join("run/summary.json")).unwrap(), summary);
    assert_eq!(fs::read(d.join("run/emissions.csv")).unwrap(), emissions);
    // An unfinished run (as an interrupted one is: no summary yet) on the same CSV resumes:
    // the checksum taken while training read the file is the one --resume computes.
    fs::remove_file(d.join("run/summary.json")).unwrap();
    let out = burnfit(d)
        .args(["train", "--resume", "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let recorded: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("run/data.json")).unwrap()).unwrap();
    let size = fs::metadata(d.join("data.csv")).unwrap().len();
    assert_eq!(recorded[0]["bytes"], size, "{recorded}");
    // Over a replaced CSV it refuses.
    fs::remove_file(d.join("run/summary.json")).unwrap();
    synth(d, 300, 4, 3, "other.csv");
    fs::rename(d.join("other.csv"), d.join("data.csv")).unwrap();
    fails(
        d,
        "resume on changed data",
        &["train", "--resume", "run"],
        &["data.csv", "changed since the run started", "data.path"],
    );
}

#[test]
fn divergence_keeps_every_finished_epoch_and_says_what_was_kept() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // In epoch 1 at once: nothing was kept.
    let first = SMALL.replace("[train]", "[train]\noptimizer = \"sgd\"\nlr = 1e30");
    let cfg = write(d, "first.toml", &first);
    let err = fails(
        d,
        "diverges in epoch 1",
        &["train", "--config", cfg.to_str().unwrap(), "--out", "first"],
        &["diverged at epoch 1", "no checkpoint was kept"],
    );
    assert!(err.contains("checkpoints"), "{err}");
    assert_eq!(
        fs::read_to_string(d.join("first/history.csv")).unwrap(),
        "epoch,lr\n"
    );
    // After a good epoch: it is in history.csv, and the message names the checkpoint.
    let second = SMALL.replace(
        "[train]",
        "[train]\noptimizer = \"sgd\"\nlr = 0.01\nlr_schedule = \"step\"\nlr_step_every = 1\nlr_gamma = 1e30",
    );
    let cfg = write(d, "second.toml", &second);
    fails(
        d,
        "diverges in epoch 2",
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "second",
        ],
        &["diverged at epoch 2", "epoch-0001-step-000000", "is kept"],
    );
    let history = fs::read_to_string(d.join("second/history.csv")).unwrap();
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(
        history.lines().nth(1).unwrap().starts_with("1,"),
        "{history}"
    );
}

/// Makes a node at `path` with the system's `mknod`/`mkfifo` (`args` after the path); `false`,
/// with the reason printed past the harness's capture, when this user may not (a character
/// device needs root, which CI has).
fn make_node(tool: &str, path: &Path, args: &[&str], test: &str) -> bool {
    use std::io::Write as _;
    let made = StdCommand::new(tool).arg(path).args(args).output();
    match made {
        Ok(o) if o.status.success() => true,
        other => {
            let _ = writeln!(
                std::io::stderr(),
                "skipping part of {test}: `{tool} {} {}` failed ({other:?}); run as root to cover it",
                path.display(),
                args.join(" ")
            );
            false
        }
    }
}

#[cfg(unix)]
#[test]
fn force_replaces_only_regular_files_never_a_device_node_or_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    synth(d, 50, 4, 9, "fresh.csv");
    let test = "force_replaces_only_regular_files_never_a_device_node_or_a_fifo";
    let mut nodes = Vec::new();
    // A twin of /dev/null (major 1, minor 3).
    if make_node("mknod", &d.join("null"), &["c", "1", "3"], test) {
        nodes.push(("null", "a character device"));
    }
    assert!(make_node("mkfifo", &d.join("fifo"), &[], test));
    nodes.push(("fifo", "a FIFO"));
    for (node, what) in nodes {
        let predict = [
            "predict",
            "--model",
            "run",
            "--data",
            "fresh.csv",
            "--out",
            node,
            "--force",
        ];
        fails(d, &format!("predict --out {node}"), &predict, &[node, what]);
        let export = [
            "export", "--model", "run", "--format", "onnx", "--out", node, "--force",
        ];
        fails(d, &format!("export --out {node}"), &export, &[node, what]);
        let synth = [
            "synth",
            "--rows",
            "10",
            "--features",
            "3",
            "--out",
            node,
            "--force",
        ];
        fails(d, &format!("synth --out {node}"), &synth, &[node, what]);
        let t = fs::symlink_metadata(d.join(node)).unwrap().file_type();
        assert!(t.is_char_device() || t.is_fifo(), "{node} was replaced");
    }
    assert!(temporaries(d).is_empty(), "{:?}", temporaries(d));
}

#[cfg(unix)]
#[test]
fn writes_into_a_run_folder_never_follow_a_planted_link() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    let victim = write(d, "victim.txt", "precious");
    let run = d.join("run");
    // Under the old predictable temporary name and under the final name.
    let old_tmp = run.join(format!(".report.html.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &old_tmp).unwrap();
    let out = burnfit(d).args(["report", "run"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(fs::read_to_string(run.join("report.html"))
        .unwrap()
        .contains("<html"));
    fs::remove_file(run.join("report.html")).unwrap();
    std::os::unix::fs::symlink(&victim, run.join("report.html")).unwrap();
    fails(
        d,
        "report over a planted link",
        &["report", "run"],
        &["report.html", "symbolic link"],
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(fs::symlink_metadata(run.join("report.html"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A link planted as the folder's lock file is not followed either.
    fs::remove_file(run.join(".burnfit.lock")).unwrap();
    std::os::unix::fs::symlink(&victim, run.join(".burnfit.lock")).unwrap();
    fs::remove_file(run.join("report.html")).unwrap();
    fails(
        d,
        "lock file planted as a link",
        &["report", "run"],
        &[".burnfit.lock", "symbolic link"],
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}

/// A sweep of two trials of the SMALL problem.
fn sweep_config(dir: &Path) -> String {
    let text = format!(
        "{SMALL}\n[sweep]\nmetric = \"val_loss\"\n[sweep.grid]\n\"train.lr\" = [0.01, 0.02]\n"
    );
    write(dir, "sweep.toml", &text)
        .to_str()
        .unwrap()
        .to_string()
}

#[cfg(unix)]
#[test]
fn a_trial_log_is_never_appended_through_a_planted_link() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = sweep_config(d);
    let victim = write(d, "victim.txt", "precious");
    fs::create_dir(d.join("sw")).unwrap();
    std::os::unix::fs::symlink(&victim, d.join("sw/trial-0000.log")).unwrap();
    fails(
        d,
        "trial log planted as a link",
        &["sweep", "--config", &cfg, "--trial", "0", "--out", "sw"],
        &["trial-0000.log", "symbolic link"],
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}

/// Starts `burnfit train` with `args` in `dir` and waits (at most a minute) until `ready`.
fn start_train(dir: &Path, args: &[&str], ready: impl Fn() -> bool) -> std::process::Child {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("burnfit"))
        .current_dir(dir)
        .arg("train")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "train ended before it was ready"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "train never got ready"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

#[test]
fn a_run_folder_has_one_writer_and_a_killed_one_lets_go() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // Long enough to be caught alive: many epochs of small batches.
    let long = SMALL
        .replace("epochs = 3", "epochs = 400")
        .replace("batch_size = 64", "batch_size = 8");
    let cfg = write(d, "long.toml", &long);
    let run = d.join("run");
    let mut first = start_train(
        d,
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
        || run.join("config.toml").is_file(),
    );
    let pid = first.id().to_string();
    let err = fails(
        d,
        "resume while another process trains",
        &["train", "--resume", "run"],
        &[
            "is being written by another burnfit process",
            &format!("(pid {pid}, started "),
            "wait for it to finish or stop it",
        ],
    );
    assert!(err.contains("run"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    // The OS released the lock with the process: resume goes ahead, here after cutting the
    // epochs so that it ends soon.
    let config = fs::read_to_string(run.join("config.toml")).unwrap();
    fs::write(
        run.join("config.toml"),
        config.replace("epochs = 400", "epochs = 1"),
    )
    .unwrap();
    let out = burnfit(d)
        .args(["train", "--resume", "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run.join("summary.json").is_file());
    // A folder holding only a lock file (a start killed before its first file) is empty.
    fs::create_dir(d.join("bare")).unwrap();
    fs::write(d.join("bare/.burnfit.lock"), "").unwrap();
    let small = write(d, "small.toml", SMALL);
    train(d, &["--config", small.to_str().unwrap(), "--out", "bare"]);
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly_with_its_files_complete() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = sweep_config(d);
    let done = burnfit(d)
        .args(["sweep", "--config", &cfg, "--out", "sw"])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", stderr(&done));
    fs::remove_file(d.join("sw/best.toml")).unwrap();
    // `burnfit sweep --collect sw | head -0`: stdout's reader is gone before the first line.
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("burnfit"))
        .current_dir(d)
        .args(["sweep", "--collect", "sw"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("error:"),
        "{err}"
    );
    assert!(d.join("sw/best.toml").is_file() && d.join("sw/report.html").is_file());

    // `burnfit train ... 2>&1 | head -3`: both streams on one pipe whose reader leaves after
    // three lines; training goes on to a complete run folder.
    // Enough steps that the reader is gone long before the last line.
    let slower = SMALL
        .replace("epochs = 3", "epochs = 20")
        .replace("batch_size = 64", "batch_size = 8");
    let small = write(d, "small.toml", &slower);
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("burnfit"))
        .current_dir(d)
        .args(["train", "--config", small.to_str().unwrap(), "--out", "run"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader).lines();
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    drop(lines);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "{status:?}");
    for f in ["config.toml", "model.bpk", "summary.json", "status.json"] {
        assert!(d.join("run").join(f).is_file(), "{f} missing");
    }
}

#[test]
fn a_sweep_never_starts_a_trial_another_live_process_is_training() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = sweep_config(d);
    // Trial 1 done (as by one task of an array), which also writes the plan.
    let out = burnfit(d)
        .args(["sweep", "--config", &cfg, "--trial", "1", "--out", "sw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Trial 0's folder held by a live process (an orphan of a killed parent, say).
    let long = SMALL
        .replace("epochs = 3", "epochs = 400")
        .replace("batch_size = 64", "batch_size = 8");
    let long = write(d, "long.toml", &long);
    let trial = d.join("sw/trial-0000");
    let mut orphan = start_train(
        d,
        &["--config", long.to_str().unwrap(), "--out", "sw/trial-0000"],
        || trial.join("config.toml").is_file(),
    );
    let out = burnfit(d)
        .args(["sweep", "--config", &cfg, "--out", "sw"])
        .output()
        .unwrap();
    let err = stderr(&out);
    let pid = orphan.id();
    orphan.kill().unwrap();
    orphan.wait().unwrap();
    assert!(
        err.contains(&format!(
            "trial 0: skipped: sw/trial-0000 is being written by another burnfit process (pid {pid}, started "
        )),
        "{err}"
    );
    assert!(err.contains("trial 1: already finished"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The orphan's run was not touched by a second writer: its config is the long one.
    let config = fs::read_to_string(trial.join("config.toml")).unwrap();
    assert!(config.contains("epochs = 400"), "{config}");
}

#[test]
fn continuing_a_cv_or_a_sweep_on_changed_data_is_refused_naming_the_runs_and_the_file() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    synth(d, 300, 4, 2, "data.csv");
    let cfg = write(
        d,
        "csv.toml",
        "[data]\nsource = \"csv\"\npath = \"data.csv\"\n[train]\nepochs = 2\nbatch_size = 32\n\n[sweep]\nmetric = \"val_loss\"\n[sweep.grid]\n\"train.lr\" = [0.01, 0.02]\n",
    );
    let cfg = cfg.to_str().unwrap();
    let cv = ["cv", "--config", cfg, "--folds", "3", "--out", "cv"];
    let sweep = ["sweep", "--config", cfg, "--out", "sw"];
    for args in [&cv[..], &sweep[..]] {
        let out = burnfit(d).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    // The parent was killed before the last fold and trial, and the CSV was replaced.
    fs::remove_dir_all(d.join("cv/fold-3")).unwrap();
    fs::remove_dir_all(d.join("sw/trial-0001")).unwrap();
    synth(d, 300, 4, 3, "other.csv");
    fs::rename(d.join("other.csv"), d.join("data.csv")).unwrap();
    let cv_before = fs::read(d.join("cv/cv.json")).unwrap();
    fails(
        d,
        "cv continued on changed data",
        &cv,
        &[
            "cannot continue cv: 2 of its folds trained on data that has changed since",
            "fold 1, fold 2: ",
            "data.csv (data.path) was ",
            "--out",
        ],
    );
    fails(
        d,
        "sweep continued on changed data",
        &sweep,
        &[
            "cannot continue sw: 1 of its trials",
            "trial 0: ",
            "data.csv (data.path) was ",
        ],
    );
    // Nothing was started on the new data.
    assert!(!d.join("cv/fold-3").exists() && !d.join("sw/trial-0001").exists());
    assert_eq!(fs::read(d.join("cv/cv.json")).unwrap(), cv_before);
}

#[test]
fn oversized_configs_are_refused_by_size_and_never_echoed() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let big = d.join("big.toml");
    fs::write(&big, vec![b'#'; 20_000_000]).unwrap();
    fails(
        d,
        "a 20 MB config",
        &["train", "--dry-run", "--config", big.to_str().unwrap()],
        &["big.toml: the file is 20.0 MB, more than the 16.0 MB a config file may be"],
    );
    fails(
        d,
        "/dev/zero as the config",
        &["train", "--dry-run", "--config", "/dev/zero"],
        &["/dev/zero: the file holds more than the 16.0 MB a config file may be"],
    );
    // A run folder whose config.toml is one 10 MB line: `runs` skips it in a short warning.
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "runs/a"]);
    fs::write(d.join("runs/a/config.toml"), vec![b'x'; 10_000_000]).unwrap();
    let out = burnfit(d).args(["runs", "runs"]).output().unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("warning: skipping runs/a"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 2000, "{} bytes of stderr", err.len());
}

#[test]
fn escape_sequences_from_a_file_never_reach_the_terminal_raw() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // A header whose first name clears the screen when printed raw.
    fs::write(d.join("esc.csv"), "a\x1b[2J,y\n1,0\n2,1\n3,0\n").unwrap();
    let err = fails(
        d,
        "an escape sequence in a column name",
        &[
            "train",
            "--dry-run",
            "--set",
            "data.source=csv",
            "--set",
            "data.path=esc.csv",
            "--set",
            "data.label=label",
        ],
        &["no column `label`", "a\\u{1b}[2J"],
    );
    assert!(!err.contains('\x1b'), "{err:?}");
}

#[test]
fn text_cells_that_are_not_utf8_are_errors_naming_the_cell_never_merged() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // Two Windows-1252 values (café, cafè) that a lossy decoding would make one.
    let mut csv = b"city,x,y\n".to_vec();
    for (i, city) in [&b"caf\xe9"[..], b"caf\xe8", b"caf\xe9", b"bar"]
        .iter()
        .enumerate()
    {
        csv.extend_from_slice(city);
        csv.extend_from_slice(format!(",{i},{}\n", i % 2).as_bytes());
    }
    fs::write(d.join("cities.csv"), &csv).unwrap();
    let base = [
        "train",
        "--dry-run",
        "--set",
        "data.source=csv",
        "--set",
        "data.path=cities.csv",
        "--set",
        "data.label=y",
    ];
    let mut args = base.to_vec();
    args.extend(["--set", "data.categorical=[\"city\"]"]);
    fails(
        d,
        "a categorical value that is not UTF-8",
        &args,
        &[
            "row 2, column `city`",
            "is not valid UTF-8 (bytes 63 61 66 e9)",
        ],
    );
    // The same in the label column.
    let mut args = base.to_vec();
    args[7] = "data.label=city";
    args.extend(["--set", "data.positive=bar"]);
    fails(
        d,
        "a label that is not UTF-8",
        &args,
        &["row 2, column `city`", "is not valid UTF-8"],
    );
}

#[test]
fn values_are_checked_as_the_f32_they_become() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    let cfg = cfg.to_str().unwrap();
    for (case, set, expect) in [
        (
            "a class weight beyond f32",
            "train.class_weight=[1e39, 1]",
            "within a 32-bit float's range",
        ),
        (
            "class weights too far apart to train",
            "train.class_weight=[1e30, 1]",
            "one class weighs 1.000e30 times the other",
        ),
    ] {
        fails(
            d,
            case,
            &["train", "--dry-run", "--config", cfg, "--set", set],
            &["train.class_weight", expect],
        );
    }
    // A class weight times a row weight that overflows f32, though each is finite.
    let mut csv = String::from("a,w,y\n");
    for i in 0..40 {
        csv.push_str(&format!("{i},3e38,{}\n", i % 2));
    }
    fs::write(d.join("w.csv"), csv).unwrap();
    fails(
        d,
        "class weight times row weight overflows",
        &[
            "train",
            "--set",
            "data.source=csv",
            "--set",
            "data.path=w.csv",
            "--set",
            "data.label=y",
            "--set",
            "data.weight=w",
            "--set",
            "train.class_weight=[10, 1]",
            "--set",
            "train.batch_size=4",
            "--out",
            "run",
        ],
        &[
            "row 2: its weight in the loss is not a finite 32-bit float",
            "`w`",
        ],
    );
    assert!(!d.join("run").exists(), "a run folder was left");
}

#[test]
fn data_without_line_breaks_is_refused_at_the_line_limit_not_aborted() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // /dev/zero reports a size of 0, so only the line limit stops it.
    fails(
        d,
        "/dev/zero as data",
        &[
            "train",
            "--dry-run",
            "--set",
            "data.source=csv",
            "--set",
            "data.path=/dev/zero",
        ],
        &[
            "cannot read /dev/zero",
            "a line runs on for more than 64.0 MB without a line break",
        ],
    );
}

#[test]
fn a_failed_trial_is_listed_as_failed_and_fails_the_sweep() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // Trial 1's network is refused by `train` before its run folder exists.
    let text = format!(
        "{SMALL}\n[sweep]\nmetric = \"val_loss\"\n[sweep.grid]\n\"model.hidden\" = [[8], [100000000]]\n"
    );
    let cfg = write(d, "sweep.toml", &text);
    let out = burnfit(d)
        .args(["sweep", "--config", cfg.to_str().unwrap(), "--out", "sw"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: 1 of 2 trials failed: trial 1 (log sw/trial-0001.log)"),
        "{err}"
    );
    let ranking = stdout(&out);
    assert!(
        ranking.lines().any(|l| l.contains(" 1  failed")),
        "{ranking}"
    );
    assert!(
        d.join("sw/best.toml").is_file(),
        "the finished trial is still ranked"
    );
}

#[test]
fn an_edited_threshold_that_is_not_a_probability_is_refused() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    synth(d, 50, 4, 9, "fresh.csv");
    let path = d.join("run/model.json");
    let mut model: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    model["threshold"] = serde_json::json!(7.5);
    fs::write(&path, serde_json::to_vec(&model).unwrap()).unwrap();
    fails(
        d,
        "a threshold of 7.5 in model.json",
        &["evaluate", "--model", "run", "--data", "fresh.csv"],
        &["model.json: threshold 7.5 is not a probability"],
    );
}

#[test]
fn cv_with_a_test_file_says_its_metrics_are_on_the_test_file() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    synth(d, 300, 4, 2, "data.csv");
    synth(d, 100, 4, 5, "test.csv");
    let cfg = write(
        d,
        "csv.toml",
        "[data]\nsource = \"csv\"\npath = \"data.csv\"\ntest_path = \"test.csv\"\n[train]\nepochs = 2\nbatch_size = 32\n",
    );
    let out = burnfit(d)
        .args([
            "cv",
            "--config",
            cfg.to_str().unwrap(),
            "--folds",
            "2",
            "--out",
            "cv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cv: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("cv/cv.json")).unwrap()).unwrap();
    assert_eq!(
        cv["evaluated_on"], "the test file (data.test_path), by each fold's model",
        "{cv}"
    );
    let page = fs::read_to_string(d.join("cv/report.html")).unwrap();
    assert!(
        page.contains("Each fold's final model on the test file (data.test_path)"),
        "the page says where the metrics come from"
    );
}

/// Sends `signal` (by name, as `kill -s` takes it) to `child` once `ready` holds (at most 60 s),
/// then waits for it to end.
/// The built binary in `dir`, as a process to signal, its stderr piped.
fn spawn(dir: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("burnfit"));
    cmd.current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn signal_when(
    child: &mut std::process::Child,
    signal: &str,
    ready: impl Fn() -> bool,
) -> std::process::Output {
    let start = Instant::now();
    while !ready() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = StdCommand::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "one {signal} did not stop the command within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    std::process::Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    }
}

#[test]
fn resume_checks_every_file_of_the_run_before_reading_or_training() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    let run = d.join("run");
    // An interrupted run: no summary or status yet.
    fs::remove_file(run.join("summary.json")).unwrap();
    fs::remove_file(run.join("status.json")).unwrap();
    let victim = write(d, "victim.txt", "precious");
    let checkpoint = fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("epoch-"))
        .unwrap();
    let planted = [
        "history.csv".to_string(),
        "model.json".to_string(),
        "data.json".to_string(),
        "summary.json".to_string(),
        "emissions.csv".to_string(),
        format!("checkpoints/{checkpoint}/state.json"),
        "checkpoints/epoch-9999-step-000000".to_string(),
    ];
    for name in &planted {
        let p = run.join(name);
        let saved = d.join("saved");
        let existed = p.exists();
        if existed {
            fs::rename(&p, &saved).unwrap();
        }
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let started = Instant::now();
        let err = fails(
            d,
            &format!("resume with {name} a planted link"),
            &["train", "--resume", "run"],
            &[
                "symbolic link",
                name.rsplit('/').next().unwrap(),
                "Remove it",
            ],
        );
        // Refused at once, before the data is read or an epoch trained.
        assert!(!err.contains("data:") && !err.contains("resuming"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!run.join("status.json").exists(), "{name}: status written");
        fs::remove_file(&p).unwrap();
        if existed {
            fs::rename(&saved, &p).unwrap();
        }
    }
    // With every link gone it resumes and finishes.
    let out = burnfit(d)
        .args(["train", "--resume", "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A flex run never starts the GPU runtime, not even to load the optimizer's state.
    assert!(
        !stderr(&out).contains("XDG_RUNTIME_DIR"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_never_writes_into_another_run_folder() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "a"]);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "b"]);
    synth(d, 60, 4, 9, "fresh.csv");
    for out in ["b", "b/explain", "a"] {
        fails(
            d,
            &format!("explain --out {out}"),
            &[
                "explain",
                "--model",
                "a",
                "--data",
                "fresh.csv",
                "--out",
                out,
                "--force",
            ],
            &["lies in the run folder", "leave out --out"],
        );
    }
    assert!(!d.join("b/importance.csv").exists() && !d.join("b/explain").exists());
}

#[test]
fn one_stop_signal_stops_any_command_and_leaves_no_temporary() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // Writing a big file: the temporary is removed, the target never appears.
    let mut child = spawn(d)
        .args([
            "synth",
            "--rows",
            "50000000",
            "--features",
            "20",
            "--out",
            "big.csv",
        ])
        .spawn()
        .unwrap();
    let out = signal_when(&mut child, "TERM", || !temporaries(d).is_empty());
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped by signal 15"),
        "{}",
        stderr(&out)
    );
    assert!(temporaries(d).is_empty(), "{:?}", temporaries(d));
    assert!(!d.join("big.csv").exists());
    // A config read from a FIFO that no one writes: the read blocks, the signal still stops it.
    let fifo = d.join("config.fifo");
    if make_node("mkfifo", &fifo, &[], "stop during a blocked read") {
        let mut child = spawn(d)
            .args(["train", "--config", "config.fifo"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let out = signal_when(&mut child, "INT", || true);
        assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    }
    // Generating data for a run: stopped at once, and no run folder is left.
    let mut child = spawn(d)
        .args([
            "train",
            "--set",
            "data.synthetic.rows=5000000",
            "--out",
            "run",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let out = signal_when(&mut child, "TERM", || true);
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(!d.join("run").exists());
}

#[test]
fn text_cells_have_a_size_limit_and_errors_quote_only_their_start() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let long = "y".repeat(2_000_000);
    let mut text = String::from("a,b,label\nx,1,0\n");
    text.push_str(&format!("{long},2,1\n"));
    for i in 0..40 {
        text.push_str(&format!("x,{i},{}\n", i % 2));
    }
    write(d, "long.csv", &text);
    let err = fails(
        d,
        "a 2 MB category",
        &[
            "train",
            "--set",
            "data.path=long.csv",
            "--set",
            "data.label=label",
            "--set",
            "data.categorical=[\"a\"]",
        ],
        &["row 3", "column `a`", "longer than", "2.0 MB in all"],
    );
    assert!(
        err.len() < 2_000,
        "the error quotes the whole cell: {} bytes",
        err.len()
    );
}

#[test]
fn predict_keep_refuses_a_stream_it_would_have_to_read_twice() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    let fifo = d.join("rows.fifo");
    if !make_node("mkfifo", &fifo, &[], "predict --keep on a FIFO") {
        return;
    }
    fails(
        d,
        "predict --keep on a FIFO",
        &[
            "predict",
            "--model",
            "run",
            "--data",
            "rows.fifo",
            "--out",
            "p.csv",
            "--keep",
            "f0",
        ],
        &["--keep", "not a regular file", "save it to a file first"],
    );
}

#[test]
fn cv_errors_name_the_flag_the_user_typed_never_a_set_they_did_not() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // A numeric target cannot be stratified: the error names --stratify, not a --set.
    let cfg = write(
        d,
        "regression.toml",
        "seed = 7\n[data]\nsource = \"synthetic\"\n[data.synthetic]\nrows = 200\nfeatures = 5\ntask = \"regression\"\n[train]\nepochs = 1\nloss = \"mse\"\n",
    );
    let err = fails(
        d,
        "cv --stratify of a numeric target",
        &[
            "cv",
            "--config",
            cfg.to_str().unwrap(),
            "--folds",
            "2",
            "--stratify",
        ],
        &["--stratify:", "needs classes"],
    );
    assert!(!err.contains("--set"), "{err}");
}

#[test]
fn a_cv_continues_only_folds_of_its_own_config_in_real_folders() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    synth(d, 300, 4, 2, "data.csv");
    let text =
        "[data]\nsource = \"csv\"\npath = \"data.csv\"\n[train]\nepochs = 2\nbatch_size = 32\n";
    let cfg = write(d, "cv.toml", text);
    let cfg = cfg.to_str().unwrap();
    let cv = ["cv", "--config", cfg, "--folds", "3", "--out", "cv"];
    let out = burnfit(d).args(cv).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The parent killed before fold 3; a link to another run planted in its place.
    fs::remove_dir_all(d.join("cv/fold-3")).unwrap();
    fs::remove_file(d.join("cv/cv.json")).unwrap();
    let other = write(d, "other.toml", SMALL);
    train(
        d,
        &["--config", other.to_str().unwrap(), "--out", "elsewhere"],
    );
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("cv/fold-3")).unwrap();
    fails(
        d,
        "cv with a fold planted as a link",
        &cv,
        &["cv/fold-3 (fold 3/3) is a symbolic link", "remove it"],
    );
    // A real copy of another config's run in its place, or the config edited since: refused.
    fs::remove_file(d.join("cv/fold-3")).unwrap();
    let copied = StdCommand::new("cp")
        .args(["-a", "elsewhere", "cv/fold-3"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(copied.success());
    fails(
        d,
        "cv with another run copied in as a fold",
        &cv,
        &["fold 3/3) was trained with another config", "--out"],
    );
    fs::remove_dir_all(d.join("cv/fold-3")).unwrap();
    write(d, "cv.toml", &text.replace("epochs = 2", "epochs = 3"));
    fails(
        d,
        "cv after its config was edited",
        &cv,
        &["(fold 1/3, fold 2/3) were trained with another config"],
    );
    assert!(!d.join("cv/fold-3").exists() && !d.join("cv/cv.json").exists());
    // Put back, it continues.
    write(d, "cv.toml", text);
    let out = burnfit(d).args(cv).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.join("cv/cv.json").is_file());
}

#[test]
fn sizes_counts_and_values_past_what_the_program_can_use_are_refused_not_panicked_on() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    synth(d, 60, 4, 9, "fresh.csv");
    fails(
        d,
        "explain --repeats 2^64-1",
        &[
            "explain",
            "--model",
            "run",
            "--data",
            "fresh.csv",
            "--repeats",
            "18446744073709551615",
        ],
        &["--repeats must be between 1 and 1000"],
    );
    // Sparse files planted in a run folder: refused by their size, never read into memory.
    let sparse = |name: &str, size: u64| {
        let f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(d.join("run").join(name))
            .unwrap();
        f.set_len(size).unwrap();
    };
    let weights = fs::read(d.join("run/model.bpk")).unwrap();
    sparse("model.bpk", 10_000_000_000);
    fails(
        d,
        "a 10 GB model.bpk",
        &["evaluate", "--model", "run", "--data", "fresh.csv"],
        &["model.bpk", "more than"],
    );
    fs::write(d.join("run/model.bpk"), weights).unwrap();
    sparse("history.csv", 5_000_000_000);
    fails(
        d,
        "a 5 GB history.csv",
        &["report", "run"],
        &["history.csv", "more than"],
    );
    // A learning rate that is positive as f64 but 0 as f32: refused, before any run folder.
    let err = fails(
        d,
        "train.lr = 1e-320",
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--set",
            "train.lr=1e-320",
            "--out",
            "tiny",
        ],
        &["train.lr", "32-bit float"],
    );
    assert!(!err.contains("diverged"), "{err}");
    assert!(!d.join("tiny").exists());
    fails(
        d,
        "footprint.pue = 1e308",
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--set",
            "footprint.pue=1e308",
            "--dry-run",
        ],
        &["footprint.pue", "at most"],
    );
}

#[test]
fn a_job_array_index_that_is_no_index_is_an_error_not_the_whole_sweep() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = sweep_config(d);
    let out = burnfit(d)
        .env("SLURM_ARRAY_TASK_ID", "abc")
        .args(["sweep", "--config", &cfg, "--out", "sw"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SLURM_ARRAY_TASK_ID is `abc`, not a trial index"),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("sw/trial-0000").exists() && !d.join("sw/trial-0001").exists());
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_writer_in() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let long = SMALL
        .replace("epochs = 3", "epochs = 400")
        .replace("batch_size = 64", "batch_size = 8");
    let long = write(d, "long.toml", &long);
    let run = d.join("run");
    let mut first = start_train(
        d,
        &["--config", long.to_str().unwrap(), "--out", "run"],
        || run.join("config.toml").is_file(),
    );
    fs::remove_file(run.join(".burnfit.lock")).unwrap();
    let out = burnfit(d)
        .args(["train", "--resume", "run"])
        .output()
        .unwrap();
    let pid = first.id();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("being written by another burnfit process"),
        "{} (holder pid {pid})",
        stderr(&out)
    );
}

#[test]
fn a_sweep_is_ranked_and_continued_only_as_itself_from_any_folder() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = sweep_config(d);
    let out = burnfit(d)
        .args(["sweep", "--config", &cfg, "--out", "sw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Trial 1 lost (the parent killed before it), continued from another working folder.
    fs::remove_dir_all(d.join("sw/trial-0001")).unwrap();
    fs::create_dir(d.join("elsewhere")).unwrap();
    let out = burnfit(&d.join("elsewhere"))
        .args(["sweep", "--config", &cfg, "--out", "../sw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A link to another run planted as trial 1: collecting refuses to rank it.
    let other = write(d, "other.toml", SMALL);
    train(d, &["--config", other.to_str().unwrap(), "--out", "run"]);
    fs::remove_dir_all(d.join("sw/trial-0001")).unwrap();
    std::os::unix::fs::symlink(d.join("run"), d.join("sw/trial-0001")).unwrap();
    fails(
        d,
        "collect with a planted trial",
        &["sweep", "--collect", "sw"],
        &["trial-0001 (trial 1) is a symbolic link"],
    );
    fs::remove_file(d.join("sw/trial-0001")).unwrap();
    let copied = StdCommand::new("cp")
        .args(["-a", "run", "sw/trial-0001"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(copied.success());
    fails(
        d,
        "collect with another run copied in",
        &["sweep", "--collect", "sw"],
        &[
            "cannot rank the sweep",
            "(trial 1) was trained with another config",
        ],
    );
}

#[test]
fn a_run_folder_moved_or_deleted_while_it_trains_stops_its_writer() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let long = SMALL
        .replace("epochs = 3", "epochs = 400")
        .replace("batch_size = 64", "batch_size = 8");
    let long = write(d, "long.toml", &long);
    let run = d.join("run");
    let mut child = spawn(d)
        .args(["train", "--config", long.to_str().unwrap(), "--out", "run"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !run
        .join("checkpoints")
        .read_dir()
        .is_ok_and(|mut e| e.next().is_some())
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no checkpoint came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    fs::rename(&run, d.join("moved")).unwrap();
    // Another folder now holds the name: the first writer must not write into it.
    fs::create_dir(&run).unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writer went on"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Stopped by the check before a write, or (when the move came in the middle of one) by
    // the write itself failing: either way with an error, and nothing in the new folder.
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("was moved, deleted or replaced") || err.contains("No such file"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(&run).unwrap().count(),
        0,
        "it wrote into the new folder"
    );
}
