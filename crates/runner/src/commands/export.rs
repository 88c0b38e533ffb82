//! `burnfit export`: a run's model as ONNX or safetensors, for serving outside burnfit.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::export::{onnx, Exported};
use crate::output::{self, Replace};
use crate::run::{self as rundir, write_atomic, RunDir};

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One ONNX graph: preprocessing, network, sigmoid and class.
    Onnx,
    /// The weights with PyTorch `nn.Sequential` names; preprocessing in the metadata.
    Safetensors,
}

/// `burnfit export`.
pub(crate) fn export(dir: &Path, format: Format, out: &Path, force: Replace) -> Result<ExitCode> {
    let run = RunDir::open(dir)?;
    let inputs = [
        run.file(rundir::WEIGHTS),
        run.file(rundir::MODEL_JSON),
        run.file(rundir::PREPROCESS),
    ];
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    if out == Path::new("-") {
        anyhow::bail!("--out -: export writes a binary file; name it");
    }
    output::check(out, &refs, force)?;
    let (model_file, pre) = run.model_and_preprocessor()?;
    let device = burn::tensor::Device::flex();
    let model = run.load_model(&model_file.network, &device)?;
    let e = Exported::new(&model, &pre, &model_file);
    let bytes = match format {
        Format::Onnx => onnx::model(&e),
        Format::Safetensors => e.safetensors()?,
    };
    write_atomic(out, &bytes)?;
    say!(
        "wrote {} ({} bytes{}); inputs in order: {}",
        out.display(),
        bytes.len(),
        match format {
            Format::Onnx => format!(", ONNX opset {}", onnx::OPSET),
            Format::Safetensors => String::new(),
        },
        pre.features
            .iter()
            .map(|f| match f {
                crate::data::preprocess::FeatureSpec::Numeric { name, .. } => name.clone(),
                crate::data::preprocess::FeatureSpec::Categorical { name, levels } => {
                    format!("{name} (categorical, {} levels)", levels.len())
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
