//! Label resolution: how a label column's cells become classes 0 and 1, class numbers
//! 0..k, or numbers.

use serde::{Deserialize, Serialize};

use super::cells::{is_missing, parse_number, trim, utf8};
use crate::data::buffer::{Buffer, Pile};
use crate::data::DataError;

/// How labels map to numbers once known: learned from a training file, stored in
/// `preprocess.json`, and applied unchanged to every later file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum LabelMap {
    /// Two classes; `positive` is 1.
    Binary {
        /// Class 1.
        positive: String,
        /// Class 0 (absent if training never saw it).
        negative: Option<String>,
    },
    /// One of k classes (softmax cross-entropy); a row's label is its class's index here.
    Classes {
        /// The class names in index order: numbers in numeric order, otherwise text in byte
        /// order (scikit-learn's `LabelEncoder` order), fixed when training reads its file.
        classes: Vec<String>,
    },
    /// A number.
    Regression,
    /// Several yes/no label columns (multi-label), one sigmoid each: a row's labels are 0/1,
    /// read from `0`/`1`, `true`/`false` or `yes`/`no` (any case).
    Labels {
        /// The label columns, in output order.
        names: Vec<String>,
    },
    /// Several numeric target columns (multi-output regression), one linear output each.
    Targets {
        /// The target columns, in output order.
        names: Vec<String>,
    },
}

impl LabelMap {
    /// The network's number of outputs for this label: one per class of a softmax, one per
    /// column of several, else one.
    pub(crate) fn outputs(&self) -> usize {
        match self {
            LabelMap::Classes { classes } => classes.len(),
            LabelMap::Labels { names } | LabelMap::Targets { names } => names.len(),
            LabelMap::Binary { .. } | LabelMap::Regression => 1,
        }
    }

    /// Label values per row: one per column of several, else one (a 0/1 label, a class
    /// index, a number).
    pub(crate) fn width(&self) -> usize {
        match self {
            LabelMap::Labels { names } | LabelMap::Targets { names } => names.len(),
            LabelMap::Binary { .. } | LabelMap::Regression | LabelMap::Classes { .. } => 1,
        }
    }

    /// A softmax's class names in output order; empty for one output.
    pub(crate) fn class_names(&self) -> Vec<String> {
        match self {
            LabelMap::Classes { classes } => classes.clone(),
            _ => Vec::new(),
        }
    }

    /// The label columns of several, in output order; empty for one column.
    pub(crate) fn column_names(&self) -> Vec<String> {
        match self {
            LabelMap::Labels { names } | LabelMap::Targets { names } => names.clone(),
            _ => Vec::new(),
        }
    }

    /// The rule each of `columns` label columns is read with: the map itself for one column;
    /// for several, each column's own reading (yes/no, or a number).
    pub(crate) fn column_rules(&self, columns: usize) -> Vec<LabelRule> {
        let each = match self {
            LabelMap::Labels { .. } => LabelRule::YesNo,
            LabelMap::Targets { .. } => LabelRule::Known(LabelMap::Regression),
            one => return vec![LabelRule::Known(one.clone())],
        };
        vec![each; columns]
    }
}

/// The most classes a softmax label may have: beyond it the column is almost surely an
/// identifier or a number, and the head would be wider than the network.
pub(crate) const MAX_CLASSES: usize = 1000;

/// What the loader is told about the label column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelRule {
    /// Learn the two classes from this file; `positive` names class 1 if given.
    InferBinary {
        /// `data.positive`.
        positive: Option<String>,
    },
    /// Learn the classes (two or more) from this file, for a softmax.
    InferClasses,
    /// Apply a known mapping (a trained model's, or numbers for regression).
    Known(LabelMap),
    /// One of several yes/no label columns: each cell 0/1, true/false or yes/no.
    YesNo,
}

/// A label cell as the errors name it: its canonical value, source row, file and column.
type Cell<'a> = (String, u64, &'a str, &'a str);

