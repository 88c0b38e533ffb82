//! A numeric column read page by page: plain-encoded pages (what writers fall back to once a
//! column's dictionary grows too large, so nearly every page of a column of measurements)
//! decoded here, straight from the page's bytes to f32, with their definition levels; every
//! other page (dictionary-encoded, or levels this reader does not decode) handed to the
//! parquet crate's column reader through [`Feed`], keeping its dictionary from page to page.
//!
//! The crate's reader copies each page's values into a typed buffer and expands the
//! definition levels into a buffer of their own before a value is converted; here the values
//! are converted where they lie and the levels only counted when no cell of the page is null
//! (each step's measurements: docs/PERFORMANCE.md, loading).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use parquet::basic::Encoding;
use parquet::column::page::{Page, PageMetadata, PageReader};

use super::{f64_bytes_cells, float_text, i32_number, i64_number, spread, Decode, Decoder};

/// Pages handed to the parquet crate's column reader one at a time, as they are met.
#[derive(Clone, Default)]
pub(super) struct Feed(Arc<Mutex<VecDeque<Page>>>);

impl Feed {
    /// Queues `page` for the reader.
    pub(super) fn push(&self, page: Page) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(page);
    }
}

impl Iterator for Feed {
    type Item = parquet::errors::Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for Feed {
    fn get_next_page(&mut self) -> parquet::errors::Result<Option<Page>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front())
    }

    fn peek_next_page(&mut self) -> parquet::errors::Result<Option<PageMetadata>> {
        let queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(queue.front().map(|page| match page {
            Page::DictionaryPage { .. } => PageMetadata {
                num_rows: None,
                num_levels: None,
                is_dict: true,
            },
            Page::DataPage { num_values, .. } => PageMetadata {
                num_rows: None,
                num_levels: Some(*num_values as usize),
                is_dict: false,
            },
            Page::DataPageV2 {
                num_values,
                num_rows,
                ..
            } => PageMetadata {
                num_rows: Some(*num_rows as usize),
                num_levels: Some(*num_values as usize),
                is_dict: false,
            },
        }))
    }

    fn skip_next_page(&mut self) -> parquet::errors::Result<()> {
        self.get_next_page().map(drop)
    }
}

/// A data page's rows (a flat column: one level a row), or `None` for a dictionary page.
pub(super) fn rows_of(page: &Page) -> Option<usize> {
    match page {
        Page::DataPage { num_values, .. } => Some(*num_values as usize),
        Page::DataPageV2 { num_rows, .. } => Some(*num_rows as usize),
        Page::DictionaryPage { .. } => None,
    }
}

/// Whether `d`'s column is read page by page: numbers of a fixed-width type, with definition
/// levels of one bit (a flat optional column) or none.
pub(super) fn by_page(d: &Decoder) -> bool {
    d.numeric
        && d.max_def <= 1
        && matches!(
            d.decode,
            Decode::Double | Decode::Int64 { .. } | Decode::Float | Decode::Int32 { .. }
        )
}

/// Whether `page` of a column read [`by_page`] is decoded here: plain values (and levels, if
/// any, run-length encoded); any other is the parquet crate's.
pub(super) fn is_plain(d: &Decoder, page: &Page) -> bool {
    by_page(d)
        && match page {
            Page::DataPage {
                encoding,
                def_level_encoding,
                ..
            } => {
                *encoding == Encoding::PLAIN
                    && (d.max_def == 0 || *def_level_encoding == Encoding::RLE)
            }
            Page::DataPageV2 { encoding, .. } => *encoding == Encoding::PLAIN,
            Page::DictionaryPage { .. } => false,
        }
}

