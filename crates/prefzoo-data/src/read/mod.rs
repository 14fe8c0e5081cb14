//! Streaming readers: one JSON value per record, with its file and line, from JSONL (optionally
//! gzipped), a JSON array file, or Parquet ([`parquet`], one row group at a time); [`layout`]
//! finds the files of a split in a folder or in the local HF cache.
//!
//! Nothing is loaded whole: JSONL is read line by line into one reused buffer, a JSON array
//! element by element, Parquet row group by row group, so a multi-GB file is never held in
//! memory just to be counted. Each item is either a [`Row`] (whose value may be a per-record
//! parse error, for the caller to count and report) or a fatal error that ends the file: a
//! truncated gzip stream, a JSON array cut off before its `]` or followed by more text, or a
//! damaged Parquet page says where reading stopped (line and byte offset). A bad JSONL line is
//! one record (skipped and reported, or with `strict` an error); a damaged file is never
//! trained on in part.

pub mod layout;
pub mod parquet;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
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
            let (mut reader, disk): (Box<dyn BufRead>, _) = if gz {
                let disk = Rc::new(Cell::new(0));
                let counted = Counted {
                    inner: file,
                    count: disk.clone(),
                };
                let decoder = flate2::read::MultiGzDecoder::new(counted);
                (Box::new(BufReader::new(decoder)), Some(disk))
            } else {
                (Box::new(BufReader::new(file)), None)
            };
            let first = first_non_blank(&mut reader).map_err(|e| DataError::Damaged {
                path: path.to_owned(),
                line: 1,
                offset: disk.as_ref().map_or(0, |d| d.get()),
                reason: e.to_string(),
            })?;
            let pos = Pos {
                src,
                text: 0,
                line: 1,
                disk,
            };
            Ok(if !lines_only && first == Some(b'[') {
                Box::new(JsonArray::new(reader, pos))
            } else {
                Box::new(JsonLines::new(reader, pos))
            })
        }
    }
}

/// A reader that counts the bytes read through it (the compressed bytes under a gzip decoder,
/// so that a damaged stream is reported at a byte offset of the file as stored).
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Where a JSON reader is: the file, the text consumed (bytes and 1-based line) and, under a
/// gzip decoder, the compressed bytes read from disk.
struct Pos {
    src: Arc<PathBuf>,
    text: u64,
    line: usize,
    disk: Option<Rc<Cell<u64>>>,
}

impl Pos {
    /// The decoder (or the disk) failed: the offset in the file as stored.
    fn io_error(&self, e: &std::io::Error) -> DataError {
        let (offset, reason) = match &self.disk {
            Some(d) => (
                d.get(),
                format!("{e} (gzip stream; {} bytes decompressed)", self.text),
            ),
            None => (self.text, e.to_string()),
        };
        DataError::Damaged {
            path: self.src.as_ref().clone(),
            line: self.line,
            offset,
            reason,
        }
    }

    /// The JSON text is wrong at the current position (the offset counts that text).
    fn text_error(&self, reason: String) -> DataError {
        let reason = match self.disk {
            Some(_) => format!("{reason} (the offset counts the decompressed text)"),
            None => reason,
        };
        DataError::Damaged {
            path: self.src.as_ref().clone(),
            line: self.line,
            offset: self.text,
            reason,
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
    /// `pos.line` is the line being read.
    pos: Pos,
    buf: Vec<u8>,
    done: bool,
}

impl JsonLines {
    fn new(reader: Box<dyn BufRead>, mut pos: Pos) -> Self {
        pos.line = 0;
        Self {
            reader,
            pos,
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
            self.pos.line += 1;
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(n) => {
                    self.pos.text += n as u64;
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Ok(Row {
                        origin: Origin {
                            path: self.pos.src.clone(),
                            line: self.pos.line,
                        },
                        value: parse(&self.buf),
                    }));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.pos.io_error(&e)));
                }
            }
        }
        None
    }
}

