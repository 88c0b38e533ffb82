//! Parquet as a data source. The file's columns are decoded a chunk of rows at a time, each
//! column on its own thread (typed column readers, not the row-by-row record API), and
//! written as CSV text into the loader every CSV goes through, so a Parquet file and a CSV
//! holding the same values give the same table: the same types, missing cells (Parquet's
//! nulls), categories, labels, and errors naming the column and row. Memory is one chunk's
//! text at a time.
//!
//! Supported: booleans, integers of any width and sign, floats (16, 32 and 64 bits), strings
//! (plain or dictionary-encoded), nulls; compressed with Snappy or Zstandard, the defaults of
//! pandas/pyarrow, Spark, DuckDB and polars, or not at all. Nested columns (lists, maps,
//! structs), dates, times, timestamps, decimals and binary columns are refused by name when
//! the file is opened.

use std::cell::Cell;
use std::fs::File;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
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
/// reader's own `File` source clones the descriptor, whose offset all clones share).
struct Positional(Arc<File>);

/// A [`Read`] of [`Positional`] from an offset of its own.
struct PositionalRead {
    file: Arc<File>,
    at: u64,
}

impl Read for PositionalRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Length for Positional {
    fn len(&self) -> u64 {
        self.0.metadata().map_or(0, |m| m.len())
    }
}

