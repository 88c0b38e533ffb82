//! Backends agree: the parity command on the seed network and data, a model moving between
//! backends, and wgpu for real where an adapter exists (lavapipe in CI).

mod common;

use common::*;
use tempfile::TempDir;

/// Runs `burnfit parity --json` and returns each backend's (name, weight_rel_diff, tolerance).
fn parity(dir: &std::path::Path, backends: &str, steps: &str) -> Vec<(String, f64, f64)> {
    let out = burnfit(dir)
        .args(["parity", "--backends", backends, "--steps", steps, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "parity failed:\n{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["steps"].as_u64().unwrap().to_string(), steps);
    report["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let losses = b["losses"].as_array().unwrap();
            assert_eq!(losses.len().to_string(), steps);
            assert!(losses.iter().all(|l| l.as_f64().unwrap().is_finite()));
            (
                b["name"].as_str().unwrap().to_string(),
                b["weight_rel_diff"].as_f64().unwrap(),
                b["tolerance"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn flex_and_ndarray_agree_to_1e_5_after_100_seed_steps() {
    let tmp = TempDir::new().unwrap();
    // The built-in seed config: 100,000 × 100 synthetic rows, 100-128-64-1, Adam, batch 32.
    let runs = parity(tmp.path(), "flex,ndarray", "100");
    assert_eq!(runs[0], ("flex".into(), 0.0, 1e-5));
    let (name, diff, _) = &runs[1];
    assert_eq!(name, "ndarray");
    // Not zero (they are different backends) but within the promise.
    assert!(*diff > 0.0 && *diff < 1e-5, "ndarray drifted {diff:e}");
}

#[test]
fn wgpu_agrees_with_flex_to_1e_3() {
    if !wgpu_or_skip("wgpu_agrees_with_flex_to_1e_3") {
        return;
    }
    let tmp = TempDir::new().unwrap();
    // A few steps: lavapipe runs the GPU kernels on the CPU, slowly.
    let runs = parity(tmp.path(), "flex,wgpu", "20");
    let (name, diff, tol) = &runs[1];
    assert_eq!((name.as_str(), *tol), ("wgpu", 1e-3));
    assert!(*diff < 1e-3, "wgpu drifted {diff:e}");
}

#[test]
fn a_model_trained_on_flex_evaluates_on_wgpu() {
    if !wgpu_or_skip("a_model_trained_on_flex_evaluates_on_wgpu") {
        return;
    }
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    let cfg = cfg.to_str().unwrap();
    train(tmp.path(), &["--config", cfg, "--out", "run"]);
    let csv = tmp.path().join("data.csv");
    let synth = burnfit(tmp.path())
        .args([
            "synth",
            "--rows",
            "500",
            "--features",
            "10",
            "--informative",
            "4",
        ])
        .args(["--seed", "9", "--out", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(synth.status.success());
    let eval = |backend: &str| -> serde_json::Value {
        let out = burnfit(tmp.path())
            .args([
                "evaluate",
                "--model",
                "run",
                "--data",
                csv.to_str().unwrap(),
            ])
            .args(["--json", "--backend", backend])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let (flex, wgpu) = (eval("flex"), eval("wgpu"));
    let loss = |v: &serde_json::Value| v["metrics"]["loss"].as_f64().unwrap();
    assert!((loss(&flex) - loss(&wgpu)).abs() < 1e-4, "{flex} vs {wgpu}");
    assert_eq!(flex["metrics"]["accuracy"], wgpu["metrics"]["accuracy"]);
}

#[test]
fn parity_rejects_unknown_backends_and_single_backends() {
    let tmp = TempDir::new().unwrap();
    let out = burnfit(tmp.path())
        .args(["parity", "--backends", "flex,tpu", "--steps", "1"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("`tpu` is not a backend"), "{err}");
    let out = burnfit(tmp.path())
        .args(["parity", "--backends", "flex", "--steps", "1"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("at least two backends"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
}
