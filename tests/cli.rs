//! End-to-end tests: each runs the built `burnfit` binary in a fresh temporary folder and checks
//! its exit code, stdout, stderr and the files it leaves.

mod common;

use std::fs;

use common::*;
use tempfile::TempDir;

#[test]
fn trains_a_small_synthetic_set_then_evaluates_and_predicts_from_the_run_folder() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    let out = train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("Loss: ") && text.contains("Accuracy: "),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("epoch 3/3 - ") && err.contains("val_accuracy"),
        "{err}"
    );
    assert!(
        err.contains("Total params: "),
        "a model summary at start: {err}"
    );
    let run = tmp.path().join("run");
    for f in [
        "config.toml",
        "model.json",
        "preprocess.json",
        "model.bpk",
        "history.csv",
        "summary.json",
        "curves.svg",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let history = fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "{history}");
    assert!(
        history.starts_with("epoch,lr,loss,accuracy,val_loss,val_accuracy,val_auc"),
        "{history}"
    );
    let summary = summary_at(&run.join("summary.json"));
    assert_eq!(summary["epochs_run"], 3);
    assert_eq!(summary["parameters"], 10 * 128 + 128 + 128 * 64 + 64 + 65);
    let acc = summary["evaluation"]["accuracy"].as_f64().unwrap();
    assert!(
        acc > 0.8,
        "a learnable set should reach 0.8 in 3 epochs, got {acc}"
    );

    // The same generator writes a CSV; evaluate and predict read it through the saved schema.
    synth(tmp.path(), 300, 4, 7, "new.csv");
    let v = evaluate_json(tmp.path(), "run", "new.csv", "flex");
    assert_eq!(v["rows"], 300);
    assert!(v["metrics"]["accuracy"].as_f64().unwrap() > 0.7, "{v}");
    let pred = burnfit(tmp.path())
        .args([
            "predict",
            "--model",
            "run",
            "--data",
            "new.csv",
            "--out",
            "preds.csv",
        ])
        .output()
        .unwrap();
    assert!(pred.status.success(), "{}", stderr(&pred));
    let preds = fs::read_to_string(tmp.path().join("preds.csv")).unwrap();
    let lines: Vec<&str> = preds.lines().collect();
    assert_eq!(lines[0], "row,probability,class");
    assert_eq!(lines.len(), 301);
    assert!(
        lines[1].starts_with("1,"),
        "rows are data rows, counted from 1: {}",
        lines[1]
    );
}

