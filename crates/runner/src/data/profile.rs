//! What each column of a file is, as training would read it: numbers, text, an identifier, a
//! constant. `inspect` prints it and `init` writes a config from it, so both see the file the
//! way `train` will: through the same loader, with text columns read as categories.

use std::path::Path;

use super::{Column, DataError, LabelColumn, LabelMap, LabelRule, LoadSpec, Selection, Table};
use crate::data::table::MISSING_CODE;

/// What a column holds, for deciding its place in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Numbers (some cells may be missing).
    Numeric,
    /// Text with repeated values: a category.
    Text,
    /// Every present value distinct (text), or distinct whole numbers that count up row by row:
    /// it names a row rather than describing it, and a model that learned it would not generalise.
    Identifier,
    /// One value, or none: it carries nothing to learn from.
    Constant,
    /// Of a type burnfit does not read (a Parquet timestamp, date or list): it has to be set
    /// aside for the rest of the file to be read.
    Unreadable,
}

impl Kind {
    /// The word `inspect` prints.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Text => "text",
            Kind::Identifier => "identifier-like",
            Kind::Constant => "constant",
            Kind::Unreadable => "unreadable",
        }
    }
}

/// One column's summary.
#[derive(Debug, Clone)]
pub(crate) struct ColumnProfile {
    /// The header name.
    pub(crate) name: String,
    /// What it holds.
    pub(crate) kind: Kind,
    /// Missing cells.
    pub(crate) missing: usize,
    /// Smallest, mean and largest value, for numbers with at least one present.
    pub(crate) stats: Option<[f64; 3]>,
    /// Distinct present values.
    pub(crate) distinct: usize,
    /// Each distinct value with its count, most frequent first, when there are at most
    /// [`FEW`] (for the label's classes).
    pub(crate) values: Option<Vec<(String, usize)>>,
    /// Whether every present value is a whole number.
    pub(crate) integers: bool,
    /// For an unreadable column, what it holds, in words.
    pub(crate) holds: Option<String>,
}

/// The most distinct values whose counts a profile keeps.
pub(crate) const FEW: usize = 20;

/// The rows a file needs before "every value distinct" is taken to mean an identifier: in a
/// handful of rows, any column can be all distinct.
const IDENTIFIER_ROWS: usize = 20;

/// Every column of `path` read as training reads it, with text columns read as categories
/// (found in the file, besides the `categorical` ones the user named).
pub(crate) fn profile(
    path: &Path,
    categorical: &[String],
) -> Result<(Table, Vec<ColumnProfile>), DataError> {
    let (table, unreadable) = read_readable(path, categorical)?;
    let mut profiles: Vec<ColumnProfile> = table.columns.iter().map(of_column).collect();
    // In the file's order: each unreadable column before the first read column after it.
    for (column, what) in unreadable {
        let at = |name: &str| table.header.iter().position(|h| h == name);
        let place = at(&column).map_or(profiles.len(), |i| {
            profiles
                .iter()
                .position(|p| at(&p.name).is_some_and(|j| j > i))
                .unwrap_or(profiles.len())
        });
        profiles.insert(
            place,
            ColumnProfile {
                name: column,
                kind: Kind::Unreadable,
                missing: 0,
                stats: None,
                distinct: 0,
                values: None,
                integers: false,
                holds: Some(what),
            },
        );
    }
    Ok((table, profiles))
}

/// Every column of `path` as a feature, text columns read as categories (found in the file,
/// besides the `categorical` ones the user named): what [`profile`] summarises.
pub(crate) fn read_all(path: &Path, categorical: &[String]) -> Result<Table, DataError> {
    read_readable(path, categorical).map(|(table, _)| table)
}

