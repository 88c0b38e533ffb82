//! `burnfit init DATA --label COLUMN`: from "I have a CSV" to a config that trains with no
//! edit. The file is read the way training reads it ([`crate::data::profile`]); every choice
//! is written out and explained in one line, beside the column summary it was made from, and
//! where the values could mean two things (whole numbers: classes or a quantity?) it stops and
//! says what to tell it instead of guessing. Here the choices; their text in `text.rs`.

mod text;

use text::{write_data, write_header, write_training};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::data::profile::{self, ColumnProfile, Kind};
use crate::data::table::{canonical_label, infer_positive};
use crate::data::Table;
use crate::output::{self, Replace};

/// The loss `init` may be told to use (`--loss`), when the label's values allow both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InitLoss {
    /// Two classes, binary cross-entropy.
    Bce,
    /// A number, mean squared error.
    Mse,
    /// One of k classes, a softmax with categorical cross-entropy.
    #[value(name = "cross_entropy")]
    CrossEntropy,
}

/// What `burnfit init` was asked.
pub(crate) struct InitArgs<'a> {
    /// The CSV.
    pub(crate) data: &'a Path,
    /// The label column, or several.
    pub(crate) labels: &'a [String],
    /// Where the config goes (default: the data file's stem `.toml` in the working folder).
    pub(crate) out: Option<&'a Path>,
    /// `--force`.
    pub(crate) force: bool,
    /// `--loss`, for a label whose values could be classes or numbers.
    pub(crate) loss: Option<InitLoss>,
    /// `--positive`, class 1 of a two-valued label whose values do not say which it is.
    pub(crate) positive: Option<&'a str>,
}

/// The most distinct values a text column may have and still be one-hot encoded by default
/// (`data.max_levels`' default).
const MAX_LEVELS: usize = 1000;

