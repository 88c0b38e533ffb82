//! Exports checked by the runtimes people deploy with: onnxruntime runs the ONNX graph on raw
//! CSV rows, and a numpy forward pass reads the safetensors weights and metadata; both must give
//! `burnfit predict`'s outputs. And back: `--init-from` a safetensors export.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use common::{burnfit, data, stderr, stdout, train, write};
use tempfile::TempDir;

/// A Python with onnxruntime, safetensors and numpy (`common::python_or_skip`).
fn python_or_skip(test: &str) -> Option<PathBuf> {
    common::python_or_skip(test, "onnxruntime, safetensors, numpy")
}

/// The script's lines: `value[,class]` per row.
fn consumer(python: &Path, kind: &str, model: &Path, csv: &Path) -> Vec<(f64, Option<u8>)> {
    let script = common::manifest_dir().join("../../tests/python/check_export.py");
    let out = StdCommand::new(python)
        .arg(script)
        .arg(kind)
        .arg(model)
        .arg(csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut parts = l.split(',');
            let v = parts.next().unwrap().parse().unwrap();
            (v, parts.next().map(|c| c.parse().unwrap()))
        })
        .collect()
}

/// `burnfit predict`'s `(value, class)` per row.
fn predicted(dir: &Path, run: &str, csv: &Path) -> Vec<(f64, Option<u8>)> {
    let out = burnfit(dir)
        .args(["predict", "--model", run, "--data"])
        .arg(csv)
        .args(["--out", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[1].parse().unwrap(),
                cells.get(2).map(|c| c.parse().unwrap()),
            )
        })
        .collect()
}

fn export(dir: &Path, run: &str, format: &str, out: &str) -> PathBuf {
    let o = burnfit(dir)
        .args(["export", "--model", run, "--format", format, "--out", out])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join(out)
}

/// `burnfit synth` of 300 rows, seed 9, with `args` (which name `--out`): the written CSV.
fn synth(dir: &Path, args: &[&str]) -> PathBuf {
    let out = burnfit(dir)
        .args(["synth", "--rows", "300", "--seed", "9"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let at = args
        .iter()
        .position(|&a| a == "--out")
        .expect("args name --out");
    dir.join(args[at + 1])
}

/// The run `run` exported to ONNX (read by onnxruntime) and to safetensors (read by numpy)
/// gives `predict`'s probabilities and classes on the rows of `csv`.
fn both_reproduce_predict(python: &Path, dir: &Path, run: &str, csv: &Path) {
    let want = predicted(dir, run, csv);
    let onnx = export(dir, run, "onnx", &format!("{run}.onnx"));
    assert_same(
        &format!("onnxruntime, {run}"),
        &consumer(python, "onnx", &onnx, csv),
        &want,
    );
    let st = export(dir, run, "safetensors", &format!("{run}.safetensors"));
    assert_same(
        &format!("numpy over safetensors, {run}"),
        &consumer(python, "numpy", &st, csv),
        &want,
    );
}

fn assert_same(what: &str, got: &[(f64, Option<u8>)], want: &[(f64, Option<u8>)]) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // predict writes six decimals: 1e-5 is its rounding and the runtimes' float32 with room.
        assert!(
            (g.0 - w.0).abs() < 1e-5,
            "{what} row {i}: {} vs predict's {}",
            g.0,
            w.0
        );
        if let (Some(gc), Some(wc)) = (g.1, w.1) {
            // A class may differ only where the probability sits on the threshold.
            assert!(
                gc == wc || (w.0 - 0.5).abs() < 1e-5,
                "{what} row {i}: class {gc} vs {wc}"
            );
        }
    }
}

