//! Checkpoints: the weights, the optimizer state and the loop's position, each checksummed,
//! the two newest kept, a damaged one passed over for the one before.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{read_json, write_atomic, RunDir, CHECKPOINTS};
use crate::history::EpochRow;

/// The running sums of an epoch a stop signal interrupted, so that its resumed rest adds up to
/// the epoch's figures as if it had run through. Saved as `[loss, wrong]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, f64)", into = "(f64, f64)")]
pub(crate) struct Partial {
    /// The loss times the rows, summed over the steps done.
    pub(crate) loss: f64,
    /// Wrong predictions so far (classifiers).
    pub(crate) wrong: f64,
}

impl From<(f64, f64)> for Partial {
    fn from((loss, wrong): (f64, f64)) -> Self {
        Self { loss, wrong }
    }
}

impl From<Partial> for (f64, f64) {
    fn from(p: Partial) -> Self {
        (p.loss, p.wrong)
    }
}

/// Early stopping's best epoch so far and its value of the monitored metric. Saved as
/// `[epoch, value]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(usize, f64)", into = "(usize, f64)")]
pub(crate) struct Best {
    /// The epoch, 1-based.
    pub(crate) epoch: usize,
    /// Its value.
    pub(crate) value: f64,
}

impl From<(usize, f64)> for Best {
    fn from((epoch, value): (usize, f64)) -> Self {
        Self { epoch, value }
    }
}

impl From<Best> for (usize, f64) {
    fn from(b: Best) -> Self {
        (b.epoch, b.value)
    }
}

/// Where training stopped inside the run, saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    /// Epochs fully done.
    pub(crate) epoch: usize,
    /// Steps done in the epoch after those (non-zero only for an interrupted run).
    pub(crate) step: usize,
    /// Running sums of the interrupted epoch.
    pub(crate) partial: Partial,
    /// Every epoch's metrics so far.
    pub(crate) history: Vec<EpochRow>,
    /// Early stopping's best.
    pub(crate) best: Option<Best>,
    /// Epochs without improvement.
    pub(crate) wait: usize,
    /// CRC32 of `model.bpk`.
    pub(crate) model_crc: u32,
    /// CRC32 of `optim.bpk`.
    pub(crate) optim_crc: u32,
    /// CRC32 of `best.bpk`, early stopping's best weights, when the checkpoint holds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) best_crc: Option<u32>,
    /// A private run's noise source (its secret key and steps drawn), so a resume continues
    /// the noise exactly. As sensitive as the training data: whoever holds it and the
    /// intermediate models can remove the noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) noise: Option<burnfit_model::NoiseState>,
    /// A private run's rows taken so far in the interrupted epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seen: Option<usize>,
    /// CRC32 of the resolved config the run trains under (`Config::to_toml`): a resume under
    /// an edited `config.toml` (other labels, another batch size) would continue another run
    /// from this one's weights, and is refused. Absent in checkpoints made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) config_crc: Option<u32>,
}

/// A checkpoint read back and verified.
pub(crate) struct Checkpoint {
    /// Its folder.
    pub(crate) path: PathBuf,
    /// The loop state.
    pub(crate) state: CheckpointState,
    /// The weights (burnpack bytes).
    pub(crate) model: Vec<u8>,
    /// The optimizer state (burnpack bytes).
    pub(crate) optim: Vec<u8>,
    /// Early stopping's best weights (burnpack bytes), when kept.
    pub(crate) best: Option<Vec<u8>>,
}

