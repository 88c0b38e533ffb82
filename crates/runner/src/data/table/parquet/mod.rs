//! Parquet as a data source. The file's columns are decoded a chunk of rows at a time, each
//! column on its own thread (typed column readers, not the row-by-row record API). The
//! numeric features go straight to f32 ([`direct`]); labels and text columns go through their
//! cells' text, the same bytes a CSV of the file would hold, into the builders the CSV loader
//! uses, so a Parquet file and a CSV holding the same values give the same table: the same
//! types, missing cells (Parquet's nulls), categories, labels, and errors naming the column and
//! row. [`text`] gives the whole file as CSV text, for the second reads that take the file's
//! text (`--keep`, the scan for every text column).
//!
//! Supported: booleans, integers of any width and sign, floats (16, 32 and 64 bits), strings
//! (plain or dictionary-encoded), nulls; compressed with Snappy or Zstandard, the defaults of
//! pandas/pyarrow, Spark, DuckDB and polars, or not at all. Nested columns (lists, maps,
//! structs), dates, times, timestamps, decimals and binary columns are refused by name when
//! the file is opened.

mod direct;
mod pages;
mod text;

pub(crate) use direct::read_table;
pub(crate) use text::ParquetText;

use std::cell::Cell;
use std::fs::File;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

use parquet::basic::{Compression, ConvertedType, LogicalType, Type as Physical};
use parquet::column::reader::ColumnReader;
use parquet::file::reader::{ChunkReader, FileReader, Length, SerializedFileReader};
use parquet::schema::types::ColumnDescriptor;
use rayon::prelude::*;

use crate::data::DataError;

/// The four bytes that open (and close) every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// Whether `path` is a Parquet file: its name ends in `.parquet` or `.pq`, or it starts with
/// Parquet's magic bytes (a regular file only: a stream is never read ahead).
pub(crate) fn is_parquet(path: &Path) -> bool {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"));
    if by_name {
        return true;
    }
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == MAGIC)
}

/// The file as the Parquet reader reads it: every read positional (`pread`), so the columns
/// decoded at once on several threads never move a shared file offset under each other (the
/// reader's own `File` source clones the descriptor, whose offset all clones share). Reading
/// the whole file into memory first, to slice the column chunks out of it, was tried and was
/// slower and erratic (0.6–3.5 s against 0.5 s for 1M × 100 on the 2-core Xeon VM): the kernel
/// zeroes every fresh page of the buffer, where the reused buffers of page-sized reads cost
/// nothing.
struct Source {
    file: Arc<File>,
    len: u64,
    /// What was read, for the file's checksum.
    ledger: Arc<Ledger>,
}

/// A [`Read`] of a [`Source`] from an offset of its own. The parquet crate reads each page's
/// header through it, a few bytes at a time as its Thrift decoder asks: unbuffered, that was
/// 218,000 `pread` calls for the 1M × 100 file. Its bytes are not noted in the [`Ledger`]:
/// a buffer reads past the header into the page, and a piece that overlaps the next (the
/// page's own) would have the rest of that page read again for the checksum; the headers are
/// read for it with what lies between the pages instead.
struct SourceRead {
    file: Arc<File>,
    at: u64,
}

impl Read for SourceRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Bytes read at once for a page header: most are under a hundred; a longer one is read on.
const HEADER_READ: usize = 1024;

/// Each piece of a file that was read, with its CRC32, computed on the thread that read it:
/// the file's checksum (the run's record of its data) is then the pieces combined in order,
/// with what was never read (the leading magic, columns set aside) read once for it. It was
/// a second read of the whole file, a quarter of the time of a Parquet load.
#[derive(Default)]
struct Ledger(std::sync::Mutex<Vec<(u64, u64, u32)>>);

impl Ledger {
    /// `bytes` were read from offset `at`.
    fn note(&self, at: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let crc = crc32fast::hash(bytes);
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((at, bytes.len() as u64, crc));
    }

    /// The size and CRC32 of the first `len` bytes of `file`: the pieces read, in order, and
    /// what lies between and after them read now. A piece that overlaps the bytes already
    /// counted has its new part read again.
    fn checksum(&self, file: &File, len: u64) -> std::io::Result<(u64, u32)> {
        use std::os::unix::fs::FileExt;
        let mut pieces = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        pieces.sort_unstable_by_key(|&(at, n, _)| (at, std::cmp::Reverse(n)));
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = Vec::new();
        let mut read = |from: u64, to: u64, hasher: &mut crc32fast::Hasher| {
            let mut at = from;
            while at < to {
                let n = (to - at).min(1 << 20) as usize;
                buf.resize(n, 0);
                file.read_exact_at(&mut buf, at)?;
                hasher.update(&buf);
                at += n as u64;
            }
            std::io::Result::Ok(())
        };
        let mut pos = 0u64;
        for (at, n, crc) in pieces {
            let end = (at + n).min(len);
            if end <= pos {
                continue;
            }
            if at > pos {
                read(pos, at, &mut hasher)?;
                pos = at;
            }
            if at == pos && at + n <= len {
                hasher.combine(&crc32fast::Hasher::new_with_initial_len(crc, n));
            } else {
                read(pos, end, &mut hasher)?;
            }
            pos = end;
        }
        read(pos, len, &mut hasher)?;
        Ok((len, hasher.finalize()))
    }
}

