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
/// cell's row and value; `None` when the file cannot be read again. Read as the loader reads
/// (quote-free lines by hand, from the first quote on by the csv crate), so its rows are the
/// loader's.
fn scan(path: &Path, spec: &LoadSpec) -> Option<Vec<(String, u64, String)>> {
    let origin = path.display().to_string();
    let (header, mut input) =
        super::lines::Input::open(super::open_bounded(path).ok()?, &origin).ok()?;
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let fields = header::resolve(header, &origin, spec).ok()?;
    let mut found: Vec<Scanned> = fields
        .features
        .iter()
        .map(|&f| (f, fields.header[f].clone(), None))
        .filter(|(_, name, _)| !spec.categorical.contains(name))
        .collect();
    let mut block = super::lines::Block::default();
    loop {
        match input.next_block(&mut block, fields.header.len()) {
            Ok(super::lines::Next::Block) => {
                let first = block.first_line;
                for (i, line) in block.text().split(|&b| b == b'\n').enumerate() {
                    if !line.is_empty() {
                        let cells: Vec<&[u8]> = line.split(|&b| b == b',').collect();
                        check(
                            &mut found,
                            |f| cells.get(f).copied(),
                            first + i as u64,
                            &origin,
                        );
                    }
                }
            }
            Ok(super::lines::Next::Quoted) => {
                let (mut rdr, offset) = input.into_csv(&mut block);
                let mut record = csv::ByteRecord::new();
                while let Ok(true) = super::pipeline::read_record(&mut rdr, &mut record) {
                    let row = super::pipeline::line(&record) + offset;
                    check(&mut found, |f| record.get(f), row, &origin);
                }
                break;
            }
            Ok(super::lines::Next::End) | Err(_) => break,
        }
    }
    Some(
        found
            .into_iter()
            .filter_map(|(_, name, seen)| seen.map(|(row, value)| (name, row, value)))
            .collect(),
    )
}

/// Notes each column of `found` not yet seen holding text whose cell (`cell` of its field) in
/// line `row` is text.
fn check<'c>(
    found: &mut [Scanned],
    cell: impl Fn(usize) -> Option<&'c [u8]>,
    row: u64,
    origin: &str,
) {
    for (field, name, seen) in found.iter_mut().filter(|(_, _, s)| s.is_none()) {
        let Some(cell) = cell(*field) else {
            continue;
        };
        if !is_missing(trim(cell))
            && matches!(
                parse_number(cell, row, name, origin),
                Err(DataError::NotNumeric { .. })
            )
        {
            *seen = Some((row, text(trim(cell))));
        }
    }
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
