//! `predict --out F.parquet`: the predictions CSV's own columns and cells, as Parquet.
//!
//! Made from the CSV text `predict` writes, a row group for each part of it ([`Streamed`]), so
//! both files hold the same values and neither is ever whole in memory: whatever the
//! CSV's cells say, the Parquet file says with a type. The type of a column follows from its
//! place and name: `row` is INT64, the `--keep` columns and `class…` are UTF8 text (an ID like
//! `007` stays text), `prediction…` is FLOAT (the network's f32 output, which the CSV writes in
//! full), every other column (`probability…`) DOUBLE; an empty cell is a null. Snappy, the
//! compression pandas and pyarrow write by default. Written with the `parquet` crate's low-level
//! column writers, so no Arrow is built (docs/DEPENDENCIES.md).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// Whether predictions written to `out` are Parquet: its name ends in `.parquet` or `.pq`.
pub(super) fn wanted(out: &Path) -> bool {
    out.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

/// One output column's cells, typed.
pub(crate) enum Cells {
    /// INT64.
    Int(Vec<Option<i64>>),
    /// FLOAT.
    Float(Vec<Option<f32>>),
    /// DOUBLE.
    Double(Vec<Option<f64>>),
    /// BYTE_ARRAY annotated UTF8.
    Text(Vec<Option<String>>),
}

/// The CSV `csv` (a header, then rows; the `kept` columns right after `row`) as a Parquet file.
#[cfg(test)]
fn from_csv(csv: &[u8], kept: usize) -> Result<Vec<u8>> {
    let mut rdr = csv::Reader::from_reader(csv);
    let names: Vec<String> = rdr.headers()?.iter().map(String::from).collect();
    let body = rdr.position().byte() as usize;
    let mut streamed = Streamed::new(&names, kept)?;
    let mut out = streamed.part(&csv[body.min(csv.len())..])?;
    out.extend(streamed.finish()?);
    Ok(out)
}

/// Predictions written as Parquet a part at a time: each part's CSV rows become a row group,
/// whose bytes are handed on as soon as it is written, so the file is never whole in memory.
pub(super) struct Streamed {
    writer: SerializedFileWriter<Vec<u8>>,
    names: Vec<String>,
    kept: usize,
    /// Rows written so far, for messages.
    rows: usize,
    groups: usize,
}

impl Streamed {
    /// A file with columns `names` (the `kept` columns right after `row`); a name twice is
    /// refused, since a Parquet file needs distinct names.
    pub(super) fn new(names: &[String], kept: usize) -> Result<Self> {
        if let Some((i, name)) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            bail!(
                "the predictions would have two columns named `{name}` (columns {} and {}); a Parquet file needs distinct names: leave it out of --keep",
                names.iter().position(|n| n == name).unwrap_or(0) + 1,
                i + 1
            );
        }
        Ok(Self {
            writer: writer(names, &columns(names, kept), properties())?,
            names: names.to_vec(),
            kept,
            rows: 0,
            groups: 0,
        })
    }

    /// One part: CSV rows without their header, as a row group; the file's bytes written since
    /// the last call.
    pub(super) fn part(&mut self, rows: &[u8]) -> Result<Vec<u8>> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(rows);
        let mut columns = columns(&self.names, self.kept);
        for record in rdr.records() {
            let record = record?;
            self.rows += 1;
            for ((column, cell), name) in columns.iter_mut().zip(record.iter()).zip(&self.names) {
                push(column, cell).with_context(|| {
                    format!("row {} of the predictions, column `{name}`", self.rows)
                })?;
            }
        }
        if columns.first().map_or(0, len) > 0 {
            self.group(&columns)?;
        }
        Ok(self.written()?)
    }

    /// The file's last bytes: its footer, after one empty row group when no rows came (so
    /// every reader sees the columns' types).
    pub(super) fn finish(mut self) -> Result<Vec<u8>> {
        if self.groups == 0 {
            let empty = columns(&self.names, self.kept);
            self.group(&empty)?;
        }
        Ok(self.writer.into_inner()?)
    }

    fn group(&mut self, columns: &[Cells]) -> Result<()> {
        write_group(&mut self.writer, columns)?;
        self.groups += 1;
        Ok(())
    }

    /// What the writer has written so far, taken out of its buffer (it counts its own offsets,
    /// so the bytes can go as they come).
    fn written(&mut self) -> std::io::Result<Vec<u8>> {
        self.writer.flush()?;
        Ok(std::mem::take(self.writer.inner_mut()))
    }
}

/// Empty columns of the types `names` take (see the module's doc).
fn columns(names: &[String], kept: usize) -> Vec<Cells> {
    (0..names.len())
        .map(|i| match (i, names[i].as_str()) {
            (0, _) => Cells::Int(Vec::new()),
            (i, _) if i <= kept => Cells::Text(Vec::new()),
            (_, n) if n.starts_with("class") => Cells::Text(Vec::new()),
            (_, n) if n.starts_with("prediction") => Cells::Float(Vec::new()),
            _ => Cells::Double(Vec::new()),
        })
        .collect()
}

/// Appends one cell, parsed for its column's type (empty: a null).
fn push(column: &mut Cells, cell: &str) -> Result<()> {
    let bad = |what: &str| anyhow::anyhow!("`{cell}` is not {what}");
    match column {
        Cells::Text(v) => v.push((!cell.is_empty()).then(|| cell.to_string())),
        _ if cell.is_empty() => match column {
            Cells::Int(v) => v.push(None),
            Cells::Float(v) => v.push(None),
            Cells::Double(v) => v.push(None),
            Cells::Text(v) => v.push(None),
        },
        Cells::Int(v) => v.push(Some(cell.parse().map_err(|_| bad("a whole number"))?)),
        Cells::Float(v) => v.push(Some(cell.parse().map_err(|_| bad("a number"))?)),
        Cells::Double(v) => v.push(Some(cell.parse().map_err(|_| bad("a number"))?)),
    }
    Ok(())
}

