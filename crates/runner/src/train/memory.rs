//! How much memory training a network takes, checked before anything is allocated.

use burnfit_model::MlpConfig;

use super::{CPU_EVAL_CHUNK, EVAL_CHUNK};
use crate::config::Config;

/// Refuses a network whose training would need more memory than the machine has free, with
/// both numbers: what `train` (and `--dry-run`) checks before the run folder exists, and
/// `parity` before it builds the network.
pub(crate) fn check_memory(
    config: &Config,
    network: &MlpConfig,
) -> Result<(), crate::resources::TooBig> {
    let batch = config.train.batch_size.get();
    // Weights, gradients and Adam's two moments, with a host copy during the update: five
    // copies of the parameters; a batch's activations and their gradients, four copies per
    // layer output; the evaluation chunks' activations. On flex (or `auto`, which may pick it)
    // a batch in parts holds one more set of gradients per part in flight, and evaluation
    // runs a chunk per pool thread.
    // Saturating throughout: the widths are the user's, and a sum beyond u64 is simply too
    // big, to be refused below with the numbers, never an overflow.
    let params = network.num_params() as u64;
    let widths: u64 = network
        .hidden
        .iter()
        .fold(1u64, |sum, &w| sum.saturating_add(w as u64));
    // `auto` is counted as the backend it may pick that holds the most.
    let kind = match config.backend.kind {
        crate::config::BackendKind::Auto => crate::config::BackendKind::Flex,
        kind => kind,
    };
    let (copies, eval_rows) = if let Some(part_rows) = crate::backend::part_rows(kind) {
        let pool = crate::threads::pool_size();
        let parts = batch.div_ceil(part_rows).min(pool);
        let copies = if parts > 1 { 5 + parts } else { 5 };
        (copies, (pool * CPU_EVAL_CHUNK).max(EVAL_CHUNK))
    } else {
        (5, EVAL_CHUNK)
    };
    let needed = crate::resources::product(&[4, copies as u64, params])
        .saturating_add(crate::resources::product(&[4, 4, batch as u64, widths]))
        .saturating_add(crate::resources::product(&[4, eval_rows as u64, widths]));
    crate::resources::check(
        "the network",
        needed,
        Some(format!(
            "{params} parameters, their gradients and optimizer state, and a batch of {batch}"
        )),
        "make model.hidden narrower, or lower train.batch_size",
    )
}
