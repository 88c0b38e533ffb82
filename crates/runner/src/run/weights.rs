//! A network's weights as burnpack bytes, the form `model.bpk`, checkpoints and `parity` use;
//! the bytes load on any backend.

use anyhow::{anyhow, Result};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use burnfit_model::{Mlp, MlpConfig};

/// Serializes a module's weights to burnpack bytes.
pub(crate) fn to_bytes(model: &Mlp) -> Result<Vec<u8>> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(bytes.to_vec())
}

/// Builds `config` on `device` and loads burnpack `bytes` into it; a corrupt or mismatched
/// file is an error, not a panic.
pub(crate) fn from_bytes(
    config: &MlpConfig,
    bytes: Vec<u8>,
    device: &Device,
    what: &str,
) -> Result<Mlp> {
    let model = config.init(device, 0)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow!("{what} is not a valid burnpack file: {e}"))?;
    model
        .try_load_record(record)
        .map_err(|e| anyhow!("{what} does not match the saved network: {e}"))
}