/// `burnfit init`.
pub(crate) fn init(args: InitArgs) -> Result<ExitCode> {
    let out = match args.out {
        Some(p) => p.to_path_buf(),
        None => default_out(args.data)?,
    };
    // Before reading the data: a refused output costs nothing.
    output::check(&out, &[args.data], Replace { force: args.force })?;
    let (table, columns) = profile::profile(args.data, &[])?;
    let text = write_config(&args, &out, &table, &columns)?;
    if out == Path::new("-") {
        out!("{text}")?;
    } else {
        crate::run::write_atomic(&out, text.as_bytes())?;
        say!(
            "wrote {}; train with `burnfit train --config {}`",
            out.display(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `college.csv` → `college.toml` in the working folder.
fn default_out(data: &Path) -> Result<PathBuf> {
    let Some(stem) = data.file_stem().filter(|s| !s.is_empty()) else {
        bail!(
            "{} has no file name to name the config after; give --out",
            data.display()
        );
    };
    let mut name = stem.to_os_string();
    name.push(".toml");
    Ok(PathBuf::from(name))
}

/// The decision for the label: the loss, and class 1 for a classifier.
struct LabelChoice {
    loss: InitLoss,
    positive: Option<String>,
    why: String,
}

/// The loss the label's values call for, and class 1 for a classifier; an error saying what to
/// tell init where the values could mean two things.
fn choose_label(args: &InitArgs, label: &ColumnProfile, rows: usize) -> Result<LabelChoice> {
    let name = &label.name;
    refuse_unusable(args, label, rows)?;
    let numeric = label.stats.is_some();
    if args.loss == Some(InitLoss::Mse) {
        return Ok(LabelChoice {
            loss: InitLoss::Mse,
            positive: None,
            why: format!("a number ({} distinct values; --loss mse)", label.distinct),
        });
    }
    if args.loss == Some(InitLoss::CrossEntropy) || (!numeric && label.distinct <= profile::FEW) {
        if label.distinct == 2 && args.loss.is_none() {
            return two_classes(args, label);
        }
        return Ok(LabelChoice {
            loss: InitLoss::CrossEntropy,
            positive: None,
            why: format!(
                "{} classes{}, a softmax over them",
                label.distinct,
                label
                    .values
                    .as_ref()
                    .map(|v| format!(": {}", listing(v)))
                    .unwrap_or_default()
            ),
        });
    }
    if label.distinct == 2 {
        return two_classes(args, label);
    }
    if !numeric {
        bail!(
            "column `{name}` holds {} distinct text values; is it an identifier or free text? If they are classes, run init again with --loss cross_entropy",
            label.distinct,
        );
    }
    if label.integers && label.distinct <= profile::FEW && args.loss.is_none() {
        bail!(
            "column `{name}` holds {} distinct whole numbers ({}): they could be classes or a quantity. Run init again with --loss cross_entropy for classes, or --loss mse for a quantity",
            label.distinct,
            listing(label.values.as_deref().unwrap_or_default())
        );
    }
    Ok(LabelChoice {
        loss: InitLoss::Mse,
        positive: None,
        why: format!(
            "a number: {} distinct values{}",
            label.distinct,
            label
                .stats
                .map(|[lo, _, hi]| format!(" from {lo} to {hi}"))
                .unwrap_or_default()
        ),
    })
}

/// A label's values with their counts, for an error.
fn listing(values: &[(String, usize)]) -> String {
    values
        .iter()
        .map(|(v, n)| format!("`{v}` ({n} rows)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses a label with fewer than two values, or one that `--loss` cannot use.
fn refuse_unusable(args: &InitArgs, label: &ColumnProfile, rows: usize) -> Result<()> {
    let name = &label.name;
    let present = rows - label.missing;
    if label.distinct < 2 {
        bail!(
            "column `{name}` holds {} in its {present} labelled rows; a label needs at least two values to learn anything",
            match &label.values {
                Some(v) if !v.is_empty() => format!("one value, `{}`,", v[0].0),
                _ => "no value".to_string(),
            }
        );
    }
    let numeric = label.stats.is_some();
    match args.loss {
        Some(InitLoss::Mse) if !numeric => bail!(
            "--loss mse: column `{name}` holds text, not numbers; a regression needs a numeric label"
        ),
        Some(InitLoss::Bce) if label.distinct != 2 => bail!(
            "--loss bce: column `{name}` has {} distinct values; binary cross-entropy needs exactly two (--loss cross_entropy trains k classes)",
            label.distinct
        ),
        Some(InitLoss::CrossEntropy) if numeric && !label.integers => bail!(
            "--loss cross_entropy: column `{name}` holds numbers with fractions, a quantity rather than classes; --loss mse trains it"
        ),
        _ => {}
    }
    Ok(())
}

/// A two-valued label as two classes: class 1 is `--positive`, or the value that says it is
/// the positive one.
fn two_classes(args: &InitArgs, label: &ColumnProfile) -> Result<LabelChoice> {
    let name = &label.name;
    let numeric = label.stats.is_some();
    let values = label.values.clone().unwrap_or_default();
    let classes: Vec<String> = values
        .iter()
        .map(|(v, _)| canonical_label(v.as_bytes()))
        .collect();
    let positive = match args.positive {
        Some(p) => {
            let p = canonical_label(p.as_bytes());
            if !classes.contains(&p) {
                bail!(
                    "--positive {p}: column `{name}` holds {}; name one of them",
                    listing(&values)
                );
            }
            p
        }
        None => match infer_positive(&classes) {
            Some(p) => p,
            None => bail!(
                "column `{name}` holds two values, {}, and neither says it is the positive class; tell init which with --positive VALUE{}",
                listing(&values),
                if numeric { " (or --loss mse if it is a quantity)" } else { "" }
            ),
        },
    };
    let negative = classes.iter().find(|c| **c != positive).cloned();
    Ok(LabelChoice {
        loss: InitLoss::Bce,
        why: format!(
            "two classes: `{positive}` is class 1, `{}` class 0 ({})",
            negative.unwrap_or_default(),
            listing(&values)
        ),
        positive: Some(positive),
    })
}

/// The share of rows past which one column splitting the classes at one threshold is suspect.
const LEAK_SHARE: f64 = 0.99;

/// The rows a table needs before a near-perfect split by one column is worth a warning.
const LEAK_ROWS: usize = 50;

/// The numeric columns (not set aside) that alone put at least [`LEAK_SHARE`] of the rows on the
/// right side of one threshold: on real data that usually means the column is recorded after
/// the outcome (smarket's `Today` is the day's return whose sign is `Direction`), and a model
/// that leans on it is useless in use. Reported, never excluded on a guess.
fn separating_columns(
    table: &Table,
    label: &str,
    positive: &str,
    exclude: &[(&str, String)],
) -> Vec<(String, f64)> {
    use crate::data::Column;
    let Some(y) = table.columns.iter().find(|c| c.name() == label) else {
        return Vec::new();
    };
    // Class 1 or 0 per row; `None` for a row without a label.
    let class: Vec<Option<bool>> = (0..table.len())
        .map(|r| match y {
            Column::Categorical { codes, levels, .. } => levels
                .get(codes[r] as usize)
                .map(|v| canonical_label(v.as_bytes()) == positive),
            Column::Numeric { values, .. } => (!values[r].is_nan())
                .then(|| canonical_label(values[r].to_string().as_bytes()) == positive),
        })
        .collect();
    let mut found = Vec::new();
    for c in &table.columns {
        let Column::Numeric { name, values } = c else {
            continue;
        };
        if name == label || exclude.iter().any(|(n, _)| n == name) {
            continue;
        }
        let mut pairs: Vec<(f32, bool)> = values
            .iter()
            .zip(&class)
            .filter_map(|(&v, &c)| Some((v, c?)).filter(|(v, _)| !v.is_nan()))
            .collect();
        if pairs.len() < LEAK_ROWS {
            continue;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = pairs.len();
        let ones_total = pairs.iter().filter(|p| p.1).count();
        // Best threshold between distinct values: class 0 below and 1 above, or the reverse.
        let (mut zeros_below, mut ones_below, mut best) = (0usize, 0usize, 0usize);
        for (i, &(v, one)) in pairs.iter().enumerate() {
            if one {
                ones_below += 1;
            } else {
                zeros_below += 1;
            }
            if i + 1 < n && pairs[i + 1].0 == v {
                continue;
            }
            let ones_above = ones_total - ones_below;
            let zeros_above = (n - ones_total) - zeros_below;
            best = best
                .max(zeros_below + ones_above)
                .max(ones_below + zeros_above);
        }
        let share = best as f64 / n as f64;
        if share >= LEAK_SHARE {
            found.push((name.clone(), share));
        }
    }
    found
}

/// The config's text for the table: every choice made first ([`Choices::make`]), then written
/// out section by section.
fn write_config(
    args: &InitArgs,
    out: &Path,
    table: &Table,
    columns: &[ColumnProfile],
) -> Result<String> {
    let c = Choices::make(args, table, columns)?;
    for (name, share) in &c.leaks {
        say!(
            "warning: `{name}` alone separates the classes in {:.1} % of rows; if it is known only after the label (a leak), add it to data.exclude",
            100.0 * share
        );
    }
    let mut t = String::new();
    write_header(&mut t, args, out, table.len(), columns);
    write_data(&mut t, args, out, &c, table.len());
    write_training(&mut t, &c);
    Ok(t)
}

/// Every decision init makes for a table, before any text is written.
struct Choices<'a> {
    /// The label's column, or several, each with why it is read as it is.
    labels: Vec<(&'a ColumnProfile, String)>,
    /// The loss, and class 1 of a single two-class label.
    choice: LabelChoice,
    /// Rows without a label (any of several).
    unlabelled: usize,
    /// Text columns to one-hot encode.
    categorical: Vec<&'a str>,
    /// Columns set aside, each with why.
    exclude: Vec<(&'a str, String)>,
    /// Rows with a missing cell in a column that is used.
    incomplete: usize,
    /// The training rows of an 80/20 split of the labelled rows.
    train_rows: usize,
    /// The batch size: 32, or every training row when there are fewer.
    batch: usize,
    /// Columns that alone separate the classes (a likely leak), with the share of rows.
    leaks: Vec<(String, f64)>,
}

impl<'a> Choices<'a> {
    /// The labels, their loss, which columns are used and how, and the batch size.
    fn make(args: &InitArgs, table: &Table, columns: &'a [ColumnProfile]) -> Result<Self> {
        let mut labels: Vec<&ColumnProfile> = Vec::with_capacity(args.labels.len());
        for name in args.labels {
            if labels.iter().any(|l| l.name == *name) {
                bail!("--label {name}: the column is named twice");
            }
            labels.push(label_column(args, name, columns)?);
        }
        let rows = table.len();
        let at = |e: anyhow::Error| anyhow::anyhow!("{}: {e}", args.data.display());
        let (choice, labels) = match &labels[..] {
            [one] => {
                let choice = choose_label(args, one, rows).map_err(at)?;
                let why = choice.why.clone();
                (choice, vec![(*one, why)])
            }
            several => choose_labels(args, several, rows).map_err(at)?,
        };
        let is_label = |name: &str| labels.iter().any(|(l, _)| l.name == name);
        let features: Vec<&ColumnProfile> = columns.iter().filter(|c| !is_label(&c.name)).collect();
        let (categorical, exclude) = set_aside(&features);
        if exclude.len() == features.len() {
            let names: Vec<String> = labels
                .iter()
                .map(|(l, _)| format!("`{}`", l.name))
                .collect();
            bail!(
                "{}: no column is left to learn from once the label {} and these are set aside: {}",
                args.data.display(),
                names.join(", "),
                exclude
                    .iter()
                    .map(|(n, why)| format!("`{n}` ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // Rows with a missing cell in a column that is used, and rows without a label.
        let used: Vec<&crate::data::Column> = table
            .columns
            .iter()
            .filter(|c| !is_label(c.name()) && !exclude.iter().any(|(n, _)| *n == c.name()))
            .collect();
        let incomplete = (0..rows)
            .filter(|&r| used.iter().any(|c| c.is_missing(r)))
            .count();
        let label_columns: Vec<&crate::data::Column> = table
            .columns
            .iter()
            .filter(|c| is_label(c.name()))
            .collect();
        let unlabelled = (0..rows)
            .filter(|&r| label_columns.iter().any(|c| c.is_missing(r)))
            .count();
        let labelled = rows - unlabelled;
        let train_rows = labelled * 4 / 5;
        let batch = 32.min(train_rows.max(1));
        let leaks = match (&choice.positive, &labels[..]) {
            (Some(positive), [(label, _)]) => {
                separating_columns(table, &label.name, positive, &exclude)
            }
            _ => Vec::new(),
        };
        Ok(Self {
            labels,
            choice,
            unlabelled,
            categorical,
            exclude,
            incomplete,
            train_rows,
            batch,
            leaks,
        })
    }
}

/// The column `--label NAME` names, readable as a label; an error naming the file's columns.
fn label_column<'a>(
    args: &InitArgs,
    name: &str,
    columns: &'a [ColumnProfile],
) -> Result<&'a ColumnProfile> {
    let Some(label) = columns.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let close = crate::config::closest(name, &names)
            .map(|n| format!(" did you mean `{n}`?"))
            .unwrap_or_default();
        bail!(
            "--label {name}: {} has no such column;{close} the columns are: {}",
            args.data.display(),
            names.join(", ")
        );
    };
    if label.kind == Kind::Unreadable {
        bail!(
            "{}: the label column `{}` holds {}, which burnfit does not read; convert it to numbers or text",
            args.data.display(),
            label.name,
            label.holds.as_deref().unwrap_or("values")
        );
    }
    Ok(label)
}

/// The values a yes/no label column may hold, as training reads several label columns.
const YES: [&str; 4] = ["1", "true", "yes", "y"];
const NO: [&str; 4] = ["0", "false", "no", "n"];

/// Several label columns: all yes/no (one sigmoid each, `bce`) or all numbers (one linear output
/// each, `mse`); each read as [`choose_label`] reads one, and an error naming the column whose
/// reading does not fit the rest.
fn choose_labels<'a>(
    args: &InitArgs,
    labels: &[&'a ColumnProfile],
    rows: usize,
) -> Result<(LabelChoice, Vec<(&'a ColumnProfile, String)>)> {
    if args.positive.is_some() {
        bail!("--positive names class 1 of one label; several label columns are each yes/no (1/0, true/false, yes/no, y/n) or numbers");
    }
    if args.loss == Some(InitLoss::CrossEntropy) {
        bail!("--loss cross_entropy: several label columns are several yes/no labels (bce) or several numbers (mse), not one softmax; give one --label for a column of classes");
    }
    let mut read = Vec::with_capacity(labels.len());
    for label in labels {
        let choice = choose_label(args, label, rows)?;
        read.push((*label, choice));
    }
    let loss = read[0].1.loss;
    if let Some((odd, c)) = read.iter().find(|(_, c)| c.loss != loss) {
        bail!(
            "column `{}` reads as {} where `{}` reads as {}: several label columns must all be yes/no or all numbers (--loss bce or --loss mse says which)",
            odd.name,
            c.why,
            read[0].0.name,
            read[0].1.why
        );
    }
    match loss {
        InitLoss::CrossEntropy => bail!(
            "column `{}` holds {}: several label columns are each yes/no or a number, not one of several classes; give it alone with --label for a softmax",
            read[0].0.name,
            read[0].1.why
        ),
        InitLoss::Bce => {
            for (label, _) in &read {
                let values = label.values.clone().unwrap_or_default();
                let word = |v: &str| canonical_label(v.as_bytes()).to_ascii_lowercase();
                let yes = values.iter().filter(|(v, _)| YES.contains(&word(v).as_str())).count();
                let no = values.iter().filter(|(v, _)| NO.contains(&word(v).as_str())).count();
                if (yes, no) != (1, 1) {
                    bail!(
                        "column `{}` holds {}: several label columns are read as yes/no, each value one of 1/0, true/false, yes/no or y/n; recode it, or give it alone with --label",
                        label.name,
                        listing(&values)
                    );
                }
            }
        }
        InitLoss::Mse => {}
    }
    let choice = LabelChoice {
        loss,
        positive: None,
        why: match loss {
            InitLoss::Bce => format!("{} yes/no labels: a sigmoid each", read.len()),
            _ => format!("{} numeric targets: a linear output each", read.len()),
        },
    };
    let labels = read.into_iter().map(|(l, c)| (l, c.why)).collect();
    Ok((choice, labels))
}

/// Each feature by its kind: text to one-hot encode, or set aside with why (too many levels,
/// an identifier, a constant).
fn set_aside<'a>(features: &[&'a ColumnProfile]) -> (Vec<&'a str>, Vec<(&'a str, String)>) {
    let mut categorical = Vec::new();
    let mut exclude: Vec<(&str, String)> = Vec::new();
    for c in features {
        match c.kind {
            Kind::Numeric => {}
            Kind::Text if c.distinct <= MAX_LEVELS => categorical.push(c.name.as_str()),
            Kind::Text => exclude.push((
                &c.name,
                format!("{} distinct text values, more than data.max_levels ({MAX_LEVELS}) one-hot inputs", c.distinct),
            )),
            Kind::Identifier => exclude.push((
                &c.name,
                if c.stats.is_some() {
                    "distinct whole numbers counting up: a row number or identifier".into()
                } else {
                    "every value distinct: it names a row, and a model would only memorise it".into()
                },
            )),
            Kind::Constant => exclude.push((&c.name, "one value in every row: nothing to learn from".into())),
            Kind::Unreadable => exclude.push((
                &c.name,
                format!("holds {}, which burnfit does not read", c.holds.as_deref().unwrap_or("values")),
            )),
        }
    }
    (categorical, exclude)
}
