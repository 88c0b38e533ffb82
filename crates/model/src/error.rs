//! The model crate's one error type.

/// What can go wrong when building or applying the network and its losses.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ModelError {
    /// A network, loss or optimizer setting is out of its valid range.
    #[error("invalid setting `{key}`: {reason}")]
    InvalidSetting {
        /// The setting's field name (`lr`, `hidden`); a caller that reads settings from a file
        /// adds its own section (`train.lr`).
        key: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// Two tensors that must agree in shape do not.
    #[error("shape mismatch in {op}: predictions {predictions:?}, targets {targets:?}")]
    ShapeMismatch {
        /// The operation that compared them.
        op: &'static str,
        /// The shape of the predictions (or logits).
        predictions: Vec<usize>,
        /// The shape of the targets.
        targets: Vec<usize>,
    },
    /// The input width does not match the network's first layer.
    #[error("input has {got} features but the network expects {expected}")]
    InputWidth {
        /// The network's input width.
        expected: usize,
        /// The width of the batch given.
        got: usize,
    },
    /// The operating system's random source could not give a key for the noise of private
    /// training.
    #[error("the operating system's random source failed: {0}")]
    Entropy(String),
}
