//! Metrics of several numeric targets (multi-output regression), from the outputs and the
//! targets, both row-major `[rows, k]`, in f64, with scikit-learn's definitions (the test names
//! the calls).

use super::Metrics;
use crate::data::buffer::Buffer;

/// The metrics of a multi-output run, without prefix, in `history.csv`'s order: the names of
/// one target's, each over every target.
pub(crate) const NAMES: &[&str] = &["loss", "rmse", "mae", "r2"];

/// One target's scores, as the per-target table lists them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TargetScores {
    /// Root mean squared error.
    pub(crate) rmse: f64,
    /// Mean absolute error.
    pub(crate) mae: f64,
    /// Coefficient of determination; NaN when the target is constant over the rows.
    pub(crate) r2: f64,
}

/// Each target's scores.
pub(crate) fn per_target(outputs: &[f32], targets: &[f32], k: usize) -> Vec<TargetScores> {
    let rows = outputs.len() / k.max(1);
    let n = rows.max(1) as f64;
    (0..k)
        .map(|j| {
            let column = |v: &[f32]| {
                let values = v.iter().skip(j).step_by(k).map(|&x| f64::from(x));
                Buffer::collect_rows("a target's values", values)
            };
            let (p, y) = (column(outputs), column(targets));
            let mse = p.iter().zip(&y).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n;
            let mae = p.iter().zip(&y).map(|(p, y)| (p - y).abs()).sum::<f64>() / n;
            let mean = y.iter().sum::<f64>() / n;
            let ss_tot = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
            TargetScores {
                rmse: mse.sqrt(),
                mae,
                r2: if ss_tot > 0.0 {
                    1.0 - mse * n / ss_tot
                } else {
                    f64::NAN
                },
            }
        })
        .collect()
}

/// Every metric of [`NAMES`]: the loss (the mean squared error over every output, what training
/// minimises), its root, the mean absolute error over every output (the mean of the targets'
/// MAEs), and the mean of the targets' R² (scikit-learn's `uniform_average`; a constant target,
/// whose R² is undefined, is left out of the mean).
pub(crate) fn compute(outputs: &[f32], targets: &[f32], k: usize) -> Metrics {
    assert_eq!(outputs.len(), targets.len(), "one output per target");
    let cells = outputs.len().max(1) as f64;
    let pairs = || {
        outputs
            .iter()
            .zip(targets)
            .map(|(&p, &y)| (f64::from(p), f64::from(y)))
    };
    let mse = pairs().map(|(p, y)| (p - y).powi(2)).sum::<f64>() / cells;
    let mae = pairs().map(|(p, y)| (p - y).abs()).sum::<f64>() / cells;
    let r2s: Vec<f64> = per_target(outputs, targets, k)
        .iter()
        .map(|s| s.r2)
        .collect();
    let (r2, _) = super::mean_sd(&r2s);
    vec![
        ("loss", mse),
        ("rmse", mse.sqrt()),
        ("mae", mae),
        ("r2", r2),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(m: &Metrics, k: &str) -> f64 {
        m.iter().find(|(n, _)| *n == k).unwrap().1
    }

    #[test]
    fn every_metric_equals_scikit_learns() {
        // 5 rows, 2 targets on different scales.
        #[rustfmt::skip]
        let p = [1.0f32, 10.0,  2.5, 18.0,  2.0, 33.0,  4.5, 41.0,  4.0, 45.0];
        #[rustfmt::skip]
        let y = [1.5f32, 12.0,  2.0, 20.0,  3.0, 30.0,  4.0, 40.0,  5.0, 52.0];
        // import numpy as np; from sklearn import metrics as M
        // p = np.array(p).reshape(5, 2); y = np.array(y).reshape(5, 2)
        // M.mean_squared_error(y, p), M.mean_absolute_error(y, p), M.r2_score(y, p),
        // M.root_mean_squared_error(y, p, multioutput='raw_values'),
        // M.mean_absolute_error(y, p, multioutput='raw_values'),
        // M.r2_score(y, p, multioutput='raw_values')
        // (scikit-learn 1.9.1)
        const REF_MSE: f64 = 6.9750000000000005;
        const REF_MAE: f64 = 1.85;
        const REF_R2: f64 = 0.7989771050178656;
        const REF_RMSE: [f64; 2] = [0.7416198487095663, 3.6606010435446255];
        const REF_MAES: [f64; 2] = [0.7, 3.0];
        const REF_R2S: [f64; 2] = [0.6646341463414634, 0.9333200636942676];
        let m = compute(&p, &y, 2);
        assert_eq!(m.iter().map(|(n, _)| *n).collect::<Vec<_>>(), NAMES);
        assert!((get(&m, "loss") - REF_MSE).abs() < 1e-9);
        assert!((get(&m, "rmse") - REF_MSE.sqrt()).abs() < 1e-9);
        assert!((get(&m, "mae") - REF_MAE).abs() < 1e-9);
        assert!((get(&m, "r2") - REF_R2).abs() < 1e-9, "{}", get(&m, "r2"));
        for (j, s) in per_target(&p, &y, 2).iter().enumerate() {
            assert!((s.rmse - REF_RMSE[j]).abs() < 1e-9, "{j}: {}", s.rmse);
            assert!((s.mae - REF_MAES[j]).abs() < 1e-9, "{j}: {}", s.mae);
            assert!((s.r2 - REF_R2S[j]).abs() < 1e-9, "{j}: {}", s.r2);
        }
    }

    #[test]
    fn a_constant_target_leaves_its_r2_out() {
        let m = compute(&[1.0, 2.0, 3.0, 2.0], &[1.0, 5.0, 2.0, 5.0], 2);
        let per = per_target(&[1.0, 2.0, 3.0, 2.0], &[1.0, 5.0, 2.0, 5.0], 2);
        assert!(per[1].r2.is_nan());
        assert_eq!(get(&m, "r2"), per[0].r2);
        assert!(get(&compute(&[], &[], 2), "r2").is_nan());
    }
}
