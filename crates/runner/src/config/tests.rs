//! The seed config, defaults, errors with their keys, and arbitrary input.

use super::load::parse_override;
use super::*;
use burnfit_model::{AdamSettings, Init, Loss, OptimizerSettings};
use proptest::prelude::*;

#[test]
fn the_seed_config_is_the_keras_seed() {
    let c = Config::from_toml(SEED_CONFIG).unwrap();
    assert_eq!(c.data.source, Source::Synthetic);
    assert_eq!(
        (c.data.synthetic.rows.get(), c.data.synthetic.features.get()),
        (100_000, 100)
    );
    assert_eq!(
        (c.data.missing, c.data.normalize),
        (Missing::Drop, Normalize::L2)
    );
    assert_eq!((c.data.split.train.0, c.data.split.shuffle), (0.8, false));
    assert_eq!(c.model.mlp(100).num_params(), 21_249);
    assert_eq!(c.model.init, Init::GlorotUniform);
    assert_eq!((c.train.epochs.get(), c.train.batch_size.get()), (10, 32));
    assert_eq!(
        c.train.optimizer_settings(),
        OptimizerSettings::Adam(AdamSettings::keras())
    );
}

#[test]
fn empty_text_gives_every_default_and_round_trips() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
}

#[test]
fn errors_name_key_line_and_column() {
    let err = Config::from_toml("[train]\nepochs = 2\nlr = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `train.lr`") && err.contains("line 3, column 6"),
        "{err}"
    );
    let err = Config::from_toml("[model]\nhidden = [128, 0]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.hidden") && err.contains("line 2"),
        "{err}"
    );
    let err = Config::from_toml("[train.early_stopping]\nmonitor = \"val_acc\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train.early_stopping.monitor") && err.contains("val_accuracy"),
        "{err}"
    );
    let err = Config::from_toml("[data]\nsource = \"csv\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.path"), "{err}");
}

#[test]
fn overrides_parse_values_as_toml_or_strings() {
    let (k, v) = parse_override("train.epochs=3", "--set train.epochs=3").unwrap();
    assert_eq!(
        (k, v),
        (
            vec!["train".to_string(), "epochs".to_string()],
            toml::Value::Integer(3)
        )
    );
    assert_eq!(
        parse_override("data.label=Private", "--set data.label=Private")
            .unwrap()
            .1,
        toml::Value::String("Private".into())
    );
    assert!(parse_override("train.epochs", "--set train.epochs").is_err());
    assert!(parse_override("train..epochs=3", "--set train..epochs=3").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(2000)))]
    /// Arbitrary text never panics the config parser: it is a config or an error.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Config::from_toml(&text);
    }

    /// TOML-shaped input with our keys and random values never panics either.
    #[test]
    fn arbitrary_values_for_known_keys_never_panic(
        section in prop::sample::select(vec!["train", "data", "data.split", "data.synthetic", "model", "backend", "output", "train.early_stopping"]),
        key in prop::sample::select(vec!["epochs", "lr", "batch_size", "train", "rows", "hidden", "kind", "dir", "patience", "label", "missing", "informative", "features"]),
        value in prop::sample::select(vec!["0", "-1", "1e400", "nan", "inf", "\"x\"", "[]", "[0]", "true", "1.5", "18446744073709551615", "{}", "\"\""]),
    ) {
        let _ = Config::from_toml(&format!("[{section}]\n{key} = {value}\n"));
    }
}

