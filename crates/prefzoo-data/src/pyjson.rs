//! Python's `json.dumps`, for the `tojson` filter of chat templates.
//!
//! transformers replaces Jinja's HTML-escaping `tojson` with
//! `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`, and
//! templates that list tools depend on its exact spacing: `", "` and `": "` without indent,
//! `","` and `": "` with it, an indent of n spaces (or the given string) per level, `[]` / `{}`
//! for empty containers, Python's float repr (`1e-05`, `1e+16`, `NaN`, `Infinity`), and
//! non-ASCII kept as is unless `ensure_ascii`. minijinja's own `tojson` differs on all of
//! these, so this module reimplements it over minijinja values.

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// `json.dumps` keyword arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DumpOptions {
    /// Escape every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
    /// Indentation per level: `None` for a single line.
    pub indent: Option<String>,
    /// `(item_separator, key_separator)`; `None` for Python's defaults.
    pub separators: Option<(String, String)>,
    /// Emit object keys sorted.
    pub sort_keys: bool,
}

/// `json.dumps(value, **opts)`.
pub fn dumps(value: &Value, opts: &DumpOptions) -> Result<String, Error> {
    let (item, key) = match &opts.separators {
        Some((i, k)) => (i.clone(), k.clone()),
        None if opts.indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
    };
    let mut out = String::new();
    Dumper {
        opts,
        item: &item,
        key: &key,
    }
    .value(value, 0, &mut out)?;
    Ok(out)
}

struct Dumper<'a> {
    opts: &'a DumpOptions,
    item: &'a str,
    key: &'a str,
}

impl Dumper<'_> {
    fn newline(&self, level: usize, out: &mut String) {
        if let Some(ind) = &self.opts.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    }

    fn value(&self, v: &Value, level: usize, out: &mut String) -> Result<(), Error> {
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => number(v, out)?,
            ValueKind::String => {
                string(v.as_str().unwrap_or_default(), self.opts.ensure_ascii, out)
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                if items.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(self.item);
                    }
                    self.newline(level + 1, out);
                    self.value(x, level + 1, out)?;
                }
                self.newline(level, out);
                out.push(']');
            }
            ValueKind::Map => {
                let mut entries = Vec::new();
                for k in v.try_iter()? {
                    let val = v.get_item(&k)?;
                    entries.push((key_string(&k)?, val));
                }
                if entries.is_empty() {
                    out.push_str("{}");
                    return Ok(());
                }
                if self.opts.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                out.push('{');
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(self.item);
                    }
                    self.newline(level + 1, out);
                    string(k, self.opts.ensure_ascii, out);
                    out.push_str(self.key);
                    self.value(x, level + 1, out)?;
                }
                self.newline(level, out);
                out.push('}');
            }
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: object of kind {other} is not JSON serializable"),
                ));
            }
        }
        Ok(())
    }
}

/// Python converts str, int, float, bool and None keys to strings.
fn key_string(k: &Value) -> Result<String, Error> {
    Ok(match k.kind() {
        ValueKind::String => k.as_str().unwrap_or_default().to_owned(),
        ValueKind::None | ValueKind::Undefined => "null".to_owned(),
        ValueKind::Bool => (if k.is_true() { "true" } else { "false" }).to_owned(),
        ValueKind::Number => {
            let mut s = String::new();
            number(k, &mut s)?;
            s
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: keys must be str, int, float, bool or None, not {other}"),
            ));
        }
    })
}

fn number(v: &Value, out: &mut String) -> Result<(), Error> {
    if v.is_integer() {
        let i = i128::try_from(v.clone())?;
        let _ = write!(out, "{i}");
    } else {
        let f = f64::try_from(v.clone())?;
        out.push_str(&float_repr(f));
    }
    Ok(())
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for decimal exponents in
/// [-4, 16), scientific otherwise (`1e-05`, `1.5e+16`), always with a `.0` or an exponent.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{f:e}"); // shortest digits: "1.5e16", "-1e-5"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { s + ".0" }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

/// A JSON string literal as Python writes it.
fn string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        Value::from(minijinja::value::Serde(
            serde_json::from_str::<serde_json::Value>(json).unwrap(),
        ))
    }

    #[test]
    fn python_spacing() {
        let x = v(r#"{"a": [1, 2.5, "é\n", null, true], "b": {}}"#);
        let d = DumpOptions::default();
        assert_eq!(
            dumps(&x, &d).unwrap(),
            r#"{"a": [1, 2.5, "é\n", null, true], "b": {}}"#
        );
        let ascii = DumpOptions {
            ensure_ascii: true,
            ..Default::default()
        };
        assert_eq!(
            dumps(&v(r#""é😀""#), &ascii).unwrap(),
            r#""\u00e9\ud83d\ude00""#
        );
        let indented = DumpOptions {
            indent: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(
            dumps(&v(r#"{"a": [1, []]}"#), &indented).unwrap(),
            "{\n  \"a\": [\n    1,\n    []\n  ]\n}"
        );
    }

    #[test]
    fn float_reprs_match_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "Infinity"),
        ] {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }
}
