//! The loader on small files: errors with their rows, file order across batches, labels.

use super::*;

fn spec() -> LoadSpec {
    LoadSpec {
        labels: vec!["y".into()],
        label_column: crate::data::LabelColumn::Required,
        label_rule: LabelRule::InferBinary { positive: None },
        selection: Selection::AllExcept(vec![]),
        categorical: vec![],
    }
}

fn load(csv: &str) -> Result<Table, DataError> {
    Table::from_reader(csv.as_bytes(), "t.csv", &spec())
}

#[test]
fn a_third_label_value_names_the_column_value_and_row() {
    let err = load("a,y\n1,0\n2,1\n3,2\n").unwrap_err().to_string();
    assert!(
        err.contains("row 4") && err.contains("`y`") && err.contains("`2`"),
        "{err}"
    );
}

#[test]
fn a_text_column_not_excluded_names_the_cell_and_the_fix() {
    let err = load("a,b,y\n1,x,0\n2,zz,1\n").unwrap_err().to_string();
    assert!(
        err.contains("row 2, column `b`") && err.contains("`x`"),
        "{err}"
    );
    assert!(
        err.contains("data.categorical") && err.contains("data.exclude"),
        "{err}"
    );
}

#[test]
fn bom_crlf_and_quoted_commas_are_read() {
    let t = load("\u{feff}\"a\",b,y\r\n\"1,5\",2,0\r\n3,4,1\r\n");
    // "1,5" is one quoted field, and not a number.
    let err = t.unwrap_err().to_string();
    assert!(err.contains("`1,5`") && err.contains("column `a`"), "{err}");
    let t = load("\u{feff}a,\"b, quoted\",y\r\n1,2,0\r\n3,4,1\r\n").unwrap();
    assert_eq!(
        t.columns[0].name(),
        "a",
        "the BOM is not part of the first name"
    );
    assert_eq!(t.columns[1].name(), "b, quoted");
    assert_eq!(*t.labels.unwrap(), [0.0, 1.0]);
}

#[test]
fn structural_problems_are_errors_with_rows() {
    let cases = [
        ("", "empty"),
        ("a,y\n", "no data rows"),
        ("a,a,y\n1,2,0\n", "appears twice"),
        ("a,y\n1,0\n1,2,1\n", "row 3: has 3 fields"),
        ("a,y\n1,0\ninf,1\n", "row 3, column `a`: `inf` is infinite"),
        ("a,b\n1,0\n", "no column `y`"),
    ];
    for (csv, want) in cases {
        let err = load(csv).unwrap_err().to_string();
        assert!(err.contains(want), "{csv:?}: {err}");
    }
}

#[test]
fn many_batches_keep_file_order_and_the_first_error_in_the_file_wins() {
    // 5,000 rows span several parse batches, which workers may finish out of order.
    let mut csv = String::from("a,b,y\n");
    for i in 0..5000 {
        csv += &format!("{i},{},{}\n", -i, i % 2);
    }
    let t = load(&csv).unwrap();
    let Column::Numeric { values, .. } = &t.columns[1] else {
        panic!("b is numeric")
    };
    assert!(values.iter().enumerate().all(|(i, &v)| v == -(i as f32)));
    assert_eq!(t.labels.as_ref().unwrap()[4999], 1.0);
    assert_eq!((t.rows.get(0), t.rows.get(4999)), (2, 5001));
    let with = |edits: &[(&str, &str)]| {
        let mut c = csv.clone();
        for (from, to) in edits {
            assert!(c.contains(from), "{from}");
            c = c.replacen(from, to, 1);
        }
        load(&c).unwrap_err().to_string()
    };
    let number = ("\n3000,-3000,0\n", "\n3000,oops,0\n");
    let late_label = ("\n4000,-4000,0\n", "\n4000,-4000,2\n");
    let early_label = ("\n1998,-1998,0\n", "\n1998,-1998,2\n");
    let short = ("\n2500,-2500,0\n", "\n2500,0\n");
    let err = with(&[number, late_label]);
    assert!(err.contains("row 3002, column `b`: `oops`"), "{err}");
    let err = with(&[number, late_label, early_label]);
    assert!(err.contains("row 2000") && err.contains("`2`"), "{err}");
    let err = with(&[number, short]);
    assert!(err.contains("row 2502: has 2 fields"), "{err}");
}

