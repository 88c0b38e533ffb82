//! `burnfit config --docs`: every key with its type, default and one-line doc.
//!
//! The docs are the schema's own doc comments (`schema.rs`, read at compile time), so there is no
//! second copy to fall behind; the defaults are [`Config::default`]'s values; the accepted
//! words of an enum key are the ones serde's own error lists when the key is given a value no
//! variant has. A test checks that every key a config can hold is listed with a doc.

use std::collections::BTreeMap;

use super::Config;

/// The schema's source, for its doc comments and field types.
const SCHEMA: &str = include_str!("schema.rs");

/// One field of a config struct, as written in `schema.rs`.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    ty: String,
    doc: String,
}

/// Every `pub(crate) struct` of the schema with its fields, in source order.
fn structs() -> BTreeMap<String, Vec<Field>> {
    let mut out: BTreeMap<String, Vec<Field>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut doc: Vec<String> = Vec::new();
    for line in SCHEMA.lines() {
        let t = line.trim();
        if let Some(name) = t
            .strip_prefix("pub(crate) struct ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            doc.clear();
        } else if t == "}" {
            current = None;
            doc.clear();
        } else if let Some(d) = t.strip_prefix("///") {
            doc.push(d.trim().to_string());
        } else if t.starts_with("#[") {
            // Attributes sit between a field's doc and the field.
        } else if let (Some(s), Some(field)) = (&current, t.strip_prefix("pub(crate) ")) {
            if let Some((name, ty)) = field.split_once(": ") {
                out.get_mut(s).expect("entered").push(Field {
                    name: name.to_string(),
                    ty: ty.trim_end_matches(',').to_string(),
                    doc: first_sentence(&doc.join(" ")),
                });
            }
            doc.clear();
        } else {
            doc.clear();
        }
    }
    out
}

/// A doc comment's first sentence: the one line `--docs` has room for.
fn first_sentence(doc: &str) -> String {
    let mut end = doc.len();
    for (i, _) in doc.match_indices(". ") {
        // Not after an abbreviation's dot ("e.g. x").
        if !doc[..i].ends_with("e.g") && !doc[..i].ends_with("i.e") {
            end = i + 1;
            break;
        }
    }
    doc[..end].trim().to_string()
}

/// `Option<T>` → `T`.
fn inner(ty: &str) -> &str {
    ty.strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(ty)
}

/// The type in the user's words.
fn words(ty: &str) -> String {
    match inner(ty) {
        "bool" => "true | false".into(),
        "u64" | "usize" => "integer >= 0".into(),
        "NonZeroUsize" => "integer >= 1".into(),
        "Positive" => "number > 0".into(),
        "NonNegative" => "number >= 0".into(),
        "Finite" => "number".into(),
        "Fraction" => "number, 0 < x < 1".into(),
        "UnitInterval" => "number, 0 <= x <= 1".into(),
        "String" => "text".into(),
        "PathBuf" => "path (relative to the config file)".into(),
        "Vec<String>" => "list of column names".into(),
        "LabelColumns" => "column name, or list of column names".into(),
        "Vec<NonZeroUsize>" => "list of integers >= 1".into(),
        "toml::Table" => "table of dotted key = values".into(),
        "ClassWeight" => "\"none\" | \"balanced\" | [w0, w1]".into(),
        "Threshold" => "number, or \"f1\" | \"youden\" | \"precision>=P\" | \"recall>=R\"".into(),
        other => other.to_string(),
    }
}

/// The words an enum key accepts, from serde's error for a value no variant has; `None` when
/// the key is not an enum.
fn variants(key: &[&str]) -> Option<String> {
    let mut table = toml::Table::try_from(Config::default()).ok()?;
    let mut cur = &mut table;
    for part in &key[..key.len() - 1] {
        cur = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()?;
    }
    cur.insert(
        key[key.len() - 1].to_string(),
        toml::Value::String("\u{1}".into()),
    );
    let err = toml::Value::Table(table).try_into::<Config>().err()?;
    let text = err.to_string();
    let listed = text
        .split("unknown variant")
        .nth(1)?
        .split("expected ")
        .nth(1)?;
    // Up to the end of the list: toml goes on with the key's name, also in backticks.
    let listed = listed.lines().next()?.split(" for key").next()?;
    let names: Vec<String> = listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|v| format!("\"{v}\""))
        .collect();
    (!names.is_empty()).then(|| names.join(" | "))
}

