//! The run folder: everything a run leaves behind, and everything evaluate, predict and
//! `--resume` need to rebuild it.
//!
//! ```text
//! runs/<config>-<timestamp>/
//!   config.toml       the resolved config, defaults included
//!   model.json        network shape and loss
//!   preprocess.json   feature order, fills, vocabularies, scaling, label mapping
//!   model.bpk         final weights (burnpack)
//!   history.csv       one row per epoch, every metric
//!   summary.json      backend, timings, final metrics
//!   curves.svg        loss and the main metric per epoch
//!   checkpoints/epoch-NNNN/{model.bpk, optim.bpk, state.json}
//! ```
//!
//! Every file is written to a temporary name, flushed and renamed, so a crash leaves either the
//! old file or the new one, never half of one; checkpoints carry CRC32 checksums of their weights
//! and a damaged one is skipped for the one before.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burnfit_model::{Loss, MlpConfig};
use serde::{Deserialize, Serialize};

use crate::data::Preprocessor;

/// Network shape and loss, saved as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// The network.
    pub network: MlpConfig,
    /// The loss (fixes the output head).
    pub loss: Loss,
    /// The names of the network's inputs, in order.
    pub inputs: Vec<String>,
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut f =
        fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot flush {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid burnfit file", path.display()))
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
}

/// Where training stopped inside the run, saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs fully done.
    pub epoch: usize,
    /// Steps done in the epoch after those (non-zero only for an interrupted run).
    pub step: usize,
    /// Running sums of the interrupted epoch: loss × rows, and wrong predictions.
    pub partial: Vec<f64>,
    /// Every epoch's metrics so far.
    pub history: Vec<crate::train::EpochRow>,
    /// Early stopping's best (epoch, value) and epochs since.
    pub best: Option<(usize, f64)>,
    /// Epochs without improvement.
    pub wait: usize,
    /// CRC32 of `model.bpk`.
    pub model_crc: u32,
    /// CRC32 of `optim.bpk`.
    pub optim_crc: u32,
}

/// A checkpoint read back and verified.
pub struct Checkpoint {
    /// Its folder.
    pub path: PathBuf,
    /// The loop state.
    pub state: CheckpointState,
    /// The weights (burnpack bytes).
    pub model: Vec<u8>,
    /// The optimizer state (burnpack bytes).
    pub optim: Vec<u8>,
}

impl RunDir {
    /// Creates a new, empty run folder. An existing non-empty folder is never reused silently.
    pub fn create(path: PathBuf) -> Result<Self> {
        Self::check_free(&path)?;
        fs::create_dir_all(path.join("checkpoints"))
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        let probe = path.join(".write-test");
        fs::write(&probe, b"")
            .with_context(|| format!("run folder {} is not writable", path.display()))?;
        let _ = fs::remove_file(probe);
        Ok(Self { path })
    }