impl Length for Source {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Source {
    type T = std::io::BufReader<SourceRead>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        self.check(start, 0)?;
        Ok(std::io::BufReader::with_capacity(
            HEADER_READ,
            SourceRead {
                file: Arc::clone(&self.file),
                at: start,
            },
        ))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.check(start, length)?;
        // Read into the vector's spare room, not zeroed first: every page of a column
        // passes here, and zeroing them was 6 % of a Parquet load.
        let mut buf = Vec::with_capacity(length);
        while buf.len() < length {
            let at = start + buf.len() as u64;
            match rustix::io::pread(&*self.file, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return Err(parquet::errors::ParquetError::External(Box::new(e)));
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    let e = std::io::Error::from(e);
                    return Err(parquet::errors::ParquetError::External(Box::new(e)));
                }
            }
        }
        self.ledger.note(start, &buf);
        Ok(buf.into())
    }
}

impl Source {
    /// The length comes from the file's own footer: a damaged one may claim more than the file
    /// holds, which is refused before anything that size is allocated.
    fn check(&self, start: u64, length: usize) -> parquet::errors::Result<()> {
        if start
            .checked_add(length as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(parquet::errors::ParquetError::General(format!(
                "{length} bytes at {start} run past the file's end ({} bytes)",
                self.len
            )));
        }
        Ok(())
    }
}

/// An error about the file as a whole, in the loader's words.
fn unreadable(path: &Path, why: impl std::fmt::Display) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("not a readable Parquet file: {why}")),
    }
}

/// How a column's values become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Bool,
    /// INT32, signed or (its bits) unsigned.
    Int32 {
        unsigned: bool,
    },
    /// INT64, signed or (its bits) unsigned.
    Int64 {
        unsigned: bool,
    },
    Float,
    Double,
    /// IEEE half precision in two little-endian bytes.
    Float16,
    /// UTF-8 text (strings, enums, JSON), written as it is.
    Text,
}

/// How a column's values are decoded, or what it holds in words when the loader cannot take
/// it: read from its physical type and its logical (or older converted) annotation, as
/// Parquet writers set them.
fn decode_of(c: &ColumnDescriptor) -> Result<Decode, &'static str> {
    use ConvertedType as C;
    use LogicalType as L;
    let (logical, converted) = (c.logical_type_ref(), c.converted_type());
    let decimal = matches!(logical, Some(L::Decimal { .. })) || converted == C::DECIMAL;
    let time = matches!(logical, Some(L::Time { .. }))
        || matches!(converted, C::TIME_MILLIS | C::TIME_MICROS);
    let unsigned = matches!(
        logical,
        Some(L::Integer {
            is_signed: false,
            ..
        })
    ) || matches!(converted, C::UINT_8 | C::UINT_16 | C::UINT_32 | C::UINT_64);
    Ok(match c.physical_type() {
        Physical::BOOLEAN => Decode::Bool,
        _ if decimal => return Err("decimal"),
        _ if time => return Err("time-of-day"),
        Physical::INT32 if matches!(logical, Some(L::Date)) || converted == C::DATE => {
            return Err("date")
        }
        Physical::INT32 => Decode::Int32 { unsigned },
        Physical::INT64
            if matches!(logical, Some(L::Timestamp { .. }))
                || matches!(converted, C::TIMESTAMP_MILLIS | C::TIMESTAMP_MICROS) =>
        {
            return Err("timestamp")
        }
        Physical::INT64 => Decode::Int64 { unsigned },
        // Impala's and Spark's old timestamps.
        Physical::INT96 => return Err("timestamp"),
        Physical::FLOAT => Decode::Float,
        Physical::DOUBLE => Decode::Double,
        Physical::BYTE_ARRAY
            if matches!(logical, Some(L::String | L::Enum | L::Json))
                || matches!(converted, C::UTF8 | C::ENUM | C::JSON) =>
        {
            Decode::Text
        }
        Physical::FIXED_LEN_BYTE_ARRAY
            if matches!(logical, Some(L::Float16)) && c.type_length() == 2 =>
        {
            Decode::Float16
        }
        Physical::BYTE_ARRAY | Physical::FIXED_LEN_BYTE_ARRAY => return Err("binary"),
    })
}

/// A float's shortest round-trip digits (`ryu`'s, the same digits as Rust's own formatting), a
/// whole number without the `.0` ryu adds, as a CSV written by Rust holds it: `1`, not `1.0`,
/// so a number read as text (a categorical column, a label) reads as it does from the CSV.
/// Parsed back, the digits give the same value.
fn float_text(t: &mut Vec<u8>, digits: &str) {
    t.extend_from_slice(digits.strip_suffix(".0").unwrap_or(digits).as_bytes());
}

/// A half-precision float's value.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f32::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f32.powi(-24),
        0x1f if fraction == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        e => sign * (1.0 + fraction / 1024.0) * 2f32.powi(e - 15),
    }
}

