//! Errors of reading, rendering and tokenising preference data. Every message names the file
//! (and the line and field where there is one) and says how to fix it.

use std::path::PathBuf;

use thiserror::Error;

/// What went wrong with the data, the tokenizer or the `[dataset]` config.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file or folder that cannot be opened or listed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file that breaks off part-way (truncated download, bad gzip stream, damaged page).
    #[error(
        "{path}:{line}: cannot read past this point: {reason}; the file is damaged, download or write it again"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The 1-based line or record where reading stopped.
        line: usize,
        /// What the decoder said.
        reason: String,
    },
    /// Nothing found where the data or the tokenizer should be.
    #[error("{what}: nothing found; looked for {looked}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// Where (paths, patterns) and how to get it.
        looked: String,
    },
    /// One record that cannot be used (with `strict = true`, every skipped record is one).
    #[error("{path}:{line}: field `{field}` {reason}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line (JSONL) or record number (JSON array, Parquet).
        line: usize,
        /// The field at fault (`(record)` for the whole record).
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A tokenizer that cannot be loaded or used.
    #[error("tokenizer {path}: {reason}")]
    Tokenizer {
        /// tokenizer.json, tokenizer_config.json or their directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
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
    /// A `[dataset]` setting or a length limit that cannot work.
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
