//! Helpers shared by the end-to-end test files: each test runs the built `burnfit` binary in a
//! fresh temporary folder.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

pub mod browser;

use assert_cmd::Command;
use tempfile::TempDir;

/// The built binary, run in `dir`. Its parsed-data cache is the test build's own folder under
/// `target/tmp`, never the user's `~/.cache/burnfit` (tests/cache.rs gives each test its own).
pub fn burnfit(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("burnfit").unwrap();
    cmd.current_dir(dir);
    cmd.env(
        "XDG_CACHE_HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache"),
    );
    cmd
}

/// The runner crate's folder, as cargo says when it runs the test (a test binary built from
/// another clone of the repository, and reused from a shared target folder, would otherwise
/// look for its files in that clone, which may be gone).
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A fixture CSV under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    manifest_dir().join("../../tests/data").join(name)
}

/// A small, fast synthetic config (2,000 rows × 10 features, 3 epochs).
pub const SMALL: &str = r#"
seed = 7
[data]
source = "synthetic"
normalize = "zscore"
[data.synthetic]
rows = 2000
features = 10
informative = 4
[train]
epochs = 3
batch_size = 64
"#;

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

/// Captured stdout as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Captured stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `burnfit ARGS` in `dir` and returns its output, asserting success (stderr shown on
/// failure).
pub fn ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = burnfit(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    out
}

/// Runs `burnfit train` and returns its output, asserting success.
pub fn train(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = burnfit(dir).arg("train").args(args).output().unwrap();
    assert!(out.status.success(), "train failed:\n{}", stderr(&out));
    out
}

/// A run's `summary.json` at `path`, parsed.
pub fn summary_at(path: &Path) -> serde_json::Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The run folder `dir/run`'s `summary.json`, parsed.
pub fn summary(dir: &Path, run: &str) -> serde_json::Value {
    summary_at(&dir.join(run).join("summary.json"))
}

/// Whether a wgpu adapter (a GPU, or Mesa's lavapipe) is present. Without one, a wgpu test is
/// skipped with a reason printed past the test harness's capture, unless
/// `BURNFIT_REQUIRE_WGPU` is set (as `.ci/run` does), in which case the test fails.
pub fn wgpu_or_skip(test: &str) -> bool {
    use std::io::Write as _;
    let tmp = TempDir::new().unwrap();
    let out = burnfit(tmp.path()).arg("devices").output().unwrap();
    let listing = stdout(&out);
    if listing.contains("wgpu adapter:") {
        return true;
    }
    if std::env::var_os("BURNFIT_REQUIRE_WGPU").is_some() {
        panic!(
            "BURNFIT_REQUIRE_WGPU is set but `burnfit devices` found no wgpu adapter:\n{listing}"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: no wgpu adapter on this machine (install Debian's mesa-vulkan-drivers \
         for the lavapipe software adapter; set BURNFIT_REQUIRE_WGPU=1 to make this a failure)"
    );
    false
}

/// A Python that can `import {modules}`: `BURNFIT_PYTHON`, else `python3` if it can. Without
/// one the test is skipped with the reason printed, unless `BURNFIT_REQUIRE_PYTHON` is set
/// (`.ci/run` makes a venv and sets both), in which case it fails.
pub fn python_or_skip(test: &str, modules: &str) -> Option<PathBuf> {
    let candidate =
        std::env::var_os("BURNFIT_PYTHON").map_or_else(|| "python3".into(), PathBuf::from);
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    if std::env::var_os("BURNFIT_REQUIRE_PYTHON").is_some() {
        panic!(
            "BURNFIT_REQUIRE_PYTHON is set but {} cannot import {modules}",
            candidate.display()
        );
    }
    eprintln!(
        "skipping {test}: no Python that can import {modules} (pip install them in a venv and set BURNFIT_PYTHON; set BURNFIT_REQUIRE_PYTHON=1 to make this a failure)"
    );
    None
}

/// Asserts that `args` (run in `dir`) fails with exit code 1, an `error:` line that contains
/// each of `expect`, no panic and no backtrace, and at most `max_lines` lines of stderr.
pub fn fails(dir: &Path, case: &str, args: &[&str], expect: &[&str]) -> String {
    let out = burnfit(dir).args(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{case}: {err}");
    assert!(err.contains("error: "), "{case}: {err}");
    for e in expect {
        assert!(err.contains(e), "{case}: expected `{e}` in:\n{err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{case}: {err}"
    );
    // The error itself (not the training log before it) is short: one line with causes.
    // Mesa's software Vulkan driver prints its own XDG_RUNTIME_DIR complaint; not ours.
    let error_part: String = err[err.find("error: ").unwrap()..]
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        error_part.lines().count() <= 4,
        "{case}: long error:\n{error_part}"
    );
    // `BURNFIT_PRINT_ERRORS=1 cargo test --release --test reliability -- --nocapture` prints
    // each case's message, which is how the table in docs/RELIABILITY.md is kept current.
    if std::env::var_os("BURNFIT_PRINT_ERRORS").is_some() {
        println!(
            "CASE {case}\t{}",
            error_part.trim_end().replace('\n', " / ")
        );
    }
    error_part
}

/// Writes `out` with `burnfit synth`: `rows` × 10 features, the first `informative` carrying
/// the signal, from `seed`.
pub fn synth(dir: &Path, rows: usize, informative: usize, seed: u64, out: &str) {
    let done = burnfit(dir)
        .args(["synth", "--rows", &rows.to_string(), "--features", "10"])
        .args([
            "--informative",
            &informative.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--out", out])
        .output()
        .unwrap();
    assert!(done.status.success(), "synth failed:\n{}", stderr(&done));
}

/// `burnfit evaluate --json` of the run folder `run` on `data`, on `backend`.
pub fn evaluate_json(dir: &Path, run: &str, data: &str, backend: &str) -> serde_json::Value {
    let out = burnfit(dir)
        .args(["evaluate", "--model", run, "--data", data, "--json"])
        .args(["--backend", backend])
        .output()
        .unwrap();
    assert!(out.status.success(), "evaluate failed:\n{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}