/// One decoded column: its reader in the current row group, and the chunk of rows last read:
/// as numbers (a numeric feature of a number type), or as text, one cell per row (`ends[i]` is
/// where row `i`'s cell ends in `text`).
struct Decoder {
    /// Its leaf in the schema.
    leaf: usize,
    decode: Decode,
    /// The definition level of a present value (0: the column cannot hold nulls).
    max_def: i16,
    /// Its reader in the current row group.
    reader: Option<ColumnReader>,
    def: Vec<i16>,
    /// Read to `numbers`, not to text.
    numeric: bool,
    text: Vec<u8>,
    ends: Vec<usize>,
    /// The chunk's values as f32, NaN where null (a numeric decoder).
    numbers: Vec<f32>,
    /// The chunk's present values as f32, before they are spread over the rows.
    dense: Vec<f32>,
    /// The chunk's first value that is no f32 (an infinity, a number past f32's range): its
    /// row in the chunk and its text, which the CSV loader's number parser names in its error.
    bad: Option<(usize, Vec<u8>)>,
    /// The chunk's values as the reader gives them, kept from chunk to chunk so that their
    /// memory is reused, not asked of the kernel (and zeroed by it) again.
    raw: Raw,
}

/// A decoder's raw values, by physical type (one of them used).
#[derive(Default)]
struct Raw {
    bools: Vec<bool>,
    i32s: Vec<i32>,
    i64s: Vec<i64>,
    f32s: Vec<f32>,
    f64s: Vec<f64>,
    bytes: Vec<parquet::data_type::ByteArray>,
    fixed: Vec<parquet::data_type::FixedLenByteArray>,
}

/// Whether a column of `decode` values can be read straight to numbers.
fn is_number(decode: Decode) -> bool {
    !matches!(decode, Decode::Bool | Decode::Text)
}

/// An f64 as the CSV loader reads its shortest digits (`ryu`'s): the nearest f32, or `None`
/// past f32's range. `v as f32` rounds once, from the f64; the digits round once from a
/// decimal that is within half an f64 step of it. The two differ only where the f64 lies
/// exactly halfway between two f32s, or among f32's subnormals, and there the digits decide.
#[inline]
fn f64_cell(v: f64) -> Option<f32> {
    if v.is_nan() {
        return Some(f32::NAN);
    }
    let f = v as f32;
    // Halfway: the 29 bits below an f32's 24-bit significand are exactly one half.
    let halfway = v.to_bits() & 0x1fff_ffff == 0x1000_0000;
    let subnormal = v != 0.0 && v.abs() < f64::from(f32::MIN_POSITIVE);
    if halfway || subnormal {
        let mut digits = ryu::Buffer::new();
        return fast_float2::parse::<f32, _>(digits.format(v).as_bytes())
            .ok()
            .filter(|x| x.is_finite());
    }
    f.is_finite().then_some(f)
}

/// The present values `dense` spread over rows of definition levels `levels` into `numbers`:
/// a row at `present` takes the next value, any other is null (NaN).
fn spread(
    levels: &[i16],
    present: i16,
    dense: &[f32],
    numbers: &mut Vec<f32>,
) -> Result<(), &'static str> {
    let mut next = dense.iter();
    for &level in levels {
        numbers.push(if level == present {
            *next.next().ok_or("fewer values than present cells")?
        } else {
            f32::NAN
        });
    }
    Ok(())
}

/// An INT32 value to the nearest f32, as its digits parse; its bits read as unsigned where
/// the column's type says so.
#[inline]
fn i32_number(v: i32, unsigned: bool) -> f32 {
    if unsigned {
        v as u32 as f32
    } else {
        v as f32
    }
}

/// [`i32_number`] for INT64.
#[inline]
fn i64_number(v: i64, unsigned: bool) -> f32 {
    if unsigned {
        v as u64 as f32
    } else {
        v as f32
    }
}

/// [`f64_cell`] of every value, appended to `out`, a value past f32's range as an infinity;
/// whether there was one. Converted with `as` in bulk, then each block that holds a value
/// where the two can differ (NaN, infinite, halfway, subnormal) is done again one by one:
/// the bulk pass is a few instructions a value, where [`f64_cell`] per value was most of a
/// Parquet load's time.
fn f64_cells(values: &[f64], out: &mut Vec<f32>) -> bool {
    const BLOCK: usize = 256;
    let mut any_bad = false;
    for block in values.chunks(BLOCK) {
        let start = out.len();
        out.extend(block.iter().map(|&v| v as f32));
        let rare = block.iter().fold(0, |rare, v| rare | rare_f64(v.to_bits()));
        if rare != 0 {
            any_bad |= redo(block.iter().copied(), &mut out[start..]);
        }
    }
    any_bad
}

