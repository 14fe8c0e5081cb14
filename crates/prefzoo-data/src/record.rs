//! A preference record after rendering: three strings and where they came from.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a record came from: a file and a 1-based line (JSONL) or row (JSON array, Parquet).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file.
    pub path: Arc<PathBuf>,
    /// 1-based line or row.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// A pair in trl's standard form: the prompt and the two completions as text.
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
