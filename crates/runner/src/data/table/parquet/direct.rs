//! A Parquet file read into a [`Table`]: numeric features straight from their typed values to
//! f32, with no text in between; labels and text columns through their cells' text, into the
//! builders the CSV loader uses. Each value becomes the f32 that its shortest digits would
//! give in a CSV ([`super::f64_cell`]), and each error is the CSV loader's for that cell, row
//! numbers counted as a CSV of the file would have them (the header is row 1).

use std::path::Path;

use rayon::prelude::*;

use super::{contained_in, Columns, Decoder};
use crate::data::table::cells::parse_number;
use crate::data::table::columns::ColumnBuilder;
use crate::data::table::label::LabelBuilder;
use crate::data::table::{
    assemble, builders, column_home, column_rules, header, row_cost, spilled, Need,
};
use crate::data::{DataError, LoadSpec, Selection, Table};

/// Reads `path` according to `spec`, after checking that its columns fit in memory (or, past
/// that, on disk: `column_home`). Two passes: each numeric column alone, on every core (one
/// column's pages in memory at a time), then the text columns (labels, categories, numbers
/// stored as text) together, row by row in file order, with the row numbers. The first error
/// is the one a CSV of the file gives: the first bad number by row then column, unless a label
/// or a category fails on an earlier row.
// Long because one chunk's cells go, in file order, to the three kinds of builder.
pub(crate) fn read_table(path: &Path, spec: &LoadSpec) -> Result<Table, DataError> {
    let origin = path.display().to_string();
    // Decoded: the labels and the features the selection can take (a column it sets aside is
    // never decoded, so its type cannot stop the run).
    // A file's names are compared trimmed, as the header is read (`header::resolve`).
    let wanted = |name: &str| {
        let name = name.trim();
        spec.labels.iter().any(|l| l == name)
            || match &spec.selection {
                Selection::Only(names) => names.iter().any(|n| n == name),
                Selection::AllExcept(excluded) => !excluded.iter().any(|n| n == name),
            }
    };
    let numeric = |name: &str| {
        let name = name.trim();
        !spec.labels.iter().any(|l| l == name) && !spec.categorical.iter().any(|c| c == name)
    };
    let mut file = Columns::open(path, &wanted, &numeric).map_err(|e| match e {
        // A label cannot be set aside: it is named on its own, with the fix that is one.
        DataError::UnreadableColumns { path, columns } => {
            match columns
                .iter()
                .find(|(c, _)| spec.labels.iter().any(|l| l == c.trim()))
            {
                Some((column, what)) => DataError::UnreadableLabel {
                    path,
                    column: column.clone(),
                    what: what.clone(),
                },
                None => DataError::UnreadableColumns { path, columns },
            }
        }
        other => other,
    })?;
    let rows = file.rows;
    let width = file.names.len() as u64;
    let need = Need {
        numeric: crate::resources::product(&[rows, width, 4]),
        rest: rows.saturating_mul(row_cost(spec)),
        cause: format!("{rows} rows x {width} columns as f32"),
    };
    let home = column_home(&format!("reading {origin}"), &need)?;
    let spill = home.as_deref();
    let header = file.names.iter().map(|h| h.trim().to_string()).collect();
    let fields = header::resolve(header, &origin, spec)?;
    let rows = usize::try_from(rows).unwrap_or(0);
    let mut columns: Vec<ColumnBuilder> = builders(&origin, spec, &fields, spill, rows)?;
    let mut labels: Vec<LabelBuilder> = column_rules(spec)
        .into_iter()
        .map(LabelBuilder::new)
        .collect();

    // Pass 1: the numeric columns, each alone; the first bad value of each.
    let mut direct = file.take_numeric();
    // A column is read alone when its builder takes numbers too; one the two disagree on
    // has no decoder left for pass 2, an error there, never numbers in a text column.
    let read_alone: Vec<bool> = fields
        .features
        .iter()
        .zip(&columns)
        .map(|(&f, b)| direct[f].is_some() && b.is_numeric())
        .collect();
    let mut alone: Vec<(usize, &mut ColumnBuilder, Decoder)> = columns
        .iter_mut()
        .zip(&fields.features)
        .enumerate()
        .filter(|(k, _)| read_alone[*k])
        .filter_map(|(k, (b, &f))| Some((k, b, direct[f].take()?)))
        .collect();
    let reader = std::sync::Arc::clone(&file.file);
    let bad = alone
        .par_iter_mut()
        .map(|(k, builder, decoder)| {
            let name = &fields.header[fields.features[*k]];
            let mut bad = None;
            let read = contained_in(path, Some(name.as_str()), || {
                Columns::read_alone(&reader, path, decoder, |first, d| {
                    let good = d.bad.as_ref().map_or(d.numbers.len(), |(r, _)| *r);
                    builder
                        .extend(&d.numbers[..good])
                        .map_err(|source| spilled(&origin, spill, source))?;
                    if let Some((r, text)) = &d.bad {
                        let row = first + r;
                        let e = parse_number(text, row as u64 + 2, name, &origin).err();
                        bad = Some((row, *k, e.unwrap_or_else(|| not_decoded(path, name))));
                        return Ok(false);
                    }
                    Ok(true)
                })
            });
            read.map(|()| bad)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .min_by_key(|(row, k, _)| (*row, *k));
    drop(alone);

    // Pass 2: the text columns, row by row.
    let decoder_of = |f: usize| file.columns[f].ok_or_else(|| not_decoded(path, &fields.header[f]));
    // The features left to this pass: those pass 1 did not read.
    let text_features = fields
        .features
        .iter()
        .enumerate()
        .filter(|&(k, _)| !read_alone[k])
        .map(|(k, &f)| Ok((k, decoder_of(f)?)))
        .collect::<Result<Vec<_>, DataError>>()?;
    let label_decoders = fields
        .labels
        .iter()
        .map(|&f| decoder_of(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut row_numbers = crate::data::RowNumbers::default();
    // Each text feature's numbers of the chunk (empty for a categorical one): parsed once,
    // checked, then added.
    let mut parsed: Vec<Vec<f32>> = vec![Vec::new(); text_features.len()];
    let mut first = 0usize;
    while let Some(n) = file.next_chunk()? {
        // The first bad number of the chunk, by row then column: pass 1's, or a number
        // stored as text.
        let mut failed = bad
            .as_ref()
            .filter(|(row, _, _)| *row < first + n)
            .map(|(row, k, _)| (*row - first, *k, None));
        for (&(k, d), out) in text_features.iter().zip(&mut parsed) {
            out.clear();
            if !columns[k].is_numeric() {
                continue;
            }
            let name = &fields.header[fields.features[k]];
            let d = &file.decoders[d];
            for r in 0..n {
                match parse_number(d.cell(r), (first + r) as u64 + 2, name, &origin) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        if failed
                            .as_ref()
                            .is_none_or(|(fr, fk, _)| (r, k) < (*fr, *fk))
                        {
                            failed = Some((r, k, Some(e)));
                        }
                        break;
                    }
                }
            }
        }
        // Rows before a bad number are interned first: their label errors come first.
        let good = failed.as_ref().map_or(n, |(r, _, _)| *r);
        for r in 0..good {
            let row = (first + r) as u64 + 2;
            for &(k, d) in &text_features {
                if !columns[k].is_numeric() {
                    columns[k].push_text(file.decoders[d].cell(r), row, &origin)?;
                }
            }
            for ((b, &d), name) in labels.iter_mut().zip(&label_decoders).zip(&spec.labels) {
                b.push(file.decoders[d].cell(r), row, &origin, name)?;
            }
            row_numbers.push(row);
        }
        if let Some((_, _, e)) = failed {
            return Err(match e {
                Some(e) => e,
                None => bad.map(|(_, _, e)| e).expect("pass 1's error"),
            });
        }
        for (&(k, _), out) in text_features.iter().zip(&parsed) {
            if columns[k].is_numeric() {
                columns[k]
                    .extend(out)
                    .map_err(|source| spilled(&origin, spill, source))?;
            }
        }
        first += n;
    }
    let mut table = assemble(&origin, spec, fields, columns, labels, row_numbers, spill)?;
    table.checksum = Some(file.checksum()?);
    Ok(table)
}

/// A column the header resolved that was not decoded: the selection and the decoders disagree.
fn not_decoded(path: &Path, name: &str) -> DataError {
    super::unreadable(path, format!("column `{name}` was not decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::predict_parquet::{write, write_as, Cells};
    use crate::data::{Column, LabelColumn, LabelRule};

    fn spec(categorical: &[&str]) -> LoadSpec {
        LoadSpec {
            labels: vec!["y".into()],
            label_column: LabelColumn::Required,
            label_rule: LabelRule::InferBinary { positive: None },
            selection: Selection::AllExcept(vec![]),
            categorical: categorical.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// The file's table read straight, and read as the CSV text of the same file.
    fn both(path: &Path, spec: &LoadSpec) -> (Result<Table, DataError>, Result<Table, DataError>) {
        // Compared without the checksum, which only the file's own read has.
        let direct = read_table(path, spec).map(|mut t| {
            t.checksum = None;
            t
        });
        let text = super::super::ParquetText::open(path)
            .and_then(|t| Table::from_reader(t, &path.display().to_string(), spec));
        (direct, text)
    }

    fn file(dir: &Path, columns: Vec<(&str, Cells)>) -> std::path::PathBuf {
        let (names, cells): (Vec<String>, Vec<Cells>) =
            columns.into_iter().map(|(n, c)| (n.to_string(), c)).unzip();
        let path = dir.join("t.parquet");
        std::fs::write(&path, write(&names, cells).unwrap()).unwrap();
        path
    }

    /// Every kind of f64 whose f32 is hard to get right (halfway between two f32s, subnormal,
    /// at f32's largest), integers past 2^24 and 2^53, f32s, nulls and text: the same table as
    /// the CSV loader makes of the file's text, to the bit.
    #[test]
    fn numbers_read_straight_equal_their_digits_read_as_csv() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut doubles = vec![Some(0.1), None, Some(-0.0), Some(1e-40), Some(-3e-45)];
        doubles.push(Some(f64::from(f32::MAX)));
        doubles.push(Some(f64::from(f32::MIN_POSITIVE) * 0.75));
        for x in [1.0f32, 0.1, 3.3e-7, 1234.5678, -9.87e20] {
            let next = f32::from_bits(x.to_bits() + 1);
            // Exactly halfway, and a hair either side.
            let half = (f64::from(x) + f64::from(next)) / 2.0;
            doubles.extend(
                [
                    half,
                    f64::from_bits(half.to_bits() + 1),
                    f64::from_bits(half.to_bits() - 1),
                ]
                .map(Some),
            );
        }
        let n = doubles.len();
        let ints: Vec<Option<i64>> = (0..n as i64)
            .map(|i| match i % 4 {
                0 => Some((1 << 24) + 1 + i),
                1 => Some(-(1 << 53) - 3 * i),
                2 => None,
                _ => Some(i64::MAX - i),
            })
            .collect();
        let floats: Vec<Option<f32>> = (0..n)
            .map(|i| (i % 3 != 0).then_some(i as f32 * 0.3))
            .collect();
        let text: Vec<Option<String>> = (0..n)
            .map(|i| (i % 5 != 1).then(|| ["a", "b c"][i % 2].to_string()))
            .collect();
        let numbers_as_text: Vec<Option<String>> =
            (0..n).map(|i| Some(format!("{}.25", i))).collect();
        let y: Vec<Option<i64>> = (0..n as i64).map(|i| Some(i % 2)).collect();
        let path = file(
            dir.path(),
            vec![
                ("d", Cells::Double(doubles)),
                ("i", Cells::Int(ints)),
                ("f", Cells::Float(floats)),
                ("c", Cells::Text(text)),
                ("t", Cells::Text(numbers_as_text)),
                ("y", Cells::Int(y)),
            ],
        );
        let spec = spec(&["c"]);
        let (direct, text) = both(&path, &spec);
        let (direct, text) = (direct.unwrap(), text.unwrap());
        for (a, b) in direct.columns.iter().zip(&text.columns) {
            if let (Column::Numeric { values: a, name }, Column::Numeric { values: b, .. }) = (a, b)
            {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(a), bits(b), "column {name}");
            }
        }
        assert_eq!(format!("{direct:?}"), format!("{text:?}"));
    }

    /// Every page layout a writer makes reads to the same table as the file's CSV text: pages
    /// of version 1 and 2, plain-encoded (read by burnfit's own page decoder), dictionary-
    /// encoded (the parquet crate's), and a dictionary that overflows into plain pages within
    /// one column chunk (the two in turn), nulls among hard values.
    #[test]
    fn every_page_layout_reads_as_the_csv_text_of_the_file() {
        use parquet::file::properties::{WriterProperties, WriterVersion};
        let dir = tempfile::TempDir::new().unwrap();
        let rows = 1500;
        let hard = |i: usize| -> f64 {
            let x = f32::from_bits(0x3f80_0000 + (i as u32 * 7919) % 100_000);
            let next = f32::from_bits(x.to_bits() + 1);
            match i % 5 {
                // Exactly halfway between two f32s.
                0 => (f64::from(x) + f64::from(next)) / 2.0,
                1 => f64::from(x) * 1e-40,
                2 => -(i as f64) * 0.1,
                _ => f64::from(x) + 1e-12,
            }
        };
        let columns = || {
            vec![
                (
                    "d".to_string(),
                    Cells::Double((0..rows).map(|i| (i % 11 != 3).then(|| hard(i))).collect()),
                ),
                (
                    "i".to_string(),
                    Cells::Int(
                        (0..rows as i64)
                            .map(|i| (i % 7 != 0).then_some((1 << 24) + i * 3))
                            .collect(),
                    ),
                ),
                (
                    "f".to_string(),
                    Cells::Float((0..rows).map(|i| Some(i as f32 * 0.37)).collect()),
                ),
                (
                    "y".to_string(),
                    Cells::Int((0..rows as i64).map(|i| Some(i % 2)).collect()),
                ),
            ]
        };
        let base = || {
            WriterProperties::builder()
                .set_write_batch_size(64)
                .set_data_page_row_count_limit(200)
        };
        let layouts = [
            ("dictionary, v1", base().build()),
            ("plain, v1", base().set_dictionary_enabled(false).build()),
            (
                "plain, v2",
                base()
                    .set_dictionary_enabled(false)
                    .set_writer_version(WriterVersion::PARQUET_2_0)
                    .build(),
            ),
            (
                "dictionary then plain, v1",
                base().set_dictionary_page_size_limit(256).build(),
            ),
            (
                "dictionary then plain, v2",
                base()
                    .set_dictionary_page_size_limit(256)
                    .set_writer_version(WriterVersion::PARQUET_2_0)
                    .build(),
            ),
        ];
        let mut first: Option<String> = None;
        for (layout, props) in layouts {
            let (names, cells): (Vec<String>, Vec<Cells>) = columns().into_iter().unzip();
            let path = dir.path().join("t.parquet");
            std::fs::write(&path, write_as(&names, cells, props).unwrap()).unwrap();
            let (direct, text) = both(&path, &spec(&[]));
            let direct = format!("{:?}", direct.unwrap());
            assert_eq!(direct, format!("{:?}", text.unwrap()), "{layout}");
            assert_eq!(
                &direct,
                first.get_or_insert_with(|| direct.clone()),
                "{layout}"
            );
        }
    }

    /// Names are compared trimmed, as the header is read: a spaced number column named as
    /// categorical is text, and a spaced label, feature or excluded column is found.
    #[test]
    fn spaced_column_names_are_the_config_s_names() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = file(
            dir.path(),
            vec![
                (" z ", Cells::Int(vec![Some(0), Some(1), Some(2), Some(3)])),
                (
                    "a ",
                    Cells::Double(vec![Some(0.5), Some(1.5), None, Some(2.0)]),
                ),
                (" y", Cells::Int(vec![Some(0), Some(1), Some(0), Some(1)])),
            ],
        );
        let (direct, text) = both(&path, &spec(&["z"]));
        let (direct, text) = (direct.unwrap(), text.unwrap());
        assert!(matches!(direct.columns[0], Column::Categorical { .. }));
        assert_eq!(format!("{direct:?}"), format!("{text:?}"));
        let mut only = spec(&[]);
        only.selection = Selection::Only(vec!["a".into()]);
        let (direct, text) = both(&path, &only);
        assert_eq!(
            format!("{:?}", direct.unwrap()),
            format!("{:?}", text.unwrap())
        );
    }

    /// The checksum made of the pieces a read took (and the bytes between them) is the
    /// whole file's CRC32: every column read, one set aside, text and numbers.
    #[test]
    fn the_checksum_of_what_was_read_is_the_file_s() {
        let dir = tempfile::TempDir::new().unwrap();
        let rows = 5000;
        let path = file(
            dir.path(),
            vec![
                (
                    "a",
                    Cells::Double((0..rows).map(|i| Some(i as f64 * 0.25)).collect()),
                ),
                ("skip", Cells::Int((0..rows).map(|i| Some(i * 7)).collect())),
                (
                    "c",
                    Cells::Text((0..rows).map(|i| Some(format!("v{}", i % 3))).collect()),
                ),
                ("y", Cells::Int((0..rows).map(|i| Some(i % 2)).collect())),
            ],
        );
        let whole = super::super::checksum(&path).unwrap();
        let all = read_table(&path, &spec(&["c"])).unwrap();
        assert_eq!(all.checksum, Some(whole));
        let mut some = spec(&["c"]);
        some.selection = Selection::AllExcept(vec!["skip".into()]);
        assert_eq!(read_table(&path, &some).unwrap().checksum, Some(whole));
    }

    /// A value that is no f32 is the CSV loader's error for that cell, on the same row, and a
    /// bad label on an earlier row comes first, as in a CSV.
    #[test]
    fn bad_values_are_the_csv_loader_s_errors_for_the_same_cells() {
        let dir = tempfile::TempDir::new().unwrap();
        let cases: Vec<(Cells, Cells)> = vec![
            (
                Cells::Double(vec![Some(1.0), Some(1e39), Some(2.0)]),
                Cells::Int(vec![Some(0), Some(1), Some(0)]),
            ),
            (
                Cells::Float(vec![Some(1.0), Some(2.0), Some(f32::NEG_INFINITY)]),
                Cells::Int(vec![Some(0), Some(1), Some(1)]),
            ),
            (
                Cells::Double(vec![Some(1.0), Some(2.0), Some(f64::INFINITY)]),
                Cells::Text(vec![Some("a".into()), Some("b".into()), Some("c".into())]),
            ),
        ];
        for (x, y) in cases {
            let path = file(dir.path(), vec![("x", x), ("y", y)]);
            let (direct, text) = both(&path, &spec(&[]));
            let (direct, text) = (
                direct.unwrap_err().to_string(),
                text.unwrap_err().to_string(),
            );
            assert_eq!(direct, text);
        }
    }
}
