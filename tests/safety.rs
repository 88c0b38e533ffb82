//! A user's files and the machine are safe from any command: outputs never replace a file
//! unless asked (and never an input or a run's file), big plans are refused with their numbers
//! before anything is allocated, a failed start leaves nothing behind, and `--resume` refuses
//! changed data and leaves a finished run alone. `docs/RELIABILITY.md` lists these cases.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use tempfile::TempDir;

/// Names of the temporary files (`.NAME.PID.tmp`) in `dir`.
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
