//! `data.label`: one label column, or several.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The label columns: one name (`label = "species"`), or a list (`label = ["a", "b"]`) for
/// several yes/no labels (multi-label, `"bce"`) or several numeric targets (multi-output,
/// `"mse"`). Written back as it was given: one name stays a string, so configs and run folders
/// from before lists were allowed read and write the same.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LabelColumns(Vec<String>);

impl LabelColumns {
    /// One column.
    pub(crate) fn one(name: impl Into<String>) -> Self {
        Self(vec![name.into()])
    }

    /// These columns, in this order (the order of the network's outputs).
    pub(crate) fn many(names: Vec<String>) -> Self {
        Self(names)
    }

    /// The names, in output order.
    pub(crate) fn names(&self) -> &[String] {
        &self.0
    }

    /// How many.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `name` is one of them.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    /// Whether there are several (a list of one is one).
    pub(crate) fn is_several(&self) -> bool {
        self.0.len() > 1
    }
}

impl fmt::Display for LabelColumns {
    /// `y`, or `a, b, c`: as messages name them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

impl Serialize for LabelColumns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LabelColumns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a column name, or a list of column names")]
        enum Written {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Written::deserialize(d)? {
            Written::One(name) => Self(vec![name]),
            Written::Many(names) => Self(names),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Holder {
        label: LabelColumns,
    }

    #[test]
    fn one_name_or_a_list_read_and_write_as_given() {
        let one: Holder = toml::from_str("label = \"y\"").unwrap();
        assert_eq!(one.label.names(), ["y"]);
        assert!(!one.label.is_several());
        assert_eq!(toml::to_string(&one).unwrap().trim(), "label = \"y\"");
        let many: Holder = toml::from_str("label = [\"a\", \"b\"]").unwrap();
        assert_eq!(many.label.names(), ["a", "b"]);
        assert!(many.label.is_several());
        assert_eq!(many.label.to_string(), "a, b");
        assert_eq!(
            toml::to_string(&many).unwrap().trim(),
            "label = [\"a\", \"b\"]"
        );
        let err = toml::from_str::<Holder>("label = 3")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a column name, or a list of column names"),
            "{err}"
        );
    }
}
