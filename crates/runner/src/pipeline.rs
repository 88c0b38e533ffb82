//! The data stage of a run: load, clean, split, fit the preprocessing, build matrices.

use std::time::Instant;

use crate::config::{Config, Missing, Source};
use crate::data::buffer::Buffer;
use crate::data::split::{split_owned, SplitRule};
use crate::data::synthetic::{generate_table, SyntheticSpec};
use crate::data::{
    DataError, LabelMap, LabelRule, LoadSpec, Matrix, Preprocessor, Selection, Table,
};
use crate::head::Head;
use crate::resources;
use crate::run::fingerprint::Fingerprint;

/// Matrices ready for training, and what made them.
pub(crate) struct Prepared {
    /// Each data file read, with its size and CRC32 as it was read (`data.json`).
    pub(crate) files: Vec<Fingerprint>,
    /// Training rows.
    pub(crate) train: Matrix,
    /// Validation rows (evaluated every epoch).
    pub(crate) valid: Matrix,
    /// Test rows for the final evaluation, when a test file was given.
    pub(crate) test: Option<Matrix>,
    /// The fitted preprocessing.
    pub(crate) pre: Preprocessor,
    /// Things the user should know (rows dropped, unseen categories).
    pub(crate) notes: Vec<String>,
    /// Things that probably make the result worse than it could be (training and validation
    /// classes out of balance, an ordered split of a file sorted by its label): printed as
    /// warnings and kept in `summary.json` and the report.
    pub(crate) warnings: Vec<String>,
    /// Seconds spent loading and preparing.
    pub(crate) seconds: f64,
    /// Each training row's weight from `data.weight`, in `train`'s row order.
    pub(crate) weights: Option<Buffer>,
}

fn load_spec(config: &Config) -> LoadSpec {
    let d = &config.data;
    let labels = config.label_columns();
    LoadSpec {
        label_column: crate::data::LabelColumn::Required,
        label_rule: match config.head() {
            Head::Binary => LabelRule::InferBinary {
                positive: d.positive.clone(),
            },
            Head::Regression => LabelRule::Known(LabelMap::Regression),
            Head::Classes => LabelRule::InferClasses,
            Head::Labels => LabelRule::Known(LabelMap::Labels {
                names: labels.clone(),
            }),
            Head::Targets => LabelRule::Known(LabelMap::Targets {
                names: labels.clone(),
            }),
        },
        labels,
        // The weight column is read with the features, then taken out before anything is
        // fitted (`take_weights`).
        selection: match &d.features {
            Some(f) => Selection::Only(f.iter().chain(d.weight.as_ref()).cloned().collect()),
            None => Selection::AllExcept(d.exclude.clone()),
        },
        categorical: d.categorical.clone(),
    }
}

/// The rows the missing-value rule keeps, with a note when it drops any.
pub(crate) fn usable_rows(
    table: &Table,
    missing: Missing,
    notes: &mut Vec<String>,
) -> Result<Buffer<usize>, DataError> {
    let rows = match missing {
        Missing::Drop => table.complete_rows(),
        Missing::Mean | Missing::Constant => table.labelled_rows(),
    };
    if rows.is_empty() {
        return Err(DataError::AllRowsDropped {
            path: table.origin.clone(),
            rows: table.len(),
        });
    }
    if rows.len() < table.len() {
        notes.push(format!(
            "{}: dropped {} of {} rows with missing values ({})",
            table.origin,
            table.len() - rows.len(),
            table.len(),
            match missing {
                Missing::Drop => "data.missing = \"drop\"",
                _ => "a row without its label cannot train or be scored; data.missing fills features only",
            }
        ));
    }
    Ok(rows)
}

/// Loads a second file (validation or test) with the training file's label mapping.
fn load_other(
    (key, path): (&str, &std::path::Path),
    pre: &Preprocessor,
    config: &Config,
    notes: &mut Vec<String>,
    files: &mut Vec<Fingerprint>,
) -> Result<Matrix, DataError> {
    let table = Table::from_csv(path, &pre.load_spec(crate::data::LabelColumn::Required))?;
    files.extend(fingerprint(key, path, &table));
    let rows = usable_rows(&table, config.data.missing, notes)?;
    let (m, unseen) = pre.transform(&table, &rows)?;
    note_unseen(&unseen, &table.origin, notes);
    Ok(m)
}

fn note_unseen(unseen: &[crate::data::preprocess::Unseen], origin: &str, notes: &mut Vec<String>) {
    for u in unseen {
        notes.push(format!(
            "{origin}: column `{}` has value `{}` in {} rows that the training split never had; encoded as all zeros",
            u.column, u.value, u.count
        ));
    }
}

