//! `burnfit explain`: permutation importance per column, and gradient × input for chosen rows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::loaded::{labelled_matrix, load_run, Loaded};
use crate::data::Matrix;
use crate::explain::{self, Importance};
use crate::metrics;
use crate::output::{self, Replace};
use crate::run::{self as rundir, write_atomic, RunDir};

/// The arguments of `burnfit explain`.
pub(crate) struct ExplainArgs<'a> {
    /// The run folder.
    pub(crate) dir: &'a Path,
    /// The labelled CSV.
    pub(crate) data: &'a Path,
    /// Shuffles per column.
    pub(crate) repeats: usize,
    /// Columns to print and draw.
    pub(crate) top: usize,
    /// The metric (default: the loss's main one).
    pub(crate) metric: Option<&'a str>,
    /// 1-based CSV rows for gradient × input.
    pub(crate) rows: &'a [u64],
    /// Seed of the shuffles.
    pub(crate) seed: u64,
    /// Output folder.
    pub(crate) out: Option<&'a Path>,
    /// Whether files already in `out` may be replaced.
    pub(crate) force: Replace,
    /// Backend override.
    pub(crate) backend: Option<&'a str>,
}

/// The most shuffles per column `--repeats` may ask for.
const MAX_REPEATS: usize = 1000;

