//! A trained run loaded to be used: its model on the chosen backend, its preprocessing, and
//! data read through it. What evaluate, predict and explain share.

use std::path::Path;

use anyhow::Result;

use crate::backend;
use crate::config::Config;
use crate::data::Table;
use crate::pipeline;
use crate::run::{self as rundir, ModelFile, RunDir};

/// A trained model ready to run, with what it needs.
pub(super) struct Loaded {
    pub(super) run: RunDir,
    pub(super) model_file: ModelFile,
    pub(super) pre: crate::data::Preprocessor,
    pub(super) device: burn::tensor::Device,
    pub(super) model: burnfit_model::Mlp,
}

/// Opens the run folder `dir` and loads its model on its backend (or `backend_override`).
pub(super) fn load_run(dir: &Path, backend_override: Option<&str>) -> Result<Loaded> {
    let run = RunDir::open(dir)?;
    let (model_file, pre) = run.model_and_preprocessor()?;
    if let Some(b) = backend_override {
        // Checked here, so the error names the flag the user typed, not a `--set`.
        let parsed: Result<crate::config::BackendKind, _> =
            toml::Value::String(b.trim().to_string()).try_into();
        if parsed.is_err() {
            anyhow::bail!(
                "--backend {b}: not a backend; choose from flex, ndarray, wgpu, vulkan, cuda, auto (`burnfit devices` lists what this build has)"
            );
        }
    }
    let sets: Vec<String> = backend_override
        .map(|b| format!("backend.kind={}", b.trim()))
        .into_iter()
        .collect();
    let config = Config::load_resolved(&run.file(rundir::CONFIG), &sets)?;
    // The run's own cache settings, as training used them.
    crate::data::cache::configure(&config.data);
    crate::threads::init_all(config.backend.flush_denormals);
    let selected = backend::select(&config.backend)?;
    backend::announce(&selected);
    let model = run.load_model(&model_file.network, &selected.device)?;
    Ok(Loaded {
        run,
        model_file,
        pre,
        device: selected.device,
        model,
    })
}

/// A labelled CSV through the run's saved preprocessing, with notes and warnings printed.
pub(super) fn labelled_matrix(l: &Loaded, data: &Path) -> Result<crate::data::Matrix> {
    let table = Table::from_csv(data, &l.pre.load_spec(crate::data::LabelColumn::Required))?;
    let mut notes = Vec::new();
    let rows = pipeline::usable_rows(&table, l.pre.missing, &mut notes)?;
    let (m, unseen) = l.pre.transform(&table, &rows)?;
    for n in notes {
        say!("note: {n}");
    }
    for u in unseen {
        say!("warning: column `{}` value `{}` ({} rows) was not seen in training; encoded as all zeros", u.column, u.value, u.count);
    }
    Ok(m)
}
