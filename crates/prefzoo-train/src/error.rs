//! Errors of a training run: each names what to fix (a key, a file, a step).

use std::path::PathBuf;

use thiserror::Error;

/// What stopped a run.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A configuration value no run can use.
    #[error("config: {0}")]
    Config(String),
    /// A run `prefzoo plan` cannot size (the key to fix, and why).
    #[error("field `{field}` {reason}")]
    Plan {
        /// The config key.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// `bf16 = true` on a device without bfloat16 tensors.
    #[error(
        "`bf16 = true` needs bfloat16 tensors, which device {device} does not support; set \
         bf16 = false, or use the cpu (flex) or a cuda device"
    )]
    Bf16Unsupported {
        /// The device, as Burn names it.
        device: String,
    },
    /// The loss could not be built or restored.
    #[error(transparent)]
    Loss(#[from] prefzoo_core::LossError),
    /// The model could not be loaded or saved.
    #[error(transparent)]
    Model(#[from] prefzoo_model::ModelError),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] prefzoo_data::DataError),
    /// A file of the run could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A checkpoint that cannot be resumed from.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `checkpoints/step-N` that cannot be loaded, and the newest one before it that can.
    #[error(
        "checkpoint {path} cannot be loaded ({reason}); {}",
        previous_advice(.previous)
    )]
    CorruptCheckpoint {
        /// The corrupt checkpoint.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The newest loadable checkpoint before it, if any.
        previous: Option<PathBuf>,
    },
    /// A checkpoint or `final/` written by another run than the run directory's.
    #[error(
        "{path} belongs to run {found}, but the run directory {run_dir} is run {expected} (its \
         run.json); it was copied from another run. Resume from, or evaluate, a checkpoint \
         of this run"
    )]
    RunIdMismatch {
        /// The checkpoint or `final/`.
        path: PathBuf,
        /// The run id it carries.
        found: String,
        /// The run directory.
        run_dir: PathBuf,
        /// The run directory's id.
        expected: String,
    },
    /// `run.json` that cannot be read.
    #[error("{path}: {reason}; it should hold {{\"run_id\": \"…\"}}")]
    RunRecord {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A fresh run into a directory that already holds files.
    #[error(
        "output_dir {dir} is not empty (it holds {entries}); pass --resume {dir} to continue \
         the run there, or --overwrite to delete its run files (config.toml, metrics.jsonl, \
         checkpoints/, final/) and start afresh, or choose another output_dir"
    )]
    OutputDirNotEmpty {
        /// The directory.
        dir: PathBuf,
        /// What it holds.
        entries: String,
    },
    /// The run directory is being written by another process.
    #[error(
        "output_dir {dir} is in use by process {pid} (lock file {lock}); wait for that run to \
         finish or stop it, or pick another output_dir. If no such process exists, delete {lock}"
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's pid, as the lock file says.
        pid: String,
    },
    /// A resume whose config changes keys that alter the training trajectory.
    #[error(
        "resuming {run_dir}: the config differs from the one the run was trained with \
         ({run_dir}/config.toml) in keys that change the training:\n{changes}\nput the old \
         values back, or pass --allow-changes {keys} to change them deliberately"
    )]
    ConfigChanged {
        /// The run directory.
        run_dir: PathBuf,
        /// One `  key: old → new` line per refused key.
        changes: String,
        /// The refused keys, space-separated.
        keys: String,
    },
    /// A checkpoint or `final/` could not be written (a full disk); its partial directory was
    /// removed.
    #[error(
        "saving {path} failed: {source}; the partial directory was removed, and {}",
        resume_advice(.last_checkpoint)
    )]
    SaveFailed {
        /// The checkpoint or `final/` directory being written.
        path: PathBuf,
        /// Why.
        source: Box<TrainError>,
        /// The newest complete checkpoint, if any.
        last_checkpoint: Option<PathBuf>,
    },
    /// The loss became NaN or infinite; nothing of the step was applied.
    #[error(
        "the loss became {value} at step {step} (micro-batch {micro_batch}, pairs {pairs}); \
         no update was applied and the last good checkpoint ({last_checkpoint}) is intact. \
         Lower learning_rate or beta, or inspect those pairs"
    )]
    NonFinite {
        /// The optimiser step (1-based) that failed.
        step: u64,
        /// The micro-batch within the step (0-based).
        micro_batch: usize,
        /// Where the pairs come from (file:line, …).
        pairs: String,
        /// The value seen.
        value: f64,
        /// The newest checkpoint, or "none yet".
        last_checkpoint: String,
    },
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

fn previous_advice(previous: &Option<PathBuf>) -> String {
    match previous {
        Some(p) => format!(
            "the previous good checkpoint is {}: pass --resume-from {} to continue from it",
            p.display(),
            p.display()
        ),
        None => "no earlier checkpoint can be loaded either; start the run afresh".to_owned(),
    }
}

fn resume_advice(last: &Option<PathBuf>) -> String {
    match last {
        Some(p) => format!(
            "the last complete checkpoint, {}, is intact: free space and continue with \
             `prefzoo train --resume` on the run directory",
            p.display()
        ),
        None => "no checkpoint had been written yet".to_owned(),
    }
}
