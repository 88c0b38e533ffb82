//! The accountant against Opacus's own RDP analysis on a grid of settings: ε, the best order and
//! the RDP at every default order, for Poisson and shuffled schedules, and the noise search's
//! promise, checked by `tests/python/check_accountant.py` with the real `opacus` package.
//!
//! Needs a Python with numpy, scipy and `opacus` (installed `--no-deps`: the check loads
//! Opacus's analysis module by path, without PyTorch): `BURNFIT_PYTHON`, else `python3`.
//! Without one the test says so and passes, unless `BURNFIT_REQUIRE_PYTHON` is set (`.ci/run`
//! sets it, with a venv that has them).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use burnfit_privacy::{default_orders, Sampling, Schedule, EPSILON_TOLERANCE};
use serde_json::{json, Value};

fn script() -> PathBuf {
    // The crate's folder as cargo says when it runs the test: a binary reused from a shared
    // target folder may have been built in another clone, which may be gone.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../tests/python/check_accountant.py")
}

/// A Python that can load Opacus's analysis, or `None` after saying why (a panic instead when
/// `BURNFIT_REQUIRE_PYTHON` is set).
fn python_or_skip(test: &str) -> Option<PathBuf> {
    let candidate =
        std::env::var_os("BURNFIT_PYTHON").map_or_else(|| "python3".into(), PathBuf::from);
    let probe = Command::new(&candidate)
        .arg(script())
        .arg("--probe")
        .output();
    let why = match &probe {
        Ok(out) if out.status.success() => return Some(candidate),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => e.to_string(),
    };
    if std::env::var_os("BURNFIT_REQUIRE_PYTHON").is_some() {
        panic!(
            "BURNFIT_REQUIRE_PYTHON is set but {} cannot load Opacus's RDP analysis: {why}",
            candidate.display()
        );
    }
    // Straight to the process's stderr, not `eprintln!`, which the test harness captures and
    // shows only for a failing test: a skipped check must be seen in a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPING {test}: no Python that can load Opacus's RDP analysis ({}: {why}); \
         `pip install numpy scipy && pip install --no-deps opacus` in a venv and set \
         BURNFIT_PYTHON; set BURNFIT_REQUIRE_PYTHON=1 to make this a failure",
        candidate.display()
    );
    None
}

/// A JSON number, or null for ±∞ (which JSON cannot write; the check reads null as +∞).
fn number(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// One case: what the accountant composes for `steps` steps of `schedule` at σ, and what it
/// computed.
fn case(label: String, schedule: &Schedule, sigma: f64, steps: u64, delta: f64) -> Value {
    let c = schedule.composition(steps);
    let rdp =
        burnfit_privacy::rdp_sampled_gaussian(c.sample_rate, sigma, c.count, &default_orders())
            .unwrap();
    let spent = schedule.epsilon(sigma, steps, delta).unwrap();
    json!({
        "label": label,
        "q": c.sample_rate,
        "sigma": sigma,
        "steps": c.count,
        "delta": delta,
        "epsilon": number(spent.epsilon),
        "order": spent.order,
        "rdp": rdp.into_iter().map(number).collect::<Vec<_>>(),
    })
}

fn grid() -> Value {
    let mut cases = Vec::new();
    // Sampling rates from 1 row in 10,000 to half the table, noise from little to a lot, one
    // step to a long run, two deltas; the rows are 100,000 so that q = batch / rows.
    let rows = 100_000;
    for batch in [10, 100, 250, 1_000, 6_000, 30_000, 50_000] {
        let schedule = Schedule::new(Sampling::Poisson, rows, batch).unwrap();
        for sigma in [0.0, 0.6, 1.0, 1.3, 2.5, 8.0] {
            for steps in [1, 250, 6_000, 60_000] {
                for delta in [1e-5, 1e-8] {
                    let label =
                        format!("poisson q={batch}/{rows} σ={sigma} steps={steps} δ={delta}");
                    cases.push(case(label, &schedule, sigma, steps, delta));
                }
            }
        }
    }
    // Shuffled batches: the plain Gaussian mechanism (q = 1) once per epoch started.
    let shuffled = Schedule::new(Sampling::Shuffle, 60_000, 256).unwrap();
    for sigma in [0.7, 1.0, 3.0, 10.0, 40.0] {
        for steps in [1, 235, 236, 2_350, 23_500] {
            let label = format!("shuffle 60000/256 σ={sigma} steps={steps}");
            cases.push(case(label, &shuffled, sigma, steps, 1e-5));
        }
    }
    // The published reference runs.
    let mnist = Schedule::new(Sampling::Poisson, 60_000, 150).unwrap();
    cases.push(case("MNIST reference".into(), &mnist, 1.3, 6_000, 1e-5));
    let large = Schedule::new(Sampling::Poisson, 100_000, 100).unwrap();
    cases.push(case("100k reference".into(), &large, 1.0, 30_000, 1e-7));

    let mut searches = Vec::new();
    for (schedule, steps) in [(mnist, 6_000), (shuffled, 2_350), (large, 30_000)] {
        for target in [0.5, 1.0, 3.0, 8.0] {
            let delta = 1e-5;
            let sigma = schedule
                .noise_for_target_epsilon(target, steps, delta)
                .unwrap();
            let c = schedule.composition(steps);
            searches.push(json!({
                "label": format!("{:?} {}/{} target ε={target}", schedule.sampling(), schedule.batch_size(), schedule.rows()),
                "q": c.sample_rate,
                "steps": c.count,
                "delta": delta,
                "target": target,
                "sigma": sigma,
                "tolerance": EPSILON_TOLERANCE,
            }));
        }
    }
    json!({ "orders": default_orders(), "cases": cases, "searches": searches })
}

#[test]
fn the_accountant_agrees_with_opacus() {
    let Some(python) = python_or_skip("the_accountant_agrees_with_opacus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grid.json");
    std::fs::write(&file, serde_json::to_vec(&grid()).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(script())
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
}