#[test]
fn onnx_and_safetensors_exports_reproduce_predict_on_raw_rows_with_categories_and_gaps() {
    let Some(python) = python_or_skip("onnx_and_safetensors_exports_reproduce_predict") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Four categorical columns, one missing cell, a 0/1 label.
    let csv = data("braincancer.csv");
    write(
        dir,
        "brain.toml",
        &format!(
            "seed = 2\n[data]\nsource = \"csv\"\npath = {:?}\nlabel = \"status\"\ncategorical = [\"sex\", \"diagnosis\", \"loc\", \"stereo\"]\nmissing = \"mean\"\nnormalize = \"zscore\"\n[data.split]\nshuffle = true\n[train]\nepochs = 15\nbatch_size = 8\n",
            csv.display().to_string()
        ),
    );
    train(dir, &["--config", "brain.toml", "--out", "brain"]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains(",NA,") || text.contains(",NA\n"),
        "the fixture keeps its missing cell"
    );
    both_reproduce_predict(&python, dir, "brain", &csv);

    // The seed run itself (its network, data and l2 scaling; one epoch of its ten), on fresh
    // rows of its generator.
    let seed = common::manifest_dir().join("../../configs/seed.toml");
    train(
        dir,
        &[
            "--config",
            seed.to_str().unwrap(),
            "--set",
            "train.epochs=1",
            "--out",
            "syn",
        ],
    );
    let rows = synth(dir, &["--features", "100", "--out", "rows.csv"]);
    write(dir, "small.toml", common::SMALL);
    both_reproduce_predict(&python, dir, "syn", &rows);
    train(
        dir,
        &[
            "--config",
            "small.toml",
            "--set",
            "data.synthetic.task=\"regression\"",
            "--set",
            "train.loss=\"mse\"",
            // GELU's exact (erf) form, in the graph and in numpy.
            "--set",
            "model.activation=\"gelu\"",
            "--out",
            "reg",
        ],
    );
    let reg_rows = synth(
        dir,
        &[
            "--features",
            "10",
            "--informative",
            "4",
            "--task",
            "regression",
            "--out",
            "reg.csv",
        ],
    );
    both_reproduce_predict(&python, dir, "reg", &reg_rows);
}