impl Decoder {
    /// Reads a plain page of `rows` rows ([`is_plain`]) to `numbers`, as [`Decoder::read`] reads
    /// a chunk: NaN where null, the first value that is no f32 in `bad` with its text.
    pub(super) fn read_page(&mut self, page: &Page, rows: usize) -> Result<(), String> {
        self.numbers.clear();
        self.bad = None;
        self.def.clear();
        let (levels, values) = split_page(page, self.max_def)?;
        let width = match self.decode {
            Decode::Double | Decode::Int64 { .. } => 8,
            _ => 4,
        };
        // The levels are expanded only when some cell is null: a column declared nullable
        // that holds no null (most of them) is one run of ones a page.
        let present = match levels {
            None => rows,
            Some(levels) => {
                let present = levels_runs(levels, rows, |_, _| {})?;
                if present < rows {
                    levels_runs(levels, rows, |value, count| {
                        self.def
                            .extend(std::iter::repeat_n(i16::from(value), count));
                    })?;
                }
                present
            }
        };
        // Exactly the present cells' values: a definition level flipped by damage would
        // otherwise leave a value over (or one short) and slide every later one a row.
        if values.len() != present * width {
            return Err(format!(
                "a page holds {} bytes of values for its {present} present cells of {width} bytes",
                values.len()
            ));
        }
        let any_bad = if present == rows {
            plain_values(self.decode, values, &mut self.numbers)
        } else {
            self.dense.clear();
            let any_bad = plain_values(self.decode, values, &mut self.dense);
            spread(&self.def, 1, &self.dense, &mut self.numbers)?;
            any_bad
        };
        if any_bad {
            if let Some(row) = self.numbers.iter().position(|x| x.is_infinite()) {
                // The value's place among the present ones.
                let k = if present == rows {
                    row
                } else {
                    self.def[..row].iter().filter(|&&l| l == 1).count()
                };
                let bytes = &values[k * width..(k + 1) * width];
                let mut text = Vec::new();
                match self.decode {
                    Decode::Double => {
                        let v = f64::from_le_bytes(bytes.try_into().unwrap_or_default());
                        float_text(&mut text, ryu::Buffer::new().format(v));
                    }
                    // A float (an integer always has an f32).
                    _ => {
                        let v = f32::from_le_bytes(bytes.try_into().unwrap_or_default());
                        float_text(&mut text, ryu::Buffer::new().format(v));
                    }
                }
                self.bad = Some((row, text));
            }
        }
        Ok(())
    }
}

/// A page's definition levels (`None` for a required column) and its values' bytes.
fn split_page(page: &Page, max_def: i16) -> Result<(Option<&[u8]>, &[u8]), String> {
    let short = || "a page shorter than its levels".to_string();
    match page {
        Page::DataPage { buf, .. } if max_def == 0 => Ok((None, &buf[..])),
        Page::DataPage { buf, .. } => {
            // Version 1: the levels' length in four bytes, then the levels.
            let length = buf.get(..4).ok_or_else(short)?;
            let length = u32::from_le_bytes(length.try_into().map_err(|_| short())?) as usize;
            let end = length.checked_add(4).ok_or_else(short)?;
            let levels = buf.get(4..end).ok_or_else(short)?;
            Ok((Some(levels), &buf[end..]))
        }
        Page::DataPageV2 {
            buf,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            // Version 2: the repetition levels (none in a flat column), then the definition
            // levels, their lengths in the header.
            let from = *rep_levels_byte_len as usize;
            let end = from
                .checked_add(*def_levels_byte_len as usize)
                .ok_or_else(short)?;
            let levels = buf.get(from..end).ok_or_else(short)?;
            Ok(((max_def > 0).then_some(levels), &buf[end..]))
        }
        Page::DictionaryPage { .. } => Err("a dictionary page where values were expected".into()),
    }
}

