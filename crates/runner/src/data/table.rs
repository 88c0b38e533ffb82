//! Streams a CSV (header row required) into typed columns.
//!
//! One pass over the file, records split on one thread and their numbers parsed straight from
//! the bytes on a few others, reused buffers: no per-row allocation. Numeric cells that are
//! empty, `NA`, `NaN` (and the usual spellings) become NaN, which every later stage reads as
//! "missing". Categorical cells and binary labels are interned to small codes as they stream in.

use std::collections::HashMap;
use std::path::Path;

use super::DataError;

/// Cells read as missing, as pandas' `read_csv` does by default (the common ones).
const MISSING: &[&str] = &[
    "", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?", "-nan",
];

/// A categorical code for a missing cell.
pub const MISSING_CODE: u32 = u32::MAX;

/// One feature column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; NaN marks a missing cell.
    Numeric {
        /// Header name.
        name: String,
        /// One value per row.
        values: Vec<f32>,
    },
    /// Text values, interned.
    Categorical {
        /// Header name.
        name: String,
        /// Index into `levels`, or [`MISSING_CODE`].
        codes: Vec<u32>,
        /// Distinct values in order of first appearance.
        levels: Vec<String>,
    },
}

impl Column {
    /// The header name.
    pub fn name(&self) -> &str {
        match self {
            Column::Numeric { name, .. } | Column::Categorical { name, .. } => name,
        }
    }

    /// Whether row `i` is missing.
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            Column::Numeric { values, .. } => values[i].is_nan(),
            Column::Categorical { codes, .. } => codes[i] == MISSING_CODE,
        }
    }
}

/// Which columns are features.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Exactly these, in this order.
    Only(Vec<String>),
    /// Every column but the label and these.
    AllExcept(Vec<String>),
}

/// How label cells become 0/1 or numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelRule {
    /// Learn the two classes from this file; `positive` names class 1 if given.
    InferBinary {
        /// `data.positive`.
        positive: Option<String>,
    },
    /// Use a known mapping (a trained model's): `positive` is 1, `negative` is 0.
    Binary {
        /// Class 1.
        positive: String,
        /// Class 0, if the training data had one.
        negative: Option<String>,
    },
    /// Numbers (regression).
    Numeric,
}

/// What to read from a file.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The label column.
    pub label: String,
    /// Whether a file without the label column is an error (training) or not (predict).
    pub label_required: bool,
    /// How labels map to numbers.
    pub label_rule: LabelRule,
    /// Feature columns.
    pub selection: Selection,
    /// Feature columns to read as text.
    pub categorical: Vec<String>,
}

/// A loaded file: feature columns in file (or selection) order, labels, and row numbers.
#[derive(Debug, Clone)]
pub struct Table {
    /// Where it came from (file path or `synthetic`), for messages.
    pub origin: String,
    /// The header, for messages.
    pub header: Vec<String>,
    /// Feature columns.
    pub columns: Vec<Column>,
    /// The label column's name.
    pub label_name: String,
    /// 0/1 or numbers, NaN where missing; `None` if the file had no label column.
    pub labels: Option<Vec<f32>>,
    /// The label mapping learned or applied (binary runs).
    pub label_rule: LabelRule,
    /// Each row's number in the source, 1-based with the header as row 1.
    pub rows: Vec<u64>,
}

