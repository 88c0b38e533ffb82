//! Honest evaluation on imbalanced and small tables: class weights, a decision threshold
//! chosen on the validation rows, and k-fold cross-validation.

mod common;

use std::fs;
use std::path::Path;

use common::{burnfit, data, fails, stderr, stdout, summary, train, write};
use serde_json::Value;
use tempfile::TempDir;

/// A synthetic CSV with about 5 % positives: every negative of a balanced set and one positive
/// in nineteen.
fn imbalanced(dir: &Path) {
    let out = burnfit(dir)
        .args([
            "synth",
            "--rows",
            "24000",
            "--features",
            "12",
            "--informative",
            "5",
        ])
        .args(["--seed", "5", "--out", "all.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = fs::read_to_string(dir.join("all.csv")).unwrap();
    let mut lines = text.lines();
    let mut kept = vec![lines.next().unwrap().to_string()];
    let mut positives = 0;
    for line in lines {
        if line.ends_with(",1") {
            positives += 1;
            if positives % 19 != 0 {
                continue;
            }
        }
        kept.push(line.to_string());
    }
    fs::write(dir.join("imb.csv"), kept.join("\n") + "\n").unwrap();
}

const IMBALANCED: &str = r#"
seed = 1
[data]
source = "csv"
path = "imb.csv"
label = "label"
normalize = "zscore"
[data.split]
stratify = true
[train]
epochs = 6
batch_size = 64
"#;

/// Trains `imb.toml` with `train.class_weight = "balanced"` into `dir/balanced`.
fn train_balanced(dir: &Path) {
    train(
        dir,
        &[
            "--config",
            "imb.toml",
            "--set",
            "train.class_weight=\"balanced\"",
            "--out",
            "balanced",
        ],
    );
}

fn eval(s: &Value, k: &str) -> f64 {
    s["evaluation"][k].as_f64().unwrap()
}

#[test]
fn balanced_class_weights_raise_minority_recall_at_a_small_cost_in_accuracy() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    imbalanced(dir);
    write(dir, "imb.toml", IMBALANCED);
    train(dir, &["--config", "imb.toml", "--out", "plain"]);
    train_balanced(dir);
    let (plain, balanced) = (summary(dir, "plain"), summary(dir, "balanced"));
    // The weights are n / (2 · class count) on the training split.
    let split = &balanced["splits"][0];
    assert_eq!(split["name"], "train");
    let n = split["rows"].as_f64().unwrap();
    let pos = split["positives"].as_f64().unwrap();
    assert!(
        pos / n > 0.04 && pos / n < 0.06,
        "about 5 % positives: {pos} of {n}"
    );
    let w = balanced["class_weights"].as_array().unwrap();
    assert!(
        (w[0].as_f64().unwrap() - n / (2.0 * (n - pos))).abs() < 1e-9,
        "{w:?}"
    );
    assert!(
        (w[1].as_f64().unwrap() - n / (2.0 * pos)).abs() < 1e-9,
        "{w:?}"
    );
    assert!(plain["class_weights"].is_null());
    // What Keras users see with class_weight: the minority class found far more often, for a
    // few points of accuracy.
    let (r0, r1) = (eval(&plain, "recall"), eval(&balanced, "recall"));
    assert!(r1 > r0 + 0.1, "recall {r0:.4} -> {r1:.4}");
    let (a0, a1) = (eval(&plain, "accuracy"), eval(&balanced, "accuracy"));
    assert!(a1 < a0 && a0 - a1 < 0.08, "accuracy {a0:.4} -> {a1:.4}");
    // The ranking is about as good: AUC is not what the weights trade.
    assert!((eval(&plain, "auc") - eval(&balanced, "auc")).abs() < 0.03);
}

#[test]
fn a_chosen_threshold_is_saved_and_used_by_evaluate_and_predict() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    imbalanced(dir);
    write(dir, "imb.toml", IMBALANCED);
    let out = train(
        dir,
        &[
            "--config",
            "imb.toml",
            "--set",
            "train.threshold=\"f1\"",
            "--out",
            "f1",
        ],
    );
    assert!(
        stderr(&out).contains("chosen by train.threshold = \"f1\""),
        "{}",
        stderr(&out)
    );
    let s = summary(dir, "f1");
    let t = s["threshold"].as_f64().unwrap();
    assert!(t > 0.0 && t < 1.0 && t != 0.5, "{t}");
    assert_eq!(s["threshold_rule"], "f1");
    let model: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("f1/model.json")).unwrap()).unwrap();
    assert_eq!(model["threshold"].as_f64(), Some(t));

    let json = |args: &[&str]| -> Value {
        let out = burnfit(dir)
            .args(["evaluate", "--model", "f1", "--data", "imb.csv", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let saved = json(&[]);
    assert_eq!(saved["threshold"].as_f64(), Some(t));
    let half = json(&["--threshold", "0.5"]);
    assert_eq!(half["threshold"].as_f64(), Some(0.5));
    // The threshold moves the class metrics, never the threshold-free ones.
    assert_ne!(saved["metrics"]["recall"], half["metrics"]["recall"]);
    for free in ["loss", "auc", "avg_precision", "brier"] {
        assert_eq!(saved["metrics"][free], half["metrics"][free], "{free}");
    }
    // predict's class column is the probability against the saved threshold.
    let out = burnfit(dir)
        .args([
            "predict", "--model", "f1", "--data", "imb.csv", "--out", "p.csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let preds = fs::read_to_string(dir.join("p.csv")).unwrap();
    let mut between = 0;
    for line in preds.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let (p, class): (f64, u8) = (cells[1].parse().unwrap(), cells[2].parse().unwrap());
        assert_eq!(class, u8::from(p > t), "{line} at threshold {t}");
        between += usize::from((p > t) != (p > 0.5));
    }
    assert!(
        between > 0,
        "no row between the threshold and 0.5: the test would not notice 0.5"
    );
    // The rule is refused where it makes no sense.
    for (args, expect) in [
        (
            vec![
                "train",
                "--set",
                "train.loss=\"mse\"",
                "--set",
                "train.class_weight=\"balanced\"",
            ],
            "train.class_weight",
        ),
        (
            vec!["train", "--set", "train.threshold=1.5"],
            "train.threshold",
        ),
        (
            vec!["train", "--set", "train.class_weight=[1, -2]"],
            "train.class_weight",
        ),
    ] {
        common::fails(dir, expect, &args, &[expect]);
    }
    // A flag out of range is a usage error (clap's exit code 2), named.
    let out = burnfit(dir)
        .args([
            "evaluate",
            "--model",
            "f1",
            "--data",
            "imb.csv",
            "--threshold",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("strictly between 0 and 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cv_on_a_real_csv_partitions_the_rows_fits_each_fold_and_resumes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let csv = data("college.csv");
    write(
        dir,
        "college.toml",
        &format!(
            "seed = 3\n[data]\nsource = \"csv\"\npath = {:?}\nlabel = \"Private\"\npositive = \"Yes\"\nnormalize = \"zscore\"\n[train]\nepochs = 4\n",
            csv.display().to_string()
        ),
    );
    let run = |jobs: &str, out: &str| {
        let o = burnfit(dir)
            .args([
                "cv",
                "--config",
                "college.toml",
                "--folds",
                "4",
                "--stratify",
                "--jobs",
                jobs,
                "--out",
                out,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    let o = run("2", "cv");
    let table = stdout(&o);
    assert!(
        table.contains("mean ± sd") && table.contains("accuracy"),
        "{table}"
    );
    let cv: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("cv/cv.json")).unwrap()).unwrap();
    let acc = &cv["metrics"]["accuracy"];
    let per: Vec<f64> = acc["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(per.len(), 4);
    let mean = per.iter().sum::<f64>() / 4.0;
    assert!((acc["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    // Every usable row validates in exactly one fold; the class ratio holds in each.
    let splits: Vec<Value> = (1..=4)
        .map(|i| summary(dir, &format!("cv/fold-{i}"))["splits"].clone())
        .collect();
    let valid_rows: u64 = splits.iter().map(|s| s[1]["rows"].as_u64().unwrap()).sum();
    let total = splits[0][0]["rows"].as_u64().unwrap() + splits[0][1]["rows"].as_u64().unwrap();
    assert_eq!(
        valid_rows, total,
        "the folds' validation rows partition the table"
    );
    let ratio = |s: &Value| s[1]["positives"].as_f64().unwrap() / s[1]["rows"].as_f64().unwrap();
    let overall: f64 = splits
        .iter()
        .map(|s| s[1]["positives"].as_f64().unwrap())
        .sum::<f64>()
        / total as f64;
    for s in &splits {
        assert!(
            (ratio(s) - overall).abs() * s[1]["rows"].as_f64().unwrap() <= 1.0,
            "{s}"
        );
    }
    // Each fold fits its own preprocessing on its own training rows.
    let shift = |i: usize| -> f64 {
        let p: Value = serde_json::from_str(
            &fs::read_to_string(dir.join(format!("cv/fold-{i}/preprocess.json"))).unwrap(),
        )
        .unwrap();
        p["features"][0]["shift"].as_f64().unwrap()
    };
    assert_ne!(shift(1), shift(2));
    // The same command again finds every fold done; one at a time gives the same numbers.
    let again = run("2", "cv");
    assert_eq!(
        stderr(&again).matches("already finished").count(),
        4,
        "{}",
        stderr(&again)
    );
    run("1", "cv-seq");
    let seq: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("cv-seq/cv.json")).unwrap()).unwrap();
    assert_eq!(
        seq["metrics"], cv["metrics"],
        "parallel folds give the sequential results"
    );
    // A different plan in the same folder is refused.
    fails(
        dir,
        "another plan in the same folder",
        &[
            "cv",
            "--config",
            "college.toml",
            "--folds",
            "3",
            "--out",
            "cv",
        ],
        &["another cross-validation"],
    );
    assert!(dir.join("cv/report.html").is_file());
}

#[test]
fn a_weight_column_weighs_rows_like_class_weights_and_is_never_a_feature() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    imbalanced(dir);
    write(dir, "imb.toml", IMBALANCED);
    train_balanced(dir);
    let w = summary(dir, "balanced")["class_weights"].clone();
    let (w0, w1) = (w[0].as_f64().unwrap() as f32, w[1].as_f64().unwrap() as f32);
    // The same weights, given per row in a column of the CSV.
    let text = fs::read_to_string(dir.join("imb.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = vec![format!("{},w", lines.next().unwrap())];
    for line in lines {
        let weight = if line.ends_with(",1") { w1 } else { w0 };
        out.push(format!("{line},{weight}"));
    }
    fs::write(dir.join("weighted.csv"), out.join("\n") + "\n").unwrap();
    let cfg = IMBALANCED.replace(
        "path = \"imb.csv\"",
        "path = \"weighted.csv\"\nweight = \"w\"",
    );
    write(dir, "weighted.toml", &cfg);
    let o = train(dir, &["--config", "weighted.toml", "--out", "rows"]);
    assert!(
        stderr(&o).contains("row weights in the loss: column `w`"),
        "{}",
        stderr(&o)
    );
    // Row weights equal to the class weights train the very same model.
    assert_eq!(
        summary(dir, "rows")["evaluation"],
        summary(dir, "balanced")["evaluation"]
    );
    let model: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("rows/model.json")).unwrap()).unwrap();
    assert!(
        !model["inputs"].as_array().unwrap().iter().any(|i| i == "w"),
        "the weights are not an input"
    );
    // Weights that cannot weigh a row are refused, naming the row and the column.
    let bad = |name: &str, edit: &dyn Fn(&str) -> String| {
        let t = fs::read_to_string(dir.join("weighted.csv")).unwrap();
        let mut ls: Vec<String> = t.lines().map(String::from).collect();
        ls[3] = edit(&ls[3]);
        fs::write(dir.join(name), ls.join("\n") + "\n").unwrap();
    };
    bad("negative.csv", &|l| {
        format!("{},-1", l.rsplit_once(',').unwrap().0)
    });
    bad("gap.csv", &|l| {
        format!("{},", l.rsplit_once(',').unwrap().0)
    });
    for (file, expect) in [
        ("negative.csv", "weight -1 is negative"),
        ("gap.csv", "the weight is missing"),
    ] {
        let cfg = IMBALANCED.replace(
            "path = \"imb.csv\"",
            &format!("path = \"{file}\"\nweight = \"w\"\nmissing = \"mean\""),
        );
        write(dir, "bad.toml", &cfg);
        common::fails(
            dir,
            file,
            &["train", "--config", "bad.toml", "--out", "x"],
            &[file, "row 4", "column `w` (data.weight)", expect],
        );
    }
    for (set, expect) in [
        ("data.weight=\"label\"", "names the label column"),
        ("data.exclude=[\"w\"]", "is also listed in data.exclude"),
        ("data.weight=\"nope\"", "no column `nope`"),
    ] {
        common::fails(
            dir,
            set,
            &[
                "train",
                "--config",
                "weighted.toml",
                "--set",
                set,
                "--out",
                "x",
            ],
            &[expect],
        );
    }
}

#[test]
fn cv_refuses_more_folds_than_rows_before_starting_any() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "small.toml", common::SMALL);
    common::fails(
        dir,
        "folds",
        &[
            "cv",
            "--config",
            "small.toml",
            "--folds",
            "5000",
            "--out",
            "cv",
        ],
        &["--folds 5000", "2000 usable rows"],
    );
    assert!(!dir.join("cv").exists(), "nothing was started");
    common::fails(
        dir,
        "one fold",
        &["cv", "--config", "small.toml", "--folds", "1"],
        &["at least 2 folds"],
    );
}

/// `predict` writes its rows a part at a time (65,536 of them): over more rows than two parts,
/// every row comes once and in order, and its class is the one `evaluate` counts, which
/// predicts the whole table at once; the stdout and file outputs are the same bytes.
#[test]
fn predictions_written_in_parts_are_every_row_once_as_evaluate_counts_them() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let out = burnfit(dir)
        .args([
            "synth",
            "--rows",
            "140000",
            "--features",
            "6",
            "--seed",
            "3",
        ])
        .args(["--out", "many.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    write(
        dir,
        "many.toml",
        "[data]\npath = \"many.csv\"\nlabel = \"label\"\n[train]\nepochs = 1\nbatch_size = 512\n",
    );
    train(dir, &["--config", "many.toml", "--out", "run"]);
    let predict = |out: &str| {
        let p = burnfit(dir)
            .args([
                "predict", "--model", "run", "--data", "many.csv", "--out", out,
            ])
            .output()
            .unwrap();
        assert!(p.status.success(), "{}", stderr(&p));
        p
    };
    let to_stdout = predict("-");
    predict("p.csv");
    let preds = fs::read_to_string(dir.join("p.csv")).unwrap();
    assert_eq!(preds, stdout(&to_stdout));
    let labels: Vec<String> = fs::read_to_string(dir.join("many.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect();
    let mut right = 0;
    let mut count = 0;
    for (i, line) in preds.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], (i + 1).to_string(), "row numbers in order");
        right += usize::from(cells[2] == labels[i]);
        count += 1;
    }
    assert_eq!(count, 140_000);
    let eval = burnfit(dir)
        .args(["evaluate", "--model", "run", "--data", "many.csv", "--json"])
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", stderr(&eval));
    let json: Value = serde_json::from_str(&stdout(&eval)).unwrap();
    let accuracy = json["metrics"]["accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - right as f64 / count as f64).abs() < 1e-9,
        "{accuracy} vs {right}/{count}"
    );
}