/// The Parquet field for a column.
fn field(name: &str, cells: &Cells) -> Result<Arc<Type>> {
    let (physical, logical) = match cells {
        Cells::Int(_) => (Physical::INT64, None),
        Cells::Float(_) => (Physical::FLOAT, None),
        Cells::Double(_) => (Physical::DOUBLE, None),
        Cells::Text(_) => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
    };
    Ok(Arc::new(
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()?,
    ))
}

/// How predictions are written: Snappy-compressed, the crate's other defaults.
fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("burnfit {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A Parquet writer for columns `names` of `columns`' types, written as `props` says.
fn writer(
    names: &[String],
    columns: &[Cells],
    props: WriterProperties,
) -> Result<SerializedFileWriter<Vec<u8>>> {
    let fields = names
        .iter()
        .zip(columns)
        .map(|(n, c)| field(n, c))
        .collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()?,
    );
    Ok(SerializedFileWriter::new(
        Vec::new(),
        schema,
        Arc::new(props),
    )?)
}

/// Writes every row of `columns` as one row group.
fn write_group(writer: &mut SerializedFileWriter<Vec<u8>>, columns: &[Cells]) -> Result<()> {
    let rows = columns.first().map_or(0, len);
    let mut group = writer.next_row_group()?;
    for column in columns {
        let Some(mut w) = group.next_column()? else {
            bail!("the Parquet writer has fewer columns than the schema");
        };
        write_column(w.untyped(), column, 0..rows)?;
        w.close()?;
    }
    group.close()?;
    Ok(())
}

/// The columns as one Parquet file of one row group (tests write files with it).
#[cfg(test)]
pub(crate) fn write(names: &[String], columns: Vec<Cells>) -> Result<Vec<u8>> {
    write_as(names, columns, properties())
}

/// [`write`] with other properties: page versions, encodings and page sizes a reader must
/// take.
#[cfg(test)]
pub(crate) fn write_as(
    names: &[String],
    columns: Vec<Cells>,
    props: WriterProperties,
) -> Result<Vec<u8>> {
    let mut w = writer(names, &columns, props)?;
    write_group(&mut w, &columns)?;
    Ok(w.into_inner()?)
}

fn len(c: &Cells) -> usize {
    match c {
        Cells::Int(v) => v.len(),
        Cells::Float(v) => v.len(),
        Cells::Double(v) => v.len(),
        Cells::Text(v) => v.len(),
    }
}

/// Writes rows `range` of one column: its present values, and a definition level per row (1
/// present, 0 null).
fn write_column(
    w: &mut ColumnWriter<'_>,
    cells: &Cells,
    range: std::ops::Range<usize>,
) -> Result<()> {
    fn split<T: Clone, U>(v: &[Option<T>], f: impl Fn(T) -> U) -> (Vec<U>, Vec<i16>) {
        let levels = v.iter().map(|c| i16::from(c.is_some())).collect();
        (v.iter().flatten().cloned().map(f).collect(), levels)
    }
    match (w, cells) {
        (ColumnWriter::Int64ColumnWriter(w), Cells::Int(v)) => {
            let (values, levels) = split(&v[range], |x| x);
            w.write_batch(&values, Some(&levels), None)?;
        }
        (ColumnWriter::FloatColumnWriter(w), Cells::Float(v)) => {
            let (values, levels) = split(&v[range], |x| x);
            w.write_batch(&values, Some(&levels), None)?;
        }
        (ColumnWriter::DoubleColumnWriter(w), Cells::Double(v)) => {
            let (values, levels) = split(&v[range], |x| x);
            w.write_batch(&values, Some(&levels), None)?;
        }
        (ColumnWriter::ByteArrayColumnWriter(w), Cells::Text(v)) => {
            let (values, levels) = split(&v[range], |s| ByteArray::from(s.into_bytes()));
            w.write_batch(&values, Some(&levels), None)?;
        }
        _ => bail!("the Parquet writer's column type differs from the schema's"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    /// A reader of `bytes` (through a file: the reader takes files or `bytes::Bytes`).
    fn reader(bytes: &[u8]) -> SerializedFileReader<std::fs::File> {
        let mut tmp = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut tmp, bytes).unwrap();
        SerializedFileReader::new(tmp).unwrap()
    }

    #[test]
    fn the_csv_s_cells_come_back_typed_with_nulls_for_empty_cells() {
        let csv = b"row,id,probability,class\n1,007,0.250000,No\n3,,0.900000,Yes\n";
        let bytes = from_csv(csv, 1).unwrap();
        let rows: Vec<Vec<(String, Field)>> = reader(&bytes)
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .get_column_iter()
                    .map(|(n, f)| (n.clone(), f.clone()))
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][0], ("row".into(), Field::Long(1)));
        assert_eq!(rows[0][1], ("id".into(), Field::Str("007".into())));
        assert_eq!(rows[0][2], ("probability".into(), Field::Double(0.25)));
        assert_eq!(rows[1][1], ("id".into(), Field::Null));
        assert_eq!(rows[1][3], ("class".into(), Field::Str("Yes".into())));
        let reg = from_csv(b"row,prediction\n1,0.1\n", 0).unwrap();
        let row = reader(&reg)
            .get_row_iter(None)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(row.get_column_iter().nth(1).unwrap().1, &Field::Float(0.1));
    }

    #[test]
    fn a_kept_column_named_like_an_output_column_is_refused() {
        let err = from_csv(b"row,row,prediction\n1,1,0.5\n", 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("two columns named `row`"), "{err}");
    }
}
