//! The parsed-data cache at the command level: a second read of the same file with the same
//! settings maps the stored table and gives the same bytes; a changed file or setting is parsed
//! again; a damaged entry is ignored and rewritten; a linked folder is refused; `--no-cache` and
//! `data.cache = false` write nothing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{burnfit, stderr, stdout, write};
use tempfile::TempDir;

/// What a command says when its table came from the cache.
const HIT: &str = "read from the parsed-data cache";

/// `burnfit` in `dir` with its default cache folder at `dir/xdg/burnfit`.
fn cmd(dir: &Path) -> assert_cmd::Command {
    let mut c = burnfit(dir);
    c.env("XDG_CACHE_HOME", dir.join("xdg"));
    c
}

/// Runs `args` in `dir`, asserting success; stdout and stderr.
fn run(dir: &Path, args: &[&str]) -> (String, String) {
    let out = cmd(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    (stdout(&out), stderr(&out))
}

/// The cache entries (`*.table`) in `folder`.
fn entries(folder: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(folder)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "table"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// A small numeric CSV whose every value shows in `inspect`'s min or max.
fn numbers(dir: &Path) -> PathBuf {
    let mut text = String::from("a,b,label\n");
    for i in 0..40 {
        text.push_str(&format!("{}.5,{},{}\n", i % 7, 100 + i, i % 2));
    }
    write(dir, "n.csv", &text)
}

/// A synthetic CSV of `rows` × 10 from `burnfit synth`, and a config training it for 2 epochs.
fn synthetic(dir: &Path, rows: &str) -> PathBuf {
    run(
        dir,
        &[
            "synth",
            "--rows",
            rows,
            "--features",
            "10",
            "--seed",
            "3",
            "--out",
            "s.csv",
        ],
    );
    write(
        dir,
        "s.toml",
        "seed = 5\n[data]\npath = \"s.csv\"\n[train]\nepochs = 2\nbatch_size = 64\n",
    )
}

#[test]
fn a_second_training_run_maps_the_stored_table_and_writes_the_same_bytes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    synthetic(dir, "3000");
    let folder = dir.join("xdg/burnfit");
    let (line_a, err_a) = run(dir, &["train", "--config", "s.toml", "--out", "a"]);
    assert!(!err_a.contains(HIT), "{err_a}");
    assert_eq!(entries(&folder).len(), 1, "one entry after the first run");
    let (line_b, err_b) = run(dir, &["train", "--config", "s.toml", "--out", "b"]);
    assert!(err_b.contains(HIT), "{err_b}");
    assert_eq!(line_a, line_b);
    for file in [
        "history.csv",
        "model.bpk",
        "preprocess.json",
        "data.json",
        "outputs.csv",
    ] {
        assert_eq!(
            fs::read(dir.join("a").join(file)).unwrap(),
            fs::read(dir.join("b").join(file)).unwrap(),
            "{file}"
        );
    }
    // The folder is private to the user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    // evaluate reads the labels with the model's own mapping (not learned from the file as
    // training does): another setting, its own entry, used from its second read on.
    let evaluate = ["evaluate", "--model", "a", "--data", "s.csv"];
    let (first, err) = run(dir, &evaluate);
    assert!(!err.contains(HIT), "{err}");
    let (again, err) = run(dir, &evaluate);
    assert!(err.contains(HIT), "{err}");
    assert_eq!(first, again);
    assert_eq!(entries(&folder).len(), 2);
}

#[test]
fn a_changed_file_or_setting_is_parsed_again() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let csv = numbers(dir);
    let inspect = ["inspect", "--data", "n.csv"];
    let (first, err) = run(dir, &inspect);
    assert!(!err.contains(HIT), "{err}");
    let (again, err) = run(dir, &inspect);
    assert!(err.contains(HIT), "{err}");
    assert_eq!(first, again);

    // The same size, one value changed: its new maximum shows.
    let text = fs::read_to_string(&csv).unwrap();
    let edited = text.replacen("0.5,100", "9.5,100", 1);
    assert_eq!(edited.len(), text.len());
    fs::write(&csv, &edited).unwrap();
    let (out, err) = run(dir, &inspect);
    assert!(!err.contains(HIT), "{err}");
    assert!(out.contains(",9.5,"), "{out}");

    // Touched (same bytes, another modification time): parsed again, same result.
    let f = fs::File::options().write(true).open(&csv).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);
    let (touched, err) = run(dir, &inspect);
    assert!(!err.contains(HIT), "{err}");
    assert_eq!(touched, out);
    let (_, err) = run(dir, &inspect);
    assert!(err.contains(HIT), "{err}");

    // Another setting that changes parsing (a column read as categories).
    let (cat, err) = run(dir, &["inspect", "--data", "n.csv", "--categorical", "a"]);
    assert!(!err.contains(HIT), "{err}");
    assert_ne!(cat, out);

    // In training: data.categorical changes the entry too.
    write(
        dir,
        "n.toml",
        "[data]\npath = \"n.csv\"\n[train]\nepochs = 1\nbatch_size = 8\n",
    );
    run(dir, &["train", "--config", "n.toml", "--out", "r1"]);
    let (_, err) = run(dir, &["train", "--config", "n.toml", "--out", "r2"]);
    assert!(err.contains(HIT), "{err}");
    let (_, err) = run(
        dir,
        &[
            "train",
            "--config",
            "n.toml",
            "--out",
            "r3",
            "--set",
            "data.categorical=[\"a\"]",
        ],
    );
    assert!(!err.contains(HIT), "{err}");
}

