//! The run page's section for a k-class softmax: the per-class table and the k×k confusion
//! matrix, counted from `outputs.csv` exactly as the run's own metrics were.

use maud::{html, Markup};

use super::figure;
use crate::data::buffer::Buffer;
use crate::metrics::classes::{argmax, probabilities, ClassScores, ConfusionMatrix};
use crate::ranking::Ranking;
use crate::report::record::RunRecord;
use crate::report::svg::{charts, DrawError};

/// The section, or a note when the run did not finish.
pub(super) fn section(run: &RunRecord) -> Result<Markup, DrawError> {
    let Some(o) = &run.outputs else {
        return Ok(super::run::no_outputs("classes", "Classes"));
    };
    let k = o.width;
    let names: Vec<String> = (0..k)
        .map(|j| {
            run.model
                .classes
                .get(j)
                .cloned()
                .unwrap_or_else(|| format!("class {j}"))
        })
        .collect();
    let logits = Buffer::collect_rows("the outputs", o.output.iter().map(|&z| z as f32));
    let targets = Buffer::collect_rows("the targets", o.target.iter().map(|&y| y as f32));
    let matrix = ConfusionMatrix::count(logits.chunks(k).map(argmax), &targets, k);
    let scores = matrix.per_class();
    let split = run.evaluated_on();
    let note = format!("final model on the {split} rows ({})", o.target.len());
    // Each class against the rest, ranked by its probability (as the run's AUC is).
    let p = probabilities(&logits, k);
    let rankings: Vec<(String, Ranking<f64>)> = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let scores = Buffer::collect_rows("a class's scores", p.chunks(k).map(|row| row[c]));
            let labels = Buffer::collect_rows(
                "a class's labels",
                o.target
                    .iter()
                    .map(|&t| f64::from(u8::from(t as usize == c))),
            );
            (name.clone(), Ranking::of(&scores, &labels))
        })
        .collect();
    let roc = charts::one_vs_rest_roc(&rankings)
        .map(|c| figure("ovr-roc", &note, &c))
        .transpose()?;
    let (confidence, correct) =
        crate::calibrate::top_label(&logits, &targets, burnfit_model::Loss::CrossEntropy, 1.0);
    let reliability = figure(
        "top-label-calibration",
        &note,
        &charts::top_label_reliability(&confidence, &correct),
    )?;
    Ok(html! {
        section #classes {
            h2 { "Classes" }
            p.note {
                "All on the " (split) " rows (" (o.target.len()) "), from " code { "outputs.csv" }
                "; a row's predicted class is the one with the largest probability."
            }
            (per_class_table(&names, &scores))
            div.grid {
                (confusion_matrix(&names, &matrix))
                @if let Some(f) = roc { (f) }
                (reliability)
            }
        }
    })
}

fn per_class_table(names: &[String], scores: &[ClassScores]) -> Markup {
    html! {
        table #per-class data-chart="per-class" {
            tr {
                th { "class" } th.num { "precision" } th.num { "recall" } th.num { "F1" }
                th.num { "support" } th.num { "predicted" }
            }
            @for (name, s) in names.iter().zip(scores) {
                tr {
                    th { (name) }
                    td.num { (format!("{:.4}", s.precision)) }
                    td.num { (format!("{:.4}", s.recall)) }
                    td.num { (format!("{:.4}", s.f1)) }
                    td.num { (s.support) }
                    td.num { (s.predicted) }
                }
            }
        }
    }
}

/// Counts, and each count's share of its true class (the row), shaded by that share: green
/// on the diagonal, red off it.
fn confusion_matrix(names: &[String], m: &ConfusionMatrix) -> Markup {
    let total: u64 = m.counts.iter().flatten().sum();
    html! {
        figure.chart data-chart="confusion" {
            figcaption {
                b { "Confusion matrix" } " · rows are true classes, columns predicted ones; "
                "each cell's count and its share of the row (" (total) " rows)"
            }
            table.confusion {
                tr {
                    th { "true \\ predicted" }
                    @for name in names { th { (name) } }
                }
                @for (i, row) in m.counts.iter().enumerate() {
                    @let of_row = row.iter().sum::<u64>().max(1) as f64;
                    tr {
                        th { (names[i]) }
                        @for (j, &n) in row.iter().enumerate() {
                            @let share = n as f64 / of_row;
                            @let (r, g, b) = if i == j { (46, 160, 67) } else { (214, 39, 40) };
                            td style=(format!("background:rgba({r},{g},{b},{:.2})", 0.04 + 0.5 * share)) {
                                b { (n) } br;
                                (format!("{:.1} %", 100.0 * share))
                            }
                        }
                    }
                }
            }
        }
    }
}
