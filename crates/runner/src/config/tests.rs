//! The seed config, defaults, errors with their keys, and arbitrary input.

use super::load::parse_override;
use super::*;
use burnfit_model::{AdamSettings, Init, OptimizerSettings};
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
    let (k, v) = parse_override("train.epochs=3").unwrap();
    assert_eq!(
        (k, v),
        (
            vec!["train".to_string(), "epochs".to_string()],
            toml::Value::Integer(3)
        )
    );
    assert_eq!(
        parse_override("data.label=Private").unwrap().1,
        toml::Value::String("Private".into())
    );
    assert!(parse_override("train.epochs").is_err());
    assert!(parse_override("train..epochs=3").is_err());
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
