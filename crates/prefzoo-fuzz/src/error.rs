//! The harness's errors (a failing case is not one: it is a finding, see [`crate::Finding`]).

use std::path::PathBuf;

use thiserror::Error;

/// What can stop the harness itself.
#[derive(Debug, Error)]
pub enum FuzzError {
    /// A scratch or regression file that cannot be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The golden tokenizer the data targets need would not load.
    #[error("loading the golden tokenizer: {0}")]
    Tokenizer(#[from] prefzoo_data::DataError),
    /// A regression file outside `regressions/<target>/`.
    #[error("{path}: a regression file lies in regressions/<target>/; `{folder}` names no target")]
    UnknownTarget {
        /// The file.
        path: PathBuf,
        /// Its folder's name.
        folder: String,
    },
}

impl FuzzError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, FuzzError>;