/// `burnfit explain`.
pub(crate) fn explain(a: &ExplainArgs) -> Result<ExitCode> {
    // Each shuffle is a pass over the data per column; more than a thousand adds nothing the
    // standard deviation does not already say, and a count near 2^64 cannot be allocated.
    if !(1..=MAX_REPEATS).contains(&a.repeats) {
        bail!(
            "--repeats must be between 1 and {MAX_REPEATS}, got {}",
            a.repeats
        );
    }
    let l = load_run(a.dir, a.backend)?;
    let dest = Destination::settle(a, &l.run)?;
    let head = l.model_file.head();
    let metric = chosen_metric(a.metric, head)?;
    let m = labelled_matrix(&l, a.data)?;
    // `--rows` checked before the shuffles, not after them.
    let index = rows_index(a, &m)?;
    let groups = explain::column_groups(&l.pre);
    say!(
        "permutation importance: {} columns x {} shuffles of {} rows",
        groups.len(),
        a.repeats,
        m.rows
    );
    let (baseline, importances) = explain::permutation_importance(
        &l.model,
        &m,
        &groups,
        (head, metric, &l.model_file.thresholds()),
        explain::Shuffles {
            repeats: a.repeats,
            seed: a.seed,
        },
        &l.device,
    );
    dest.write_importances(a, &importances, metric, m.rows, baseline)?;
    // What stdout gets is gathered and printed after every file is written: a reader that
    // stops early (`| head`) leaves the output folder complete.
    let mut stdout: Vec<u8> = Vec::new();
    writeln!(
        stdout,
        "{metric} on {} rows: {baseline:.4}; drop when each column is shuffled ({} times):",
        m.rows, a.repeats
    )?;
    print_ranking(&mut stdout, &importances, a.top)?;
    if !a.rows.is_empty() {
        attributions(a, &l, &m, &index, &dest.dir, &mut stdout)?;
    }
    if dest.own {
        match super::report::refresh(&l.run.path) {
            Ok(path) => say!("report refreshed: {}", path.display()),
            Err(e) => say!("warning: report.html not refreshed: {e:#}"),
        }
    }
    say!(
        "wrote importance.csv, importance.svg{} to {}",
        if a.rows.is_empty() {
            ""
        } else {
            ", attributions.csv"
        },
        dest.dir.display()
    );
    // Column and label names come from the user's file: control characters escaped.
    let text = String::from_utf8_lossy(&stdout);
    std::io::stdout().write_all(crate::term::defang(&text).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The metric importances are measured on: `--metric`, else the head's main one.
fn chosen_metric(asked: Option<&str>, head: crate::head::Head) -> Result<&str> {
    let metric = asked.unwrap_or(metrics::main_metric(head));
    if !metrics::base_names(head).contains(&metric) {
        bail!(
            "--metric {metric} is not a metric of this model; choose from {}",
            metrics::base_names(head).join(", ")
        );
    }
    Ok(metric)
}

/// Where explain writes: the run's own `explain/`, or `--out`.
struct Destination {
    /// The folder.
    dir: PathBuf,
    /// Whether it is the run's own `explain/` (then the report is refreshed).
    own: bool,
    /// The run folder's lock while writing into it.
    _held: Option<RunDir>,
}

impl Destination {
    /// The run's own explain/ holds what explain wrote before: it is refreshed. Anywhere else,
    /// the output rule of every command applies to each file. Both decided before any work.
    fn settle(a: &ExplainArgs, run: &RunDir) -> Result<Self> {
        let own = run.file(rundir::EXPLAIN);
        let out_dir = a.out.map_or_else(|| own.clone(), Path::to_path_buf);
        // Compared as absolute paths, links resolved where they exist (neither folder need exist
        // yet: two paths that cannot be resolved are not the same folder).
        let resolved = |p: &Path| p.canonicalize().or_else(|_| std::path::absolute(p)).ok();
        let is_own = a.out.is_none() || resolved(&out_dir) == resolved(&own);
        let held = if is_own {
            // Writing into the run folder: not while another process writes it, and a read-only
            // run fails here, before the shuffles.
            Some(RunDir::hold(&run.path)?)
        } else {
            // `--out` is a folder of files: something else under that name is refused here, before
            // the shuffles, not by the folder's creation after them.
            if let Ok(meta) = std::fs::symlink_metadata(&out_dir) {
                if !meta.is_dir() {
                    bail!(
                        "--out {} is {}, not a folder; explain writes a folder of files (importance.csv, importance.svg, attributions.csv): name a new or existing folder",
                        out_dir.display(),
                        if meta.file_type().is_symlink() { "a symbolic link" } else if meta.is_file() { "a file" } else { "a device, FIFO or socket" }
                    );
                }
            }
            // Another run's folder (or its explain/) is that run's to write: importances computed
            // from this run there would be read by its report as its own.
            if let Some(run) = output::enclosing_run(&out_dir.join(rundir::IMPORTANCE)) {
                bail!(
                    "--out {} lies in the run folder {}; a run's files are written only by commands on that run, even with --force: name a folder outside any run (or leave out --out to write {})",
                    out_dir.display(),
                    run.display(),
                    own.display()
                );
            }
            let mut names = vec![rundir::IMPORTANCE, rundir::IMPORTANCE_SVG];
            if !a.rows.is_empty() {
                names.push(rundir::ATTRIBUTIONS);
            }
            // A folder that does not exist yet is made when the files are written; its parent
            // must exist, as for any output.
            if out_dir.is_dir() {
                for name in names {
                    output::check(&out_dir.join(name), &[a.data], a.force)?;
                }
            } else {
                output::check(&out_dir, &[a.data], a.force)?;
            }
            None
        };
        Ok(Self {
            dir: out_dir,
            own: is_own,
            _held: held,
        })
    }

    /// Writes `importance.csv`, `importance.svg` and, into the run's own folder, what the
    /// report needs to say where the importances come from.
    fn write_importances(
        &self,
        a: &ExplainArgs,
        importances: &[Importance],
        metric: &str,
        rows: usize,
        baseline: f64,
    ) -> Result<()> {
        let out_dir = &self.dir;
        if self.own {
            crate::files::own_dir(out_dir)?;
        } else {
            std::fs::create_dir_all(out_dir)
                .with_context(|| format!("cannot create {}", out_dir.display()))?;
        }
        write_atomic(
            &out_dir.join(rundir::IMPORTANCE),
            &importance_csv(importances, a.repeats)?,
        )?;
        write_atomic(
            &out_dir.join(rundir::IMPORTANCE_SVG),
            explain::importance_svg(importances, metric, a.top)?.as_bytes(),
        )?;
        if self.own {
            // What the report needs to say where the importances come from.
            let about = crate::report::ExplainAbout {
                data: std::path::absolute(a.data).unwrap_or_else(|_| a.data.to_path_buf()),
                rows,
                metric: metric.to_string(),
                baseline,
                repeats: a.repeats,
            };
            write_atomic(
                &out_dir.join(rundir::EXPLAIN_ABOUT),
                &serde_json::to_vec_pretty(&about)?,
            )?;
        }
        Ok(())
    }
}

/// The `top` columns by importance, one line each.
fn print_ranking(out: &mut impl Write, importances: &[Importance], top: usize) -> Result<()> {
    for (k, i) in importances.iter().take(top).enumerate() {
        writeln!(
            out,
            "{:>3}. {:<24} {:>8.4} ± {:.4}",
            k + 1,
            i.feature,
            i.mean,
            i.sd
        )?;
    }
    Ok(())
}

/// `importance.csv`: mean, sd and each repeat's drop per column.
fn importance_csv(importances: &[Importance], repeats: usize) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["feature", "importance_mean", "importance_sd"]
        .map(String::from)
        .to_vec();
    header.extend((1..=repeats).map(|r| format!("repeat_{r}")));
    w.write_record(&header)?;
    for i in importances {
        let mut record = vec![i.feature.clone(), i.mean.to_string(), i.sd.to_string()];
        record.extend(i.drops.iter().map(|d| d.to_string()));
        w.write_record(&record)?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// Gradient × input for `--rows`: `attributions.csv`, and the largest five per row printed.
fn attributions(
    a: &ExplainArgs,
    l: &Loaded,
    m: &Matrix,
    index: &[usize],
    out_dir: &Path,
    stdout: &mut impl Write,
) -> Result<()> {
    let ad = l.device.clone().autodiff();
    let model_ad = l.run.load_model(&l.model_file.network, &ad)?;
    let names = l.pre.input_names();
    // Several labels or targets: one attribution of each per row, in a `label` column.
    let labels = &l.model_file.labels;
    let outputs: Vec<Option<usize>> = if labels.is_empty() {
        vec![None]
    } else {
        (0..labels.len()).map(Some).collect()
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["row".to_string()];
    if !labels.is_empty() {
        header.push("label".into());
    }
    w.write_record(header.into_iter().chain(names.iter().cloned()))?;
    for output in outputs {
        let attr = explain::gradient_x_input(&model_ad, m, index, output, &ad);
        let label = output.map(|j| labels[j].clone());
        for (r, values) in a.rows.iter().zip(&attr) {
            let lead = std::iter::once(r.to_string()).chain(label.clone());
            w.write_record(lead.chain(values.iter().map(|v| v.to_string())))?;
            let mut ranked: Vec<(usize, f32)> = values.iter().copied().enumerate().collect();
            ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            let top: Vec<String> = ranked
                .iter()
                .take(a.top.min(5))
                .map(|(j, v)| format!("{} {v:+.4}", names[*j]))
                .collect();
            let of = label
                .as_ref()
                .map_or(String::new(), |n| format!(" of `{n}`"));
            writeln!(
                stdout,
                "row {r}: gradient x input{of}, largest: {}",
                top.join(", ")
            )?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    write_atomic(&out_dir.join(rundir::ATTRIBUTIONS), &bytes)
}

/// Each `--rows` value's index in the matrix; a row the data does not hold is an error.
fn rows_index(a: &ExplainArgs, m: &Matrix) -> Result<Vec<usize>> {
    a.rows
        .iter()
        .map(|r| {
            m.source_rows.iter().position(|s| s == *r).with_context(|| {
                format!(
                    "--rows {r}: {} has no usable row {r} (rows start at 2, after the header; rows with missing values may have been dropped)",
                    a.data.display()
                )
            })
        })
        .collect()
}
