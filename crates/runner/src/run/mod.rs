//! The run folder: everything a run leaves behind, and everything evaluate, predict and
//! `--resume` need to rebuild it.
//!
//! ```text
//! runs/<config>-<timestamp>/
//!   config.toml       the resolved config, defaults included
//!   model.json        network shape, loss and input names
//!   preprocess.json   feature order, fills, vocabularies, scaling, label mapping
//!   model.bpk         final weights (burnpack)
//!   history.csv       one row per epoch, every metric
//!   summary.json      backend, timings, final metrics, footprint
//!   data.json         each data file's size and CRC32, for `--resume`
//!   emissions.csv     energy and carbon with CodeCarbon's column names
//!   curves.svg        loss and the main metric per epoch
//!   outputs.csv       the evaluated split's rows: target, raw output, probability
//!   status.json       finished, interrupted or diverged, and when
//!   report.html       the run on one page (`burnfit report`)
//!   checkpoints/epoch-NNNN-step-NNNNNN/{model.bpk, optim.bpk, state.json, best.bpk}
//!   explain/          after `burnfit explain`
//!   .burnfit.lock     locked by the one process writing the folder (`crate::lock`)
//! ```
//!
//! Every file is written to a temporary name, flushed and renamed ([`crate::files`]), so a
//! crash leaves either the old file or the new one, never half of one. The file names are the constants below; the
//! parts: [`checkpoint`] (checksummed checkpoints), [`weights`] (burnpack bytes), [`summary`]
//! (the typed `summary.json`).

pub(crate) mod checkpoint;
pub(crate) mod fingerprint;
pub(crate) mod summary;
pub(crate) mod weights;

pub(crate) use checkpoint::{Best, Checkpoint, CheckpointState, Partial};
pub(crate) use summary::{class_weight_words, CalibrationSummary, PrivacySummary, Summary};

/// The resolved config.
pub(crate) const CONFIG: &str = "config.toml";
/// Network shape and loss ([`ModelFile`]).
pub(crate) const MODEL_JSON: &str = "model.json";
/// The fitted preprocessing.
pub(crate) const PREPROCESS: &str = "preprocess.json";
/// Final weights.
pub(crate) const WEIGHTS: &str = "model.bpk";
/// One row per epoch.
pub(crate) const HISTORY: &str = "history.csv";
/// The run's outcome ([`Summary`]).
pub(crate) const SUMMARY: &str = "summary.json";
/// Energy and carbon, CodeCarbon's columns.
pub(crate) const EMISSIONS: &str = "emissions.csv";
/// The learning-curve chart.
pub(crate) const CURVES: &str = "curves.svg";
/// The evaluated split's outputs, so the report can draw its curves without the data.
pub(crate) const OUTPUTS: &str = "outputs.csv";
/// How the run ended ([`StatusFile`]).
pub(crate) const STATUS: &str = "status.json";
/// The run's report page.
pub(crate) const REPORT: &str = "report.html";
/// The data files' sizes and checksums ([`fingerprint`]).
pub(crate) const DATA: &str = "data.json";
/// The checkpoint folder.
pub(crate) const CHECKPOINTS: &str = "checkpoints";
/// `burnfit explain`'s folder.
pub(crate) const EXPLAIN: &str = "explain";
/// Inside `explain/` (or explain's `--out`): each input column's importance.
pub(crate) const IMPORTANCE: &str = "importance.csv";
/// Inside `explain/`: the importances' chart.
pub(crate) const IMPORTANCE_SVG: &str = "importance.svg";
/// Inside `explain/`: gradient × input for the `--rows` asked for.
pub(crate) const ATTRIBUTIONS: &str = "attributions.csv";
/// Inside `explain/`: what the importances were measured on.
pub(crate) const EXPLAIN_ABOUT: &str = "explain.json";

/// Every file a run writes in its folder, by name.
const FILES: [&str; 12] = [
    CONFIG, MODEL_JSON, PREPROCESS, WEIGHTS, HISTORY, SUMMARY, EMISSIONS, CURVES, OUTPUTS, STATUS,
    REPORT, DATA,
];

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burnfit_model::{Loss, MlpConfig};
use serde::{Deserialize, Serialize};

