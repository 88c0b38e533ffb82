//! Binary cross-entropy (from logits), softmax cross-entropy and mean squared error.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The training objective, which also fixes the output head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy on sigmoid outputs: binary classification, or several independent
    /// yes/no labels (multi-label) with one sigmoid each.
    Bce,
    /// Mean squared error on linear outputs: regression, one target or several.
    Mse,
    /// Categorical cross-entropy on a softmax over the outputs: one of k classes per row
    /// (Keras's `categorical_crossentropy` on `Dense(k, softmax)`). Targets are one row of k
    /// class probabilities each (one-hot, or smoothed).
    #[serde(rename = "cross_entropy")]
    CrossEntropy,
}

impl Loss {
    /// The loss of a batch, from the network's raw outputs.
    ///
    /// BCE and MSE average over every output of every row (Keras's reduction: the mean over
    /// the last axis, then over the batch); cross-entropy sums over a row's classes and
    /// averages over rows.
    ///
    /// # Shapes
    /// - outputs: `[batch, outputs]` (logits for BCE and cross-entropy, values for MSE)
    /// - targets: `[batch, outputs]`
    /// - result: `[1]`
    pub fn compute(self, outputs: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>, ModelError> {
        match self {
            Loss::Bce => bce_with_logits(outputs, targets),
            Loss::Mse => mse(outputs, targets),
            Loss::CrossEntropy => softmax_cross_entropy(outputs, targets),
        }
    }

    /// The loss of a batch with a weight per row: the mean of `weight × loss` over the batch
    /// (Keras's `class_weight` and `sample_weight`, whose reduction divides by the batch size,
    /// not by the sum of the weights).
    ///
    /// # Shapes
    /// - outputs, targets: `[batch, outputs]`
    /// - weights: `[batch, 1]` (one weight per row), or `[batch, outputs]` for BCE and MSE (one
    ///   per output: multi-label class weights)
    /// - result: `[1]`
    pub fn compute_weighted(
        self,
        outputs: Tensor<2>,
        targets: Tensor<2>,
        weights: Tensor<2>,
    ) -> Result<Tensor<1>, ModelError> {
        let name = self.words();
        check_shapes(name, &outputs, &targets)?;
        let [batch, width] = outputs.dims();
        if self == Loss::CrossEntropy || (weights.dims()[1] == 1 && width > 1) {
            // One weight per row: the weighted mean of each row's own loss.
            let rows = Tensor::<2>::zeros([batch, 1], &weights.device());
            check_shapes(name, &rows, &weights)?;
            return Ok((self.per_row(outputs, targets)? * weights).mean());
        }
        check_shapes(name, &outputs, &weights)?;
        Ok((self.elements(outputs, targets) * weights).mean())
    }

    /// Each row's own loss, before the batch mean: the mean over the row's outputs of the
    /// element-wise loss that [`compute`](Self::compute) averages, so that the mean of this
    /// column is `compute`'s value. What DP-SGD clips, row by row (`private.rs`).
    ///
    /// # Shapes
    /// - outputs, targets: `[batch, outputs]` (equal)
    /// - result: `[batch, 1]`
    pub fn per_row(self, outputs: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<2>, ModelError> {
        let name = self.words();
        check_shapes(name, &outputs, &targets)?;
        let elements = self.elements(outputs, targets);
        Ok(match self {
            Loss::CrossEntropy => elements.sum_dim(1),
            Loss::Bce | Loss::Mse => elements.mean_dim(1),
        })
    }

    /// The loss in words (`binary cross-entropy`), for messages and reports.
    pub fn words(self) -> &'static str {
        match self {
            Loss::Bce => "binary cross-entropy",
            Loss::Mse => "mean squared error",
            Loss::CrossEntropy => "softmax cross-entropy",
        }
    }

    /// The element-wise loss of every output, what [`compute_weighted`](Self::compute_weighted)
    /// and [`per_row`](Self::per_row) average (and [`compute`](Self::compute) through
    /// [`bce_with_logits`] and [`mse`]): BCE on logits in the stable form
    /// `(1 − y)·z − log σ(z)`, the squared error, or `−y_j · log softmax(z)_j` (whose sum over a
    /// row is the row's cross-entropy). Shapes are the caller's to check.
    fn elements(self, outputs: Tensor<2>, targets: Tensor<2>) -> Tensor<2> {
        match self {
            Loss::Bce => {
                let negatives = targets.neg().add_scalar(1.0);
                let log_p = burn::tensor::activation::log_sigmoid(outputs.clone());
                negatives * outputs - log_p
            }
            Loss::Mse => {
                let diff = outputs - targets;
                diff.clone() * diff
            }
            Loss::CrossEntropy => targets.neg() * burn::tensor::activation::log_softmax(outputs, 1),
        }
    }

    /// Turns raw outputs into what the user sees: a probability per output for BCE, one
    /// probability per class (summing to 1 over a row) for cross-entropy, the values for MSE.
    pub fn activate(self, outputs: Tensor<2>) -> Tensor<2> {
        match self {
            Loss::Bce => burn::tensor::activation::sigmoid(outputs),
            Loss::Mse => outputs,
            Loss::CrossEntropy => burn::tensor::activation::softmax(outputs, 1),
        }
    }

    /// [`activate`](Self::activate) for one row of raw outputs on the host, in f64, in place:
    /// what `predict` writes for a row. The softmax subtracts the row's largest output first,
    /// so no logit overflows `exp`.
    pub fn activate_row(self, outputs: &mut [f64]) {
        match self {
            Loss::Bce => outputs
                .iter_mut()
                .for_each(|z| *z = 1.0 / (1.0 + (-*z).exp())),
            Loss::Mse => {}
            Loss::CrossEntropy => {
                let max = outputs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                outputs.iter_mut().for_each(|z| *z = (*z - max).exp());
                let sum: f64 = outputs.iter().sum();
                outputs.iter_mut().for_each(|p| *p /= sum);
            }
        }
    }

    /// [`activate_row`](Self::activate_row) for a network with one output (BCE or MSE).
    pub fn activate_value(self, output: f64) -> f64 {
        let mut row = [output];
        self.activate_row(&mut row);
        row[0]
    }

    /// The output layer's activation, as a Keras summary names it.
    pub fn head(self) -> &'static str {
        match self {
            Loss::Bce => "sigmoid",
            Loss::Mse => "linear",
            Loss::CrossEntropy => "softmax",
        }
    }