/// A note for each class of a softmax that the training or validation rows lack: a class the
/// training rows lack is never learnt; one the validation rows lack leaves its one-vs-rest AUC
/// undefined.
fn note_missing_classes(
    classes: &[String],
    labels: &[f32],
    (train, valid): (&[usize], &[usize]),
    origin: &str,
    notes: &mut Vec<String>,
) {
    for (split, rows) in [("training", train), ("validation", valid)] {
        if rows.is_empty() {
            continue;
        }
        let mut seen = vec![false; classes.len()];
        for &r in rows {
            if let Some(s) = seen.get_mut(labels[r] as usize) {
                *s = true;
            }
        }
        let missing: Vec<String> = classes
            .iter()
            .zip(&seen)
            .filter(|(_, &s)| !s)
            .map(|(c, _)| format!("`{c}`"))
            .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "{origin}: the {split} split has no rows of class {}; data.split.stratify = true keeps every class on each side",
                missing.join(", ")
            ));
        }
    }
}

/// A note for each of several yes/no labels that the training rows hold on one side only: it is
/// learnt as never (or always) true, and its AUC is undefined.
fn note_one_sided_labels(
    names: &[String],
    labels: &[f32],
    train: &[usize],
    origin: &str,
    notes: &mut Vec<String>,
) {
    let k = names.len();
    for (j, name) in names.iter().enumerate() {
        let ones = train.iter().filter(|&&r| labels[r * k + j] > 0.5).count();
        if ones == 0 || ones == train.len() {
            notes.push(format!(
                "{origin}: label `{name}` is {} in all {} training rows; the model learns it as {}",
                u8::from(ones > 0),
                train.len(),
                if ones > 0 {
                    "always true"
                } else {
                    "never true"
                }
            ));
        }
    }
}

/// Both classes must be in the training rows (an error with the counts otherwise); a
/// validation split without one of them is a note, since some metrics are then undefined.
fn check_classes(
    table: &Table,
    train: &[usize],
    valid: &[usize],
    stratified: bool,
    notes: &mut Vec<String>,
) -> Result<(), DataError> {
    let Some(labels) = table.labels.as_deref() else {
        return Ok(());
    };
    if let Some(LabelMap::Classes { classes }) = &table.label_map {
        note_missing_classes(classes, labels, (train, valid), &table.origin, notes);
        return Ok(());
    }
    if let Some(LabelMap::Labels { names }) = &table.label_map {
        note_one_sided_labels(names, labels, train, &table.origin, notes);
        return Ok(());
    }
    let (positive, negative) = match &table.label_map {
        Some(LabelMap::Binary { positive, negative }) => (
            positive.clone(),
            negative.clone().unwrap_or_else(|| "(none)".into()),
        ),
        _ => ("1".into(), "0".into()),
    };
    let count = |rows: &[usize]| {
        let ones = rows.iter().filter(|&&r| labels[r] > 0.5).count();
        (ones, rows.len() - ones)
    };
    let (ones, zeros) = count(train);
    if ones == 0 || zeros == 0 {
        return Err(DataError::OneClass {
            path: table.origin.clone(),
            detail: format!(
                "the training split has {ones} rows of class 1 (`{positive}`) and {zeros} of class 0 (`{negative}`)"
            ),
            hint: if stratified {
                String::new()
            } else {
                "; set data.split.stratify = true to keep both classes on each side".into()
            },
        });
    }
    let (ones, zeros) = count(valid);
    if !valid.is_empty() && (ones == 0 || zeros == 0) {
        notes.push(format!(
            "{}: the validation split has {ones} rows of class 1 and {zeros} of class 0; its AUC, precision or recall are undefined{}",
            table.origin,
            if stratified { " (a class with one row can only train)" } else { "; data.split.stratify = true keeps both classes on each side" }
        ));
    }
    Ok(())
}

/// How far apart (in points of the share of class 1) the training and validation parts may be
/// before the run warns.
const BALANCE_POINTS: f64 = 5.0;

/// How many standard errors of a random split the gap must also exceed: a shuffled split of a
/// few hundred rows is often five points off by chance alone, and that is not worth a warning.
const BALANCE_SIGMAS: f64 = 3.0;

