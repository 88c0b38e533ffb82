//! Drawing a chart as SVG with plotters' SVG backend: axes with ticks and a grid, axis titles,
//! and a legend in its own column to the right of the plot, so it never covers the data.
//!
//! Every text drawn (titles, axis titles, tick and bar labels, legend entries: column names
//! and run names among them) goes through the backend's `<text>` writer, which escapes `<`, `>`,
//! `&`, `"` and `'`; the test below holds it to that, since the SVG is inserted into the page
//! unescaped.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawError, Svg};

type Result<T> = std::result::Result<T, DrawError>;

/// Colours of successive series (matplotlib's `tab10`, which people already read).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The grid's minor and major lines, and the fonts of tick labels and axis titles: one look
/// for every chart.
const GRID_FINE: RGBColor = RGBColor(235, 235, 235);
const GRID: RGBColor = RGBColor(215, 215, 215);
const TICK_FONT: (&str, u32) = ("sans-serif", 12);
const AXIS_FONT: (&str, u32) = ("sans-serif", 13);

/// Width of the legend column, in pixels.
const LEGEND_WIDTH: u32 = 190;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    /// A solid line through the points.
    Line,
    /// A dashed line: references (chance, perfect calibration) and training-split curves.
    Dashed,
    /// A dot at each point, for scatter plots.
    Dots,
    /// A bar from zero at each point's `x`, this wide; drawn translucent so bars of several
    /// series stay visible where they overlap.
    Bars(f64),
}

/// One named series.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// The legend's text.
    pub(crate) name: String,
    /// The points, `(x, y)`; non-finite ones are left out.
    pub(crate) points: Vec<(f64, f64)>,
    /// How to draw them.
    pub(crate) mark: Mark,
    /// Index into the palette (a reference line uses grey whatever the index).
    pub(crate) color: usize,
}

impl Series {
    /// A series in the `color`th palette colour.
    pub(crate) fn new(
        name: impl Into<String>,
        points: Vec<(f64, f64)>,
        mark: Mark,
        color: usize,
    ) -> Self {
        Self {
            name: name.into(),
            points,
            mark,
            color,
        }
    }
}

/// One axis.
#[derive(Debug, Clone, Default)]
pub(crate) struct Axis {
    /// Its title, with the unit where there is one.
    pub(crate) label: String,
    /// A fixed range; `None` fits the data.
    pub(crate) range: Option<(f64, f64)>,
    /// Whole-number ticks (epochs).
    pub(crate) integer: bool,
}

impl Axis {
    /// An axis that fits the data.
    pub(crate) fn fit(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            ..Self::default()
        }
    }

    /// An axis over `[lo, hi]`.
    pub(crate) fn over(label: impl Into<String>, lo: f64, hi: f64) -> Self {
        Self {
            label: label.into(),
            range: Some((lo, hi)),
            integer: false,
        }
    }

    /// An axis of whole numbers (epochs).
    pub(crate) fn whole(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            range: None,
            integer: true,
        }
    }
}

/// A chart: title, axes, series and size in pixels.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// Drawn above the plot.
    pub(crate) title: String,
    /// The horizontal axis.
    pub(crate) x: Axis,
    /// The vertical axis.
    pub(crate) y: Axis,
    /// What is drawn, in order (later series on top).
    pub(crate) series: Vec<Series>,
    /// Width and height in pixels, legend included.
    pub(crate) size: (u32, u32),
}

impl Chart {
    /// A chart of the usual size.
    pub(crate) fn new(title: impl Into<String>, x: Axis, y: Axis, series: Vec<Series>) -> Self {
        Self {
            title: title.into(),
            x,
            y,
            series,
            size: (640, 360),
        }
    }

