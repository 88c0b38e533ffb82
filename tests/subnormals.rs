//! `backend.flush_denormals`: every kind of compute thread flushes subnormal floats to zero by
//! default and keeps them with the key off, as the binary itself observes by computing
//! (`burnfit devices`); the mode that ran is in the resolved config and `summary.json`.

mod common;

use common::*;
use tempfile::TempDir;

/// The kinds of thread `burnfit devices` probes.
const THREADS: [&str; 5] = [
    "main thread",
    "rayon pool",
    "loader workers",
    "flex matmul",
    "ndarray matmul",
];

/// Each probed kind of thread and what it did with a subnormal product.
fn probes(dir: &std::path::Path, args: &[&str]) -> Vec<(String, String)> {
    let out = burnfit(dir).arg("devices").args(args).output().unwrap();
    assert!(out.status.success(), "devices failed:\n{}", stderr(&out));
    let text = stdout(&out);
    THREADS
        .iter()
        .map(|t| {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(t))
                .unwrap_or_else(|| panic!("no `{t}` line in:\n{text}"));
            (
                t.to_string(),
                line.split_whitespace().last().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_compute_thread_flushes_by_default_and_keeps_subnormals_when_asked() {
    let tmp = TempDir::new().unwrap();
    let supported = cfg!(any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "aarch64"
    ));
    let want = if supported { "flushed" } else { "kept" };
    for (thread, seen) in probes(tmp.path(), &[]) {
        assert_eq!(seen, want, "{thread}, default");
    }
    let off = ["--set", "backend.flush_denormals=false"];
    for (thread, seen) in probes(tmp.path(), &off) {
        assert_eq!(seen, "kept", "{thread}, flush_denormals = false");
    }
}

#[test]
fn the_mode_that_ran_is_in_the_resolved_config_and_the_summary() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "small.toml", SMALL);
    let cfg = cfg.to_str().unwrap();
    for (flush, run) in [("true", "on"), ("false", "off")] {
        let set = format!("backend.flush_denormals={flush}");
        train(d, &["--config", cfg, "--set", &set, "--out", run]);
        let resolved = std::fs::read_to_string(d.join(run).join("config.toml")).unwrap();
        assert!(
            resolved.contains(&format!("flush_denormals = {flush}")),
            "{resolved}"
        );
        let summary = summary(d, run);
        assert_eq!(summary["flush_denormals"].to_string(), flush);
    }
}
