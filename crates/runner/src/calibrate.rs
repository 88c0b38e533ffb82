//! Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017): one
//! number T fitted after training on the validation rows' log loss, the logits divided by it.
//!
//! T changes no prediction of a softmax (the largest logit stays the largest) and, with the
//! decision threshold moved to the same logit, no class of a binary model; it only makes the
//! probabilities say how often they are right. It is folded into the last layer (its weights and
//! bias divided by T), so every command that reads the model, the ONNX and safetensors exports
//! included, gives the calibrated probabilities without knowing about it.

use burn::tensor::Tensor;
use burnfit_model::{Loss, Mlp};

use crate::data::buffer::Buffer;

/// The range searched for T: wider than any calibration seen in practice (Guo et al. report T
/// between about 1 and 4), narrow enough that a degenerate fit stays a finite number.
const T_RANGE: (f64, f64) = (0.05, 20.0);

/// Bins of the expected calibration error (Guo et al.'s 15, equal width in confidence), in
/// `summary.json` and in the report's top-label chart alike.
pub(crate) const ECE_BINS: usize = 15;

/// The mean log loss of `logits / t` (`[rows, k]` row-major; one column for BCE, whose targets
/// are 0/1; k for cross-entropy, whose targets are class indices).
pub(crate) fn log_loss(logits: &[f32], targets: &[f32], loss: Loss, t: f64) -> f64 {
    let k = logits.len().checked_div(targets.len()).unwrap_or(1).max(1);
    let sum: f64 = logits
        .chunks(k)
        .zip(targets)
        .map(|(z, &y)| match loss {
            Loss::CrossEntropy => {
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64 / t;
                let lse = max
                    + z.iter()
                        .map(|&v| (f64::from(v) / t - max).exp())
                        .sum::<f64>()
                        .ln();
                lse - f64::from(z[y as usize]) / t
            }
            // log(1 + e^{-z}) for class 1, log(1 + e^{z}) for class 0, in the stable form.
            _ => {
                let z = f64::from(z[0]) / t;
                let s = if y > 0.5 { -z } else { z };
                s.max(0.0) + (-s.abs()).exp().ln_1p()
            }
        })
        .sum();
    sum / targets.len().max(1) as f64
}

/// The temperature that minimises [`log_loss`] on these rows. The loss is convex in 1/T (a
/// log-sum-exp of lines in 1/T, less a line), so a golden-section search over 1/T finds its
/// minimum; 1 when there are no rows.
pub(crate) fn fit_temperature(logits: &[f32], targets: &[f32], loss: Loss) -> f64 {
    if targets.is_empty() {
        return 1.0;
    }
    let f = |beta: f64| log_loss(logits, targets, loss, 1.0 / beta);
    let (mut a, mut b) = (1.0 / T_RANGE.1, 1.0 / T_RANGE.0);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    // 80 steps shrink the interval by 0.618^80 ≈ 2e-17 of its width: to f64 precision.
    for _ in 0..80 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - g * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    2.0 / (a + b)
}

/// Each row's top label: the probability of its predicted class (for one sigmoid, the larger
/// of p and 1 − p) and whether that class is right (1) or not (0). Logits as in [`log_loss`],
/// divided by `t`.
pub(crate) fn top_label(
    logits: &[f32],
    targets: &[f32],
    loss: Loss,
    t: f64,
) -> (Buffer<f64>, Buffer<f64>) {
    let k = logits.len().checked_div(targets.len()).unwrap_or(1).max(1);
    let rows = targets.len().min(logits.len().div_ceil(k));
    let mut confidence = Buffer::for_rows("the rows' top-label confidence", rows);
    let mut correct = Buffer::for_rows("whether the rows' top label is right", rows);
    let mut p = Vec::with_capacity(k);
    for (i, (z, &y)) in logits.chunks(k).zip(targets).enumerate() {
        let (c, right) = if loss == Loss::CrossEntropy {
            p.clear();
            p.extend(z.iter().map(|&v| f64::from(v) / t));
            Loss::CrossEntropy.activate_row(&mut p);
            let best = crate::metrics::classes::argmax(&p);
            (p[best], best == y as usize)
        } else {
            let p = Loss::Bce.activate_value(f64::from(z[0]) / t);
            (p.max(1.0 - p), (p > 0.5) == (y > 0.5))
        };
        confidence[i] = c;
        correct[i] = f64::from(u8::from(right));
    }
    (confidence, correct)
}

/// Expected calibration error of the top label ([`top_label`], [`ECE_BINS`] equal-width bins).
pub(crate) fn expected_calibration_error(
    logits: &[f32],
    targets: &[f32],
    loss: Loss,
    t: f64,
) -> f64 {
    let (confidence, correct) = top_label(logits, targets, loss, t);
    crate::report::curves::expected_calibration_error(&confidence, &correct, ECE_BINS)
}

/// `model` with its last layer divided by `t`: its logits are the old ones over `t`.
pub(crate) fn fold_into_head(mut model: Mlp, t: f64) -> Mlp {
    let last = model.layers.len() - 1;
    let layer = &mut model.layers[last];
    layer.weight = layer.weight.clone().map(|w: Tensor<2>| w.div_scalar(t));
    layer.bias = layer
        .bias
        .as_ref()
        .map(|b| b.clone().map(|v: Tensor<1>| v.div_scalar(t)));
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Overconfident logits (right four times in five, at ±4): the fitted T spreads them, and
    /// the loss at T is no worse than at 1 or at T ± 1 %.
    #[test]
    fn the_fitted_temperature_minimises_the_log_loss() {
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..100 {
            let class = (i % 2) as f32;
            let right = i % 5 != 0;
            let sign = if (class > 0.5) == right { 4.0 } else { -4.0 };
            z.push(sign);
            y.push(class);
        }
        let t = fit_temperature(&z, &y, Loss::Bce);
        assert!(t > 1.0, "overconfidence needs T > 1, got {t}");
        // Closed form: p = σ(4/T) = 0.8 is the maximum-likelihood probability, so T = 4 / ln 4.
        assert!((t - 4.0 / 4f64.ln()).abs() < 1e-6, "{t}");
        let at = |t| log_loss(&z, &y, Loss::Bce, t);
        assert!(at(t) < at(1.0));
        assert!(at(t) <= at(t * 1.01) && at(t) <= at(t * 0.99));
        // Calibrated, the confidence (0.8) equals the accuracy (0.8).
        assert!(expected_calibration_error(&z, &y, Loss::Bce, t) < 1e-6);
        assert!((expected_calibration_error(&z, &y, Loss::Bce, 1.0) - (0.982 - 0.8)).abs() < 1e-3);
    }

    #[test]
    fn softmax_temperature_keeps_every_prediction_and_lowers_the_loss() {
        // Three classes, the right one's logit largest in 7 rows of 10, every margin 6.
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..10 {
            let predicted = i % 3;
            let truth = if i < 7 {
                predicted
            } else {
                (predicted + 1) % 3
            };
            let mut row = [0f32; 3];
            row[predicted] = 6.0;
            z.extend(row);
            y.push(truth as f32);
        }
        let t = fit_temperature(&z, &y, Loss::CrossEntropy);
        assert!(t > 1.0, "{t}");
        assert!(
            log_loss(&z, &y, Loss::CrossEntropy, t) < log_loss(&z, &y, Loss::CrossEntropy, 1.0)
        );
        let before = expected_calibration_error(&z, &y, Loss::CrossEntropy, 1.0);
        let after = expected_calibration_error(&z, &y, Loss::CrossEntropy, t);
        assert!(after < before, "{after} vs {before}");
    }
}
