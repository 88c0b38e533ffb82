//! k-class targets (a softmax over the classes) through every command: train, evaluate,
//! predict, explain, cv and sweep, on a real table (Carseats' `ShelveLoc`: Bad, Medium, Good),
//! and the mistakes a user can make with them. Exports are checked in `export.rs`, the report
//! in a browser in `report.rs`.

mod common;

use std::fs;
use std::path::Path;

use common::{burnfit, data, fails, stderr, stdout, summary, train, write};
use serde_json::Value;
use tempfile::TempDir;

/// Carseats with `ShelveLoc` as the label, a held-out file (its last 100 rows) as validation,
/// `epochs` epochs and `extra` lines in `[train]`.
fn setup(dir: &Path, epochs: usize, extra: &str) {
    let text = fs::read_to_string(data("carseats.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    let cut = rows.len() - 100;
    write(
        dir,
        "train.csv",
        &format!("{header}\n{}\n", rows[..cut].join("\n")),
    );
    write(
        dir,
        "valid.csv",
        &format!("{header}\n{}\n", rows[cut..].join("\n")),
    );
    write(
        dir,
        "shelf.toml",
        &format!(
            "seed = 5\n[data]\npath = \"train.csv\"\nvalidation_path = \"valid.csv\"\nlabel = \"ShelveLoc\"\ncategorical = [\"Urban\", \"US\"]\nnormalize = \"zscore\"\n[train]\nloss = \"cross_entropy\"\nepochs = {epochs}\nbatch_size = 16\n{extra}"
        ),
    );
}

/// The rows of each class in split `split` of a run's summary.
fn class_counts(s: &Value, split: &str) -> Vec<u64> {
    let splits = s["splits"].as_array().unwrap();
    let p = splits
        .iter()
        .find(|p| p["name"] == split)
        .unwrap_or_else(|| panic!("no split {split} in {s}"));
    p["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn metric(s: &Value, section: &str, name: &str) -> f64 {
    s[section][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{section}.{name} in {s}"))
}

#[test]
fn a_three_class_label_trains_evaluates_predicts_and_explains() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, 30, "");
    let out = train(dir, &["--config", "shelf.toml", "--out", "run"]);
    let log = format!("{}{}", stdout(&out), stderr(&out));
    assert!(log.contains("(Dense, softmax)"), "{log}");
    assert!(log.contains("val_macro_f1"), "{log}");
    let s = summary(dir, "run");
    // Every k-class metric, each a number in range; the model learnt something (a constant
    // guess of the largest class scores about 0.55 here).
    for m in [
        "loss",
        "accuracy",
        "top2_accuracy",
        "macro_f1",
        "weighted_f1",
        "macro_precision",
        "macro_recall",
        "auc",
        "brier",
    ] {
        let v = metric(&s, "evaluation", m);
        assert!(v.is_finite() && v >= 0.0, "{m} = {v}");
    }
    assert!(metric(&s, "evaluation", "accuracy") > 0.6, "{s}");
    assert!(metric(&s, "evaluation", "top2_accuracy") >= metric(&s, "evaluation", "accuracy"));
    assert!(metric(&s, "evaluation", "auc") > 0.75, "{s}");
    // The class order is fixed (text in byte order) and stored with the model.
    let model: Value =
        serde_json::from_slice(&fs::read(dir.join("run/model.json")).unwrap()).unwrap();
    assert_eq!(
        model["classes"],
        serde_json::json!(["Bad", "Good", "Medium"])
    );
    assert_eq!(model["network"]["output"], 3);
    let pre = fs::read_to_string(dir.join("run/preprocess.json")).unwrap();
    assert!(pre.contains("\"classes\""), "{pre}");
    // Each split's rows of each class.
    let counts = class_counts(&s, "validation");
    assert_eq!(counts.len(), 3);
    assert_eq!(counts.iter().sum::<u64>(), 100);

    // evaluate on the validation file gives the run's own figures.
    let e = burnfit(dir)
        .args([
            "evaluate",
            "--model",
            "run",
            "--data",
            "valid.csv",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", stderr(&e));
    let e: Value = serde_json::from_slice(&e.stdout).unwrap();
    for m in ["loss", "accuracy", "macro_f1", "auc", "brier"] {
        let (got, want) = (metric(&e, "metrics", m), metric(&s, "evaluation", m));
        assert!(
            (got - want).abs() < 1e-6,
            "{m}: evaluate {got}, train {want}"
        );
    }

    // predict: the class of the largest probability and one probability column per class.
    let p = burnfit(dir)
        .args([
            "predict",
            "--model",
            "run",
            "--data",
            "valid.csv",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    let text = stdout(&p);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "row,class,probability_Bad,probability_Good,probability_Medium"
    );
    let names = ["Bad", "Good", "Medium"];
    let truth: Vec<String> = fs::read_to_string(dir.join("valid.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap().to_string())
        .collect();
    let mut right = 0;
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let probs: Vec<f64> = cells[2..].iter().map(|c| c.parse().unwrap()).collect();
        assert!(
            (probs.iter().sum::<f64>() - 1.0).abs() < 1e-5,
            "row {i}: {line}"
        );
        let best = (0..3).fold(0, |b, j| if probs[j] > probs[b] { j } else { b });
        assert_eq!(cells[1], names[best], "row {i}: {line}");
        right += usize::from(cells[1] == truth[i]);
    }
    let accuracy = right as f64 / truth.len() as f64;
    assert!(
        (accuracy - metric(&s, "evaluation", "accuracy")).abs() < 1e-9,
        "predict's classes give {accuracy}"
    );

    // A class the model never saw is an error naming the row.
    let odd =
        fs::read_to_string(dir.join("valid.csv"))
            .unwrap()
            .replacen(",Bad,", ",Excellent,", 1);
    write(dir, "odd.csv", &odd);
    fails(
        dir,
        "unseen class",
        &["evaluate", "--model", "run", "--data", "odd.csv"],
        &["odd.csv", "row", "`Excellent`", "`Bad`, `Good`, `Medium`"],
    );

    // explain: importance on the k-class accuracy, gradient × input of the predicted class.
    let x = burnfit(dir)
        .args([
            "explain",
            "--model",
            "run",
            "--data",
            "valid.csv",
            "--rows",
            "2,3",
        ])
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", stderr(&x));
    let imp = fs::read_to_string(dir.join("run/explain/importance.csv")).unwrap();
    // One row per source column (the label aside), each with a number.
    assert_eq!(imp.lines().count(), 1 + 10, "{imp}");
    assert!(imp
        .lines()
        .skip(1)
        .all(|l| l.split(',').nth(1).unwrap().parse::<f64>().is_ok()));
    let attributions = fs::read_to_string(dir.join("run/explain/attributions.csv")).unwrap();
    assert_eq!(attributions.lines().count(), 3, "{attributions}");
}

#[test]
fn balanced_class_weights_are_n_over_k_times_each_count() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, 2, "class_weight = \"balanced\"\n");
    let out = train(dir, &["--config", "shelf.toml", "--out", "run"]);
    let s = summary(dir, "run");
    let counts: Vec<f64> = class_counts(&s, "train")
        .into_iter()
        .map(|c| c as f64)
        .collect();
    let n: f64 = counts.iter().sum();
    let weights: Vec<f64> = s["class_weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(weights.len(), 3);
    for (w, c) in weights.iter().zip(&counts) {
        assert!((w - n / (3.0 * c)).abs() < 1e-12, "{w} vs {n}/(3·{c})");
    }
    let log = format!("{}{}", stdout(&out), stderr(&out));
    assert!(log.contains("class weights in the loss: Bad "), "{log}");
}

#[test]
fn cv_stratifies_k_classes_and_sweep_ranks_by_a_k_class_metric() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, 3, "");
    // The whole table, 3 stratified folds: each fold's validation rows hold every class.
    let whole = fs::read_to_string(dir.join("shelf.toml")).unwrap().replace(
        "path = \"train.csv\"\nvalidation_path = \"valid.csv\"",
        &format!("path = {:?}", data("carseats.csv").display().to_string()),
    );
    assert!(!whole.contains("valid.csv"), "{whole}");
    write(dir, "whole.toml", &whole);
    let cv = burnfit(dir)
        .args([
            "cv",
            "--config",
            "whole.toml",
            "--folds",
            "3",
            "--stratify",
            "--out",
            "cv",
        ])
        .output()
        .unwrap();
    assert!(cv.status.success(), "{}", stderr(&cv));
    let report: Value = serde_json::from_slice(&fs::read(dir.join("cv/cv.json")).unwrap()).unwrap();
    assert!(report.to_string().contains("macro_f1"), "{report}");
    let mut totals = vec![0u64; 3];
    let mut folds = Vec::new();
    for fold in 1..=3 {
        let counts = class_counts(&summary(dir, &format!("cv/fold-{fold}")), "validation");
        for (t, c) in totals.iter_mut().zip(&counts) {
            *t += c;
        }
        folds.push(counts);
    }
    // The folds' validation rows partition the file, and each holds a third of every class
    // to within one row (Bad 96, Good 85, Medium 219 rows in Carseats).
    assert_eq!(totals, [96, 85, 219], "{folds:?}");
    for counts in &folds {
        for (c, t) in counts.iter().zip(&totals) {
            assert!((*c as f64 - *t as f64 / 3.0).abs() <= 1.0, "{folds:?}");
        }
    }

    let mut sweep = fs::read_to_string(dir.join("shelf.toml")).unwrap();
    sweep.push_str(
        "[sweep]\nmetric = \"val_macro_f1\"\n[sweep.grid]\n\"train.lr\" = [1e-3, 3e-3]\n",
    );
    write(dir, "sweep.toml", &sweep);
    let sw = burnfit(dir)
        .args(["sweep", "--config", "sweep.toml", "--out", "sw"])
        .output()
        .unwrap();
    assert!(sw.status.success(), "{}", stderr(&sw));
    let table = fs::read_to_string(dir.join("sw/sweep.csv")).unwrap();
    assert!(
        table.lines().next().unwrap().contains("val_macro_f1"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
    let bad = sweep.replace("val_macro_f1", "val_rmse");
    write(dir, "bad.toml", &bad);
    fails(
        dir,
        "a regression metric on a k-class sweep",
        &["sweep", "--config", "bad.toml"],
        &["sweep.metric", "val_rmse", "val_macro_f1"],
    );
}

#[test]
fn mistakes_with_classes_say_what_to_write_instead() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, 1, "");
    // bce on a 3-class column names cross_entropy.
    fails(
        dir,
        "bce on three classes",
        &[
            "train",
            "--config",
            "shelf.toml",
            "--set",
            "train.loss=\"bce\"",
        ],
        &[
            "third label value",
            "ShelveLoc",
            "train.loss = \"cross_entropy\"",
        ],
    );
    // cross_entropy on a measured number names mse.
    fails(
        dir,
        "cross_entropy on a fractional number",
        &[
            "train",
            "--config",
            "shelf.toml",
            "--set",
            "data.label=\"Sales\"",
            "--set",
            "data.categorical=[\"ShelveLoc\", \"Urban\", \"US\"]",
        ],
        &["Sales", "fraction", "train.loss = \"mse\""],
    );
    // A threshold or [w0, w1] class weights cannot act on a softmax.
    fails(
        dir,
        "threshold with cross_entropy",
        &[
            "train",
            "--config",
            "shelf.toml",
            "--set",
            "train.threshold=0.3",
        ],
        &["train.threshold", "cross_entropy"],
    );
    fails(
        dir,
        "two class weights with cross_entropy",
        &[
            "train",
            "--config",
            "shelf.toml",
            "--set",
            "train.class_weight=[1.0, 2.0]",
        ],
        &["train.class_weight", "balanced"],
    );
    // label_smoothing is a softmax's: on a binary run it is a warning.
    let out = train(
        dir,
        &[
            "--config",
            "shelf.toml",
            "--set",
            "train.label_smoothing=0.1",
            "--set",
            "train.epochs=1",
            "--out",
            "smooth",
        ],
    );
    let resolved = fs::read_to_string(dir.join("smooth/config.toml")).unwrap();
    assert!(resolved.contains("label_smoothing = 0.1"), "{resolved}");
    assert!(
        !stderr(&out).contains("label_smoothing"),
        "{}",
        stderr(&out)
    );
    fs::write(
        dir.join("two.csv"),
        fs::read_to_string(dir.join("train.csv"))
            .unwrap()
            .replace(",Medium,", ",Good,"),
    )
    .unwrap();
    let out = burnfit(dir)
        .args([
            "train",
            "--config",
            "shelf.toml",
            "--set",
            "train.loss=\"bce\"",
            "--set",
            "data.path=\"two.csv\"",
            "--set",
            "data.validation_path=\"two.csv\"",
            "--set",
            "data.positive=\"Good\"",
            "--set",
            "train.label_smoothing=0.1",
            "--set",
            "train.epochs=1",
            "--out",
            "bin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("train.label_smoothing"),
        "{}",
        stderr(&out)
    );
    // data.positive cannot act either: a warning, and left out of the resolved config.
    let out = train(
        dir,
        &[
            "--config",
            "shelf.toml",
            "--set",
            "data.positive=\"Good\"",
            "--set",
            "train.epochs=1",
            "--out",
            "pos",
        ],
    );
    assert!(stderr(&out).contains("data.positive"), "{}", stderr(&out));
    let resolved = fs::read_to_string(dir.join("pos/config.toml")).unwrap();
    assert!(!resolved.contains("positive"), "{resolved}");
}

/// `train.calibrate = "temperature"` on an overfitted k-class run (100 epochs of 300 rows):
/// T > 1, the validation log loss and calibration error fall, no prediction changes, and
/// evaluate and predict give the calibrated probabilities from the weights alone.
#[test]
fn temperature_calibration_keeps_the_predictions_and_fixes_the_confidence() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, 100, "");
    train(dir, &["--config", "shelf.toml", "--out", "raw"]);
    let out = train(
        dir,
        &[
            "--config",
            "shelf.toml",
            "--set",
            "train.calibrate=\"temperature\"",
            "--out",
            "cal",
        ],
    );
    assert!(
        stderr(&out).contains("calibration: temperature"),
        "{}",
        stderr(&out)
    );
    let (raw, cal) = (summary(dir, "raw"), summary(dir, "cal"));
    let c = &cal["calibration"];
    let t = c["temperature"].as_f64().unwrap();
    assert!(t > 1.0, "an overfitted model is overconfident: {c}");
    assert!(
        c["log_loss_after"].as_f64() < c["log_loss_before"].as_f64(),
        "{c}"
    );
    assert!(c["ece_after"].as_f64() < c["ece_before"].as_f64(), "{c}");
    // The uncalibrated run is the same run before the fold: its loss is `before`.
    let before = metric(&raw, "evaluation", "loss");
    assert!((before - c["log_loss_before"].as_f64().unwrap()).abs() < 1e-6);
    assert!(
        (metric(&cal, "evaluation", "loss") - c["log_loss_after"].as_f64().unwrap()).abs() < 1e-5
    );
    for m in ["accuracy", "macro_f1"] {
        assert_eq!(
            metric(&cal, "evaluation", m),
            metric(&raw, "evaluation", m),
            "{m}"
        );
    }
    let model: Value =
        serde_json::from_slice(&fs::read(dir.join("cal/model.json")).unwrap()).unwrap();
    assert_eq!(model["temperature"].as_f64(), Some(t));
    // predict: the same classes, the calibrated run's probabilities less extreme.
    let predict = |run: &str| {
        let p = burnfit(dir)
            .args([
                "predict",
                "--model",
                run,
                "--data",
                "valid.csv",
                "--out",
                "-",
            ])
            .output()
            .unwrap();
        assert!(p.status.success(), "{}", stderr(&p));
        stdout(&p)
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                let top = c[2..]
                    .iter()
                    .map(|v| v.parse::<f64>().unwrap())
                    .fold(0.0, f64::max);
                (c[1].to_string(), top)
            })
            .collect::<Vec<_>>()
    };
    let (p_raw, p_cal) = (predict("raw"), predict("cal"));
    for ((class_raw, top_raw), (class_cal, top_cal)) in p_raw.iter().zip(&p_cal) {
        assert_eq!(class_raw, class_cal);
        assert!(top_cal <= &(top_raw + 1e-6), "{top_cal} vs {top_raw}");
    }
    // A regression has no probabilities to calibrate.
    fails(
        dir,
        "calibrate a regression",
        &[
            "train",
            "--config",
            "shelf.toml",
            "--set",
            "train.loss=\"mse\"",
            "--set",
            "data.label=\"Sales\"",
            "--set",
            "data.categorical=[\"ShelveLoc\", \"Urban\", \"US\"]",
            "--set",
            "train.calibrate=\"temperature\"",
        ],
        &["train.calibrate", "mse"],
    );
}

