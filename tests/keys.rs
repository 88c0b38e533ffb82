//! What the user wrote is what runs: every key acts or is reported, contradictions are errors,
//! labels are never guessed, undefined metrics are said to be undefined, and every message
//! names the value, key, file, row or column at fault. `docs/RELIABILITY.md` lists the cases.

mod common;

use std::fs;

use common::*;
use tempfile::TempDir;

/// A CSV config over `data.csv` (label `y`) with `extra` lines in `[data]`, 2 epochs.
fn csv_cfg(dir: &std::path::Path, extra: &str) -> String {
    let text = format!("[data]\nsource = \"csv\"\npath = \"data.csv\"\nlabel = \"y\"\n{extra}\n[train]\nepochs = 2\nbatch_size = 8\n");
    write(dir, "cfg.toml", &text).to_str().unwrap().to_string()
}

/// A CSV of `rows` rows: features `a`, `b` and label `y` from `label(i)`.
fn csv(dir: &std::path::Path, rows: usize, label: impl Fn(usize) -> String) {
    let mut s = String::from("a,b,y\n");
    for i in 0..rows {
        s.push_str(&format!("{},{},{}\n", i % 7, (i * 3) % 5, label(i)));
    }
    fs::write(dir.join("data.csv"), s).unwrap();
}

#[test]
fn keys_that_cannot_act_are_warned_of_recorded_and_left_out_of_the_resolved_config() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(
        d,
        "small.toml",
        &SMALL.replace("[train]", "[train]\nmomentum = 0.5\nlr_gamma = 0.5"),
    );
    let set = [
        "--set",
        "backend.device=banana",
        "--set",
        "data.fill_value=3",
    ];
    let out = train(
        d,
        &[
            &["--config", cfg.to_str().unwrap(), "--out", "run"][..],
            &set,
        ]
        .concat(),
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning: 4 keys in the config cannot act"),
        "{err}"
    );
    for key in [
        "train.momentum",
        "train.lr_gamma",
        "backend.device",
        "data.fill_value",
    ] {
        assert!(
            err.contains(&format!("{key}: has no effect")),
            "{key}: {err}"
        );
    }
    let summary = summary(d, "run");
    assert_eq!(
        summary["warnings"].as_array().unwrap().len(),
        4,
        "{summary}"
    );
    let resolved = fs::read_to_string(d.join("run/config.toml")).unwrap();
    for key in [
        "momentum",
        "lr_gamma",
        "device",
        "fill_value",
        "lr_min",
        "label =",
    ] {
        assert!(
            !resolved.contains(key),
            "`{key}` in the resolved config:\n{resolved}"
        );
    }
    // With strict = true the same keys stop the run before anything is written.
    let strict = [
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "strict",
        ][..],
        &["--set", "strict=true"],
    ]
    .concat();
    fails(d, "strict", &strict, &["strict = true", "train.momentum"]);
    assert!(!d.join("strict").exists());
}

#[test]
fn contradictions_and_keys_of_the_other_source_are_errors_before_loading() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    csv(d, 40, |i| (i % 2).to_string());
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "features and exclude",
            "features = [\"a\", \"b\"]\nexclude = [\"a\"]",
            &["data.exclude", "use one", "cfg.toml (line 6, column 1)"],
        ),
        (
            "a feature twice",
            "features = [\"a\", \"a\"]",
            &["data.features", "`a` twice"],
        ),
        ("empty path", "", &[]),
    ];
    for (case, extra, expect) in &cases[..2] {
        fails(
            d,
            case,
            &["train", "--dry-run", "--config", &csv_cfg(d, extra)],
            expect,
        );
    }
    let synthetic = write(
        d,
        "syn.toml",
        &SMALL.replace("[data]", "[data]\nfeatures = [\"f0\"]"),
    );
    fails(
        d,
        "csv keys with synthetic",
        &[
            "train",
            "--dry-run",
            "--config",
            synthetic.to_str().unwrap(),
        ],
        &["data.features", "other data source", "synthetic"],
    );
    let cosine = write(
        d,
        "cos.toml",
        &SMALL.replace("[train]", "[train]\nlr_schedule = \"cosine\"\nlr_min = 1.0"),
    );
    fails(
        d,
        "lr_min above lr",
        &["train", "--dry-run", "--config", cosine.to_str().unwrap()],
        &["train.lr_min", "1", "0.001"],
    );
    // Switching the source with --set over the seed config leaves its [data.synthetic]
    // inert, and the user wrote none of the seed's keys: no error, and no word about them.
    let out = burnfit(d)
        .args([
            "config",
            "--set",
            "data.source=csv",
            "--set",
            "data.path=data.csv",
            "--set",
            "data.label=y",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("data.synthetic"), "{}", stderr(&out));
    // A key for the other source given with --set over the seed config is meant: an error.
    fails(
        d,
        "--set data.features over the seed",
        &["config", "--set", "data.features=[\"f0\"]"],
        &["--set data.features", "other data source"],
    );
    // An error through --set names the --set, not the file.
    fails(
        d,
        "--set data.label=",
        &[
            "train",
            "--dry-run",
            "--config",
            &csv_cfg(d, ""),
            "--set",
            "data.label=",
        ],
        &["--set data.label=", "data.label"],
    );
}

