//! The first hour with a user's own CSV: `init` then `train` with no edit on each shared table,
//! the defaults a bare config gets (z-scores, a stratified shuffle), warnings about splits that
//! mislead, every text column in one error, and predictions people can use.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use tempfile::TempDir;

/// The final `Accuracy:` figure of a `train` run's stdout.
fn accuracy(out: &std::process::Output) -> f64 {
    let text = stdout(out);
    text.split("Accuracy: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {text}"))
}

/// `burnfit init CSV --label L` then `burnfit train --config` on what it wrote, as a user would.
fn init_then_train(dir: &Path, csv: &str, label: &str, extra: &[&str]) -> std::process::Output {
    let data = common::data(csv);
    let mut args = vec!["init", data.to_str().unwrap(), "--label", label];
    args.extend(extra);
    let out = burnfit(dir).args(&args).output().unwrap();
    assert!(out.status.success(), "init {csv}: {}", stderr(&out));
    let config = dir.join(Path::new(csv).with_extension("toml"));
    assert!(config.is_file(), "init wrote no {}", config.display());
    let out = burnfit(dir)
        .args([
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            "run",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "train on init's config for {csv}: {}\n{}",
        stderr(&out),
        fs::read_to_string(&config).unwrap()
    );
    // Every key init writes acts: no warning about the config.
    assert!(
        !stderr(&out).contains("cannot act"),
        "{csv}: {}",
        stderr(&out)
    );
    out
}

#[test]
fn init_writes_a_config_that_trains_with_no_edit_on_every_shared_table() {
    for (csv, label, extra, loss) in [
        ("college.csv", "Private", &[][..], "bce"),
        ("carseats.csv", "US", &[][..], "bce"),
        ("carseats.csv", "Sales", &[][..], "mse"),
        ("braincancer.csv", "status", &[][..], "bce"),
        ("braincancer.csv", "time", &[][..], "mse"),
    ] {
        let tmp = TempDir::new().unwrap();
        let out = init_then_train(tmp.path(), csv, label, extra);
        let config =
            fs::read_to_string(tmp.path().join(Path::new(csv).with_extension("toml"))).unwrap();
        assert!(
            config.contains(&format!("loss = \"{loss}\"")),
            "{csv} {label}: {config}"
        );
        // Every choice is explained: the column summary is there as comments.
        assert!(
            config.contains("# ") && config.contains("rows, "),
            "{config}"
        );
        assert!(
            stdout(&out).starts_with("Loss: "),
            "{csv} {label}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn init_sets_text_columns_and_identifiers_aside_and_says_why() {
    let tmp = TempDir::new().unwrap();
    init_then_train(tmp.path(), "carseats.csv", "US", &[]);
    let config = fs::read_to_string(tmp.path().join("carseats.toml")).unwrap();
    assert!(
        config.contains("categorical = [\"ShelveLoc\", \"Urban\"]"),
        "{config}"
    );
    assert!(config.contains("positive = \"Yes\""), "{config}");
    assert!(config.contains("stratify = true"), "{config}");
    // A table with a row identifier and a constant column.
    let mut text = String::from("id,name,x,flat,y\n");
    for i in 0..60 {
        text.push_str(&format!("{},n{i},{},1,{}\n", i + 1, i % 9, i % 2));
    }
    write(tmp.path(), "ids.csv", &text);
    let out = burnfit(tmp.path())
        .args(["init", "ids.csv", "--label", "y", "--out", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let config = stdout(&out);
    assert!(
        config.contains("exclude = [\"id\", \"name\", \"flat\"]"),
        "{config}"
    );
    assert!(
        config.contains("#   flat: one value in every row"),
        "{config}"
    );
}

#[test]
fn init_refuses_what_it_cannot_decide_and_says_what_to_tell_it() {
    let tmp = TempDir::new().unwrap();
    let carseats = common::data("carseats.csv");
    let carseats = carseats.to_str().unwrap();
    for (args, words) in [
        // Whole numbers with few values: classes or a quantity?
        (vec!["--label", "Education"], "--loss mse"),
        (vec!["--label", "Education"], "--loss cross_entropy"),
        // A typo in the label.
        (vec!["--label", "sales"], "did you mean `Sales`?"),
    ] {
        let mut all = vec!["init", carseats, "--out", "-"];
        all.extend(&args);
        let out = burnfit(tmp.path()).args(&all).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
    }
    // Told, it writes.
    let out = burnfit(tmp.path())
        .args([
            "init",
            carseats,
            "--label",
            "Education",
            "--loss",
            "mse",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Two values that do not say which is positive.
    write(tmp.path(), "two.csv", "x,y\n1,cat\n2,dog\n3,cat\n4,dog\n");
    let out = burnfit(tmp.path())
        .args(["init", "two.csv", "--label", "y"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("--positive VALUE"),
        "{}",
        stderr(&out)
    );
    // An existing config is never replaced without --force, and never the data itself.
    write(tmp.path(), "two.toml", "# mine\n");
    let out = burnfit(tmp.path())
        .args(["init", "two.csv", "--label", "y", "--positive", "dog"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(tmp.path().join("two.toml")).unwrap(),
        "# mine\n"
    );
    let out = burnfit(tmp.path())
        .args([
            "init",
            "two.csv",
            "--label",
            "y",
            "--positive",
            "dog",
            "--out",
            "two.csv",
            "--force",
        ])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("inputs"), "{}", stderr(&out));
}

/// The case: college.csv is sorted by its label (`Yes` first), so the old defaults (L2,
/// the first 80 % train) reached 0.71. A config with only the path and label now gets z-scores
/// and a stratified shuffle, and reaches what such a run reaches.
#[test]
fn a_bare_config_on_a_sorted_file_gets_a_stratified_zscored_split() {
    let tmp = TempDir::new().unwrap();
    let data = common::data("college.csv");
    let bare = format!(
        "[data]\npath = {:?}\nlabel = \"Private\"\n",
        data.to_str().unwrap()
    );
    let cfg = write(tmp.path(), "bare.toml", &bare);
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap(), "--out", "bare"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(accuracy(&out) >= 0.9, "{}", stdout(&out));
    let resolved = fs::read_to_string(tmp.path().join("bare/config.toml")).unwrap();
    assert!(
        resolved.contains("normalize = \"zscore\"") && resolved.contains("stratify = true"),
        "{resolved}"
    );
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
    // The same file split in order: the warning names the cause and the way out, in the log,
    // the summary and the report.
    let out = burnfit(tmp.path())
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--set",
            "data.split.shuffle=false",
            "--out",
            "ordered",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: class 1 is") && err.contains("data.split.stratify = true"),
        "{err}"
    );
    let summary = fs::read_to_string(tmp.path().join("ordered/summary.json")).unwrap();
    assert!(summary.contains("\"data_warnings\""), "{summary}");
    let report = fs::read_to_string(tmp.path().join("ordered/report.html")).unwrap();
    assert!(report.contains("data warnings"));
    // `--set data.path` on the built-in seed: a file source, no word about the seed's keys.
    let out = burnfit(tmp.path())
        .args([
            "train",
            "--dry-run",
            "--set",
            &format!("data.path={}", data.display()),
            "--set",
            "data.label=Private",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("data.synthetic"), "{}", stderr(&out));
}

#[test]
fn every_text_column_is_named_in_one_error_with_the_line_to_add() {
    let tmp = TempDir::new().unwrap();
    let data = common::data("carseats.csv");
    let cfg = write(
        tmp.path(),
        "c.toml",
        &format!(
            "[data]\npath = {:?}\nlabel = \"Sales\"\n[train]\nloss = \"mse\"\n",
            data.to_str().unwrap()
        ),
    );
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("3 columns hold text")
            && err.contains("categorical = [\"ShelveLoc\", \"Urban\", \"US\"]"),
        "{err}"
    );
    // A numeric label under the default loss names the loss to use.
    let cfg = write(
        tmp.path(),
        "n.toml",
        &format!(
            "[data]\npath = {:?}\nlabel = \"Sales\"\ncategorical = [\"ShelveLoc\", \"Urban\", \"US\"]\n",
            data.to_str().unwrap()
        ),
    );
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("train.loss = \"mse\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn predictions_name_classes_number_data_rows_and_keep_columns() {
    let tmp = TempDir::new().unwrap();
    let mut text = String::from("id,x,y\n");
    for i in 0..200 {
        let x = (i % 20) as f64 / 10.0 - 1.0;
        text.push_str(&format!(
            "row{i},{x},{}\n",
            if x > 0.0 { "Yes" } else { "No" }
        ));
    }
    write(tmp.path(), "d.csv", &text);
    let cfg = write(
        tmp.path(),
        "d.toml",
        "[data]\npath = \"d.csv\"\nlabel = \"y\"\nexclude = [\"id\"]\n[train]\nepochs = 5\n",
    );
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    let out = burnfit(tmp.path())
        .args([
            "predict", "--model", "run", "--data", "d.csv", "--out", "-", "--keep", "id",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let preds = stdout(&out);
    let mut lines = preds.lines();
    assert_eq!(lines.next(), Some("row,id,probability,class"));
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((first[0], first[1]), ("1", "row0"), "{preds}");
    assert!(["Yes", "No"].contains(&first[3]), "{preds}");
    assert_eq!(preds.lines().count(), 201);
    // A column the file lacks is named.
    let out = burnfit(tmp.path())
        .args([
            "predict", "--model", "run", "--data", "d.csv", "--out", "-", "--keep", "ID",
        ])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("no column `ID`"), "{}", stderr(&out));
}

#[test]
fn completions_come_from_the_cli_itself() {
    let tmp = TempDir::new().unwrap();
    let out = burnfit(tmp.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = stdout(&out);
    assert!(
        script.contains("burnfit") && script.contains("init"),
        "{script}"
    );
}

/// smarket's `Today` is the day's return, whose sign is `Direction`: init says so (it does not
/// exclude it on a guess), in the config and on stderr.
#[test]
fn init_warns_of_a_column_that_alone_separates_the_classes() {
    let tmp = TempDir::new().unwrap();
    let mut text = String::from("lag,today,direction\n");
    for i in 0..200 {
        let today = (i as f64 * 0.37).sin();
        let lag = ((i * 7) % 13) as f64 / 13.0;
        let dir = if today > 0.0 { "Up" } else { "Down" };
        text.push_str(&format!("{lag},{today},{dir}\n"));
    }
    write(tmp.path(), "m.csv", &text);
    let out = burnfit(tmp.path())
        .args(["init", "m.csv", "--label", "direction", "--out", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`today` alone separates the classes in 100.0 % of rows"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("# warning: `today`"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("`lag`"), "{}", stderr(&out));
}

/// `init --label a,b`: several yes/no columns become one config with a label list that trains
/// with no edit (a sigmoid each, a shuffled split); several numbers become targets; a column
/// that fits neither reading, or a mix, is refused naming it.
#[test]
fn init_writes_a_label_list_for_several_yes_no_or_numeric_columns() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let mut text = String::from("x,z,color,wet,cold,temp,hum,mood\n");
    for i in 0..300u32 {
        let x = (i * 37 % 101) as f32 / 10.0;
        let z = (i * 53 % 89) as f32 / 9.0;
        let color = ["red", "blue", "green"][(i % 3) as usize];
        let wet = if x > 5.0 { "yes" } else { "no" };
        let cold = u32::from(z < 4.0);
        let temp = 20.0 - z + x / 3.0;
        let hum = 40.0 + x * 2.5;
        let mood = ["up", "down"][(i % 2) as usize];
        text.push_str(&format!(
            "{x},{z},{color},{wet},{cold},{temp:.3},{hum:.3},{mood}\n"
        ));
    }
    write(dir, "w.csv", &text);
    // Two yes/no columns, given comma-separated.
    ok(
        dir,
        &["init", "w.csv", "--label", "wet,cold", "--out", "w.toml"],
    );
    let config = fs::read_to_string(dir.join("w.toml")).unwrap();
    assert!(config.contains("label = [\"wet\", \"cold\"]"), "{config}");
    assert!(config.contains("loss = \"bce\""), "{config}");
    assert!(!config.contains("positive ="), "{config}");
    let out = ok(dir, &["train", "--config", "w.toml", "--out", "labels"]);
    assert!(!stderr(&out).contains("cannot act"), "{}", stderr(&out));
    let s = summary(dir, "labels");
    assert_eq!(s["per_label"].as_array().map(Vec::len), Some(2), "{s}");
    // Two numbers, given repeated: targets.
    let init = [
        "init", "w.csv", "--label", "temp", "--label", "hum", "--out", "t.toml",
    ];
    ok(dir, &init);
    let config = fs::read_to_string(dir.join("t.toml")).unwrap();
    assert!(config.contains("label = [\"temp\", \"hum\"]"), "{config}");
    assert!(config.contains("loss = \"mse\""), "{config}");
    let out = ok(dir, &["train", "--config", "t.toml", "--out", "targets"]);
    assert!(!stderr(&out).contains("cannot act"), "{}", stderr(&out));
    // Refused, naming the column: a mix, a two-valued column that is not yes/no, classes,
    // --positive, and a column named twice.
    for (labels, extra, words) in [
        ("wet,temp", &[][..], "`temp`"),
        ("wet,mood", &[], "`mood`"),
        ("wet,color", &[], "`color`"),
        ("wet,cold", &["--positive", "yes"][..], "--positive"),
        ("wet,wet", &[], "named twice"),
    ] {
        let mut args = vec!["init", "w.csv", "--label", labels, "--out", "-"];
        args.extend(extra);
        let out = burnfit(dir).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{labels}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{labels}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}
