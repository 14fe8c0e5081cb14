//! `[dataset]`: where the pairs come from and how to read them. Field names follow trl and HF
//! `datasets` where they have one (`split`, column names), so a trl user can move a config over.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// `dataset.format`: how a record is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Detect from the first usable record (the report says what was detected).
    #[default]
    Auto,
    /// trl's standard form: `prompt`, `chosen`, `rejected` strings (`prompt` optional: the
    /// shared prefix of the two texts is extracted as trl's `extract_prompt` does).
    Standard,
    /// trl's conversational form: `chosen` / `rejected` as `{role, content}` message lists
    /// (optionally a `prompt` list), rendered with the tokenizer's chat template.
    Conversational,
    /// Anthropic HH-RLHF: whole `\n\nHuman: … \n\nAssistant: …` dialogues in `chosen` /
    /// `rejected`, split at the last `\n\nAssistant:`.
    Hh,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Standard => "standard",
            Format::Conversational => "conversational",
            Format::Hh => "hh",
        })
    }
}

/// The three column names of a record (trl users rename columns; these default to trl's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The prompt column.
    pub prompt: String,
    /// The chosen column.
    pub chosen: String,
    /// The rejected column.
    pub rejected: String,
}

/// The `[dataset]` table of a run's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// A file (`.jsonl`, `.jsonl.gz`, `.json`, `.json.gz`, `.parquet`), a folder of them laid
    /// out as HF datasets stores them, or `hf:org/name[@revision]` read from the local HF cache
    /// (never downloaded).
    pub path: String,
    /// `auto` (default) | `standard` | `conversational` | `hh`.
    #[serde(default)]
    pub format: Format,
    /// The split read from a folder or an `hf:` dataset (default `train`).
    #[serde(default = "default_split")]
    pub split: String,
    /// A separate file, folder or `hf:` dataset for evaluation (its split: `eval_split`,
    /// default `test`).
    #[serde(default)]
    pub eval_path: Option<String>,
    /// The evaluation split: of `eval_path` if given, else of `path` (e.g. `test`).
    #[serde(default)]
    pub eval_split: Option<String>,
    /// Without `eval_path` / `eval_split`: hold out this fraction of the kept pairs for
    /// evaluation, chosen by a fixed seed (default 0: no evaluation set).
    #[serde(default)]
    pub eval_fraction: f64,
    /// Turn every skipped record into an error naming file:line:field (default false: skip,
    /// count and report it).
    #[serde(default)]
    pub strict: bool,
    /// Keep at most this many training pairs; reading stops there (default: all).
    #[serde(default)]
    pub max_pairs: Option<usize>,
    /// The column holding the prompt (default `prompt`).
    #[serde(default = "default_prompt")]
    pub prompt_column: String,
    /// The column holding the chosen completion (default `chosen`).
    #[serde(default = "default_chosen")]
    pub chosen_column: String,
    /// The column holding the rejected completion (default `rejected`).
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

    /// Rejects settings that cannot work, once, before anything is read.
    pub fn validate(&self) -> Result<()> {
        if self.path.trim().is_empty() {
            return Err(DataError::Config(
                "path is empty; set it to a .jsonl/.parquet file, a folder or hf:org/name".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.eval_fraction) {
            return Err(DataError::Config(format!(
                "eval_fraction = {} must be in [0, 1)",
                self.eval_fraction
            )));
        }
        if self.eval_fraction > 0.0 && (self.eval_path.is_some() || self.eval_split.is_some()) {
            return Err(DataError::Config(
                "eval_fraction holds out pairs only when no eval_path / eval_split is given; \
                 set one or the other"
                    .into(),
            ));
        }
        if self.max_pairs == Some(0) {
            return Err(DataError::Config(
                "max_pairs = 0 keeps nothing; remove it to read every pair".into(),
            ));
        }
        let cols = [
            ("prompt_column", &self.prompt_column),
            ("chosen_column", &self.chosen_column),
            ("rejected_column", &self.rejected_column),
        ];
        for (name, value) in cols {
            if value.is_empty() {
                return Err(DataError::Config(format!("{name} is empty")));
            }
        }
        if self.prompt_column == self.chosen_column
            || self.prompt_column == self.rejected_column
            || self.chosen_column == self.rejected_column
        {
            return Err(DataError::Config(format!(
                "prompt_column, chosen_column and rejected_column must differ (got `{}`, `{}`, `{}`)",
                self.prompt_column, self.chosen_column, self.rejected_column
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: DatasetConfig = serde_json::from_str(r#"{"path": "x.jsonl"}"#).unwrap();
        assert_eq!(c, DatasetConfig::new("x.jsonl"));
        let e = serde_json::from_str::<DatasetConfig>(r#"{"path": "x", "splt": "a"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `splt`"), "{e}");
        let c: DatasetConfig =
            serde_json::from_str(r#"{"path": "x", "format": "hh", "chosen_column": "good"}"#)
                .unwrap();
        assert_eq!((c.format, c.chosen_column.as_str()), (Format::Hh, "good"));
    }

    #[test]
    fn contradictions_are_rejected() {
        let mut c = DatasetConfig::new("x");
        c.eval_fraction = 1.0;
        assert!(c.validate().is_err());
        c.eval_fraction = 0.1;
        c.eval_split = Some("test".into());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("eval_fraction")
        );
        let mut c = DatasetConfig::new("x");
        c.rejected_column = "chosen".into();
        assert!(c.validate().is_err());
        assert!(DatasetConfig::new("x").validate().is_ok());
    }
}