/// Walks `rows` one-bit definition levels (Parquet's run-length / bit-packed hybrid: runs of
/// one value, and groups of eight bit-packed values), handing each run of equal levels to
/// `run` (value, count); how many are 1 (present cells).
fn levels_runs(bytes: &[u8], rows: usize, mut run: impl FnMut(u8, usize)) -> Result<usize, String> {
    let short = || "definition levels shorter than the page's rows".to_string();
    let (mut at, mut done, mut present) = (0, 0, 0);
    while done < rows {
        // The run's header: an unsigned LEB128 varint.
        let mut header = 0u64;
        let mut shift = 0;
        loop {
            let byte = *bytes.get(at).ok_or_else(short)?;
            at += 1;
            if shift > 56 {
                return Err("a definition-level run header too long".into());
            }
            header |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let left = rows - done;
        let count = usize::try_from(header >> 1).unwrap_or(usize::MAX);
        if header & 1 == 0 {
            // A run: `count` times the value in the next byte.
            let value = *bytes.get(at).ok_or_else(short)?;
            at += 1;
            if value > 1 {
                return Err(format!("a definition level of {value} in a flat column"));
            }
            let count = count.min(left);
            run(value, count);
            present += usize::from(value) * count;
            done += count;
        } else {
            // `count` groups of eight one-bit values, a byte each, lowest bit first.
            let end = at.checked_add(count).ok_or_else(short)?;
            let packed = bytes.get(at..end).ok_or_else(short)?;
            at = end;
            for &byte in packed {
                for bit in 0..8 {
                    if done == rows {
                        break;
                    }
                    let value = (byte >> bit) & 1;
                    run(value, 1);
                    present += usize::from(value);
                    done += 1;
                }
            }
        }
    }
    Ok(present)
}

/// Plain values of `decode`'s type (little-endian, `bytes` a whole number of them) appended
/// to `out` as f32, a value past f32's range as an infinity; whether there was one.
fn plain_values(decode: Decode, bytes: &[u8], out: &mut Vec<f32>) -> bool {
    let start = out.len();
    match decode {
        Decode::Double => return f64_bytes_cells(bytes, out),
        Decode::Float => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default())),
        ),
        Decode::Int32 { unsigned } => out.extend(bytes.chunks_exact(4).map(|b| {
            i32_number(
                i32::from_le_bytes(b.try_into().unwrap_or_default()),
                unsigned,
            )
        })),
        Decode::Int64 { unsigned } => out.extend(bytes.chunks_exact(8).map(|b| {
            i64_number(
                i64::from_le_bytes(b.try_into().unwrap_or_default()),
                unsigned,
            )
        })),
        // Never asked ([`is_plain`]); were it, every value would be an error.
        _ => {
            out.extend(std::iter::repeat_n(f32::INFINITY, bytes.len()));
            return true;
        }
    }
    out[start..].iter().any(|x| x.is_infinite())
}

#[cfg(test)]
mod tests {
    use super::levels_runs;

    fn decode_levels(bytes: &[u8], rows: usize, out: &mut Vec<i16>) -> Result<usize, String> {
        levels_runs(bytes, rows, |value, count| {
            out.extend(std::iter::repeat_n(i16::from(value), count));
        })
    }

    /// Runs and bit-packed groups, mixed, cut at the page's rows; the present cells counted.
    #[test]
    fn one_bit_levels_decode_from_runs_and_packed_groups() {
        // A run of 3 ones, one packed group (0b1010_0110), a run of 300 zeros (varint 600).
        let bytes = [6, 1, 3, 0b1010_0110, 0xd8, 0x04, 0];
        let mut out = Vec::new();
        assert_eq!(decode_levels(&bytes, 3 + 8 + 300, &mut out), Ok(7));
        let mut want = vec![1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1];
        want.extend(std::iter::repeat_n(0, 300));
        assert_eq!(out, want);
        let mut cut = Vec::new();
        decode_levels(&bytes, 5, &mut cut).unwrap();
        assert_eq!(cut, want[..5]);
        assert!(decode_levels(&bytes[..3], 11, &mut Vec::new()).is_err());
        assert!(decode_levels(&[2, 7], 1, &mut Vec::new()).is_err());
    }
}
