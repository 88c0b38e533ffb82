//! Streams a CSV (header row required) into typed columns.
//!
//! One pass over the file, records split on one thread and their numbers parsed straight from
//! the bytes on a few others, reused buffers: no per-row allocation. Numeric cells that are
//! empty, `NA`, `NaN` (and the usual spellings) become NaN, which every later stage reads as
//! "missing". Categorical cells and binary labels are interned to small codes as they stream in.
//!
//! The parts: [`header`] finds the label and feature fields, [`pipeline`] runs the threads that
//! split, parse and reorder the records, [`columns`] and [`label`] build what they carry, and
//! [`cells`] reads one cell.

mod cells;
mod columns;
mod header;
mod label;
mod lines;
pub(crate) mod parquet;
mod pipeline;
mod text;

use std::path::Path;

use super::buffer::{Buffer, Values};
use super::DataError;
use columns::ColumnBuilder;
use label::LabelBuilder;
pub(crate) use label::{canonical_label, infer_positive};
pub(crate) use label::{LabelMap, LabelRule, MAX_CLASSES};
pub(crate) use text::{categorical_line, text_columns, toml_list};

/// A categorical code for a missing cell.
pub(crate) const MISSING_CODE: u32 = u32::MAX;

/// One feature column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Column {
    /// Numbers; NaN marks a missing cell.
    Numeric {
        /// Header name.
        name: String,
        /// One value per row: in memory, or mapped from the parsed-data cache.
        values: crate::data::buffer::Values,
    },
    /// Text values, interned.
    Categorical {
        /// Header name.
        name: String,
        /// Index into `levels`, or [`MISSING_CODE`].
        codes: Values<u32>,
        /// Distinct values in order of first appearance.
        levels: Vec<String>,
    },
}

impl Column {
    /// The header name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Column::Numeric { name, .. } | Column::Categorical { name, .. } => name,
        }
    }

    /// Whether row `i` is missing.
    pub(crate) fn is_missing(&self, i: usize) -> bool {
        match self {
            Column::Numeric { values, .. } => values[i].is_nan(),
            Column::Categorical { codes, .. } => codes[i] == MISSING_CODE,
        }
    }
}

/// Which columns are features.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selection {
    /// Exactly these, in this order.
    Only(Vec<String>),
    /// Every column but the label and these.
    AllExcept(Vec<String>),
}

/// What a command needs of the label columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelColumn {
    /// Training and evaluation: a file without one of them is an error.
    Required,
    /// Never read (predict, inspect): its cells cannot make an error.
    Ignored,
}

/// What to read from a file.
#[derive(Debug, Clone)]
pub(crate) struct LoadSpec {
    /// The label columns (one, or several for multi-label and multi-output).
    pub(crate) labels: Vec<String>,
    /// Whether the label columns must be there, or are not read at all.
    pub(crate) label_column: LabelColumn,
    /// How labels map to numbers (for several columns, a known [`LabelMap::Labels`] or
    /// [`LabelMap::Targets`]).
    pub(crate) label_rule: LabelRule,
    /// Feature columns.
    pub(crate) selection: Selection,
    /// Feature columns to read as text.
    pub(crate) categorical: Vec<String>,
}

/// A loaded file: feature columns in file (or selection) order, labels, and row numbers.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Where it came from (file path or `synthetic`), for messages.
    pub(crate) origin: String,
    /// The header, for messages.
    pub(crate) header: Vec<String>,
    /// Feature columns.
    pub(crate) columns: Vec<Column>,
    /// The label columns' names.
    pub(crate) label_names: Vec<String>,
    /// 0/1, class indices or numbers, NaN where missing, `label_names.len()` per row
    /// (row-major); `None` if the file had no label column.
    pub(crate) labels: Option<Values>,
    /// The label mapping learned or applied; `None` only when a file without a label column
    /// was read with a mapping still to learn.
    pub(crate) label_map: Option<LabelMap>,
    /// Each row's number in the source, 1-based with the header as row 1.
    pub(crate) rows: crate::data::RowNumbers,
    /// The file's size and CRC32, as read (a table read from a file).
    pub(crate) checksum: Option<(u64, u32)>,
}

