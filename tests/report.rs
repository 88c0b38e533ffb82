//! The run report: pages checked in a real headless Chromium (no console error, no request,
//! every chart drawn, the figures those of `summary.json`, a screenshot that is not blank), and
//! `burnfit report` / `burnfit runs` on the command line.

mod common;

use std::fs;
use std::path::Path;

use common::browser::{browser_or_skip, Visit};
use common::{burnfit, fails, stderr, stdout, summary, train, write, SMALL};
use serde_json::Value;
use tempfile::TempDir;

/// What the page holds, read in the browser: each chart's id, title, size and data marks
/// (polylines of three points or more, dots, bars beyond the frame, table cells), each
/// metric cell, and the config keys listed as differing.
const PROBE: &str = r#"
const charts = [...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg');
  const box = (svg || f).getBoundingClientRect();
  const lines = svg ? [...svg.querySelectorAll('polyline')].filter(p => p.points.length >= 3).length : 0;
  const dots = svg ? svg.querySelectorAll('circle').length : 0;
  const bars = svg ? Math.max(0, svg.querySelectorAll('rect').length - 2) : 0;
  const cells = f.querySelectorAll('td').length;
  const b = f.querySelector('figcaption b');
  return {id: f.dataset.chart, title: b ? b.textContent : '', width: box.width, height: box.height,
          marks: lines + dots + bars + cells};
});
const metrics = [...document.querySelectorAll('[data-metric]')].map(e => {
  const row = e.closest('tr[data-run]');
  return {key: e.dataset.metric, value: e.dataset.value, text: e.textContent.trim(),
          run: row ? row.dataset.run : null};
});
const keys = [...document.querySelectorAll('tr[data-key]')].map(e => e.dataset.key);
return {charts, metrics, keys, title: document.title, text: document.body.innerText};
"#;

fn train_small(dir: &Path, out: &str, sets: &[&str]) {
    let mut args = vec!["--config", "small.toml", "--out", out];
    for s in sets {
        args.extend(["--set", s]);
    }
    train(dir, &args);
}

/// The chart ids on the page, each asserted present with a title and something drawn.
fn assert_charts(page: &str, v: &Visit, expected: &[&str]) {
    let charts = v.probe["charts"].as_array().unwrap();
    for id in expected {
        let c = charts
            .iter()
            .find(|c| c["id"] == *id)
            .unwrap_or_else(|| panic!("{page}: no chart `{id}` among {charts:?}"));
        assert!(
            !c["title"].as_str().unwrap().trim().is_empty(),
            "{page}: `{id}` has no title"
        );
        assert!(
            c["width"].as_f64().unwrap() > 200.0,
            "{page}: `{id}` is not laid out: {c}"
        );
        assert!(
            c["marks"].as_u64().unwrap() > 0,
            "{page}: `{id}` draws no data: {c}"
        );
    }
}

/// The page loaded with no console error and no request, and its screenshot is a page.
fn assert_clean(page: &str, v: &Visit) {
    assert!(
        v.console_errors.is_empty(),
        "{page}: console errors {:?}",
        v.console_errors
    );
    assert!(
        v.requests.is_empty(),
        "{page}: network requests {:?}",
        v.requests
    );
    assert!(
        v.inked > 0.02 && v.colours > 20,
        "{page}: blank screenshot ({:.4} inked, {} colours)",
        v.inked,
        v.colours
    );
}