#[test]
fn an_early_error_in_a_long_file_stops_every_stage() {
    // Far more batches than may be in flight, and a bad number in the first: the reader and
    // the workers must stop too. On a thread, so that a regression fails instead of hanging.
    let mut csv = String::from("a,y\n1,0\noops,1\n");
    for i in 0..200_000 {
        csv += &format!("{i},{}\n", i % 2);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load(&csv).map(|t| t.len()).map_err(|e| e.to_string()));
    });
    let result = rx.recv_timeout(std::time::Duration::from_secs(60));
    let err = result.expect("the loader returned").unwrap_err();
    assert!(err.contains("row 3, column `a`: `oops`"), "{err}");
}

#[test]
fn string_labels_infer_yes_as_positive_or_ask_for_it() {
    let t = load("a,y\n1,No\n2,Yes\n").unwrap();
    assert_eq!(*t.labels.unwrap(), [0.0, 1.0]);
    let err = load("a,y\n1,cat\n2,dog\n").unwrap_err().to_string();
    assert!(err.contains("data.positive"), "{err}");
    let mut s = spec();
    s.label_rule = LabelRule::InferBinary {
        positive: Some("cat".into()),
    };
    let t = Table::from_reader("a,y\n1,cat\n2,dog\n".as_bytes(), "t.csv", &s).unwrap();
    assert_eq!(*t.labels.unwrap(), [1.0, 0.0]);
}

#[test]
fn real_braincancer_data_with_categoricals_and_an_na() {
    // Where cargo runs the test from, not where the binary was built (a shared target folder).
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    );
    let path = root.join("../../tests/data/braincancer.csv");
    let spec = LoadSpec {
        labels: vec!["status".into()],
        label_column: crate::data::LabelColumn::Required,
        label_rule: LabelRule::InferBinary { positive: None },
        selection: Selection::AllExcept(vec!["time".into()]),
        categorical: ["sex", "diagnosis", "loc", "stereo"]
            .map(String::from)
            .to_vec(),
    };
    let t = Table::from_csv(&path, &spec).unwrap();
    assert_eq!(t.len(), 88);
    // The one `NA` (a diagnosis) makes exactly one row incomplete.
    assert_eq!(t.complete_rows().len(), 87);
    match t.column("sex").unwrap() {
        Column::Categorical { levels, .. } => assert_eq!(levels, &["Female", "Male"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn classes_are_numbered_in_numeric_or_byte_order_and_refused_when_they_are_measurements() {
    let classes = |csv: &str| {
        let mut s = spec();
        s.label_rule = LabelRule::InferClasses;
        Table::from_reader(csv.as_bytes(), "t.csv", &s)
    };
    // Whole numbers in numeric order (10 after 9, not after 1), `2.0` the same class as `2`.
    let t = classes("a,y\n1,10\n2,9\n3,2.0\n4,2\n5,\n").unwrap();
    assert_eq!(
        t.label_map,
        Some(LabelMap::Classes {
            classes: vec!["2".into(), "9".into(), "10".into()]
        })
    );
    let labels = t.labels.unwrap();
    assert_eq!(&labels[..4], &[2.0, 1.0, 0.0, 0.0]);
    assert!(labels[4].is_nan(), "a missing label stays missing");
    // Text in byte order.
    let t = classes("a,y\n1,virginica\n2,setosa\n3,versicolor\n").unwrap();
    assert_eq!(*t.labels.unwrap(), [2.0, 0.0, 1.0]);
    // A fraction is a measurement: refused, naming the value and what to write.
    let err = classes("a,y\n1,1\n2,2.5\n").unwrap_err().to_string();
    assert!(err.contains("`2.5`") && err.contains("mse"), "{err}");
    // One class only.
    let err = classes("a,y\n1,a\n2,a\n").unwrap_err().to_string();
    assert!(err.contains("one value"), "{err}");
    // A known mapping refuses a class it does not have, naming the row.
    let mut s = spec();
    s.label_rule = LabelRule::Known(LabelMap::Classes {
        classes: vec!["a".into(), "b".into(), "c".into()],
    });
    let err = Table::from_reader("x,y\n1,b\n2,d\n".as_bytes(), "t.csv", &s)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 3") && err.contains("`d`") && err.contains("`a`, `b`, `c`"),
        "{err}"
    );
}

/// Row numbers are the file's lines whatever its line endings: `\n`, Windows' `\r\n` (Python's
/// `csv` module's default), old Macs' lone `\r`, mixed, and a `\r\n` split across two reads.
#[test]
fn rows_are_named_by_their_line_whatever_the_line_endings() {
    let bad_third = |text: String| {
        Table::from_reader(text.as_bytes(), "t.csv", &spec())
            .unwrap_err()
            .to_string()
    };
    for ending in ["\n", "\r\n", "\r"] {
        let text = ["a,y", "1,0", "x,1", "3,0"].join(ending) + ending;
        let err = bad_third(text);
        assert!(err.contains("row 3"), "{ending:?}: {err}");
        let good = ["a,y", "1,0", "2,1", "3,0"].join(ending);
        let t = Table::from_reader(good.as_bytes(), "t.csv", &spec()).unwrap();
        assert_eq!(t.rows.iter().collect::<Vec<_>>(), [2, 3, 4], "{ending:?}");
    }
    let err = bad_third("a,y\r\n1,0\n2,1\r\nx,0\r\n".into());
    assert!(err.contains("row 4"), "{err}");
    // Reads that end between `\r` and `\n`, one byte at a time.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let text = b"a,y\r\n1,0\r\n2,1\r\n";
    let t = Table::from_reader(Trickle(text), "t.csv", &spec()).unwrap();
    assert_eq!(t.rows.iter().collect::<Vec<_>>(), [2, 3]);
    // A read that ends on `\r` and a next one that starts with `\n\n` and holds another
    // `\r`: the second `\n` is a blank line, counted.
    struct Two<'a>(Vec<&'a [u8]>);
    impl std::io::Read for Two<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let part = self.0.remove(0);
            buf[..part.len()].copy_from_slice(part);
            Ok(part.len())
        }
    }
    let err = Table::from_reader(Two(vec![b"a,y\r", b"\n\n1,0\r\nx,1\r\n"]), "t.csv", &spec())
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 4"), "{err}");
    // A quoted cell's line break still counts as a line.
    let t = Table::from_reader(
        "a,c,y\r\n1,\"x\r\ny\",0\r\n2,z,1\r\n".as_bytes(),
        "t.csv",
        &LoadSpec {
            categorical: vec!["c".into()],
            ..spec()
        },
    )
    .unwrap();
    assert_eq!(t.rows.iter().collect::<Vec<_>>(), [2, 4]);
}

