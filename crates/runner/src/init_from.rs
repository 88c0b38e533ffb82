//! `--init-from FILE.safetensors`: a network's starting weights from a safetensors file, the
//! reverse of the safetensors export. Its own module: training reads it, and training has no
//! business with the export code.

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use burnfit_model::Mlp;
use safetensors::{Dtype, SafeTensors};

/// Puts the weights of a safetensors file with `nn.Sequential` names (`0.weight` `[out, in]`,
/// `0.bias`, `2.weight`, …: what `burnfit export --format safetensors` writes, and PyTorch's `state_dict`
/// of such a network) into `model`, checking every shape against the network the config
/// builds.
pub(crate) fn load(model: &mut Mlp, path: &Path, device: &Device) -> Result<()> {
    // At most what the network's weights can take: a huge (or sparse) file is refused by its
    // size before it is read.
    use burn::module::Module;
    let bytes = crate::files::read_limited(
        path,
        crate::run::weights_limit(model.num_params()).min(crate::resources::available()),
        "weights file for this network",
    )
    .with_context(|| format!("cannot read {}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a safetensors file: {e}", path.display()))?;
    let mut linear: Vec<usize> = st
        .names()
        .iter()
        .filter_map(|n| n.strip_suffix(".weight")?.parse().ok())
        .collect();
    linear.sort_unstable();
    if linear.len() != model.layers.len() {
        bail!(
            "{} holds {} dense layers ({}), the config's network has {}: the shapes must match (model.hidden and the inputs)",
            path.display(),
            linear.len(),
            linear.iter().map(|k| format!("{k}.weight")).collect::<Vec<_>>().join(", "),
            model.layers.len()
        );
    }
    for (layer, k) in model.layers.iter_mut().zip(linear) {
        let [input, output] = layer.weight.val().dims();
        let w = read_f32(&st, path, &format!("{k}.weight"), &[output, input])?;
        let b = read_f32(&st, path, &format!("{k}.bias"), &[output])?;
        // Said here, naming the tensor, instead of as a divergence at step 1.
        for (name, values) in [(format!("{k}.weight"), &w), (format!("{k}.bias"), &b)] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                bail!(
                    "{}: {name} holds {} at index {i}; initial weights must be finite numbers",
                    path.display(),
                    values[i]
                );
            }
        }
        let burn_w = transposed(&w, output, input);
        layer.weight = Param::from_tensor(Tensor::<2>::from_data(
            TensorData::new(burn_w, [input, output]),
            device,
        ));
        layer.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(b, [output]),
            device,
        )));
    }
    Ok(())
}

/// The output names a burnfit export wrote into the file's metadata: its label columns
/// (`burnfit.labels`, several) and its classes (`burnfit.classes`, a softmax); empty for a
/// file from elsewhere or a head of one output.
pub(crate) fn output_names(path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    // The header alone (its length in 8 bytes, then its JSON): the tensors after it are
    // read once, by `load`.
    use std::io::Read;
    let not = |why: String| anyhow::anyhow!("{} is not a safetensors file: {why}", path.display());
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|e| not(format!("no header ({e})")))?;
    // safetensors' own bound on a header.
    const MOST: u64 = 100_000_000;
    let length = u64::from_le_bytes(length);
    if length > MOST {
        return Err(not(format!("a header of {length} bytes")));
    }
    // Grown as it is read: a header that claims more than the file holds costs nothing.
    let mut header = Vec::new();
    file.take(length)
        .read_to_end(&mut header)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| not(format!("its header: {e}")))?;
    let list = |key: &str| -> Vec<String> {
        header
            .get("__metadata__")
            .and_then(|m| m.get(key))
            .and_then(|v| v.as_str())
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    };
    Ok((list("burnfit.labels"), list("burnfit.classes")))
}

/// Tensor `name` of the file as f32 values, refused unless it is float32 of `shape`.
fn read_f32(st: &SafeTensors, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|_| anyhow::anyhow!("{}: no tensor {name}", path.display()))?;
    if t.dtype() != Dtype::F32 {
        bail!(
            "{}: {name} is {:?}; float32 weights are needed",
            path.display(),
            t.dtype()
        );
    }
    if t.shape() != shape {
        bail!(
            "{}: {name} has shape {:?}, the config's network needs {:?}",
            path.display(),
            t.shape(),
            shape
        );
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// PyTorch's `[out, in]` weight, row-major, as Burn's `[in, out]`.
fn transposed(w: &[f32], output: usize, input: usize) -> Vec<f32> {
    let mut burn_w = vec![0f32; w.len()];
    for r in 0..output {
        for c in 0..input {
            burn_w[c * output + r] = w[r * input + c];
        }
    }
    burn_w
}