impl ChunkReader for Positional {
    type T = PositionalRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(PositionalRead {
            file: Arc::clone(&self.0),
            at: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        use std::os::unix::fs::FileExt;
        // The length comes from the file's own footer: a damaged one may claim more than the
        // file holds, which is refused before anything that size is allocated.
        if start
            .checked_add(length as u64)
            .is_none_or(|end| end > self.len())
        {
            return Err(parquet::errors::ParquetError::General(format!(
                "{length} bytes at {start} run past the file's end ({} bytes)",
                self.len()
            )));
        }
        let mut buf = vec![0u8; length];
        self.0
            .read_exact_at(&mut buf, start)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        Ok(buf.into())
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

/// One decoded column: its reader in the current row group, and the text of the chunk of
/// rows last read, one cell per row (`ends[i]` is where row `i`'s cell ends in `text`).
struct Decoder {
    /// Its leaf in the schema.
    leaf: usize,
    decode: Decode,
    /// The definition level of a present value (0: the column cannot hold nulls).
    max_def: i16,
    /// Its reader in the current row group.
    reader: Option<ColumnReader>,
    def: Vec<i16>,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Decoder {
    /// Reads the next `n` rows' cells as text; fewer rows than the row group promised is an
    /// error.
    // Long because one arm per physical type, each a short formatter for the same macro.
    fn read(&mut self, n: usize) -> Result<(), String> {
        let Decoder {
            decode,
            max_def,
            reader,
            def,
            text,
            ends,
            ..
        } = self;
        let (decode, max_def) = (*decode, *max_def);
        def.clear();
        text.clear();
        ends.clear();
        let reader = reader
            .as_mut()
            .ok_or("a column read before its row group")?;
        // One chunk of values, then each row's cell: its value's text, or empty for a null.
        macro_rules! cells {
            ($r:expr, $t:ty, $write:expr) => {{
                let mut values: Vec<$t> = Vec::with_capacity(n);
                let (rows, _, _) = $r
                    .read_records(n, Some(&mut *def), None, &mut values)
                    .map_err(|e| e.to_string())?;
                if rows != n {
                    return Err(format!("{rows} rows where the row group holds {n}"));
                }
                let mut next = values.iter();
                for i in 0..n {
                    if max_def == 0 || def[i] == max_def {
                        let v = next.next().ok_or("fewer values than present cells")?;
                        $write(&mut *text, v);
                    }
                    ends.push(text.len());
                }
            }};
        }
        // Numbers in their shortest round-trip form, as a CSV of them would hold them.
        match (reader, decode) {
            (ColumnReader::BoolColumnReader(r), _) => {
                cells!(r, bool, |t: &mut Vec<u8>, v: &bool| {
                    t.extend_from_slice(if *v { b"true" } else { b"false" })
                })
            }
            (ColumnReader::Int32ColumnReader(r), Decode::Int32 { unsigned }) => {
                let mut digits = itoa::Buffer::new();
                cells!(r, i32, |t: &mut Vec<u8>, v: &i32| {
                    let text = if unsigned {
                        digits.format(*v as u32)
                    } else {
                        digits.format(*v)
                    };
                    t.extend_from_slice(text.as_bytes());
                })
            }
            (ColumnReader::Int64ColumnReader(r), Decode::Int64 { unsigned }) => {
                let mut digits = itoa::Buffer::new();
                cells!(r, i64, |t: &mut Vec<u8>, v: &i64| {
                    let text = if unsigned {
                        digits.format(*v as u64)
                    } else {
                        digits.format(*v)
                    };
                    t.extend_from_slice(text.as_bytes());
                })
            }
            (ColumnReader::FloatColumnReader(r), _) => {
                let mut digits = ryu::Buffer::new();
                cells!(r, f32, |t: &mut Vec<u8>, v: &f32| {
                    float_text(t, digits.format(*v))
                })
            }
            (ColumnReader::DoubleColumnReader(r), _) => {
                let mut digits = ryu::Buffer::new();
                cells!(r, f64, |t: &mut Vec<u8>, v: &f64| {
                    float_text(t, digits.format(*v))
                })
            }
            (ColumnReader::ByteArrayColumnReader(r), _) => cells!(
                r,
                parquet::data_type::ByteArray,
                |t: &mut Vec<u8>, v: &parquet::data_type::ByteArray| t.extend_from_slice(v.data())
            ),
            (ColumnReader::FixedLenByteArrayColumnReader(r), _) => cells!(
                r,
                parquet::data_type::FixedLenByteArray,
                |t: &mut Vec<u8>, v: &parquet::data_type::FixedLenByteArray| {
                    let b = v.data();
                    let half = u16::from_le_bytes([b[0], b[1]]);
                    float_text(t, ryu::Buffer::new().format(f16_to_f32(half)));
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

/// The file's columns as CSV text, header first: a [`Read`] that the CSV loader consumes.
pub(crate) struct ParquetText {
    file: Arc<SerializedFileReader<Positional>>,
    /// For each column of the file, its decoder's index, or `None` when it is not decoded (an
    /// empty cell).
    columns: Vec<Option<usize>>,
    decoders: Vec<Decoder>,
    /// The next row group to open, and the rows of the current one not yet read.
    group: usize,
    left: usize,
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

/// Rows decoded per refill: enough to amortise the threads and the writer, few enough to keep
/// the text small.
const CHUNK_ROWS: usize = 16_384;

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
    // Long because the checks of the file (regular, footer, nesting, codecs, types), in order.
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
        let reader = SerializedFileReader::new(Positional(Arc::new(file)))
            .map_err(|e| unreadable(path, e))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let mut names = Vec::new();
        for field in schema.root_schema().get_fields() {
            names.push(field.name().to_string());
            if wanted(field.name()) && field.is_group() {
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
        // With no nested column wanted, each wanted top-level column is one leaf, in order.
        let mut columns = vec![None; names.len()];
        let mut decoders = Vec::new();
        for (leaf, column) in schema.columns().iter().enumerate() {
            let name = column.path().parts()[0].as_str();
            if !wanted(name) {
                continue;
            }
            if column.max_rep_level() > 0 {
                return Err(unsupported(path, column.name(), "a repeated (list) column"));
            }
            let decode = decode_of(column)
                .map_err(|what| unsupported(path, name, &format!("{what} values")))?;
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
                text: Vec::new(),
                ends: Vec::new(),
            });
        }
        let cells = (reader.metadata().file_metadata().num_rows().max(0) as u64)
            .saturating_mul(names.len() as u64);
        let mut writer = writer(Vec::new());
        writer
            .write_record(&names)
            .map_err(|e| unreadable(path, e))?;
        let mut me = Self {
            file: Arc::new(reader),
            columns,
            decoders,
            group: 0,
            left: 0,
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

    /// [`refill`](Self::refill), outside the panic guard.
    fn refill_inner(&mut self) -> Result<(), DataError> {
        if !self.next_group()? {
            self.done = true;
            return self.flush();
        }
        let n = self.left.min(CHUNK_ROWS);
        // Each column on a thread of its own: the decoding is most of the work.
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
            let name = self
                .file
                .metadata()
                .file_metadata()
                .schema_descr()
                .column(leaf);
            return Err(unreadable(
                &self.path,
                format!(
                    "row group {}, column `{}`: {e}",
                    self.group - 1,
                    name.name()
                ),
            ));
        }
        for i in 0..n {
            for column in &self.columns {
                let cell = column.map_or(&b""[..], |d| self.decoders[d].cell(i));
                self.writer
                    .write_field(cell)
                    .map_err(|e| unreadable(&self.path, e))?;
            }
            self.writer
                .write_record(None::<&[u8]>)
                .map_err(|e| unreadable(&self.path, e))?;
        }
        self.left -= n;
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