/// The code of a label under a known mapping (a trained model's): 1 or 0 for the positive or
/// negative class, a softmax class's index; a value the mapping lacks is an error naming the
/// row. (Regression labels are numbers, parsed before this.)
fn known_code(map: &LabelMap, (value, row, origin, column): Cell<'_>) -> Result<f32, DataError> {
    match map {
        LabelMap::Binary { positive, negative } => {
            if value == *positive {
                Ok(1.0)
            } else if negative.as_ref() == Some(&value) {
                Ok(0.0)
            } else {
                Err(DataError::UnknownLabel {
                    path: origin.to_string(),
                    row,
                    column: column.to_string(),
                    value,
                    positive: positive.clone(),
                    negative: negative
                        .as_ref()
                        .map_or("(none was seen in training)".into(), |n| format!("`{n}`")),
                })
            }
        }
        LabelMap::Classes { classes } => match classes.iter().position(|c| *c == value) {
            Some(code) => Ok(code as f32),
            None => Err(DataError::UnknownClass {
                path: origin.to_string(),
                row,
                column: column.to_string(),
                value,
                classes: listing(classes, MAX_LISTED),
            }),
        },
        LabelMap::Regression | LabelMap::Targets { .. } => {
            unreachable!("a number is parsed, not looked up")
        }
        LabelMap::Labels { .. } => unreachable!("each column is read with LabelRule::YesNo"),
    }
}

/// A yes/no label cell's 0 or 1 (see [`LabelRule::YesNo`]).
fn yes_no((value, row, origin, column): Cell<'_>) -> Result<f32, DataError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" => Ok(1.0),
        "0" | "false" | "no" | "n" => Ok(0.0),
        _ => Err(DataError::NotYesNo {
            path: origin.to_string(),
            row,
            column: column.to_string(),
            value,
        }),
    }
}

