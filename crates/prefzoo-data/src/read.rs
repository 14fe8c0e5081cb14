//! Streaming readers: one JSON value per record, with its origin, from JSONL (optionally
//! gzipped), a JSON array file, Parquet (row by row, as HF datasets stores its shards), a folder
//! of such files, or an `hf:org/name` dataset in the local HF cache.
//!
//! Nothing is loaded whole except a JSON array file (one JSON value by definition; use JSONL for
//! large data). A file that cannot be opened is an error naming it; a line that is not JSON is
//! yielded as a per-record error so that the caller can count and report it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::record::Origin;

/// One record as read, or why it could not be parsed.
#[derive(Debug, Clone)]
pub struct Row {
    /// File and 1-based line or row.
    pub origin: Origin,
    /// The record, or the parse error.
    pub value: std::result::Result<Value, String>,
}

/// File kinds the readers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jsonl,
    JsonlGz,
    Json,
    Parquet,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".parquet") {
        Some(Kind::Parquet)
    } else if name.ends_with(".jsonl.gz") || name.ends_with(".json.gz") {
        Some(Kind::JsonlGz)
    } else if name.ends_with(".jsonl") {
        Some(Kind::Jsonl)
    } else if name.ends_with(".json") {
        Some(Kind::Json)
    } else {
        None
    }
}

/// Whether `path` is a data file the readers understand.
pub fn is_data_file(path: &Path) -> bool {
    kind_of(path).is_some()
}

/// The records of one file.
pub fn read_file(path: &Path) -> Result<Box<dyn Iterator<Item = Row>>> {
    let kind = kind_of(path).ok_or_else(|| {
        DataError::Config(format!(
            "{}: unknown file type; use .jsonl, .jsonl.gz, .json or .parquet",
            path.display()
        ))
    })?;
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let src = Arc::new(path.to_owned());
    Ok(match kind {
        Kind::Jsonl => Box::new(jsonl(BufReader::new(file), src)),
        Kind::JsonlGz => Box::new(jsonl(
            BufReader::new(flate2::read::MultiGzDecoder::new(file)),
            src,
        )),
        Kind::Json => json_file(file, path, src)?,
        Kind::Parquet => parquet_rows(file, path, src)?,
    })
}

fn jsonl<R: BufRead + 'static>(reader: R, src: Arc<PathBuf>) -> impl Iterator<Item = Row> {
    reader
        .split(b'\n')
        .enumerate()
        .filter_map(move |(i, line)| {
            let origin = Origin {
                path: src.clone(),
                line: i + 1,
            };
            let value = match line {
                Err(e) => Err(format!("unreadable: {e}")),
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim();
                    if text.is_empty() {
                        return None;
                    }
                    serde_json::from_str::<Value>(text).map_err(|e| format!("not valid JSON: {e}"))
                }
            };
            Some(Row { origin, value })
        })
}

fn json_file(
    mut file: std::fs::File,
    path: &Path,
    src: Arc<PathBuf>,
) -> Result<Box<dyn Iterator<Item = Row>>> {
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| DataError::io(path, e))?;
    if !text.trim_start().starts_with('[') {
        // A .json file holding JSON lines (HF datasets accepts both).
        let owned: Vec<u8> = text.into_bytes();
        return Ok(Box::new(jsonl(std::io::Cursor::new(owned), src)));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| DataError::BadRecord {
        path: path.to_owned(),
        line: e.line(),
        field: "(file)".into(),
        reason: format!("is not a valid JSON array: {e}"),
    })?;
    let Value::Array(items) = v else {
        unreachable!("starts with '['")
    };
    Ok(Box::new(items.into_iter().enumerate().map(
        move |(i, v)| Row {
            origin: Origin {
                path: src.clone(),
                line: i + 1,
            },
            value: Ok(v),
        },
    )))
}

