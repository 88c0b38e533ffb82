//! Header resolution: which fields of each record are the label and the features.

use std::collections::HashMap;

use super::{LabelColumn, LoadSpec, Selection};
use crate::data::DataError;

/// The header and the fields a record is read through.
pub(super) struct Fields {
    /// Header names, trimmed.
    pub(crate) header: Vec<String>,
    /// The label columns' fields, in `data.label` order (none when they are not read).
    pub(crate) labels: Vec<usize>,
    /// The features' fields, in selection order.
    pub(crate) features: Vec<usize>,
}

/// Checks the header's names: present, named, unique, and not one column that holds another
/// separator.
fn check_names(header: &[String], origin: &str) -> Result<(), DataError> {
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DataError::Empty {
            path: origin.to_string(),
        });
    }
    if header.len() == 1 {
        let found = [(';', "semicolons"), ('\t', "tabs"), ('|', "vertical bars")]
            .into_iter()
            .find(|(c, _)| header[0].contains(*c));
        if let Some((_, separator)) = found {
            return Err(DataError::Separator {
                path: origin.to_string(),
                header: header[0].clone(),
                separator: separator.to_string(),
            });
        }
    }
    if let Some(i) = header.iter().position(|h| h.is_empty()) {
        return Err(DataError::BlankHeader {
            path: origin.to_string(),
            position: i + 1,
        });
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(first) = seen.insert(h, i) {
            return Err(DataError::DuplicateHeader {
                path: origin.to_string(),
                name: h.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(())
}

/// `data.label` as the missing-column error names it, with the list to write when the name is
/// several columns of the file written as one (`--set data.label=a,b`, or `[a,b]` unquoted).
fn label_role(name: &str, header: &[String]) -> String {
    let parts: Vec<&str> = name
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect();
    if parts.len() > 1 && parts.iter().all(|p| header.iter().any(|h| h == p)) {
        let list: Vec<String> = parts.iter().map(|p| format!("{p:?}")).collect();
        return format!(
            "data.label; for several label columns write a list: data.label = [{}]",
            list.join(", ")
        );
    }
    "data.label".into()
}

/// Checks the header (present, no duplicate names) and finds the fields `spec` asks for; every
/// column it names must exist.
pub(super) fn resolve(
    header: Vec<String>,
    origin: &str,
    spec: &LoadSpec,
) -> Result<Fields, DataError> {
    check_names(&header, origin)?;
    let missing_column = |column: &str, role: &str| DataError::MissingColumn {
        path: origin.to_string(),
        column: column.to_string(),
        role: role.to_string(),
        available: header.join(", "),
    };
    let labels = match spec.label_column {
        LabelColumn::Ignored => Vec::new(),
        LabelColumn::Required => spec
            .labels
            .iter()
            .map(|l| {
                header
                    .iter()
                    .position(|h| h == l)
                    .ok_or_else(|| missing_column(l, &label_role(l, &header)))
            })
            .collect::<Result<_, _>>()?,
    };
    let features: Vec<usize> = match &spec.selection {
        Selection::Only(names) => names
            .iter()
            .map(|n| {
                header
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| missing_column(n, "a feature"))
            })
            .collect::<Result<_, _>>()?,
        Selection::AllExcept(excluded) => {
            if let Some(e) = excluded.iter().find(|e| !header.contains(e)) {
                return Err(missing_column(e, "listed in data.exclude"));
            }
            // A label is never a feature, even when it is not read.
            (0..header.len())
                .filter(|&i| !spec.labels.contains(&header[i]) && !excluded.contains(&header[i]))
                .collect()
        }
    };
    if let Some(c) = spec
        .categorical
        .iter()
        .find(|c| !features.iter().any(|&i| header[i] == **c))
    {
        return Err(missing_column(c, "listed in data.categorical"));
    }
    Ok(Fields {
        header,
        labels,
        features,
    })
}
