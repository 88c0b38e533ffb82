//! Parquet as a data source. The file's rows are decoded one row group at a time and written
//! as CSV text into the loader every CSV goes through, so a Parquet file and a CSV holding the
//! same values give the same table: the same types, missing cells (Parquet's nulls), categories,
//! labels, and errors naming the column and row. Memory is one row group's text at a time.
//!
//! Supported: booleans, integers of any width and sign, floats (16, 32 and 64 bits), strings
//! (plain or dictionary-encoded), nulls; compressed with Snappy or Zstandard, the defaults of
//! pandas/pyarrow, Spark, DuckDB and polars, or not at all. Nested columns (lists, maps,
//! structs), dates, times, timestamps, decimals and binary columns are refused by name.

use std::cell::Cell;
use std::fs::File;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Once;

use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;

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

/// An error about the file as a whole, in the loader's words.
fn unreadable(path: &Path, why: impl std::fmt::Display) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("not a readable Parquet file: {why}")),
    }
}

/// The file's columns as CSV text, header first: a [`Read`] that the CSV loader consumes.
pub(crate) struct ParquetText {
    rows: RowIter<'static>,
    /// The column names, for errors.
    names: Vec<String>,
    /// Whether each column is decoded (the others are written as empty cells).
    keep: Vec<bool>,
    /// 1-based data row of the next row read (as a CSV's row 2 is its first data row).
    row: u64,
    /// Text not yet handed out, from `at`.
    buffer: Vec<u8>,
    at: usize,
    /// Where the text goes through the csv crate's quoting.
    writer: csv::Writer<Vec<u8>>,
    /// Rows times columns, from the footer.
    cells: u64,
    /// Set once the rows are exhausted.
    done: bool,
    /// The source, for errors.
    path: std::path::PathBuf,
}

/// Rows converted per refill: enough to amortise the writer, few enough to keep the text small.
const ROWS_PER_REFILL: usize = 4096;

