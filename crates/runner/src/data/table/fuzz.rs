//! Arbitrary input never panics the loader or the preprocessing after it.

use super::*;
use proptest::prelude::*;

/// Runs what a training run does with a loaded table: the missing-value rule, the fit of
/// every normalization on half the rows, and the transform of all of them.
fn through_the_pipeline(table: &Table) {
    use crate::config::{Missing, Normalize};
    use crate::data::Preprocessor;
    for missing in [Missing::Drop, Missing::Mean, Missing::Constant] {
        let rows = match missing {
            Missing::Drop => table.complete_rows(),
            _ => table.labelled_rows(),
        };
        let half = &rows[..rows.len() / 2];
        for normalize in [
            Normalize::None,
            Normalize::L2,
            Normalize::Zscore,
            Normalize::Minmax,
        ] {
            // Without a label column there is nothing to fit, and saying so is an error.
            if let Ok(pre) = Preprocessor::fit(table, half, missing, 0.0, normalize) {
                let _ = pre.transform(table, &rows);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]
    /// Arbitrary bytes never panic the loader: a table or an error.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), numeric in any::<bool>()) {
        let spec = LoadSpec {
            labels: vec!["y".into()],
            label_column: crate::data::LabelColumn::Required,
            label_rule: if numeric { LabelRule::Known(LabelMap::Regression) } else { LabelRule::InferBinary { positive: None } },
            selection: Selection::AllExcept(vec![]),
            categorical: vec![],
        };
        if let Ok(table) = Table::from_reader(&bytes[..], "fuzz.csv", &spec) {
            through_the_pipeline(&table);
        }
    }

    /// CSV-shaped text from a small alphabet (commas, quotes, newlines, numbers, NA) reaches
    /// deeper than random bytes.
    #[test]
    fn csv_shaped_text_never_panics(body in "[a-cy0-9,.\"\\r\\n NA\u{feff}-]{0,300}") {
        let spec = LoadSpec {
            labels: vec!["y".into()],
            label_column: crate::data::LabelColumn::Required,
            label_rule: LabelRule::InferBinary { positive: None },
            selection: Selection::AllExcept(vec![]),
            categorical: vec!["a".into()],
        };
        if let Ok(table) = Table::from_reader(format!("a,b,y\n{body}").as_bytes(), "fuzz.csv", &spec) {
            through_the_pipeline(&table);
        }
    }
}

/// `text` with each run of line breaks made one (`\n`, `\r\n` or `\r`), none first.
fn without_blank_lines(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            let crlf = c == '\r' && chars.peek() == Some(&'\n');
            while chars.peek().is_some_and(|&n| n == '\r' || n == '\n') {
                chars.next();
            }
            if !out.is_empty() {
                out.push_str(if crlf {
                    "\r\n"
                } else if c == '\r' {
                    "\r"
                } else {
                    "\n"
                });
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The fast path's result for `text` (a table, or an error's message) equals the csv path's.
fn same_as_csv(text: &str, spec: &LoadSpec) -> Result<(), TestCaseError> {
    let shown = |r: Result<Table, DataError>| match r {
        Ok(t) => format!("{t:?}"),
        Err(e) => format!("error: {e}"),
    };
    let fast = shown(Table::from_reader(text.as_bytes(), "t.csv", spec));
    let csv = shown(Table::from_reader_through_csv(
        text.as_bytes(),
        "t.csv",
        spec,
    ));
    prop_assert_eq!(fast, csv, "{:?}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]
    /// Lines without quotes read by the fast path give the table and the errors (with their
    /// rows) that csv_core's records give: blocks are 64 bytes under test, so lines cross
    /// blocks, lines outgrow them, and a quote hands the rest of the file over mid-way.
    #[test]
    fn the_fast_path_reads_what_the_csv_path_reads(
        body in "([0-9]{1,3}(\\.[0-9]{1,4})?|-?[0-9]e[-+]?[0-9]{1,2}|[abc]|NA| |,|\n|\r|nan|inf|1e99|\"){0,120}",
        rows in prop::collection::vec("(-?[0-9]{1,4}\\.[0-9]{0,3}|NA|),(p|q| r|),(0|1|yes|)", 0..40),
        quote_at in prop::option::of(0usize..40),
        categorical in any::<bool>(),
        numeric_label in any::<bool>(),
    ) {
        let spec = LoadSpec {
            labels: vec!["y".into()],
            label_column: crate::data::LabelColumn::Required,
            label_rule: if numeric_label {
                LabelRule::Known(LabelMap::Regression)
            } else {
                LabelRule::InferBinary { positive: None }
            },
            selection: Selection::AllExcept(vec![]),
            categorical: if categorical { vec!["c".into()] } else { vec![] },
        };
        // csv numbers a record after blank lines by the first of them, the fast path by its
        // own line (unit test `blank_lines_are_skipped_and_counted`): no blank lines here.
        let body = without_blank_lines(&body);
        same_as_csv(&format!("a,c,y\n{body}"), &spec)?;
        let mut text = String::from("a,c,y\n");
        for (i, row) in rows.iter().enumerate() {
            if quote_at == Some(i) {
                text.push_str("1,\"q\nr\",1\n");
            }
            text.push_str(row);
            text.push('\n');
        }
        same_as_csv(&text, &spec)?;
        text.push_str(&body);
        same_as_csv(&text, &spec)?;
    }
}
