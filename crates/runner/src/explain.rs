//! Why the model decides: permutation importance per source column and gradient × input per
//! row.
//!
//! Permutation importance (Breiman 2001; scikit-learn's `permutation_importance`) shuffles one
//! column's values across rows, which keeps its distribution and breaks its link to the label,
//! and measures how much the metric worsens; repeated with several seeds, it gives a mean and a
//! spread. A one-hot categorical column is shuffled as a whole (its inputs move together), so
//! importance is per column of the user's file, not per input of the network.
//!
//! Gradient × input (Shrikumar et al. 2016) is local: for one row, each input's value times the
//! derivative of the raw output (the logit, for BCE) with respect to it, on the normalized
//! inputs the network sees.

use std::ops::Range;

use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::Mlp;

use crate::head::Head;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::data::preprocess::FeatureSpec;
use crate::data::{Matrix, Preprocessor};
use crate::metrics;
use crate::train;

/// One source column's permutation importance.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Importance {
    /// The column of the user's file.
    pub(crate) feature: String,
    /// Mean worsening of the metric when the column is shuffled (positive: the model uses it).
    pub(crate) mean: f64,
    /// Standard deviation over the repeats.
    pub(crate) sd: f64,
    /// Each repeat's worsening.
    pub(crate) drops: Vec<f64>,
}

/// Each source column and the network inputs it feeds.
pub(crate) fn column_groups(pre: &Preprocessor) -> Vec<(String, Range<usize>)> {
    let mut at = 0;
    pre.features
        .iter()
        .map(|f| {
            let (name, width) = match f {
                FeatureSpec::Numeric { name, .. } => (name.clone(), 1),
                FeatureSpec::Categorical { name, levels } => (name.clone(), levels.len()),
            };
            let r = at..at + width;
            at += width;
            (name, r)
        })
        .collect()
}

/// The value of `metric` for `model` on `m`.
fn score(
    model: &Mlp,
    m: &Matrix,
    (head, thresholds): (Head, &[f64]),
    metric: &str,
    device: &Device,
) -> f64 {
    train::evaluate(model, m, head, thresholds, device)
        .into_iter()
        .find(|(k, _)| *k == metric)
        .map_or(f64::NAN, |(_, v)| v)
}

/// How many shuffles per column, from which seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shuffles {
    /// Shuffles per column.
    pub(crate) repeats: usize,
    /// Seed of the first.
    pub(crate) seed: u64,
}

