//! Parquet files as HF datasets writes them, one row group at a time, each row as a JSON value:
//! string columns become strings, list-of-struct columns (`[{role, content}, …]`) become arrays
//! of objects, so the formats see the same values as from JSONL.
//!
//! Only the columns the caller names are decoded when the file has them (UltraFeedback
//! releases carry scores and message lists besides the three used). Decoding runs under
//! `catch_unwind`: the parquet crate can panic on a damaged file (its row iterator `expect`s
//! every row group), and a damaged file must be an error naming it, never a crash. A file
//! whose footer cannot be read (cut off, or not Parquet) is reported with its length and where
//! the footer should be; a row group that cannot be decoded with its first row and byte range.

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
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let opened = catch_unwind(AssertUnwindSafe(|| SerializedFileReader::new(file)));
    let unreadable = |why: String| DataError::Parquet {
        path: path.to_owned(),
        reason: format!(
            "not a readable Parquet file: its footer (the last 8 bytes, from byte {} of {len}) \
             and metadata cannot be read: {why}; a cut-off download loses the footer, download \
             or write the file again",
            len.saturating_sub(8)
        ),
    };
    let reader = match opened {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(unreadable(e.to_string())),
        Err(panic) => return Err(unreadable(panic_text(panic.as_ref()))),
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

/// The top-level column names of a Parquet file (for messages), if it is one whose footer can
/// be read.
pub fn column_names(path: &Path) -> Option<Vec<String>> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        return None;
    }
    let file = File::open(path).ok()?;
    let reader = catch_unwind(AssertUnwindSafe(|| SerializedFileReader::new(file)))
        .ok()?
        .ok()?;
    let schema = reader.metadata().file_metadata().schema();
    Some(
        schema
            .get_fields()
            .iter()
            .map(|f| f.name().to_owned())
            .collect(),
    )
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
    /// The bytes of row group `i` in the file, as its metadata gives them (computed here:
    /// `ColumnChunkMetaData::byte_range` panics on the negative offsets of damaged metadata).
    fn byte_range(&self, i: usize) -> (u64, u64) {
        let rg = self.reader.metadata().row_group(i);
        let (lo, hi) = rg.columns().iter().fold((u64::MAX, 0), |(lo, hi), c| {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let start = u64::try_from(start).unwrap_or(0);
            let n = u64::try_from(c.compressed_size()).unwrap_or(0);
            (lo.min(start), hi.max(start.saturating_add(n)))
        });
        (lo.min(hi), hi)
    }

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
                    let (start, end) = self.byte_range(i);
                    return Some(Err(DataError::Damaged {
                        path: self.src.as_ref().clone(),
                        line: self.row + 1,
                        offset: start,
                        reason: format!(
                            "parquet row group {i} (bytes {start}..{end}, from row {}): {reason}",
                            self.row + 1
                        ),
                    }));
                }
            }
        }
    }
}