#[test]
fn trains_on_a_real_csv_with_string_labels_and_predicts_without_the_label() {
    let tmp = TempDir::new().unwrap();
    let cfg = format!(
        r#"
seed = 3
[data]
source = "csv"
path = "{}"
label = "Private"
positive = "Yes"
normalize = "zscore"
[data.split]
shuffle = true
[train]
epochs = 15
batch_size = 32
"#,
        data("college.csv").display()
    );
    let cfg = write(tmp.path(), "college.toml", &cfg);
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    let summary = summary_at(&tmp.path().join("run/summary.json"));
    let acc = summary["evaluation"]["accuracy"].as_f64().unwrap();
    assert!(
        acc > 0.85,
        "college Private is easy from its 17 features; got {acc}"
    );

    // Predict on the features alone: drop the label column.
    let csv = fs::read_to_string(data("college.csv")).unwrap();
    let unlabelled: String = csv
        .lines()
        .map(|l| l.split_once(',').unwrap().1)
        .collect::<Vec<_>>()
        .join("\n");
    write(tmp.path(), "features.csv", &unlabelled);
    let pred = burnfit(tmp.path())
        .args([
            "predict",
            "--model",
            "run",
            "--data",
            "features.csv",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    assert!(pred.status.success(), "{}", stderr(&pred));
    assert_eq!(stdout(&pred).lines().count(), 778);

    // A file without a trained column is refused with its name.
    let missing: String = csv
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0)
        .collect::<Vec<_>>()
        .join("\n");
    write(tmp.path(), "short.csv", &missing);
    let pred = burnfit(tmp.path())
        .args([
            "predict",
            "--model",
            "run",
            "--data",
            "short.csv",
            "--out",
            "p.csv",
        ])
        .output()
        .unwrap();
    assert!(!pred.status.success());
    assert!(stderr(&pred).contains("`Grad.Rate`"), "{}", stderr(&pred));
}

#[test]
fn real_csv_with_categoricals_and_missing_values_trains_with_mean_fill() {
    let tmp = TempDir::new().unwrap();
    let cfg = format!(
        r#"
[data]
source = "csv"
path = "{}"
label = "status"
exclude = ["time"]
categorical = ["sex", "diagnosis", "loc", "stereo"]
missing = "mean"
normalize = "minmax"
[data.split]
stratify = true
[train]
epochs = 5
batch_size = 8
"#,
        data("braincancer.csv").display()
    );
    let cfg = write(tmp.path(), "brain.toml", &cfg);
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    let model: serde_json::Value =
        serde_json::from_slice(&fs::read(tmp.path().join("run/model.json")).unwrap()).unwrap();
    let inputs: Vec<String> = serde_json::from_value(model["inputs"].clone()).unwrap();
    assert!(
        inputs.contains(&"sex=Female".to_string()) && inputs.contains(&"ki".to_string()),
        "{inputs:?}"
    );
}

#[test]
fn regression_with_mse_reports_regression_metrics() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(
        tmp.path(),
        "reg.toml",
        &SMALL
            .replace(
                "[data.synthetic]",
                "[data.synthetic]\ntask = \"regression\"",
            )
            .replace("[train]", "[train]\nloss = \"mse\""),
    );
    let out = train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    assert!(stdout(&out).contains("Rmse: "), "{}", stdout(&out));
    let history = fs::read_to_string(tmp.path().join("run/history.csv")).unwrap();
    assert!(
        history.starts_with("epoch,lr,loss,rmse,val_loss,val_rmse,val_mae,val_r2"),
        "{history}"
    );
}