/// Permutation importance of every column of `groups` for `metric` (a metric of `head`'s
/// runs, at these decision thresholds), sorted most important first. Returns the baseline
/// score too.
pub(crate) fn permutation_importance(
    model: &Mlp,
    m: &Matrix,
    groups: &[(String, Range<usize>)],
    (head, metric, thresholds): (Head, &str, &[f64]),
    Shuffles { repeats, seed }: Shuffles,
    device: &Device,
) -> (f64, Vec<Importance>) {
    let baseline = score(model, m, (head, thresholds), metric, device);
    let sign = if metrics::higher_is_better(metric) {
        1.0
    } else {
        -1.0
    };
    let mut shuffled = m.clone();
    let mut out: Vec<Importance> = groups
        .iter()
        .enumerate()
        .map(|(g, (name, cols))| {
            let drops: Vec<f64> = (0..repeats)
                .map(|r| {
                    // The seed depends on the column and the repeat, so adding a column does
                    // not change the others' shuffles.
                    let mut rng = StdRng::seed_from_u64(
                        seed ^ ((g as u64) << 32) ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let mut order: Vec<usize> = (0..m.rows).collect();
                    order.shuffle(&mut rng);
                    for (i, &src) in order.iter().enumerate() {
                        for c in cols.clone() {
                            shuffled.x[i * m.width + c] = m.x[src * m.width + c];
                        }
                    }
                    let s = score(model, &shuffled, (head, thresholds), metric, device);
                    sign * (baseline - s)
                })
                .collect();
            // Restore the column for the next one.
            for i in 0..m.rows {
                for c in cols.clone() {
                    shuffled.x[i * m.width + c] = m.x[i * m.width + c];
                }
            }
            let (mean, sd) = crate::metrics::mean_sd(&drops);
            Importance {
                feature: name.clone(),
                mean,
                sd,
                drops,
            }
        })
        .collect();
    out.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    (baseline, out)
}

/// Gradient × input of one raw output for each of `rows` (indices into `m`), one value per
/// network input: of output `output` when given (one of several labels or targets), else of
/// the one output, or for a k-class softmax of the predicted class's logit (the first
/// largest). `model` must live on an autodiff device.
pub(crate) fn gradient_x_input(
    model: &Mlp,
    m: &Matrix,
    rows: &[usize],
    output: Option<usize>,
    ad: &Device,
) -> Vec<Vec<f32>> {
    let x_host = m.gather(rows);
    let x = Tensor::<2>::from_data(TensorData::new(x_host.clone(), [rows.len(), m.width]), ad)
        .require_grad();
    let mut out = model.forward(x.clone()); // [rows, k]
    let k = model.output_width();
    if k > 1 {
        // Only the chosen output, or the predicted class's logit: a one-hot mask, a constant
        // of the graph.
        let chosen = match output {
            Some(j) => vec![j; rows.len()],
            None => {
                let z = crate::train::host(out.clone().inner().into_data());
                crate::metrics::classes::predicted(&z, k)
            }
        };
        let mut mask = vec![0f32; rows.len() * k];
        for (i, c) in chosen.into_iter().enumerate() {
            mask[i * k + c] = 1.0;
        }
        out = out * Tensor::<2>::from_data(TensorData::new(mask, [rows.len(), k]), ad);
    }
    // Rows are independent, so the gradient of the sum is each row's own gradient.
    let grads = out.sum().backward();
    let g = x
        .grad(&grads)
        .expect("the input requires a gradient")
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32");
    g.iter()
        .zip(&x_host)
        .map(|(g, x)| g * x)
        .collect::<Vec<f32>>()
        .chunks(m.width)
        .map(<[f32]>::to_vec)
        .collect()
}

/// A horizontal bar chart of the `top` importances, with ±sd whiskers, as SVG.
pub(crate) fn importance_svg(
    importances: &[Importance],
    metric: &str,
    top: usize,
) -> anyhow::Result<String> {
    let bars: Vec<(String, f64, f64)> = importances
        .iter()
        .take(top)
        .map(|i| (i.feature.clone(), i.mean, i.sd))
        .collect();
    Ok(crate::report::svg::bars_with_errors(
        &format!("Permutation importance: drop in {metric} when shuffled"),
        &format!("drop in {metric} (mean ± sd)"),
        &bars,
    )?
    .into_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burnfit_model::MlpConfig;

    /// A network whose output is `3·x0 − 1·x1` (no hidden layer), so the importances and
    /// attributions are known.
    fn linear_model(device: &Device) -> Mlp {
        let mut model = MlpConfig::new(3)
            .with_hidden(vec![])
            .init(device, 0)
            .unwrap();
        let layer = &mut model.layers[0];
        layer.weight = burn::module::Param::from_tensor(Tensor::<2>::from_data(
            TensorData::new(vec![3.0f32, -1.0, 0.0], [3, 1]),
            device,
        ));
        layer.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::zeros(
            [1],
            device,
        )));
        model
    }

    fn matrix() -> Matrix {
        let rows = 400;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..rows {
            let a = ((i * 37) % 100) as f32 / 50.0 - 1.0;
            let b = ((i * 53) % 100) as f32 / 50.0 - 1.0;
            let c = ((i * 71) % 100) as f32 / 50.0 - 1.0;
            x.extend([a, b, c]);
            y.push(if 3.0 * a - b > 0.0 { 1.0 } else { 0.0 });
        }
        Matrix {
            x: x.into(),
            y: y.into(),
            y_width: 1,
            rows,
            width: 3,
            source_rows: (2..rows as u64 + 2).collect(),
        }
    }

    #[test]
    fn the_strong_input_ranks_first_and_an_unused_one_has_no_importance() {
        let device = Device::flex();
        let model = linear_model(&device);
        let groups: Vec<(String, Range<usize>)> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i..i + 1))
            .collect();
        let (baseline, imp) = permutation_importance(
            &model,
            &matrix(),
            &groups,
            (Head::Binary, "accuracy", &[0.5]),
            Shuffles {
                repeats: 4,
                seed: 1,
            },
            &device,
        );
        assert_eq!(baseline, 1.0);
        let names: Vec<&str> = imp.iter().map(|i| i.feature.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(imp[0].mean > 0.2 && imp[1].mean > 0.0, "{imp:?}");
        // Shuffling a column the model ignores changes nothing, exactly.
        assert_eq!((imp[2].mean, imp[2].sd), (0.0, 0.0));
    }

    #[test]
    fn gradient_times_input_of_a_linear_model_is_weight_times_value() {
        let ad = Device::flex().autodiff();
        let model = linear_model(&ad);
        let m = matrix();
        let attr = gradient_x_input(&model, &m, &[0, 5], None, &ad);
        for (k, &r) in [0usize, 5].iter().enumerate() {
            let x = &m.x[r * 3..r * 3 + 3];
            let want = [3.0 * x[0], -x[1], 0.0];
            for j in 0..3 {
                assert!(
                    (attr[k][j] - want[j]).abs() < 1e-6,
                    "{:?} vs {want:?}",
                    attr[k]
                );
            }
        }
    }
}
