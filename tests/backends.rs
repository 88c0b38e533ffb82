//! Backends agree: the parity command on the seed network and data, a model moving between
//! backends, and wgpu for real where an adapter exists (lavapipe in CI).

mod common;

use common::*;
use tempfile::TempDir;

/// Runs `burnfit parity --json` and returns each backend's (name, weight_rel_diff, tolerance).
fn parity(dir: &std::path::Path, backends: &str, steps: &str) -> Vec<(String, f64, f64)> {
    parity_with(dir, backends, steps, &[])
}

/// [`parity`] with extra arguments (`--set ...`).
fn parity_with(
    dir: &std::path::Path,
    backends: &str,
    steps: &str,
    extra: &[&str],
) -> Vec<(String, f64, f64)> {
    let out = burnfit(dir)
        .args(["parity", "--backends", backends, "--steps", steps, "--json"])
        .args(extra)
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
fn flex_and_ndarray_agree_with_strict_ieee_subnormals_too() {
    let tmp = TempDir::new().unwrap();
    let set = ["--set", "backend.flush_denormals=false"];
    let runs = parity_with(tmp.path(), "flex,ndarray", "100", &set);
    let (name, diff, _) = &runs[1];
    assert_eq!(name, "ndarray");
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

/// Trains the small config on flex, then evaluates fresh rows on flex and on `other`: the same
/// weights give the same loss (within `tolerance`) and the same accuracy.
fn trained_on_flex_evaluates_alike_on(other: &str, tolerance: f64) {
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    train(
        tmp.path(),
        &["--config", cfg.to_str().unwrap(), "--out", "run"],
    );
    synth(tmp.path(), 500, 4, 9, "data.csv");
    let flex = evaluate_json(tmp.path(), "run", "data.csv", "flex");
    let them = evaluate_json(tmp.path(), "run", "data.csv", other);
    let loss = |v: &serde_json::Value| v["metrics"]["loss"].as_f64().unwrap();
    assert!(
        (loss(&flex) - loss(&them)).abs() < tolerance * loss(&flex).max(1.0),
        "{flex} vs {them}"
    );
    assert_eq!(flex["metrics"]["accuracy"], them["metrics"]["accuracy"]);
}

#[test]
fn a_model_trained_on_flex_evaluates_on_ndarray() {
    trained_on_flex_evaluates_alike_on("ndarray", 1e-5);
}

#[test]
fn a_model_trained_on_flex_evaluates_on_wgpu() {
    if wgpu_or_skip("a_model_trained_on_flex_evaluates_on_wgpu") {
        trained_on_flex_evaluates_alike_on("wgpu", 1e-4);
    }
}

#[test]
fn wgpu_names_the_adapter_it_opened() {
    if !wgpu_or_skip("wgpu_names_the_adapter_it_opened") {
        return;
    }
    let tmp = TempDir::new().unwrap();
    let cfg = write(tmp.path(), "small.toml", SMALL);
    let out = burnfit(tmp.path())
        .args(["train", "--config", cfg.to_str().unwrap(), "--dry-run"])
        .args(["--set", "backend.kind=wgpu"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err.lines().find(|l| l.starts_with("backend: ")).unwrap();
    // `device = "default"` matches no enumerated adapter; the line names the one wgpu opened,
    // not a `Device<Cube(Wgpu(…))>` debug dump.
    assert!(
        line.starts_with("backend: wgpu: ") && !line.contains("Device<"),
        "{line}"
    );
    // lavapipe (CI's adapter) is a software renderer: said once, with what it means for speed.
    if line.contains("llvmpipe") {
        assert!(
            err.contains("warning: wgpu found no GPU, only a software renderer"),
            "{err}"
        );
    }
}

#[test]
fn parity_rejects_unknown_backends_and_single_backends() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let parity = |backends| ["parity", "--backends", backends, "--steps", "1"];
    fails(
        d,
        "unknown backend",
        &parity("flex,tpu"),
        &["`tpu` is not a backend"],
    );
    fails(
        d,
        "one backend",
        &parity("flex"),
        &["at least two backends"],
    );
}