impl Table {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The feature column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name() == name)
    }

    /// Rows with no missing feature and a present label.
    pub fn complete_rows(&self) -> Vec<usize> {
        // Column by column (the storage order), not row by row across every column.
        let mut keep = self.label_mask();
        for column in &self.columns {
            match column {
                Column::Numeric { values, .. } => {
                    for (k, v) in keep.iter_mut().zip(values) {
                        *k &= !v.is_nan();
                    }
                }
                Column::Categorical { codes, .. } => {
                    for (k, &c) in keep.iter_mut().zip(codes) {
                        *k &= c != MISSING_CODE;
                    }
                }
            }
        }
        kept(&keep)
    }

    /// Rows with a present label (features may be missing).
    pub fn labelled_rows(&self) -> Vec<usize> {
        kept(&self.label_mask())
    }

    /// Whether each row has a label (all true without a label column).
    fn label_mask(&self) -> Vec<bool> {
        match &self.labels {
            Some(l) => l.iter().map(|v| !v.is_nan()).collect(),
            None => vec![true; self.len()],
        }
    }

    /// Reads `path` according to `spec`.
    pub fn from_csv(path: &Path, spec: &LoadSpec) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file, &path.display().to_string(), spec)
    }

    /// Reads CSV from any reader; `origin` names it in messages.
    pub fn from_reader<R: std::io::Read + Send>(
        reader: R,
        origin: &str,
        spec: &LoadSpec,
    ) -> Result<Self, DataError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .buffer_capacity(1 << 20)
            .from_reader(reader);
        let malformed = |e: csv::Error| {
            let row = e.position().map_or(0, |p| p.line());
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    format!("has {len} fields but the header has {expected_len}")
                }
                csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
                _ => e.to_string(),
            };
            DataError::Malformed {
                path: origin.to_string(),
                row,
                message,
            }
        };
        let header: Vec<String> = rdr
            .headers()
            .map_err(malformed)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(DataError::Empty {
                path: origin.to_string(),
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
        let missing_column = |column: &str, role: &str| DataError::MissingColumn {
            path: origin.to_string(),
            column: column.to_string(),
            role: role.to_string(),
            available: header.join(", "),
        };
        let label_idx = header.iter().position(|h| *h == spec.label);
        if label_idx.is_none() && spec.label_required {
            return Err(missing_column(&spec.label, "data.label"));
        }
        let feature_idx: Vec<usize> = match &spec.selection {
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
                for e in excluded {
                    if !header.contains(e) {
                        return Err(missing_column(e, "listed in data.exclude"));
                    }
                }
                (0..header.len())
                    .filter(|&i| Some(i) != label_idx && !excluded.contains(&header[i]))
                    .collect()
            }
        };
        for c in &spec.categorical {
            if !feature_idx.iter().any(|&i| header[i] == *c) {
                return Err(missing_column(c, "listed in data.categorical"));
            }
        }
        let mut builders: Vec<ColumnBuilder> = feature_idx
            .iter()
            .map(|&i| ColumnBuilder::new(header[i].clone(), spec.categorical.contains(&header[i])))
            .collect();
        // The numeric columns (the bulk of the work) are parsed by workers; categorical cells and
        // labels are interned here, in file order, so codes follow first appearance.
        let numeric: Vec<Numeric> = builders
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, ColumnBuilder::Numeric(..)))
            .map(|(b, _)| Numeric {
                builder: b,
                field: feature_idx[b],
                name: &header[feature_idx[b]],
            })
            .collect();
        let mut labels = LabelBuilder::new(spec.label_rule.clone());
        let mut rows = Vec::new();
        // Three stages: one thread splits records (csv_core, about a quarter of the work), a few
        // workers parse the numeric cells of whole batches (about two thirds), and this thread
        // puts the batches back in order. Batches and their value buffers go round and come
        // back emptied, so nothing is allocated per record.
        const BATCH: usize = 1024;
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Batch>(2 * workers);
        // Owned by the workers alone: when they have all stopped, the splitter's send fails.
        let work_rx = std::sync::Arc::new(std::sync::Mutex::new(work_rx));
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Parsed>();
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<(Vec<csv::ByteRecord>, Vec<f32>)>();
        // The pipeline's threads compute like the caller: `spawn_scoped` gives them its
        // subnormal setting (`backend.flush_denormals`).
        std::thread::scope(|scope| -> Result<(), DataError> {
            burnfit_fpenv::spawn_scoped(scope, move || {
                // At most this many batches exist: beyond it, wait for one to come back. Batches
                // are made in file order and the calling thread takes them in that order, so the
                // oldest one in flight always gets through and the wait always ends.
                let most = 4 * workers;
                let (mut seq, mut made) = (0, 0);
                loop {
                    let (mut batch, values) = match empty_rx.try_recv() {
                        Ok(recycled) => recycled,
                        Err(_) if made < most => {
                            made += 1;
                            let records = (0..BATCH).map(|_| csv::ByteRecord::new()).collect();
                            (records, Vec::new())
                        }
                        Err(_) => match empty_rx.recv() {
                            Ok(recycled) => recycled,
                            Err(_) => return, // the calling thread stopped (an error)
                        },
                    };
                    let mut filled = 0;
                    let mut failed = None;
                    while filled < batch.len() {
                        match rdr.read_byte_record(&mut batch[filled]) {
                            Ok(true) => filled += 1,
                            Ok(false) => break,
                            Err(e) => {
                                failed = Some(malformed(e));
                                break;
                            }
                        }
                    }
                    // Only the last batch is short; its unused records are dropped.
                    batch.truncate(filled);
                    let last = filled < BATCH || failed.is_some();
                    if filled > 0 {
                        let records = Ok(batch);
                        if work_tx
                            .send(Batch {
                                seq,
                                records,
                                values,
                            })
                            .is_err()
                        {
                            return;
                        }
                        seq += 1;
                    }
                    if let Some(e) = failed {
                        let (records, values) = (Err(e), Vec::new());
                        let _ = work_tx.send(Batch {
                            seq,
                            records,
                            values,
                        });
                    }
                    if last {
                        return;
                    }
                }
            });
            for _ in 0..workers {
                let (work_rx, done_tx, numeric) = (work_rx.clone(), done_tx.clone(), &numeric);
                burnfit_fpenv::spawn_scoped(scope, move || loop {
                    let Ok(batch) = work_rx
                        .lock()
                        .map_err(drop)
                        .and_then(|rx| rx.recv().map_err(drop))
                    else {
                        return;
                    };
                    if done_tx.send(batch.parse(numeric, origin)).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            drop(work_rx);
            // Moved in, so that returning early (an error) drops it and a splitter waiting for a
            // batch to come back stops too.
            let empty_tx = empty_tx;
            let mut pending = std::collections::BTreeMap::new();
            let mut next = 0;
            for parsed in done_rx {
                pending.insert(parsed.seq, parsed);
                while let Some(parsed) = pending.remove(&next) {
                    next += 1;
                    let records = parsed.records?;
                    // Rows before a bad number are interned first: their label errors come first.
                    let good = parsed.failed.as_ref().map_or(records.len(), |(i, _)| *i);
                    for record in &records[..good] {
                        let row = line(record);
                        for (b, &i) in builders.iter_mut().zip(&feature_idx) {
                            b.push_text(&record[i]);
                        }
                        if let Some(li) = label_idx {
                            labels.push(&record[li], row, origin, &spec.label)?;
                        }
                        rows.push(row);
                    }
                    if let Some((_, e)) = parsed.failed {
                        return Err(e);
                    }
                    let n = records.len();
                    for (k, c) in numeric.iter().enumerate() {
                        builders[c.builder].extend(&parsed.values[k * n..(k + 1) * n]);
                    }
                    let _ = empty_tx.send((records, parsed.values));
                }
            }
            Ok(())
        })?;
        if rows.is_empty() {
            return Err(DataError::NoRows {
                path: origin.to_string(),
            });
        }
        let (labels, label_rule) = match label_idx {
            Some(_) => {
                let (l, r) = labels.finish(origin, &spec.label)?;
                (Some(l), r)
            }
            None => (None, spec.label_rule.clone()),
        };
        Ok(Table {
            origin: origin.to_string(),
            header,
            columns: builders.into_iter().map(ColumnBuilder::finish).collect(),
            label_name: spec.label.clone(),
            labels,
            label_rule,
            rows,
        })
    }
}

/// The indices of the `true` entries.
fn kept(mask: &[bool]) -> Vec<usize> {
    (0..mask.len()).filter(|&i| mask[i]).collect()
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn is_missing(b: &[u8]) -> bool {
    MISSING.iter().any(|m| m.as_bytes() == b)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a finite number or a missing marker (NaN); anything else is an error naming the cell.
fn parse_number(b: &[u8], row: u64, column: &str, origin: &str) -> Result<f32, DataError> {
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

/// The 1-based line a record starts on (the header is line 1).
fn line(record: &csv::ByteRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

/// A numeric feature column: where its builder is and which field feeds it.
struct Numeric<'a> {
    builder: usize,
    field: usize,
    name: &'a str,
}

/// Records split from the file, in file order by `seq`, on their way to a worker.
struct Batch {
    seq: usize,
    records: Result<Vec<csv::ByteRecord>, DataError>,
    /// A recycled buffer for the parsed values.
    values: Vec<f32>,
}

/// A batch with its numeric cells parsed.
struct Parsed {
    seq: usize,
    records: Result<Vec<csv::ByteRecord>, DataError>,
    /// Column-major: the values of numeric column `k` are `values[k * n..(k + 1) * n]`.
    values: Vec<f32>,
    /// The first bad cell: its record's index in the batch, and the error.
    failed: Option<(usize, DataError)>,
}

impl Batch {
    fn parse(self, numeric: &[Numeric], origin: &str) -> Parsed {
        let Batch {
            seq,
            records,
            mut values,
        } = self;
        let mut failed = None;
        if let Ok(records) = &records {
            let n = records.len();
            values.clear();
            values.resize(numeric.len() * n, 0.0);
            'records: for (i, record) in records.iter().enumerate() {
                for (k, c) in numeric.iter().enumerate() {
                    match parse_number(&record[c.field], line(record), c.name, origin) {
                        Ok(v) => values[k * n + i] = v,
                        Err(e) => {
                            failed = Some((i, e));
                            break 'records;
                        }
                    }
                }
            }
        }
        Parsed {
            seq,
            records,
            values,
            failed,
        }
    }
}

enum ColumnBuilder {
    Numeric(String, Vec<f32>),
    Categorical(String, Vec<u32>, Vec<String>, HashMap<Vec<u8>, u32>),
}

impl ColumnBuilder {
    fn new(name: String, categorical: bool) -> Self {
        if categorical {
            ColumnBuilder::Categorical(name, Vec::new(), Vec::new(), HashMap::new())
        } else {
            ColumnBuilder::Numeric(name, Vec::new())
        }
    }

    /// Interns a categorical cell; numeric columns are filled by [`extend`](Self::extend).
    fn push_text(&mut self, cell: &[u8]) {
        if let ColumnBuilder::Categorical(_, codes, levels, index) = self {
            let cell = trim(cell);
            let code = if is_missing(cell) {
                MISSING_CODE
            } else if let Some(&c) = index.get(cell) {
                c
            } else {
                let c = levels.len() as u32;
                levels.push(text(cell));
                index.insert(cell.to_vec(), c);
                c
            };
            codes.push(code);
        }
    }

    /// Appends parsed numbers to a numeric column.
    fn extend(&mut self, parsed: &[f32]) {
        if let ColumnBuilder::Numeric(_, values) = self {
            values.extend_from_slice(parsed);
        }
    }

    fn finish(self) -> Column {
        match self {
            ColumnBuilder::Numeric(name, values) => Column::Numeric { name, values },
            ColumnBuilder::Categorical(name, codes, levels, _) => Column::Categorical {
                name,
                codes,
                levels,
            },
        }
    }
}

/// Writes a label token in one canonical form, so `1`, `1.0` and ` 1 ` are one class, and
/// `TRUE`/`true` another.
fn canonical_label(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if let Ok(v) = s.parse::<f64>() {
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
            return format!("{}", v as i64);
        }
    }
    match s.to_ascii_lowercase().as_str() {
        "true" => "true".into(),
        "false" => "false".into(),
        _ => s.into_owned(),
    }
}

struct LabelBuilder {
    rule: LabelRule,
    /// For binary: class codes 0/1 in order of first appearance, 2 = missing; for numeric: values.
    values: Vec<f32>,
    classes: Vec<String>,
}

impl LabelBuilder {
    fn new(rule: LabelRule) -> Self {
        Self {
            rule,
            values: Vec::new(),
            classes: Vec::new(),
        }
    }

    fn push(&mut self, cell: &[u8], row: u64, origin: &str, column: &str) -> Result<(), DataError> {
        let cell = trim(cell);
        if let LabelRule::Numeric = self.rule {
            self.values.push(parse_number(cell, row, column, origin)?);
            return Ok(());
        }
        if is_missing(cell) {
            self.values.push(f32::NAN);
            return Ok(());
        }
        let value = canonical_label(cell);
        if let LabelRule::Binary { positive, negative } = &self.rule {
            let v = if value == *positive {
                1.0
            } else if negative.as_ref() == Some(&value) {
                0.0
            } else {
                return Err(DataError::UnknownLabel {
                    path: origin.to_string(),
                    row,
                    column: column.to_string(),
                    value,
                    positive: positive.clone(),
                    negative: negative
                        .as_ref()
                        .map_or("(none was seen in training)".into(), |n| format!("`{n}`")),
                });
            };
            self.values.push(v);
            return Ok(());
        }
        let code = match self.classes.iter().position(|c| *c == value) {
            Some(c) => c,
            None if self.classes.len() < 2 => {
                self.classes.push(value);
                self.classes.len() - 1
            }
            None => {
                return Err(DataError::ThirdLabel {
                    path: origin.to_string(),
                    row,
                    column: column.to_string(),
                    value,
                    seen: format!("`{}` and `{}`", self.classes[0], self.classes[1]),
                })
            }
        };
        self.values.push(code as f32);
        Ok(())
    }

    /// Maps class codes to 0/1 once all classes are known.
    fn finish(self, origin: &str, column: &str) -> Result<(Vec<f32>, LabelRule), DataError> {
        let (positive, negative) = match &self.rule {
            LabelRule::Numeric | LabelRule::Binary { .. } => return Ok((self.values, self.rule)),
            LabelRule::InferBinary { positive } => {
                let listing = self
                    .classes
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                let positive = match positive {
                    Some(p) => {
                        let p = canonical_label(p.as_bytes());
                        if !self.classes.contains(&p) {
                            return Err(DataError::PositiveNotFound {
                                path: origin.to_string(),
                                column: column.to_string(),
                                positive: p,
                                values: listing,
                            });
                        }
                        p
                    }
                    None => infer_positive(&self.classes).ok_or_else(|| {
                        DataError::AmbiguousPositive {
                            path: origin.to_string(),
                            column: column.to_string(),
                            values: listing,
                        }
                    })?,
                };
                let negative = self.classes.iter().find(|c| **c != positive).cloned();
                (positive, negative)
            }
        };
        let is_positive: Vec<bool> = self.classes.iter().map(|c| *c == positive).collect();
        let values = self
            .values
            .into_iter()
            .map(|code| {
                if code.is_nan() {
                    f32::NAN
                } else if is_positive[code as usize] {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        Ok((values, LabelRule::Binary { positive, negative }))
    }
}

/// Picks class 1 when the values say so themselves: `1` of 0/1, `true`, or a common positive
/// word (`Yes`, `Up`, ...). Two arbitrary strings are ambiguous.
fn infer_positive(classes: &[String]) -> Option<String> {
    const POSITIVE: &[&str] = &["1", "true", "yes", "y", "up", "positive", "pos", "t"];
    const NEGATIVE: &[&str] = &["0", "false", "no", "n", "down", "negative", "neg", "f"];
    let lower: Vec<String> = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
    for (c, l) in classes.iter().zip(&lower) {
        if POSITIVE.contains(&l.as_str()) {
            return Some(c.clone());
        }
    }
    // A lone negative word: the positive class was simply never seen.
    if classes.len() == 1 && NEGATIVE.contains(&lower[0].as_str()) {
        return Some(match lower[0].as_str() {
            "0" => "1".into(),
            "false" => "true".into(),
            _ => return None,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LoadSpec {
        LoadSpec {
            label: "y".into(),
            label_required: true,
            label_rule: LabelRule::InferBinary { positive: None },
            selection: Selection::AllExcept(vec![]),
            categorical: vec![],
        }
    }

    fn load(csv: &str) -> Result<Table, DataError> {
        Table::from_reader(csv.as_bytes(), "t.csv", &spec())
    }

    #[test]
    fn a_third_label_value_names_the_column_value_and_row() {
        let err = load("a,y\n1,0\n2,1\n3,2\n").unwrap_err().to_string();
        assert!(
            err.contains("row 4") && err.contains("`y`") && err.contains("`2`"),
            "{err}"
        );
    }

    #[test]
    fn a_text_column_not_excluded_names_the_cell_and_the_fix() {
        let err = load("a,b,y\n1,x,0\n2,zz,1\n").unwrap_err().to_string();
        assert!(
            err.contains("row 2, column `b`") && err.contains("`x`"),
            "{err}"
        );
        assert!(
            err.contains("data.categorical") && err.contains("data.exclude"),
            "{err}"
        );
    }

    #[test]
    fn bom_crlf_and_quoted_commas_are_read() {
        let t = load("\u{feff}\"a\",b,y\r\n\"1,5\",2,0\r\n3,4,1\r\n");
        // "1,5" is one quoted field, and not a number.
        let err = t.unwrap_err().to_string();
        assert!(err.contains("`1,5`") && err.contains("column `a`"), "{err}");
        let t = load("\u{feff}a,\"b, quoted\",y\r\n1,2,0\r\n3,4,1\r\n").unwrap();
        assert_eq!(
            t.columns[0].name(),
            "a",
            "the BOM is not part of the first name"
        );
        assert_eq!(t.columns[1].name(), "b, quoted");
        assert_eq!(t.labels.unwrap(), vec![0.0, 1.0]);
    }

    #[test]
    fn structural_problems_are_errors_with_rows() {
        let cases = [
            ("", "empty"),
            ("a,y\n", "no data rows"),
            ("a,a,y\n1,2,0\n", "appears twice"),
            ("a,y\n1,0\n1,2,1\n", "row 3: has 3 fields"),
            ("a,y\n1,0\ninf,1\n", "row 3, column `a`: `inf` is infinite"),
            ("a,b\n1,0\n", "no column `y`"),
        ];
        for (csv, want) in cases {
            let err = load(csv).unwrap_err().to_string();
            assert!(err.contains(want), "{csv:?}: {err}");
        }
    }

    #[test]
    fn many_batches_keep_file_order_and_the_first_error_in_the_file_wins() {
        // 5,000 rows span several parse batches, which workers may finish out of order.
        let mut csv = String::from("a,b,y\n");
        for i in 0..5000 {
            csv += &format!("{i},{},{}\n", -i, i % 2);
        }
        let t = load(&csv).unwrap();
        let Column::Numeric { values, .. } = &t.columns[1] else {
            panic!("b is numeric")
        };
        assert!(values.iter().enumerate().all(|(i, &v)| v == -(i as f32)));
        assert_eq!(t.labels.as_ref().unwrap()[4999], 1.0);
        assert_eq!((t.rows[0], t.rows[4999]), (2, 5001));
        let with = |edits: &[(&str, &str)]| {
            let mut c = csv.clone();
            for (from, to) in edits {
                assert!(c.contains(from), "{from}");
                c = c.replacen(from, to, 1);
            }
            load(&c).unwrap_err().to_string()
        };
        let number = ("\n3000,-3000,0\n", "\n3000,oops,0\n");
        let late_label = ("\n4000,-4000,0\n", "\n4000,-4000,2\n");
        let early_label = ("\n1998,-1998,0\n", "\n1998,-1998,2\n");
        let short = ("\n2500,-2500,0\n", "\n2500,0\n");
        let err = with(&[number, late_label]);
        assert!(err.contains("row 3002, column `b`: `oops`"), "{err}");
        let err = with(&[number, late_label, early_label]);
        assert!(err.contains("row 2000") && err.contains("`2`"), "{err}");
        let err = with(&[number, short]);
        assert!(err.contains("row 2502: has 2 fields"), "{err}");
    }

    #[test]
    fn an_early_error_in_a_long_file_stops_every_stage() {
        // Far more batches than may be in flight, and a bad number in the first: the reader and
        // the workers must stop too. On a thread, so that a regression fails instead of hanging.
        let mut csv = String::from("a,y\n1,0\noops,1\n");
        for i in 0..200_000 {
            csv += &format!("{i},{}\n", i % 2);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(load(&csv).map(|t| t.len()).map_err(|e| e.to_string()));
        });
        let result = rx.recv_timeout(std::time::Duration::from_secs(60));
        let err = result.expect("the loader returned").unwrap_err();
        assert!(err.contains("row 3, column `a`: `oops`"), "{err}");
    }

    #[test]
    fn string_labels_infer_yes_as_positive_or_ask_for_it() {
        let t = load("a,y\n1,No\n2,Yes\n").unwrap();
        assert_eq!(t.labels.unwrap(), vec![0.0, 1.0]);
        let err = load("a,y\n1,cat\n2,dog\n").unwrap_err().to_string();
        assert!(err.contains("data.positive"), "{err}");
        let mut s = spec();
        s.label_rule = LabelRule::InferBinary {
            positive: Some("cat".into()),
        };
        let t = Table::from_reader("a,y\n1,cat\n2,dog\n".as_bytes(), "t.csv", &s).unwrap();
        assert_eq!(t.labels.unwrap(), vec![1.0, 0.0]);
    }

    #[test]
    fn real_braincancer_data_with_categoricals_and_an_na() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/braincancer.csv");
        let spec = LoadSpec {
            label: "status".into(),
            label_required: true,
            label_rule: LabelRule::InferBinary { positive: None },
            selection: Selection::AllExcept(vec!["time".into()]),
            categorical: ["sex", "diagnosis", "loc", "stereo"]
                .map(String::from)
                .to_vec(),
        };
        let t = Table::from_csv(&path, &spec).unwrap();
        assert_eq!(t.len(), 88);
        // The one `NA` (a diagnosis) makes exactly one row incomplete.
        assert_eq!(t.complete_rows().len(), 87);
        match t.column("sex").unwrap() {
            Column::Categorical { levels, .. } => assert_eq!(levels, &["Female", "Male"]),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Runs what a training run does with a loaded table: the missing-value rule, the fit of
    /// every normalization on half the rows, and the transform of all of them.
    fn through_the_pipeline(table: &Table) {
        use crate::config::{Missing, Normalize};
        use crate::data::Preprocessor;
        for missing in [Missing::Drop, Missing::Mean, Missing::Constant] {
            let rows = match missing {
                Missing::Drop => table.complete_rows(),
                _ => table.labelled_rows(),
            };
            let half = &rows[..rows.len() / 2];
            for normalize in [
                Normalize::None,
                Normalize::L2,
                Normalize::Zscore,
                Normalize::Minmax,
            ] {
                let pre = Preprocessor::fit(table, half, missing, 0.0, normalize);
                let _ = pre.transform(table, &rows);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]
        /// Arbitrary bytes never panic the loader: a table or an error.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), numeric in any::<bool>()) {
            let spec = LoadSpec {
                label: "y".into(),
                label_required: false,
                label_rule: if numeric { LabelRule::Numeric } else { LabelRule::InferBinary { positive: None } },
                selection: Selection::AllExcept(vec![]),
                categorical: vec![],
            };
            if let Ok(table) = Table::from_reader(&bytes[..], "fuzz.csv", &spec) {
                through_the_pipeline(&table);
            }
        }

        /// CSV-shaped text from a small alphabet (commas, quotes, newlines, numbers, NA) reaches
        /// deeper than random bytes.
        #[test]
        fn csv_shaped_text_never_panics(body in "[a-cy0-9,.\"\\r\\n NA\u{feff}-]{0,300}") {
            let spec = LoadSpec {
                label: "y".into(),
                label_required: true,
                label_rule: LabelRule::InferBinary { positive: None },
                selection: Selection::AllExcept(vec![]),
                categorical: vec!["a".into()],
            };
            if let Ok(table) = Table::from_reader(format!("a,b,y\n{body}").as_bytes(), "fuzz.csv", &spec) {
                through_the_pipeline(&table);
            }
        }
    }
}
