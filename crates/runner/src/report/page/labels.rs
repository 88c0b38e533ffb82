//! The run page's section for several label columns: the per-label (or per-target) table
//! from `summary.json`, and from `outputs.csv` each yes/no label's ROC curve or each numeric
//! target's predicted-against-actual chart.

use maud::{html, Markup};

use super::{figure, value_cell};
use crate::data::buffer::Buffer;
use crate::head::Head;
use crate::ranking::Ranking;
use crate::report::record::{Outputs, RunRecord};
use crate::report::svg::{charts, DrawError};

/// The most targets drawn one chart each; the table lists them all.
const MAX_TARGET_CHARTS: usize = 12;

/// The section, or a note when the run did not finish.
// Long because flat: the charts of either kind of head, then one template for the table and grid.
pub(super) fn section(run: &RunRecord) -> Result<Markup, DrawError> {
    let (Some(o), Some(s)) = (&run.outputs, &run.summary) else {
        return Ok(super::run::no_outputs("labels", "Labels"));
    };
    let head = run.head();
    let k = o.width;
    let names = &run.model.labels;
    let split = run.evaluated_on();
    let rows = o.target.len() / k.max(1);
    let note = format!("final model on the {split} rows ({rows})");
    let column = |v: &[f64], j: usize| {
        Buffer::collect_rows("a label's column", v.iter().skip(j).step_by(k).copied())
    };
    let charts = match head {
        Head::Labels => {
            let rankings: Vec<(String, Ranking<f64>)> = names
                .iter()
                .enumerate()
                .map(|(j, name)| {
                    (
                        name.clone(),
                        Ranking::of(&column(&o.output, j), &column(&o.target, j)),
                    )
                })
                .collect();
            match charts::one_vs_rest_roc(&rankings) {
                Some(mut chart) => {
                    chart.title = chart
                        .title
                        .replace("One-vs-rest ROC curves", "Each label's ROC curve");
                    vec![figure("label-roc", &note, &chart)?]
                }
                None => Vec::new(),
            }
        }
        _ => names
            .iter()
            .enumerate()
            .take(MAX_TARGET_CHARTS)
            .map(|(j, name)| {
                let one = Outputs {
                    target: column(&o.target, j),
                    output: column(&o.output, j),
                    width: 1,
                    probability: Buffer::default(),
                };
                let (drawn, _) = charts::thinned(rows);
                let mut chart = charts::predicted_actual(&one, &drawn);
                chart.title = format!("{name}: predicted against actual");
                figure(&format!("target-{j}"), &note, &chart)
            })
            .collect::<Result<_, _>>()?,
    };
    let columns: Vec<&str> = match head {
        Head::Labels => vec!["support", "precision", "recall", "f1", "auc", "threshold"],
        _ => vec!["rmse", "mae", "r2"],
    };
    let what = if head == Head::Labels {
        "label"
    } else {
        "target"
    };
    Ok(html! {
        section #labels {
            h2 { (if head == Head::Labels { "Labels" } else { "Targets" }) }
            p.note {
                "Each " (what) " on the " (split) " rows (" (rows) "), from "
                code { "summary.json" } " and " code { "outputs.csv" } "."
                @if head == Head::Labels {
                    " A label is predicted 1 where its probability is above its threshold."
                }
            }
            table #per-label data-chart="per-label" {
                tr {
                    th { (what) }
                    @for c in &columns { th.num { (c) } }
                }
                @for row in &s.per_label {
                    tr {
                        th { (row.name) }
                        @for c in &columns {
                            (value_cell(&format!("per_label.{}.{c}", row.name), row.metrics.get(*c).copied().unwrap_or(f64::NAN), false))
                        }
                    }
                }
            }
            div.grid {
                @for f in &charts { (f) }
            }
        }
    })
}
