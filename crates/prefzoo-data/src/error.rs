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
    /// A file that breaks off part-way or is not what its name says: a truncated download, a
    /// bad gzip stream, a JSON array cut off or followed by more text, a damaged Parquet page.
    /// Never a skipped record: nothing of a damaged file is trained on.
    #[error(
        "{path}:{line}: cannot read past byte {offset}: {reason}; the file is damaged, download or write it again"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The 1-based text line (JSON, JSONL) or row (Parquet) where reading stopped.
        line: usize,
        /// The byte offset where reading stopped: in the file as stored, except where the
        /// reason says it counts the decompressed text (for gzip, the compressed bytes read when
        /// the decoder failed: the file's length when it is cut off).
        offset: u64,
        /// What the decoder said.
        reason: String,
    },
    /// A configured column that no record of a file has (a renamed column would otherwise be
    /// read as absent in every record: empty prompts, or every record skipped).
    #[error(
        "{path}: no record has the column `{column}` (dataset.{key}); columns found: {found}; \
         set dataset.{key} to the column that holds it"
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The config key naming the column (`prompt_column`, …).
        key: &'static str,
        /// The column name configured.
        column: String,
        /// The columns of the file (Parquet: its schema; JSON: the first record's keys).
        found: String,
    },
    /// A split of which not one pair is usable: training, evaluation or scoring on it would
    /// silently do nothing.
    #[error("no usable {split} pairs in {files}: {why}")]
    NoPairs {
        /// `train` or `eval`.
        split: &'static str,
        /// The files read (or where held-out pairs came from).
        files: String,
        /// Why: what was read and skipped, by reason with `file:line` examples, and the fix.
        why: String,
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
    /// A token id the model has no embedding for: the tokenizer is not the model's.
    #[error(
        "{origin}: the tokenizer {tokenizer} gives {token:?} the id {id}, but the model has \
         only {vocab_size} token ids (vocab_size in {model_config}); the tokenizer does not \
         belong to this model: use the model's own tokenizer (leave `tokenizer` unset to use \
         the one beside its weights) or a model whose vocab_size covers this tokenizer"
    )]
    IdBeyondVocab {
        /// `file:line` of the first pair holding the id (or `pad token` / `eos token`).
        origin: String,
        /// The tokenizer's directory.
        tokenizer: PathBuf,
        /// The token, decoded.
        token: String,
        /// Its id.
        id: u32,
        /// The model's vocab_size.
        vocab_size: usize,
        /// The model's config.json.
        model_config: PathBuf,
    },
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
