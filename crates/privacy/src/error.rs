//! The privacy crate's one error type.

/// What can go wrong when accounting for a private training run.
///
/// Every input the accountant takes comes, one way or another, from a user's config; a bad one
/// is reported with its name and value, never a panic or a silent NaN.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum PrivacyError {
    /// A numeric input is NaN, infinite or outside its range.
    #[error("invalid `{name}`: {reason}, got {value}")]
    InvalidValue {
        /// The input's name (`noise_multiplier`, `sample_rate`, `delta`, `order`, …); a caller
        /// that reads it from a file adds its section.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What the value must be.
        reason: &'static str,
    },
    /// A count (rows, batch size) that cannot describe a training run.
    #[error("invalid `{name}`: {reason}, got {value}")]
    InvalidCount {
        /// The input's name (`rows`, `batch_size`).
        name: &'static str,
        /// The value given.
        value: u64,
        /// What the value must be.
        reason: String,
    },
    /// No RDP orders were given, or the orders and the RDP values differ in length.
    #[error("the RDP orders {0}")]
    Orders(String),
    /// δ is at or above 1/n: the guarantee would allow one row in every dataset to leak whole.
    #[error(
        "delta = {delta} is not below 1/n = 1/{rows}: a δ that large lets a mechanism publish a \
         whole row with probability δ and still meet the guarantee; choose δ well below 1/n \
         (the default is {default})"
    )]
    DeltaTooLarge {
        /// The δ given.
        delta: f64,
        /// The number of training rows n.
        rows: u64,
        /// The default δ for these rows, to suggest.
        default: f64,
    },
    /// No noise multiplier up to the search's limit reaches the target ε.
    #[error(
        "no noise multiplier up to {max_noise} reaches epsilon = {target} at delta = {delta} \
         over {steps} steps: even that much noise gives epsilon = {reached}; raise the target \
         epsilon or delta, or train for fewer steps"
    )]
    TargetUnreachable {
        /// The target ε.
        target: f64,
        /// The δ.
        delta: f64,
        /// The planned number of steps.
        steps: u64,
        /// The largest noise multiplier tried.
        max_noise: f64,
        /// The ε at that noise multiplier.
        reached: f64,
    },
    /// The series for a fractional order did not converge, or cancelled below zero; seen only
    /// for inputs far outside what training uses.
    #[error(
        "the RDP series at order {order} did not converge for sample rate {sample_rate} and \
         noise multiplier {noise_multiplier}"
    )]
    Numerical {
        /// The order being computed.
        order: f64,
        /// The sampling rate q.
        sample_rate: f64,
        /// The noise multiplier σ.
        noise_multiplier: f64,
    },
}