/// Every key of the schema, in every combination of the settings that decide whether others
/// act: each key either acts (the table below says when, in the user's terms) or is reported by
/// `rules::inert`, never both and never neither. A key added to the schema without a line here
/// fails the test, so none can be silently inert.
// Long: the table of every key, and when it acts, is what this test is.
#[test]
fn every_key_either_acts_or_is_reported_in_every_context() {
    use super::rules::inert;
    type When = fn(&Config) -> bool;
    let always: When = |_| true;
    let csv: When = |c| c.data.source == Source::Csv;
    fn reads_a_file(c: &Config) -> bool {
        c.data.source == Source::Csv
            || c.data.validation_path.is_some()
            || c.data.test_path.is_some()
    }
    let acts: &[(&str, When)] = &[
        ("seed", always),
        ("strict", always),
        ("data.source", always),
        ("data.path", csv),
        ("data.label", csv),
        ("data.positive", |c| {
            c.data.source == Source::Csv && c.train.loss == Loss::Bce && !c.data.label.is_several()
        }),
        ("data.features", csv),
        ("data.exclude", csv),
        ("data.categorical", csv),
        ("data.weight", csv),
        ("data.max_levels", csv),
        ("data.missing", always),
        ("data.fill_value", |c| c.data.missing == Missing::Constant),
        ("data.normalize", always),
        ("data.validation_path", always),
        ("data.test_path", always),
        ("data.cache", reads_a_file),
        ("data.cache_dir", |c| reads_a_file(c) && c.data.cache),
        ("data.split", |c| c.data.validation_path.is_none()),
        ("data.split.train", |c| {
            c.data.validation_path.is_none() && c.data.split.folds.is_none()
        }),
        ("data.split.stratify", |c| c.data.validation_path.is_none()),
        ("data.split.shuffle", |c| {
            c.data.validation_path.is_none() && !c.data.split.stratify
        }),
        ("data.synthetic", |c| c.data.source == Source::Synthetic),
        ("data.synthetic.classes", |c| {
            c.data.source == Source::Synthetic && c.data.synthetic.task == Task::Multiclass
        }),
        ("data.synthetic.labels", |c| {
            c.data.source == Source::Synthetic && c.data.synthetic.task == Task::Multilabel
        }),
        ("model.hidden", always),
        ("model.activation", always),
        ("model.init", always),
        ("train.loss", always),
        ("train.epochs", always),
        ("train.batch_size", always),
        ("train.shuffle", always),
        ("train.optimizer", always),
        ("train.lr", always),
        ("train.momentum", |c| c.train.optimizer == Optimizer::Sgd),
        ("train.beta1", |c| c.train.optimizer == Optimizer::Adam),
        ("train.beta2", |c| c.train.optimizer == Optimizer::Adam),
        ("train.epsilon", |c| c.train.optimizer == Optimizer::Adam),
        ("train.weight_decay", always),
        ("train.grad_clip", always),
        ("train.lr_schedule", always),
        ("train.lr_step_every", |c| {
            c.train.lr_schedule == LrSchedule::Step
        }),
        ("train.lr_gamma", |c| {
            c.train.lr_schedule == LrSchedule::Step
        }),
        ("train.lr_min", |c| {
            c.train.lr_schedule == LrSchedule::Cosine
        }),
        ("train.max_time", always),
        ("train.early_stopping", always),
        ("train.class_weight", |c| c.train.loss != Loss::Mse),
        ("train.threshold", |c| c.train.loss == Loss::Bce),
        ("train.calibrate", |c| c.train.loss != Loss::Mse),
        ("train.label_smoothing", |c| {
            c.train.loss == Loss::CrossEntropy
        }),
        ("backend.kind", always),
        ("backend.device", |c| {
            !matches!(c.backend.kind, BackendKind::Flex | BackendKind::Ndarray)
        }),
        ("backend.flush_denormals", always),
        ("output.dir", always),
        ("footprint", always),
    ];
    // Every key the schema has: the defaults' leaves, and the optional keys they omit.
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    let mut keys: Vec<String> = crate::report::flatten(&defaults).into_keys().collect();
    keys.extend(
        [
            "data.path",
            "data.positive",
            "data.features",
            "data.validation_path",
            "data.test_path",
            "data.cache_dir",
            "data.synthetic.seed",
            "data.weight",
            "data.split.folds",
            "data.split.fold",
            "train.lr",
            "train.grad_clip",
            "train.max_time",
            "train.early_stopping.monitor",
            "footprint.cpu_tdp_watts",
        ]
        .map(String::from),
    );
    // The table's entries are sections or keys; a key is covered by its longest entry.
    let entry = |key: &str| {
        acts.iter()
            .filter(|(k, _)| key == *k || key.starts_with(&format!("{k}.")))
            .max_by_key(|(k, _)| k.len())
            .unwrap_or_else(|| {
                panic!("`{key}` is in the schema but not in this test: say when it acts")
            })
    };
    for source in [Source::Csv, Source::Synthetic] {
        for (loss, optimizer) in [
            (Loss::Bce, Optimizer::Adam),
            (Loss::Mse, Optimizer::Sgd),
            (Loss::CrossEntropy, Optimizer::Adam),
        ] {
            for schedule in [LrSchedule::Constant, LrSchedule::Step, LrSchedule::Cosine] {
                for (missing, kind, cache) in [
                    (Missing::Drop, BackendKind::Flex, true),
                    (Missing::Constant, BackendKind::Wgpu, false),
                ] {
                    for (validation, stratify) in [(false, false), (false, true), (true, false)] {
                        let mut c = Config::default();
                        c.data.source = source;
                        c.train.loss = loss;
                        if loss == Loss::CrossEntropy {
                            c.data.synthetic.task = Task::Multiclass;
                        }
                        c.train.optimizer = optimizer;
                        c.train.lr_schedule = schedule;
                        c.data.missing = missing;
                        c.backend.kind = kind;
                        c.data.cache = cache;
                        c.data.split.stratify = stratify;
                        c.data.validation_path = validation.then(|| "v.csv".into());
                        let reported = inert(&c);
                        for key in &keys {
                            let (_, when) = entry(key);
                            let is_reported = reported
                                .iter()
                                .any(|(k, _)| key == k || key.starts_with(&format!("{k}.")));
                            assert_ne!(
                                when(&c),
                                is_reported,
                                "`{key}` with {source:?} {loss:?} {optimizer:?} {schedule:?} {missing:?} {kind:?} cache={cache} validation={validation} stratify={stratify}: it {} and is {}reported",
                                if when(&c) { "acts" } else { "does not act" },
                                if is_reported { "" } else { "not " },
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn contradictions_are_errors_naming_where_the_key_was_written() {
    for (text, key, words) in [
        (
            "[data]\nsource = \"csv\"\npath = \"d.csv\"\nfeatures = [\"a\"]\nexclude = [\"a\"]\n",
            "data.exclude",
            "use one",
        ),
        (
            "[data]\nsource = \"csv\"\npath = \"d.csv\"\nfeatures = [\"a\", \"a\"]\n",
            "data.features",
            "twice",
        ),
        (
            "[data]\nsource = \"synthetic\"\nfeatures = [\"a\"]\n",
            "data.features",
            "other data source",
        ),
        (
            "[data]\nsource = \"csv\"\npath = \"d.csv\"\n[data.synthetic]\nrows = 5\n",
            "data.synthetic",
            "other data source",
        ),
        (
            "[train]\nlr_schedule = \"cosine\"\nlr_min = 1.0\n",
            "train.lr_min",
            "raise the rate",
        ),
        (
            "[train]\nmax_time = 5\n[train.early_stopping]\nmax_time = 5\n",
            "train.early_stopping.max_time",
            "old name",
        ),
        (
            "[data]\nsource = \"csv\"\npath = \"\"\n",
            "data.path",
            "empty",
        ),
    ] {
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("key `{key}`")) && err.contains(words),
            "{text}: {err}"
        );
    }
    // A warning, not an error, for a key that only cannot act; `strict` makes it one.
    let c = Config::from_toml("[train]\nmomentum = 0.5\n").unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].starts_with("train.momentum: has no effect"),
        "{:?}",
        c.warnings
    );
    let err = Config::from_toml("strict = true\n[train]\nmomentum = 0.5\n").unwrap_err();
    assert!(err.to_string().contains("strict = true"), "{err}");
    // The old place of the time budget still reads, with a warning.
    let c = Config::from_toml("[train.early_stopping]\nmax_time = 9\n").unwrap();
    assert_eq!(c.train.max_time.map(|m| m.0), Some(9.0));
    assert!(
        c.warnings[0].contains("moved to train.max_time"),
        "{:?}",
        c.warnings
    );
}

/// A run folder's `config.toml` from before the key rule listed every key, inert ones too
/// (`data.label` with the synthetic source, `momentum` with Adam): it still opens, silently,
/// since `train` wrote those keys, not the user.
#[test]
fn a_resolved_config_from_an_older_run_still_loads() {
    let tmp = tempfile::TempDir::new().unwrap();
    let path = tmp.path().join("config.toml");
    let old = "seed = 42\n[data]\nsource = \"synthetic\"\nlabel = \"label\"\nexclude = []\nfill_value = 0.0\n[train]\noptimizer = \"adam\"\nmomentum = 0.0\nlr_min = 0.0\n[train.early_stopping]\nmax_time = 60.0\n[backend]\nkind = \"flex\"\ndevice = \"default\"\n";
    std::fs::write(&path, old).unwrap();
    let c = Config::load_resolved(&path, &[]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings.len());
    assert_eq!(c.train.max_time.map(|m| m.0), Some(60.0));
    // The same text as the user's own file: the other source's key is an error.
    assert!(Config::load(Some(&path), &[]).is_err());
}

/// A user's own table gets the choices most tabular pipelines make (z-scores, a shuffled split,
/// stratified for a class label); a config that says otherwise keeps what it says, and a
/// regression is never stratified.
#[test]
fn defaults_for_a_users_table_are_zscore_and_a_stratified_shuffle() {
    let c = Config::from_toml("[data]\npath = \"d.csv\"\nlabel = \"y\"\n").unwrap();
    assert_eq!(c.data.source, Source::Csv, "data.path alone means a file");
    assert_eq!(c.data.normalize, Normalize::Zscore);
    assert!(c.data.split.shuffle && c.data.split.stratify);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = Config::from_toml("[data]\npath = \"d.csv\"\n[data.split]\nshuffle = false\n").unwrap();
    assert!(!c.data.split.shuffle && !c.data.split.stratify);
    let c = Config::from_toml("[data]\npath = \"d.csv\"\n[train]\nloss = \"mse\"\n").unwrap();
    assert!(c.data.split.shuffle && !c.data.split.stratify);
    let c =
        Config::from_toml("[data]\npath = \"d.csv\"\n[data.split]\nstratify = false\n").unwrap();
    assert!(c.data.split.shuffle && !c.data.split.stratify);
    // The choice is written into the resolved config, so a later default cannot change a run.
    let resolved = c.to_toml();
    assert!(resolved.contains("stratify = false"), "{resolved}");
    // A source the user wrote still contradicts a path.
    let err = Config::from_toml("[data]\nsource = \"synthetic\"\npath = \"d.csv\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.path"), "{err}");
}

/// `--set data.path=…` on the built-in seed trains on the file, and no warning names a seed key
/// the user never wrote.
#[test]
fn a_path_set_on_the_builtin_seed_is_a_file_source_without_warnings() {
    let c = Config::load(None, &["data.path=d.csv".into(), "data.label=y".into()]).unwrap();
    assert_eq!(c.data.source, Source::Csv);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The seed alone is unchanged: its own L2 and ordered split.
    let c = Config::load(None, &[]).unwrap();
    assert_eq!(c.data.normalize, Normalize::L2);
    assert!(!c.data.split.shuffle && !c.data.split.stratify);
}

#[test]
fn unknown_keys_and_values_suggest_the_closest() {
    for (text, words) in [
        ("[train]\nepoch = 3\n", "did you mean `epochs`?"),
        ("[train]\nlearning_rate = 0.1\n", "did you mean `lr`?"),
        ("[train]\noptimizer = \"adma\"\n", "did you mean `adam`?"),
        ("[data]\nnormalise = \"l2\"\n", "did you mean `normalize`?"),
    ] {
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(words), "{text}: {err}");
    }
    // Nothing close: the list of valid names, as before.
    let err = Config::from_toml("[train]\nzzzzzz = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected one of"), "{err}");
    let err = Config::load(None, &["train.epoch=3".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `epochs`?"), "{err}");
}

/// Every numeric key of the schema: the defaults' leaves that are numbers or lists of numbers,
/// and the optional numeric keys the defaults omit.
fn numeric_keys() -> Vec<String> {
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    let mut keys: Vec<String> = crate::report::flatten(&defaults)
        .into_iter()
        .filter(|(_, v)| {
            let v = v.trim();
            v.parse::<f64>().is_ok()
                || (v.starts_with('[')
                    && v.trim_matches(['[', ']'])
                        .split(',')
                        .all(|x| x.trim().parse::<f64>().is_ok()))
        })
        .map(|(k, _)| k)
        .collect();
    keys.extend(
        [
            "data.synthetic.seed",
            "data.split.folds",
            "data.split.fold",
            "train.lr",
            "train.grad_clip",
            "train.max_time",
            "train.early_stopping.patience",
            "train.early_stopping.min_delta",
            "train.early_stopping.max_time",
            "train.class_weight",
            "footprint.cpu_tdp_watts",
            "sweep.max_time",
        ]
        .map(String::from),
    );
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn the_numeric_keys_are_found_from_the_schema() {
    let keys = numeric_keys();
    for k in [
        "seed",
        "train.epochs",
        "train.batch_size",
        "model.hidden",
        "data.synthetic.rows",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    assert!(keys.len() > 25, "{keys:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(1000)))]
    /// Extreme values (0, -1, 2^64-1, 1e308, NaN, -0.0, huge lists) for one to three numeric
    /// keys at once, through the path `--set` takes, then the checks that use the sizes before
    /// any allocation (the network's memory estimate, the sweep's expansion): an `Ok` or an
    /// `Err`, never a panic (release builds check overflow, so an unchecked product panics).
    #[test]
    fn extreme_values_for_every_numeric_key_never_panic(
        picks in prop::collection::vec(
            (prop::sample::select(numeric_keys()), 0usize..EXTREMES.len()),
            1..=3,
        ),
    ) {
        let sets: Vec<String> = picks
            .iter()
            .map(|(k, v)| format!("{k}={}", extreme(*v)))
            .collect();
        let outcome = std::panic::catch_unwind(|| {
            if let Ok(mut c) = Config::load(None, &sets) {
                let network = c.model.mlp(100);
                let _ = network.validate();
                let _ = crate::train::check_memory(&c, &network);
                let _ = network.summary("sigmoid");
                let _ = crate::footprint::Flops::of(&network).train_step();
                let _ = c.to_toml();
                if let Some(spec) = c.sweep.take() {
                    let _ = crate::sweep::expand(&spec);
                }
            }
        });
        prop_assert!(outcome.is_ok(), "panicked on --set {}", sets.join(" --set "));
    }
}

/// The extreme values, as TOML written after `--set key=`.
const EXTREMES: [&str; 14] = [
    "0",
    "-1",
    "-0.0",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "5e-324",
    "[4294967295, 4294967295]",
    "[1e308, 1e308]",
    "HUGE_LIST",
];

fn extreme(i: usize) -> String {
    match EXTREMES[i] {
        // Ten thousand entries: a network that deep, or a list where a number belongs.
        "HUGE_LIST" => format!("[{}]", vec!["1"; 10_000].join(", ")),
        v => v.to_string(),
    }
}

#[cfg(unix)]
#[test]
fn a_config_in_a_folder_whose_name_is_not_utf8_is_an_error_naming_the_key() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::TempDir::new().unwrap();
    // "caf\xe9": Latin-1, not UTF-8.
    let dir = tmp.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, "[data]\nsource = \"csv\"\npath = \"d.csv\"\n").unwrap();
    for sets in [vec![], vec!["train.epochs=2".to_string()]] {
        let err = Config::load(Some(&file), &sets).unwrap_err().to_string();
        assert!(
            err.contains("data.path") && err.contains("not valid UTF-8"),
            "{err}"
        );
    }
    // Nothing recorded from the folder's name: the config loads.
    std::fs::write(&file, "[train]\nepochs = 2\n").unwrap();
    assert!(Config::load(Some(&file), &[]).is_ok());
}

/// `sweep.metric` is checked with the rest of the config, not after the trials have run.
#[test]
fn a_sweep_metric_the_runs_never_record_is_refused_when_read() {
    let base = "[data]\nsource = \"synthetic\"\n[sweep]\nmetric = \"val_banana\"\n[sweep.grid]\n\"train.lr\" = [0.001, 0.01]\n";
    let err = Config::from_toml(base).unwrap_err().to_string();
    assert!(
        err.contains("sweep.metric") && err.contains("val_banana") && err.contains("val_auc"),
        "{err}"
    );
    let ok = base.replace("val_banana", "val_auc");
    assert!(Config::from_toml(&ok).is_ok());
}