use crate::data::Preprocessor;
use crate::lock::{is_empty_but_lock, FolderLock, Mode};

/// Network shape and loss, saved as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelFile {
    /// The network.
    pub(crate) network: MlpConfig,
    /// The loss (fixes the output head).
    pub(crate) loss: Loss,
    /// The names of the network's inputs, in order.
    pub(crate) inputs: Vec<String>,
    /// The probability above which a row is class 1 (classifiers): `train.threshold`, or what
    /// its rule chose on the validation rows. Written when training ends.
    #[serde(default = "half")]
    pub(crate) threshold: f64,
    /// A k-class softmax's class names in output order (absent for one output).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) classes: Vec<String>,
    /// The temperature `train.calibrate` fitted, already folded into `model.bpk`'s last layer
    /// (nothing is to be applied on top of it); absent without calibration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    /// The label columns of several (multi-label or multi-output), in output order; absent for
    /// one label column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) labels: Vec<String>,
    /// Each label's threshold, when `train.threshold`'s rule chose one per label of a
    /// multi-label run on the validation rows; absent otherwise (`threshold` is every label's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) thresholds: Vec<f64>,
}

fn half() -> f64 {
    crate::threshold::DEFAULT
}

impl ModelFile {
    /// What the outputs mean.
    pub(crate) fn head(&self) -> crate::head::Head {
        crate::head::Head::new(self.loss, self.labels.len().max(1))
    }

    /// The decision thresholds: one per label when chosen per label, else the one threshold.
    pub(crate) fn thresholds(&self) -> Vec<f64> {
        if self.thresholds.is_empty() {
            vec![self.threshold]
        } else {
            self.thresholds.clone()
        }
    }
}

/// How a run ended, the one word `status.json` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Every epoch it was to train (or early stopping, or its time budget, ended it).
    Finished,
    /// A stop signal ended it after a checkpoint: `--resume` continues it.
    Interrupted,
    /// Its loss or weights stopped being finite numbers.
    Diverged,
}

impl Status {
    /// The word, as in the file.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Finished => "finished",
            Status::Interrupted => "interrupted",
            Status::Diverged => "diverged",
        }
    }
}

/// How a run ended, as `status.json` records it; a folder without one is a run still going, or
/// one killed before it could say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StatusFile {
    /// How.
    pub(crate) status: Status,
    /// When, RFC 3339 in UTC.
    pub(crate) at: String,
    /// What happened, for a run that did not finish.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
}

impl StatusFile {
    /// A status dated now.
    pub(crate) fn now(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            at: now_rfc3339(),
            message: message.into(),
        }
    }
}

/// The time now, RFC 3339 to the second, UTC.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

pub(crate) use crate::files::{write_atomic, write_atomic_with};

/// The most bytes a weights file of a network of `params` parameters may hold: four bytes a
/// parameter (f32), twice over for any format overhead, and a megabyte of names.
pub(crate) fn weights_limit(params: usize) -> u64 {
    (params as u64).saturating_mul(8).saturating_add(1 << 20)
}

/// Reads one of burnfit's JSON files, at most [`crate::files::JSON_LIMIT`] bytes, never
/// through a link planted under its name.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = crate::files::read_own(path, crate::files::JSON_LIMIT, "burnfit JSON file")
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid burnfit file", path.display()))
}

/// Whether `dir` holds a run: its `config.toml`, with `model.json` or `checkpoints/` (what
/// `train` writes as it starts). The one answer to "is this a run folder?" for the output rule,
/// the listing of runs, and cv's and sweep's choice between starting and resuming.
pub(crate) fn is_run_folder(dir: &Path) -> bool {
    let regular = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.is_file());
    regular(CONFIG)
        && (regular(MODEL_JSON)
            || fs::symlink_metadata(dir.join(CHECKPOINTS)).is_ok_and(|m| m.is_dir()))
}

