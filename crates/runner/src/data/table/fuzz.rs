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