    /// Whether any series has a finite point to draw.
    pub(crate) fn has_data(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.points.iter().any(|p| p.0.is_finite() && p.1.is_finite()))
    }

    /// The chart as a standalone SVG document.
    pub(crate) fn svg(&self) -> Result<Svg> {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            drawn(root.fill(&WHITE))?;
            self.draw(&root)?;
            drawn(root.present())?;
        }
        Ok(Svg(out))
    }

    /// Draws the chart into `area` (a whole SVG, or one panel of one).
    // Long, but one straight pass: ranges, mesh, one arm per kind of mark, legend.
    pub(crate) fn draw(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        let (width, _) = area.dim_in_pixel();
        let (plot, legend) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let (x0, x1) = self
            .x
            .range
            .unwrap_or_else(|| fit(self.points().map(|p| p.0), false));
        let (y0, y1) = self.y.range.unwrap_or_else(|| {
            let bars = self.series.iter().any(|s| matches!(s.mark, Mark::Bars(_)));
            fit(self.points().map(|p| p.1), bars)
        });
        let mut chart = drawn(
            ChartBuilder::on(&plot)
                .caption(&self.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(x0..x1, y0..y1),
        )?;
        let x_fmt = tick_format(x1 - x0, self.x.integer);
        let y_fmt = tick_format(y1 - y0, self.y.integer);
        let x_ticks = if self.x.integer {
            ((x1 - x0).round() as usize + 1).clamp(2, 11)
        } else {
            8
        };
        drawn(
            chart
                .configure_mesh()
                .x_desc(self.x.label.as_str())
                .y_desc(self.y.label.as_str())
                .x_labels(x_ticks)
                .y_labels(6)
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .light_line_style(GRID_FINE)
                .bold_line_style(GRID)
                .label_style(TICK_FONT)
                .axis_desc_style(AXIS_FONT)
                .draw(),
        )?;
        for s in &self.series {
            let color = series_color(s);
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            match s.mark {
                Mark::Line => {
                    drawn(chart.draw_series(LineSeries::new(points, color.stroke_width(2))))?;
                }
                Mark::Dashed => {
                    drawn(chart.draw_series(DashedLineSeries::new(
                        points,
                        6,
                        4,
                        color.stroke_width(2),
                    )))?;
                }
                Mark::Dots => {
                    drawn(
                        chart.draw_series(
                            points
                                .into_iter()
                                .map(|p| Circle::new(p, 2, color.mix(0.5).filled())),
                        ),
                    )?;
                }
                Mark::Bars(w) => {
                    drawn(chart.draw_series(points.into_iter().map(|(x, y)| {
                        Rectangle::new(
                            [(x - w / 2.0, 0.0_f64.max(y0)), (x + w / 2.0, y)],
                            color.mix(0.45).filled(),
                        )
                    })))?;
                }
            }
        }
        draw_legend(&legend, &self.series)
    }

    fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    }
}

/// Several charts side by side in one SVG, each `chart.size` wide (`curves.svg`).
pub(crate) fn panels(charts: &[Chart]) -> Result<Svg> {
    let width = charts.iter().map(|c| c.size.0).sum::<u32>().max(1);
    let height = charts.iter().map(|c| c.size.1).max().unwrap_or(1);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        drawn(root.fill(&WHITE))?;
        let mut rest = root.clone();
        for c in charts {
            let (this, next) = rest.split_horizontally(c.size.0);
            c.draw(&this)?;
            rest = next;
        }
        drawn(root.present())?;
    }
    Ok(Svg(out))
}

/// A horizontal bar chart with ±`error` whiskers: one bar per `(label, value, error)`, the
/// first at the top (permutation importance).
pub(crate) fn bars_with_errors(
    title: &str,
    x_label: &str,
    bars: &[(String, f64, f64)],
) -> Result<Svg> {
    let height = 90 + 24 * bars.len().max(1) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, height)).into_drawing_area();
        drawn(root.fill(&WHITE))?;
        let hi = bars
            .iter()
            .map(|b| (b.1 + b.2).max(b.1))
            .filter(|v| v.is_finite())
            .fold(1e-12, f64::max);
        let lo = bars
            .iter()
            .map(|b| (b.1 - b.2).min(0.0))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::min);
        let n = bars.len().max(1) as f64;
        let mut chart = drawn(
            ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(44)
                .y_label_area_size(170)
                .build_cartesian_2d(lo..hi * 1.05, -0.5..n - 0.5),
        )?;
        let names: Vec<String> = bars.iter().map(|b| shorten(&b.0, 26)).collect();
        // Bar k is drawn at y = n-1-k so the first bar is at the top.
        let y_fmt = |v: &f64| {
            let k = (n - 1.0 - v.round()) as usize;
            if (v - v.round()).abs() < 1e-6 {
                names.get(k).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let x_fmt = tick_format(hi - lo, false);
        drawn(
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc(x_label)
                .y_labels(bars.len().max(1))
                .y_label_formatter(&y_fmt)
                .x_label_formatter(&x_fmt)
                .light_line_style(GRID_FINE)
                .bold_line_style(GRID)
                .label_style(TICK_FONT)
                .axis_desc_style(AXIS_FONT)
                .draw(),
        )?;
        let y = |k: usize| n - 1.0 - k as f64;
        drawn(chart.draw_series(bars.iter().enumerate().map(|(k, b)| {
            Rectangle::new(
                [(0.0, y(k) - 0.35), (b.1, y(k) + 0.35)],
                PALETTE[0].filled(),
            )
        })))?;
        drawn(chart.draw_series(bars.iter().enumerate().map(|(k, b)| {
            ErrorBar::new_horizontal(y(k), b.1 - b.2, b.1, b.1 + b.2, BLACK.stroke_width(1), 8)
        })))?;
        drawn(root.present())?;
    }
    Ok(Svg(out))
}

