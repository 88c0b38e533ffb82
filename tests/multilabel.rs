//! Several label columns through every command: several yes/no labels (multi-label, one
//! sigmoid each) and several numeric targets (multi-output, one linear output each), on a real
//! table (Carseats: `Urban` and `US`, Yes/No each; `Sales` and `CompPrice`), and the mistakes a
//! user can make with them. Exports are checked in `export.rs`, the report in a browser in
//! `report.rs`.

mod common;

use std::fs;
use std::path::Path;

use common::{burnfit, data, fails, stderr, stdout, summary, train, write};
use serde_json::Value;
use tempfile::TempDir;

/// Carseats with the last 100 rows as a validation file, and a config training `labels` with
/// `loss` for `epochs` epochs, `extra` lines in `[train]`.
fn setup(dir: &Path, labels: &str, loss: &str, epochs: usize, extra: &str) {
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
    let categorical: Vec<&str> = ["ShelveLoc", "Urban", "US"]
        .into_iter()
        .filter(|c| !labels.contains(&format!("\"{c}\"")))
        .collect();
    write(
        dir,
        "run.toml",
        &format!(
            "seed = 3\n[data]\npath = \"train.csv\"\nvalidation_path = \"valid.csv\"\nlabel = {labels}\ncategorical = {categorical:?}\nnormalize = \"zscore\"\n[train]\nloss = \"{loss}\"\nepochs = {epochs}\nbatch_size = 16\n{extra}"
        ),
    );
}