impl ParquetText {
    /// Opens `path` with every column decoded (a second read: `--keep`, the text scan).
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        Self::open_wanting(path, &|_| true)
    }

    /// Opens `path`, checks that every column `wanted` names is one the loader can take, and
    /// writes the header (every column's name). Only the wanted columns are decoded; the others
    /// come through as empty cells, so the loader still sees the file's whole header (and its
    /// checks of `data.exclude` and `data.features` name the file's real columns), while a
    /// column the config sets aside (a timestamp in `data.exclude`) costs nothing and is never
    /// refused.
    pub(crate) fn open_wanting(
        path: &Path,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Self, DataError> {
        contained(path, || Self::open_inner(path, wanted))
    }

    /// [`open_wanting`](Self::open_wanting), outside the panic guard.
    fn open_inner(path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Self, DataError> {
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
        let reader = SerializedFileReader::new(file).map_err(|e| unreadable(path, e))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let mut names = Vec::new();
        let mut decoded = Vec::new();
        let mut keep = Vec::new();
        for field in schema.root_schema().get_fields() {
            names.push(field.name().to_string());
            keep.push(wanted(field.name()));
            if !wanted(field.name()) {
                continue;
            }
            decoded.push(field.clone());
            if field.is_group() {
                return Err(unsupported(
                    path,
                    field.name(),
                    "a nested column (a list, map or struct)",
                ));
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
        for column in schema.columns() {
            if wanted(column.path().parts()[0].as_str()) && column.max_rep_level() > 0 {
                return Err(unsupported(path, column.name(), "a repeated (list) column"));
            }
        }
        let cells = (reader.metadata().file_metadata().num_rows().max(0) as u64)
            .saturating_mul(names.len() as u64);
        let mut rows = RowIter::from_file_into(Box::new(reader));
        if decoded.len() < names.len() {
            let projection = parquet::schema::types::Type::group_type_builder("schema")
                .with_fields(decoded)
                .build()
                .map_err(|e| unreadable(path, e))?;
            rows = rows
                .project(Some(projection))
                .map_err(|e| unreadable(path, e))?;
        }
        let mut writer = writer(Vec::new());
        writer
            .write_record(&names)
            .map_err(|e| unreadable(path, e))?;
        let mut me = Self {
            rows,
            names,
            keep,
            row: 2,
            buffer: Vec::new(),
            at: 0,
            writer,
            cells,
            done: false,
            path: path.to_path_buf(),
        };
        me.flush()?;
        Ok(me)
    }

    /// The file's rows times its columns, as its footer says.
    pub(crate) fn cells(&self) -> u64 {
        self.cells
    }

    /// Moves the writer's text into the buffer.
    fn flush(&mut self) -> Result<(), DataError> {
        // The handed-out buffer goes back to a new writer, so refills reuse one allocation.
        let spare = std::mem::take(&mut self.buffer);
        let old = std::mem::replace(&mut self.writer, writer(spare));
        self.buffer = old
            .into_inner()
            .map_err(|e| unreadable(&self.path, e.error()))?;
        self.at = 0;
        Ok(())
    }

    /// Converts the next rows into text (inside the panic guard).
    fn refill(&mut self) -> Result<(), DataError> {
        let path = self.path.clone();
        contained(&path, || self.refill_inner())
    }

    /// [`refill`](Self::refill), outside the panic guard.
    fn refill_inner(&mut self) -> Result<(), DataError> {
        let mut record: Vec<String> = Vec::with_capacity(self.names.len());
        for _ in 0..ROWS_PER_REFILL {
            let Some(row) = self.rows.next() else {
                self.done = true;
                break;
            };
            let row = row.map_err(|e| unreadable(&self.path, format!("row {}: {e}", self.row)))?;
            record.clear();
            let mut fields = row.get_column_iter();
            for &keep in &self.keep {
                if !keep {
                    record.push(String::new());
                    continue;
                }
                let Some((name, field)) = fields.next() else {
                    return Err(unreadable(
                        &self.path,
                        "a row has fewer columns than the schema",
                    ));
                };
                record.push(cell(field).ok_or_else(|| {
                    unsupported(&self.path, name, &format!("{} values", kind(field)))
                })?);
            }
            self.writer
                .write_record(&record)
                .map_err(|e| unreadable(&self.path, e))?;
            self.row += 1;
        }
        self.flush()
    }
}

impl Read for ParquetText {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buffer.len() {
            if self.done {
                return Ok(0);
            }
            // The loader names the file itself: pass on only the cause.
            self.refill().map_err(|e| match e {
                DataError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            })?;
        }
        let n = buf.len().min(self.buffer.len() - self.at);
        buf[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

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
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result.unwrap_or_else(|_| {
        Err(unreadable(
            path,
            "the reader failed inside it; the file is damaged (rewrite it from its source)",
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

/// A CSV writer into `buffer`, emptied first.
fn writer(mut buffer: Vec<u8>) -> csv::Writer<Vec<u8>> {
    buffer.clear();
    csv::WriterBuilder::new().from_writer(buffer)
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

/// A column the loader cannot take, named with what it holds.
fn unsupported(path: &Path, column: &str, what: &str) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!(
            "column `{column}` holds {what}, which burnfit does not read; convert it to numbers or text, or leave it out of the file"
        )),
    }
}

/// A value as the CSV loader reads it: numbers in their shortest round-trip form (so a float
/// parses back to the same f32 a CSV of it would give), text as it is, null as an empty cell;
/// `None` for a type the loader does not take.
fn cell(field: &Field) -> Option<String> {
    Some(match field {
        Field::Null => String::new(),
        Field::Bool(b) => b.to_string(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Float16(v) => f32::from(*v).to_string(),
        Field::Float(v) => v.to_string(),
        Field::Double(v) => v.to_string(),
        Field::Str(s) => s.clone(),
        _ => return None,
    })
}

/// A value's type in words, for the error about it.
fn kind(field: &Field) -> &'static str {
    match field {
        Field::Decimal(_) => "decimal",
        Field::Bytes(_) => "binary",
        Field::Date(_) => "date",
        Field::TimeMillis(_) | Field::TimeMicros(_) => "time-of-day",
        Field::TimestampMillis(_) | Field::TimestampMicros(_) => "timestamp",
        Field::Group(_) => "nested (struct)",
        Field::ListInternal(_) => "list",
        Field::MapInternal(_) => "map",
        _ => "other",
    }
}
