//! Memory limits set from outside the process (a Slurm job's `--mem`, a container's limit):
//! the estimates that refuse plans too big for memory read them, so a plan too big for the
//! limit is refused with the numbers, where the kernel would otherwise end the process
//! without a word. Run in a real memory cgroup made for the test (root only); without one the
//! test says so and passes, and `BURNFIT_REQUIRE_CGROUP=1` (CI) makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{stderr, stdout, write};
use tempfile::TempDir;

/// A memory cgroup below this process's own, limited to `bytes`, removed when dropped.
struct Limited {
    dir: PathBuf,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The folder of this process's memory cgroup (v1's memory hierarchy, or v2's unified one
/// where it has the memory controller), from `/proc/self/cgroup` and `/proc/self/mountinfo`.
fn own_memory_cgroup() -> Option<(PathBuf, &'static str)> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = |fstype: &str, option: Option<&str>| {
        mounts.lines().find_map(|l| {
            let (before, after) = l.split_once(" - ")?;
            let mut after = after.split(' ');
            let (kind, _, options) = (after.next()?, after.next()?, after.next()?);
            let wanted =
                kind == fstype && option.is_none_or(|o| options.split(',').any(|x| x == o));
            let point = before.split(' ').nth(4)?;
            wanted.then(|| PathBuf::from(point))
        })
    };
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some((
                mount("cgroup", Some("memory"))?.join(path),
                "memory.limit_in_bytes",
            ));
        }
        if controllers.is_empty() {
            let dir = mount("cgroup2", None)?.join(path);
            let has_memory = std::fs::read_to_string(dir.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
            if has_memory {
                return Some((dir, "memory.max"));
            }
        }
    }
    None
}