/// A warning when the training and validation parts hold class 1 in shares more than
/// [`BALANCE_POINTS`] apart, and further apart than a random split would put them: the
/// validation metrics then describe another population than the one trained on.
fn balance(labels: &[f32], train: &[usize], valid: &[usize]) -> Option<String> {
    let ones = |rows: &[usize]| rows.iter().filter(|&&r| labels[r] > 0.5).count() as f64;
    if train.is_empty() || valid.is_empty() {
        return None;
    }
    let (nt, nv) = (train.len() as f64, valid.len() as f64);
    let (t, v) = (ones(train) / nt, ones(valid) / nv);
    let pooled = (ones(train) + ones(valid)) / (nt + nv);
    let sd = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nv)).sqrt();
    let gap = (t - v).abs();
    let (t, v) = (100.0 * t, 100.0 * v);
    (100.0 * gap > BALANCE_POINTS && gap > BALANCE_SIGMAS * sd).then(|| {
        format!(
            "class 1 is {t:.1} % of the training rows but {v:.1} % of the validation rows; \
             the validation metrics describe other data than the model learned from. \
             data.split.stratify = true keeps the share equal"
        )
    })
}

/// A warning when an ordered split (the first rows train) meets rows sorted by their label: the
/// two parts then hold different classes.
fn sorted_by_label(origin: &str, labels: &[f32], rows: &[usize]) -> Option<String> {
    let changes = rows
        .windows(2)
        .filter(|w| (labels[w[0]] > 0.5) != (labels[w[1]] > 0.5))
        .count();
    (changes == 1).then(|| {
        format!(
            "{origin} is sorted by its label and data.split.shuffle = false: the first rows, \
             which train, and the last, which validate, hold different classes; remove \
             data.split.shuffle = false (a stratified shuffle is the default)"
        )
    })
}

/// The table `config` names: its CSV, or the generator's set (after checking it fits).
fn load(config: &Config) -> Result<Table, DataError> {
    let d = &config.data;
    match d.source {
        Source::Csv => Table::from_csv(d.path.as_ref().expect("validated"), &load_spec(config)),
        Source::Synthetic => {
            let spec = SyntheticSpec::from_config(&d.synthetic, config.seed);
            // The columns, and the network's matrix of them: two copies, with room to spare.
            let cells =
                resources::product(&[spec.rows as u64, (spec.features as u64).saturating_add(1)]);
            resources::check(
                "data.synthetic",
                resources::product(&[cells, 4, 3]),
                Some(format!(
                    "{} rows x {} features as f32: the columns and the input matrix, with room to spare",
                    spec.rows, spec.features
                )),
                "lower data.synthetic.rows or data.synthetic.features",
            )?;
            Ok(generate_table(&spec))
        }
    }
}

/// What `key`'s file was when `table` was read from it.
fn fingerprint(key: &str, path: &std::path::Path, table: &Table) -> Option<Fingerprint> {
    table.checksum.map(|(bytes, crc32)| Fingerprint {
        key: key.to_string(),
        path: path.to_path_buf(),
        bytes,
        crc32,
    })
}

/// Runs the data stage of `config`.
pub(crate) fn prepare(config: &Config) -> Result<Prepared, DataError> {
    let start = Instant::now();
    let d = &config.data;
    let mut table = load(config)?;
    let weight_column = match &d.weight {
        Some(name) => Some(take_weights(&mut table, name)?),
        None => None,
    };
    let mut files: Vec<Fingerprint> = d
        .path
        .as_deref()
        .and_then(|p| fingerprint("data.path", p, &table))
        .into_iter()
        .collect();
    let mut notes = Vec::new();
    let rows = usable_rows(&table, d.missing, &mut notes)?;
    let mut warnings = Vec::new();
    let ordered = !(d.split.shuffle || d.split.stratify || d.split.folds.is_some());
    let head = config.head();
    if let (Head::Binary, Some(labels), true, None) =
        (head, table.labels.as_deref(), ordered, &d.validation_path)
    {
        warnings.extend(sorted_by_label(&table.origin, labels, &rows));
    }
    let (train_rows, valid_rows) = split_rows(config, &table, rows)?;
    // What the parse and the split freed (hundreds of MB at 20M rows) goes back now, before
    // the input matrices are made.
    crate::resources::release_freed();
    if head.is_classifier() {
        check_classes(
            &table,
            &train_rows,
            &valid_rows,
            d.split.stratify,
            &mut notes,
        )?;
        if let (Some(labels), Head::Binary) = (table.labels.as_deref(), head) {
            warnings.extend(balance(labels, &train_rows, &valid_rows));
        }
    }
    let weights = match &weight_column {
        Some((name, w)) => Some(check_weights(&table, name, w, &train_rows)?),
        None => None,
    };
    let pre = Preprocessor::fit(&table, &train_rows, d.missing, d.fill_value.0, d.normalize)?;
    pre.check_levels(&table.origin, d.max_levels.get())?;
    let (train, unseen) = pre.transform(&table, &train_rows)?;
    note_unseen(&unseen, &table.origin, &mut notes);
    let valid = match &d.validation_path {
        Some(p) => load_other(
            ("data.validation_path", p),
            &pre,
            config,
            &mut notes,
            &mut files,
        )?,
        None => {
            let (m, unseen) = pre.transform(&table, &valid_rows)?;
            note_unseen(&unseen, &table.origin, &mut notes);
            m
        }
    };
    let test = d
        .test_path
        .as_ref()
        .map(|p| load_other(("data.test_path", p), &pre, config, &mut notes, &mut files))
        .transpose()?;
    // The table and the row indices are done with: their memory goes back before training.
    drop((table, train_rows, valid_rows));
    crate::resources::release_freed();
    Ok(Prepared {
        files,
        train,
        valid,
        test,
        pre,
        notes,
        warnings,
        seconds: start.elapsed().as_secs_f64(),
        weights,
    })
}