/// Writes a label token in one canonical form, so `1`, `1.0` and ` 1 ` are one class, and
/// `TRUE`/`true` another.
pub(crate) fn canonical_label(b: &[u8]) -> String {
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

/// Collects a label column's cells while the file streams in.
pub(super) struct LabelBuilder {
    rule: LabelRule,
    /// For binary: class codes 0/1 in order of first appearance, 2 = missing; for numeric:
    /// values. In a file past [`crate::data::buffer::SPILL_ABOVE`].
    values: Pile<f32>,
    classes: Vec<String>,
}

impl LabelBuilder {
    pub(super) fn new(rule: LabelRule) -> Self {
        Self {
            rule,
            values: Pile::new("a label column"),
            classes: Vec::new(),
        }
    }

    /// Adds the label cell of source row `row`.
    pub(super) fn push(
        &mut self,
        cell: &[u8],
        row: u64,
        origin: &str,
        column: &str,
    ) -> Result<(), DataError> {
        let cell = trim(cell);
        if let LabelRule::Known(LabelMap::Regression) = self.rule {
            // In the label's words: no hint to make the column categorical.
            let v = parse_number(cell, row, column, origin).map_err(|e| match e {
                DataError::NotNumeric {
                    path,
                    row,
                    column,
                    value,
                } => DataError::NotATarget {
                    path,
                    row,
                    column,
                    value,
                },
                other => other,
            })?;
            return self.values.push(v);
        }
        if is_missing(cell) {
            return self.values.push(f32::NAN);
        }
        let value = canonical_label(utf8(cell, row, column, origin)?.as_bytes());
        let at = |value| (value, row, origin, column);
        let v = match &self.rule {
            LabelRule::YesNo => yes_no(at(value))?,
            LabelRule::Known(map) => known_code(map, at(value))?,
            LabelRule::InferBinary { .. } | LabelRule::InferClasses => self.learn(at(value))?,
        };
        self.values.push(v)
    }

    /// The code of a label while its classes are still being learnt: the index of its class
    /// in order of first appearance, a new class while there is room (two for a binary label,
    /// [`MAX_CLASSES`] for a softmax), else an error that says what to write instead.
    fn learn(&mut self, (value, row, origin, column): Cell<'_>) -> Result<f32, DataError> {
        let limit = match self.rule {
            LabelRule::InferClasses => MAX_CLASSES,
            _ => 2,
        };
        let code = match self.classes.iter().position(|c| *c == value) {
            Some(c) => c,
            None if self.classes.len() >= MAX_CLASSES => {
                return Err(DataError::TooManyClasses {
                    path: origin.to_string(),
                    row,
                    column: column.to_string(),
                    max: MAX_CLASSES,
                });
            }
            None if self.classes.len() < limit => {
                self.classes.push(value);
                self.classes.len() - 1
            }
            None => {
                let numeric = |v: &str| v.trim().parse::<f64>().is_ok_and(f64::is_finite);
                let hint = if numeric(&value) && self.classes.iter().all(|c| numeric(c)) {
                    "; the values are numbers: for a numeric target set train.loss = \"mse\", for one of several classes train.loss = \"cross_entropy\""
                } else {
                    "; for one of several classes set train.loss = \"cross_entropy\""
                };
                return Err(DataError::ThirdLabel {
                    hint: hint.to_string(),
                    path: origin.to_string(),
                    row,
                    column: column.to_string(),
                    value,
                    seen: format!("`{}` and `{}`", self.classes[0], self.classes[1]),
                });
            }
        };
        Ok(code as f32)
    }

    /// Maps class codes to 0/1, or to the sorted classes' indices, once all classes are known.
    pub(super) fn finish(
        self,
        origin: &str,
        column: &str,
    ) -> Result<(Buffer, LabelMap), DataError> {
        let mut values = self.values.finish()?;
        let (positive, negative) = match &self.rule {
            LabelRule::Known(map) => return Ok((values, map.clone())),
            // The table's map names every column; this one column's is not used.
            LabelRule::YesNo => return Ok((values, LabelMap::Regression)),
            LabelRule::InferClasses => return finish_classes(self.classes, values, origin, column),
            LabelRule::InferBinary { .. } if self.classes.len() == 1 => {
                let rows = values.iter().filter(|v| !v.is_nan()).count();
                return Err(DataError::OneClass {
                    path: origin.to_string(),
                    detail: format!(
                        "column `{column}` holds one value, `{}`, in all {rows} labelled rows",
                        self.classes[0]
                    ),
                    hint: String::new(),
                });
            }
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
        for code in values.iter_mut() {
            if !code.is_nan() {
                *code = if is_positive[*code as usize] {
                    1.0
                } else {
                    0.0
                };
            }
        }
        Ok((values, LabelMap::Binary { positive, negative }))
    }
}

/// Softmax classes: sorted (see [`LabelMap::Classes`]), each row's first-seen code in
/// `values` renumbered to its class's index.
fn finish_classes(
    classes: Vec<String>,
    mut values: Buffer,
    origin: &str,
    column: &str,
) -> Result<(Buffer, LabelMap), DataError> {
    {
        if classes.len() < 2 {
            let rows = values.iter().filter(|v| !v.is_nan()).count();
            let detail = match classes.first() {
                Some(c) => {
                    format!("column `{column}` holds one value, `{c}`, in all {rows} labelled rows")
                }
                None => format!("column `{column}` has no labelled rows"),
            };
            return Err(DataError::OneClass {
                path: origin.to_string(),
                detail,
                hint: String::new(),
            });
        }
        let mut order: Vec<usize> = (0..classes.len()).collect();
        let numbers: Option<Vec<f64>> = classes.iter().map(|c| c.parse::<f64>().ok()).collect();
        // `canonical_label` wrote whole numbers without a fraction: one left with a fraction
        // is a measurement, not a class.
        if let Some(c) = classes
            .iter()
            .find(|c| c.contains('.') && c.parse::<f64>().is_ok())
        {
            return Err(DataError::NotClasses {
                path: origin.to_string(),
                column: column.to_string(),
                value: c.clone(),
            });
        }
        match &numbers {
            Some(v) => order.sort_by(|&a, &b| v[a].total_cmp(&v[b])),
            None => order.sort_by(|&a, &b| classes[a].cmp(&classes[b])),
        }
        let mut index = vec![0f32; order.len()];
        for (i, &code) in order.iter().enumerate() {
            index[code] = i as f32;
        }
        for code in values.iter_mut() {
            if !code.is_nan() {
                *code = index[*code as usize];
            }
        }
        let classes = order.iter().map(|&c| classes[c].clone()).collect();
        Ok((values, LabelMap::Classes { classes }))
    }
}

/// How many class names an error lists before `…`.
const MAX_LISTED: usize = 12;

/// ``"`a`, `b`, `c`"``, at most `max` names then how many more.
fn listing(classes: &[String], max: usize) -> String {
    let mut out = classes
        .iter()
        .take(max)
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if classes.len() > max {
        out.push_str(&format!(" and {} more", classes.len() - max));
    }
    out
}

/// Picks class 1 when the values say so themselves: `1` of 0/1, `true`, or a common positive
/// word (`Yes`, `Up`, ...). Two arbitrary strings are ambiguous.
pub(crate) fn infer_positive(classes: &[String]) -> Option<String> {
    const POSITIVE: &[&str] = &["1", "true", "yes", "y", "up", "positive", "pos", "t"];
    const NEGATIVE: &[&str] = &["0", "false", "no", "n", "down", "negative", "neg", "f"];
    let lower: Vec<String> = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
    // Numbers say which is class 1 only when they are 0 and 1: of {1, 2} or {-1, 1}, either
    // could be meant.
    if classes.iter().all(|c| c.parse::<f64>().is_ok()) {
        let mut sorted: Vec<&str> = classes.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        return (sorted == ["0", "1"]).then(|| "1".to_string());
    }
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
