//! The run directory as a record of one run: `run.json` names the run's id, which every
//! checkpoint and `final/` carries too, so that a resume or an evaluation can refuse files that
//! another run wrote; and the files a run writes, which `prefzoo train --overwrite` clears
//! before a fresh run so that nothing of the old run mixes with the new one.
//!
//! ```text
//! output_dir/
//!   run.json        {"run_id": "…"}: written when a run (fresh or resumed) starts training
//!   .lock           the pid of the process writing the directory (crate::lock)
//!   config.toml     the resolved config (written by the binary), metrics.jsonl, checkpoints/,
//!   …               final/, eval.json
//! ```
//! A run's id is made when a fresh run starts (the time and the process id, in hex) and kept
//! across resumes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// The file holding the run's id.
pub const RUN_FILE: &str = "run.json";

/// The files and directories a run writes into its directory, which `--overwrite` removes.
pub const RUN_ENTRIES: &[&str] = &[
    "config.toml",
    "metrics.jsonl",
    "checkpoints",
    "final",
    ".tmp-final",
    RUN_FILE,
    "eval.json",
];

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id, carried by each of its checkpoints and its `final/`.
    pub run_id: String,
}

/// A new run id: the Unix time in nanoseconds and the process id, in hex.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Reads `dir/run.json`; `None` when the directory has none (a run from before run ids).
pub fn read(dir: &Path) -> Result<Option<RunRecord>, TrainError> {
    let path = dir.join(RUN_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TrainError::RunRecord {
            path,
            reason: e.to_string(),
        })
}

/// `dir/run.json` after checking that files at `path` written by run `found` belong to it:
/// another run's id is an error naming both. An empty `found` (files from before run ids) or
/// a directory without `run.json` passes.
pub fn check_owner(dir: &Path, path: &Path, found: &str) -> Result<Option<RunRecord>, TrainError> {
    let record = read(dir)?;
    match &record {
        Some(r) if !found.is_empty() && found != r.run_id => Err(TrainError::RunIdMismatch {
            path: path.to_owned(),
            found: found.to_owned(),
            run_dir: dir.to_owned(),
            expected: r.run_id.clone(),
        }),
        _ => Ok(record),
    }
}

/// Writes `dir/run.json`.
pub fn write(dir: &Path, record: &RunRecord) -> Result<(), TrainError> {
    let path = dir.join(RUN_FILE);
    let text = serde_json::to_string_pretty(record).expect("serialisable");
    std::fs::write(&path, text).map_err(|e| TrainError::io(&path, e))
}

/// The names of what `dir` holds besides the lock, sorted (empty when it does not exist).
pub fn entries(dir: &Path) -> Result<Vec<String>, TrainError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(dir, e)),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| TrainError::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name != crate::lock::LOCK_FILE {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Refuses a directory that already holds anything, naming it and what it holds.
pub fn ensure_empty(dir: &Path) -> Result<(), TrainError> {
    let names = entries(dir)?;
    if names.is_empty() {
        return Ok(());
    }
    Err(TrainError::OutputDirNotEmpty {
        dir: dir.to_owned(),
        entries: names.join(", "),
    })
}

/// Removes the files of a previous run ([`RUN_ENTRIES`]) from `dir`; anything else is kept.
pub fn clear(dir: &Path) -> Result<(), TrainError> {
    for name in RUN_ENTRIES {
        let p = dir.join(name);
        let removed = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else if p.exists() {
            std::fs::remove_file(&p)
        } else {
            Ok(())
        };
        removed.map_err(|e| TrainError::io(&p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_clear_keeps_other_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        ensure_empty(dir.path()).unwrap();
        let r = RunRecord {
            run_id: new_run_id(),
        };
        write(dir.path(), &r).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(r));
        std::fs::create_dir_all(dir.path().join("checkpoints/step-2")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = ensure_empty(dir.path()).unwrap_err().to_string();
        assert!(err.contains("checkpoints, notes.txt, run.json"), "{err}");
        clear(dir.path()).unwrap();
        assert_eq!(entries(dir.path()).unwrap(), ["notes.txt"]);
    }
}