#[test]
fn a_damaged_entry_is_ignored_and_rewritten_never_trusted() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    numbers(dir);
    let folder = dir.join("xdg/burnfit");
    let inspect = ["inspect", "--data", "n.csv"];
    let (good, _) = run(dir, &inspect);
    let entry = entries(&folder).pop().expect("an entry");
    let whole = fs::read(&entry).unwrap();
    let payload_byte = whole.len() - 5;
    let mut flipped = whole.clone();
    flipped[payload_byte] ^= 0x10;
    for (case, bytes, why) in [
        ("truncated", whole[..whole.len() / 2].to_vec(), "bytes"),
        ("flipped", flipped, "checksum"),
        ("garbage", b"not a table".to_vec(), "magic"),
        ("empty", Vec::new(), "magic"),
    ] {
        fs::write(&entry, &bytes).unwrap();
        let (out, err) = run(dir, &inspect);
        assert_eq!(out, good, "{case}");
        assert!(
            err.contains("damaged") && err.contains(why) && !err.contains(HIT),
            "{case}: {err}"
        );
        // Rewritten whole (the same layout; only the time it was read differs), and used by
        // the next read.
        assert_eq!(
            fs::metadata(&entry).unwrap().len(),
            whole.len() as u64,
            "{case}"
        );
        let (_, err) = run(dir, &inspect);
        assert!(err.contains(HIT), "{case}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn a_linked_or_shared_cache_folder_is_refused_and_nothing_is_written_through_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    numbers(dir);
    let real = dir.join("real");
    fs::create_dir(&real).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
    // data.cache_dir a link to a good folder.
    std::os::unix::fs::symlink(&real, dir.join("link")).unwrap();
    write(
        dir,
        "l.toml",
        "[data]\npath = \"n.csv\"\ncache_dir = \"link\"\n[train]\nepochs = 1\nbatch_size = 8\n",
    );
    let (_, err) = run(dir, &["train", "--config", "l.toml", "--out", "r"]);
    assert!(
        err.contains("symbolic link") && err.contains("not used"),
        "{err}"
    );
    assert!(entries(&real).is_empty());
    // The default folder a link ($XDG_CACHE_HOME/burnfit).
    fs::create_dir(dir.join("xdg")).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("xdg/burnfit")).unwrap();
    let (_, err) = run(dir, &["inspect", "--data", "n.csv"]);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(entries(&real).is_empty());
    // A folder others may write into.
    let open = dir.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let (_, err) = run(
        dir,
        &[
            "train",
            "--config",
            "l.toml",
            "--out",
            "r2",
            "--set",
            "data.cache_dir=open",
        ],
    );
    assert!(err.contains("other users may write"), "{err}");
    assert!(entries(&open).is_empty());
}

#[test]
fn no_cache_and_data_cache_false_write_nothing() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    synthetic(dir, "400");
    let folder = dir.join("xdg/burnfit");
    run(dir, &["--no-cache", "inspect", "--data", "s.csv"]);
    run(
        dir,
        &["train", "--no-cache", "--config", "s.toml", "--out", "a"],
    );
    run(
        dir,
        &[
            "train",
            "--config",
            "s.toml",
            "--out",
            "b",
            "--set",
            "data.cache=false",
        ],
    );
    // cv passes --no-cache on to its fold processes.
    run(
        dir,
        &[
            "cv",
            "--no-cache",
            "--config",
            "s.toml",
            "--folds",
            "2",
            "--out",
            "cv",
        ],
    );
    run(
        dir,
        &["--no-cache", "evaluate", "--model", "a", "--data", "s.csv"],
    );
    assert!(entries(&folder).is_empty(), "{:?}", entries(&folder));
    // And with the cache on, the same cv shares one entry across its folds.
    let (_, err) = run(
        dir,
        &[
            "cv", "--config", "s.toml", "--folds", "2", "--jobs", "2", "--out", "cv2",
        ],
    );
    assert_eq!(entries(&folder).len(), 1, "{err}");
    let logs: Vec<String> = fs::read_dir(dir.join("cv2"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(logs.len(), 2, "{err}");
    for log in logs {
        assert!(log.contains(HIT), "{log}");
    }
}

#[test]
fn predictions_written_as_parquet_are_read_back_and_cached_like_any_parquet_file() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    synthetic(dir, "600");
    run(dir, &["train", "--config", "s.toml", "--out", "m"]);
    run(
        dir,
        &[
            "predict",
            "--model",
            "m",
            "--data",
            "s.csv",
            "--out",
            "p.parquet",
        ],
    );
    run(
        dir,
        &[
            "predict", "--model", "m", "--data", "s.csv", "--out", "p.csv",
        ],
    );
    // burnfit reads its own Parquet: the same columns and values as the CSV.
    let (pq, err) = run(dir, &["inspect", "--data", "p.parquet"]);
    assert!(!err.contains(HIT), "{err}");
    let (csv, _) = run(dir, &["inspect", "--data", "p.csv"]);
    assert_eq!(pq, csv);
    let (again, err) = run(dir, &["inspect", "--data", "p.parquet"]);
    assert!(err.contains(HIT), "{err}");
    assert_eq!(again, pq);
}