#[test]
fn set_overrides_change_the_run() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    train(
        tmp.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "run",
            "--set",
            "train.epochs=2",
            "--set",
            "train.optimizer=sgd",
        ],
    );
    let history = fs::read_to_string(tmp.path().join("run/history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3);
    let resolved = fs::read_to_string(tmp.path().join("run/config.toml")).unwrap();
    assert!(resolved.contains("optimizer = \"sgd\""), "{resolved}");
}

#[test]
fn config_output_round_trips() {
    let tmp = TempDir::new().unwrap();
    let first = burnfit(tmp.path())
        .args([
            "config",
            "--set",
            "train.epochs=3",
            "--set",
            "data.source=csv",
            "--set",
            "data.path=data.csv",
            "--set",
            "data.label=target",
        ])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = stdout(&first);
    assert!(
        printed.contains("epochs = 3") && printed.contains("label = \"target\""),
        "{printed}"
    );
    assert!(
        printed.contains("epsilon = 0.0000001"),
        "defaults are printed: {printed}"
    );
    let path = write(tmp.path(), "resolved.toml", &printed);
    let second = burnfit(tmp.path())
        .args(["config", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second), printed);
}

#[test]
fn bad_configs_exit_non_zero_naming_the_key_without_panicking() {
    let tmp = TempDir::new().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[train]\nepochs = 3\nlearning_rate = 0.1\n",
            "unknown field `learning_rate`",
            &["train", "line 3"],
        ),
        ("[train]\nepochs = \"ten\"\n", "train.epochs", &["line 2"]),
        (
            "[train]\nlr = -0.5\n",
            "train.lr",
            &["must be a number > 0", "line 2"],
        ),
        ("[train]\nepochs = 0\n", "train.epochs", &["line 2"]),
        (
            "[data.split]\ntrain = 1.5\n",
            "data.split.train",
            &["strictly between 0 and 1"],
        ),
        (
            "[backend]\nkind = \"tpu\"\n",
            "backend.kind",
            &["unknown variant"],
        ),
    ];
    for (text, key, more) in cases {
        let cfg = write(tmp.path(), "bad.toml", text);
        let out = burnfit(tmp.path())
            .args(["train", "--config", cfg.to_str().unwrap(), "--out", "run"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{text}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("bad.toml"),
            "{text}: {err}"
        );
        assert!(err.contains(key), "{text}: expected `{key}` in {err}");
        for m in *more {
            assert!(err.contains(m), "{text}: expected `{m}` in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !tmp.path().join("run").exists(),
            "no run folder for a bad config"
        );
    }
    // The same checks apply to --set.
    let out = burnfit(tmp.path())
        .args(["train", "--set", "train.lr=-1", "--out", "run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--set train.lr=-1") && stderr(&out).contains("train.lr"),
        "{}",
        stderr(&out)
    );
    // A label column the CSV does not have.
    let cfg = write(
        tmp.path(),
        "nolabel.toml",
        &format!(
            "[data]\nsource = \"csv\"\npath = \"{}\"\nlabel = \"Outcome\"\n",
            data("college.csv").display()
        ),
    );
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap(), "--out", "run2"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("no column `Outcome`")
            && err.contains("data.label")
            && err.contains("college.csv"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn same_seed_and_config_give_identical_history_twice() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    for run in ["a", "b"] {
        train(
            tmp.path(),
            &["--config", cfg.to_str().unwrap(), "--out", run],
        );
    }
    let a = fs::read(tmp.path().join("a/history.csv")).unwrap();
    let b = fs::read(tmp.path().join("b/history.csv")).unwrap();
    assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
    assert_eq!(
        fs::read(tmp.path().join("a/model.bpk")).unwrap(),
        fs::read(tmp.path().join("b/model.bpk")).unwrap()
    );
}

#[test]
fn resume_from_a_checkpoint_reaches_the_uninterrupted_final_state() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(
        tmp.path(),
        "small.toml",
        &SMALL.replace("epochs = 3", "epochs = 4"),
    );
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "full"],
    );
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "cut"],
    );
    // Make "cut" look like a run that died during epoch 4: its newest checkpoint and final files
    // are gone; the epoch-3 checkpoint remains.
    let ckpts = tmp.path().join("cut/checkpoints");
    let mut dirs: Vec<_> = fs::read_dir(&ckpts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("epoch-")
        })
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    fs::remove_dir_all(dirs.last().unwrap()).unwrap();
    for f in ["model.bpk", "history.csv", "summary.json"] {
        fs::remove_file(tmp.path().join("cut").join(f)).unwrap();
    }
    let out = train(tmp.path(), &["--resume", "cut"]);
    assert!(
        stderr(&out).contains("resuming from") && stderr(&out).contains("epoch 3"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("full/history.csv")).unwrap(),
        fs::read_to_string(tmp.path().join("cut/history.csv")).unwrap()
    );
    assert_eq!(
        fs::read(tmp.path().join("full/model.bpk")).unwrap(),
        fs::read(tmp.path().join("cut/model.bpk")).unwrap()
    );
}

