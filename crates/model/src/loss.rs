//! Binary cross-entropy (from logits) and mean squared error.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The training objective, which also fixes the output head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Binary cross-entropy on a sigmoid output: binary classification.
    Bce,
    /// Mean squared error on a linear output: regression.
    Mse,
}

impl Loss {
    /// The loss of a batch, from the network's raw outputs.
    ///
    /// # Shapes
    /// - outputs: `[batch, 1]` (logits for BCE, values for MSE)
    /// - targets: `[batch, 1]`
    /// - result: `[1]`
    pub fn compute(self, outputs: Tensor<2>, targets: Tensor<2>) -> Result<Tensor<1>, ModelError> {
        match self {
            Loss::Bce => bce_with_logits(outputs, targets),
            Loss::Mse => mse(outputs, targets),
        }
    }

    /// The loss of a batch with a weight per row: the mean of `weight × loss` over the batch
    /// (Keras's `class_weight` and `sample_weight`, whose reduction divides by the batch size,
    /// not by the sum of the weights).
    ///
    /// # Shapes
    /// - outputs, targets, weights: `[batch, 1]`
    /// - result: `[1]`
    pub fn compute_weighted(
        self,
        outputs: Tensor<2>,
        targets: Tensor<2>,
        weights: Tensor<2>,
    ) -> Result<Tensor<1>, ModelError> {
        let name = self.words();
        check_shapes(name, &outputs, &targets)?;
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
        Ok(self.elements(outputs, targets).mean_dim(1))
    }

    /// The loss in words, for shape errors.
    fn words(self) -> &'static str {
        match self {
            Loss::Bce => "binary cross-entropy",
            Loss::Mse => "mean squared error",
        }
    }

    /// The element-wise loss of every output, what [`compute_weighted`](Self::compute_weighted)
    /// and [`per_row`](Self::per_row) average (and [`compute`](Self::compute) through
    /// [`bce_with_logits`] and [`mse`]): BCE on logits in the stable form
    /// `(1 − y)·z − log σ(z)`, or the squared error. Shapes are the caller's to check.
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
        }
    }

    /// Turns raw outputs into what the user sees: a probability for BCE, the value for MSE.
    pub fn activate(self, outputs: Tensor<2>) -> Tensor<2> {
        match self {
            Loss::Bce => burn::tensor::activation::sigmoid(outputs),
            Loss::Mse => outputs,
        }
    }

    /// [`activate`](Self::activate) for one raw output on the host, in f64: what `predict`
    /// writes for a row.
    pub fn activate_value(self, output: f64) -> f64 {
        match self {
            Loss::Bce => 1.0 / (1.0 + (-output).exp()),
            Loss::Mse => output,
        }
    }

    /// The output layer's activation, as a Keras summary names it.
    pub fn head(self) -> &'static str {
        match self {
            Loss::Bce => "sigmoid",
            Loss::Mse => "linear",
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