/// Blank lines are no records, but lines all the same: a row is named by its own line, in a
/// block and across blocks (64 bytes under test).
#[test]
fn blank_lines_are_skipped_and_counted() {
    let text = "a,y\n\n1,0\n\n\n2,1\n\n";
    let t = load(text).unwrap();
    assert_eq!(t.rows.iter().collect::<Vec<_>>(), [3, 6]);
    let long = format!("a,y\n{}\n\n\n{}x,1\n", "1,0\n".repeat(40), "\n".repeat(70));
    let err = load(&long).unwrap_err().to_string();
    assert!(err.contains("row 115"), "{err}");
    // The scan for every text column names the same rows (it reads the file as the loader).
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "a,b,y\n1,2,0\n\n\nx,z,1\n").unwrap();
    let err = Table::from_csv(&path, &spec()).unwrap_err().to_string();
    assert!(err.contains("row 5") && !err.contains("row 3"), "{err}");
    // Where the csv crate reads (from the first quote on), a record after blank lines is
    // named by its own line too: after a field with a line break in it, at the end of a file
    // with no last line break, and in an error.
    let text = "a,b,y\n\"1\",2,0\n\n3,4,1\n\n\n5,\"6\n7\",0\n\n8,9,1";
    let t = load(&text.replace("\"6\n7\"", "67")).unwrap();
    assert_eq!(t.rows.iter().collect::<Vec<_>>(), [2, 4, 7, 9]);
    let t = load(text);
    // A line break in a number is no number: the error names the record's first line.
    let err = t.unwrap_err().to_string();
    assert!(err.contains("row 7"), "{err}");
    let t = load("a,y\n\"1\",0\n\n\n2,1\n\n3,1\n").unwrap();
    assert_eq!(t.rows.iter().collect::<Vec<_>>(), [2, 5, 7]);
    let err = load("a,y\n\"1\",0\n\n\nx,1").unwrap_err().to_string();
    assert!(err.contains("row 5"), "{err}");
    std::fs::write(&path, "a,b,y\n\"1\",2,0\n\n\nx,z,1\n").unwrap();
    let err = Table::from_csv(&path, &spec()).unwrap_err().to_string();
    assert!(err.contains("row 5") && !err.contains("row 3"), "{err}");
}

