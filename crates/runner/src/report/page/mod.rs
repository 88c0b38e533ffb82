//! The report's HTML pages: one self-contained file each, inline SVG and CSS, no script,
//! nothing fetched (its content security policy forbids it), readable offline and printable.
//!
//! One module per page: [`run`] (one run), [`comparison`] (several runs), [`cv`] (the folds of a
//! cross-validation) and [`sweep`] (a sweep's best trials). Here, the frame and the pieces they
//! share. Markup is written with maud's `html!`, which escapes every inserted value; the two
//! things inserted as they are, the drawn charts ([`Svg`]) and the style sheet, are the
//! program's own and marked so below.

mod classes;
mod comparison;
mod cv;
mod labels;
mod run;
mod sweep;

pub(crate) use comparison::compare;
pub(crate) use cv::cross_validation;
pub(crate) use run::single;
pub(crate) use sweep::sweep;

use maud::{html, Markup, PreEscaped, Render, DOCTYPE};

use super::svg::{Chart, DrawError, Svg};
use crate::metrics;

/// The one raw insert of a chart: an [`Svg`] is only ever made by drawing one, and the drawing
/// backend escapes every text in it (tested in `svg::plot`).
impl Render for Svg {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str(self.as_str());
    }
}

/// The page's style sheet. Inserted unescaped: `<style>` is raw text to HTML, where an entity
/// would not be decoded; it is a constant of the program.
const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;max-width:1340px;margin:0 auto;padding:16px 24px;background:#fff}\
h1{font-size:22px;margin:0}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.sub,.note{color:#666;margin:2px 0 10px}\
table{border-collapse:collapse;margin:6px 0 12px}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.best{font-weight:bold;background:#e8f4e8}\
.grid{display:flex;flex-wrap:wrap;gap:14px}\
figure.chart{margin:0;border:1px solid #e4e4e4;padding:6px;background:#fff;break-inside:avoid}\
figure.chart figcaption{font-size:13px;color:#444;margin:0 0 4px;max-width:640px}\
figure.chart svg{display:block;max-width:100%;height:auto}\
table.confusion td{width:120px;text-align:center;padding:10px}\
pre{background:#f7f7f7;padding:10px;overflow-x:auto;font-size:12px}\
@media print{body{max-width:none}figure.chart{border:none}}";

/// Forbids every fetch and every script; only the inline style sheet may apply.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const GENERATOR: &str = concat!("burnfit ", env!("CARGO_PKG_VERSION"));

/// The whole page: `title` in the tab, `heading` and `sub` on top, then `body`.
fn document(title: &str, heading: &str, sub: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CONTENT_SECURITY_POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(GENERATOR);
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (heading) }
                    p.sub { (sub) }
                }
                (body)
            }
        }
    }
    .into_string()
}

/// A threshold for people: at most four decimals, no trailing zeros (`0.5`, `0.4195`).
fn show_threshold(t: f64) -> String {
    let s = format!("{t:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A chart in a `<figure>`: its title, then where its numbers come from, then the drawing.
fn figure(id: &str, note: &str, chart: &Chart) -> Result<Markup, DrawError> {
    Ok(drawn_figure(id, &chart.title, note, &chart.svg()?))
}

/// [`figure`] for a chart drawn some other way.
fn drawn_figure(id: &str, title: &str, note: &str, svg: &Svg) -> Markup {
    html! {
        figure.chart data-chart=(id) {
            figcaption { b { (title) } " · " (note) }
            (svg)
        }
    }
}

/// A metric value: four decimals shown, the full value in `data-value` (what the browser test
/// compares with `summary.json`), `n/a` when undefined; marked ★ when `best`.
fn value_cell(key: &str, v: f64, best: bool) -> Markup {
    let data = if v.is_finite() {
        v.to_string()
    } else {
        "null".into()
    };
    html! {
        td.num.best[best] data-metric=(key) data-value=(data) {
            (metrics::show(v))
            @if best { " ★" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_show_four_decimals_at_most() {
        assert_eq!(show_threshold(0.5), "0.5");
        assert_eq!(show_threshold(0.419_497_456_790_426_4), "0.4195");
        assert_eq!(show_threshold(0.25), "0.25");
    }

    #[test]
    fn the_frame_escapes_its_text_and_holds_the_style_sheet_as_is() {
        let page = document(
            "</title><script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "\"><b>",
            html! { p { "</style>" } },
        );
        assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("<b>"));
        assert!(page.contains("&lt;/title&gt;&lt;script&gt;") && page.contains("&lt;/style&gt;"));
        assert!(page.contains(CSS), "the style sheet is not escaped");
        assert_eq!(
            value_cell("k\"", 0.25, true).into_string(),
            "<td class=\"num best\" data-metric=\"k&quot;\" data-value=\"0.25\">0.2500 ★</td>"
        );
    }
}
