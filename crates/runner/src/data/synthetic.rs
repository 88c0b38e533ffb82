//! The built-in data: a binary or k-class set in the spirit of scikit-learn's
//! `make_classification`, a multi-label set, and a linear regression set, all from a seed.
//!
//! Classes: two clusters per class, centred on distinct vertices of a hypercube of side
//! `2 · class_sep` in the informative subspace (vertices repeat only when the subspace has fewer
//! than 2 · classes of them), each cluster a Gaussian stretched by its own random linear map; the
//! other features are pure N(0, 1) noise; then `label_noise` of the labels are replaced by a
//! fair draw of a class (a coin flip for two). The informative features are the first `informative` columns
//! (`f0`, `f1`, ...) so a reader can check what the model should rely on.
//!
//! Multi-label: N(0, 1) features; label `j` is 1 where a random direction of the informative
//! features, plus Gaussian noise, passes a random cut (each label true for 20 to 50 % of the
//! rows), then `label_noise` of its values are replaced by a coin flip.

use std::io::Write;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::table::{Column, LabelMap, Table};
use crate::config::{SyntheticConfig, Task};

/// What to generate, as plain numbers (from a [`SyntheticConfig`], the one place that checks and
/// defaults them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SyntheticSpec {
    /// Binary, k classes or regression.
    pub(crate) task: Task,
    /// Classes of the k-class task (2 for binary).
    pub(crate) classes: usize,
    /// Label columns of the multi-label task (1 for every other task).
    pub(crate) labels: usize,
    /// Rows.
    pub(crate) rows: usize,
    /// Feature columns.
    pub(crate) features: usize,
    /// Informative columns (the first ones).
    pub(crate) informative: usize,
    /// Cluster distance (binary).
    pub(crate) class_sep: f64,
    /// Share of labels replaced by a coin flip (binary).
    pub(crate) label_noise: f64,
    /// Seed.
    pub(crate) seed: u64,
}

impl SyntheticSpec {
    /// The spec of `[data.synthetic]`; `seed` when the section names none.
    pub(crate) fn from_config(c: &SyntheticConfig, seed: u64) -> Self {
        Self {
            task: c.task,
            classes: match c.task {
                Task::Multiclass => c.classes.get(),
                Task::Binary | Task::Regression | Task::Multilabel => 2,
            },
            labels: match c.task {
                Task::Multilabel => c.labels.get(),
                Task::Binary | Task::Regression | Task::Multiclass => 1,
            },
            rows: c.rows.get(),
            features: c.features.get(),
            informative: c.informative.get(),
            class_sep: c.class_sep.0,
            label_noise: c.label_noise.0,
            seed: c.seed.unwrap_or(seed),
        }
    }
}

/// Row-major features and labels (the tests compare files and tables with them).
#[cfg(test)]
pub(crate) struct Generated {
    /// `rows × features`, row-major.
    pub(crate) x: Vec<f32>,
    /// `rows × labels` labels, row-major (one per row but for multi-label).
    pub(crate) y: Vec<f32>,
}

fn normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

/// Generates the data. The same spec always gives the same numbers.
#[cfg(test)]
pub(crate) fn generate(spec: &SyntheticSpec) -> Generated {
    let mut x = Vec::with_capacity(spec.rows * spec.features);
    let mut y = Vec::with_capacity(spec.rows);
    let _ = generate_rows(spec, |row, labels| {
        x.extend_from_slice(row);
        y.extend_from_slice(labels);
        Ok::<(), std::convert::Infallible>(())
    });
    Generated { x, y }
}