/// Every metric of `summary.json`'s `evaluation` and `train_metrics` shown in the page, with
/// the same value, for `run` (None: the page's only run).
fn assert_metrics(page: &str, v: &Visit, summary: &Value, run: Option<&str>, sections: &[&str]) {
    let cells = v.probe["metrics"].as_array().unwrap();
    for section in sections {
        for (k, want) in summary[section].as_object().unwrap() {
            let key = format!("{section}.{k}");
            let cell = cells
                .iter()
                .find(|c| c["key"] == key.as_str() && run.is_none_or(|r| c["run"] == r))
                .unwrap_or_else(|| panic!("{page}: no cell {key} for {run:?}"));
            match want.as_f64() {
                Some(w) => {
                    let got: f64 = cell["value"].as_str().unwrap().parse().unwrap();
                    assert_eq!(got, w, "{page}: {key}");
                    assert!(
                        cell["text"]
                            .as_str()
                            .unwrap()
                            .starts_with(&format!("{w:.4}")),
                        "{page}: {key} shows {cell}"
                    );
                }
                None => assert_eq!(
                    cell["value"], "null",
                    "{page}: {key} is undefined in summary.json"
                ),
            }
        }
    }
}

#[test]
fn report_pages_load_cleanly_in_a_real_browser_and_show_the_runs_own_figures() {
    let Some(browser) = browser_or_skip("report_pages_load_cleanly_in_a_real_browser") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "small.toml", SMALL);
    train_small(dir, "a", &[]);
    train_small(dir, "b", &["train.lr=0.01"]);
    train_small(dir, "c", &["train.lr=0.0003", "model.hidden=[16]"]);
    train_small(
        dir,
        "reg",
        &["data.synthetic.task=regression", "train.loss=mse"],
    );
    let held = burnfit(dir)
        .args([
            "synth",
            "--rows",
            "1000",
            "--features",
            "10",
            "--informative",
            "4",
            "--seed",
            "3",
            "--out",
            "held.csv",
        ])
        .output()
        .unwrap();
    assert!(held.status.success(), "{}", stderr(&held));
    let ex = burnfit(dir)
        .args([
            "explain",
            "--model",
            "a",
            "--data",
            "held.csv",
            "--repeats",
            "2",
        ])
        .output()
        .unwrap();
    assert!(ex.status.success(), "{}", stderr(&ex));
    let cmp = burnfit(dir)
        .args(["report", "a", "b", "c", "--out", "cmp.html"])
        .output()
        .unwrap();
    assert!(cmp.status.success(), "{}", stderr(&cmp));

    // One classifier run, refreshed by explain.
    let v = browser.visit(&dir.join("a/report.html"), PROBE);
    assert_clean("a/report.html", &v);
    let curves = [
        "curve-loss",
        "curve-accuracy",
        "curve-auc",
        "curve-precision",
        "curve-recall",
        "curve-f1",
        "curve-lr",
    ];
    assert_charts("a/report.html", &v, &curves);
    assert_charts(
        "a/report.html",
        &v,
        &[
            "roc",
            "pr",
            "calibration",
            "histogram",
            "confusion",
            "importance",
        ],
    );
    let s = summary(dir, "a");
    assert_metrics(
        "a/report.html",
        &v,
        &s,
        None,
        &["evaluation", "train_metrics"],
    );
    let roc_title = v.probe["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "roc")
        .unwrap()["title"]
        .clone();
    let auc = s["evaluation"]["auc"].as_f64().unwrap();
    assert_eq!(
        roc_title,
        format!("ROC curve, AUC {auc:.4}"),
        "the curve's AUC is summary.json's"
    );
    let text = v.probe["text"].as_str().unwrap();
    for said in [
        "validation rows",
        "threshold 0.5",
        "held.csv",
        "train split",
        "footprint",
    ] {
        assert!(text.contains(said), "a/report.html does not say `{said}`");
    }

    // A regression run: its own charts, no classifier ones.
    let v = browser.visit(&dir.join("reg/report.html"), PROBE);
    assert_clean("reg/report.html", &v);
    assert_charts(
        "reg/report.html",
        &v,
        &[
            "curve-loss",
            "curve-rmse",
            "curve-mae",
            "curve-r2",
            "predicted-actual",
            "residuals",
            "residual-histogram",
        ],
    );
    assert!(!v.probe["charts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "roc"));
    assert_metrics(
        "reg/report.html",
        &v,
        &summary(dir, "reg"),
        None,
        &["evaluation", "train_metrics"],
    );

    // Three runs compared: every run's figures, overlaid curves, and the keys that differ.
    let v = browser.visit(&dir.join("cmp.html"), PROBE);
    assert_clean("cmp.html", &v);
    assert_charts(
        "cmp.html",
        &v,
        &["compare-loss", "compare-accuracy", "compare-auc"],
    );
    for run in ["a", "b", "c"] {
        assert_metrics(
            "cmp.html",
            &v,
            &summary(dir, run),
            Some(run),
            &["evaluation"],
        );
    }
    let keys: Vec<&str> = v.probe["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["model.hidden", "train.lr"],
        "only the keys that differ"
    );
}

/// The checks above would see a page that logs an error or fetches something, and a blank one.
#[test]
fn the_browser_checks_see_console_errors_requests_and_blank_pages() {
    let Some(browser) =
        browser_or_skip("the_browser_checks_see_console_errors_requests_and_blank_pages")
    else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let bad = write(
        tmp.path(),
        "bad.html",
        "<!DOCTYPE html><html><body><p>x</p><img src=\"http://127.0.0.1:9/pixel.png\"><script>console.error('planted error')</script></body></html>",
    );
    let v = browser.visit(&bad, "return 1;");
    assert!(
        v.console_errors.iter().any(|e| e.contains("planted error")),
        "{:?}",
        v.console_errors
    );
    assert!(
        v.requests.iter().any(|u| u.contains("127.0.0.1:9")),
        "{:?}",
        v.requests
    );
    let blank = write(
        tmp.path(),
        "blank.html",
        "<!DOCTYPE html><html><body></body></html>",
    );
    let v = browser.visit(&blank, "return 1;");
    assert!(v.inked < 0.001, "{}", v.inked);
}

#[test]
fn report_follows_the_output_rule_and_runs_lists_and_sorts() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "small.toml", SMALL);
    train_small(dir, "runs/a", &[]);
    train_small(dir, "runs/b", &["train.lr=0.01"]);
    // Refreshing a run's own report is always allowed; it is what train wrote.
    let before = fs::read(dir.join("runs/a/report.html")).unwrap();
    let out = burnfit(dir).args(["report", "runs/a"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(dir.join("runs/a/report.html")).unwrap(),
        before,
        "a report is a function of the folder"
    );
    // A comparison page is never written over a file, or into a run folder.
    fs::write(dir.join("cmp.html"), "mine").unwrap();
    fails(
        dir,
        "comparison over a file",
        &["report", "runs/a", "runs/b", "--out", "cmp.html"],
        &["--force"],
    );
    assert_eq!(fs::read_to_string(dir.join("cmp.html")).unwrap(), "mine");
    fails(
        dir,
        "comparison into a run folder",
        &[
            "report",
            "runs/a",
            "runs/b",
            "--out",
            "runs/b/report.html",
            "--force",
        ],
        &[],
    );
    fails(
        dir,
        "a folder that is not a run",
        &["report", "runs/a", "not-a-run"],
        &["not-a-run"],
    );

    let listing = |args: &[&str]| {
        let out = burnfit(dir).arg("runs").args(args).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let plain = listing(&["runs"]);
    let rows: Vec<&str> = plain
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(rows, ["a", "b"], "{plain}");
    assert!(
        plain.contains("finished") && plain.contains("synthetic 2000×10"),
        "{plain}"
    );
    let auc = |run: &str| {
        summary(dir, &format!("runs/{run}"))["evaluation"]["auc"]
            .as_f64()
            .unwrap()
    };
    let sorted = listing(&["runs", "--sort", "auc"]);
    let first = sorted
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(
        first,
        if auc("a") >= auc("b") { "a" } else { "b" },
        "{sorted}"
    );
    fails(
        dir,
        "an unknown sort key",
        &["runs", "runs", "--sort", "nonsense"],
        &["--sort nonsense"],
    );
}
