//! Checkpoints: everything a run needs to continue as if it had never stopped.
//!
//! ```text
//! checkpoints/step-N/
//!   model/                  the policy in HF layout, in the source model's dtype
//!                           (transformers loads it unchanged)
//!   master/                 only when that dtype is not f32: the policy's f32 master
//!                           weights (HF layout), which a resume loads so that it is exact
//!   reference/              TR-DPO only: the moving reference, f32, also in HF layout
//!   optimizer.safetensors   AdamW moments by parameter path
//!   trainer_state.json      step, epoch, seed, the loss's state (β, running statistics), …
//! ```
//! A checkpoint is written into `checkpoints/.tmp-step-N` and renamed into place only when
//! complete, so a run killed while saving leaves the previous checkpoint intact and no
//! half-written one that a resume could pick up. `final/` is written the same way
//! (`.tmp-final`, then renamed). A checkpoint damaged afterwards (a missing or invalid
//! `trainer_state.json`, truncated weights) is found by [`verify`] before a resume loads it.
//! The data position and RNG need no files: the order of epoch e is a function of (seed, e),
//! and losses keep their RNG counters in their state.

use std::path::{Path, PathBuf};

use burn::tensor::DType;
use prefzoo_model::Model;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::optim::AdamW;

/// `trainer_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimiser steps completed.
    pub global_step: u64,
    /// Fractional epochs completed.
    pub epoch: f64,
    /// The run's seed (data order, loss randomness).
    pub seed: u64,
    /// The loss's registry name.
    pub algo: String,
    /// The loss's own state (`PreferenceLoss::state`).
    pub loss_state: serde_json::Value,
    /// Steps per epoch of the plan the run was started with.
    pub steps_per_epoch: u64,
    /// Total steps of that plan.
    pub total_steps: u64,
    /// Fingerprint of the training pairs, to refuse resuming on other data.
    pub data_fingerprint: String,
    /// The prefzoo version that wrote it.
    pub prefzoo_version: String,
    /// The id of the run that wrote it (`run.json`, [`crate::run_dir`]); empty in checkpoints
    /// from before run ids.
    #[serde(default)]
    pub run_id: String,
}

/// What a checkpoint holds besides its state.
#[derive(Debug)]
pub struct CheckpointParts<'a> {
    /// The policy.
    pub policy: &'a Model,
    /// A moving reference to keep (TR-DPO).
    pub moving_reference: Option<&'a Model>,
    /// The optimiser.
    pub optimizer: &'a AdamW,
    /// Where tokenizer files are copied from.
    pub tokenizer_dir: Option<&'a Path>,
    /// The dtype `model/` is written in: the source model's ([`crate::precision`]).
    pub dtype: DType,
}

/// A checkpoint's subdirectory holding f32 master weights, when `model/` is not f32.
pub const MASTER_DIR: &str = "master";

/// The policy weights a resume loads from checkpoint `dir`: the f32 master weights if the
/// checkpoint has them, else `model/` (then f32 itself).
pub fn policy_weights(dir: &Path) -> PathBuf {
    let master = dir.join(MASTER_DIR);
    if master.is_dir() {
        master
    } else {
        dir.join("model")
    }
}

/// The directory of checkpoint `step`.
pub fn step_dir(checkpoints: &Path, step: u64) -> PathBuf {
    checkpoints.join(format!("step-{step}"))
}

/// Writes a checkpoint atomically; returns its directory.
pub fn save(
    checkpoints: &Path,
    state: &TrainerState,
    parts: &CheckpointParts<'_>,
) -> Result<PathBuf, TrainError> {
    let fin = step_dir(checkpoints, state.global_step);
    let tmp = checkpoints.join(format!(".tmp-step-{}", state.global_step));
    write_then_rename(&tmp, &fin, |tmp| {
        prefzoo_model::save_pretrained_as(
            parts.policy,
            &tmp.join("model"),
            parts.tokenizer_dir,
            parts.dtype,
        )?;
        if parts.dtype != DType::F32 {
            prefzoo_model::save_pretrained(parts.policy, &tmp.join(MASTER_DIR), None)?;
        }
        if let Some(r) = parts.moving_reference {
            prefzoo_model::save_pretrained(r, &tmp.join("reference"), parts.tokenizer_dir)?;
        }
        prefzoo_model::save_tensors(
            &tmp.join("optimizer.safetensors"),
            &parts.optimizer.state_tensors(),
        )?;
        let state_path = tmp.join("trainer_state.json");
        let text = serde_json::to_string_pretty(state).expect("serialisable");
        std::fs::write(&state_path, text).map_err(|e| TrainError::io(&state_path, e))
    })?;
    Ok(fin)
}

/// Writes a directory with `write` into `tmp` and renames it to `fin` once complete (replacing
/// an old `fin`). When writing fails (a full disk), the partial `tmp` is removed, so a failed
/// save leaves the directory as it was; the write's error is returned.
pub(crate) fn write_then_rename(
    tmp: &Path,
    fin: &Path,
    write: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    if tmp.exists() {
        std::fs::remove_dir_all(tmp).map_err(|e| TrainError::io(tmp, e))?;
    }
    let written = std::fs::create_dir_all(tmp)
        .map_err(|e| TrainError::io(tmp, e))
        .and_then(|()| write(tmp));
    if let Err(e) = written {
        // Best effort: what is left of a failed write is no use to anyone.
        let _ = std::fs::remove_dir_all(tmp);
        return Err(e);
    }
    if fin.exists() {
        std::fs::remove_dir_all(fin).map_err(|e| TrainError::io(fin, e))?;
    }
    std::fs::rename(tmp, fin).map_err(|e| TrainError::io(fin, e))
}

