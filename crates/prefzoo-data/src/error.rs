//! Errors of reading, rendering and tokenising preference data. Every message names the file
//! (and line and field where there is one) and says how to fix it.

use std::path::PathBuf;

use thiserror::Error;

/// What went wrong with the data.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file that cannot be read at all.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing found where the data or tokenizer should be.
    #[error("{what}: nothing found; looked for {looked}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// Where (paths, patterns).
        looked: String,
    },
    /// One record that cannot be used (in strict mode, or where it cannot be skipped).
    #[error("{path}:{line}: field `{field}` {reason}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line (JSONL) or row (JSON array, Parquet).
        line: usize,
        /// The field at fault.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A tokenizer that cannot be loaded or used.
    #[error("tokenizer {path}: {reason}")]
    Tokenizer {
        /// tokenizer.json or its directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A chat template that cannot be compiled or rendered.
    #[error("chat template: {0}")]
    Template(String),
    /// A Parquet file that cannot be decoded.
    #[error("{path}: parquet: {reason}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A dataset configuration that cannot work.
    #[error("[dataset] {0}")]
    Config(String),
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, DataError>;