#[test]
fn a_time_budget_needs_no_early_stopping() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(
        d,
        "t.toml",
        &SMALL.replace("epochs = 3", "epochs = 3\nmax_time = 0.000001"),
    );
    let out = train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    assert!(
        stderr(&out).contains("time budget reached after epoch 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(summary(d, "run")["stopped"], "time_budget");
    assert_eq!(summary(d, "run")["epochs_run"], 1);
}

#[test]
fn labels_are_never_guessed() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    for (case, label, expect) in [
        ("all 0", "0", "one value, `0`, in all 40"),
        ("all Yes", "Yes", "one value, `Yes`, in all 40"),
        ("all No", "No", "one value, `No`, in all 40"),
    ] {
        csv(d, 40, |_| label.to_string());
        fails(
            d,
            case,
            &["train", "--dry-run", "--config", &csv_cfg(d, "")],
            &[expect, "both classes"],
        );
    }
    // {1, 2}: which one is class 1 is the user's to say.
    csv(d, 40, |i| (1 + i % 2).to_string());
    fails(
        d,
        "labels 1 and 2",
        &["train", "--dry-run", "--config", &csv_cfg(d, "")],
        &["`1` and `2`", "data.positive"],
    );
    let out = burnfit(d)
        .args([
            "train",
            "--dry-run",
            "--config",
            &csv_cfg(d, "positive = \"2\""),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A training split with one class, though the file has two (an ordered split of a file
    // sorted by its label): the counts, and the fix.
    csv(d, 40, |i| u8::from(i >= 36).to_string());
    fails(
        d,
        "one class in the training split",
        &[
            "train",
            "--dry-run",
            "--config",
            &csv_cfg(d, "[data.split]\nshuffle = false"),
        ],
        &[
            "training split has 0 rows of class 1",
            "32 of class 0",
            "stratify",
        ],
    );
}

#[test]
fn undefined_metrics_are_reported_as_undefined() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    csv(d, 80, |i| (i % 2).to_string());
    train(d, &["--config", &csv_cfg(d, ""), "--out", "run"]);
    // Evaluated on a file of one class: AUC and recall or precision have nothing to rank or
    // count.
    let mut s = String::from("a,b,y\n");
    for i in 0..20 {
        s.push_str(&format!("{},{},0\n", i % 7, i % 5));
    }
    fs::write(d.join("zeros.csv"), s).unwrap();
    let json = evaluate_json(d, "run", "zeros.csv", "flex");
    assert!(json["metrics"]["auc"].is_null(), "{json}");
    assert!(json["metrics"]["recall"].is_null(), "{json}");
    let out = burnfit(d)
        .args(["evaluate", "--model", "run", "--data", "zeros.csv"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("auc: n/a") && err.contains("undefined on zeros.csv"),
        "{err}"
    );
    // Predict never reads the label column: values training never saw are no error.
    let mut s = String::from("a,b,y\n");
    for i in 0..5 {
        s.push_str(&format!("{},{},maybe\n", i, i));
    }
    fs::write(d.join("new.csv"), s).unwrap();
    let out = burnfit(d)
        .args([
            "predict", "--model", "run", "--data", "new.csv", "--out", "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 6);
}

#[test]
fn messages_say_what_is_wrong_in_the_users_terms() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = csv_cfg(d, "");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "1e40",
            "a,b,y\n1,1e40,0\n2,2,1\n".into(),
            vec!["row 2, column `b`", "`1e40`", "32-bit float"],
        ),
        (
            "semicolons",
            "a;b;y\n1;2;0\n".into(),
            vec!["separated by semicolons", "comma-separated"],
        ),
        (
            "tabs",
            "a\tb\ty\n1\t2\t0\n".into(),
            vec!["separated by tabs"],
        ),
        (
            "blank header",
            "a,,y\n1,2,0\n".into(),
            vec!["column 2 of the header has no name"],
        ),
        (
            "unterminated quote",
            "a,b,y\n1,2,0\n1,\"2,0\n3,4,1\n5,6,0\n".into(),
            vec!["row 3", "field 2 opens a quote", "next 3 lines", "closing"],
        ),
    ];
    for (case, text, expect) in cases {
        fs::write(d.join("data.csv"), text).unwrap();
        fails(d, case, &["train", "--dry-run", "--config", &cfg], &expect);
    }
    fs::remove_file(d.join("data.csv")).unwrap();
    fs::create_dir(d.join("data.csv")).unwrap();
    fails(
        d,
        "a folder as data.path",
        &["train", "--dry-run", "--config", &cfg],
        &["data.csv", "is a folder"],
    );
    let empty = write(d, "empty.toml", "[data]\nsource = \"csv\"\npath = \"\"\n");
    fails(
        d,
        "path = \"\"",
        &["train", "--dry-run", "--config", empty.to_str().unwrap()],
        &["data.path", "is empty"],
    );
    let seed = write(d, "seed.toml", "seed = 18446744073709551615\n");
    fails(
        d,
        "u64 seed",
        &["config", "--config", seed.to_str().unwrap()],
        &["key `seed`", "9223372036854775807"],
    );
    fails(
        d,
        "evaluate --backend tpu",
        &[
            "evaluate",
            "--model",
            "nowhere",
            "--data",
            "x.csv",
            "--backend",
            "tpu",
        ],
        &["run folder nowhere does not exist"],
    );
}

#[test]
fn relative_paths_in_a_config_are_relative_to_the_file() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fs::create_dir(d.join("sub")).unwrap();
    write(
        &d.join("sub"),
        "small.toml",
        &format!("{SMALL}\n[output]\ndir = \"out\"\n"),
    );
    train(d, &["--config", "sub/small.toml"]);
    let runs: Vec<_> = fs::read_dir(d.join("sub/out")).unwrap().collect();
    assert_eq!(runs.len(), 1, "the run folder is under sub/out");
    assert!(!d.join("out").exists());
}

#[test]
fn evaluate_names_the_backend_flag_it_was_given() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    synth(d, 30, 4, 5, "x.csv");
    fails(
        d,
        "evaluate --backend tpu",
        &[
            "evaluate",
            "--model",
            "run",
            "--data",
            "x.csv",
            "--backend",
            "tpu",
        ],
        &["--backend tpu: not a backend", "flex"],
    );
}
