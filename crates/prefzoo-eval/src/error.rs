//! prefzoo-eval's errors for reading a run's `metrics.jsonl` and drawing plots: each names the
//! file (and line and field) to look at, so `prefzoo plot` can print it as it is.

use std::path::PathBuf;

/// What went wrong reading a run's curves or drawing a plot.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The run directory does not exist.
    #[error("run directory {dir} does not exist")]
    NoRunDir {
        /// The directory given.
        dir: PathBuf,
    },
    /// The run directory holds no `metrics.jsonl`.
    #[error("no metrics.jsonl in {dir}: has this run logged a step yet?")]
    NoMetrics {
        /// The run directory.
        dir: PathBuf,
    },
    /// `metrics.jsonl` exists but holds no record.
    #[error("{path} holds no logged step: has this run logged a step yet?")]
    NoSteps {
        /// The metrics file.
        path: PathBuf,
    },
    /// A line of `metrics.jsonl` is not a JSON object.
    #[error("{path}:{line}: {reason}")]
    BadLine {
        /// The metrics file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of a `metrics.jsonl` record has the wrong type.
    #[error("{path}:{line}: field `{field}` {reason}")]
    BadField {
        /// The metrics file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field's name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// plotters could not draw a figure.
    #[error("drawing {path}: {reason}")]
    Plot {
        /// The image file.
        path: PathBuf,
        /// plotters' error.
        reason: String,
    },
}

impl EvalError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
