//! A preference record after rendering (three strings, trl's "standard" form) and where it came
//! from, so that every report and error can point at the exact line of the user's file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a record came from: a file and a 1-based line (JSONL) or record number (JSON array,
/// Parquet). Displays as `path:line`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file.
    pub path: Arc<PathBuf>,
    /// 1-based line or record number.
    pub line: usize,
}

impl Origin {
    /// An origin in `path` at `line`.
    pub fn new(path: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            path: Arc::new(path.into()),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// A pair in trl's standard form: the prompt and the two completions as text, ready to tokenise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceRecord {
    /// The prompt (for chat data: rendered with the generation prompt).
    pub prompt: String,
    /// The preferred completion.
    pub chosen: String,
    /// The dispreferred completion.
    pub rejected: String,
    /// Where it came from.
    pub origin: Origin,
}
