//! `burnfit predict`: a trained run's predictions for the rows of a file, as CSV (or Parquet,
//! [`super::predict_parquet`]).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::loaded::load_run;
use crate::data::{Column, Table};
use crate::train::predictions_of;

/// What `burnfit predict` writes besides the predictions.
pub(crate) struct PredictOptions<'a> {
    /// `--backend`: another backend than the one trained on.
    pub(crate) backend: Option<&'a str>,
    /// `--threshold`: the decision threshold instead of the saved one.
    pub(crate) threshold: Option<f64>,
    /// `--keep`: columns of the data carried into the output as they are (an ID, say).
    pub(crate) keep: &'a [String],
}

/// `burnfit predict`.
// Long because flat: checks before any work, then load, transform, predict, write, in order.
pub(crate) fn predict(
    dir: &Path,
    data: &Path,
    out: &Path,
    force: bool,
    options: PredictOptions,
) -> Result<ExitCode> {
    // Before any work: a refused output costs nothing.
    crate::output::check(out, &[data], crate::output::Replace { force })?;
    if !options.keep.is_empty() {
        // The user's own path: a link they made to a file is fine; what it names must be a file.
        if std::fs::metadata(data).is_ok_and(|m| !m.is_file()) {
            anyhow::bail!(
                "--keep reads {} a second time for the kept columns, and it is not a regular file (a FIFO or a device can be read only once); save it to a file first",
                data.display()
            );
        }
    }
    let l = load_run(dir, options.backend)?;
    let table = Table::from_csv(data, &l.pre.load_spec(crate::data::LabelColumn::Ignored))?;
    let kept = kept_columns(data, options.keep, table.len())?;
    let rows: Vec<usize> = match l.pre.missing {
        crate::config::Missing::Drop => (0..table.len())
            .filter(|&i| table.columns.iter().all(|c: &Column| !c.is_missing(i)))
            .collect(),
        _ => (0..table.len()).collect(),
    };
    if rows.len() < table.len() {
        say!(
            "warning: {} of {} rows have missing values and are skipped (the model was trained with data.missing = \"drop\"); the `row` column says which rows were predicted",
            table.len() - rows.len(),
            table.len()
        );
    }
    let (m, unseen) = l.pre.transform(&table, &rows)?;
    for u in unseen {
        say!("warning: column `{}` value `{}` ({} rows) was not seen in training; encoded as all zeros", u.column, u.value, u.count);
    }
    let head = l.model_file.head();
    if options.threshold.is_some() && !head.has_threshold() {
        anyhow::bail!(
            "--threshold is for yes/no labels; this model is a {} (train.loss = \"{}\")",
            head.words(),
            head.loss().key()
        );
    }
    // `--threshold` is every label's; else each label's own.
    let thresholds = options
        .threshold
        .map_or_else(|| l.model_file.thresholds(), |t| vec![t]);
    match (head, &thresholds[..]) {
        (crate::head::Head::Binary, [t]) => say!("class 1 where the probability is above {t}"),
        (crate::head::Head::Labels, [t]) => {
            say!("each label 1 where its probability is above {t}")
        }
        (crate::head::Head::Labels, _) => {
            say!("each label 1 where its probability is above its own threshold (model.json)")
        }
        _ => {}
    }
    let header = header(&l.pre.labels, options.keep)?;
    // Written as they are computed, a part at a time: a table of any size is predicted in the
    // memory of one part's outputs and text (and, for Parquet, one row group).
    let parts = |each: &mut dyn FnMut(Vec<u8>) -> Result<()>| -> Result<()> {
        for lo in (0..m.rows).step_by(PART) {
            let hi = (lo + PART).min(m.rows);
            let values = predictions_of(&l.model, &m, lo..hi, head, &l.device);
            let part = Part {
                rows: &rows[lo..hi],
                values: &values,
                thresholds: &thresholds,
                kept: &kept,
            };
            let mut w = csv::Writer::from_writer(Vec::new());
            write_rows(&mut w, &l.pre.labels, &part)?;
            each(w.into_inner().map_err(|e| e.into_error())?)?;
        }
        Ok(())
    };
    let csv = |w: &mut dyn Write| -> Result<()> {
        let mut head = csv::Writer::from_writer(Vec::new());
        head.write_record(&header)?;
        w.write_all(&head.into_inner().map_err(|e| e.into_error())?)?;
        parts(&mut |bytes| Ok(w.write_all(&bytes)?))?;
        Ok(w.flush()?)
    };
    let parquet = |w: &mut dyn Write| -> Result<()> {
        let mut file = super::predict_parquet::Streamed::new(&header, options.keep.len())?;
        parts(&mut |bytes| Ok(w.write_all(&file.part(&bytes)?)?))?;
        w.write_all(&file.finish()?)?;
        Ok(())
    };
    let context = || format!("cannot write the predictions for {}", data.display());
    if out == Path::new("-") {
        csv(&mut std::io::stdout().lock()).with_context(context)?;
        return Ok(ExitCode::SUCCESS);
    } else if super::predict_parquet::wanted(out) {
        crate::files::write_atomic_with(out, parquet).with_context(|| {
            format!(
                "cannot write the predictions as Parquet to {}",
                out.display()
            )
        })?;
    } else {
        crate::files::write_atomic_with(out, csv).with_context(context)?;
    }
    say!("wrote {} predictions to {}", m.rows, out.display());
    Ok(ExitCode::SUCCESS)
}