/// Draws each series' swatch and name, one per line, in the legend column.
fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, series: &[Series]) -> Result<()> {
    for (k, s) in series.iter().enumerate() {
        let y = 44 + 20 * k as i32;
        let color = series_color(s);
        let style = match s.mark {
            Mark::Bars(_) | Mark::Dots => color.mix(0.6).filled(),
            _ => color.stroke_width(2),
        };
        match s.mark {
            Mark::Bars(_) | Mark::Dots => {
                drawn(area.draw(&Rectangle::new([(6, y - 5), (26, y + 5)], style)))?;
            }
            Mark::Line => {
                drawn(area.draw(&PathElement::new(vec![(6, y), (26, y)], style)))?;
            }
            Mark::Dashed => {
                for x in [6, 14, 22] {
                    drawn(area.draw(&PathElement::new(vec![(x, y), (x + 5, y)], style)))?;
                }
            }
        }
        drawn(area.draw(&Text::new(
            shorten(&s.name, 26),
            (32, y - 7),
            ("sans-serif", 12),
        )))?;
    }
    Ok(())
}

/// Grey for reference lines (dashed series named as references), else the palette colour.
fn series_color(s: &Series) -> RGBColor {
    if s.mark == Mark::Dashed && s.color == usize::MAX {
        RGBColor(150, 150, 150)
    } else {
        PALETTE[s.color % PALETTE.len()]
    }
}

/// The palette index that draws a series as a grey reference line.
pub(crate) const REFERENCE: usize = usize::MAX;

/// A range that holds `values` with a little room; from zero when `from_zero` (bars).
fn fit(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let span = hi - lo;
    if span <= 1e-12 * hi.abs().max(lo.abs()) || span == 0.0 {
        // A constant (a fixed learning rate): a band around it, on its own scale.
        let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.5 };
        return (if from_zero { lo.min(0.0) } else { lo - pad }, hi + pad);
    }
    let pad = span * 0.05;
    (
        if from_zero && lo == 0.0 {
            0.0
        } else {
            lo - pad
        },
        hi + pad,
    )
}

/// Tick labels with as many decimals as the span needs: 0.1234 over a span of 0.01, 12 over
/// a span of 100.
fn tick_format(span: f64, integer: bool) -> impl Fn(&f64) -> String {
    let decimals = if integer || span <= 0.0 || !span.is_finite() {
        0
    } else {
        (2.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
    };
    move |v: &f64| {
        if integer {
            // Only whole ticks are labelled: a count has no half rows.
            if (v - v.round()).abs() < 1e-9 {
                format!("{}", v.round())
            } else {
                String::new()
            }
        } else {
            format!("{v:.decimals$}")
        }
    }
}

/// `s`, cut to `max` characters with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// A plotters result as ours: drawing into a string fails only on a bug, but says where.
fn drawn<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| DrawError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_its_title_axis_titles_legend_and_one_path_per_line() {
        let chart = Chart::new(
            "Loss per epoch",
            Axis::whole("epoch"),
            Axis::fit("binary cross-entropy"),
            vec![
                Series::new("training", vec![(1.0, 0.5), (2.0, 0.3)], Mark::Line, 0),
                Series::new(
                    "validation",
                    vec![(1.0, 0.6), (2.0, f64::NAN)],
                    Mark::Line,
                    1,
                ),
            ],
        );
        let svg = chart.svg().unwrap().into_string();
        for text in [
            "Loss per epoch",
            "epoch",
            "binary cross-entropy",
            "training",
            "validation",
        ] {
            assert!(
                svg.contains(&format!(">\n{text}\n</text>")),
                "{text} missing:\n{svg}"
            );
        }
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(chart.has_data());
        let empty = Chart::new("x", Axis::fit("a"), Axis::fit("b"), vec![]);
        assert!(!empty.has_data());
    }

    #[test]
    fn ticks_have_the_decimals_their_span_needs() {
        assert_eq!(tick_format(0.01, false)(&0.12345), "0.1235");
        assert_eq!(tick_format(100.0, false)(&12.3), "12");
        assert_eq!(tick_format(9.0, true)(&3.0), "3");
        assert_eq!(fit([1.0, 1.0].into_iter(), false), (0.5, 1.5));
        assert_eq!(fit([0.001, 0.001].into_iter(), false), (0.0005, 0.0015));
        assert_eq!(tick_format(5.0, true)(&2.5), "");
        assert_eq!(fit([2.0, 4.0].into_iter(), true).0, 0.0);
    }

    /// Names from the data (a column, a run folder) reach the SVG as text, never as markup.
    #[test]
    fn text_in_a_chart_is_escaped() {
        let payload = "<script>alert(1)</script>\"'&";
        let chart = Chart::new(
            payload,
            Axis::fit(payload),
            Axis::fit(payload),
            vec![Series::new(
                payload,
                vec![(1.0, 1.0), (2.0, 2.0)],
                Mark::Line,
                0,
            )],
        );
        let bars = [(payload.to_string(), 0.5, 0.1)];
        for svg in [
            chart.svg().unwrap(),
            panels(std::slice::from_ref(&chart)).unwrap(),
            bars_with_errors(payload, payload, &bars).unwrap(),
        ] {
            let svg = svg.into_string();
            assert!(!svg.contains("<script") && !svg.contains("'&"), "{svg}");
            assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&apos;&amp;"));
        }
    }
}