/// [`f64_cells`] of little-endian doubles where they lie (a plain page's values, not aligned
/// to eight bytes): no copy into a typed buffer first.
fn f64_bytes_cells(bytes: &[u8], out: &mut Vec<f32>) -> bool {
    const BLOCK: usize = 256;
    let double = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let mut any_bad = false;
    for block in bytes.chunks(8 * BLOCK) {
        let start = out.len();
        out.extend(
            block
                .chunks_exact(8)
                .map(|b| f64::from_bits(double(b)) as f32),
        );
        let rare = block
            .chunks_exact(8)
            .fold(0, |rare, b| rare | rare_f64(double(b)));
        if rare != 0 {
            let values = block.chunks_exact(8).map(|b| f64::from_bits(double(b)));
            any_bad |= redo(values, &mut out[start..]);
        }
    }
    any_bad
}

/// 1 when an f64 of these bits may round otherwise through its shortest digits than through
/// `as f32`, or overflow: branch-free on 32-bit halves, so that it runs on vector lanes.
/// Halfway: the 29 bits below an f32's significand are one half. The exponent 1150 and up:
/// 2^127 and past (NaN, infinite, or at f32's range's end, where `as` may round to infinity).
/// Below 897 but not zero: an f32 subnormal.
#[inline(always)]
fn rare_f64(bits: u64) -> u32 {
    let (low, high) = (bits as u32, (bits >> 32) as u32);
    let exponent = (high >> 20) & 0x7ff;
    let halfway = u32::from(low & 0x1fff_ffff == 0x1000_0000);
    let large = u32::from(exponent >= 1150);
    let small = u32::from(exponent < 897) & u32::from(((high << 1) | low) != 0);
    halfway | large | small
}

/// A block with a rare value, done again one value at a time by [`f64_cell`]; whether a
/// value was past f32's range (an infinity in `out`).
#[cold]
fn redo(values: impl Iterator<Item = f64>, out: &mut [f32]) -> bool {
    let mut any_bad = false;
    for (o, v) in out.iter_mut().zip(values) {
        *o = f64_cell(v).unwrap_or(f32::INFINITY);
        any_bad |= o.is_infinite();
    }
    any_bad
}