/// A new memory cgroup limited to `bytes`, or a loud skip (a failure under
/// `BURNFIT_REQUIRE_CGROUP=1`) where none can be made.
fn limited_or_skip(test: &str, bytes: u64) -> Option<Limited> {
    let made = own_memory_cgroup().and_then(|(parent, limit_file)| {
        let dir = parent.join(format!("burnfit-test-{}-{test}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let limited = Limited { dir };
        std::fs::write(limited.dir.join(limit_file), bytes.to_string()).ok()?;
        Some(limited)
    });
    if made.is_none() {
        assert!(
            std::env::var_os("BURNFIT_REQUIRE_CGROUP").is_none(),
            "{test}: BURNFIT_REQUIRE_CGROUP is set but no memory cgroup could be made (root and a memory controller are needed)"
        );
        eprintln!("SKIPPED {test}: no memory cgroup can be made here (root and a memory controller are needed)");
    }
    made
}

/// `burnfit args…` in `dir`, inside cgroup `limited`, with `XDG_CACHE_HOME` at `cache` when
/// given.
fn run_in(
    limited: &Limited,
    dir: &Path,
    args: &[&str],
    cache: Option<&Path>,
) -> std::process::Output {
    let mut sh = Command::new("sh");
    if let Some(cache) = cache {
        sh.env("XDG_CACHE_HOME", cache);
    }
    sh.current_dir(dir)
        .arg("-c")
        .arg("echo $$ > \"$0\" && exec \"$@\"")
        .arg(limited.dir.join("cgroup.procs"))
        .arg(env!("CARGO_BIN_EXE_burnfit"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_plan_too_big_for_a_cgroup_limit_is_refused_with_the_numbers() {
    let Some(limited) = limited_or_skip("too_big", 300_000_000) else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // 2M × 100 synthetic rows: about 2.4 GB with the input matrix, far below the machine's
    // free memory and far above the limit.
    write(
        dir,
        "big.toml",
        "[data]\nsource = \"synthetic\"\n[data.synthetic]\nrows = 2000000\nfeatures = 100\n[train]\nepochs = 1\n",
    );
    let out = run_in(
        &limited,
        dir,
        &["train", "--config", "big.toml", "--out", "run"],
        None,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("data.synthetic needs about 2.4 GB"), "{err}");
    // What the limit leaves, not what the machine has free: under 300 MB.
    let available = err
        .split(" but ")
        .nth(1)
        .and_then(|rest| rest.split(" is available").next())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        available.ends_with(" MB") || available.ends_with(" bytes"),
        "{available}"
    );
    assert!(!dir.join("run").exists(), "a refused run leaves no folder");

    // A run that fits trains under the same limit: the limit is read, not feared.
    write(
        dir,
        "small.toml",
        "[data]\nsource = \"synthetic\"\n[data.synthetic]\nrows = 5000\nfeatures = 20\n[train]\nepochs = 1\n",
    );
    let out = run_in(
        &limited,
        dir,
        &["train", "--config", "small.toml", "--out", "ok"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Loss: "), "{}", stdout(&out));
}

/// A table whose columns and input matrix need more memory than the process may take trains
/// anyway: read the first time, its numeric columns go to unnamed files as they are parsed
/// (CSV or Parquet); read from the parsed-data cache, they stay in the mapped entry; its input
/// matrix goes to a mapped file. All of it lives in the page cache, which the kernel empties
/// under pressure, and every run is the one an unlimited process makes, to the byte.
#[test]
fn a_table_larger_than_the_memory_limit_trains_from_its_first_read_and_from_the_cache() {
    let Some(limited) = limited_or_skip("larger_than_memory", 220_000_000) else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    let burnfit = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_burnfit"))
            .current_dir(dir)
            .env("XDG_CACHE_HOME", &cache)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    // 400,000 × 100: 160 MB of columns and 160 MB of input matrix, with Burn's own memory more
    // than the 220 MB the cgroup allows.
    burnfit(&[
        "synth",
        "--rows",
        "400000",
        "--features",
        "100",
        "--seed",
        "5",
        "--out",
        "big.csv",
    ]);
    write(
        dir,
        "big.toml",
        "[data]\npath = \"big.csv\"\nlabel = \"label\"\n[train]\nepochs = 1\nbatch_size = 256\n",
    );
    // Unlimited: parses, stores the cache entry, trains in memory.
    burnfit(&["train", "--config", "big.toml", "--out", "free"]);
    let same_as_free = |run: &str| {
        for file in ["history.csv", "model.bpk"] {
            assert_eq!(
                std::fs::read(dir.join("free").join(file)).unwrap(),
                std::fs::read(dir.join(run).join(file)).unwrap(),
                "{run}: {file}"
            );
        }
    };
    // Limited, a first read: parsed into files (and, with a cache, stored there as it goes).
    let fresh = dir.join("fresh-cache");
    for (run, extra) in [("parsed", Some("--no-cache")), ("stored", None)] {
        let mut args = vec!["train", "--config", "big.toml", "--out", run];
        args.extend(extra);
        let out = run_in(&limited, dir, &args, Some(&fresh));
        let err = stderr(&out);
        assert!(out.status.success(), "{run}: {err}");
        assert!(
            err.contains("they are kept in mapped files"),
            "{run}: {err}"
        );
        assert!(
            !err.contains("read from the parsed-data cache"),
            "{run}: {err}"
        );
        same_as_free(run);
    }
    // Limited, from the cache stored under the limit, and from the one stored without it.
    for (run, cache) in [("from-fresh", &fresh), ("limited", &cache)] {
        let out = run_in(
            &limited,
            dir,
            &["train", "--config", "big.toml", "--out", run],
            Some(cache),
        );
        let err = stderr(&out);
        assert!(out.status.success(), "{run}: {err}");
        assert!(
            err.contains("read from the parsed-data cache"),
            "{run}: {err}"
        );
        assert!(err.contains("kept in a mapped file"), "{run}: {err}");
        same_as_free(run);
    }
    // The same table as Parquet (written by pyarrow), read the first time under the limit.
    let Some(py) = common::python_or_skip("larger_than_memory (Parquet)", "pyarrow.parquet") else {
        return;
    };
    let made = Command::new(py)
        .args([
            "-c",
            "import sys, pyarrow.csv as c, pyarrow.parquet as p; p.write_table(c.read_csv(sys.argv[1]), sys.argv[2])",
        ])
        .arg(dir.join("big.csv"))
        .arg(dir.join("big.parquet"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let out = run_in(
        &limited,
        dir,
        &[
            "train",
            "--config",
            "big.toml",
            "--set",
            "data.path=big.parquet",
            "--out",
            "parquet",
            "--no-cache",
        ],
        Some(&fresh),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("they are kept in mapped files"), "{err}");
    same_as_free("parquet");
}