/// Keys whose default depends on other keys, in words (the value [`Config::default`] holds is
/// only one case of it).
const DERIVED: &[(&str, &str)] = &[
    (
        "data.source",
        "\"csv\" when data.path is given, else \"synthetic\"",
    ),
    (
        "data.split.stratify",
        "true for a class label (bce) with a shuffled split, else false",
    ),
    ("train.lr", "0.001 for Adam, 0.01 for SGD (Keras's)"),
];

/// One listed key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyDoc {
    /// Dotted, as in `--set`.
    pub(crate) key: String,
    /// What it accepts.
    pub(crate) ty: String,
    /// Its default (`unset` for an optional key with none).
    pub(crate) default: String,
    /// The schema's one-line doc.
    pub(crate) doc: String,
}

/// Every key a config can hold, in the schema's order.
pub(crate) fn keys() -> Vec<KeyDoc> {
    let structs = structs();
    let defaults = toml::Table::try_from(Config::default()).expect("the default serializes");
    let mut out = Vec::new();
    walk(&structs, "Config", &mut Vec::new(), &defaults, &mut out);
    out
}

fn walk(
    structs: &BTreeMap<String, Vec<Field>>,
    name: &str,
    prefix: &mut Vec<String>,
    defaults: &toml::Table,
    out: &mut Vec<KeyDoc>,
) {
    let Some(fields) = structs.get(name) else {
        return;
    };
    for f in fields {
        if f.name == "warnings" {
            continue; // filled by the loader, never read from a file (`#[serde(skip)]`)
        }
        let ty = inner(&f.ty);
        prefix.push(f.name.clone());
        if structs.contains_key(ty) {
            walk(structs, ty, prefix, defaults, out);
        } else {
            let path: Vec<&str> = prefix.iter().map(String::as_str).collect();
            let key = prefix.join(".");
            let default = match DERIVED.iter().find(|(k, _)| *k == key) {
                Some((_, words)) => (*words).to_string(),
                None => lookup(defaults, &path)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "unset".into()),
            };
            out.push(KeyDoc {
                key,
                ty: variants(&path).unwrap_or_else(|| words(&f.ty)),
                default,
                doc: f.doc.clone(),
            });
        }
        prefix.pop();
    }
}

fn lookup<'a>(table: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = table;
    for p in parents {
        cur = cur.get(*p)?.as_table()?;
    }
    cur.get(*last)
}

/// The text of `burnfit config --docs`.
pub(crate) fn render() -> String {
    let keys = keys();
    let mut out = String::new();
    let mut section = String::new();
    for k in &keys {
        let here = k.key.rsplit_once('.').map_or("", |(s, _)| s).to_string();
        if here != section {
            out.push_str(&format!("\n[{here}]\n"));
            section = here;
        }
        out.push_str(&format!(
            "{}\n    {}; default {}\n    {}\n",
            k.key, k.ty, k.default, k.doc
        ));
    }
    out.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_config_is_listed_with_a_type_a_default_and_a_doc() {
        let keys = keys();
        let find = |k: &str| {
            keys.iter()
                .find(|d| d.key == k)
                .unwrap_or_else(|| panic!("{k} not listed"))
        };
        // Every key the default config writes, and the optional ones it leaves out.
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        let mut written = super::super::rules::Written::default();
        written.add_table(&defaults, "default");
        for k in &keys {
            assert!(!k.doc.is_empty(), "{} has no doc", k.key);
            assert!(!k.ty.is_empty(), "{} has no type", k.key);
        }
        for key in [
            "train.lr",
            "train.grad_clip",
            "data.path",
            "sweep.metric",
            "train.early_stopping.patience",
        ] {
            find(key);
        }
        for (key, _) in written.iter() {
            find(key);
        }
        assert_eq!(find("train.epochs").default, "10");
        assert_eq!(find("train.optimizer").ty, "\"adam\" | \"sgd\"");
        assert_eq!(find("data.normalize").default, "\"zscore\"");
        assert!(find("train.lr").default.contains("Adam"));
        assert!(find("data.split.stratify").default.contains("class label"));
        assert_eq!(find("train.grad_clip").default, "unset");
        assert!(find("train.epochs").doc.starts_with("Passes over"));
    }
}