impl Decoder {
    /// Reads the next `n` rows, to numbers or text; fewer rows than the row group promised is
    /// an error.
    // Long because one arm per physical type, each a short formatter for the same macro.
    fn read(&mut self, n: usize) -> Result<(), String> {
        let Decoder {
            decode,
            max_def,
            reader,
            def,
            numeric,
            text,
            ends,
            numbers,
            dense,
            bad,
            raw,
            ..
        } = self;
        let (decode, max_def, numeric) = (*decode, *max_def, *numeric);
        def.clear();
        text.clear();
        ends.clear();
        numbers.clear();
        *bad = None;
        let reader = reader
            .as_mut()
            .ok_or("a column read before its row group")?;
        // One chunk of values, then each row's number (NaN for a null), or its cell: its
        // value's text, or empty for a null. Numbers are converted in bulk
        // (`$number` takes the chunk's present values), then spread over the rows when some
        // are null.
        macro_rules! cells {
            ($r:expr, $values:expr, $t:ty, $write:expr) => {
                // No numbers of this type (never asked: `is_number`); were they, every value
                // would be an error, never a wrong number.
                cells!($r, $values, $t, $write, |v: &[$t], out: &mut Vec<f32>| {
                    out.extend(std::iter::repeat_n(f32::INFINITY, v.len()));
                    true
                })
            };
            ($r:expr, $values:expr, $t:ty, $write:expr, $number:expr) => {{
                let values: &mut Vec<$t> = $values;
                values.clear();
                let (rows, _, _) = $r
                    .read_records(n, Some(&mut *def), None, values)
                    .map_err(|e| e.to_string())?;
                if rows != n {
                    return Err(format!("{rows} rows where the row group holds {n}"));
                }
                if max_def == 0 && values.len() != n {
                    return Err(format!(
                        "{} values where the row group holds {n} rows",
                        values.len()
                    ));
                }
                let mut any_bad = false;
                if numeric && values.len() == n {
                    // No nulls: one value a row.
                    any_bad = $number(values.as_slice(), &mut *numbers);
                } else if numeric {
                    dense.clear();
                    any_bad = $number(values.as_slice(), &mut *dense);
                    spread(&def[..n], max_def, dense, numbers)?;
                } else {
                    let mut next = values.iter();
                    for i in 0..n {
                        if max_def == 0 || def[i] == max_def {
                            let v = next.next().ok_or("fewer values than present cells")?;
                            $write(&mut *text, v);
                        }
                        ends.push(text.len());
                    }
                }
                // A value that is no f32 was marked infinite: its text, for the error.
                let first_bad = if any_bad {
                    numbers.iter().position(|x| x.is_infinite())
                } else {
                    None
                };
                if let Some(i) = first_bad {
                    let mut t = Vec::new();
                    let mut next = values.iter();
                    for j in 0..n {
                        let present = max_def == 0 || def[j] == max_def;
                        let v = if present { next.next() } else { None };
                        if j == i {
                            if let Some(v) = v {
                                $write(&mut t, v);
                            }
                            break;
                        }
                    }
                    *bad = Some((i, t));
                }
            }};
        }
        // Numbers in their shortest round-trip form, as a CSV of them would hold them.
        match (reader, decode) {
            (ColumnReader::BoolColumnReader(r), _) => {
                cells!(r, &mut raw.bools, bool, |t: &mut Vec<u8>, v: &bool| {
                    t.extend_from_slice(if *v { b"true" } else { b"false" })
                })
            }
            (ColumnReader::Int32ColumnReader(r), Decode::Int32 { unsigned }) => {
                let mut digits = itoa::Buffer::new();
                cells!(
                    r,
                    &mut raw.i32s,
                    i32,
                    |t: &mut Vec<u8>, v: &i32| {
                        let text = if unsigned {
                            digits.format(*v as u32)
                        } else {
                            digits.format(*v)
                        };
                        t.extend_from_slice(text.as_bytes());
                    },
                    |v: &[i32], out: &mut Vec<f32>| {
                        out.extend(v.iter().map(|&v| i32_number(v, unsigned)));
                        false
                    }
                )
            }
            (ColumnReader::Int64ColumnReader(r), Decode::Int64 { unsigned }) => {
                let mut digits = itoa::Buffer::new();
                cells!(
                    r,
                    &mut raw.i64s,
                    i64,
                    |t: &mut Vec<u8>, v: &i64| {
                        let text = if unsigned {
                            digits.format(*v as u64)
                        } else {
                            digits.format(*v)
                        };
                        t.extend_from_slice(text.as_bytes());
                    },
                    |v: &[i64], out: &mut Vec<f32>| {
                        out.extend(v.iter().map(|&v| i64_number(v, unsigned)));
                        false
                    }
                )
            }
            (ColumnReader::FloatColumnReader(r), _) => {
                let mut digits = ryu::Buffer::new();
                cells!(
                    r,
                    &mut raw.f32s,
                    f32,
                    |t: &mut Vec<u8>, v: &f32| float_text(t, digits.format(*v)),
                    |v: &[f32], out: &mut Vec<f32>| {
                        out.extend_from_slice(v);
                        v.iter().any(|x| x.is_infinite())
                    }
                )
            }
            (ColumnReader::DoubleColumnReader(r), _) => {
                let mut digits = ryu::Buffer::new();
                cells!(
                    r,
                    &mut raw.f64s,
                    f64,
                    |t: &mut Vec<u8>, v: &f64| float_text(t, digits.format(*v)),
                    f64_cells
                )
            }
            (ColumnReader::ByteArrayColumnReader(r), _) => cells!(
                r,
                &mut raw.bytes,
                parquet::data_type::ByteArray,
                |t: &mut Vec<u8>, v: &parquet::data_type::ByteArray| t.extend_from_slice(v.data())
            ),
            (ColumnReader::FixedLenByteArrayColumnReader(r), _) => cells!(
                r,
                &mut raw.fixed,
                parquet::data_type::FixedLenByteArray,
                |t: &mut Vec<u8>, v: &parquet::data_type::FixedLenByteArray| {
                    let b = v.data();
                    let half = u16::from_le_bytes([b[0], b[1]]);
                    float_text(t, ryu::Buffer::new().format(f16_to_f32(half)));
                },
                |v: &[parquet::data_type::FixedLenByteArray], out: &mut Vec<f32>| {
                    let start = out.len();
                    out.extend(v.iter().map(|v| {
                        let b = v.data();
                        f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
                    }));
                    out[start..].iter().any(|x| x.is_infinite())
                }
            ),
            _ => return Err("a column whose values do not match its type".into()),
        }
        Ok(())
    }