    /// The name `train.loss` gives it.
    pub fn key(self) -> &'static str {
        match self {
            Loss::Bce => "bce",
            Loss::Mse => "mse",
            Loss::CrossEntropy => "cross_entropy",
        }
    }
}

fn check_shapes<const D: usize>(
    op: &'static str,
    predictions: &Tensor<D>,
    targets: &Tensor<D>,
) -> Result<(), ModelError> {
    let (p, t) = (predictions.dims(), targets.dims());
    if p != t {
        return Err(ModelError::ShapeMismatch {
            op,
            predictions: p.to_vec(),
            targets: t.to_vec(),
        });
    }
    Ok(())
}

/// Binary cross-entropy of `sigmoid(logits)` against `targets`, averaged over every element.
///
/// Equal to the seed's `CE = −1/n Σ [y log ŷ + (1−y) log(1−ŷ)]` with `ŷ = σ(z)`: since
/// `log(1 − σ(z)) = log σ(z) − z`, it is `(1 − y)·z − log σ(z)`. Burn's `log_sigmoid` is one
/// numerically stable operation (never the log of 0, no overflowing `exp`), so the loss stays
/// finite and exact for logits of any size (±50 included, where `σ(z)` rounds to 0 or 1 in f32),
/// in four operations on the graph where the textbook `max(z, 0) − z·y + log(1 + e^{−|z|})`
/// takes eight.
///
/// # Shapes
/// - logits, targets: `[batch, outputs]` (equal)
/// - result: `[1]`
pub fn bce_with_logits<const D: usize>(
    logits: Tensor<D>,
    targets: Tensor<D>,
) -> Result<Tensor<1>, ModelError> {
    check_shapes("binary cross-entropy", &logits, &targets)?;
    let negatives = targets.neg().add_scalar(1.0); // 1 − y: constant, outside the graph
    let log_p = burn::tensor::activation::log_sigmoid(logits.clone());
    Ok((negatives * logits - log_p).mean())
}

/// Mean squared error `1/n Σ (y − ŷ)²` over every element.
///
/// # Shapes
/// - predictions, targets: `[batch, outputs]` (equal)
/// - result: `[1]`
pub fn mse<const D: usize>(
    predictions: Tensor<D>,
    targets: Tensor<D>,
) -> Result<Tensor<1>, ModelError> {
    check_shapes("mean squared error", &predictions, &targets)?;
    let diff = predictions - targets;
    Ok((diff.clone() * diff).mean())
}

/// Categorical cross-entropy of `softmax(logits)` against target distributions: the mean over
/// rows of `−Σ_j y_j · log softmax(z)_j`.
///
/// Burn's `log_softmax` subtracts the row's largest logit before `exp`, so the loss stays finite
/// for logits of any size and never takes the log of 0 (Keras computes the same value from the
/// logits when `from_logits=True`; from probabilities it clips them to `[1e-7, 1 − 1e-7]`).
/// Targets may be one-hot or smoothed (`(1 − ε)·onehot + ε/k`, Keras's `label_smoothing`).
///
/// # Shapes
/// - logits, targets: `[batch, classes]` (equal)
/// - result: `[1]`
pub fn softmax_cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<2>,
) -> Result<Tensor<1>, ModelError> {
    check_shapes("softmax cross-entropy", &logits, &targets)?;
    let log_p = burn::tensor::activation::log_softmax(logits, 1);
    Ok((targets.neg() * log_p).sum_dim(1).mean())
}
