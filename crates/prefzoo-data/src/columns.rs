//! The configured column names against the records of a file. A column named in `[dataset]`
//! that no record of a file has is an error naming the column, the file and the columns found:
//! a renamed column (`prompt_column = "question"`) would otherwise read as absent in every
//! record, so that trl's prompt extraction trains on made-up prompts, or every record is
//! skipped. A column absent from only some records stays those records' business (skipped and
//! reported as `missing field`, or with `strict` an error naming file:line).
//!
//! Which columns every file must have: `chosen_column` and `rejected_column` always;
//! `prompt_column` only when it is set to something other than its default `prompt`, since
//! the default may be absent (trl extracts the prompt from the two texts, HH dialogues carry
//! it). A file without a single JSON object (all records malformed) is not checked here: its
//! records are skipped and reported, and a split without a usable pair is an error of its own.

use std::path::Path;

use serde_json::Value;

use crate::config::DatasetConfig;
use crate::error::{DataError, Result};
use crate::read::parquet;

/// Keys shown of the first record.
const SHOWN: usize = 20;

/// Which configured columns the records of one file have had.
pub(crate) struct ColumnCheck<'a> {
    /// (config key, column name, seen in some record).
    wanted: Vec<(&'static str, &'a str, bool)>,
    /// The keys of the first JSON object.
    first_keys: Option<Vec<String>>,
}

impl<'a> ColumnCheck<'a> {
    /// The columns `cfg` requires of every file.
    pub(crate) fn new(cfg: &'a DatasetConfig) -> Self {
        let default_prompt = DatasetConfig::new("").prompt_column;
        let mut wanted = Vec::with_capacity(3);
        if cfg.prompt_column != default_prompt {
            wanted.push(("prompt_column", cfg.prompt_column.as_str(), false));
        }
        wanted.push(("chosen_column", cfg.chosen_column.as_str(), false));
        wanted.push(("rejected_column", cfg.rejected_column.as_str(), false));
        Self {
            wanted,
            first_keys: None,
        }
    }

    /// Notes the columns of one record (anything but a JSON object is ignored).
    pub(crate) fn see(&mut self, record: &Value) {
        let Some(map) = record.as_object() else {
            return;
        };
        if self.first_keys.is_none() {
            self.first_keys = Some(map.keys().cloned().collect());
        }
        for (_, column, seen) in &mut self.wanted {
            *seen |= map.contains_key(*column);
        }
    }

    /// After the records of `path`: the error for the first configured column none of them had.
    pub(crate) fn finish(&self, path: &Path) -> Result<()> {
        let Some(first_keys) = &self.first_keys else {
            return Ok(());
        };
        let Some(&(key, column, _)) = self.wanted.iter().find(|(_, _, seen)| !seen) else {
            return Ok(());
        };
        // Parquet rows carry only the columns asked for: show the schema instead.
        let (names, source) = match parquet::column_names(path) {
            Some(names) => (names, "the file's schema"),
            None => (first_keys.clone(), "the first record"),
        };
        let mut found: Vec<String> = names.iter().take(SHOWN).map(|k| format!("`{k}`")).collect();
        if names.len() > SHOWN {
            found.push(format!("… {} more", names.len() - SHOWN));
        }
        let found = if found.is_empty() {
            format!("none ({source} has no column)")
        } else {
            format!("{} ({source})", found.join(", "))
        };
        Err(DataError::MissingColumn {
            path: path.to_owned(),
            key,
            column: column.to_owned(),
            found,
        })
    }
}
