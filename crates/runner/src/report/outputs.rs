//! `outputs.csv`, the evaluated split's rows as the run computed them: read and checked
//! against the run's task and `summary.json` (a hand-edited file is an error naming it).

use std::path::Path;

use burnfit_model::Loss;

use super::read::{csv_with_header, inconsistent, kept, malformed, number, Limit, Result};
use super::record::Outputs;
use crate::data::buffer::Pile;
use crate::run::Summary;

/// The most `outputs.csv` may hold: a row per evaluated row (`columns` times a few numbers,
/// under 128 bytes written the way burnfit writes them), as many rows as `summary.json` says
/// were evaluated; without a summary, a small file. Never more than a quarter of the memory
/// available, which the rows are read into.
fn outputs_limit(summary: Option<&Summary>, columns: u64) -> Limit {
    let rows = summary.map_or(0, |s| {
        s.splits
            .iter()
            .find(|p| p.name == s.evaluated_on)
            .map_or(0, |p| p.rows as u64)
    });
    let written = rows
        .saturating_mul(128)
        .saturating_mul(columns)
        .saturating_add(1 << 20);
    let memory = crate::resources::available() / 4;
    Limit {
        bytes: written.min(memory),
        memory: memory < written,
    }
}

/// The rows of `outputs.csv` read so far, each column in a [`Pile`]: the evaluated split of a
/// run of millions of rows is kept in files past [`crate::data::buffer::SPILL_ABOVE`], not in
/// memory.
struct Rows<'p> {
    path: &'p Path,
    target: Pile<f64>,
    output: Pile<f64>,
    probability: Pile<f64>,
    /// Targets above 0.5.
    positives: usize,
}

impl<'p> Rows<'p> {
    fn new(path: &'p Path) -> Self {
        Rows {
            path,
            target: Pile::new("the evaluated rows' targets"),
            output: Pile::new("the evaluated rows' outputs"),
            probability: Pile::new("the evaluated rows' probabilities"),
            positives: 0,
        }
    }

    fn target(&mut self, v: f64) -> Result<()> {
        self.positives += usize::from(v > 0.5);
        self.target.push(v).map_err(|e| kept(self.path, e))
    }

    fn output(&mut self, v: f64) -> Result<()> {
        self.output.push(v).map_err(|e| kept(self.path, e))
    }

    fn probability(&mut self, v: f64) -> Result<()> {
        self.probability.push(v).map_err(|e| kept(self.path, e))
    }

    /// The rows read, `width` outputs each.
    fn finish(self, width: usize) -> Result<Outputs> {
        let path = self.path;
        Ok(Outputs {
            target: self.target.finish().map_err(|e| kept(path, e))?,
            output: self.output.finish().map_err(|e| kept(path, e))?,
            width,
            probability: self.probability.finish().map_err(|e| kept(path, e))?,
        })
    }
}

/// `outputs.csv`, checked against the run: a classifier's rows have a 0/1 target and a
/// probability, and there are as many rows (and positives) as `summary.json` says the
/// evaluated split has.
pub(super) fn read_outputs(path: &Path, loss: Loss, summary: Option<&Summary>) -> Result<Outputs> {
    let (mut r, header) = csv_with_header(path, outputs_limit(summary, 1))?;
    let classifier = loss == Loss::Bce;
    let expected: &[&str] = if classifier {
        &["row", "target", "output", "probability"]
    } else {
        &["row", "target", "output"]
    };
    if header != expected {
        return Err(inconsistent(
            path,
            format!(
                "its header is not {} (what a {} run writes)",
                expected.join(","),
                if classifier {
                    "classifier"
                } else {
                    "regression"
                }
            ),
        ));
    }
    let mut out = Rows::new(path);
    for (i, record) in r.records().enumerate() {
        let record = record.map_err(|e| malformed(path, "CSV", e))?;
        let line = i + 2;
        let num = |k: usize| number(path, line, expected[k], record.get(k).unwrap_or(""));
        let (target, output) = (num(1)?, num(2)?);
        if classifier {
            let p = num(3)?;
            if target != 0.0 && target != 1.0 {
                return Err(inconsistent(
                    path,
                    format!("line {line}: a classifier's target is 0 or 1, not {target}"),
                ));
            }
            // NaN is what a NaN output gives; anything else must be a probability.
            if !(p.is_nan() || (0.0..=1.0).contains(&p)) {
                return Err(inconsistent(
                    path,
                    format!("line {line}: probability {p} is not in [0, 1]"),
                ));
            }
            out.probability(p)?;
        }
        out.target(target)?;
        out.output(output)?;
    }
    let split = summary.and_then(|s| s.splits.iter().find(|p| p.name == s.evaluated_on));
    if let Some(split) = split {
        let positives = out.positives;
        if out.target.len() != split.rows
            || split
                .positives
                .is_some_and(|p| classifier && p != positives)
        {
            return Err(inconsistent(
                path,
                format!(
                    "it has {} rows ({positives} positive), but summary.json says the {} split has {} rows{}",
                    out.target.len(),
                    split.name,
                    split.rows,
                    split
                        .positives
                        .map_or(String::new(), |p| format!(" ({p} positive)"))
                ),
            ));
        }
    }
    out.finish(1)
}

