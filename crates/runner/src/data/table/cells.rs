//! One cell's bytes: missing markers, trimming, numbers.

use crate::data::DataError;

/// Cells read as missing, as pandas' `read_csv` does by default (the common ones).
const MISSING: &[&str] = &[
    "", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?", "-nan",
];

pub(super) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

pub(super) fn is_missing(b: &[u8]) -> bool {
    MISSING.iter().any(|m| m.as_bytes() == b)
}

/// A cell as it may be quoted in an error: whole when short, else its start and its size, so
/// a message never carries megabytes of one cell to the terminal.
pub(super) fn text(b: &[u8]) -> String {
    const SHOWN: usize = 60;
    if b.len() <= SHOWN + 20 {
        return String::from_utf8_lossy(b).into_owned();
    }
    format!(
        "{}… ({} in all)",
        String::from_utf8_lossy(&b[..SHOWN]),
        crate::resources::human(b.len() as u64)
    )
}

/// The longest text cell (a categorical value or a label) read. A category is a word or a few;
/// a megabyte in one cell is a file read with the wrong delimiter or quoting, and every
/// distinct value is kept in memory with its column's vocabulary.
pub(super) const CELL_LIMIT: usize = 1 << 20;

/// `b` as text, or an error naming the cell when it is not UTF-8: text cells are compared as
/// strings later (vocabularies, label classes), where a lossy decoding would merge values.
pub(super) fn utf8<'b>(
    b: &'b [u8],
    row: u64,
    column: &str,
    origin: &str,
) -> Result<&'b str, DataError> {
    if b.len() > CELL_LIMIT {
        return Err(DataError::CellTooLong {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value: text(b),
            limit: crate::resources::human(CELL_LIMIT as u64),
        });
    }
    std::str::from_utf8(b).map_err(|_| DataError::NotUtf8 {
        path: origin.to_string(),
        row,
        column: column.to_string(),
        value: text(b),
        bytes: b
            .iter()
            .take(16)
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// Parses a finite number or a missing marker (NaN); anything else is an error naming the cell.
pub(super) fn parse_number(
    b: &[u8],
    row: u64,
    column: &str,
    origin: &str,
) -> Result<f32, DataError> {
    let b = trim(b);
    // Straight from the bytes (no UTF-8 check: a number is ASCII), and the missing markers only
    // when that fails: a float parse is the loader's hottest path.
    let parsed = match fast_float2::parse::<f32, _>(b) {
        Ok(v) => Some(v),
        Err(_) if is_missing(b) => return Ok(f32::NAN),
        Err(_) => None,
    };
    match parsed {
        Some(v) if v.is_finite() => Ok(v),
        Some(v) if v.is_nan() => Ok(f32::NAN),
        // `1e40` is a finite number, only not an f32 one; `inf` is infinite.
        Some(_) if fast_float2::parse::<f64, _>(b).is_ok_and(f64::is_finite) => {
            Err(DataError::TooLarge {
                path: origin.to_string(),
                row,
                column: column.to_string(),
                value: text(b),
            })
        }
        Some(_) => Err(DataError::Infinite {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value: text(b),
        }),
        None => Err(DataError::NotNumeric {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value: text(b),
        }),
    }
}