#[test]
fn processes_sharing_the_folder_write_and_read_whole_entries_only() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    synthetic(dir, "20000");
    let folder = dir.join("xdg/burnfit");
    // Four processes miss at once, each parses and renames its own temporary into place.
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("burnfit"));
            c.current_dir(dir)
                .env("XDG_CACHE_HOME", dir.join("xdg"))
                .args(["inspect", "--data", "s.csv"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", stderr(o));
        assert_eq!(stdout(o), stdout(&outs[0]));
    }
    let names: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "one entry and no temporary left: {names:?}");
    let (again, err) = run(dir, &["inspect", "--data", "s.csv"]);
    assert!(err.contains(HIT), "{err}");
    assert_eq!(again, stdout(&outs[0]));
}

/// Every per-row vector kept in a mapped file (`BURNFIT_SPILL_ABOVE=0`: the usable rows and
/// the split's indices, the labels, row numbers and weights of each matrix, every epoch's
/// order, the outputs and rankings of the final metrics) gives the bytes the in-memory run
/// gives, for `train`, `evaluate` and `predict`, and names no file in the folder.
#[test]
fn per_row_vectors_kept_in_mapped_files_give_the_same_bytes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Missing cells (rows dropped, so row numbers skip), a weight column, three classes and
    // a yes/no column.
    let mut text = String::from("a,b,c,w,label,yes\n");
    for i in 0..900u32 {
        let a = if i % 17 == 0 {
            String::new()
        } else {
            format!("{}", (i * 37 % 101) as f32 / 10.0)
        };
        let (b, c) = ((i * 53 % 89) as f32 / 7.0, i % 5);
        let label = (i * 7 % 11 + i % 3) % 3;
        let yes = u32::from(label == 1);
        text.push_str(&format!("{a},{b},{c},{},{label},{yes}\n", 1 + i % 4));
    }
    write(dir, "t.csv", &text);
    let binary = "seed = 4\n[data]\npath = \"t.csv\"\nlabel = \"yes\"\nexclude = [\"label\"]\nweight = \"w\"\nmissing = \"drop\"\n[data.split]\nstratify = true\n[train]\nepochs = 3\nbatch_size = 16\nthreshold = \"f1\"\n";
    let classes = "seed = 4\n[data]\npath = \"t.csv\"\nlabel = \"label\"\nexclude = [\"yes\"]\nmissing = \"mean\"\n[data.split]\nshuffle = true\n[train]\nloss = \"cross_entropy\"\nepochs = 3\nbatch_size = 16\n";
    for (name, config) in [("binary", binary), ("classes", classes)] {
        write(dir, "c.toml", config);
        let folder = dir.join("xdg/burnfit");
        let mut listed = Vec::new();
        for (run, spill) in [("memory", None), ("mapped", Some("0"))] {
            let out = format!("{name}-{run}");
            let go = |args: &[&str]| {
                let mut c = cmd(dir);
                if let Some(s) = spill {
                    c.env("BURNFIT_SPILL_ABOVE", s);
                }
                let o = c.args(args).output().unwrap();
                assert!(o.status.success(), "{args:?} failed:\n{}", stderr(&o));
                (stdout(&o), stderr(&o))
            };
            let (_, said) = go(&["train", "--config", "c.toml", "--out", &out]);
            let note = "are kept in mapped files in";
            assert_eq!(
                said.contains(note),
                spill.is_some(),
                "{name} {run}:\n{said}"
            );
            let (json, _) = go(&["evaluate", "--model", &out, "--data", "t.csv", "--json"]);
            let json: serde_json::Value = serde_json::from_str(&json).unwrap();
            // The metrics alone: the report names its run folder.
            let metrics = serde_json::to_vec(&json["metrics"]).unwrap();
            assert!(metrics.len() > 100, "{json}");
            fs::write(dir.join(&out).join("evaluated.json"), metrics).unwrap();
            let predictions = format!("{out}.csv");
            go(&[
                "predict",
                "--model",
                &out,
                "--data",
                "t.csv",
                "--out",
                &predictions,
            ]);
            let mut names: Vec<_> = fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            listed.push(names);
        }
        assert_eq!(listed[0], listed[1], "the mapped files are unnamed");
        for file in ["model.bpk", "history.csv", "outputs.csv", "evaluated.json"] {
            let read = |run: &str| fs::read(dir.join(format!("{name}-{run}")).join(file)).unwrap();
            assert!(read("memory") == read("mapped"), "{name}: {file} differs");
        }
        let read = |run: &str| fs::read(dir.join(format!("{name}-{run}.csv"))).unwrap();
        assert!(
            read("memory") == read("mapped"),
            "{name}: predictions differ"
        );
    }
}