#[test]
fn a_safetensors_export_round_trips_through_init_from() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "small.toml", common::SMALL);
    train(dir, &["--config", "small.toml", "--out", "a"]);
    export(dir, "a", "safetensors", "a.safetensors");
    // One epoch at a learning rate too small to move a float32 weight: the imported weights,
    // unchanged.
    let out = train(
        dir,
        &[
            "--config",
            "small.toml",
            "--init-from",
            "a.safetensors",
            "--set",
            "train.lr=1e-30",
            "--set",
            "train.epochs=1",
            "--out",
            "b",
        ],
    );
    assert!(
        stderr(&out).contains("initial weights: a.safetensors"),
        "{}",
        stderr(&out)
    );
    let rows = dir.join("rows.csv");
    let o = burnfit(dir)
        .args([
            "synth",
            "--rows",
            "200",
            "--features",
            "10",
            "--informative",
            "4",
            "--seed",
            "4",
            "--out",
            "rows.csv",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        predicted(dir, "a", &rows),
        predicted(dir, "b", &rows),
        "the same predictions"
    );
    // A file of other shapes is refused before a run folder exists.
    common::fails(
        dir,
        "shapes",
        &[
            "train",
            "--config",
            "small.toml",
            "--set",
            "model.hidden=[16]",
            "--init-from",
            "a.safetensors",
            "--out",
            "c",
        ],
        &["a.safetensors", "dense layers"],
    );
    common::fails(
        dir,
        "widths",
        &[
            "train",
            "--config",
            "small.toml",
            "--set",
            "model.hidden=[64, 16]",
            "--init-from",
            "a.safetensors",
            "--out",
            "c",
        ],
        &["0.weight has shape"],
    );
    // Weights that are NaN: said naming the tensor, not blamed on the learning rate at step 1.
    // The data follow the 8-byte header length and the JSON header; the first value is made NaN.
    let mut st = fs::read(dir.join("a.safetensors")).unwrap();
    let header = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    st[8 + header..8 + header + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    fs::write(dir.join("nan.safetensors"), st).unwrap();
    common::fails(
        dir,
        "NaN weights",
        &[
            "train",
            "--config",
            "small.toml",
            "--init-from",
            "nan.safetensors",
            "--out",
            "c",
        ],
        &["nan.safetensors", "holds NaN at index", "must be finite"],
    );
    assert!(!dir.join("c").exists());
    // Exports follow the output rule.
    common::fails(
        dir,
        "overwrite",
        &[
            "export",
            "--model",
            "a",
            "--format",
            "onnx",
            "--out",
            "a.safetensors",
        ],
        &["--force"],
    );
    common::fails(
        dir,
        "a run's file",
        &[
            "export",
            "--model",
            "a",
            "--format",
            "onnx",
            "--out",
            "a/model.bpk",
            "--force",
        ],
        &["never overwritten"],
    );
}

/// The raw lines of `check_export.py` or of `predict --out -` (header dropped), as numbers:
/// a k-class row is k probabilities, then the class (an index for ONNX, a name for predict).
fn lines(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn a_k_class_export_gives_predicts_probabilities_and_class_in_onnxruntime_and_numpy() {
    let Some(python) = python_or_skip("a_k_class_export_gives_predicts_probabilities") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Carseats: a 3-class text label (`ShelveLoc`), two Yes/No categorical columns.
    let csv = data("carseats.csv");
    write(
        dir,
        "shelf.toml",
        &format!(
            "seed = 3\n[data]\npath = {:?}\nlabel = \"ShelveLoc\"\ncategorical = [\"Urban\", \"US\"]\nnormalize = \"zscore\"\n[train]\nloss = \"cross_entropy\"\nepochs = 20\nbatch_size = 16\n",
            csv.display().to_string()
        ),
    );
    train(dir, &["--config", "shelf.toml", "--out", "shelf"]);
    let out = burnfit(dir)
        .args(["predict", "--model", "shelf", "--data"])
        .arg(&csv)
        .args(["--out", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().next().unwrap(),
        "row,class,probability_Bad,probability_Good,probability_Medium"
    );
    // predict's rows: row, class name, 3 probabilities.
    let want: Vec<(Vec<f64>, String)> = lines(&text)[1..]
        .iter()
        .map(|c| {
            (
                c[2..].iter().map(|v| v.parse().unwrap()).collect(),
                c[1].clone(),
            )
        })
        .collect();
    let names = ["Bad", "Good", "Medium"];
    let onnx = export(dir, "shelf", "onnx", "shelf.onnx");
    let st = export(dir, "shelf", "safetensors", "shelf.safetensors");
    for (kind, file) in [("onnx", &onnx), ("numpy", &st)] {
        let script = common::manifest_dir().join("../../tests/python/check_export.py");
        let o = StdCommand::new(&python)
            .arg(script)
            .args([kind.as_ref(), file.as_os_str(), csv.as_os_str()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = lines(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(got.len(), want.len(), "{kind}: rows");
        let mut classes_seen = std::collections::BTreeSet::new();
        for (i, (g, (p, class))) in got.iter().zip(&want).enumerate() {
            for j in 0..3 {
                let v: f64 = g[j].parse().unwrap();
                assert!(
                    (v - p[j]).abs() < 1e-5,
                    "{kind} row {i}: {v} vs predict's {}",
                    p[j]
                );
            }
            if kind == "onnx" {
                let c: usize = g[3].parse().unwrap();
                assert_eq!(names[c], class, "{kind} row {i}");
            }
            classes_seen.insert(class.clone());
        }
        assert!(
            classes_seen.len() >= 2,
            "a model that predicts one class tests little"
        );
    }
    // The class names travel in the ONNX metadata.
    let o = StdCommand::new(&python)
        .args([
            "-c",
            "import onnxruntime as o,sys; print(o.InferenceSession(sys.argv[1]).get_modelmeta().custom_metadata_map['burnfit.classes'])",
        ])
        .arg(&onnx)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        r#"["Bad","Good","Medium"]"#
    );
}

/// Several yes/no labels (each at its own threshold) and several numeric targets: the ONNX
/// export's `probability` and `class` `[N, k]`, or `prediction` `[N, k]`, and numpy over the
/// safetensors weights give what `predict` writes.
#[test]
fn exports_of_several_labels_give_predicts_columns_in_onnxruntime_and_numpy() {
    let Some(python) = python_or_skip("exports_of_several_labels_give_predicts_columns") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let csv = data("carseats.csv");
    for (run, labels, loss, extra) in [
        ("tags", "[\"Urban\", \"US\"]", "bce", "threshold = \"f1\"\n"),
        ("targets", "[\"Sales\", \"CompPrice\"]", "mse", ""),
    ] {
        write(
            dir,
            &format!("{run}.toml"),
            &format!(
                "seed = 3\n[data]\npath = {:?}\nlabel = {labels}\ncategorical = [\"ShelveLoc\"{}]\nnormalize = \"zscore\"\n[train]\nloss = \"{loss}\"\nepochs = 10\nbatch_size = 16\n{extra}",
                csv.display().to_string(),
                if loss == "mse" { ", \"Urban\", \"US\"" } else { "" }
            ),
        );
        train(dir, &["--config", &format!("{run}.toml"), "--out", run]);
        let out = burnfit(dir)
            .args(["predict", "--model", run, "--data"])
            .arg(&csv)
            .args(["--out", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let model: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(run).join("model.json")).unwrap()).unwrap();
        let thresholds: Vec<f64> = model["thresholds"]
            .as_array()
            .map(|t| t.iter().map(|v| v.as_f64().unwrap()).collect())
            .unwrap_or_default();
        // predict's columns: probability and class per label, or a prediction per target.
        let want: Vec<Vec<f64>> = lines(&stdout(&out))[1..]
            .iter()
            .map(|c| c[1..].iter().map(|v| v.parse().unwrap()).collect())
            .collect();
        for (kind, format, file) in [
            ("onnx", "onnx", format!("{run}.onnx")),
            ("numpy", "safetensors", format!("{run}.safetensors")),
        ] {
            let model = export(dir, run, format, &file);
            let script = common::manifest_dir().join("../../tests/python/check_export.py");
            let o = StdCommand::new(&python)
                .arg(script)
                .args([kind.as_ref(), model.as_os_str(), csv.as_os_str()])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{run} {kind}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let got = lines(&String::from_utf8_lossy(&o.stdout));
            assert_eq!(got.len(), want.len(), "{run} {kind}: rows");
            let mut ones = 0.0;
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let g: Vec<f64> = g.iter().map(|v| v.parse().unwrap()).collect();
                // predict: p_a, class_a, p_b, class_b; the script: p_a, p_b, class_a, class_b.
                let (values, classes): (Vec<f64>, Vec<f64>) = if loss == "bce" {
                    (
                        (0..2).map(|j| w[2 * j]).collect(),
                        (0..2).map(|j| w[2 * j + 1]).collect(),
                    )
                } else {
                    (w.clone(), Vec::new())
                };
                for (j, want) in values.iter().enumerate() {
                    let tolerance = if loss == "bce" {
                        1e-5
                    } else {
                        1e-4 * want.abs().max(1.0)
                    };
                    assert!(
                        (g[j] - want).abs() < tolerance,
                        "{run} {kind} row {i} output {j}: {} vs predict's {want}",
                        g[j]
                    );
                }
                if kind == "onnx" && loss == "bce" {
                    for j in 0..2 {
                        // A class may differ only where the probability sits on its threshold.
                        assert!(
                            g[2 + j] == classes[j] || (values[j] - thresholds[j]).abs() < 1e-5,
                            "{run} {kind} row {i} label {j}: class {} vs {}",
                            g[2 + j],
                            classes[j]
                        );
                    }
                    ones += classes.iter().sum::<f64>();
                }
            }
            if kind == "onnx" && loss == "bce" {
                assert!(
                    ones > 0.0 && ones < 2.0 * want.len() as f64,
                    "every class the same"
                );
            }
        }
    }
    // The label names and each label's threshold travel in the metadata.
    let o = StdCommand::new(&python)
        .args([
            "-c",
            "import onnxruntime as o,sys; m=o.InferenceSession(sys.argv[1]).get_modelmeta().custom_metadata_map; print(m['burnfit.labels']); print(len(__import__('json').loads(m['burnfit.thresholds'])))",
        ])
        .arg(dir.join("tags.onnx"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "[\"Urban\",\"US\"]\n2"
    );
}