fn metric(s: &Value, section: &str, name: &str) -> f64 {
    s[section][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{section}.{name} in {s}"))
}

/// The `label` cells of `file` (Yes/No) as 0/1, row by row.
fn yes_no(dir: &Path, file: &str, column: &str) -> Vec<f64> {
    let text = fs::read_to_string(dir.join(file)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| f64::from(u8::from(l.split(',').nth(at).unwrap() == "Yes")))
        .collect()
}

/// What `predict` writes for `valid.csv` with model `run`.
fn predicted(dir: &Path, run: &str) -> String {
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
}

fn evaluate(dir: &Path, run: &str, extra: &[&str]) -> Value {
    let mut args = vec!["evaluate", "--model", run, "--data", "valid.csv", "--json"];
    args.extend(extra);
    let e = burnfit(dir).args(&args).output().unwrap();
    assert!(e.status.success(), "{}", stderr(&e));
    serde_json::from_slice(&e.stdout).unwrap()
}

#[test]
fn two_yes_no_labels_train_evaluate_predict_and_explain() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(
        dir,
        "[\"Urban\", \"US\"]",
        "bce",
        20,
        "threshold = \"f1\"\n",
    );
    let out = train(dir, &["--config", "run.toml", "--out", "run"]);
    let log = format!("{}{}", stdout(&out), stderr(&out));
    assert!(log.contains("val_hamming_loss"), "{log}");
    assert!(log.contains("of label `Urban`"), "{log}");
    let s = summary(dir, "run");
    for m in [
        "loss",
        "hamming_loss",
        "subset_accuracy",
        "micro_f1",
        "macro_f1",
        "macro_precision",
        "macro_recall",
        "macro_auc",
        "brier",
    ] {
        let v = metric(&s, "evaluation", m);
        assert!((0.0..=1.0).contains(&v) || m == "loss", "{m} = {v}");
    }
    // `US` follows from the shelf data (a store abroad sells no US-made goods: Advertising is
    // 0 there), so the model beats a coin on it; Urban is close to noise.
    let per: Vec<Value> = s["per_label"].as_array().unwrap().clone();
    assert_eq!(per.len(), 2);
    assert_eq!(
        (per[0]["name"].as_str(), per[1]["name"].as_str()),
        (Some("Urban"), Some("US"))
    );
    assert!(per[1]["metrics"]["auc"].as_f64().unwrap() > 0.75, "{s}");
    // One threshold per label, chosen on the validation rows, kept in model.json and summary.
    let model: Value =
        serde_json::from_slice(&fs::read(dir.join("run/model.json")).unwrap()).unwrap();
    assert_eq!(model["labels"], serde_json::json!(["Urban", "US"]));
    assert_eq!(model["network"]["output"], 2);
    let thresholds: Vec<f64> = model["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(thresholds.len(), 2);
    assert_eq!(s["thresholds"], model["thresholds"]);
    for (p, t) in per.iter().zip(&thresholds) {
        assert_eq!(p["metrics"]["threshold"].as_f64(), Some(*t));
    }
    // Each split's rows where each label is 1.
    let valid = s["splits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "validation")
        .unwrap();
    let urban = yes_no(dir, "valid.csv", "Urban");
    let us = yes_no(dir, "valid.csv", "US");
    assert_eq!(
        valid["label_positives"],
        serde_json::json!([
            urban.iter().sum::<f64>() as u64,
            us.iter().sum::<f64>() as u64
        ])
    );

    // evaluate gives the run's own figures, and each label's.
    let e = evaluate(dir, "run", &[]);
    for m in [
        "loss",
        "hamming_loss",
        "subset_accuracy",
        "macro_auc",
        "micro_f1",
    ] {
        let (got, want) = (metric(&e, "metrics", m), metric(&s, "evaluation", m));
        assert!(
            (got - want).abs() < 1e-9,
            "{m}: evaluate {got}, train {want}"
        );
    }
    assert_eq!(e["per_label"], s["per_label"]);
    // --threshold is every label's.
    let low = evaluate(dir, "run", &["--threshold", "0.05"]);
    assert!(metric(&low, "metrics", "macro_recall") >= metric(&e, "metrics", "macro_recall"));

    // predict: a probability and a 0/1 class per label, the class 1 above its threshold; the
    // rows' classes give evaluate's subset accuracy.
    let text = predicted(dir, "run");
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "row,probability_Urban,class_Urban,probability_US,class_US"
    );
    let mut exact = 0;
    for (i, line) in lines.enumerate() {
        let c: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        for (j, t) in thresholds.iter().enumerate() {
            let (prob, class) = (c[1 + 2 * j], c[2 + 2 * j]);
            assert!((0.0..=1.0).contains(&prob), "{line}");
            // Six decimals written: a probability within 1e-6 of its threshold may print
            // either way.
            if (prob - t).abs() > 1e-6 {
                assert_eq!(class, f64::from(u8::from(prob > *t)), "row {i}: {line}");
            }
        }
        exact += usize::from(c[2] == urban[i] && c[4] == us[i]);
    }
    let subset = exact as f64 / urban.len() as f64;
    assert!(
        (subset - metric(&s, "evaluation", "subset_accuracy")).abs() < 0.011,
        "predict's classes give {subset}"
    );

    // A label cell that is not yes or no is an error naming the file, row and column.
    let odd = fs::read_to_string(dir.join("valid.csv"))
        .unwrap()
        .replacen(",Yes,", ",Maybe,", 1);
    write(dir, "odd.csv", &odd);
    fails(
        dir,
        "not a yes/no label",
        &["evaluate", "--model", "run", "--data", "odd.csv"],
        &["odd.csv", "row", "`Maybe`", "yes/no"],
    );

    // explain: importance on the Hamming loss; gradient × input of each label.
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
    assert!(
        stdout(&x).contains("hamming_loss on 100 rows"),
        "{}",
        stdout(&x)
    );
    let attributions = fs::read_to_string(dir.join("run/explain/attributions.csv")).unwrap();
    let rows: Vec<&str> = attributions.lines().collect();
    assert_eq!(rows.len(), 1 + 2 * 2, "{attributions}");
    assert!(rows[0].starts_with("row,label,"), "{attributions}");
    assert!(
        rows[1].starts_with("2,Urban,") && rows[4].starts_with("3,US,"),
        "{attributions}"
    );
}

#[test]
fn two_numeric_targets_train_evaluate_predict_cv_and_sweep() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(
        dir,
        "[\"Sales\", \"CompPrice\"]",
        "mse",
        100,
        "lr = 0.003\n",
    );
    train(dir, &["--config", "run.toml", "--out", "run"]);
    let s = summary(dir, "run");
    let per: Vec<Value> = s["per_label"].as_array().unwrap().clone();
    assert_eq!(per.len(), 2);
    let r2: Vec<f64> = per
        .iter()
        .map(|p| p["metrics"]["r2"].as_f64().unwrap())
        .collect();
    // The mean of the targets' R², as scikit-learn's `uniform_average`; the model explains
    // much of Sales (Price, ShelveLoc and Advertising drive it) and some of the competitor's
    // price (which follows the store's own).
    assert!((metric(&s, "evaluation", "r2") - (r2[0] + r2[1]) / 2.0).abs() < 1e-9);
    assert!(r2[0] > 0.4 && r2[1] > 0.1, "{s}");
    // The loss is the mean squared error over both targets; rmse its root.
    let (loss, rmse) = (
        metric(&s, "evaluation", "loss"),
        metric(&s, "evaluation", "rmse"),
    );
    assert!((rmse - loss.sqrt()).abs() < 1e-9);
    let model: Value =
        serde_json::from_slice(&fs::read(dir.join("run/model.json")).unwrap()).unwrap();
    assert_eq!(model["labels"], serde_json::json!(["Sales", "CompPrice"]));
    assert!(model.get("thresholds").is_none(), "{model}");

    let e = evaluate(dir, "run", &[]);
    for m in ["loss", "rmse", "mae", "r2"] {
        let (got, want) = (metric(&e, "metrics", m), metric(&s, "evaluation", m));
        assert!(
            (got - want).abs() < 1e-9,
            "{m}: evaluate {got}, train {want}"
        );
    }
    fails(
        dir,
        "a threshold on numeric targets",
        &[
            "evaluate",
            "--model",
            "run",
            "--data",
            "valid.csv",
            "--threshold",
            "0.3",
        ],
        &["--threshold", "multi-output regression"],
    );

    // predict: one prediction per target; their squared errors give the run's loss.
    let text = predicted(dir, "run");
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "row,prediction_Sales,prediction_CompPrice"
    );
    let truth = fs::read_to_string(dir.join("valid.csv")).unwrap();
    let (mut sum, mut n) = (0.0, 0.0);
    for (line, row) in lines.zip(truth.lines().skip(1)) {
        let c: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let cells: Vec<&str> = row.split(',').collect();
        // Carseats: Sales is the first column, CompPrice the second.
        let (sales, comp): (f64, f64) = (cells[0].parse().unwrap(), cells[1].parse().unwrap());
        sum += (c[1] - sales).powi(2) + (c[2] - comp).powi(2);
        n += 2.0;
    }
    assert!(
        ((sum / n) - loss).abs() / loss < 1e-4,
        "predict's mse {} vs {loss}",
        sum / n
    );

    // cv: three folds of the whole table, each with the targets' metrics; a sweep ranked by
    // the mean R².
    let whole = fs::read_to_string(dir.join("run.toml")).unwrap().replace(
        "path = \"train.csv\"\nvalidation_path = \"valid.csv\"",
        &format!("path = {:?}", data("carseats.csv").display().to_string()),
    );
    write(
        dir,
        "whole.toml",
        &whole.replace("epochs = 100", "epochs = 3"),
    );
    let cv = burnfit(dir)
        .args([
            "cv",
            "--config",
            "whole.toml",
            "--folds",
            "3",
            "--out",
            "cv",
        ])
        .output()
        .unwrap();
    assert!(cv.status.success(), "{}", stderr(&cv));
    for fold in 1..=3 {
        let f = summary(dir, &format!("cv/fold-{fold}"));
        assert_eq!(f["per_label"].as_array().unwrap().len(), 2);
    }
    // explain: importance on the targets' RMSE; gradient × input of each target.
    let x = burnfit(dir)
        .args([
            "explain",
            "--model",
            "run",
            "--data",
            "valid.csv",
            "--rows",
            "5",
        ])
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", stderr(&x));
    assert!(stdout(&x).contains("rmse on 100 rows"), "{}", stdout(&x));
    let attributions = fs::read_to_string(dir.join("run/explain/attributions.csv")).unwrap();
    let rows: Vec<&str> = attributions.lines().collect();
    assert_eq!(rows.len(), 3, "{attributions}");
    assert!(
        rows[1].starts_with("5,Sales,") && rows[2].starts_with("5,CompPrice,"),
        "{attributions}"
    );
    let mut sweep = fs::read_to_string(dir.join("whole.toml")).unwrap();
    sweep.push_str("[sweep]\nmetric = \"val_r2\"\n[sweep.grid]\n\"train.lr\" = [1e-3, 3e-3]\n");
    write(dir, "sweep.toml", &sweep);
    let sw = burnfit(dir)
        .args(["sweep", "--config", "sweep.toml", "--out", "sw"])
        .output()
        .unwrap();
    assert!(sw.status.success(), "{}", stderr(&sw));
    let table = fs::read_to_string(dir.join("sw/sweep.csv")).unwrap();
    assert!(table.lines().next().unwrap().contains("val_r2"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
}

#[test]
fn a_synthetic_multi_label_set_trains_and_cv_and_sweep_read_its_metrics() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let s = burnfit(dir)
        .args([
            "synth",
            "--task",
            "multilabel",
            "--labels",
            "3",
            "--rows",
            "3000",
            "--features",
            "8",
            "--informative",
            "5",
            "--out",
            "tags.csv",
        ])
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", stderr(&s));
    let text = fs::read_to_string(dir.join("tags.csv")).unwrap();
    assert!(text.starts_with("f0,f1,f2,f3,f4,f5,f6,f7,label_1,label_2,label_3\n"));
    write(
        dir,
        "tags.toml",
        "[data]\npath = \"tags.csv\"\nlabel = [\"label_1\", \"label_2\", \"label_3\"]\nnormalize = \"zscore\"\n[data.split]\nshuffle = true\n[train]\nloss = \"bce\"\nepochs = 8\nbatch_size = 32\n[sweep]\nmetric = \"val_macro_auc\"\n[sweep.grid]\n\"train.lr\" = [1e-3, 3e-3]\n",
    );
    train(dir, &["--config", "tags.toml", "--out", "run"]);
    let s = summary(dir, "run");
    // The labels are noisy linear cuts of the features: well above chance.
    assert!(metric(&s, "evaluation", "macro_auc") > 0.85, "{s}");
    assert!(metric(&s, "evaluation", "hamming_loss") < 0.25, "{s}");
    // The same set from the built-in generator: the same columns, the same figures.
    write(
        dir,
        "gen.toml",
        "[data]\nsource = \"synthetic\"\nnormalize = \"zscore\"\n[data.synthetic]\ntask = \"multilabel\"\nlabels = 3\nrows = 3000\nfeatures = 8\ninformative = 5\nseed = 0\n[data.split]\nshuffle = true\n[train]\nloss = \"bce\"\nepochs = 2\n",
    );
    let g = train(dir, &["--config", "gen.toml", "--out", "gen"]);
    assert!(stdout(&g).starts_with("Loss: "), "{}", stdout(&g));
    let gs = summary(dir, "gen");
    assert_eq!(gs["per_label"].as_array().unwrap().len(), 3);
    let sw = burnfit(dir)
        .args([
            "sweep",
            "--config",
            "tags.toml",
            "--out",
            "sw",
            "--set",
            "train.epochs=2",
        ])
        .output()
        .unwrap();
    assert!(sw.status.success(), "{}", stderr(&sw));
    let table = fs::read_to_string(dir.join("sw/sweep.csv")).unwrap();
    assert!(table.contains("val_macro_auc"), "{table}");
    // cv: each fold's own per-label table and the folds' mean ± sd of the multi-label metrics;
    // --stratify cannot keep several columns' shares and says so, naming the flag.
    let cv = burnfit(dir)
        .args([
            "cv",
            "--config",
            "tags.toml",
            "--folds",
            "3",
            "--out",
            "cv",
            "--set",
            "train.epochs=2",
        ])
        .output()
        .unwrap();
    assert!(cv.status.success(), "{}", stderr(&cv));
    let report: Value = serde_json::from_slice(&fs::read(dir.join("cv/cv.json")).unwrap()).unwrap();
    assert!(report.to_string().contains("hamming_loss"), "{report}");
    let mut rows = 0;
    let mut f1 = Vec::new();
    for fold in 1..=3 {
        let f = summary(dir, &format!("cv/fold-{fold}"));
        assert_eq!(f["per_label"].as_array().unwrap().len(), 3);
        rows += f["splits"][1]["rows"].as_u64().unwrap();
        f1.push(f["per_label"][1]["metrics"]["f1"].as_f64().unwrap());
    }
    assert_eq!(rows, 3000, "the folds' validation rows partition the file");
    // cv.json's per-label table: each label's metrics over the folds, the folds' own values.
    let labels = report["per_label"].as_array().expect("a per-label table");
    assert_eq!(labels.len(), 3, "{report}");
    let second = &labels[1]["metrics"]["f1"];
    let folds: Vec<f64> = second["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(folds, f1, "{report}");
    let mean = f1.iter().sum::<f64>() / 3.0;
    assert!(
        (second["mean"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{report}"
    );
    let page = fs::read_to_string(dir.join("cv/report.html")).unwrap();
    assert!(
        page.contains("Each label over the folds"),
        "the report's per-label table"
    );
    fails(
        dir,
        "cv --stratify with several labels",
        &[
            "cv",
            "--config",
            "tags.toml",
            "--folds",
            "3",
            "--stratify",
            "--out",
            "cv2",
        ],
        &["--stratify", "several label columns"],
    );
}

#[test]
fn mistakes_with_several_labels_say_what_to_write_instead() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, "[\"Urban\", \"US\"]", "bce", 1, "");
    let set = |kv: &str| ["train", "--config", "run.toml", "--set", kv].map(String::from);
    let run = |case: &str, kv: &str, expect: &[&str]| {
        let args = set(kv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(dir, case, &args, expect)
    };
    run(
        "cross_entropy on two columns",
        "train.loss=\"cross_entropy\"",
        &["data.label", "2 columns", "train.loss = \"bce\"", "\"mse\""],
    );
    run(
        "a column listed twice",
        "data.label=[\"US\", \"US\"]",
        &["data.label", "`US` twice"],
    );
    run(
        "an empty list",
        "data.label=[]",
        &["data.label", "must name the label column"],
    );
    run(
        "stratify with several labels",
        "data.split.stratify=true",
        &["data.split.stratify", "several label columns"],
    );
    run(
        "class weights with several labels",
        "train.class_weight=\"balanced\"",
        &["train.class_weight", "data.weight"],
    );
    run(
        "a column that is not there",
        "data.label=[\"US\", \"Nope\"]",
        &["train.csv", "`Nope`", "data.label"],
    );
    run(
        "a label also a feature",
        "data.features=[\"US\", \"Price\"]",
        &["data.features", "`US`"],
    );
    // Text that is not yes/no in a label column of several: the row, the column, what to do.
    fails(
        dir,
        "a three-valued column as one of several yes/no labels",
        &[
            "train",
            "--config",
            "run.toml",
            "--set",
            "data.label=[\"US\", \"ShelveLoc\"]",
            "--set",
            "data.categorical=[\"Urban\"]",
        ],
        &[
            "train.csv",
            "row 2",
            "`ShelveLoc`",
            "yes/no",
            "cross_entropy",
        ],
    );
    // Several numeric targets with text in one: the column and row, in a label's words.
    let err = run(
        "text in a numeric target",
        "train.loss=\"mse\"",
        &["train.csv", "row 2", "`Urban`", "not a number", "\"bce\""],
    );
    assert!(!err.contains("data.categorical"), "{err}");
}

/// What a review of several labels found: an edited run folder (labels swapped in
/// `config.toml` before a resume, in `model.json`, a non-finite output) is refused naming the
/// file; rows of a file with Windows line endings are named by their line; a list written as
/// one name gets the list to write.
#[test]
fn edited_run_folders_and_windows_files_are_caught_with_several_labels() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    setup(dir, "[\"Urban\", \"US\"]", "bce", 2, "");
    train(dir, &["--config", "run.toml", "--out", "run"]);
    // An unfinished run (its summary gone) resumes from its last checkpoint as it was...
    fs::copy(dir.join("run/config.toml"), dir.join("config.kept")).unwrap();
    fs::remove_file(dir.join("run/summary.json")).unwrap();
    let same = burnfit(dir)
        .args(["train", "--resume", "run"])
        .output()
        .unwrap();
    assert!(same.status.success(), "{}", stderr(&same));
    // ...but not under a config.toml whose labels were swapped since.
    fs::remove_file(dir.join("run/summary.json")).unwrap();
    let config = fs::read_to_string(dir.join("run/config.toml")).unwrap();
    let swapped = config.replacen("\"Urban\",\n    \"US\",", "\"US\",\n    \"Urban\",", 1);
    assert_ne!(swapped, config, "{config}");
    fs::write(dir.join("run/config.toml"), swapped).unwrap();
    fails(
        dir,
        "resume under an edited config",
        &["train", "--resume", "run"],
        &["cannot resume", "config.toml", "edited"],
    );
    fs::copy(dir.join("config.kept"), dir.join("run/config.toml")).unwrap();

    // model.json's labels must be preprocess.json's, in order.
    let model = fs::read_to_string(dir.join("run/model.json")).unwrap();
    let edited = model.replacen("\"Urban\"", "\"X\"", 1);
    assert_ne!(edited, model);
    fs::write(dir.join("run/model.json"), &edited).unwrap();
    fails(
        dir,
        "labels edited in model.json",
        &[
            "predict",
            "--model",
            "run",
            "--data",
            "valid.csv",
            "--out",
            "-",
        ],
        &["model.json", "preprocess.json", "edited"],
    );
    fails(
        dir,
        "labels edited in model.json, exported",
        &[
            "export", "--model", "run", "--format", "onnx", "--out", "m.onnx",
        ],
        &["model.json", "preprocess.json"],
    );
    fs::write(dir.join("run/model.json"), &model).unwrap();

    // A non-finite output in outputs.csv: the report refuses the file.
    let outputs = fs::read_to_string(dir.join("run/outputs.csv")).unwrap();
    let mut lines: Vec<String> = outputs.lines().map(String::from).collect();
    let mut cells: Vec<&str> = lines[1].split(',').collect();
    cells[3] = "nan";
    lines[1] = cells.join(",");
    fs::write(dir.join("run/outputs.csv"), lines.join("\n") + "\n").unwrap();
    fails(
        dir,
        "a NaN output in outputs.csv",
        &["report", "run"],
        &["outputs.csv", "line 2", "output_0"],
    );

    // Windows line endings: the row named is the file's line.
    let crlf = fs::read_to_string(dir.join("valid.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 4 {
                l.replacen(",Yes", ",Maybe", 1)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(crlf.contains("Maybe"), "line 5 has a Yes");
    write(dir, "crlf.csv", &crlf);
    fs::write(dir.join("run/outputs.csv"), outputs).unwrap();
    fails(
        dir,
        "a bad label on line 5 of a CRLF file",
        &["evaluate", "--model", "run", "--data", "crlf.csv"],
        &["crlf.csv", "row 5,", "`Maybe`"],
    );

    // --init-from a file trained for the labels in another order: a warning naming both.
    let out = burnfit(dir)
        .args([
            "export",
            "--model",
            "run",
            "--format",
            "safetensors",
            "--out",
            "w.safetensors",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let swapped = train(
        dir,
        &[
            "--config",
            "run.toml",
            "--set",
            "data.label=[\"US\", \"Urban\"]",
            "--init-from",
            "w.safetensors",
            "--out",
            "swapped",
        ],
    );
    let log = stderr(&swapped);
    assert!(
        log.contains("trained for the label columns [Urban, US], this run's are [US, Urban]"),
        "{log}"
    );
    // `--set data.label=Urban,US`: the list to write.
    fails(
        dir,
        "two labels written as one name",
        &[
            "train",
            "--config",
            "run.toml",
            "--set",
            "data.label=Urban,US",
        ],
        &["`Urban,US`", "data.label = [\"Urban\", \"US\"]"],
    );
}