    /// Row `i`'s cell of the chunk last read.
    fn cell(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// Rows decoded per chunk: enough to amortise the threads, few enough to keep a chunk small.
const CHUNK_ROWS: usize = 16_384;

/// An open Parquet file, checked, and decoders for the columns wanted, read a chunk of rows at a
/// time.
struct Columns {
    file: Arc<SerializedFileReader<Source>>,
    /// Every top-level column's name, in the file's order.
    names: Vec<String>,
    /// For each column of the file, its decoder's index, or `None` when it is not decoded.
    columns: Vec<Option<usize>>,
    decoders: Vec<Decoder>,
    /// The next row group to open, and the rows of the current one not yet read.
    group: usize,
    left: usize,
    /// Rows, from the footer.
    rows: u64,
    /// The source, for errors.
    path: PathBuf,
    /// The file and what was read of it, for its checksum.
    handle: Arc<File>,
    len: u64,
    ledger: Arc<Ledger>,
}

impl Columns {
    /// Opens `path` and checks that every column `wanted` names is one the loader can take.
    /// Only the wanted columns are decoded, those `numeric` names of a number type straight
    /// to numbers; a column the config sets aside (a timestamp in `data.exclude`) costs
    /// nothing and is never refused.
    fn open(
        path: &Path,
        wanted: &dyn Fn(&str) -> bool,
        numeric: &dyn Fn(&str) -> bool,
    ) -> Result<Self, DataError> {
        contained(path, || Self::open_inner(path, wanted, numeric))
    }

    /// [`open`](Self::open), outside the panic guard.
    // Long because the checks of the file (regular, footer, nesting, codecs, types), in order.
    fn open_inner(
        path: &Path,
        wanted: &dyn Fn(&str) -> bool,
        numeric: &dyn Fn(&str) -> bool,
    ) -> Result<Self, DataError> {
        // Parquet is read from its end (the footer), so only a regular file will do; opening a
        // FIFO named `.parquet` would also wait for a writer that may never come.
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) && path.exists() {
            return Err(unreadable(
                path,
                "it is not a regular file (a Parquet file is read from its end); save it to a file first",
            ));
        }
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = file.metadata().map_err(io)?.len();
        let (handle, ledger) = (Arc::new(file), Arc::new(Ledger::default()));
        let source = Source {
            file: Arc::clone(&handle),
            len,
            ledger: Arc::clone(&ledger),
        };
        let reader = SerializedFileReader::new(source).map_err(|e| unreadable(path, e))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let mut names = Vec::new();
        // Every wanted column of a type the loader cannot take, found before any is refused.
        let mut refused: Vec<(String, String)> = Vec::new();
        for field in schema.root_schema().get_fields() {
            names.push(field.name().to_string());
            if wanted(field.name()) && field.is_group() {
                refused.push((field.name().to_string(), "lists, maps or structs".into()));
            }
        }
        for group in reader.metadata().row_groups() {
            for chunk in group.columns() {
                if !wanted(chunk.column_descr().path().parts()[0].as_str()) {
                    continue;
                }
                let codec = chunk.compression();
                if !matches!(
                    codec,
                    Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::ZSTD(_)
                ) {
                    return Err(unreadable(
                        path,
                        format!(
                            "column `{}` is compressed with {}, which burnfit does not read; write the file with Snappy or Zstandard (pandas' and pyarrow's default is Snappy)",
                            chunk.column_descr().name(),
                            codec_name(codec)
                        ),
                    ));
                }
            }
        }
        // With no nested column wanted, each wanted top-level column is one leaf, in order.
        let mut columns = vec![None; names.len()];
        let mut decoders = Vec::new();
        for (leaf, column) in schema.columns().iter().enumerate() {
            let name = column.path().parts()[0].as_str();
            if !wanted(name) || refused.iter().any(|(c, _)| c == name) {
                continue;
            }
            if column.max_rep_level() > 0 {
                refused.push((name.to_string(), "repeated values (lists)".into()));
                continue;
            }
            let decode = match decode_of(column) {
                Ok(decode) => decode,
                Err(what) => {
                    refused.push((name.to_string(), format!("{what} values")));
                    continue;
                }
            };
            let Some(at) = names.iter().position(|n| n == name) else {
                return Err(unreadable(path, format!("no top-level column `{name}`")));
            };
            columns[at] = Some(decoders.len());
            decoders.push(Decoder {
                leaf,
                decode,
                max_def: column.max_def_level(),
                reader: None,
                def: Vec::new(),
                numeric: numeric(name) && is_number(decode),
                text: Vec::new(),
                ends: Vec::new(),
                numbers: Vec::new(),
                dense: Vec::new(),
                bad: None,
                raw: Raw::default(),
            });
        }
        if !refused.is_empty() {
            refused.sort_by_key(|(c, _)| names.iter().position(|n| n == c));
            return Err(DataError::UnreadableColumns {
                path: path.to_path_buf(),
                columns: refused,
            });
        }
        let rows = reader.metadata().file_metadata().num_rows().max(0) as u64;
        Ok(Self {
            file: Arc::new(reader),
            columns,
            names,
            decoders,
            group: 0,
            left: 0,
            rows,
            path: path.to_path_buf(),
            handle,
            len,
            ledger,
        })
    }

    /// The file's size and CRC32, from what was read of it ([`Ledger`]).
    fn checksum(&self) -> Result<(u64, u32), DataError> {
        self.ledger
            .checksum(&self.handle, self.len)
            .map_err(|source| DataError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Takes out the decoders read straight to numbers, which are then read a column at a
    /// time ([`read_alone`](Self::read_alone)), leaving the text ones to
    /// [`next_chunk`](Self::next_chunk): for each column of the file, its decoder if it was
    /// one of them.
    fn take_numeric(&mut self) -> Vec<Option<Decoder>> {
        let decoders = std::mem::take(&mut self.decoders);
        let mut taken: Vec<Option<Decoder>> = Vec::new();
        taken.resize_with(self.columns.len(), || None);
        let mut kept = Vec::new();
        let mut place = vec![None; decoders.len()];
        let mut column_of = vec![None; decoders.len()];
        for (c, d) in self.columns.iter().enumerate() {
            if let Some(d) = d {
                column_of[*d] = Some(c);
            }
        }
        for (i, d) in decoders.into_iter().enumerate() {
            if d.numeric {
                if let Some(c) = column_of[i] {
                    taken[c] = Some(d);
                }
            } else {
                place[i] = Some(kept.len());
                kept.push(d);
            }
        }
        for c in &mut self.columns {
            *c = c.and_then(|i| place[i]);
        }
        self.decoders = kept;
        taken
    }

    /// Reads `d`'s column alone from its first row to its last, a chunk at a time, handing each
    /// chunk to `each` with the index of its first row; stops when `each` says `false`. One
    /// column's pages in memory at a time, where reading every column of a row group at once
    /// would hold a page of each.
    fn read_alone(
        file: &SerializedFileReader<Source>,
        path: &Path,
        d: &mut Decoder,
        mut each: impl FnMut(usize, &Decoder) -> Result<bool, DataError>,
    ) -> Result<(), DataError> {
        let name = |file: &SerializedFileReader<Source>, leaf: usize| {
            file.metadata()
                .file_metadata()
                .schema_descr()
                .column(leaf)
                .name()
                .to_string()
        };
        let mut first = 0;
        for g in 0..file.num_row_groups() {
            let group = file
                .get_row_group(g)
                .map_err(|e| unreadable(path, format!("row group {g}: {e}")))?;
            let mut left = usize::try_from(group.metadata().num_rows().max(0)).unwrap_or(0);
            let failed = |e: String, d: &Decoder| {
                unreadable(
                    path,
                    format!("row group {g}, column `{}`: {e}", name(file, d.leaf)),
                )
            };
            if pages::by_page(d) {
                let mut pages = group
                    .get_column_page_reader(d.leaf)
                    .map_err(|e| unreadable(path, format!("row group {g}: {e}")))?;
                // The crate's reader, for the pages read through it, and the dictionary it
                // needs first.
                let mut feed: Option<pages::Feed> = None;
                let mut dictionary = None;
                while let Some(page) = pages
                    .get_next_page()
                    .map_err(|e| failed(e.to_string(), d))?
                {
                    let Some(rows) = pages::rows_of(&page) else {
                        // One dictionary a column chunk, before its data pages.
                        if feed.is_some() || dictionary.is_some() {
                            return Err(failed("a second dictionary page".into(), d));
                        }
                        dictionary = Some(page);
                        continue;
                    };
                    if rows > left {
                        return Err(failed(
                            format!("its pages hold more rows than the row group ({left} left)"),
                            d,
                        ));
                    }
                    let read = if pages::is_plain(d, &page) {
                        d.read_page(&page, rows)
                    } else {
                        let feed = feed.get_or_insert_with(|| {
                            let feed = pages::Feed::default();
                            if let Some(dictionary) = dictionary.take() {
                                feed.push(dictionary);
                            }
                            let descr = file
                                .metadata()
                                .file_metadata()
                                .schema_descr()
                                .column(d.leaf);
                            d.reader = Some(parquet::column::reader::get_column_reader(
                                descr,
                                Box::new(feed.clone()),
                            ));
                            feed
                        });
                        feed.push(page);
                        d.read(rows)
                    };
                    read.map_err(|e| failed(e, d))?;
                    if !each(first, d)? {
                        return Ok(());
                    }
                    first += rows;
                    left -= rows;
                }
                if left > 0 {
                    return Err(failed(
                        format!("its pages hold {left} rows fewer than the row group"),
                        d,
                    ));
                }
                d.reader = None;
                continue;
            }
            d.reader = Some(
                group
                    .get_column_reader(d.leaf)
                    .map_err(|e| unreadable(path, format!("row group {g}: {e}")))?,
            );
            while left > 0 {
                let n = left.min(CHUNK_ROWS);
                d.read(n).map_err(|e| failed(e, d))?;
                if !each(first, d)? {
                    return Ok(());
                }
                first += n;
                left -= n;
            }
            d.reader = None;
        }
        Ok(())
    }

    /// Opens the next row group with rows; `false` when there is none left.
    fn next_group(&mut self) -> Result<bool, DataError> {
        while self.left == 0 {
            if self.group == self.file.num_row_groups() {
                return Ok(false);
            }
            let g = self.group;
            self.group += 1;
            let group = self
                .file
                .get_row_group(g)
                .map_err(|e| unreadable(&self.path, format!("row group {g}: {e}")))?;
            self.left = usize::try_from(group.metadata().num_rows().max(0)).unwrap_or(0);
            for d in &mut self.decoders {
                d.reader = Some(
                    group
                        .get_column_reader(d.leaf)
                        .map_err(|e| unreadable(&self.path, format!("row group {g}: {e}")))?,
                );
            }
        }
        Ok(true)
    }

    /// Decodes the next chunk of rows, every column on a thread of its own (the decoding is
    /// most of the work) inside the panic guard: how many rows, `None` after the last.
    fn next_chunk(&mut self) -> Result<Option<usize>, DataError> {
        let path = self.path.clone();
        contained(&path, || self.next_chunk_inner())
    }

    /// [`next_chunk`](Self::next_chunk), outside the panic guard.
    fn next_chunk_inner(&mut self) -> Result<Option<usize>, DataError> {
        if !self.next_group()? {
            return Ok(None);
        }
        let n = self.left.min(CHUNK_ROWS);
        let results: Vec<Result<(), String>> = self
            .decoders
            .par_iter_mut()
            .map(|d| quietly(|| d.read(n)))
            .collect();
        let failed = results
            .into_iter()
            .enumerate()
            .find_map(|(i, r)| r.err().map(|e| (i, e)));
        if let Some((i, e)) = failed {
            let leaf = self.decoders[i].leaf;
            let schema = self.file.metadata().file_metadata().schema_descr_ptr();
            return Err(unreadable(
                &self.path,
                format!(
                    "row group {}, column `{}`: {e}",
                    self.group - 1,
                    schema.column(leaf).name()
                ),
            ));
        }
        self.left -= n;
        Ok(Some(n))
    }
}

/// Runs `f` on a decoding thread with the panic hook quiet there (see [`contained`]), and
/// loud again afterwards, even if `f` panics.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(false));
        }
    }
    let was = QUIET.with(|q| q.replace(true));
    let _loud = (!was).then_some(Loud);
    f()
}