/// The complete checkpoints under `checkpoints`, oldest first.
pub fn list(checkpoints: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(checkpoints) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// The newest complete checkpoint.
pub fn latest(checkpoints: &Path) -> Option<PathBuf> {
    list(checkpoints).pop().map(|(_, p)| p)
}

/// Reads `trainer_state.json` of a checkpoint.
pub fn read_state(dir: &Path) -> Result<TrainerState, TrainError> {
    let p = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: dir.to_owned(),
        reason: format!("trainer_state.json: {e}"),
    })
}

/// Every `step-N` directory under `checkpoints`, complete or not, oldest first.
fn all_steps(checkpoints: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(checkpoints) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path().is_dir().then(|| (step, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Checks that checkpoint `dir` can be loaded without loading it: `trainer_state.json` parses,
/// and the policy weights and `optimizer.safetensors` are complete safetensors files.
pub fn verify(dir: &Path) -> Result<TrainerState, TrainError> {
    let state = read_state(dir)?;
    let bad = |reason: String| TrainError::Checkpoint {
        path: dir.to_owned(),
        reason,
    };
    let weights = policy_weights(dir);
    let single = weights.join("model.safetensors");
    if single.is_file() {
        check_safetensors(&single).map_err(bad)?;
    } else if !weights.join("model.safetensors.index.json").is_file() {
        return Err(bad(format!(
            "{} holds no model.safetensors",
            weights.display()
        )));
    }
    let moving = dir.join("reference/model.safetensors");
    if moving.is_file() {
        check_safetensors(&moving).map_err(bad)?;
    }
    check_safetensors(&dir.join("optimizer.safetensors")).map_err(bad)?;
    Ok(state)
}

/// Whether a safetensors file is whole: a readable header whose tensors end where the file does.
fn check_safetensors(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let name = path.display();
    let mut f = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let len = f.metadata().map_err(|e| format!("{name}: {e}"))?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| format!("{name}: truncated ({len} bytes)"))?;
    let n = u64::from_le_bytes(n);
    if n > len.saturating_sub(8) {
        return Err(format!("{name}: truncated header ({len} bytes)"));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| format!("{name}: {e}"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("{name}: invalid header: {e}"))?;
    let end = header
        .values()
        .filter_map(|t| t["data_offsets"][1].as_u64())
        .max()
        .unwrap_or(0);
    if 8 + n + end != len {
        return Err(format!(
            "{name}: truncated: its header describes {} bytes, the file has {len}",
            8 + n + end
        ));
    }
    Ok(())
}

/// The newest checkpoint under `checkpoints`, verified; `Ok(None)` when there is none. When the
/// newest cannot be loaded the error names it and the newest earlier one that can.
pub fn newest_loadable(checkpoints: &Path) -> Result<Option<PathBuf>, TrainError> {
    let mut all = all_steps(checkpoints);
    let Some((_, newest)) = all.pop() else {
        return Ok(None);
    };
    match verify(&newest) {
        Ok(_) => Ok(Some(newest)),
        Err(e) => {
            let reason = match e {
                TrainError::Checkpoint { reason, .. } => reason,
                other => other.to_string(),
            };
            let previous = all
                .into_iter()
                .rev()
                .map(|(_, p)| p)
                .find(|p| verify(p).is_ok());
            Err(TrainError::CorruptCheckpoint {
                path: newest,
                reason,
                previous,
            })
        }
    }
}

/// Deletes the oldest checkpoints beyond `limit`.
pub fn prune(checkpoints: &Path, limit: usize) -> Result<(), TrainError> {
    let all = list(checkpoints);
    let excess = all.len().saturating_sub(limit.max(1));
    for (_, p) in all.into_iter().take(excess) {
        std::fs::remove_dir_all(&p).map_err(|e| TrainError::io(&p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A save that fails half-way (as on a full disk) leaves neither its temporary directory
    /// nor any change to the checkpoint it would have replaced.
    #[test]
    fn a_failed_write_leaves_no_temporary_directory_and_the_old_one_intact() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, fin) = (dir.path().join(".tmp-step-2"), dir.path().join("step-2"));
        std::fs::create_dir_all(&fin).unwrap();
        std::fs::write(fin.join("trainer_state.json"), "old").unwrap();
        let err = write_then_rename(&tmp, &fin, |tmp| {
            std::fs::write(tmp.join("model.safetensors"), "half").unwrap();
            Err(TrainError::io(
                tmp.join("optimizer.safetensors"),
                std::io::Error::from_raw_os_error(28), // ENOSPC
            ))
        })
        .unwrap_err();
        assert!(err.to_string().contains("optimizer.safetensors"), "{err}");
        assert!(!tmp.exists(), "the partial write is removed");
        let kept = std::fs::read_to_string(fin.join("trainer_state.json")).unwrap();
        assert_eq!(kept, "old");

        write_then_rename(&tmp, &fin, |tmp| {
            std::fs::write(tmp.join("trainer_state.json"), "new")
                .map_err(|e| TrainError::io(tmp, e))
        })
        .unwrap();
        assert!(!tmp.exists());
        let now = std::fs::read_to_string(fin.join("trainer_state.json")).unwrap();
        assert_eq!(now, "new");
    }
}