impl RunDir {
    /// Saves a checkpoint (with early stopping's best weights when given), then keeps only the
    /// two newest.
    pub(crate) fn save_checkpoint(
        &self,
        mut state: CheckpointState,
        model: &[u8],
        optim: &[u8],
        best: Option<&[u8]>,
    ) -> Result<()> {
        self.still_here()?;
        state.model_crc = crc32fast::hash(model);
        state.optim_crc = crc32fast::hash(optim);
        state.best_crc = best.map(crc32fast::hash);
        let root = self.file(CHECKPOINTS);
        let name = format!("epoch-{:04}-step-{:06}", state.epoch, state.step);
        // Built in a fresh folder no one else can have prepared (`.NAME.<random>.tmp`),
        // removed on any error before the rename below.
        crate::files::own_dir(&root)?;
        let tmp = crate::files::temp_dir_in(&root, &name)?;
        write_atomic(&tmp.path().join("model.bpk"), model)?;
        write_atomic(&tmp.path().join("optim.bpk"), optim)?;
        if let Some(best) = best {
            write_atomic(&tmp.path().join("best.bpk"), best)?;
        }
        write_atomic(
            &tmp.path().join("state.json"),
            &serde_json::to_vec_pretty(&state).context("cannot encode state.json")?,
        )?;
        let dest = root.join(&name);
        // A folder of the same name (a resumed run re-saving the step it stopped at) is replaced
        // whole; `remove_dir_all` removes a link itself, never what it points at.
        let _ = fs::remove_dir_all(&dest);
        let built = tmp.keep();
        if let Err(e) = fs::rename(&built, &dest) {
            let _ = fs::remove_dir_all(&built);
            return Err(e)
                .with_context(|| format!("cannot move checkpoint into {}", dest.display()));
        }
        // Temporary folders a killed writer left: this process holds the run's lock, so no
        // other writer is building one now.
        for left in crate::files::leftover_temporaries(&root, "epoch-") {
            let _ = fs::remove_dir_all(left);
        }
        let mut all = self.checkpoint_dirs();
        while all.len() > 2 {
            let old = all.remove(0);
            let _ = fs::remove_dir_all(old);
        }
        Ok(())
    }

    /// Checkpoint folders, oldest first (names sort by epoch and step).
    fn checkpoint_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.file(CHECKPOINTS))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        // A link planted among the checkpoints is not one of them.
                        fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
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
    pub(crate) fn latest_checkpoint(&self, skipped: &mut Vec<String>) -> Option<Checkpoint> {
        // Each file at most what the run's network can take (the optimizer's state holds up
        // to two moments a parameter): a planted 5 GB file is passed over by its size.
        let params = self.model_file().map_or(0, |m| m.network.num_params());
        let (weights_limit, optim_limit) = (
            super::weights_limit(params),
            super::weights_limit(params.saturating_mul(2)),
        );
        let read = |path: &std::path::Path, limit: u64| -> Result<Vec<u8>> {
            crate::files::read_own(path, limit, "checkpoint file of this network")
                .with_context(|| format!("cannot read {}", path.display()))
        };
        for dir in self.checkpoint_dirs().into_iter().rev() {
            let load = || -> Result<Checkpoint> {
                let state: CheckpointState = read_json(&dir.join("state.json"))?;
                let model = read(&dir.join("model.bpk"), weights_limit)?;
                let optim = read(&dir.join("optim.bpk"), optim_limit)?;
                if crc32fast::hash(&model) != state.model_crc
                    || crc32fast::hash(&optim) != state.optim_crc
                {
                    bail!("checksum mismatch");
                }
                let best = match state.best_crc {
                    Some(crc) => {
                        let best = read(&dir.join("best.bpk"), weights_limit)?;
                        if crc32fast::hash(&best) != crc {
                            bail!("checksum mismatch in best.bpk");
                        }
                        Some(best)
                    }
                    None => None,
                };
                Ok(Checkpoint {
                    path: dir.clone(),
                    state,
                    model,
                    optim,
                    best,
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
            partial: Partial::default(),
            history: Vec::new(),
            best: None,
            wait: 0,
            model_crc: 0,
            optim_crc: 0,
            best_crc: None,
            noise: None,
            seen: None,
            config_crc: None,
        }
    }

    fn run_with_checkpoints(n: usize) -> (tempfile::TempDir, RunDir) {
        let tmp = tempfile::TempDir::new().unwrap();
        let run = RunDir::create(tmp.path().join("run")).unwrap();
        for e in 1..=n {
            run.save_checkpoint(state(e), &[e as u8; 100], &[e as u8 + 100; 50], None)
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
}
