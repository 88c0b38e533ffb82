//! Parquet as a data source, with files written by pyarrow (the writer behind pandas): the
//! same config on a CSV and on its Parquet copy trains to the same bytes, every command reads
//! Parquet, and what the loader cannot read is an error naming the file and the column.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use common::{burnfit, data, fails, stderr, stdout, train, write};
use tempfile::TempDir;

/// A Python with pyarrow (`common::python_or_skip`).
fn pyarrow_or_skip(test: &str) -> Option<PathBuf> {
    common::python_or_skip(test, "pyarrow.parquet")
}

/// Runs `code` with `args` in the Python, asserting success.
fn python(py: &Path, code: &str, args: &[&Path]) {
    let out = StdCommand::new(py)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `csv` as Parquet at `out`, read and written by pyarrow with its defaults (Snappy; `NA` and
/// empty cells as nulls), or with `compression`.
fn to_parquet(py: &Path, csv: &Path, out: &Path, compression: &str) {
    python(
        py,
        &format!(
            "import sys, pyarrow.csv as c, pyarrow.parquet as p; p.write_table(c.read_csv(sys.argv[1]), sys.argv[2], compression={compression:?})"
        ),
        &[csv, out],
    );
}

fn config(dir: &Path, name: &str, path: &Path, rest: &str) -> String {
    write(
        dir,
        name,
        &format!(
            "seed = 3\n[data]\npath = {:?}\n{rest}",
            path.display().to_string()
        ),
    );
    name.to_string()
}

#[test]
fn a_parquet_copy_trains_to_the_same_bytes_as_its_csv_and_every_command_reads_it() {
    let Some(py) = pyarrow_or_skip("a_parquet_copy_trains_to_the_same_bytes") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Braincancer: text categories, a missing cell written `NA` (a null in Parquet), a 0/1
    // label stored as integers.
    let csv = data("braincancer.csv");
    let pq = dir.join("brain.parquet");
    to_parquet(&py, &csv, &pq, "snappy");
    let rest = "label = \"status\"\ncategorical = [\"sex\", \"diagnosis\", \"loc\", \"stereo\"]\nmissing = \"mean\"\n[train]\nepochs = 5\nbatch_size = 8\n";
    let a = config(dir, "a.toml", &csv, rest);
    let b = config(dir, "b.toml", &pq, rest);
    let line_a = stdout(&train(dir, &["--config", &a, "--out", "csv"]));
    let line_b = stdout(&train(dir, &["--config", &b, "--out", "pq"]));
    assert_eq!(line_a, line_b);
    for file in ["history.csv", "model.bpk", "preprocess.json", "outputs.csv"] {
        assert_eq!(
            fs::read(dir.join("csv").join(file)).unwrap(),
            fs::read(dir.join("pq").join(file)).unwrap(),
            "{file}"
        );
    }
    // The run records the Parquet file's own size and checksum.
    let data_json = fs::read_to_string(dir.join("pq/data.json")).unwrap();
    assert!(
        data_json.contains(&fs::metadata(&pq).unwrap().len().to_string()),
        "{data_json}"
    );

    // A synthetic table of the seed's kind, compressed with Zstandard (polars' default).
    let synth = burnfit(dir)
        .args([
            "synth",
            "--rows",
            "3000",
            "--features",
            "20",
            "--seed",
            "5",
            "--out",
            "syn.csv",
        ])
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", stderr(&synth));
    let syn_pq = dir.join("syn.parquet");
    to_parquet(&py, &dir.join("syn.csv"), &syn_pq, "zstd");
    let rest = "label = \"label\"\nnormalize = \"l2\"\n[data.split]\nshuffle = false\n[train]\nepochs = 3\n";
    let c = config(dir, "c.toml", &dir.join("syn.csv"), rest);
    let d = config(dir, "d.toml", &syn_pq, rest);
    let line_c = stdout(&train(dir, &["--config", &c, "--out", "syn-csv"]));
    let line_d = stdout(&train(dir, &["--config", &d, "--out", "syn-pq"]));
    assert_eq!(line_c, line_d);
    assert_eq!(
        fs::read(dir.join("syn-csv/model.bpk")).unwrap(),
        fs::read(dir.join("syn-pq/model.bpk")).unwrap()
    );

    // evaluate, predict (with --keep), inspect and explain read it too.
    let e = burnfit(dir)
        .args(["evaluate", "--model", "pq", "--data"])
        .arg(&pq)
        .output()
        .unwrap();
    let e_csv = burnfit(dir)
        .args(["evaluate", "--model", "pq", "--data"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", stderr(&e));
    assert_eq!(stdout(&e), stdout(&e_csv));
    let p = burnfit(dir)
        .args([
            "predict", "--model", "pq", "--keep", "sex", "--out", "-", "--data",
        ])
        .arg(&pq)
        .output()
        .unwrap();
    let p_csv = burnfit(dir)
        .args([
            "predict", "--model", "pq", "--keep", "sex", "--out", "-", "--data",
        ])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    assert_eq!(stdout(&p), stdout(&p_csv));
    let i = burnfit(dir)
        .args(["inspect", "--data"])
        .arg(&pq)
        .output()
        .unwrap();
    assert!(i.status.success(), "{}", stderr(&i));
    assert!(stdout(&i).contains("diagnosis"), "{}", stdout(&i));
    let x = burnfit(dir)
        .args(["explain", "--model", "pq", "--repeats", "2", "--data"])
        .arg(&pq)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", stderr(&x));
}

#[test]
fn what_parquet_cannot_give_is_an_error_naming_the_file_and_column() {
    let Some(py) = pyarrow_or_skip("what_parquet_cannot_give_is_an_error") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let write_table = |name: &str, columns: &str| {
        let out = dir.join(name);
        python(
            &py,
            &format!("import sys, datetime, pyarrow as pa, pyarrow.parquet as p; p.write_table(pa.table({{{columns}}}), sys.argv[1])"),
            &[&out],
        );
        out
    };
    write_table(
        "nested.parquet",
        "'x': [1.0, 2.0], 'tags': [[1, 2], [3]], 'y': [0, 1]",
    );
    write_table(
        "when.parquet",
        "'x': [1.0, 2.0, 3.0, 4.0], 'when': [datetime.datetime(2026, 1, d) for d in range(1, 5)], 'y': [0, 1, 0, 1]",
    );
    let good = write_table(
        "good.parquet",
        "'x': [1.0, 2.0, 3.0, 4.0], 'y': [0, 1, 0, 1]",
    );
    let rest = "label = \"y\"\n[train]\nepochs = 1\nbatch_size = 2\n";
    let n = config(dir, "n.toml", &dir.join("nested.parquet"), rest);
    fails(
        dir,
        "a list column",
        &["train", "--config", &n],
        &["nested.parquet", "`tags`"],
    );
    let w = config(dir, "w.toml", &dir.join("when.parquet"), rest);
    fails(
        dir,
        "a timestamp column",
        &["train", "--config", &w],
        &["when.parquet", "`when`", "timestamp"],
    );
    // Set aside by data.exclude or left out of data.features, the same column is never
    // decoded, and the run trains.
    let when = dir.join("when.parquet");
    let x = config(
        dir,
        "x.toml",
        &when,
        &format!("exclude = [\"when\"]\n{rest}"),
    );
    train(dir, &["--config", &x, "--out", "excluded"]);
    let o = config(dir, "o.toml", &when, &format!("features = [\"x\"]\n{rest}"));
    train(dir, &["--config", &o, "--out", "only"]);
    // `inspect` and `init` read the rest of such a file and say to set the column aside.
    for (file, column, holds) in [
        (&when, "when", "timestamp"),
        (
            &dir.join("nested.parquet"),
            "tags",
            "lists, maps or structs",
        ),
    ] {
        let i = burnfit(dir)
            .args(["inspect", "--data"])
            .arg(file)
            .output()
            .unwrap();
        assert!(i.status.success(), "{}", stderr(&i));
        let out = stdout(&i);
        assert!(out.contains(&format!("{column},unreadable")), "{out}");
        assert!(out.contains("x,numeric"), "{out}");
        let said = stderr(&i);
        assert!(
            said.contains(&format!("`{column}` holds")) && said.contains(holds),
            "{said}"
        );
        let init = burnfit(dir)
            .args(["init", "--label", "y", "--out", "-"])
            .arg(file)
            .output()
            .unwrap();
        assert!(init.status.success(), "{}", stderr(&init));
        let text = stdout(&init);
        assert!(
            text.contains(&format!("\"{column}\"")) && text.contains("exclude"),
            "{text}"
        );
    }
    // Every unreadable column is named at once; an unreadable label is no column to set
    // aside, and `init` says so rather than that it holds no value.
    let both = write_table(
        "both.parquet",
        "'x': [1.0, 2.0], 'when': [datetime.datetime(2026, 1, d) for d in (1, 2)], 'tags': [[1], [2]], 'y': [0, 1]",
    );
    let b = config(dir, "b.toml", &both, rest);
    fails(
        dir,
        "two unreadable columns",
        &["train", "--config", &b],
        &[
            "`when` (timestamp values)",
            "`tags` (lists, maps or structs)",
            "exclude = [\"when\", \"tags\"]",
        ],
    );
    let label = write_table(
        "label.parquet",
        "'x': [1.0, 2.0], 'y': [datetime.datetime(2026, 1, d) for d in (1, 2)]",
    );
    let l = config(dir, "l.toml", &label, rest);
    fails(
        dir,
        "an unreadable label",
        &["train", "--config", &l],
        &["the label column `y` holds timestamp values", "convert it"],
    );
    let init = burnfit(dir)
        .args(["init", "--label", "y", "--out", "-"])
        .arg(&label)
        .output()
        .unwrap();
    assert!(!init.status.success());
    assert!(
        stderr(&init).contains("the label column `y` holds timestamp values"),
        "{}",
        stderr(&init)
    );
    // A codec left out of the build.
    let gz = dir.join("gz.parquet");
    python(
        &py,
        "import sys, pyarrow as pa, pyarrow.parquet as p; p.write_table(pa.table({'x': [1.0, 2.0], 'y': [0, 1]}), sys.argv[1], compression='gzip')",
        &[&gz],
    );
    let g = config(dir, "g.toml", &gz, rest);
    fails(
        dir,
        "gzip",
        &["train", "--config", &g],
        &["gz.parquet", "`x`", "gzip", "Snappy"],
    );
    // Truncated: the footer is gone.
    let bytes = fs::read(&good).unwrap();
    fs::write(dir.join("cut.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let t = config(dir, "t.toml", &dir.join("cut.parquet"), rest);
    fails(
        dir,
        "a truncated file",
        &["train", "--config", &t],
        &["cut.parquet", "Parquet"],
    );
    // Bytes flipped inside the footer, where the reader would panic: an error, never a panic,
    // whatever the damage.
    let mut state: u64 = 11;
    let good_bytes = fs::read(&good).unwrap();
    for i in 0..24 {
        let mut b = good_bytes.clone();
        for _ in 0..8 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let at = 4 + (state >> 33) as usize % (b.len() - 12);
            b[at] = (state >> 24) as u8;
        }
        let name = format!("damaged{i}.parquet");
        fs::write(dir.join(&name), b).unwrap();
        let c = config(dir, &format!("d{i}.toml"), &dir.join(&name), rest);
        let out = burnfit(dir)
            .args(["train", "--config", &c, "--out", &format!("d{i}")])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "{name}: {err}");
    }
    // A definition level flipped from present to null: the page then holds one value more
    // than its present cells, which pyarrow reads by sliding every later value a row. It is
    // damage, named with the file and the column.
    python(
        &py,
        r#"
import struct, sys, pyarrow as pa, pyarrow.parquet as pq
x = [1.5, None, 2.5, 3.5, 4.5, None, 6.5, 7.5, 8.5, 9.5] * 10
pq.write_table(pa.table({"x": x, "y": [i % 2 for i in range(100)]}), sys.argv[1],
               use_dictionary=False, compression="NONE", data_page_version="1.0",
               write_statistics=False)
b = bytearray(open(sys.argv[1], "rb").read())
# The first value's bytes follow the levels, whose last byte holds rows 96-99: row 96 is
# present, its bit the lowest.
at = b.find(struct.pack("<d", 1.5))
assert b[at - 1] == 0x0F, b[at - 1]
b[at - 1] ^= 1
open(sys.argv[1], "wb").write(b)
"#,
        &[&dir.join("slid.parquet")],
    );
    let s = config(dir, "slid.toml", &dir.join("slid.parquet"), rest);
    fails(
        dir,
        "a flipped definition level",
        &["train", "--config", &s],
        &["slid.parquet", "`x`", "present cells"],
    );
    // A FIFO named .parquet is refused at once, never opened (which would wait for a writer).
    let fifo = dir.join("pipe.parquet");
    assert!(StdCommand::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let q = config(dir, "q.toml", &fifo, rest);
    fails(
        dir,
        "a FIFO named .parquet",
        &["train", "--config", &q],
        &["pipe.parquet", "regular file"],
    );
    // A CSV named .parquet.
    fs::write(dir.join("fake.parquet"), "x,y\n1,0\n2,1\n").unwrap();
    let f = config(dir, "f.toml", &dir.join("fake.parquet"), rest);
    fails(
        dir,
        "a CSV named .parquet",
        &["train", "--config", &f],
        &["fake.parquet", "Parquet"],
    );
}

/// Reads `argv[1]` (Parquet) with pyarrow and `argv[2]` (CSV) with Python's csv module, checks
/// that they hold the same columns, rows and values (an empty cell is a null; numbers equal the
/// CSV's text as parsed: doubles as f64, floats as f32), and prints each column's type.
const SAME_AS_CSV: &str = r#"
import csv, struct, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
with open(sys.argv[2], newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
assert t.column_names == header, (t.column_names, header)
assert t.num_rows == len(body), (t.num_rows, len(body))
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
for j, name in enumerate(header):
    kind = str(t.schema.field(name).type)
    print(f"{name}:{kind}")
    for i, value in enumerate(t.column(name).to_pylist()):
        cell = body[i][j]
        if cell == "":
            ok = value is None
        elif kind == "int64":
            ok = value == int(cell)
        elif kind == "double":
            ok = value == float(cell)
        elif kind == "float":
            ok = value == f32(float(cell))
        else:
            ok = value == cell
        assert ok, (name, i, value, cell)
"#;

#[test]
fn predictions_written_as_parquet_hold_the_csv_s_columns_and_values() {
    let Some(py) = pyarrow_or_skip("predictions_written_as_parquet") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // An ID with empty cells (nulls in Parquet), a text label and a numeric target.
    let mut text = String::from("id,x1,x2,y,t\n");
    for i in 0..80 {
        let id = if i % 9 == 4 {
            String::new()
        } else {
            format!("{i:03}")
        };
        let (x1, x2) = ((i % 13) as f32 * 0.3, (i % 5) as f32 - 2.0);
        let y = if x1 + x2 > 1.0 { "Yes" } else { "No" };
        text.push_str(&format!("{id},{x1},{x2},{y},{}\n", x1 * 2.0 - x2));
    }
    write(dir, "d.csv", &text);
    for (name, rest, expect) in [
        (
            "bin",
            "label = \"y\"\nexclude = [\"id\", \"t\"]\n",
            &[
                "row:int64",
                "id:string",
                "probability:double",
                "class:string",
            ][..],
        ),
        (
            "reg",
            "label = \"t\"\nexclude = [\"id\", \"y\"]\n[train]\nloss = \"mse\"\n",
            &["row:int64", "id:string", "prediction:float"][..],
        ),
    ] {
        let toml = config(dir, &format!("{name}.toml"), &dir.join("d.csv"), rest);
        train(
            dir,
            &["--config", &toml, "--out", name, "--set", "train.epochs=2"],
        );
        for out in ["p.csv", "p.parquet"] {
            let p = burnfit(dir)
                .args([
                    "predict", "--model", name, "--data", "d.csv", "--keep", "id",
                ])
                .args(["--force", "--out", out])
                .output()
                .unwrap();
            assert!(p.status.success(), "{}", stderr(&p));
        }
        let check = StdCommand::new(&py)
            .arg("-c")
            .arg(SAME_AS_CSV)
            .arg(dir.join("p.parquet"))
            .arg(dir.join("p.csv"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&check.stdout).into_owned();
        assert!(
            check.status.success(),
            "{name}: {said}{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert_eq!(said.lines().collect::<Vec<_>>(), expect, "{name}");
    }
    // Standard output stays CSV; a Parquet name is never a stream.
    let p = burnfit(dir)
        .args(["predict", "--model", "bin", "--data", "d.csv", "--out", "-"])
        .output()
        .unwrap();
    assert!(
        stdout(&p).starts_with("row,probability,class\n"),
        "{}",
        stdout(&p)
    );
}