impl Table {
    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The feature column called `name`.
    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name() == name)
    }

    /// Rows with no missing feature and a present label.
    pub(crate) fn complete_rows(&self) -> Buffer<usize> {
        // Column by column (the storage order), not row by row across every column.
        let mut keep = self.label_mask();
        for column in &self.columns {
            match column {
                Column::Numeric { values, .. } => {
                    for (k, v) in keep.iter_mut().zip(values.iter()) {
                        *k &= u8::from(!v.is_nan());
                    }
                }
                Column::Categorical { codes, .. } => {
                    for (k, &c) in keep.iter_mut().zip(codes) {
                        *k &= u8::from(c != MISSING_CODE);
                    }
                }
            }
        }
        kept(&keep)
    }

    /// Rows with a present label (features may be missing).
    pub(crate) fn labelled_rows(&self) -> Buffer<usize> {
        kept(&self.label_mask())
    }

    /// Whether each row has every label (1; all 1 without a label column).
    fn label_mask(&self) -> Buffer<u8> {
        let mut mask = Buffer::for_rows("the rows' missing-value mask", self.len());
        match &self.labels {
            Some(l) => {
                let labels = l.chunks(self.label_names.len().max(1));
                for (k, row) in mask.iter_mut().zip(labels) {
                    *k = u8::from(row.iter().all(|v| !v.is_nan()));
                }
            }
            None => mask.fill(1),
        }
        mask
    }

    /// Reads `path` (CSV, or Parquet by its name or its first bytes: [`parquet`]) according
    /// to `spec`: from the parsed-data cache when it holds this file read this way
    /// ([`crate::data::cache`]), else parsed (and then stored there).
    pub(crate) fn from_csv(path: &Path, spec: &LoadSpec) -> Result<Self, DataError> {
        crate::data::cache::load(path, spec, || Self::parse_file(path, spec))
    }

    /// Parses `path` according to `spec`, after checking that its columns fit in memory.
    fn parse_file(path: &Path, spec: &LoadSpec) -> Result<Self, DataError> {
        if path.is_dir() {
            return Err(DataError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("it is a folder, not a CSV file"),
            });
        }
        if parquet::is_parquet(path) {
            return Self::from_parquet(path, spec);
        }
        // Every cell takes at least two bytes of the file (a digit and a comma) and four as an
        // f32 in a column: at most twice the file's size.
        let meta = std::fs::metadata(path).ok();
        let bytes = meta.as_ref().map_or(0, |m| m.len());
        // A stream (a FIFO, a device) has no size to check first: it is checked as it comes.
        let most = match meta {
            Some(m) if m.is_file() => u64::MAX,
            _ => crate::resources::available() / 2,
        };
        let what = format!("reading {}", path.display());
        // Past the bound that holds for any file, the file's own first rows say how many rows
        // and columns it has.
        let home = if bytes.saturating_mul(2) <= crate::resources::resident_room() {
            None
        } else {
            let need = sampled_need(path, bytes, spec);
            column_home(&what, &need)?
        };
        let file = std::fs::File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // Checksummed as it streams in, so the run's record of its data costs no second read.
        let mut file = Checksummed {
            inner: file,
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        };
        let mut table = Self::from_reader_into(
            LineLimit {
                inner: &mut file,
                run: 0,
                read: 0,
                most,
            },
            &path.display().to_string(),
            spec,
            home.as_deref(),
            bytes,
        )
        .map_err(|e| text::every_text_column(path, spec, e))?;
        table.checksum = Some((file.bytes, file.hasher.finalize()));
        Ok(table)
    }

    /// Reads a Parquet file ([`parquet::read_table`], which checksums the file's own bytes as
    /// it reads them).
    fn from_parquet(path: &Path, spec: &LoadSpec) -> Result<Self, DataError> {
        parquet::read_table(path, spec).map_err(|e| text::every_text_column(path, spec, e))
    }

    /// Reads CSV from any reader; `origin` names it in messages.
    #[cfg(test)]
    pub(crate) fn from_reader<R: std::io::Read + Send>(
        reader: R,
        origin: &str,
        spec: &LoadSpec,
    ) -> Result<Self, DataError> {
        Self::from_reader_into(reader, origin, spec, None, 0)
    }

    /// Reads CSV from any reader (`origin` names it in messages), its numeric columns kept in
    /// files in `spill` (a private folder) when given; `bytes`, the file's size when known
    /// (else 0), sizes the columns from the start.
    fn from_reader_into<R: std::io::Read + Send>(
        reader: R,
        origin: &str,
        spec: &LoadSpec,
        spill: Option<&Path>,
        bytes: u64,
    ) -> Result<Self, DataError> {
        let (header, input) = lines::Input::open(UnixLines::new(reader), origin)?;
        let rows = input.rows_in(bytes, header.len());
        Self::from_input(input, header, origin, spec, spill, rows)
    }

    /// Reads CSV from any reader through the csv path alone: the reference the fast path
    /// is compared with.
    #[cfg(test)]
    pub(crate) fn from_reader_through_csv<R: std::io::Read + Send>(
        reader: R,
        origin: &str,
        spec: &LoadSpec,
    ) -> Result<Self, DataError> {
        let (header, mut input) = lines::Input::open(UnixLines::new(reader), origin)?;
        input.csv_only = true;
        Self::from_input(input, header, origin, spec, None, 0)
    }

    /// Reads the records after `header`, with room for `rows` of them from the start.
    fn from_input<R: std::io::Read + Send>(
        input: lines::Input<R>,
        header: csv::StringRecord,
        origin: &str,
        spec: &LoadSpec,
        spill: Option<&Path>,
        rows: usize,
    ) -> Result<Self, DataError> {
        let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
        let fields = header::resolve(header, origin, spec)?;
        let mut sink = pipeline::Sink {
            builders: builders(origin, spec, &fields, spill, rows)?,
            labels: column_rules(spec)
                .into_iter()
                .map(LabelBuilder::new)
                .collect(),
            rows: crate::data::RowNumbers::default(),
            fields: &fields,
            label_names: &spec.labels,
            spill,
        };
        pipeline::read(input, origin, &mut sink)?;
        let pipeline::Sink {
            builders,
            labels,
            rows,
            ..
        } = sink;
        assemble(origin, spec, fields, builders, labels, rows, spill)
    }
}