/// How many [`contained`] calls are running in the process: a panic while any is running is
/// the Parquet reader's, and quiet.
static READING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while this thread runs the Parquet reader inside [`contained`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a call into the Parquet reader, turning a panic into an error naming the file.
/// The reader unwraps some values it decodes, so a damaged file (bytes flipped inside its
/// footer) can make it panic instead of returning an error; burnfit's rule is that no input
/// panics. The panic's message is not printed: the panic hook stays quiet on this thread while
/// `f` runs.
fn contained<T>(path: &Path, f: impl FnOnce() -> Result<T, DataError>) -> Result<T, DataError> {
    contained_in(path, None, f)
}

/// [`contained`], for a call that reads column `column` alone: a panic's error names it.
fn contained_in<T>(
    path: &Path,
    column: Option<&str>,
    f: impl FnOnce() -> Result<T, DataError>,
) -> Result<T, DataError> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) && READING.load(Ordering::SeqCst) == 0 {
                previous(info);
            }
        }));
    });
    // Counted for the whole process as well as marked on this thread: the reader's work is
    // spread over rayon's threads, one of which may be this one, inside another guard.
    struct Reading;
    impl Drop for Reading {
        fn drop(&mut self) {
            READING.fetch_sub(1, Ordering::SeqCst);
        }
    }
    READING.fetch_add(1, Ordering::SeqCst);
    let _reading = Reading;
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.unwrap_or_else(|_| {
        let place = column.map_or(String::new(), |c| format!(" reading column `{c}`"));
        Err(unreadable(
            path,
            format!(
                "the reader failed inside it{place}; the file is damaged (rewrite it from its \
                 source)"
            ),
        ))
    })
}

