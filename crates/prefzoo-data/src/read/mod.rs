//! Streaming readers: one JSON value per record, with its file and line, from JSONL (optionally
//! gzipped), a JSON array file, or Parquet ([`parquet`], one row group at a time); [`layout`]
//! finds the files of a split in a folder or in the local HF cache.
//!
//! Nothing is loaded whole: JSONL is read line by line into one reused buffer, a JSON array
//! element by element, Parquet row group by row group, so a multi-GB file is never held in
//! memory just to be counted. Each item is either a [`Row`] (whose value may be a per-record
//! parse error, for the caller to count and report) or a fatal error that ends the file: a
//! truncated gzip stream or a damaged Parquet page says where reading stopped.

pub mod layout;
pub mod parquet;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::record::Origin;

/// One record as read, or why it could not be parsed.
#[derive(Debug, Clone)]
pub struct Row {
    /// File and 1-based line (JSONL) or record number (JSON array, Parquet).
    pub origin: Origin,
    /// The record, or what is wrong with its text.
    pub value: std::result::Result<Value, String>,
}

/// The records of a file; an `Err` item is fatal and the last one.
pub type Rows = Box<dyn Iterator<Item = Result<Row>>>;

/// File kinds the readers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// JSON lines (`.jsonl`), or for `.json` a JSON array or JSON lines (told apart by the
    /// first non-blank byte, as HF datasets accepts both).
    Json {
        gz: bool,
        lines_only: bool,
    },
    Parquet,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".parquet") {
        Some(Kind::Parquet)
    } else if name.ends_with(".jsonl.gz") {
        Some(Kind::Json {
            gz: true,
            lines_only: true,
        })
    } else if name.ends_with(".json.gz") {
        Some(Kind::Json {
            gz: true,
            lines_only: false,
        })
    } else if name.ends_with(".jsonl") {
        Some(Kind::Json {
            gz: false,
            lines_only: true,
        })
    } else if name.ends_with(".json") {
        Some(Kind::Json {
            gz: false,
            lines_only: false,
        })
    } else {
        None
    }
}

/// Whether `path` names a data file the readers understand.
pub fn is_data_file(path: &Path) -> bool {
    kind_of(path).is_some()
}

/// The records of one file. `columns` are the fields the caller needs: Parquet reads only
/// those columns when the file has them (JSON records are parsed whole).
pub fn read_file(path: &Path, columns: &[&str]) -> Result<Rows> {
    let kind = kind_of(path).ok_or_else(|| {
        DataError::Config(format!(
            "{}: unknown file type; use .jsonl, .jsonl.gz, .json, .json.gz or .parquet",
            path.display()
        ))
    })?;
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let src = Arc::new(path.to_owned());
    match kind {
        Kind::Parquet => parquet::rows(file, path, columns),
        Kind::Json { gz, lines_only } => {
            let mut reader: Box<dyn BufRead> = if gz {
                Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
            } else {
                Box::new(BufReader::new(file))
            };
            let first = first_non_blank(&mut reader).map_err(|e| DataError::Damaged {
                path: path.to_owned(),
                line: 1,
                reason: e.to_string(),
            })?;
            Ok(if !lines_only && first == Some(b'[') {
                Box::new(JsonArray::new(reader, src))
            } else {
                Box::new(JsonLines::new(reader, src))
            })
        }
    }
}

/// Peeks (without consuming, so line numbers stay right) at the first byte of the first
/// buffer that is not whitespace or a UTF-8 byte-order mark.
fn first_non_blank(r: &mut dyn BufRead) -> std::io::Result<Option<u8>> {
    let buf = r.fill_buf()?;
    let body = buf.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(buf);
    Ok(body.iter().copied().find(|b| !b.is_ascii_whitespace()))
}

/// Parses one record's bytes.
fn parse(bytes: &[u8]) -> std::result::Result<Value, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("is not valid UTF-8 (at byte {})", e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str::<Value>(text).map_err(|e| format!("is not valid JSON: {e}"))
}

/// JSON lines: one record per non-blank line.
struct JsonLines {
    reader: Box<dyn BufRead>,
    src: Arc<PathBuf>,
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

impl JsonLines {
    fn new(reader: Box<dyn BufRead>, src: Arc<PathBuf>) -> Self {
        Self {
            reader,
            src,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }
}

impl Iterator for JsonLines {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            self.line += 1;
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Ok(Row {
                        origin: Origin {
                            path: self.src.clone(),
                            line: self.line,
                        },
                        value: parse(&self.buf),
                    }));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(DataError::Damaged {
                        path: self.src.as_ref().clone(),
                        line: self.line,
                        reason: e.to_string(),
                    }));
                }
            }
        }
        None
    }
}

/// A JSON array read element by element: the bytes of each top-level element are collected
/// (tracking strings, escapes and nesting) and parsed on their own. Element k is record k.
struct JsonArray {
    reader: Box<dyn BufRead>,
    src: Arc<PathBuf>,
    index: usize,
    started: bool,
    done: bool,
    elem: Vec<u8>,
}