/// The table the builders made: an error when it has no rows or a label column's values
/// cannot be mapped; numeric columns kept in files are mapped.
fn assemble(
    origin: &str,
    spec: &LoadSpec,
    fields: header::Fields,
    builders: Vec<ColumnBuilder>,
    labels: Vec<LabelBuilder>,
    rows: crate::data::RowNumbers,
    spill: Option<&Path>,
) -> Result<Table, DataError> {
    if rows.is_empty() {
        return Err(DataError::NoRows {
            path: origin.to_string(),
        });
    }
    let (labels, label_map) = if fields.labels.is_empty() {
        match &spec.label_rule {
            LabelRule::Known(map) => (None, Some(map.clone())),
            _ => (None, None),
        }
    } else {
        let (values, map) = finish_labels(labels, origin, spec)?;
        (Some(values), Some(map))
    };
    let columns = builders
        .into_iter()
        .map(|b| b.finish(|source| spilled(origin, spill, source)))
        .collect::<Result<_, _>>()?;
    Ok(Table {
        origin: origin.to_string(),
        header: fields.header,
        columns,
        label_names: spec.labels.clone(),
        labels: labels.map(Values::from),
        label_map,
        rows,
        checksum: None,
    })
}

/// The builders of `fields`' feature columns, numeric ones in files in `spill` when given, else
/// in memory with room for `rows` (reserved, not touched: the pages come with the values).
fn builders(
    origin: &str,
    spec: &LoadSpec,
    fields: &header::Fields,
    spill: Option<&Path>,
    rows: usize,
) -> Result<Vec<ColumnBuilder>, DataError> {
    let numeric = fields
        .features
        .iter()
        .filter(|&&i| !spec.categorical.contains(&fields.header[i]))
        .count();
    fields
        .features
        .iter()
        .map(|&i| {
            let name = &fields.header[i];
            ColumnBuilder::new(
                name.clone(),
                spec.categorical.contains(name),
                spill.map(|dir| (dir, numeric)),
                rows,
            )
            .map_err(|source| spilled(origin, spill, source))
        })
        .collect()
}

/// A failure to keep a column in its file in `spill`.
fn spilled(origin: &str, spill: Option<&Path>, source: std::io::Error) -> DataError {
    DataError::Spill {
        origin: origin.to_string(),
        dir: spill.unwrap_or(Path::new("")).to_path_buf(),
        source,
    }
}

/// What a file's table takes: its numeric columns (which can live in files), and the rest
/// (row numbers, labels, text columns' codes), with how that was reckoned.
struct Need {
    numeric: u64,
    rest: u64,
    cause: String,
}

/// The bytes a row takes besides its numeric columns: its row number (8) and 4 for each label
/// and text column.
fn row_cost(spec: &LoadSpec) -> u64 {
    8 + 4 * (spec.labels.len() + spec.categorical.len()) as u64
}

