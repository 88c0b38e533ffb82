//! Input that is wrong in ways a hostile or unlucky user finds: text that is not UTF-8, files
//! that never end a line, configs that are not configs, escape sequences in names. Each is a
//! short error that names the place, never a panic, an abort or two values merged.

mod common;

use std::fs;

use common::*;
use tempfile::TempDir;

const CFG: &str = "[data]\npath = \"d.csv\"\nlabel = \"y\"\n[train]\nepochs = 1\nbatch_size = 4\n";

/// Two different Windows-1252 values in a text column (`café`, `crème`): read loosely both
/// would be the same replacement text and one category; they are an error naming the cell.
#[test]
fn text_that_is_not_utf8_is_an_error_naming_the_cell_not_a_merge() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let mut bytes = b"x,kind,y\n".to_vec();
    for i in 0..20 {
        bytes.extend_from_slice(format!("{i},").as_bytes());
        bytes.extend_from_slice(if i % 2 == 0 { b"caf\xe9" } else { b"cr\xe8me" });
        bytes.extend_from_slice(format!(",{}\n", i % 2).as_bytes());
    }
    fs::write(d.join("d.csv"), &bytes).unwrap();
    let cfg = write(
        d,
        "c.toml",
        &CFG.replace(
            "label = \"y\"\n",
            "label = \"y\"\ncategorical = [\"kind\"]\n",
        ),
    );
    fails(
        d,
        "two non-UTF-8 values",
        &["train", "--config", cfg.to_str().unwrap()],
        &["row 2, column `kind`", "63 61 66 e9", "not valid UTF-8"],
    );
    // The same in the label: two classes, not one.
    let mut bytes = b"x,y\n".to_vec();
    for i in 0..20 {
        bytes.extend_from_slice(format!("{i},").as_bytes());
        bytes.extend_from_slice(if i % 2 == 0 { b"s\xed\n" } else { b"n\xf3\n" });
    }
    fs::write(d.join("d.csv"), &bytes).unwrap();
    fails(
        d,
        "non-UTF-8 label",
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--set",
            "data.categorical=[]",
        ],
        &["row 2, column `y`", "not valid UTF-8"],
    );
}

/// A file that never ends its first line (`/dev/zero`, or a large file of NULs): the reader
/// stops at the line limit instead of growing one record until the allocation aborts.
#[test]
fn a_file_without_line_breaks_is_refused_at_the_line_limit() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    for data in ["/dev/zero", "nul.csv"] {
        if data == "nul.csv" {
            // Sparse: 100 MB of NULs that take no disk.
            let f = fs::File::create(d.join(data)).unwrap();
            f.set_len(100 << 20).unwrap();
        }
        fails(
            d,
            data,
            &["inspect", "--data", data],
            &["without a line break"],
        );
    }
}

#[test]
fn a_config_that_is_not_a_config_is_refused_before_it_is_read_whole() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fails(
        d,
        "/dev/zero as config",
        &["train", "--dry-run", "--config", "/dev/zero"],
        &["/dev/zero", "more than the 16.0 MB"],
    );
    fs::write(d.join("big.toml"), vec![b'#'; 17_000_000]).unwrap();
    fails(
        d,
        "17 MB config",
        &["config", "--config", "big.toml"],
        &["big.toml", "more than the 16.0 MB"],
    );
    fs::write(d.join("latin1.toml"), b"# caf\xe9\nseed = 1\n").unwrap();
    fails(
        d,
        "non-UTF-8 config",
        &["config", "--config", "latin1.toml"],
        &["latin1.toml", "not UTF-8"],
    );
}

/// A column name holding an escape sequence (here one that would turn the terminal red) is
/// printed escaped, as `\u{1b}`.
#[test]
fn escape_sequences_in_names_do_not_reach_the_terminal() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fs::write(d.join("d.csv"), "a,\x1b[31mb,y\n1,x,0\n2,y,1\n").unwrap();
    let cfg = write(d, "c.toml", CFG);
    let err = fails(
        d,
        "escape in a column name",
        &["train", "--config", cfg.to_str().unwrap()],
        &["\\u{1b}[31mb"],
    );
    assert!(!err.contains('\x1b'), "{err:?}");
}