#[test]
fn an_existing_run_folder_is_never_overwritten() {
    let tmp = TempDir::new().unwrap();
    fs::create_dir(tmp.path().join("run")).unwrap();
    fs::write(tmp.path().join("run/keep.txt"), "mine").unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap(), "--out", "run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(tmp.path().join("run/keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn unknown_or_absent_backends_are_clear_errors() {
    let tmp = TempDir::new().unwrap();
    let out = burnfit(tmp.path())
        .args(["train", "--set", "backend.kind=cuda", "--out", "run"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("`cuda` is not compiled into this build") && err.contains("flex"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn devices_lists_the_compiled_backends() {
    let tmp = TempDir::new().unwrap();
    let out = burnfit(tmp.path()).arg("devices").output().unwrap();
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("backends compiled in: flex, ndarray"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn inspect_describes_each_column_as_training_reads_it() {
    let tmp = TempDir::new().unwrap();
    write(tmp.path(), "d.csv", "a,b,kind\n1,,x\n3,4,y\nNA,8,x\n");
    let out = burnfit(tmp.path())
        .args(["inspect", "--data", "d.csv", "--categorical", "kind"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "column,kind,missing,min,mean,max,levels,suggest\n\
         a,numeric,1,1,2,3,,\n\
         b,numeric,1,4,6,8,,\n\
         kind,text,0,,,,2,\"categorical = [\"\"kind\"\"]\"\n"
    );
    assert!(
        stderr(&out).contains("3 rows x 3 columns"),
        "{}",
        stderr(&out)
    );
    // Without --categorical the text column is found, and the line to add is shown.
    let out = burnfit(tmp.path())
        .args(["inspect", "--data", "d.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\nkind,text,0,"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("`categorical = [\"kind\"]` under [data]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dry_run_checks_everything_and_writes_nothing() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap(), "--out", "run"])
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Total params"), "{}", stderr(&out));
    assert!(stderr(&out).contains("dry run"), "{}", stderr(&out));
    assert!(!tmp.path().join("run").exists());
}

#[test]
fn a_run_reports_its_footprint_in_the_log_summary_and_emissions_csv() {
    let tmp = TempDir::new().unwrap();
    let cfg = write(
        tmp.path(),
        "small.toml",
        &format!("{SMALL}\n[footprint]\ngrid_gco2_per_kwh = 100.0\npue = 1.5\nprice_per_kwh = 0.3\ncurrency = \"EUR\"\n"),
    );
    let out = train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    let log = stderr(&out);
    assert!(
        log.contains("footprint:") && log.contains("gCO2e (grid 100 g/kWh, PUE 1.5)"),
        "{log}"
    );
    let summary = summary_at(&tmp.path().join("run/summary.json"));
    let f = &summary["footprint"];
    // 10-128-64-1: 2·10·128 + 128 + 2·128·64 + 64 + 2·64 + 1.
    assert_eq!(
        f["flops_per_sample_forward"],
        2_560 + 128 + 16_384 + 64 + 128 + 1
    );
    assert_eq!(
        f["parameters"],
        (10 * 128 + 128) + (128 * 64 + 64) + (64 + 1)
    );
    let kwh = f["energy_kwh"].as_f64().unwrap();
    assert!(kwh > 0.0);
    assert!((f["co2e_grams"].as_f64().unwrap() - kwh * 1.5 * 100.0).abs() < 1e-9);
    assert!((f["cost"].as_f64().unwrap() - kwh * 0.3).abs() < 1e-12);
    let method = f["energy_method"].as_str().unwrap();
    assert!(
        method.starts_with("measured") || method.starts_with("estimated"),
        "{method}"
    );
    let csv = fs::read_to_string(tmp.path().join("run/emissions.csv")).unwrap();
    assert!(
        csv.starts_with("timestamp,project_name,run_id,duration,emissions,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2);
}

#[test]
fn explain_ranks_the_informative_features_above_the_noise() {
    let tmp = TempDir::new().unwrap();
    // f0..f2 carry the signal, f3..f9 are pure noise (the generator's documented layout).
    let text = SMALL
        .replace("rows = 2000", "rows = 6000")
        .replace("informative = 4", "informative = 3")
        .replace("epochs = 3", "epochs = 6");
    let cfg = write(tmp.path(), "small.toml", &text);
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    // Fresh rows from the same generator (same seed: same clusters), not the training rows.
    synth(tmp.path(), 3000, 3, 7, "held_out.csv");
    let out = burnfit(tmp.path())
        .args([
            "explain",
            "--model",
            "run",
            "--data",
            "held_out.csv",
            "--repeats",
            "3",
        ])
        .args(["--rows", "2,3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.contains("accuracy on 3000 rows"), "{printed}");
    assert!(printed.contains("row 2: gradient x input"), "{printed}");
    let csv = fs::read_to_string(tmp.path().join("run/explain/importance.csv")).unwrap();
    let ranked: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mut top3 = ranked[..3].to_vec();
    top3.sort();
    assert_eq!(top3, ["f0", "f1", "f2"], "{csv}");
    assert!(tmp.path().join("run/explain/importance.svg").exists());
    let attr = fs::read_to_string(tmp.path().join("run/explain/attributions.csv")).unwrap();
    assert!(attr.starts_with("row,f0,f1,"), "{attr}");
    assert_eq!(attr.lines().count(), 3);
}