/// A codec as people name it.
fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::UNCOMPRESSED => "no compression",
        Compression::SNAPPY => "Snappy",
        Compression::GZIP(_) => "gzip",
        Compression::LZO => "LZO",
        Compression::BROTLI(_) => "Brotli",
        Compression::LZ4 | Compression::LZ4_RAW => "LZ4",
        Compression::ZSTD(_) => "Zstandard",
    }
}

/// The file's size and CRC32, as a CSV's are taken while it streams in (`data.json`, and what
/// `--resume` compares).
pub(crate) fn checksum(path: &Path) -> Result<(u64, u32), DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::{f64_bytes_cells, f64_cell, f64_cells};
    use proptest::prelude::*;

    /// The bulk conversion is `f64_cell` of each value, to the bit, an infinity for a value
    /// past f32's range, and says whether there was one: on any bits (NaNs, infinities,
    /// subnormals, halfway values among ordinary ones), in blocks that are partly rare.
    fn same_as_one_by_one(values: &[f64]) -> Result<(), TestCaseError> {
        let mut out = vec![1.5f32];
        let any_bad = f64_cells(values, &mut out);
        prop_assert_eq!(out.len(), values.len() + 1);
        prop_assert_eq!(out[0], 1.5);
        let one_by_one: Vec<u32> = values
            .iter()
            .map(|&v| f64_cell(v).unwrap_or(f32::INFINITY).to_bits())
            .collect();
        let bulk: Vec<u32> = out[1..].iter().map(|x| x.to_bits()).collect();
        prop_assert_eq!(bulk, one_by_one);
        prop_assert_eq!(any_bad, values.iter().any(|&v| f64_cell(v).is_none()));
        // The same from the values' bytes, one byte off alignment as a page may hold them.
        let mut bytes = vec![0u8];
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        let mut from_bytes = vec![1.5f32];
        prop_assert_eq!(f64_bytes_cells(&bytes[1..], &mut from_bytes), any_bad);
        prop_assert_eq!(
            from_bytes.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        Ok(())
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -1e3f64..1e3,
            1 => any::<u64>().prop_map(f64::from_bits),
            1 => any::<f32>().prop_map(|x| {
                // Exactly halfway to the next f32 up.
                let next = f32::from_bits(x.to_bits().wrapping_add(1));
                (f64::from(x) + f64::from(next)) / 2.0
            }),
            1 => -1e-38f64..1e-38,
            1 => prop::sample::select(vec![
                0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 3.5e38, -3.4e38,
                f64::from(f32::MAX), 3.402_823_6e38, f64::MIN_POSITIVE,
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(2_000)))]
        #[test]
        fn bulk_conversion_is_each_value_s(values in prop::collection::vec(value(), 0..700)) {
            same_as_one_by_one(&values)?;
        }
    }
}
