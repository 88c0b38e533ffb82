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

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The error for a text cell that is not UTF-8, quoting it with its other bytes escaped.
pub(super) fn not_utf8(cell: &[u8], row: u64, column: &str, origin: &str) -> DataError {
    DataError::NotUtf8 {
        path: origin.to_string(),
        row,
        column: column.to_string(),
        value: cell.escape_ascii().to_string(),
    }
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
