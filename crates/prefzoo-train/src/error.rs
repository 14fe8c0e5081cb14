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