/// Where a file's numeric columns are kept while it is parsed: in memory (`None`) when the
/// whole table takes at most [`crate::resources::resident_room`] (the input matrix comes
/// after); else
/// in the parsed-data cache's private folder, when the disk has room, so that only the rest of
/// the table takes memory. Refused with the numbers when neither holds.
fn column_home(what: &str, need: &Need) -> Result<Option<std::path::PathBuf>, DataError> {
    let hint = "use a smaller file, or data.features to read fewer columns";
    let total = need.numeric.saturating_add(need.rest);
    if total <= crate::resources::resident_room() {
        return Ok(None);
    }
    let Some(dir) = crate::data::cache::private_folder() else {
        let hint = format!("{hint}, {}", crate::data::cache::NO_FOLDER);
        crate::resources::check(what, total, Some(need.cause.clone()), &hint)?;
        return Ok(None);
    };
    // The folder must take the columns: room on its disk, and a file made there.
    let usable = crate::resources::check_disk(&dir, need.numeric, "free disk there")
        .map_err(|e| e.to_string())
        .and_then(|()| crate::files::probe_writable(&dir).map_err(|e| format!("{e:#}")));
    if let Err(why) = usable {
        // In memory after all, where it fits.
        let hint = format!("{hint}; or free disk in {0}, or set data.cache_dir to a folder on another disk ({why})", dir.display());
        crate::resources::check(what, total, Some(need.cause.clone()), &hint)?;
        say!("note: {what}: its numeric columns cannot be kept in {} ({why}); they are held in memory", dir.display());
        return Ok(None);
    }
    let cause = format!(
        "{}; its numeric columns are kept on disk, the rest in memory",
        need.cause
    );
    crate::resources::check(what, need.rest, Some(cause), hint)?;
    say!(
        "note: {what}: its numeric columns (about {}) are more than a run keeps in memory ({}); they are kept in mapped files in {}",
        crate::resources::human(need.numeric),
        crate::resources::resident_words(),
        dir.display()
    );
    Ok(Some(dir))
}

/// What a CSV file of `bytes` bytes needs as columns, from its first 4 MB: the rows it holds at
/// their mean length there, times its columns' 4 bytes each and a row's [`row_cost`], with
/// half again to spare (later rows may be shorter). Every cell takes at least two bytes (a
/// digit and a comma), so it never exceeds twice the file.
fn sampled_need(path: &Path, bytes: u64, spec: &LoadSpec) -> Need {
    use std::io::Read;
    let hard = bytes.saturating_mul(2);
    let mut sample = Vec::new();
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(4 << 20).read_to_end(&mut sample))
        .unwrap_or(0);
    let lines = sample.iter().filter(|&&b| b == b'\n').count() as u64;
    let columns = sample
        .split(|&b| b == b'\n')
        .next()
        .map_or(1, |h| h.iter().filter(|&&b| b == b',').count() as u64 + 1);
    if lines < 2 || read == 0 {
        return Need {
            numeric: hard,
            rest: 0,
            cause: "its cells as f32 columns, at most twice the file's size".into(),
        };
    }
    let rows = bytes.saturating_mul(lines) / read as u64;
    let spare = |b: u64| b.saturating_add(b / 2);
    Need {
        numeric: spare(crate::resources::product(&[rows, columns, 4])).min(hard),
        rest: spare(rows.saturating_mul(row_cost(spec))),
        cause: format!(
            "about {rows} rows x {columns} columns as f32, from its first lines, with half again to spare"
        ),
    }
}

/// A reader that counts and CRC32-sums the bytes it passes on.
struct Checksummed<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl<R: std::io::Read> std::io::Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A reader that gives `\r\n` and a lone `\r` as `\n`. The csv reader takes either as a
/// record's end but counts lines by `\n`, and a record after a `\r\n` starts on that `\n`:
/// without this, every row of a file with Windows line endings (what Python's `csv` module
/// writes) would be named one line early, and a file of lone `\r`s would be all "row 1".
pub(crate) struct UnixLines<R> {
    inner: R,
    /// The last byte given was a `\r` (as `\n`): a `\n` next is its pair, and dropped.
    after_cr: bool,
}

impl<R> UnixLines<R> {
    /// `inner`, its line endings read as `\n`.
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            after_cr: false,
        }
    }
}

impl<R: std::io::Read> std::io::Read for UnixLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let start = usize::from(self.after_cr && buf[0] == b'\n');
            // The `\r`'s pair, if any, is behind: a `\n` further on is a line of its own.
            self.after_cr = false;
            // The common case, no `\r` at all: one fast scan, nothing moved.
            if !buf[start..n].contains(&b'\r') {
                if start == 1 {
                    buf.copy_within(1..n, 0);
                }
                self.after_cr = false;
                if n - start > 0 {
                    return Ok(n - start);
                }
                continue;
            }
            let mut w = 0;
            for i in start..n {
                let b = buf[i];
                if b == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                buf[w] = if b == b'\r' { b'\n' } else { b };
                w += 1;
            }
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