/// Continuing a cross-validation after its CSV changed: the finished folds trained on the old
/// file, so averaging them with new folds would describe no data set. Refused, naming the folds
/// and the file; a fresh `--out` is the way out.
#[test]
fn a_cv_continued_on_changed_data_is_refused_naming_the_folds() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let rows = |shift: usize| {
        let mut s = String::from("a,b,y\n");
        for i in 0..60 {
            s.push_str(&format!("{},{},{}\n", (i + shift) % 7, (i * 3) % 5, i % 2));
        }
        s
    };
    fs::write(d.join("d.csv"), rows(0)).unwrap();
    let cfg = write(d, "c.toml", CFG);
    let cv = |out: &str| {
        burnfit(d)
            .args([
                "cv",
                "--config",
                cfg.to_str().unwrap(),
                "--folds",
                "2",
                "--out",
                out,
            ])
            .output()
            .unwrap()
    };
    let first = cv("cv");
    assert!(first.status.success(), "{}", stderr(&first));
    fs::write(d.join("d.csv"), rows(3)).unwrap();
    let err = fails(
        d,
        "cv continued on changed data",
        &[
            "cv",
            "--config",
            cfg.to_str().unwrap(),
            "--folds",
            "2",
            "--out",
            "cv",
        ],
        &["fold 1, fold 2", "d.csv", "new --out"],
    );
    assert!(err.contains("CRC32"), "{err}");
    let fresh = cv("cv2");
    assert!(fresh.status.success(), "{}", stderr(&fresh));
}

/// `--threshold -0.1` is a value out of range, not an unknown flag (a usage error, exit 2, as
/// for every flag clap checks).
#[test]
fn a_negative_threshold_is_a_value_out_of_range() {
    let tmp = TempDir::new().unwrap();
    let out = burnfit(tmp.path())
        .args([
            "evaluate",
            "--model",
            "run",
            "--data",
            "d.csv",
            "--threshold",
            "-0.1",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("-0.1") && err.contains("between 0 and 1") && !err.contains("unexpected"),
        "{err}"
    );
}

/// A subnormal cluster distance: flushed to zero, every cluster vertex is one point, and the
/// generator's search for four distinct ones never ended (a hang SIGTERM did not stop).
#[test]
fn a_subnormal_class_sep_is_refused_before_generating() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fails(
        d,
        "class_sep 5e-324",
        &[
            "train",
            "--dry-run",
            "--set",
            "data.synthetic.class_sep=5e-324",
        ],
        &["data.synthetic.class_sep", "32-bit float", "5e-324"],
    );
    // A flag's value is checked as it is parsed: a usage error (exit 2), naming the flag.
    let out = burnfit(d)
        .args([
            "synth",
            "--rows",
            "10",
            "--features",
            "2",
            "--class-sep",
            "2.2e-308",
            "--out",
            "s.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--class-sep") && stderr(&out).contains("32-bit float"),
        "{}",
        stderr(&out)
    );
    assert!(fs::read_dir(d).unwrap().next().is_none(), "nothing written");
}

/// A column name with a line break: `init` keeps it inside its comments, so `train` reads the
/// config it wrote.
#[test]
fn init_keeps_odd_column_names_inside_its_comments() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("nl.csv"),
        "\"a\nb\",c,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,1,0\n2,2,1\n",
    )
    .unwrap();
    let out = burnfit(d)
        .args(["init", "nl.csv", "--label", "label", "--out", "nl.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = burnfit(d)
        .args(["train", "--dry-run", "--config", "nl.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `explain --out` names a folder: a file or a FIFO under that name is refused before any
/// shuffle, saying what it is (it used to say "the folder does not exist" after the work).
#[test]
fn explain_out_that_is_not_a_folder_is_refused_first() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let mut text = String::from("a,b,y\n");
    for i in 0..40 {
        text.push_str(&format!("{},{},{}\n", i % 7, (i * 3) % 5, i % 2));
    }
    fs::write(d.join("d.csv"), text).unwrap();
    let cfg = write(d, "c.toml", CFG);
    train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    fs::write(d.join("taken.csv"), "x").unwrap();
    fails(
        d,
        "explain --out a file",
        &[
            "explain",
            "--model",
            "run",
            "--data",
            "d.csv",
            "--out",
            "taken.csv",
            "--force",
        ],
        &["--out taken.csv is a file, not a folder"],
    );
    assert_eq!(fs::read_to_string(d.join("taken.csv")).unwrap(), "x");
}

/// A text cell early and a line that never ends later: the first read stops at the text cell,
/// and the second read that looks for every text column is bounded by the same line limit
/// (it used to read on without one).
#[test]
fn the_second_read_for_text_columns_is_bounded_too() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    fs::write(d.join("d.csv"), "a,b,y\nx,z,0\n1,2,1\n").unwrap();
    let f = fs::OpenOptions::new()
        .append(true)
        .open(d.join("d.csv"))
        .unwrap();
    f.set_len(200 << 20).unwrap(); // 200 MB of NULs after the rows, taking no disk
    let cfg = write(d, "c.toml", CFG);
    fails(
        d,
        "text cell, then no line break",
        &["train", "--config", cfg.to_str().unwrap()],
        &["`a` (row 2: `x`)", "categorical = [\"a\", \"b\"]"],
    );
}
