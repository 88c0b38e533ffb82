//! The one rule for every file a command writes where the user said (`predict --out`,
//! `synth --out`, `explain --out`): never replace an existing file unless the user passes
//! `--force`, and never, even then, one of the command's own inputs, a file inside a run
//! folder (a run's files are written by `train` alone), or anything but a regular file (a
//! link, a device node, a FIFO). Checked before any work is done, so a
//! refused write costs nothing; the write itself goes through a temporary file that is removed
//! on every error path ([`crate::run::write_atomic`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::files;
use crate::run;

/// What a command may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replace {
    /// `--force`: an existing file that is neither an input nor a run's file may be replaced.
    pub(crate) force: bool,
}

/// The run folder `path` lies in, if any (its parent, or any folder above it).
pub(crate) fn enclosing_run(path: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(path).ok()?;
    abs.ancestors()
        .skip(1)
        .find(|a| run::is_run_folder(a))
        .map(Path::to_path_buf)
}

/// Whether two paths name the same existing file (through links and `..` too).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Checks that `out` may be written under `rule`; `inputs` are the files the command reads.
/// `-` (stdout) is always allowed.
pub(crate) fn check(out: &Path, inputs: &[&Path], rule: Replace) -> Result<()> {
    if out == Path::new("-") {
        return Ok(());
    }
    if out.as_os_str().is_empty() {
        bail!("--out is empty; name the file to write, or `-` for standard output");
    }
    if out.is_dir() {
        bail!(
            "--out {} is a folder; name a file inside it, e.g. {}",
            out.display(),
            out.join("out.csv").display()
        );
    }
    if let Some(input) = inputs.iter().find(|i| same_file(out, i)) {
        bail!(
            "--out {} is one of this command's inputs ({}); it is never overwritten, even with --force",
            out.display(),
            input.display()
        );
    }
    // Only a regular file is ever replaced: `--force` over a device node (a twin of
    // `/dev/null`, or the real one as root) would turn the node into a file, and a link is
    // never written through.
    if let Some(what) = files::not_regular(out) {
        bail!(
            "--out {} is {what}, not a regular file; burnfit replaces only regular files, even with --force",
            out.display()
        );
    }
    if out.exists() {
        if let Some(run) = enclosing_run(out) {
            bail!(
                "--out {} is a file of the run folder {}; a run's files are never overwritten, even with --force",
                out.display(),
                run.display()
            );
        }
        if !rule.force {
            bail!(
                "--out {} already exists; pass --force to replace it, or choose another file",
                out.display()
            );
        }
    }
    match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => bail!(
            "cannot write {}: the folder {} does not exist",
            out.display(),
            parent.display()
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_need_force_and_inputs_and_run_files_never_go() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path();
        let (keep, free) = (Replace { force: false }, Replace { force: true });
        let data = d.join("data.csv");
        std::fs::write(&data, "a,b\n").unwrap();
        assert!(check(&d.join("new.csv"), &[&data], keep).is_ok());
        let old = d.join("old.csv");
        std::fs::write(&old, "x").unwrap();
        assert!(check(&old, &[&data], keep)
            .unwrap_err()
            .to_string()
            .contains("--force"));
        assert!(check(&old, &[&data], free).is_ok());
        // The input, also through another spelling of its path.
        let other = d.join(".").join("data.csv");
        let err = check(&other, &[&data], free).unwrap_err().to_string();
        assert!(err.contains("inputs"), "{err}");
        // A run's file, even with --force; a new file in a run folder is fine.
        let run = d.join("run");
        std::fs::create_dir_all(run.join("checkpoints")).unwrap();
        std::fs::write(run.join("config.toml"), "").unwrap();
        std::fs::write(run.join("model.bpk"), "w").unwrap();
        let err = check(&run.join("model.bpk"), &[], free)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run folder"), "{err}");
        assert!(check(&run.join("preds.csv"), &[], keep).is_ok());
        // Folders, missing parents and stdout.
        assert!(check(d, &[], free)
            .unwrap_err()
            .to_string()
            .contains("folder"));
        assert!(check(&d.join("no/such/f.csv"), &[], free).is_err());
        assert!(check(Path::new("-"), &[], keep).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn links_and_fifos_are_refused_even_with_force_naming_what_they_are() {
        let tmp = tempfile::TempDir::new().unwrap();
        let d = tmp.path();
        let free = Replace { force: true };
        let target = d.join("t.csv");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, d.join("link.csv")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling.csv")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            d.join("fifo"),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        for (name, what) in [
            ("link.csv", "a symbolic link"),
            ("dangling.csv", "a symbolic link"),
            ("fifo", "a FIFO"),
        ] {
            let err = check(&d.join(name), &[], free).unwrap_err().to_string();
            assert!(err.contains(what) && err.contains(name), "{err}");
        }
    }
}
