//! A sweep's trials from its `[sweep]` spec: every combination of the grid, each with the
//! random samples, numbered so that trial *i* is the same config on every machine.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{Goal, SweepConfig};

/// One trial: its number and the keys it sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Trial {
    /// 0-based, as `--trial` and Slurm's `--array=0-(N-1)` count.
    pub(crate) index: usize,
    /// Dotted key and the value it takes, as TOML (`train.lr`, `0.003`).
    pub(crate) overrides: Vec<(String, String)>,
}

impl Trial {
    /// `--set key=value` arguments for `train`.
    pub(crate) fn set_args(&self) -> Vec<String> {
        self.overrides
            .iter()
            .flat_map(|(k, v)| ["--set".to_string(), format!("{k}={v}")])
            .collect()
    }
}

/// A spec that cannot be expanded, naming the key at fault.
#[derive(Debug, Error, PartialEq)]
pub(crate) enum SweepError {
    /// A value of the spec is malformed.
    #[error("sweep.{key}: {message}")]
    Bad {
        /// The spec's key (`grid."train.lr"`, `random.trials`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Nothing varies.
    #[error("[sweep] has neither a [sweep.grid] nor a [sweep.random]: there is nothing to vary")]
    Empty,
    /// More trials than anybody means to run.
    #[error("[sweep] expands to {} trials, more than the {MAX_TRIALS} a sweep may have; narrow the grid", if *.0 == u128::MAX { "more than 10^38".to_string() } else { .0.to_string() })]
    TooMany(u128),
}

/// Most trials a sweep may expand to.
pub(crate) const MAX_TRIALS: u128 = 100_000;

/// One random key's distribution.
#[derive(Debug, Clone, PartialEq)]
enum Dist {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    IntUniform(i64, i64),
    Choice(Vec<toml::Value>),
}

impl Dist {
    fn parse(key: &str, v: &toml::Value) -> Result<Self, SweepError> {
        let bad = |message: String| SweepError::Bad {
            key: format!("random.\"{key}\""),
            message,
        };
        let expected = "must be one of { uniform = [lo, hi] }, { log_uniform = [lo, hi] }, { int_uniform = [lo, hi] }, { choice = [a, b, ...] }";
        let t = v
            .as_table()
            .filter(|t| t.len() == 1)
            .ok_or_else(|| bad(expected.into()))?;
        let (kind, arg) = t.iter().next().expect("one entry");
        let arr = arg
            .as_array()
            .ok_or_else(|| bad(format!("{kind}: must be a list")))?;
        let pair = || -> Result<(f64, f64), SweepError> {
            let nums: Vec<f64> = arr
                .iter()
                .map(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64)))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("{kind}: must be two numbers")))?;
            match nums.as_slice() {
                // The width too must be finite: [-1e308, 1e308] is two finite bounds whose
                // difference is not, which the sampler cannot draw from.
                &[lo, hi] if lo.is_finite() && hi.is_finite() && lo < hi => {
                    if (hi - lo).is_finite() {
                        Ok((lo, hi))
                    } else {
                        Err(bad(format!(
                            "{kind}: [{lo}, {hi}] is wider than a 64-bit float can hold ({} apart); narrow it",
                            hi - lo
                        )))
                    }
                }
                _ => Err(bad(format!(
                    "{kind}: must be two numbers [lo, hi] with lo < hi"
                ))),
            }
        };
        match kind.as_str() {
            "uniform" => pair().map(|(a, b)| Dist::Uniform(a, b)),
            "log_uniform" => match pair()? {
                (a, b) if a > 0.0 => Ok(Dist::LogUniform(a, b)),
                _ => Err(bad("log_uniform: both bounds must be > 0".into())),
            },
            "int_uniform" => {
                let ints: Option<Vec<i64>> = arr.iter().map(toml::Value::as_integer).collect();
                match ints.as_deref() {
                    Some(&[a, b]) if a <= b => Ok(Dist::IntUniform(a, b)),
                    _ => Err(bad(
                        "int_uniform: must be two integers [lo, hi] with lo <= hi".into(),
                    )),
                }
            }
            "choice" if !arr.is_empty() => Ok(Dist::Choice(arr.clone())),
            "choice" => Err(bad("choice: must list at least one value".into())),
            _ => Err(bad(expected.into())),
        }
    }

    fn sample(&self, rng: &mut StdRng) -> toml::Value {
        match self {
            Dist::Uniform(a, b) => toml::Value::Float(rng.random_range(*a..*b)),
            Dist::LogUniform(a, b) => toml::Value::Float(rng.random_range(a.ln()..b.ln()).exp()),
            Dist::IntUniform(a, b) => toml::Value::Integer(rng.random_range(*a..=*b)),
            Dist::Choice(v) => v[rng.random_range(0..v.len())].clone(),
        }
    }
}

/// The goal of `spec`: as written, or what is better for its metric.
pub(crate) fn goal(spec: &SweepConfig) -> Goal {
    spec.goal
        .unwrap_or(if crate::metrics::higher_is_better(&spec.metric) {
            Goal::Max
        } else {
            Goal::Min
        })
}