impl JsonArray {
    fn new(reader: Box<dyn BufRead>, src: Arc<PathBuf>) -> Self {
        Self {
            reader,
            src,
            index: 0,
            started: false,
            done: false,
            elem: Vec::new(),
        }
    }

    fn row(&self, value: std::result::Result<Value, String>) -> Row {
        Row {
            origin: Origin {
                path: self.src.clone(),
                line: self.index,
            },
            value,
        }
    }

    /// Reads the next element's bytes into `self.elem`; returns whether the array went on
    /// (false after `]` or at the end of the input).
    fn scan(&mut self) -> std::io::Result<Option<bool>> {
        let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
        self.elem.clear();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut used = 0;
            for &b in buf {
                used += 1;
                if !self.started {
                    if b == b'[' {
                        self.started = true;
                    }
                    continue;
                }
                if in_str {
                    self.elem.push(b);
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_str = false;
                    }
                    continue;
                }
                match b {
                    b'"' => in_str = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' if depth > 0 => depth -= 1,
                    b']' if depth == 0 => {
                        self.reader.consume(used);
                        return Ok(Some(false));
                    }
                    b',' if depth == 0 => {
                        self.reader.consume(used);
                        return Ok(Some(true));
                    }
                    _ => {}
                }
                self.elem.push(b);
            }
            self.reader.consume(used);
        }
    }
}

impl Iterator for JsonArray {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let more = match self.scan() {
                Ok(m) => m,
                Err(e) => {
                    self.done = true;
                    return Some(Err(DataError::Damaged {
                        path: self.src.as_ref().clone(),
                        line: self.index + 1,
                        reason: e.to_string(),
                    }));
                }
            };
            let blank = self.elem.iter().all(u8::is_ascii_whitespace);
            match more {
                Some(true) => {
                    self.index += 1;
                    return Some(Ok(self.row(parse(&self.elem))));
                }
                Some(false) => {
                    self.done = true;
                    if !blank {
                        self.index += 1;
                        return Some(Ok(self.row(parse(&self.elem))));
                    }
                }
                None => {
                    self.done = true;
                    if !blank {
                        self.index += 1;
                        let detail = "is cut off: the JSON array ends without `]`".to_owned();
                        return Some(Ok(self.row(Err(detail))));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(path: &Path) -> Vec<(usize, std::result::Result<Value, String>)> {
        read_file(path, &[])
            .unwrap()
            .map(|r| r.map(|r| (r.origin.line, r.value)).unwrap())
            .collect()
    }

    #[test]
    fn jsonl_lines_blank_lines_and_bad_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, b"{\"a\": 1}\n\n  \n{\"a\": 2}\r\n\xff\xfe\n{\"a\"").unwrap();
        let v = values(&p);
        assert_eq!(v.len(), 4);
        assert_eq!((v[0].0, v[1].0, v[2].0, v[3].0), (1, 4, 5, 6));
        assert_eq!(v[1].1.as_ref().unwrap()["a"], 2);
        assert!(v[2].1.as_ref().unwrap_err().contains("UTF-8"));
        assert!(v[3].1.as_ref().unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn json_arrays_stream_element_by_element() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(
            &p,
            " [ {\"a\": \"x,]}\\\"\"}, [1, {\"b\": 2}] ,\n{\"c\": 3} ]",
        )
        .unwrap();
        let v = values(&p);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].1.as_ref().unwrap()["a"], "x,]}\"");
        assert_eq!(v[1].1.as_ref().unwrap()[1]["b"], 2);
        assert_eq!(
            (v[2].0, &v[2].1.as_ref().unwrap()["c"]),
            (3, &Value::from(3))
        );
        std::fs::write(&p, "[]").unwrap();
        assert!(values(&p).is_empty());
        std::fs::write(&p, "[{\"a\": 1}, {\"b\"").unwrap();
        let v = values(&p);
        assert!(v[1].1.as_ref().unwrap_err().contains("cut off"));
        // A .jsonl file is lines even when a line is an array (a malformed record).
        let lines = dir.path().join("b.jsonl");
        std::fs::write(&lines, "[,0\n{\"a\": 1}").unwrap();
        let v = values(&lines);
        assert_eq!((v.len(), v[1].0), (2, 2));
        assert!(v[0].1.is_err());
        // A .json file holding JSON lines (HF datasets accepts both).
        std::fs::write(&p, "{\"a\": 1}\n{\"a\": 2}\n").unwrap();
        assert_eq!(values(&p).len(), 2);
    }

    #[test]
    fn gzip_and_damaged_gzip() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..200 {
            writeln!(enc, "{{\"i\": {i}, \"pad\": \"{}\"}}", "x".repeat(i)).unwrap();
        }
        let bytes = enc.finish().unwrap();
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(values(&p).len(), 200);
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let items: Vec<_> = read_file(&p, &[]).unwrap().collect();
        let last = items.last().unwrap();
        assert!(matches!(last, Err(DataError::Damaged { .. })), "{last:?}");
        assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    }
}
