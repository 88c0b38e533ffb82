//! Helpers shared by the end-to-end test files: each test runs the built `burnfit` binary in a
//! fresh temporary folder.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// The built binary, run in `dir`.
pub fn burnfit(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("burnfit").unwrap();
    cmd.current_dir(dir);
    cmd
}

/// A fixture CSV under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
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

/// Runs `burnfit train` and returns its output, asserting success.
pub fn train(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = burnfit(dir).arg("train").args(args).output().unwrap();
    assert!(out.status.success(), "train failed:\n{}", stderr(&out));
    out
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