/// `outputs.csv` of a k-class softmax: a class index in `0..k` and k raw outputs per row, as
/// many rows as `summary.json` says the evaluated split has.
pub(super) fn read_class_outputs(
    path: &Path,
    k: usize,
    summary: Option<&Summary>,
) -> Result<Outputs> {
    let (mut r, header) = csv_with_header(path, outputs_limit(summary, k as u64))?;
    let mut expected = vec!["row".to_string(), "target".into()];
    expected.extend((0..k).map(|j| format!("output_{j}")));
    if header != expected {
        return Err(inconsistent(
            path,
            format!(
                "its header is not {} (what a {k}-class run writes)",
                expected.join(",")
            ),
        ));
    }
    let mut out = Rows::new(path);
    for (i, record) in r.records().enumerate() {
        let record = record.map_err(|e| malformed(path, "CSV", e))?;
        let line = i + 2;
        let num = |j: usize| number(path, line, &expected[j], record.get(j).unwrap_or(""));
        let target = num(1)?;
        if !(target >= 0.0 && target < k as f64 && target.fract() == 0.0) {
            return Err(inconsistent(
                path,
                format!(
                    "line {line}: a {k}-class run's target is a class index 0 to {}, not {target}",
                    k - 1
                ),
            ));
        }
        out.target(target)?;
        for j in 0..k {
            out.output(num(j + 2)?)?;
        }
    }
    let split = summary.and_then(|s| s.splits.iter().find(|p| p.name == s.evaluated_on));
    if let Some(split) = split {
        if out.target.len() != split.rows {
            return Err(inconsistent(
                path,
                format!(
                    "it has {} rows, but summary.json says the {} split has {} rows",
                    out.target.len(),
                    split.name,
                    split.rows
                ),
            ));
        }
    }
    out.finish(k)
}

/// `outputs.csv` of several label columns: `target_j` and raw `output_j` for each of the k
/// columns, a yes/no label's target 0 or 1, as many rows as `summary.json` says the evaluated
/// split has.
pub(super) fn read_several_outputs(
    path: &Path,
    model: &crate::run::ModelFile,
    summary: Option<&Summary>,
) -> Result<Outputs> {
    let k = model.labels.len();
    let yes_no = model.loss == Loss::Bce;
    let limit = outputs_limit(summary, 2 * k as u64);
    let (mut r, header) = csv_with_header(path, limit)?;
    let mut expected = vec!["row".to_string()];
    expected.extend((0..k).map(|j| format!("target_{j}")));
    expected.extend((0..k).map(|j| format!("output_{j}")));
    if header != expected {
        return Err(inconsistent(
            path,
            format!(
                "its header is not {} (what a run of {k} label columns writes)",
                expected.join(",")
            ),
        ));
    }
    let mut out = Rows::new(path);
    let mut rows = 0;
    for (i, record) in r.records().enumerate() {
        let record = record.map_err(|e| malformed(path, "CSV", e))?;
        let line = i + 2;
        let num = |j: usize| number(path, line, &expected[j], record.get(j).unwrap_or(""));
        for j in 0..k {
            let target = num(1 + j)?;
            if yes_no && target != 0.0 && target != 1.0 {
                return Err(inconsistent(
                    path,
                    format!("line {line}: a yes/no label's target is 0 or 1, not {target}"),
                ));
            }
            out.target(target)?;
        }
        for j in 0..k {
            let output = num(1 + k + j)?;
            // A finished run's outputs are finite: a NaN would have ended it as diverged.
            if !output.is_finite() {
                return Err(inconsistent(
                    path,
                    format!("line {line}: output_{j} is {output}, not a finite number"),
                ));
            }
            out.output(output)?;
        }
        rows += 1;
    }
    let split = summary.and_then(|s| s.splits.iter().find(|p| p.name == s.evaluated_on));
    if let Some(split) = split.filter(|s| s.rows != rows) {
        return Err(inconsistent(
            path,
            format!(
                "it has {rows} rows, but summary.json says the {} split has {} rows",
                split.name, split.rows
            ),
        ));
    }
    out.finish(k)
}
