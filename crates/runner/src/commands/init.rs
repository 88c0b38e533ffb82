//! `burnfit init DATA --label COLUMN`: from "I have a CSV" to a config that trains with no
//! edit. The file is read the way training reads it ([`crate::data::profile`]); every choice
//! is written out and explained in one line, beside the column summary it was made from, and
//! where the values could mean two things (whole numbers: classes or a quantity?) it stops and
//! says what to tell it instead of guessing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::data::profile::{self, ColumnProfile, Kind};
use crate::data::table::{canonical_label, categorical_line, infer_positive, toml_list};
use crate::data::Table;
use crate::output::{self, Replace};

/// The loss `init` may be told to use (`--loss`), when the label's values allow both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InitLoss {
    /// Two classes, binary cross-entropy.
    Bce,
    /// A number, mean squared error.
    Mse,
}

/// What `burnfit init` was asked.
pub(crate) struct InitArgs<'a> {
    /// The CSV.
    pub(crate) data: &'a Path,
    /// The label column.
    pub(crate) label: &'a str,
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

/// The network and training settings `init` writes: the seed's.
const SEED_TRAINING: &str = "\
[model]
hidden = [128, 64]             # two Dense+ReLU layers, then the output (the seed's network)
activation = \"relu\"
init = \"glorot_uniform\"        # Keras's default initialiser

[train]
";

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