    /// Fails when `path` holds anything: a run never overwrites files silently. Checked before
    /// the data is loaded, so the user hears of it at once.
    pub fn check_free(path: &Path) -> Result<()> {
        if path.exists() {
            let empty = fs::read_dir(path)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
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
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            bail!("run folder {} does not exist", path.display());
        }
        for f in ["model.json", "preprocess.json", "model.bpk", "config.toml"] {
            if !path.join(f).is_file() {
                bail!(
                    "run folder {} is missing {f}; was the run finished?",
                    path.display()
                );
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The default folder for a run: `<dir>/<name>-<UTC timestamp>`.
    pub fn default_path(dir: &Path, name: &str) -> PathBuf {
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

    /// `path/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file of the run atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// Writes a JSON file of the run.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.write(
            name,
            &serde_json::to_vec_pretty(value).expect("serializable"),
        )
    }

    /// Reads `model.json`.
    pub fn model_file(&self) -> Result<ModelFile> {
        read_json(&self.file("model.json"))
    }

    /// Reads `preprocess.json`.
    pub fn preprocessor(&self) -> Result<Preprocessor> {
        read_json(&self.file("preprocess.json"))
    }

    /// Reads the final weights.
    pub fn weights(&self) -> Result<Vec<u8>> {
        read(&self.file("model.bpk"))
    }

    /// Saves a checkpoint, then keeps only the two newest.
    pub fn save_checkpoint(
        &self,
        mut state: CheckpointState,
        model: &[u8],
        optim: &[u8],
    ) -> Result<()> {
        state.model_crc = crc32fast::hash(model);
        state.optim_crc = crc32fast::hash(optim);
        let root = self.file("checkpoints");
        let name = format!("epoch-{:04}-step-{:06}", state.epoch, state.step);
        let tmp = root.join(format!(".{name}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        write_atomic(&tmp.join("model.bpk"), model)?;
        write_atomic(&tmp.join("optim.bpk"), optim)?;
        write_atomic(
            &tmp.join("state.json"),
            &serde_json::to_vec_pretty(&state).expect("serializable"),
        )?;
        let dest = root.join(&name);
        let _ = fs::remove_dir_all(&dest);
        fs::rename(&tmp, &dest)
            .with_context(|| format!("cannot move checkpoint into {}", dest.display()))?;
        let mut all = self.checkpoint_dirs();
        while all.len() > 2 {
            let old = all.remove(0);
            let _ = fs::remove_dir_all(old);
        }
        Ok(())
    }

    /// Checkpoint folders, oldest first (names sort by epoch and step).
    fn checkpoint_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.file("checkpoints"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_dir()
                            && p.file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    /// The newest checkpoint whose files are complete and match their checksums; damaged ones
    /// are reported in `skipped` and passed over.
    pub fn latest_checkpoint(&self, skipped: &mut Vec<String>) -> Option<Checkpoint> {
        for dir in self.checkpoint_dirs().into_iter().rev() {
            let load = || -> Result<Checkpoint> {
                let state: CheckpointState = read_json(&dir.join("state.json"))?;
                let model = read(&dir.join("model.bpk"))?;
                let optim = read(&dir.join("optim.bpk"))?;
                if crc32fast::hash(&model) != state.model_crc
                    || crc32fast::hash(&optim) != state.optim_crc
                {
                    bail!("checksum mismatch");
                }
                Ok(Checkpoint {
                    path: dir.clone(),
                    state,
                    model,
                    optim,
                })
            };
            match load() {
                Ok(c) => return Some(c),
                Err(e) => skipped.push(format!("{}: {e:#}", dir.display())),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epoch: usize) -> CheckpointState {
        CheckpointState {
            epoch,
            step: 0,
            partial: vec![0.0; 2],
            history: Vec::new(),
            best: None,
            wait: 0,
            model_crc: 0,
            optim_crc: 0,
        }
    }

    fn run_with_checkpoints(n: usize) -> (tempfile::TempDir, RunDir) {
        let tmp = tempfile::TempDir::new().unwrap();
        let run = RunDir::create(tmp.path().join("run")).unwrap();
        for e in 1..=n {
            run.save_checkpoint(state(e), &[e as u8; 100], &[e as u8 + 100; 50])
                .unwrap();
        }
        (tmp, run)
    }

    #[test]
    fn only_the_two_newest_checkpoints_are_kept() {
        let (_tmp, run) = run_with_checkpoints(4);
        let names: Vec<String> = run
            .checkpoint_dirs()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["epoch-0003-step-000000", "epoch-0004-step-000000"]);
        let c = run.latest_checkpoint(&mut Vec::new()).unwrap();
        assert_eq!((c.state.epoch, c.model[0], c.optim[0]), (4, 4, 104));
    }

    #[test]
    fn a_truncated_or_corrupt_checkpoint_is_skipped_for_the_previous_one() {
        for damage in ["truncate", "flip", "remove"] {
            let (_tmp, run) = run_with_checkpoints(2);
            let newest = run.file("checkpoints/epoch-0002-step-000000/model.bpk");
            match damage {
                "truncate" => fs::write(&newest, [2u8; 40]).unwrap(),
                "flip" => fs::write(&newest, [3u8; 100]).unwrap(),
                _ => fs::remove_file(&newest).unwrap(),
            }
            let mut skipped = Vec::new();
            let c = run.latest_checkpoint(&mut skipped).unwrap();
            assert_eq!(c.state.epoch, 1, "{damage}");
            assert_eq!(skipped.len(), 1, "{damage}: {skipped:?}");
            assert!(skipped[0].contains("epoch-0002"), "{skipped:?}");
        }
    }

    #[test]
    fn an_unfinished_checkpoint_folder_is_ignored() {
        let (_tmp, run) = run_with_checkpoints(1);
        // What a kill during a checkpoint write leaves: the temporary folder.
        fs::create_dir_all(run.file("checkpoints/.epoch-0002-step-000000.tmp")).unwrap();
        let c = run.latest_checkpoint(&mut Vec::new()).unwrap();
        assert_eq!(c.state.epoch, 1);
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let tmp = tempfile::TempDir::new().unwrap();
        let p = tmp.path().join("f.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