/// Generates the data one row at a time into `emit` (features, labels), so a large set can be
/// written without holding it: memory is one row, plus 8 bytes a row for the binary task's
/// shuffled cluster assignment. The same spec always gives the same rows as [`generate`].
// Long because one arm per task, each its own generator (and the arms share the seeded stream).
pub(crate) fn generate_rows<E>(
    spec: &SyntheticSpec,
    mut emit: impl FnMut(&[f32], &[f32]) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let (n, f, k) = (
        spec.rows,
        spec.features,
        spec.informative.min(spec.features),
    );
    let mut row = vec![0f32; f];
    match spec.task {
        Task::Binary | Task::Multiclass => {
            // Distinct hypercube vertices, two per class: clusters 0, 1 are class 0; 2, 3 are
            // class 1; and so on.
            let clusters = 2 * spec.classes;
            let distinct = k >= 64 || (1usize << k) >= clusters;
            let mut vertices: Vec<Vec<f64>> = Vec::new();
            while vertices.len() < clusters {
                let v: Vec<f64> = (0..k)
                    .map(|_| {
                        if rng.random_bool(0.5) {
                            spec.class_sep
                        } else {
                            -spec.class_sep
                        }
                    })
                    .collect();
                if !vertices.contains(&v) || k < 2 || !distinct {
                    vertices.push(v);
                }
            }
            let maps: Vec<Vec<f64>> = (0..clusters)
                .map(|_| (0..k * k).map(|_| rng.random_range(-1.0..1.0)).collect())
                .collect();
            // Balanced classes, then shuffled, as scikit-learn does.
            let mut assignment: Vec<usize> = (0..n).map(|i| i % clusters).collect();
            assignment.shuffle(&mut rng);
            let mut z = vec![0f64; k];
            for &c in &assignment {
                for zj in z.iter_mut() {
                    *zj = normal(&mut rng);
                }
                for j in 0..k {
                    let mixed: f64 = (0..k).map(|l| z[l] * maps[c][l * k + j]).sum();
                    row[j] = (mixed + vertices[c][j]) as f32;
                }
                for v in row[k..].iter_mut() {
                    *v = normal(&mut rng) as f32;
                }
                let mut y = (c / 2) as f32;
                if rng.random_bool(spec.label_noise) {
                    y = if spec.classes == 2 {
                        if rng.random_bool(0.5) {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        rng.random_range(0..spec.classes) as f32
                    };
                }
                emit(&row, &[y])?;
            }
        }
        Task::Multilabel => {
            let labels = spec.labels;
            let directions: Vec<Vec<f64>> = (0..labels)
                .map(|_| (0..k).map(|_| normal(&mut rng)).collect())
                .collect();
            // A cut at the 50th to 80th percentile of w·x ~ N(0, ‖w‖²) (noise included).
            let cuts: Vec<f64> = directions
                .iter()
                .map(|w| {
                    let sd = (w.iter().map(|v| v * v).sum::<f64>() + 0.25).sqrt();
                    rng.random_range(0.0..0.84) * sd
                })
                .collect();
            let mut y = vec![0f32; labels];
            for _ in 0..n {
                for v in row.iter_mut() {
                    *v = normal(&mut rng) as f32;
                }
                for ((yj, w), cut) in y.iter_mut().zip(&directions).zip(&cuts) {
                    let score: f64 =
                        (0..k).map(|l| row[l] as f64 * w[l]).sum::<f64>() + 0.5 * normal(&mut rng);
                    *yj = f32::from(u8::from(score > *cut));
                    if rng.random_bool(spec.label_noise) {
                        *yj = f32::from(u8::from(rng.random_bool(0.5)));
                    }
                }
                emit(&row, &y)?;
            }
        }
        Task::Regression => {
            let w: Vec<f64> = (0..k).map(|_| normal(&mut rng)).collect();
            for _ in 0..n {
                for v in row.iter_mut() {
                    *v = normal(&mut rng) as f32;
                }
                let signal: f64 = (0..k).map(|j| row[j] as f64 * w[j]).sum();
                emit(&row, &[(signal + 0.1 * normal(&mut rng)) as f32])?;
            }
        }
    }
    Ok(())
}

/// Writes the data as CSV (header `f0,...,label`, or `...,label_1,...,label_L` for
/// multi-label) straight from [`generate_rows`].
pub(crate) fn write_csv(spec: &SyntheticSpec, out: &mut dyn Write) -> std::io::Result<()> {
    let mut header = feature_names(spec.features);
    header.extend(label_names(spec));
    writeln!(out, "{}", header.join(","))?;
    let mut line = String::new();
    let mut written = 0_u64;
    generate_rows(spec, |row, labels| {
        use std::fmt::Write as _;
        // A long write stops at a stop signal; its temporary is then removed.
        written += 1;
        if written.is_multiple_of(4096) {
            crate::stop::check().map_err(std::io::Error::other)?;
        }
        line.clear();
        for v in row {
            let _ = write!(line, "{v},");
        }
        match spec.task {
            Task::Binary | Task::Multiclass | Task::Multilabel => {
                let classes: Vec<String> =
                    labels.iter().map(|&y| (y as usize).to_string()).collect();
                line.push_str(&classes.join(","));
            }
            Task::Regression => {
                let _ = write!(line, "{}", labels[0]);
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())
    })
}

/// Bytes of memory that [`generate_rows`] needs for `spec` beyond one row.
pub(crate) fn stream_bytes(spec: &SyntheticSpec) -> u64 {
    match spec.task {
        Task::Binary | Task::Multiclass => (spec.rows as u64).saturating_mul(8),
        Task::Regression | Task::Multilabel => 0,
    }
}

/// The label columns' names: `label`, or `label_1`…`label_L` for multi-label.
pub(crate) fn label_names(spec: &SyntheticSpec) -> Vec<String> {
    match spec.task {
        Task::Multilabel => (1..=spec.labels).map(|j| format!("label_{j}")).collect(),
        Task::Binary | Task::Multiclass | Task::Regression => vec!["label".into()],
    }
}

/// Column names: `f0`, `f1`, ...
pub(crate) fn feature_names(features: usize) -> Vec<String> {
    (0..features).map(|j| format!("f{j}")).collect()
}

/// Generates the data straight into a [`Table`] (features `f0..`, labels [`label_names`]), rows
/// numbered as the CSV that [`write_csv`] would write: the columns fill as the rows come, so no
/// row-major copy of the set is held on the way.
pub(crate) fn generate_table(spec: &SyntheticSpec) -> Table {
    let (n, features) = (spec.rows, spec.features);
    let mut values: Vec<Vec<f32>> = (0..features).map(|_| Vec::with_capacity(n)).collect();
    let mut labels = Vec::with_capacity(n * spec.labels);
    let _ = generate_rows(spec, |row, label| {
        for (column, &v) in values.iter_mut().zip(row) {
            column.push(v);
        }
        labels.extend_from_slice(label);
        Ok::<(), std::convert::Infallible>(())
    });
    let names = feature_names(features);
    let columns = names
        .iter()
        .zip(values)
        .map(|(name, values)| Column::Numeric {
            name: name.clone(),
            values: values.into(),
        })
        .collect();
    let mut header = names;
    header.extend(label_names(spec));
    Table {
        origin: "synthetic data".into(),
        header,
        columns,
        label_names: label_names(spec),
        labels: Some(labels.into()),
        label_map: Some(match spec.task {
            Task::Binary => LabelMap::Binary {
                positive: "1".into(),
                negative: Some("0".into()),
            },
            Task::Regression => LabelMap::Regression,
            Task::Multiclass => LabelMap::Classes {
                classes: (0..spec.classes).map(|c| c.to_string()).collect(),
            },
            Task::Multilabel => LabelMap::Labels {
                names: label_names(spec),
            },
        }),
        rows: (2..n as u64 + 2).collect(),
        checksum: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> SyntheticSpec {
        SyntheticSpec {
            task: Task::Binary,
            classes: 2,
            labels: 1,
            rows: 500,
            features: 6,
            informative: 3,
            class_sep: 1.0,
            label_noise: 0.01,
            seed,
        }
    }

    fn csv_bytes(s: &SyntheticSpec) -> Vec<u8> {
        let mut out = Vec::new();
        write_csv(s, &mut out).unwrap();
        out
    }

    #[test]
    fn same_seed_gives_byte_identical_csv_and_another_seed_does_not() {
        assert_eq!(csv_bytes(&spec(3)), csv_bytes(&spec(3)));
        assert_ne!(csv_bytes(&spec(3)), csv_bytes(&spec(4)));
    }

    #[test]
    fn binary_labels_are_balanced_and_the_csv_reads_back() {
        let g = generate(&spec(5));
        let ones = g.y.iter().filter(|&&v| v == 1.0).count();
        assert!((200..300).contains(&ones), "{ones} positives of 500");
        let bytes = csv_bytes(&spec(5));
        let table = Table::from_reader(
            &bytes[..],
            "synthetic.csv",
            &crate::data::LoadSpec {
                labels: vec!["label".into()],
                label_column: crate::data::LabelColumn::Required,
                label_rule: crate::data::LabelRule::InferBinary { positive: None },
                selection: crate::data::Selection::AllExcept(vec![]),
                categorical: vec![],
            },
        )
        .unwrap();
        assert_eq!(table.len(), 500);
        assert_eq!(*table.labels.unwrap(), g.y);
        match &table.columns[2] {
            Column::Numeric { values, .. } => assert_eq!(values[7], g.x[7 * 6 + 2]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn regression_target_follows_the_informative_features() {
        let s = SyntheticSpec {
            task: Task::Regression,
            ..spec(6)
        };
        let g = generate(&s);
        let var = |v: &[f32]| {
            let m = v.iter().sum::<f32>() / v.len() as f32;
            v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32
        };
        // Signal variance is Σ w² (three N(0,1) weights); the noise adds only 0.01.
        assert!(var(&g.y) > 0.05, "{}", var(&g.y));
    }
}

#[cfg(test)]
mod multiclass_tests {
    use super::*;

    /// k classes of balanced size (two clusters each, a shuffled assignment), labels 0..k; with
    /// fewer informative features than 2k vertices need (2 features, 4 vertices, 10 clusters)
    /// vertices repeat instead of the search never ending.
    #[test]
    fn k_classes_come_balanced_and_any_informative_width_works() {
        for informative in [2, 6] {
            let spec = SyntheticSpec {
                task: Task::Multiclass,
                classes: 5,
                labels: 1,
                rows: 1000,
                features: 8,
                informative,
                class_sep: 1.0,
                label_noise: 0.0,
                seed: 3,
            };
            let g = generate(&spec);
            let mut counts = [0usize; 5];
            for &y in &g.y {
                counts[y as usize] += 1;
            }
            assert_eq!(counts, [200; 5], "informative {informative}");
        }
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn the_table_holds_the_generated_rows_column_by_column() {
        for (task, classes, labels) in [
            (Task::Binary, 2, 1),
            (Task::Regression, 2, 1),
            (Task::Multiclass, 5, 1),
            (Task::Multilabel, 2, 3),
        ] {
            let spec = SyntheticSpec {
                task,
                classes,
                labels,
                rows: 50,
                features: 4,
                informative: 2,
                class_sep: 1.0,
                label_noise: 0.01,
                seed: 11,
            };
            let g = generate(&spec);
            let t = generate_table(&spec);
            assert_eq!(t.labels.as_deref(), Some(&g.y[..]));
            for (j, c) in t.columns.iter().enumerate() {
                let Column::Numeric { values, .. } = c else {
                    panic!("{c:?}")
                };
                let want: Vec<f32> = (0..50).map(|i| g.x[i * 4 + j]).collect();
                assert_eq!(&values[..], &want[..], "{task:?} column {j}");
            }
        }
    }
}

#[cfg(test)]
mod multilabel_tests {
    use super::*;

    /// Every label is 0 or 1 and neither value is rare (the cuts sit between the 50th and the
    /// 80th percentile); the labels differ from each other; the CSV names them `label_1`….
    #[test]
    fn labels_are_zero_or_one_and_each_has_both_values() {
        let spec = SyntheticSpec {
            task: Task::Multilabel,
            classes: 2,
            labels: 4,
            rows: 2000,
            features: 8,
            informative: 5,
            class_sep: 1.0,
            label_noise: 0.01,
            seed: 9,
        };
        let g = generate(&spec);
        assert_eq!(g.y.len(), 2000 * 4);
        assert!(g.y.iter().all(|&v| v == 0.0 || v == 1.0));
        for j in 0..4 {
            let ones = (0..2000).filter(|i| g.y[i * 4 + j] == 1.0).count();
            assert!((300..1100).contains(&ones), "label {j}: {ones} of 2000");
        }
        let column = |j: usize| (0..2000).map(|i| g.y[i * 4 + j]).collect::<Vec<_>>();
        assert_ne!(column(0), column(1));
        let mut out = Vec::new();
        write_csv(&spec, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("f0,f1,f2,f3,f4,f5,f6,f7,label_1,label_2,label_3,label_4\n"));
    }
}
