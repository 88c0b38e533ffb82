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

/// Text that runs script, or closes the element or attribute it lands in, when a page inserts
/// it unescaped.
const PAYLOADS: [&str; 4] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</style>",
    "</script>",
];

/// What a payload would have made of a page: elements, handler attributes, a second style
/// sheet; and the text the page shows instead.
const INJECTED: &str = r#"
const all = [...document.querySelectorAll('*')];
return {
  scripts: document.querySelectorAll('script').length,
  imgs: document.querySelectorAll('img').length,
  handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.outerHTML.slice(0, 200)),
  styles: document.querySelectorAll('style').length,
  title: document.title,
  h1: document.querySelector('h1').textContent,
  charts: [...document.querySelectorAll('figure.chart')].map(f => f.dataset.chart),
  runs: [...document.querySelectorAll('tr[data-run]')].map(e => e.dataset.run),
  text: document.body.innerText,
};
"#;

/// A labelled CSV of 400 rows whose column names, label values and categorical values are the
/// payloads: two informative numeric columns, one noise column, one categorical column.
fn hostile_csv(path: &Path) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record([
        PAYLOADS[0],
        PAYLOADS[1],
        PAYLOADS[2],
        "colour </script>",
        PAYLOADS[3],
    ])
    .unwrap();
    // A fixed linear congruential generator: the same file on every run, no dependency.
    let mut state: u64 = 7;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..400 {
        let positive = i % 5 < 2;
        let shift = if positive { 0.8 } else { 0.0 };
        let row = [
            format!("{:.4}", uniform() + shift),
            format!("{:.4}", uniform()),
            format!("{:.4}", uniform() + shift / 2.0),
            PAYLOADS[i % 3].to_string(),
            (if positive { PAYLOADS[0] } else { PAYLOADS[1] }).to_string(),
        ];
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
}

