//! The text of the config `init` writes: each section with its one-line reasons, and the
//! comment block that describes every column.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Choices, InitArgs, InitLoss};
use crate::data::profile::ColumnProfile;
use crate::data::table::{categorical_line, toml_list};

/// The network and training settings `init` writes: the seed's.
const SEED_TRAINING: &str = "\
[model]
hidden = [128, 64]             # two Dense+ReLU layers, then the output (the seed's network)
activation = \"relu\"
init = \"glorot_uniform\"        # Keras's default initialiser

[train]
";

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

/// The comment block: how the file was made, and every column as training reads it.
pub(super) fn write_header(
    t: &mut String,
    args: &InitArgs,
    out: &Path,
    rows: usize,
    columns: &[ColumnProfile],
) {
    let _ = writeln!(
        t,
        "# Written by `burnfit init {} --label {}`: every choice below is explicit, with why.\n\
         # Train with `burnfit train --config {}`; `burnfit config --config FILE` shows every key.\n#",
        in_comment(&args.data.display().to_string()),
        in_comment(&args.labels.join(",")),
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
}

/// The seed and `[data]`: the file, the label, the columns used and set aside, missing cells.
pub(super) fn write_data(t: &mut String, args: &InitArgs, out: &Path, c: &Choices, rows: usize) {
    let Choices {
        labels,
        choice,
        unlabelled,
        categorical,
        exclude,
        incomplete,
        leaks,
        ..
    } = c;
    let incomplete = *incomplete;
    t.push_str("seed = 42                      # weights, shuffles and the split: same seed, same run\n\n[data]\n");
    let _ = writeln!(
        t,
        "path = {}",
        quoted(&path_from_config(args.data, out).to_string_lossy())
    );
    match &labels[..] {
        [(label, _)] => {
            let _ = writeln!(
                t,
                "label = {}  # {}",
                quoted(&label.name),
                in_comment(&choice.why)
            );
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(l, _)| l.name.as_str()).collect();
            let _ = writeln!(
                t,
                "label = {}  # {}",
                toml_list(&names),
                in_comment(&choice.why)
            );
            for (label, why) in several {
                let _ = writeln!(t, "#   {}: {}", in_comment(&label.name), in_comment(why));
            }
        }
    }
    if let Some(p) = &choice.positive {
        let _ = writeln!(
            t,
            "positive = {}  # class 1: probabilities, precision and recall are about it",
            quoted(p)
        );
    }
    if *unlabelled > 0 {
        let _ = writeln!(
            t,
            "# {unlabelled} rows have no label: they are left out of training and validation"
        );
    }
    if !categorical.is_empty() {
        let _ = writeln!(
            t,
            "{}  # text: one-hot encoded, vocabulary from the training rows",
            categorical_line(categorical)
        );
    }
    for (name, share) in leaks {
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
        for (n, why) in exclude {
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
}

/// Scaling, `[data.split]`, the network, `[train]` and `[backend]`.
pub(super) fn write_training(t: &mut String, c: &Choices) {
    let (batch, train_rows) = (c.batch, c.train_rows);
    // One class column is split stratified; several labels by a shuffle (stratifying needs
    // one class per row).
    let classes = c.choice.loss != InitLoss::Mse && c.labels.len() == 1;
    t.push_str("normalize = \"zscore\"           # (x - mean) / sd per column, fitted on the training rows\n\n[data.split]\n");
    t.push_str(
        "train = 0.8                    # 80 % of the rows train, 20 % validate every epoch\n",
    );
    if classes {
        t.push_str("stratify = true                # shuffled with the seed, each part keeping the file's share of each class\n");
    } else {
        t.push_str("shuffle = true                 # rows shuffled with the seed first (a file sorted by its label splits badly unshuffled)\n");
    }
    t.push('\n');
    t.push_str(SEED_TRAINING);
    t.push_str(match c.choice.loss {
        InitLoss::Bce => "loss = \"bce\"                   # binary cross-entropy, sigmoid output\n",
        InitLoss::Mse => "loss = \"mse\"                   # mean squared error, linear output\n",
        InitLoss::CrossEntropy => "loss = \"cross_entropy\"         # categorical cross-entropy, a softmax over the classes\n",
    });
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
}