/// Every trial of `spec`: the grid's combinations in the order written (the first key varies
/// slowest), each with `random.trials` samples of the random keys (one with none when there is
/// no `[sweep.random]`). Sample *r* of a combination is drawn from `random.seed` and *r* alone,
/// so adding a grid value leaves the other trials' samples as they were.
pub(crate) fn expand(spec: &SweepConfig) -> Result<Vec<Trial>, SweepError> {
    let axes = grid_axes(spec)?;
    let Random {
        samples,
        seed,
        dists,
    } = random_keys(spec)?;
    if axes.is_empty() && dists.is_empty() {
        return Err(SweepError::Empty);
    }
    // Saturating: twenty keys of a hundred values each already pass u128.
    let combos: u128 = axes
        .iter()
        .map(|a| a.1.len() as u128)
        .fold(samples as u128, u128::saturating_mul);
    if combos > MAX_TRIALS {
        return Err(SweepError::TooMany(combos));
    }
    let grid_points: usize = axes.iter().map(|a| a.1.len()).product();
    let mut trials = Vec::with_capacity(combos as usize);
    for g in 0..grid_points {
        // Mixed-radix digits of g, the last axis fastest.
        let mut rest = g;
        let mut point = vec![String::new(); axes.len()];
        for (k, (_, values)) in axes.iter().enumerate().rev() {
            point[k] = values[rest % values.len()].clone();
            rest /= values.len();
        }
        for r in 0..samples {
            let mut overrides: Vec<(String, String)> = axes
                .iter()
                .zip(&point)
                .map(|((key, _), v)| (key.clone(), v.clone()))
                .collect();
            let mut rng =
                StdRng::seed_from_u64(seed ^ (r as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for (key, d) in &dists {
                overrides.push((key.clone(), d.sample(&mut rng).to_string()));
            }
            trials.push(Trial {
                index: trials.len(),
                overrides,
            });
        }
    }
    Ok(trials)
}

/// `[sweep.grid]`'s keys, each with its values as TOML text, in the order written.
fn grid_axes(spec: &SweepConfig) -> Result<Vec<(String, Vec<String>)>, SweepError> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for (key, values) in &spec.grid {
        let bad = |message: &str| SweepError::Bad {
            key: format!("grid.\"{key}\""),
            message: message.to_string(),
        };
        // A trial's run never reads [sweep]: varying its keys would make identical trials.
        if key == "sweep" || key.starts_with("sweep.") {
            return Err(bad(
                "is a key of the sweep itself, which a trial never reads; vary the keys of the run (train.lr, model.hidden, …)",
            ));
        }
        let list = values
            .as_array()
            .ok_or_else(|| bad("must be a list of the values to try"))?;
        if list.is_empty() {
            return Err(bad("lists no value"));
        }
        axes.push((key.clone(), list.iter().map(ToString::to_string).collect()));
    }
    Ok(axes)
}

/// `[sweep.random]` as [`expand`] draws from it.
struct Random {
    /// Samples per grid combination.
    samples: usize,
    /// Their seed.
    seed: u64,
    /// Each random key's distribution.
    dists: Vec<(String, Dist)>,
}

/// `[sweep.random]`'s samples, seed and distributions; one sample of nothing when there is no
/// `[sweep.random]`.
fn random_keys(spec: &SweepConfig) -> Result<Random, SweepError> {
    Ok(match &spec.random {
        None => Random {
            samples: 1,
            seed: 0,
            dists: Vec::new(),
        },
        Some(r) => {
            let trials = match r.get("trials") {
                Some(t) => t
                    .as_integer()
                    .filter(|&t| t >= 1)
                    .ok_or_else(|| SweepError::Bad {
                        key: "random.trials".into(),
                        message: format!("must be a whole number >= 1, got {t}"),
                    })? as usize,
                None => {
                    return Err(SweepError::Bad {
                        key: "random.trials".into(),
                        message: "is missing: how many samples to draw".into(),
                    })
                }
            };
            let seed = match r.get("seed") {
                Some(s) => s.as_integer().ok_or_else(|| SweepError::Bad {
                    key: "random.seed".into(),
                    message: format!("must be a whole number, got {s}"),
                })? as u64,
                None => 0,
            };
            let dists = r
                .iter()
                .filter(|(k, _)| *k != "trials" && *k != "seed")
                .map(|(k, v)| {
                    if k == "sweep" || k.starts_with("sweep.") {
                        return Err(SweepError::Bad {
                            key: format!("random.\"{k}\""),
                            message: "is a key of the sweep itself, which a trial never reads; vary the keys of the run".into(),
                        });
                    }
                    Ok((k.clone(), Dist::parse(k, v)?))
                })
                .collect::<Result<Vec<_>, SweepError>>()?;
            Random {
                samples: trials,
                seed,
                dists,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SweepConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_grid_expands_to_every_combination_in_written_order() {
        let s = spec("metric = \"val_auc\"\n[grid]\n\"train.lr\" = [0.001, 0.01]\n\"model.hidden\" = [[64], [128, 64]]\n");
        let t = expand(&s).unwrap();
        let sets: Vec<Vec<String>> = t.iter().map(Trial::set_args).collect();
        assert_eq!(t.len(), 4);
        assert_eq!(
            sets[0],
            ["--set", "train.lr=0.001", "--set", "model.hidden=[64]"]
        );
        assert_eq!(
            sets[1],
            ["--set", "train.lr=0.001", "--set", "model.hidden=[128, 64]"]
        );
        assert_eq!(
            sets[3],
            ["--set", "train.lr=0.01", "--set", "model.hidden=[128, 64]"]
        );
        assert_eq!(t.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(goal(&s), Goal::Max);
        assert_eq!(
            goal(&spec("[grid]\nseed = [1]\n")),
            Goal::Min,
            "val_loss by default"
        );
    }

    #[test]
    fn random_samples_are_seeded_in_range_and_the_same_every_time() {
        let text = "[grid]\n\"train.lr\" = [0.001, 0.01]\n[random]\ntrials = 5\nseed = 7\n\"train.weight_decay\" = { log_uniform = [1e-6, 1e-2] }\n\"train.batch_size\" = { int_uniform = [16, 64] }\n\"model.activation\" = { choice = [\"relu\", \"tanh\"] }\n";
        let a = expand(&spec(text)).unwrap();
        assert_eq!(a.len(), 10);
        assert_eq!(
            a,
            expand(&spec(text)).unwrap(),
            "trial i is the same config every time"
        );
        for t in &a {
            let wd: f64 = t.overrides[1].1.parse().unwrap();
            assert!((1e-6..1e-2).contains(&wd), "{wd}");
            let bs: i64 = t.overrides[2].1.parse().unwrap();
            assert!((16..=64).contains(&bs), "{bs}");
            assert!(["\"relu\"", "\"tanh\""].contains(&t.overrides[3].1.as_str()));
        }
        // Sample r is the same for every grid combination, and another seed draws others.
        assert_eq!(a[0].overrides[1..], a[5].overrides[1..]);
        let b = expand(&spec(&text.replace("seed = 7", "seed = 8"))).unwrap();
        assert_ne!(a[0].overrides[1], b[0].overrides[1]);
    }

    #[test]
    fn malformed_specs_name_their_key() {
        for (text, key) in [
            ("[grid]\n\"train.lr\" = 0.1\n", "grid.\"train.lr\""),
            ("[grid]\n\"train.lr\" = []\n", "grid.\"train.lr\""),
            (
                "[random]\n\"train.lr\" = { uniform = [1, 0] }\ntrials = 2\n",
                "random.\"train.lr\"",
            ),
            (
                "[random]\n\"train.lr\" = { log_uniform = [0, 1] }\ntrials = 2\n",
                "random.\"train.lr\"",
            ),
            (
                "[random]\n\"train.lr\" = { normal = [0, 1] }\ntrials = 2\n",
                "random.\"train.lr\"",
            ),
            (
                "[random]\n\"train.lr\" = { uniform = [0, 1] }\n",
                "random.trials",
            ),
            (
                "[random]\ntrials = 0\n\"a\" = { choice = [1] }\n",
                "random.trials",
            ),
        ] {
            let e = expand(&spec(text)).unwrap_err().to_string();
            assert!(e.starts_with(&format!("sweep.{key}")), "{text}: {e}");
        }
        assert_eq!(
            expand(&spec("metric = \"val_loss\"\n")),
            Err(SweepError::Empty)
        );
        let ten = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
        let huge: String = std::iter::once("[grid]\n".to_string())
            .chain(["a", "b", "c", "d", "e", "f"].map(|k| format!("{k} = {ten}\n")))
            .collect();
        assert_eq!(expand(&spec(&huge)), Err(SweepError::TooMany(1_000_000)));
        // 40 keys of 10 values: 10^40 trials, past u128, saturates instead of overflowing.
        let past: String = std::iter::once("[grid]\n".to_string())
            .chain((0..40).map(|k| format!("k{k} = {ten}\n")))
            .collect();
        let e = expand(&spec(&past)).unwrap_err();
        assert_eq!(e, SweepError::TooMany(u128::MAX));
        assert!(e.to_string().contains("more than 10^38"), "{e}");
    }

    #[test]
    fn a_range_wider_than_a_float_is_refused_not_sampled() {
        let text = "[random]\n\"train.lr\" = { uniform = [-1e308, 1e308] }\ntrials = 2\n";
        let e = expand(&spec(text)).unwrap_err().to_string();
        assert!(e.contains("wider than a 64-bit float"), "{e}");
        // The widest integer range is fine: its draws fit in an i64.
        let text = "[random]\n\"data.synthetic.seed\" = { int_uniform = [-9223372036854775808, 9223372036854775807] }\ntrials = 3\n";
        assert_eq!(expand(&spec(text)).unwrap().len(), 3);
    }
}