/// [`read_all`] with the columns of types burnfit does not read set aside (a Parquet
/// timestamp or list: one such column would otherwise refuse the whole file), each with what
/// it holds.
fn read_readable(
    path: &Path,
    categorical: &[String],
) -> Result<(Table, Vec<(String, String)>), DataError> {
    let mut spec = LoadSpec {
        // No label: every column is read as a feature, as the file is.
        labels: Vec::new(),
        label_column: LabelColumn::Ignored,
        label_rule: LabelRule::Known(LabelMap::Regression),
        selection: Selection::AllExcept(Vec::new()),
        categorical: categorical.to_vec(),
    };
    let mut unreadable: Vec<(String, String)> = Vec::new();
    loop {
        match Table::from_csv(path, &spec) {
            Ok(t) => return Ok((t, unreadable)),
            Err(DataError::NotNumeric { .. } | DataError::TextColumns { .. }) => {
                let found = super::table::text_columns(path, &spec);
                spec.categorical.extend(found);
                return Ok((Table::from_csv(path, &spec)?, unreadable));
            }
            // All are named at once, each once: set aside, they are never looked at again.
            Err(DataError::UnreadableColumns { columns, .. })
                if columns
                    .iter()
                    .all(|(c, _)| !unreadable.iter().any(|(u, _)| u == c)) =>
            {
                unreadable.extend(columns);
                spec.selection =
                    Selection::AllExcept(unreadable.iter().map(|(c, _)| c.clone()).collect());
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a column's name reads as a row identifier.
fn named_like_an_id(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    matches!(
        n,
        "id" | "index" | "idx" | "key" | "row" | "uuid" | "rownames"
    ) || n.ends_with("_id")
        || n.ends_with(".id")
        || n.ends_with(" id")
}

/// A column's profile, by its kind.
fn of_column(c: &Column) -> ColumnProfile {
    match c {
        Column::Numeric { name, values } => of_numeric(name, values),
        Column::Categorical {
            name,
            codes,
            levels,
        } => of_text(name, codes, levels),
    }
}

/// A numeric column: constant, an identifier (distinct whole numbers counting up, or named
/// like one), or a number.
fn of_numeric(name: &str, values: &[f32]) -> ColumnProfile {
    let present: Vec<f64> = values
        .iter()
        .filter(|v| !v.is_nan())
        .map(|&v| f64::from(v))
        .collect();
    let missing = values.len() - present.len();
    let integers = present.iter().all(|v| v.fract() == 0.0);
    let mut sorted = present.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let distinct = sorted.len();
    let stats = (!present.is_empty()).then(|| {
        let mean = present.iter().sum::<f64>() / present.len() as f64;
        [sorted[0], mean, sorted[distinct - 1]]
    });
    let counting_up = present.windows(2).all(|w| w[1] > w[0]);
    let kind = if distinct <= 1 {
        Kind::Constant
    } else if integers
        && distinct == present.len()
        && present.len() >= IDENTIFIER_ROWS
        && (counting_up || named_like_an_id(name))
    {
        Kind::Identifier
    } else {
        Kind::Numeric
    };
    let values = (distinct <= FEW).then(|| {
        let mut counts: Vec<(String, usize)> = sorted
            .iter()
            .map(|&v| {
                let n = present.iter().filter(|&&p| p == v).count();
                ((v as f32).to_string(), n)
            })
            .collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        counts
    });
    ColumnProfile {
        name: name.to_string(),
        kind,
        missing,
        stats,
        distinct,
        values,
        integers,
        holds: None,
    }
}

/// A text column: constant, an identifier (every value distinct), or text.
fn of_text(name: &str, codes: &[u32], levels: &[String]) -> ColumnProfile {
    let mut counts = vec![0usize; levels.len()];
    let mut missing = 0;
    for &code in codes {
        match counts.get_mut(code as usize) {
            Some(n) if code != MISSING_CODE => *n += 1,
            _ => missing += 1,
        }
    }
    let present = codes.len() - missing;
    let kind = if levels.len() <= 1 {
        Kind::Constant
    } else if levels.len() == present && present >= IDENTIFIER_ROWS {
        Kind::Identifier
    } else {
        Kind::Text
    };
    let values = (levels.len() <= FEW).then(|| {
        let mut v: Vec<(String, usize)> = levels.iter().cloned().zip(counts).collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.1));
        v
    });
    ColumnProfile {
        name: name.to_string(),
        kind,
        missing,
        stats: None,
        distinct: levels.len(),
        values,
        integers: false,
        holds: None,
    }
}

impl ColumnProfile {
    /// The config line `inspect` suggests for the column, as a feature (`None`: read as it is).
    pub(crate) fn suggestion(&self) -> Option<String> {
        let name = [self.name.as_str()];
        match self.kind {
            Kind::Numeric => None,
            Kind::Text => Some(super::table::categorical_line(&name)),
            Kind::Identifier | Kind::Constant | Kind::Unreadable => {
                Some(format!("exclude = {}", super::table::toml_list(&name)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_a_small_table() {
        let tmp = tempfile::TempDir::new().unwrap();
        let path = tmp.path().join("t.csv");
        let mut text = String::from("id,name,colour,size,flat,y\n");
        for i in 0..30 {
            let colour = ["red", "green"][i % 2];
            let size = if i == 3 {
                "NA".to_string()
            } else {
                format!("{}.5", i % 7)
            };
            text.push_str(&format!("{},n{i},{colour},{size},1,{}\n", i + 1, i % 2));
        }
        std::fs::write(&path, text).unwrap();
        let (table, p) = profile(&path, &[]).unwrap();
        assert_eq!(table.len(), 30);
        let kinds: Vec<Kind> = p.iter().map(|c| c.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [Identifier, Identifier, Text, Numeric, Constant, Numeric]
        );
        assert_eq!(p[3].missing, 1);
        assert_eq!(p[2].values.as_ref().unwrap().len(), 2);
        assert_eq!(p[5].distinct, 2);
        assert_eq!(
            p[2].suggestion().as_deref(),
            Some("categorical = [\"colour\"]")
        );
    }
}