/// `burnfit init` on a k-class text label writes a softmax config that trains; on a few whole
/// numbers it asks which they are; `--loss cross_entropy` on measurements is refused.
#[test]
fn init_writes_a_softmax_config_for_a_text_label_with_several_classes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let csv = data("carseats.csv");
    let out = burnfit(dir)
        .arg("init")
        .arg(&csv)
        .args(["--label", "ShelveLoc", "--out", "shelf.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = fs::read_to_string(dir.join("shelf.toml")).unwrap();
    assert!(text.contains("loss = \"cross_entropy\""), "{text}");
    assert!(text.contains("3 classes"), "{text}");
    assert!(text.contains("stratify = true"), "{text}");
    assert!(!text.contains("positive ="), "{text}");
    train(
        dir,
        &[
            "--config",
            "shelf.toml",
            "--set",
            "train.epochs=2",
            "--out",
            "run",
        ],
    );
    assert_eq!(class_counts(&summary(dir, "run"), "train").len(), 3);

    // Whole numbers 0..3: classes or a count? init asks, naming both answers.
    let mut digits = String::from("a,b,y\n");
    for i in 0..40 {
        digits.push_str(&format!("{},{},{}\n", i, (i * 7) % 11, i % 4));
    }
    write(dir, "four.csv", &digits);
    fails(
        dir,
        "init on four whole numbers",
        &["init", "four.csv", "--label", "y", "--out", "-"],
        &["`y`", "--loss cross_entropy", "--loss mse"],
    );
    let out = burnfit(dir)
        .args([
            "init",
            "four.csv",
            "--label",
            "y",
            "--loss",
            "cross_entropy",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("loss = \"cross_entropy\""),
        "{}",
        stdout(&out)
    );
    fails(
        dir,
        "init --loss cross_entropy on a measurement",
        &[
            "init",
            csv.to_str().unwrap(),
            "--label",
            "Sales",
            "--loss",
            "cross_entropy",
            "--out",
            "-",
        ],
        &["--loss cross_entropy", "`Sales`", "--loss mse"],
    );
}