/// The usable rows split into training and validation rows (all of them train when
/// `data.validation_path` names the validation rows); too few rows for either is an error.
fn split_rows(
    config: &Config,
    table: &Table,
    rows: Buffer<usize>,
) -> Result<(Buffer<usize>, Buffer<usize>), DataError> {
    let d = &config.data;
    let (train_rows, valid_rows) = if d.validation_path.is_some() {
        (rows, Vec::new().into())
    } else {
        if rows.len() < 2 {
            return Err(DataError::TooFewRows {
                path: table.origin.clone(),
                rows: rows.len(),
            });
        }
        let rule = SplitRule {
            train: d.split.train.0,
            shuffle: d.split.shuffle,
            stratify: d.split.stratify,
            seed: config.seed,
            fold: d
                .split
                .fold
                .zip(d.split.folds)
                .map(|(i, k)| (i.get() - 1, k.get())),
        };
        // Stratified by one class column; several label columns are split by a shuffle.
        let classes = table
            .labels
            .as_deref()
            .filter(|_| table.label_names.len() == 1);
        split_owned(rows, classes, rule)
    };
    if train_rows.is_empty() || (d.validation_path.is_none() && valid_rows.is_empty()) {
        return Err(DataError::TooFewRows {
            path: table.origin.clone(),
            rows: train_rows.len() + valid_rows.len(),
        });
    }
    Ok((train_rows, valid_rows))
}

/// Takes the `data.weight` column out of `table`: its values, NaN where missing.
fn take_weights(
    table: &mut Table,
    name: &str,
) -> Result<(String, crate::data::buffer::Values), DataError> {
    let Some(k) = table.columns.iter().position(|c| c.name() == name) else {
        return Err(DataError::MissingColumn {
            path: table.origin.clone(),
            column: name.to_string(),
            role: "data.weight".into(),
            available: table.header.join(", "),
        });
    };
    match table.columns.remove(k) {
        crate::data::Column::Numeric { name, values } => Ok((name, values)),
        other => Err(DataError::Weight {
            path: table.origin.clone(),
            row: 1,
            column: other.name().to_string(),
            message: "the column holds text; row weights must be numbers".into(),
        }),
    }
}

/// The weights of the training rows, each finite and at least 0, and not all 0.
fn check_weights(
    table: &Table,
    name: &str,
    values: &[f32],
    train: &[usize],
) -> Result<Buffer, DataError> {
    let bad = |r: usize, message: String| DataError::Weight {
        path: table.origin.clone(),
        row: table.rows.get(r),
        column: name.to_string(),
        message,
    };
    let mut out = Buffer::for_rows("the training rows' weights", train.len());
    for (place, &r) in out.iter_mut().zip(train) {
        let w = values[r];
        if w.is_nan() {
            return Err(bad(
                r,
                "the weight is missing; every training row needs one".into(),
            ));
        }
        if w < 0.0 || !w.is_finite() {
            return Err(bad(
                r,
                format!("weight {w} is negative; weights must be >= 0"),
            ));
        }
        *place = w;
    }
    if out.iter().all(|&w| w == 0.0) {
        return Err(DataError::Weight {
            path: table.origin.clone(),
            row: table.rows.get(train[0]),
            column: name.to_string(),
            message: "every training row weighs 0: nothing would be learned".into(),
        });
    }
    Ok(out)
}
