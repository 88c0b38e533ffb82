//! After the first text cell in a numeric column: every column of the file that holds text,
//! so that one error gives the user the whole `categorical` line instead of one column per run.
//! Only on that error path, so a good file is read once.

use std::path::Path;

use super::cells::{is_missing, parse_number, text, trim};
use super::header;
use super::LoadSpec;
use crate::data::DataError;

/// The error to report for `first`, a [`DataError::NotNumeric`] from reading `path`: the same
/// error when it is the file's only text column, or [`DataError::TextColumns`] naming each one
/// with its first text cell. Any other error, or a file that cannot be read again, gives
/// `first` back unchanged.
pub(super) fn every_text_column(path: &Path, spec: &LoadSpec, first: DataError) -> DataError {
    if !matches!(first, DataError::NotNumeric { .. }) {
        return first;
    }
    let Some(columns) = scan(path, spec) else {
        return first;
    };
    if columns.len() < 2 {
        return first;
    }
    let names: Vec<&str> = spec
        .categorical
        .iter()
        .map(String::as_str)
        .chain(columns.iter().map(|(n, _, _)| n.as_str()))
        .collect();
    DataError::TextColumns {
        path: path.display().to_string(),
        columns: columns
            .iter()
            .map(|(name, row, value)| format!("`{name}` (row {row}: `{value}`)"))
            .collect::<Vec<_>>()
            .join(", "),
        count: columns.len(),
        line: categorical_line(&names),
    }
}

/// A numeric column being scanned: its field, its name, and its first text cell's row and
/// value once one is seen.
type Scanned = (usize, String, Option<(u64, String)>);

/// The numeric columns `spec` would read from `path` that hold text, each with its first text
/// cell's row and value; `None` when the file cannot be read again.
fn scan(path: &Path, spec: &LoadSpec) -> Option<Vec<(String, u64, String)>> {
    let origin = path.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(super::open_bounded(path).ok()?);
    let header: Vec<String> = rdr
        .headers()
        .ok()?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let fields = header::resolve(header, &origin, spec).ok()?;
    let mut found: Vec<Scanned> = fields
        .features
        .iter()
        .map(|&f| (f, fields.header[f].clone(), None))
        .filter(|(_, name, _)| !spec.categorical.contains(name))
        .collect();
    let mut record = csv::ByteRecord::new();
    while let Ok(true) = rdr.read_byte_record(&mut record) {
        let row = record.position().map_or(0, |p| p.line());
        for (field, name, seen) in found.iter_mut().filter(|(_, _, s)| s.is_none()) {
            let Some(cell) = record.get(*field) else {
                continue;
            };
            if !is_missing(trim(cell))
                && matches!(
                    parse_number(cell, row, name, &origin),
                    Err(DataError::NotNumeric { .. })
                )
            {
                *seen = Some((row, text(trim(cell))));
            }
        }
    }
    Some(
        found
            .into_iter()
            .filter_map(|(_, name, seen)| seen.map(|(row, value)| (name, row, value)))
            .collect(),
    )
}

/// The columns `spec` would read as numbers from `path` that hold text (for `inspect` and
/// `init`, which read text columns as categories instead of failing).
pub(crate) fn text_columns(path: &Path, spec: &LoadSpec) -> Vec<String> {
    scan(path, spec)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _, _)| name)
        .collect()
}

/// `categorical = ["a", "b"]`, as TOML writes the names (quotes and backslashes escaped).
pub(crate) fn categorical_line(names: &[&str]) -> String {
    format!("categorical = {}", toml_list(names))
}

/// `["a", "b"]`: names as a TOML list, each quoted and escaped as TOML writes strings.
pub(crate) fn toml_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|n| toml::Value::String((*n).to_string()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}