/// A JSON array read element by element: the bytes of each top-level element are collected
/// (tracking strings, escapes and nesting) and parsed on their own. Element k is record k. An
/// element that is not valid JSON is that record's error; an array cut off before its `]`, or
/// text after the `]`, is the file's (fatal) error.
struct JsonArray {
    reader: Box<dyn BufRead>,
    pos: Pos,
    index: usize,
    started: bool,
    /// The closing `]` was read; what follows must be whitespace.
    closed: bool,
    done: bool,
    elem: Vec<u8>,
}

impl JsonArray {
    fn new(reader: Box<dyn BufRead>, pos: Pos) -> Self {
        Self {
            reader,
            pos,
            index: 0,
            started: false,
            closed: false,
            done: false,
            elem: Vec::new(),
        }
    }

    fn row(&self, value: std::result::Result<Value, String>) -> Row {
        Row {
            origin: Origin {
                path: self.pos.src.clone(),
                line: self.index,
            },
            value,
        }
    }

    /// Counts a consumed byte.
    fn advance(pos: &mut Pos, b: u8) {
        pos.text += 1;
        if b == b'\n' {
            pos.line += 1;
        }
    }

    /// Reads the next element's bytes into `self.elem`; returns whether the array went on
    /// (false after `]`, `None` at the end of the input).
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
                Self::advance(&mut self.pos, b);
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

    /// After the closing `]`: an error at the first byte that is not whitespace, if any.
    fn trailing(&mut self) -> Option<DataError> {
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) => return Some(self.pos.io_error(&e)),
            };
            if buf.is_empty() {
                return None;
            }
            let mut used = 0;
            for &b in buf {
                if !b.is_ascii_whitespace() {
                    let shown = if b.is_ascii_graphic() {
                        format!("`{}`", b as char)
                    } else {
                        format!("byte 0x{b:02x}")
                    };
                    return Some(self.pos.text_error(format!(
                        "{shown} after the closing `]` of the JSON array: a .json file holds one \
                         array of records (or one record per line)"
                    )));
                }
                used += 1;
                Self::advance(&mut self.pos, b);
            }
            self.reader.consume(used);
        }
    }
}

impl Iterator for JsonArray {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.closed {
            self.done = true;
            return self.trailing().map(Err);
        }
        let more = match self.scan() {
            Ok(m) => m,
            Err(e) => {
                self.done = true;
                return Some(Err(self.pos.io_error(&e)));
            }
        };
        let blank = self.elem.iter().all(u8::is_ascii_whitespace);
        match more {
            Some(true) => {
                self.index += 1;
                Some(Ok(self.row(parse(&self.elem))))
            }
            // `]`: the last element, if any (`[]` and a trailing comma have none).
            Some(false) if !blank => {
                self.closed = true;
                self.index += 1;
                Some(Ok(self.row(parse(&self.elem))))
            }
            Some(false) => {
                self.done = true;
                self.trailing().map(Err)
            }
            None => {
                self.done = true;
                let place = if blank {
                    format!("after record {}", self.index)
                } else {
                    format!("in the middle of record {}", self.index + 1)
                };
                Some(Err(self.pos.text_error(format!(
                    "the JSON array ends without `]` {place}: the file is cut off"
                ))))
            }
        }
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
        // Cut off, or followed by more text: the file's error, after the records before it.
        for (text, line, offset, says) in [
            ("[{\"a\": 1}, {\"b\"", 1, 15, "in the middle of record 2"),
            ("[{\"a\": 1},\n", 2, 11, "after record 1"),
            ("[{\"a\": 1}]\n\n x", 3, 13, "`x` after the closing `]`"),
        ] {
            std::fs::write(&p, text).unwrap();
            let items: Vec<_> = read_file(&p, &[]).unwrap().collect();
            assert_eq!(items.len(), 2, "{text}");
            assert!(items[0].as_ref().unwrap().value.is_ok());
            let e = items[1].as_ref().unwrap_err();
            assert!(
                matches!(e, DataError::Damaged { line: l, offset: o, .. } if (*l, *o) == (line, offset)),
                "{text}: {e}"
            );
            assert!(e.to_string().contains(says), "{e}");
        }
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
        // Cut off: the decoder fails at the end of the file as stored.
        let cut = (bytes.len() / 2) as u64;
        assert!(
            matches!(last, Err(DataError::Damaged { offset, .. }) if *offset == cut),
            "{last:?}"
        );
        assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    }
}
