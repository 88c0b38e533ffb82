//! The run report: one self-contained HTML page for a run, a comparison of runs, a
//! cross-validation or a sweep, built from the files in the run folders alone (no data, no
//! model), and the terminal list of runs.
//!
//! Parts, in the order data flows through them: [`read`] (every run-folder file the report
//! reads, into a [`RunRecord`]; errors name the file), [`record`] (the record and the views of
//! it the pages share), [`curves`] (calibration and histogram numbers; the ROC and
//! precision-recall ones come from [`crate::ranking`]), [`svg`] (every chart, also
//! `curves.svg`), and [`page`] (the HTML, one module per page).

pub(crate) mod curves;
mod outputs;
pub(crate) mod page;
pub(crate) mod read;
pub(crate) mod record;
pub(crate) mod svg;

use std::collections::BTreeMap;

pub(crate) use read::runs_in;
pub(crate) use record::{ExplainAbout, RunRecord, Spread};

/// Every dotted key of a TOML table with its value as TOML text: `train.lr = 0.001` (empty
/// sections left out: they hold no value to compare).
pub(crate) fn flatten(table: &toml::Table) -> BTreeMap<String, String> {
    crate::config::rules::leaves(table)
        .into_iter()
        .filter(|(_, v)| !matches!(v, toml::Value::Table(_)))
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_gives_dotted_keys_with_toml_values() {
        let t: toml::Table = toml::from_str("seed = 1\n[train]\nlr = 0.5\n[train.early_stopping]\npatience = 3\n[model]\nhidden = [8, 4]\n").unwrap();
        let f = flatten(&t);
        assert_eq!(f["seed"], "1");
        assert_eq!(f["train.lr"], "0.5");
        assert_eq!(f["train.early_stopping.patience"], "3");
        assert_eq!(f["model.hidden"], "[8, 4]");
    }
}