/// Rows predicted and written at a time: a whole number of inference chunks on every backend,
/// so a part is cut where a prediction of the whole table would cut it, and each row's output
/// is the same bytes (a row's output can differ in its last digit with the size of its chunk).
const PART: usize = 65_536;
const _: () = assert!(
    PART.is_multiple_of(crate::train::CPU_EVAL_CHUNK)
        && PART.is_multiple_of(crate::train::EVAL_CHUNK)
);

/// One part of the predictions: the table rows predicted, their values (`outputs` a row), the
/// thresholds (one for every label, or one each) and the `--keep` columns' cells (whole).
struct Part<'a> {
    rows: &'a [usize],
    values: &'a [f64],
    thresholds: &'a [f64],
    kept: &'a [Vec<String>],
}

/// The predictions' header: the data row (counted from 1, the header not counted), the
/// `--keep` columns, then `probability,class` with the class as the label's own value
/// (`Yes`/`No`), `class` and `probability_<class>` for each class of a softmax, `prediction`
/// for a regression; for several label columns, `probability_<label>` and `class_<label>` (1 or
/// 0) for each yes/no label, or `prediction_<target>` for each target.
fn header(labels: &crate::data::LabelMap, keep: &[String]) -> Result<Vec<String>> {
    use crate::data::LabelMap;
    let mut header: Vec<String> = vec!["row".into()];
    header.extend(keep.iter().cloned());
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match labels {
        LabelMap::Binary { .. } => header.extend(words(&["probability", "class"])),
        LabelMap::Regression => header.push("prediction".into()),
        LabelMap::Classes { classes } => {
            header.push("class".into());
            header.extend(classes.iter().map(|c| format!("probability_{c}")));
        }
        LabelMap::Labels { names } => header.extend(
            names
                .iter()
                .flat_map(|n| [format!("probability_{n}"), format!("class_{n}")]),
        ),
        LabelMap::Targets { names } => {
            header.extend(names.iter().map(|n| format!("prediction_{n}")))
        }
    }
    if let Some(dup) = header
        .iter()
        .enumerate()
        .find(|(i, h)| header[..*i].contains(h))
    {
        anyhow::bail!(
            "the output would have two columns named `{}` (a --keep column and a prediction); keep it under another name",
            dup.1
        );
    }
    Ok(header)
}

/// One part's rows of the predictions (columns as [`header`] names them).
// Long because one arm per head.
fn write_rows<W: Write>(
    w: &mut csv::Writer<W>,
    labels: &crate::data::LabelMap,
    part: &Part,
) -> Result<()> {
    use crate::data::LabelMap;
    let Part {
        rows,
        values,
        thresholds,
        kept,
    } = *part;
    let threshold = |j: usize| thresholds.get(j).copied().unwrap_or(thresholds[0]);
    let width = labels.outputs();
    let mut record: Vec<String> = Vec::new();
    for (&r, row) in rows.iter().zip(values.chunks(width)) {
        record.clear();
        record.push((r + 1).to_string());
        record.extend(kept.iter().map(|column| column[r].clone()));
        let v = row[0];
        match labels {
            LabelMap::Classes { classes } => {
                // The first of the largest probabilities, as `evaluate` counts it.
                let best = crate::metrics::classes::argmax(row);
                record.push(classes[best].clone());
                record.extend(row.iter().map(|p| format!("{p:.6}")));
            }
            LabelMap::Binary { positive, negative } => {
                record.push(format!("{v:.6}"));
                record.push(if v > threshold(0) {
                    positive.clone()
                } else {
                    // A model whose training rows never held class 0 has no name for it.
                    negative
                        .clone()
                        .unwrap_or_else(|| format!("not {positive}"))
                });
            }
            // The network's f32 output, written as it was computed.
            LabelMap::Regression => record.push((v as f32).to_string()),
            LabelMap::Labels { .. } => {
                for (j, p) in row.iter().enumerate() {
                    record.push(format!("{p:.6}"));
                    record.push(u8::from(*p > threshold(j)).to_string());
                }
            }
            LabelMap::Targets { .. } => {
                record.extend(row.iter().map(|v| (*v as f32).to_string()));
            }
        }
        w.write_record(&record)?;
    }
    Ok(())
}

/// The cells of each `--keep` column of `data`, one entry per data row, as written (a second
/// streaming read of the file, made only when columns are kept).
fn kept_columns(data: &Path, keep: &[String], rows: usize) -> Result<Vec<Vec<String>>> {
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    if let Some((i, name)) = keep
        .iter()
        .enumerate()
        .find(|(i, n)| keep[..*i].contains(n))
    {
        // Twice in the header, the output could not be read back (duplicate names are refused).
        anyhow::bail!(
            "--keep names `{name}` twice (entries {} and {}); name each column once",
            keep.iter().position(|n| n == name).unwrap_or(0) + 1,
            i + 1
        );
    }
    let mut rdr = csv::Reader::from_reader(
        crate::data::table::open_bounded(data)
            .with_context(|| format!("cannot read {}", data.display()))?,
    );
    let header: Vec<String> = rdr
        .headers()
        .with_context(|| format!("cannot read the header of {}", data.display()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let fields = keep
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "--keep {name}: {} has no column `{name}`; the columns are: {}",
                    data.display(),
                    header.join(", ")
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut columns = vec![Vec::with_capacity(rows); keep.len()];
    for record in rdr.records() {
        let record = record.with_context(|| format!("cannot read {}", data.display()))?;
        for (column, &f) in columns.iter_mut().zip(&fields) {
            column.push(record.get(f).unwrap_or_default().to_string());
        }
    }
    if columns.iter().any(|c| c.len() != rows) {
        anyhow::bail!(
            "{} changed while it was read (a second read for --keep found another number of rows)",
            data.display()
        );
    }
    Ok(columns)
}