/// Adds columns named by payloads to a run's `history.csv` (the page makes chart ids and
/// titles of its header), and payloads to the free text of its `summary.json`.
fn poison_run_folder(run: &Path) {
    let path = run.join("history.csv");
    let mut r = csv::Reader::from_path(&path).unwrap();
    let mut header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    header.push(PAYLOADS[1].to_string());
    header.push(format!("val_{}{}", PAYLOADS[2], PAYLOADS[0]));
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| {
            let mut row: Vec<String> = rec.unwrap().iter().map(String::from).collect();
            row.extend(["0.5".to_string(), "0.25".to_string()]);
            row
        })
        .collect();
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&header).unwrap();
    for row in rows {
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    let path = run.join("summary.json");
    let mut s: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    s["device"] = PAYLOADS[0].into();
    s["warnings"] = serde_json::json!([PAYLOADS[1], PAYLOADS[2]]);
    s["data_warnings"] = serde_json::json!([PAYLOADS[3]]);
    fs::write(&path, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
}

/// The page's HTML holds no payload as markup: no script or img element, one `</style>` (the
/// style sheet's own), no `</script>`, and no payload verbatim.
fn assert_no_raw_payload(page: &str, html: &str) {
    for raw in ["<script", "</script>", "<img", "<svg onload", PAYLOADS[1]] {
        assert!(!html.contains(raw), "{page} holds `{raw}` unescaped");
    }
    assert_eq!(html.matches("</style>").count(), 1, "{page}: `</style>`");
}

/// In the browser: nothing a payload would make exists, with the page's content security
/// policy and without it (where an injected script would run and its alert would fail the
/// WebDriver call).
fn assert_nothing_injected(browser: &common::browser::Browser, page: &Path) -> Value {
    let name = page.display().to_string();
    let html = fs::read_to_string(page).unwrap();
    assert_no_raw_payload(&name, &html);
    let v = browser.visit(page, INJECTED);
    // A blocked inline script or handler would be a console error (a CSP violation).
    assert_clean(&name, &v);
    let open = page.with_extension("no-csp.html");
    fs::write(
        &open,
        html.replacen(
            "http-equiv=\"Content-Security-Policy\"",
            "http-equiv=\"x-none\"",
            1,
        ),
    )
    .unwrap();
    let bare = browser.visit(&open, INJECTED);
    for probe in [&v.probe, &bare.probe] {
        assert_eq!(probe["scripts"], 0, "{name}: {probe}");
        assert_eq!(probe["imgs"], 0, "{name}: {probe}");
        assert_eq!(probe["handlers"], serde_json::json!([]), "{name}");
        assert_eq!(probe["styles"], 1, "{name}: {probe}");
    }
    assert!(
        bare.console_errors.is_empty(),
        "{name} without its policy: {:?}",
        bare.console_errors
    );
    v.probe
}

#[test]
fn names_from_the_data_and_the_run_folder_never_become_markup_on_any_page() {
    let Some(browser) =
        browser_or_skip("names_from_the_data_and_the_run_folder_never_become_markup")
    else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Paths: a folder and a file named by payloads (a name cannot hold `/`, so not `</…>`).
    fs::create_dir(dir.join(PAYLOADS[1])).unwrap();
    let data = format!("{}/<svg onload=alert(1)>.csv", PAYLOADS[1]);
    hostile_csv(&dir.join(&data));
    // Config strings: the path, the label column, the positive label value, a categorical
    // column. TOML literal strings hold the payloads as they are.
    let config = format!(
        "seed = 1\n[data]\nsource = \"csv\"\npath = '{data}'\nlabel = '{}'\npositive = '{}'\ncategorical = ['colour </script>']\n[train]\nepochs = 2\nbatch_size = 32\n",
        PAYLOADS[3], PAYLOADS[0]
    );
    write(dir, "hostile.toml", &config);
    write(
        dir,
        "sweep.toml",
        &format!(
            "{config}[sweep]\nmetric = \"val_auc\"\n[sweep.grid]\n\"train.lr\" = [0.001, 0.01]\n"
        ),
    );
    let run_a = "a \"><img src=x onerror=alert(1)><script>alert(1)<";
    let run_b = "b <style>";
    train(dir, &["--config", "hostile.toml", "--out", run_a]);
    train(
        dir,
        &[
            "--config",
            "hostile.toml",
            "--out",
            run_b,
            "--set",
            "train.lr=0.01",
        ],
    );
    let ok = |args: &[&str]| {
        let out = burnfit(dir).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    ok(&[
        "explain",
        "--model",
        run_a,
        "--data",
        &data,
        "--repeats",
        "2",
    ]);
    poison_run_folder(&dir.join(run_a));
    ok(&["report", run_a]);
    ok(&["report", run_a, run_b, "--out", "cmp.html"]);
    let cv = "cv \"><img src=x onerror=alert(1)>";
    ok(&[
        "cv",
        "--config",
        "hostile.toml",
        "--folds",
        "2",
        "--out",
        cv,
    ]);
    let sw = "sweep <script>alert(1)<";
    ok(&["sweep", "--config", "sweep.toml", "--out", sw]);

    // The run: its name, its data's path and columns, the edited history and summary.
    let probe = assert_nothing_injected(&browser, &dir.join(run_a).join("report.html"));
    assert_eq!(probe["h1"], run_a);
    assert_eq!(probe["title"], format!("burnfit · {run_a}"));
    let charts: Vec<&str> = probe["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // A history.csv column that is no metric burnfit records is not drawn at all (the page
    // draws metrics, read through `Metric`), so its name reaches no chart id.
    let poisoned = format!("curve-{}", PAYLOADS[1]);
    let poisoned_val = format!("curve-{}{}", PAYLOADS[2], PAYLOADS[0]);
    for id in [poisoned.as_str(), poisoned_val.as_str()] {
        assert!(!charts.contains(&id), "chart `{id}` drawn: {charts:?}");
    }
    for id in ["curve-loss", "importance", "roc"] {
        assert!(charts.contains(&id), "no chart `{id}` among {charts:?}");
    }
    let text = probe["text"].as_str().unwrap();
    for shown in PAYLOADS {
        assert!(
            text.contains(shown),
            "a/report.html does not show `{shown}` as text"
        );
    }
    assert!(text.contains(&data), "the data path is shown as text");

    // Two runs compared: run names in rows and headers, the data path among the differences.
    let probe = assert_nothing_injected(&browser, &dir.join("cmp.html"));
    assert_eq!(probe["runs"], serde_json::json!([run_a, run_b]));
    let charts = probe["charts"].as_array().unwrap();
    let compared = format!("compare-{}{}", PAYLOADS[2], PAYLOADS[0]);
    assert!(!charts.iter().any(|c| c == compared.as_str()), "{charts:?}");
    assert!(charts.iter().any(|c| c == "compare-loss"), "{charts:?}");

    // The cross-validation and the sweep.
    let probe = assert_nothing_injected(&browser, &dir.join(cv).join("report.html"));
    assert!(probe["text"]
        .as_str()
        .unwrap()
        .contains("<svg onload=alert(1)>.csv"));
    let probe = assert_nothing_injected(&browser, &dir.join(sw).join("report.html"));
    assert_eq!(probe["runs"].as_array().unwrap().len(), 2, "{probe}");
}

#[test]
fn an_edited_run_folder_is_an_error_naming_the_file_not_a_panic() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    write(dir, "small.toml", SMALL);
    train_small(dir, "run", &[]);
    let run = dir.join("run");
    let pristine = |name: &str| fs::read(run.join(name)).unwrap();
    let (summary_before, status_before) = (pristine("summary.json"), pristine("status.json"));

    // More positive rows than rows: an integer underflow in the page before.
    let mut s: Value = serde_json::from_slice(&summary_before).unwrap();
    let rows = s["splits"][0]["rows"].as_u64().unwrap();
    s["splits"][0]["positives"] = (rows + 5).into();
    fs::write(run.join("summary.json"), serde_json::to_vec(&s).unwrap()).unwrap();
    fails(
        dir,
        "more positives than rows",
        &["report", "run"],
        &["run/summary.json", "positive rows but only"],
    );
    fs::write(run.join("summary.json"), &summary_before).unwrap();

    // Files whose read errors were dropped before.
    for (name, text, said) in [
        ("status.json", "{\"status\": ", "run/status.json"),
        ("data.json", "[{\"key\": 3}]", "run/data.json"),
        (
            "outputs.csv",
            "row,target,output,probability\n2,1,0.5,0.6\n",
            "run/outputs.csv",
        ),
        (
            "history.csv",
            "epoch,lr,loss\n2,0.001,0.5\n1,0.001,0.4\n",
            "run/history.csv",
        ),
    ] {
        let before = pristine(name);
        fs::write(run.join(name), text).unwrap();
        fails(dir, name, &["report", "run"], &[said]);
        fs::write(run.join(name), before).unwrap();
    }
    assert_eq!(pristine("status.json"), status_before);
    // explain.json beside an importance.csv.
    fs::create_dir(run.join("explain")).unwrap();
    write(
        &run.join("explain"),
        "importance.csv",
        "feature,importance_mean,importance_sd\nf0,0.1,0.01\n",
    );
    write(&run.join("explain"), "explain.json", "{\"rows\": -1}");
    fails(
        dir,
        "explain.json",
        &["report", "run"],
        &["explain/explain.json"],
    );
    fs::remove_dir_all(run.join("explain")).unwrap();
    // And the folder reads again once the files are back.
    let out = burnfit(dir).args(["report", "run"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A k-class run's page in the browser, with the binary report's checks, plus the per-class
/// table and the k×k confusion matrix counted from `outputs.csv`; one class is named by a
/// payload, which stays text.
#[test]
fn a_k_class_report_shows_the_confusion_matrix_and_per_class_table() {
    let Some(browser) = browser_or_skip("a_k_class_report_shows_the_confusion_matrix") else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Carseats' ShelveLoc, `Good` renamed to a payload.
    let text = fs::read_to_string(common::data("carseats.csv"))
        .unwrap()
        .replace(
            ",Good,",
            &format!(",\"{}\",", PAYLOADS[1].replace('"', "\"\"")),
        );
    write(dir, "shelf.csv", &text);
    write(
        dir,
        "shelf.toml",
        "seed = 4\n[data]\npath = \"shelf.csv\"\nlabel = \"ShelveLoc\"\ncategorical = [\"Urban\", \"US\"]\nnormalize = \"zscore\"\n[train]\nloss = \"cross_entropy\"\nepochs = 15\nbatch_size = 16\n",
    );
    train(dir, &["--config", "shelf.toml", "--out", "run"]);
    let page = dir.join("run/report.html");
    assert_nothing_injected(&browser, &page);
    let v = browser.visit(
        &page,
        &format!(
            "const probe = (() => {{ {PROBE} }})();
probe.conf = [...document.querySelectorAll('figure[data-chart=confusion] tr')]
  .map(r => [...r.querySelectorAll('td b')].map(b => Number(b.textContent)));
probe.perClass = [...document.querySelectorAll('#per-class tr')].slice(1)
  .map(r => [r.querySelector('th').textContent, ...[...r.querySelectorAll('td')].map(d => Number(d.textContent))]);
return probe;"
        ),
    );
    assert_clean("k-class run", &v);
    let s = summary(dir, "run");
    assert_metrics(
        "k-class run",
        &v,
        &s,
        None,
        &["evaluation", "train_metrics"],
    );
    assert_charts(
        "k-class run",
        &v,
        &["confusion", "ovr-roc", "top-label-calibration"],
    );
    // The matrix: 3 × 3 counts adding up to the validation rows; its diagonal over the total is
    // the run's accuracy.
    let conf: Vec<Vec<f64>> = v.probe["conf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap())
                .collect()
        })
        .filter(|r: &Vec<f64>| !r.is_empty())
        .collect();
    assert_eq!(conf.len(), 3, "{conf:?}");
    let total: f64 = conf.iter().flatten().sum();
    let diagonal: f64 = (0..3).map(|i| conf[i][i]).sum();
    assert_eq!(total, 80.0, "{conf:?}");
    let accuracy = s["evaluation"]["accuracy"].as_f64().unwrap();
    assert!(
        (diagonal / total - accuracy).abs() < 1e-9,
        "{conf:?} vs {accuracy}"
    );
    // The per-class table: each class by name (the payload as text), its support its row sum.
    let per_class = v.probe["perClass"].as_array().unwrap();
    let names: Vec<&str> = per_class.iter().map(|r| r[0].as_str().unwrap()).collect();
    let model: Value =
        serde_json::from_slice(&fs::read(dir.join("run/model.json")).unwrap()).unwrap();
    let classes: Vec<&str> = model["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(names, classes);
    assert!(names.contains(&PAYLOADS[1]), "{names:?}");
    for (i, row) in per_class.iter().enumerate() {
        let support = row[4].as_f64().unwrap();
        assert_eq!(support, conf[i].iter().sum::<f64>(), "{row}");
    }
}

/// Runs of several label columns in the browser, with the binary report's checks: the
/// per-label table shows `summary.json`'s figures, each yes/no label has its ROC curve and each
/// target its predicted-against-actual chart; a label column named by a payload stays text.
#[test]
fn reports_of_several_labels_show_the_per_label_table_and_charts() {
    let Some(browser) = browser_or_skip("reports_of_several_labels_show_the_per_label_table")
    else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    // Carseats with `US` renamed to a payload.
    let text = fs::read_to_string(common::data("carseats.csv")).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let hostile = PAYLOADS[1].replace('"', "\"\"");
    let header = format!(
        "{},\"{hostile}\"",
        header
            .strip_suffix(",US")
            .expect("Carseats' last column is US")
    );
    write(dir, "tags.csv", &format!("{header}\n{rest}"));
    let label = serde_json::to_string(PAYLOADS[1]).unwrap();
    for (run, config) in [
        (
            "tags",
            format!("seed = 4\n[data]\npath = \"tags.csv\"\nlabel = [\"Urban\", {label}]\ncategorical = [\"ShelveLoc\"]\nnormalize = \"zscore\"\n[train]\nloss = \"bce\"\nepochs = 10\nbatch_size = 16\nthreshold = \"f1\"\n"),
        ),
        (
            "targets",
            format!("seed = 4\n[data]\npath = \"tags.csv\"\nlabel = [\"Sales\", \"CompPrice\"]\ncategorical = [\"ShelveLoc\", \"Urban\", {label}]\nnormalize = \"zscore\"\n[train]\nloss = \"mse\"\nepochs = 10\nbatch_size = 16\n"),
        ),
    ] {
        write(dir, &format!("{run}.toml"), &config);
        train(dir, &["--config", &format!("{run}.toml"), "--out", run]);
        let page = dir.join(run).join("report.html");
        assert_nothing_injected(&browser, &page);
        let v = browser.visit(
            &page,
            &format!(
                "const probe = (() => {{ {PROBE} }})();
probe.labels = [...document.querySelectorAll('#per-label tr')].slice(1)
  .map(r => r.querySelector('th').textContent);
return probe;"
            ),
        );
        assert_clean(run, &v);
        let s = summary(dir, run);
        assert_metrics(run, &v, &s, None, &["evaluation", "train_metrics"]);
        let per = s["per_label"].as_array().unwrap();
        let shown: Vec<&str> = v.probe["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let names: Vec<&str> = per.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(shown, names, "{run}");
        // Every cell of the per-label table is summary.json's value.
        let cells = v.probe["metrics"].as_array().unwrap();
        for p in per {
            for (k, want) in p["metrics"].as_object().unwrap() {
                let key = format!("per_label.{}.{k}", p["name"].as_str().unwrap());
                let cell = cells
                    .iter()
                    .find(|c| c["key"] == key.as_str())
                    .unwrap_or_else(|| panic!("{run}: no cell {key}"));
                match want.as_f64() {
                    Some(w) => {
                        let got: f64 = cell["value"].as_str().unwrap().parse().unwrap();
                        assert_eq!(got, w, "{run}: {key}");
                    }
                    None => assert_eq!(cell["value"], "null", "{run}: {key}"),
                }
            }
        }
        if run == "tags" {
            assert!(names.contains(&PAYLOADS[1]), "{names:?}");
            assert_charts(run, &v, &["label-roc"]);
        } else {
            assert_charts(run, &v, &["target-0", "target-1"]);
        }
    }
}
