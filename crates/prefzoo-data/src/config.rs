//! `[dataset]`: where the pairs come from and how to read them.

use serde::{Deserialize, Serialize};

use crate::formats::{Columns, Format};

/// The `[dataset]` table of a run's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// A file (.jsonl, .jsonl.gz, .json, .parquet), a folder of them (HF layout), or
    /// `hf:org/name[@revision]` read from the local HF cache.
    pub path: String,
    /// standard | conversational | hh | auto (detected from the first readable record).
    #[serde(default)]
    pub format: Format,
    /// The split read from a folder or `hf:` dataset.
    #[serde(default = "default_split")]
    pub split: String,
    /// A separate file/folder/`hf:` dataset for evaluation.
    #[serde(default)]
    pub eval_path: Option<String>,
    /// The evaluation split (of `eval_path`, else of `path`), e.g. "test".
    #[serde(default)]
    pub eval_split: Option<String>,
    /// Without an eval path or split: hold out this fraction of the pairs (seeded, fixed).
    #[serde(default)]
    pub eval_fraction: f64,
    /// Turn every skipped record into an error naming file:line:field.
    #[serde(default)]
    pub strict: bool,
    /// Read at most this many usable pairs (the rest of the file is not read).
    #[serde(default)]
    pub max_pairs: Option<usize>,
    /// Column holding the prompt.
    #[serde(default = "default_prompt")]
    pub prompt_column: String,
    /// Column holding the chosen completion.
    #[serde(default = "default_chosen")]
    pub chosen_column: String,
    /// Column holding the rejected completion.
    #[serde(default = "default_rejected")]
    pub rejected_column: String,
}

fn default_split() -> String {
    "train".into()
}
fn default_prompt() -> String {
    "prompt".into()
}
fn default_chosen() -> String {
    "chosen".into()
}
fn default_rejected() -> String {
    "rejected".into()
}

impl DatasetConfig {
    /// A config reading `path` with every default.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            format: Format::Auto,
            split: default_split(),
            eval_path: None,
            eval_split: None,
            eval_fraction: 0.0,
            strict: false,
            max_pairs: None,
            prompt_column: default_prompt(),
            chosen_column: default_chosen(),
            rejected_column: default_rejected(),
        }
    }

    /// The column names.
    pub fn columns(&self) -> Columns {
        Columns {
            prompt: self.prompt_column.clone(),
            chosen: self.chosen_column.clone(),
            rejected: self.rejected_column.clone(),
        }
    }
}