fn choose_label(args: &InitArgs, label: &ColumnProfile, rows: usize) -> Result<LabelChoice> {
    let name = &label.name;
    let present = rows - label.missing;
    let listing = |values: &[(String, usize)]| {
        values
            .iter()
            .map(|(v, n)| format!("`{v}` ({n} rows)"))
            .collect::<Vec<_>>()
            .join(", ")
    };
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
            "--loss bce: column `{name}` has {} distinct values; binary cross-entropy needs exactly two",
            label.distinct
        ),
        _ => {}
    }
    if args.loss == Some(InitLoss::Mse) {
        return Ok(LabelChoice {
            loss: InitLoss::Mse,
            positive: None,
            why: format!("a number ({} distinct values; --loss mse)", label.distinct),
        });
    }
    if label.distinct == 2 {
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
        return Ok(LabelChoice {
            loss: InitLoss::Bce,
            why: format!(
                "two classes: `{positive}` is class 1, `{}` class 0 ({})",
                negative.unwrap_or_default(),
                listing(&values)
            ),
            positive: Some(positive),
        });
    }
    if !numeric {
        bail!(
            "column `{name}` holds {} distinct text values{}; burnfit trains a two-class label (binary cross-entropy) or a number (MSE). Choose a column with two values, or one of numbers",
            label.distinct,
            label
                .values
                .as_ref()
                .map(|v| format!(" ({})", listing(v)))
                .unwrap_or_default()
        );
    }
    if label.integers && label.distinct <= profile::FEW && args.loss.is_none() {
        bail!(
            "column `{name}` holds {} distinct whole numbers ({}): they could be classes or a quantity. If it is a quantity, run init again with --loss mse; burnfit trains two classes or a number, so classes would need a column with two values",
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

/// `data` as the config at `out` should name it: relative to the config's folder when it lies
/// in or below it, else absolute (relative paths in a config are relative to the config).
fn path_from_config(data: &Path, out: &Path) -> PathBuf {
    let data = std::path::absolute(data).unwrap_or_else(|_| data.to_path_buf());
    let folder = if out == Path::new("-") {
        std::env::current_dir().ok()
    } else {
        std::path::absolute(out)
            .ok()
            .and_then(|o| o.parent().map(Path::to_path_buf))
    };
    folder
        .and_then(|f| data.strip_prefix(f).ok().map(Path::to_path_buf))
        .unwrap_or(data)
}

/// TOML for a string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `text` fit for a TOML comment: a line break or other control character in a column name or
/// value would end the comment and turn the rest into TOML that `train` cannot read.
fn in_comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The summary line of one column, for the comment block.
fn describe(c: &ColumnProfile) -> String {
    let mut s = format!("{:<20} {:<15}", in_comment(&c.name), c.kind.as_str());
    match (c.stats, &c.values) {
        (Some([lo, mean, hi]), _) => {
            // As the file's f32 values print, not their f64 widening (39.8, not 39.7999992).
            let _ = write!(s, " {} to {}, mean {mean:.4}", lo as f32, hi as f32);
        }
        (None, Some(values)) => {
            let shown: Vec<String> = values
                .iter()
                .take(5)
                .map(|(v, n)| format!("{} ({n})", in_comment(v)))
                .collect();
            let _ = write!(s, " {} values: {}", c.distinct, shown.join(", "));
            if values.len() > 5 {
                s.push_str(", ...");
            }
        }
        (None, None) => {
            let _ = write!(s, " {} distinct values", c.distinct);
        }
    }
    if c.missing > 0 {
        let _ = write!(s, "; {} missing", c.missing);
    }
    s
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

fn write_config(
    args: &InitArgs,
    out: &Path,
    table: &Table,
    columns: &[ColumnProfile],
) -> Result<String> {
    let Some(label) = columns.iter().find(|c| c.name == args.label) else {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let close = crate::config::closest(args.label, &names)
            .map(|n| format!(" did you mean `{n}`?"))
            .unwrap_or_default();
        bail!(
            "--label {}: {} has no such column;{close} the columns are: {}",
            args.label,
            args.data.display(),
            names.join(", ")
        );
    };
    let rows = table.len();
    let choice = choose_label(args, label, rows)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.data.display()))?;
    let features: Vec<&ColumnProfile> = columns.iter().filter(|c| c.name != label.name).collect();
    let mut categorical = Vec::new();
    let mut exclude: Vec<(&str, String)> = Vec::new();
    for c in &features {
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
        }
    }
    if exclude.len() == features.len() {
        bail!(
            "{}: no column is left to learn from once the label `{}` and these are set aside: {}",
            args.data.display(),
            label.name,
            exclude
                .iter()
                .map(|(n, why)| format!("`{n}` ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Rows with a missing cell in a column that is used.
    let used: Vec<&crate::data::Column> = table
        .columns
        .iter()
        .filter(|c| c.name() != label.name && !exclude.iter().any(|(n, _)| *n == c.name()))
        .collect();
    let incomplete = (0..rows)
        .filter(|&r| used.iter().any(|c| c.is_missing(r)))
        .count();
    let labelled = rows - label.missing;
    let train_rows = labelled * 4 / 5;
    let batch = 32.min(train_rows.max(1));
    let bce = choice.loss == InitLoss::Bce;
    let leaks = match &choice.positive {
        Some(positive) => separating_columns(table, &label.name, positive, &exclude),
        None => Vec::new(),
    };
    for (name, share) in &leaks {
        say!(
            "warning: `{name}` alone separates the classes in {:.1} % of rows; if it is known only after the label (a leak), add it to data.exclude",
            100.0 * share
        );
    }

    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Written by `burnfit init {} --label {}`: every choice below is explicit, with why.\n\
         # Train with `burnfit train --config {}`; `burnfit config --config FILE` shows every key.\n#",
        in_comment(&args.data.display().to_string()),
        in_comment(args.label),
        in_comment(&if out == Path::new("-") { "FILE".into() } else { out.display().to_string() })
    );
    let _ = writeln!(
        t,
        "# {}: {rows} rows, {} columns, as training reads them:",
        in_comment(&args.data.display().to_string()),
        columns.len()
    );
    for c in columns {
        let _ = writeln!(t, "#   {}", describe(c));
    }
    t.push('\n');
    t.push_str("seed = 42                      # weights, shuffles and the split: same seed, same run\n\n[data]\n");
    let _ = writeln!(
        t,
        "path = {}",
        quoted(&path_from_config(args.data, out).to_string_lossy())
    );
    let _ = writeln!(
        t,
        "label = {}  # {}",
        quoted(&label.name),
        in_comment(&choice.why)
    );
    if let Some(p) = &choice.positive {
        let _ = writeln!(
            t,
            "positive = {}  # class 1: probabilities, precision and recall are about it",
            quoted(p)
        );
    }
    if label.missing > 0 {
        let _ = writeln!(
            t,
            "# {} rows have no label: they are left out of training and validation",
            label.missing
        );
    }
    if !categorical.is_empty() {
        let _ = writeln!(
            t,
            "{}  # text: one-hot encoded, vocabulary from the training rows",
            categorical_line(&categorical)
        );
    }
    for (name, share) in &leaks {
        let _ = writeln!(
            t,
            "# warning: `{}` alone separates the classes in {:.1} % of rows: if it is known only\n#   after the label (a leak), add it to exclude; a model that learned it is useless in use",
            in_comment(name),
            100.0 * share
        );
    }
    if !exclude.is_empty() {
        let _ = writeln!(
            t,
            "exclude = {}",
            toml_list(&exclude.iter().map(|(n, _)| *n).collect::<Vec<_>>())
        );
        for (n, why) in &exclude {
            let _ = writeln!(t, "#   {}: {why}", in_comment(n));
        }
    }
    if incomplete > 0 {
        let _ = writeln!(
            t,
            "missing = \"mean\"               # {incomplete} of {rows} rows have a missing cell: numbers get the training mean, text no category (\"drop\" would lose those rows)"
        );
    } else {
        t.push_str("missing = \"drop\"               # no used cell is missing; a later file with gaps drops those rows\n");
    }
    t.push_str("normalize = \"zscore\"           # (x - mean) / sd per column, fitted on the training rows\n\n[data.split]\n");
    t.push_str(
        "train = 0.8                    # 80 % of the rows train, 20 % validate every epoch\n",
    );
    if bce {
        t.push_str("stratify = true                # shuffled with the seed, each part keeping the file's share of each class\n");
    } else {
        t.push_str("shuffle = true                 # rows shuffled with the seed first (a file sorted by its label splits badly unshuffled)\n");
    }
    t.push('\n');
    t.push_str(SEED_TRAINING);
    if bce {
        t.push_str("loss = \"bce\"                   # binary cross-entropy, sigmoid output\n");
    } else {
        t.push_str("loss = \"mse\"                   # mean squared error, linear output\n");
    }
    t.push_str("epochs = 10\n");
    let _ = writeln!(
        t,
        "batch_size = {batch:<17} # rows per step{}",
        if batch < 32 {
            format!(" (all {train_rows} training rows)")
        } else {
            String::new()
        }
    );
    t.push_str("optimizer = \"adam\"\nlr = 0.001                     # Adam's usual rate (Keras's default)\n\n");
    t.push_str("[backend]\nkind = \"flex\"                  # the CPU; \"auto\" takes a real GPU when there is one (for small tables the CPU is usually as fast)\n");
    Ok(t)
}