fn parquet_rows(
    file: std::fs::File,
    path: &Path,
    src: Arc<PathBuf>,
) -> Result<Box<dyn Iterator<Item = Row>>> {
    use parquet::file::reader::SerializedFileReader;
    let reader = SerializedFileReader::try_from(file).map_err(|e| DataError::Parquet {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
    Ok(Box::new(rows.enumerate().map(move |(i, r)| {
        Row {
            origin: Origin {
                path: src.clone(),
                line: i + 1,
            },
            value: r
                .map(|row| row.to_json_value())
                .map_err(|e| format!("unreadable row: {e}")),
        }
    })))
}

/// The data files of a folder that belong to `split`, sorted.
///
/// HF layouts: `data/<split>-00000-of-00003.parquet`, `<split>/*.parquet`,
/// `<split>.jsonl`, `<name>_<split>.jsonl`, `<split>-*.jsonl`. A folder whose files name no split
/// at all is one split: it serves `train`.
pub fn split_files(dir: &Path, split: &str) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    collect(dir, &mut all, 0)?;
    all.sort();
    let matches = |p: &Path| {
        let rel = p.strip_prefix(dir).unwrap_or(p);
        let comps: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().to_lowercase())
            .collect();
        let Some((file, dirs)) = comps.split_last() else {
            return false;
        };
        let stem = file.split('.').next().unwrap_or_default();
        dirs.iter().any(|d| d == split)
            || stem == split
            || stem.starts_with(&format!("{split}-"))
            || stem.ends_with(&format!("-{split}"))
            || stem.ends_with(&format!("_{split}"))
            || stem.starts_with(&format!("{split}_"))
    };
    let picked: Vec<PathBuf> = all.iter().filter(|p| matches(p)).cloned().collect();
    if !picked.is_empty() {
        return Ok(picked);
    }
    let named_splits = ["train", "test", "validation", "valid", "eval", "dev"];
    let any_named = all.iter().any(|p| {
        named_splits
            .iter()
            .any(|s| *s != split && matches_split(p, dir, s))
    });
    if split == "train" && !all.is_empty() && !any_named {
        return Ok(all);
    }
    Err(DataError::NotFound {
        what: format!("split `{split}` in {}", dir.display()),
        looked: format!(
            "data files (.parquet, .jsonl, .jsonl.gz, .json) named after the split, e.g. \
             data/{split}-00000-of-00001.parquet, {split}/*.parquet or {split}.jsonl; files \
             present: {}",
            if all.is_empty() {
                "none".to_owned()
            } else {
                all.iter()
                    .take(8)
                    .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    })
}

fn matches_split(p: &Path, dir: &Path, split: &str) -> bool {
    let rel = p
        .strip_prefix(dir)
        .unwrap_or(p)
        .to_string_lossy()
        .to_lowercase();
    rel.split(['/', '.', '-', '_']).any(|part| part == split)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    if depth > 4 {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for e in rd {
        let e = e.map_err(|e| DataError::io(dir, e))?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(&p, out, depth + 1)?;
        } else if is_data_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Where `hf:org/name` datasets are looked for: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn hf_cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache").join("huggingface").join("hub")
}

/// The snapshot directory of dataset `repo` (`org/name`, optional `@revision`) in `cache`.
///
/// Only the cache on disk is read (tests and offline machines never touch the network); a
/// dataset that is not there is one error saying where it was looked for and how to get it.
pub fn hf_dataset_dir(spec: &str, cache: &Path) -> Result<PathBuf> {
    let (repo, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
        return Err(DataError::Config(format!(
            "`hf:{spec}`: expected hf:org/name or hf:org/name@revision"
        )));
    }
    let root = cache.join(format!("datasets--{}", repo.replace('/', "--")));
    let refs = root.join("refs").join(revision);
    let commit = std::fs::read_to_string(&refs)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| revision.to_owned());
    let snapshot = root.join("snapshots").join(&commit);
    if snapshot.is_dir() {
        return Ok(snapshot);
    }
    Err(DataError::NotFound {
        what: format!("dataset hf:{spec} (offline: only the local HF cache is read)"),
        looked: format!(
            "{} and {}; download it first, e.g. `huggingface-cli download --repo-type dataset \
             {repo}`, or set HF_HOME / HF_HUB_CACHE to the cache that holds it",
            refs.display(),
            snapshot.display()
        ),
    })
}
