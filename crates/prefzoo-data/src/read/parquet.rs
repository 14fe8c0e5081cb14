//! Parquet files as HF datasets writes them, one row group at a time, each row as a JSON value:
//! string columns become strings, list-of-struct columns (`[{role, content}, …]`) become arrays
//! of objects, so the formats see the same values as from JSONL.
//!
//! Only the columns the caller names are decoded when the file has them (UltraFeedback
//! releases carry scores and message lists besides the three used). Decoding runs under
//! `catch_unwind`: the parquet crate can panic on a damaged file (its row iterator `expect`s
//! every row group), and a damaged file must be an error naming it, never a crash.

use std::collections::VecDeque;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::schema::types::Type;
use serde_json::Value;

use super::{Row, Rows};
use crate::error::{DataError, Result};
use crate::record::Origin;

/// The rows of a Parquet file, reading only `columns` where the file has them.
pub fn rows(file: File, path: &Path, columns: &[&str]) -> Result<Rows> {
    let opened = catch_unwind(AssertUnwindSafe(|| SerializedFileReader::new(file)));
    let reader = match opened {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(DataError::Parquet {
                path: path.to_owned(),
                reason: format!("not a readable Parquet file: {e}"),
            });
        }
        Err(panic) => {
            return Err(DataError::Parquet {
                path: path.to_owned(),
                reason: format!(
                    "not a readable Parquet file: {}",
                    panic_text(panic.as_ref())
                ),
            });
        }
    };
    let root = reader.metadata().file_metadata().schema();
    let fields = root.get_fields();
    let wanted: Vec<_> = fields
        .iter()
        .filter(|f| columns.contains(&f.name()))
        .cloned()
        .collect();
    let proj = if wanted.is_empty() || wanted.len() == fields.len() {
        None
    } else {
        Some(
            Type::group_type_builder(root.name())
                .with_fields(wanted)
                .build()
                .map_err(|e| DataError::Parquet {
                    path: path.to_owned(),
                    reason: format!("cannot select columns {columns:?}: {e}"),
                })?,
        )
    };
    let n_groups = reader.num_row_groups();
    Ok(Box::new(ParquetRows {
        reader,
        proj,
        next_group: 0,
        n_groups,
        buffered: VecDeque::new(),
        row: 0,
        src: Arc::new(path.to_owned()),
        done: false,
    }))
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the decoder failed".into())
}

struct ParquetRows {
    reader: SerializedFileReader<File>,
    proj: Option<Type>,
    next_group: usize,
    n_groups: usize,
    buffered: VecDeque<Value>,
    row: usize,
    src: Arc<PathBuf>,
    done: bool,
}

impl ParquetRows {
    /// Decodes row group `i` into JSON values.
    fn load(&self, i: usize) -> std::result::Result<Vec<Value>, String> {
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            let rg = self.reader.get_row_group(i)?;
            let iter = RowIter::from_row_group(self.proj.clone(), rg.as_ref())?;
            iter.map(|r| r.map(|row| row.to_json_value()))
                .collect::<parquet::errors::Result<Vec<Value>>>()
        }));
        match decoded {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(panic_text(panic.as_ref())),
        }
    }
}

impl Iterator for ParquetRows {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(v) = self.buffered.pop_front() {
                self.row += 1;
                return Some(Ok(Row {
                    origin: Origin {
                        path: self.src.clone(),
                        line: self.row,
                    },
                    value: Ok(v),
                }));
            }
            if self.done || self.next_group >= self.n_groups {
                return None;
            }
            let i = self.next_group;
            self.next_group += 1;
            match self.load(i) {
                Ok(values) => self.buffered = values.into(),
                Err(reason) => {
                    self.done = true;
                    return Some(Err(DataError::Damaged {
                        path: self.src.as_ref().clone(),
                        line: self.row + 1,
                        reason: format!("parquet row group {i}: {reason}"),
                    }));
                }
            }
        }
    }
}