/// A header longer than what the first look reads, cut there in the middle of a character
/// (64 bytes under test), is read whole, not refused as bad UTF-8.
#[test]
fn a_long_header_cut_inside_a_character_is_read() {
    let names: Vec<String> = (0..12).map(|i| format!("température_{i}")).collect();
    let mut text = format!("{},y\n", names.join(","));
    text.push_str(&format!("{}0\n", "1.5,".repeat(12)));
    text.push_str(&format!("{}1\n", "2.5,".repeat(12)));
    let t = load(&text).unwrap();
    assert_eq!(t.header[0], "température_0");
    assert_eq!(t.columns.len(), 12);
    for cut in 0..8 {
        let b = "aé€😀".as_bytes();
        let kept = super::lines::whole_characters(&b[..cut.min(b.len())]);
        assert!(std::str::from_utf8(&b[..kept]).is_ok(), "{cut}: {kept}");
    }
}

/// A read that fails after whole lines came in: a bad row among those lines is the error,
/// as the first error in the file.
#[test]
fn a_bad_row_before_a_failed_read_is_the_error() {
    struct Then(Option<&'static [u8]>);
    impl std::io::Read for Then {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.take() {
                Some(t) => {
                    buf[..t.len()].copy_from_slice(t);
                    Ok(t.len())
                }
                None => Err(std::io::Error::other("the disk went away")),
            }
        }
    }
    let err = Table::from_reader(Then(Some(b"a,y\n1,0\nx,1\n2,")), "t.csv", &spec())
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 3"), "{err}");
    let err = Table::from_reader(Then(Some(b"a,y\n1,0\n2,")), "t.csv", &spec())
        .unwrap_err()
        .to_string();
    assert!(err.contains("the disk went away"), "{err}");
}

/// Past the bound that holds for any file (twice its size), a file's own first rows say what
/// its columns need: rows of long numbers need far less than the bound, never more.
#[test]
fn a_files_first_rows_estimate_its_columns_within_the_hard_bound() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("long.csv");
    let mut text = String::from("a,b,c\n");
    for i in 0..10_000 {
        text.push_str(&format!("{}.123456789,{}.987654321,{}\n", i, i * 3, i % 2));
    }
    std::fs::write(&path, &text).unwrap();
    let bytes = text.len() as u64;
    let need = super::sampled_need(&path, bytes, &spec());
    // 10,001 lines of 3 columns: 3·4 bytes a row of columns and 8 + 4 (a row number and the
    // label) of the rest, each with half again.
    let rows = 10_001u64;
    assert!(need.numeric <= 2 * bytes, "{} vs {bytes}", need.numeric);
    let (numeric, rest, cause) = (need.numeric, need.rest, need.cause);
    assert!(
        numeric >= rows * 12 && numeric <= rows * 12 * 2,
        "{numeric}: {cause}"
    );
    assert!(
        rest >= rows * 12 && rest <= rows * 12 * 2,
        "{rest}: {cause}"
    );
    assert!(cause.contains("3 columns"), "{cause}");
    // Too little to sample: the hard bound.
    let tiny = dir.path().join("tiny.csv");
    std::fs::write(&tiny, "a,b\n").unwrap();
    assert_eq!(super::sampled_need(&tiny, 4, &spec()).numeric, 8);
}

/// A table larger than memory keeps its numeric columns in files while it is parsed, and a
/// label column or a text column's codes past their limit go to files too: the same table as
/// one parsed in memory, every column and the labels mapped, nothing left in the folder.
#[test]
fn a_table_parsed_into_files_equals_one_parsed_in_memory() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut text = String::from("a,c,b,y\n");
    for i in 0..5000 {
        let a = if i % 7 == 0 {
            String::new()
        } else {
            format!("{i}.5")
        };
        text.push_str(&format!("{a},{},{},{}\n", ["p", "q"][i % 2], i * 3, i % 2));
    }
    let mut s = spec();
    s.categorical = vec!["c".into()];
    let memory = Table::from_reader(text.as_bytes(), "t.csv", &s).unwrap();
    let spilled = crate::data::buffer::spilling_into(dir.path(), || {
        Table::from_reader_into(text.as_bytes(), "t.csv", &s, Some(dir.path()), 0).unwrap()
    });
    assert_eq!(format!("{memory:?}"), format!("{spilled:?}"));
    let labels = spilled.labels.as_ref().unwrap();
    assert!(matches!(
        labels,
        crate::data::buffer::Values::Spilled { .. }
    ));
    for c in &spilled.columns {
        match c {
            Column::Numeric { values, .. } => {
                assert!(matches!(values, crate::data::buffer::Values::Mapped { .. }))
            }
            Column::Categorical { codes, .. } => {
                assert!(matches!(codes, crate::data::buffer::Values::Spilled { .. }))
            }
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
