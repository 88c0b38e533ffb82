//! Private training (`[privacy]`, DP-SGD): a private run trains end to end and states (ε, δ)
//! in its log and `summary.json`, a target ε is met by the σ searched for, and settings that
//! would break or misstate the guarantee are refused before anything is written.

mod common;

use common::*;
use tempfile::TempDir;

/// SMALL with `[privacy]` `extra` keys.
fn private(extra: &str) -> String {
    format!("{SMALL}\n[privacy]\n{extra}\n")
}

#[test]
fn a_private_run_states_its_epsilon_in_the_log_and_the_summary() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(
        d,
        "p.toml",
        &private("noise_multiplier = 1.1\nmax_grad_norm = 1.0"),
    );
    let out = train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    let err = stderr(&out);
    assert!(
        err.contains("privacy: DP-SGD, σ = 1.1, C = 1, δ = 1e-4"),
        "{err}"
    );
    // Every epoch's line says the ε spent so far; the last one is the summary's.
    let epsilons: Vec<f64> = err
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| {
            let at = l.find("ε ").expect("an ε on every epoch line") + "ε ".len();
            l[at..].split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(epsilons.len(), 3, "{err}");
    assert!(epsilons.windows(2).all(|w| w[0] < w[1]), "{epsilons:?}");
    let p = &summary(d, "run")["privacy"];
    let eps = p["epsilon"].as_f64().unwrap();
    assert!((eps - epsilons[2]).abs() < 1e-4, "{eps} vs {epsilons:?}");
    assert_eq!(p["delta"], 1e-4);
    assert_eq!(p["sampling"], "poisson");
    // 1600 training rows in expected batches of 64: 25 steps an epoch.
    assert_eq!(p["steps"], 75);
    assert!(p["covers"].as_str().unwrap().contains("Not covered"));
    assert!(err.contains("(ε = "), "{err}");
    // The report says it, and what it means.
    let page = std::fs::read_to_string(d.join("run/report.html")).unwrap();
    assert!(page.contains("differentially private") && page.contains("smaller ε is stronger"));
}

#[test]
fn a_target_epsilon_is_met_by_the_noise_searched_for() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cfg = write(d, "p.toml", &private("target_epsilon = 2.0"));
    let out = train(d, &["--config", cfg.to_str().unwrap(), "--out", "run"]);
    assert!(
        stderr(&out).contains("(the smallest reaching ε = 2 after the planned epochs)"),
        "{}",
        stderr(&out)
    );
    let eps = summary(d, "run")["privacy"]["epsilon"].as_f64().unwrap();
    // Opacus's search: at most the target, within its tolerance of 0.01 below.
    assert!(eps <= 2.0 && eps > 2.0 - 0.02, "{eps}");
}

#[test]
fn settings_that_break_or_misstate_the_guarantee_are_refused_before_a_run_folder() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "no noise",
            "noise_multiplier = 0.0",
            &["privacy.noise_multiplier", "> 0"],
        ),
        (
            "σ past f32",
            "noise_multiplier = 1e308",
            &["privacy.noise_multiplier"],
        ),
        (
            "a target no noise meets",
            "target_epsilon = 1e308",
            &["32-bit arithmetic", "below 100"],
        ),
        (
            "both",
            "noise_multiplier = 1.0\ntarget_epsilon = 3.0",
            &["privacy", "exactly one"],
        ),
        (
            "neither",
            "max_grad_norm = 1.0",
            &["privacy", "exactly one"],
        ),
        (
            "delta at 1/n",
            "noise_multiplier = 1.0\ndelta = 0.001",
            &["privacy.delta"],
        ),
        (
            "unreachable",
            "target_epsilon = 0.001",
            &["privacy.target_epsilon"],
        ),
        (
            "unknown key",
            "noise_multiplier = 1.0\nclip = 1.0",
            &["clip"],
        ),
    ];
    for (case, extra, expect) in cases {
        let cfg = write(d, "p.toml", &private(extra));
        fails(
            d,
            case,
            &["train", "--config", cfg.to_str().unwrap(), "--out", "run"],
            expect,
        );
        assert!(!d.join("run").exists(), "{case}: a run folder was made");
    }
    let balanced = SMALL.replace("[train]", "[train]\nclass_weight = \"balanced\"");
    let cfg = write(
        d,
        "p.toml",
        &format!("{balanced}\n[privacy]\nnoise_multiplier = 1.0\n"),
    );
    fails(
        d,
        "class_weight balanced",
        &["train", "--config", cfg.to_str().unwrap(), "--out", "run"],
        &["train.class_weight", "private labels"],
    );
}

#[test]
fn a_sweep_ranks_only_trials_within_its_epsilon_budget() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    // σ = 0.6 spends about 8.6 over these 75 steps, σ = 2 about 0.7: only the second fits.
    let text = private("noise_multiplier = 1.0")
        + "\n[sweep]\nmetric = \"val_auc\"\nmax_epsilon = 4.0\n[sweep.grid]\n\"privacy.noise_multiplier\" = [0.6, 2.0]\n";
    let cfg = write(d, "sw.toml", &text);
    let out = burnfit(d)
        .args(["sweep", "--config", cfg.to_str().unwrap(), "--out", "sw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = std::fs::read_to_string(d.join("sw/sweep.csv")).unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains(",epsilon,"), "{table}");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("0,\"finished, over the ε budget\",0.6,,"),
        "{table}"
    );
    let best = std::fs::read_to_string(d.join("sw/best.toml")).unwrap();
    assert!(
        best.starts_with("# The best trial of the sweep in sw: trial 1,"),
        "{best}"
    );
}