/// Refuses a run folder in which something burnfit writes or reads back is not what burnfit
/// made: a link, a device or a FIFO where a file belongs, or anything but a real folder where
/// `checkpoints/` or `explain/` (or a checkpoint in it) belongs. Checked once the lock is held,
/// before any work: a planted `history.csv` link found after an hour of training would cost
/// that hour, and one found by a read would be followed.
pub(crate) fn check_entries(path: &Path) -> Result<()> {
    let refuse = |p: &Path, what: &str, should: &str| -> Result<()> {
        bail!(
            "{} is {what}, not {should}; burnfit neither reads nor writes a run's files through anything it did not make. Remove it, or train into a new folder",
            p.display()
        )
    };
    for name in FILES {
        let p = path.join(name);
        if let Some(what) = crate::files::not_regular(&p) {
            refuse(&p, what, "a regular file")?;
        }
    }
    for name in [CHECKPOINTS, EXPLAIN] {
        let folder = path.join(name);
        match fs::symlink_metadata(&folder) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", folder.display())),
            Ok(m) if !m.is_dir() => {
                refuse(
                    &folder,
                    crate::files::not_regular(&folder).unwrap_or("a file"),
                    "a folder",
                )?;
            }
            Ok(_) => {}
        }
        let entries =
            fs::read_dir(&folder).with_context(|| format!("cannot read {}", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", folder.display()))?;
            let p = entry.path();
            let t = entry
                .file_type()
                .with_context(|| format!("cannot read {}", p.display()))?;
            let temporary = entry.file_name().to_string_lossy().ends_with(".tmp");
            if name == CHECKPOINTS && !temporary {
                if !t.is_dir() {
                    refuse(
                        &p,
                        crate::files::not_regular(&p).unwrap_or("a file"),
                        "a checkpoint folder",
                    )?;
                }
                for inner in
                    fs::read_dir(&p).with_context(|| format!("cannot read {}", p.display()))?
                {
                    let inner = inner.with_context(|| format!("cannot read {}", p.display()))?;
                    if let Some(what) = crate::files::not_regular(&inner.path()) {
                        refuse(&inner.path(), what, "a regular file")?;
                    }
                }
            } else if name == EXPLAIN {
                if let Some(what) = crate::files::not_regular(&p) {
                    refuse(&p, what, "a regular file")?;
                }
            }
        }
    }
    Ok(())
}

/// A run folder. One made by [`RunDir::create`] or [`RunDir::hold`] holds the folder's lock
/// (its clones share it) until the last of them is dropped: one writer per run folder.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    /// Its path.
    pub(crate) path: PathBuf,
    /// The folder's lock, for a run this process writes; `None` for one it only reads. Never
    /// read: holding it is the point.
    _lock: Option<Arc<FolderLock>>,
}

impl RunDir {
    /// Creates a new, empty run folder and takes its lock before anything is written in it. An
    /// existing non-empty folder is never reused silently.
    pub(crate) fn create(path: PathBuf) -> Result<Self> {
        Self::check_free(&path)?;
        fs::create_dir_all(&path)
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        let lock = FolderLock::acquire(&path, Mode::Exclusive)?;
        // Checked again under the lock: another process may have filled it meanwhile.
        Self::check_free(&path)?;
        fs::create_dir_all(path.join(CHECKPOINTS))
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        crate::files::probe_writable(&path)
            .with_context(|| format!("run folder {} is not writable", path.display()))?;
        Ok(Self {
            path,
            _lock: Some(Arc::new(lock)),
        })
    }

