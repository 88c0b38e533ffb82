//! The learning-curve picture: loss and the main metric per epoch, as SVG.
//!
//! Written directly rather than with `plotters`: plotters' text layout needs system font
//! libraries (fontconfig, freetype) at build time, which a two-line chart does not justify.

use std::fmt::Write;

use crate::history::EpochRow;

fn panel(out: &mut String, x0: f64, title: &str, series: &[(&str, Vec<f64>, &str)]) {
    let (w, h, pad) = (420.0, 260.0, 40.0);
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    if all.is_empty() {
        return;
    }
    let (mut lo, mut hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(1).max(2);
    let px = |i: usize| x0 + pad + (w - 2.0 * pad) * i as f64 / (n - 1) as f64;
    let py = |v: f64| 20.0 + pad + (h - 2.0 * pad) * (1.0 - (v - lo) / (hi - lo));
    let _ = write!(
        out,
        r#"<text x="{}" y="24" font-size="14" font-family="sans-serif">{title}</text>"#,
        x0 + pad
    );
    let _ = write!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        x0 + pad,
        20.0 + pad,
        w - 2.0 * pad,
        h - 2.0 * pad
    );
    for (v, anchor_y) in [(hi, py(hi)), (lo, py(lo))] {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="end" font-family="sans-serif">{v:.4}</text>"#,
            x0 + pad - 4.0,
            anchor_y + 3.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="10" font-family="sans-serif">epoch 1</text>"#,
        px(0),
        h + 10.0
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="10" text-anchor="end" font-family="sans-serif">epoch {n}</text>"#,
        px(n - 1),
        h + 10.0
    );
    for (k, (name, values, color)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| format!("{:.1},{:.1}", px(i), py(v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="11" fill="{color}" font-family="sans-serif">{name}</text>"#,
            x0 + w - pad - 90.0,
            20.0 + pad + 14.0 * (k + 1) as f64
        );
    }
}

/// The SVG text for `history`, plotting `loss` and `metric` with their `val_` twins.
pub fn learning_curves(history: &[EpochRow], metric: &str) -> String {
    let col = |name: &str| {
        history
            .iter()
            .map(|r| r.get(name).unwrap_or(f64::NAN))
            .collect::<Vec<_>>()
    };
    let mut out = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="860" height="290" viewBox="0 0 860 290"><rect width="100%" height="100%" fill="white"/>"#,
    );
    panel(
        &mut out,
        0.0,
        "loss",
        &[
            ("loss", col("loss"), "#1f77b4"),
            ("val_loss", col("val_loss"), "#ff7f0e"),
        ],
    );
    let val = format!("val_{metric}");
    panel(
        &mut out,
        430.0,
        metric,
        &[
            (metric, col(metric), "#1f77b4"),
            (val.as_str(), col(&val), "#ff7f0e"),
        ],
    );
    out.push_str("</svg>\n");
    out
}