/// The longest line a data file may have. The size check above cannot see what a device or a
/// sparse file holds (`/dev/zero` reports 0 bytes), and the CSV reader grows its buffer for a
/// line until the line ends: without a bound, a file with no line breaks ends in the
/// allocator's abort. 64 MB is a header of millions of columns.
pub(crate) const LINE_LIMIT: u64 = 64_000_000;

/// A reader that fails once [`LINE_LIMIT`] bytes pass without a line break, or once more than
/// `most` bytes have come in all (a stream, whose size could not be checked before reading).
struct LineLimit<R> {
    inner: R,
    /// Bytes since the last `\n`.
    run: u64,
    /// Bytes so far.
    read: u64,
    /// The most bytes this read may take.
    most: u64,
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.run = match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(i) => (n - i - 1) as u64,
            None => self.run + n as u64,
        };
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.most {
            return Err(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!(
                    "it is a stream (a FIFO or a device) that has sent more than {}, and its cells would need more than the memory available; save it to a file first",
                    crate::resources::human(self.most)
                ),
            ));
        }
        if self.run > LINE_LIMIT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a line runs on for more than {} without a line break; is this a CSV file?",
                    crate::resources::human(LINE_LIMIT)
                ),
            ));
        }
        Ok(n)
    }
}

/// `path` opened for a second read (the `--keep` columns, the scan for every text column): bounded
/// by [`LINE_LIMIT`] like the first, since the file may have changed in between, and the first
/// read may have stopped before a line that never ends.
/// A Parquet file is read again as the same CSV text the first read saw.
pub(crate) fn open_bounded(path: &Path) -> std::io::Result<Box<dyn std::io::Read + Send>> {
    // A stream cannot be read twice, and opening a FIFO would wait for a writer that is gone.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file (a FIFO or a device can be read only once); save it to a file first",
        ));
    }
    if parquet::is_parquet(path) {
        return Ok(Box::new(
            parquet::ParquetText::open(path).map_err(std::io::Error::other)?,
        ));
    }
    Ok(Box::new(UnixLines::new(LineLimit {
        inner: std::fs::File::open(path)?,
        run: 0,
        read: 0,
        most: u64::MAX,
    })))
}

/// The rule each label column is read with, in `spec.labels` order.
fn column_rules(spec: &LoadSpec) -> Vec<LabelRule> {
    match &spec.label_rule {
        LabelRule::Known(map) => map.column_rules(spec.labels.len()),
        rule => vec![rule.clone(); spec.labels.len()],
    }
}

/// The label columns' values, row-major, and the table's label mapping: one column's own, or
/// for several the spec's known one.
fn finish_labels(
    builders: Vec<LabelBuilder>,
    origin: &str,
    spec: &LoadSpec,
) -> Result<(Buffer, LabelMap), DataError> {
    let mut columns = Vec::with_capacity(builders.len());
    let mut map = None;
    for (b, name) in builders.into_iter().zip(&spec.labels) {
        let (values, m) = b.finish(origin, name)?;
        columns.push(values);
        map = Some(m);
    }
    if columns.len() == 1 {
        let one = columns.pop().expect("one column");
        return Ok((one, map.expect("one column")));
    }
    let LabelRule::Known(map) = &spec.label_rule else {
        unreachable!("several label columns are read with a known mapping")
    };
    let rows = columns.first().map_or(0, |c| c.len());
    let mut values = Buffer::for_rows("the label columns", rows * columns.len());
    for (r, row) in values.chunks_mut(columns.len()).enumerate() {
        for (place, c) in row.iter_mut().zip(&columns) {
            *place = c[r];
        }
    }
    Ok((values, map.clone()))
}

/// The indices of the non-zero entries, in a vector of exactly their number (grown by
/// doubling, 20M indices would take 268 MB and a copy of half that on the way).
fn kept(mask: &[u8]) -> Buffer<usize> {
    let count = mask.iter().filter(|&&k| k != 0).count();
    let mut kept = Buffer::for_rows("the usable rows' indices", count);
    let indices = (0..mask.len()).filter(|&i| mask[i] != 0);
    for (place, i) in kept.iter_mut().zip(indices) {
        *place = i;
    }
    kept
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