    /// Takes the lock of an existing run folder to write in it (`--resume`, `report`'s page,
    /// `explain`'s folder); refused at once while another process writes it.
    pub(crate) fn hold(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            bail!("run folder {} does not exist", path.display());
        }
        let lock = FolderLock::acquire(path, Mode::Exclusive)?;
        check_entries(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            _lock: Some(Arc::new(lock)),
        })
    }

    /// Fails when `path` holds anything (its lock file aside): a run never overwrites files
    /// silently. Checked before the data is loaded, so the user hears of it at once.
    pub(crate) fn check_free(path: &Path) -> Result<()> {
        if path.exists() {
            let empty = is_empty_but_lock(path).unwrap_or(false);
            if !empty {
                bail!(
                    "output folder {} already exists and is not empty; choose another with --out, or use --resume {} to continue it",
                    path.display(),
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Opens an existing run folder, checking that the files evaluate and predict need are there.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            bail!("run folder {} does not exist", path.display());
        }
        for f in [MODEL_JSON, PREPROCESS, WEIGHTS, CONFIG] {
            if !path.join(f).is_file() {
                bail!(
                    "run folder {} is missing {f}; was the run finished?",
                    path.display()
                );
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            _lock: None,
        })
    }

    /// The default folder for a run: `<dir>/<name>-<UTC timestamp>`.
    pub(crate) fn default_path(dir: &Path, name: &str) -> PathBuf {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(['-', ':'], "")
            .replace('T', "-")
            .trim_end_matches('Z')
            .to_string();
        let mut path = dir.join(format!("{name}-{stamp}"));
        let mut i = 2;
        while path.exists() {
            path = dir.join(format!("{name}-{stamp}-{i}"));
            i += 1;
        }
        path
    }

    /// `Err` when a held run folder was moved, deleted or replaced since its lock was taken
    /// ([`FolderLock::still_at`]); a folder only read is not checked.
    pub(crate) fn still_here(&self) -> Result<()> {
        self._lock
            .as_ref()
            .map_or(Ok(()), |l| l.still_at(&self.path))
    }

    /// `path/name`.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file of the run atomically.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.still_here()?;
        write_atomic(&self.file(name), bytes)
    }

    /// Writes a JSON file of the run.
    pub(crate) fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.write(
            name,
            &serde_json::to_vec_pretty(value).expect("serializable"),
        )
    }

    /// Writes `summary.json`. Through a JSON value, whose maps sort their keys: the file reads
    /// the same whatever order the struct declares its fields in.
    pub(crate) fn write_summary(&self, summary: &Summary) -> Result<()> {
        let value = serde_json::to_value(summary).context("cannot encode summary.json")?;
        self.write_json(SUMMARY, &value)
    }

    /// Writes `outputs.csv`: each evaluated row's source row, target and raw output, and for
    /// a classifier its probability; for a k-class softmax the class index and the k raw
    /// outputs `output_0`…; for k label columns their values `target_0`… and the k raw outputs
    /// `output_0`…. Shortest round-trip numbers, so the report recomputes the run's own
    /// figures exactly.
    pub(crate) fn write_outputs(
        &self,
        m: &crate::data::Matrix,
        raw: &[f32],
        head: crate::head::Head,
    ) -> Result<()> {
        self.still_here()?;
        // Streamed to the file: millions of validation rows are hundreds of MB of text.
        write_atomic_with(&self.file(OUTPUTS), |w| {
            let mut w = csv::Writer::from_writer(w);
            Self::outputs_csv(&mut w, m, raw, head)?;
            w.flush()?;
            Ok(())
        })
    }

    /// `outputs.csv`'s rows ([`write_outputs`](Self::write_outputs)).
    // Long because one table layout per kind of head.
    fn outputs_csv<W: std::io::Write>(
        w: &mut csv::Writer<W>,
        m: &crate::data::Matrix,
        raw: &[f32],
        head: crate::head::Head,
    ) -> Result<()> {
        let loss = head.loss();
        if head.is_several() {
            let k = m.y_width;
            let mut header = vec!["row".to_string()];
            header.extend((0..k).map(|j| format!("target_{j}")));
            header.extend((0..k).map(|j| format!("output_{j}")));
            w.write_record(&header)?;
            for ((row, y), z) in m.source_rows.iter().zip(m.y.chunks(k)).zip(raw.chunks(k)) {
                let mut record = vec![row.to_string()];
                record.extend(y.iter().map(ToString::to_string));
                record.extend(z.iter().map(ToString::to_string));
                w.write_record(&record)?;
            }
            return Ok(());
        }
        if loss == Loss::CrossEntropy {
            let k = raw.len().checked_div(m.rows).unwrap_or(1);
            let mut header = vec!["row".to_string(), "target".into()];
            header.extend((0..k).map(|j| format!("output_{j}")));
            w.write_record(&header)?;
            for ((row, y), z) in m.source_rows.iter().zip(m.y.iter()).zip(raw.chunks(k)) {
                let mut record = vec![row.to_string(), y.to_string()];
                record.extend(z.iter().map(ToString::to_string));
                w.write_record(&record)?;
            }
            return Ok(());
        }
        let classifier = loss == Loss::Bce;
        let mut header = vec!["row", "target", "output"];
        if classifier {
            header.push("probability");
        }
        w.write_record(&header)?;
        for ((row, y), z) in m.source_rows.iter().zip(m.y.iter()).zip(raw) {
            let mut record = vec![row.to_string(), y.to_string(), z.to_string()];
            if classifier {
                record.push(loss.activate_value(f64::from(*z)).to_string());
            }
            w.write_record(&record)?;
        }
        Ok(())
    }

    /// Writes `status.json`.
    pub(crate) fn write_status(&self, status: &StatusFile) -> Result<()> {
        self.write_json(STATUS, status)
    }

    /// Reads `model.json`. Its threshold, a probability, is checked: an edited file's `7.5`
    /// would otherwise make every row class 0 without a word.
    pub(crate) fn model_file(&self) -> Result<ModelFile> {
        let path = self.file(MODEL_JSON);
        let m: ModelFile = read_json(&path)?;
        for t in std::iter::once(&m.threshold).chain(&m.thresholds) {
            if !(*t > 0.0 && *t < 1.0) {
                bail!(
                    "{}: threshold {t} is not a probability strictly between 0 and 1; was the file edited? Set it back (0.5 unless train.threshold chose another)",
                    path.display(),
                );
            }
        }
        if !m.thresholds.is_empty() && m.thresholds.len() != m.labels.len() {
            bail!(
                "{}: {} thresholds for {} labels; was the file edited?",
                path.display(),
                m.thresholds.len(),
                m.labels.len()
            );
        }
        if m.labels.len() > 1 && m.network.output != m.labels.len() {
            bail!(
                "{}: {} label columns but the network has {} outputs; was the file edited?",
                path.display(),
                m.labels.len(),
                m.network.output
            );
        }
        Ok(m)
    }

    /// Reads `preprocess.json`.
    pub(crate) fn preprocessor(&self) -> Result<Preprocessor> {
        read_json(&self.file(PREPROCESS))
    }

    /// `model.json` and `preprocess.json`, checked against each other: the label columns of
    /// one are the other's, in the same order (an edited file would name outputs wrongly in
    /// predict's columns and the exports' metadata).
    pub(crate) fn model_and_preprocessor(&self) -> Result<(ModelFile, Preprocessor)> {
        let (model, pre) = (self.model_file()?, self.preprocessor()?);
        if model.labels != pre.labels.column_names() {
            bail!(
                "{} names the label columns [{}] but {} [{}]; was one of them edited? The run's outputs are in {}'s order",
                self.file(MODEL_JSON).display(),
                model.labels.join(", "),
                self.file(PREPROCESS).display(),
                pre.labels.column_names().join(", "),
                PREPROCESS
            );
        }
        Ok((model, pre))
    }

    /// The final model (`model.bpk`) of `network` on `device`. The file is read only when it
    /// holds at most what the network's weights can take (four bytes a parameter, twice over,
    /// and a megabyte of names), so a planted 10 GB file is refused by its size.
    pub(crate) fn load_model(
        &self,
        network: &burnfit_model::MlpConfig,
        device: &burn::tensor::Device,
    ) -> Result<burnfit_model::Mlp> {
        let path = self.file(WEIGHTS);
        let bytes = crate::files::read_own(
            &path,
            weights_limit(network.num_params()),
            "weights file of this network",
        )
        .with_context(|| format!("cannot read {}", path.display()))?;
        weights::from_bytes(network, bytes, device, &path.display().to_string())
    }
}
