//! Typed, located access to the fields of a JSON object read from a file (config.json):
//! every error names the file, the 1-based line of the key and the field
//! ([`ModelError::ConfigField`]).

use serde_json::{Map, Value};

use crate::error::{ModelError, Result};

/// Where config fields are read from, for error messages with file and line.
pub(crate) struct Source<'a> {
    pub(crate) path: &'a str,
    pub(crate) text: Option<&'a str>,
}

impl Source<'_> {
    /// 1-based line of the first `"key":` in the text (1 when absent or unknown).
    pub(crate) fn line(&self, key: &str) -> usize {
        let Some(text) = self.text else { return 1 };
        let needle = format!("\"{key}\"");
        let mut from = 0;
        while let Some(pos) = text[from..].find(&needle) {
            let at = from + pos;
            let rest = text[at + needle.len()..].trim_start();
            if rest.starts_with(':') {
                return text[..at].matches('\n').count() + 1;
            }
            from = at + needle.len();
        }
        1
    }

    pub(crate) fn err(&self, key: &str, reason: impl Into<String>) -> ModelError {
        ModelError::ConfigField {
            path: self.path.to_string(),
            line: self.line(key),
            field: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// Typed access to one JSON object (`config.json` itself, or its `rope_scaling`).
pub(crate) struct Obj<'a, 'b> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) src: &'b Source<'b>,
    /// `""` for the top level, `"rope_scaling."` for a nested object (error labels).
    pub(crate) prefix: &'static str,
}

impl Obj<'_, '_> {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn err(&self, key: &str, reason: impl Into<String>) -> ModelError {
        let label = format!("{}{key}", self.prefix);
        let mut e = self.src.err(key, reason);
        if let ModelError::ConfigField { field, .. } = &mut e {
            *field = label;
        }
        e
    }

    pub(crate) fn usize_opt(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a non-negative integer, found {v}"))),
        }
    }

    pub(crate) fn usize_req(&self, key: &str) -> Result<usize> {
        self.usize_opt(key)?
            .ok_or_else(|| self.err(key, "is missing; every decoder config.json has it"))
    }

    pub(crate) fn positive(&self, key: &str, default: Option<usize>) -> Result<usize> {
        let v = match default {
            Some(d) => self.usize_opt(key)?.unwrap_or(d),
            None => self.usize_req(key)?,
        };
        if v == 0 {
            return Err(self.err(key, "must be at least 1"));
        }
        Ok(v)
    }

    pub(crate) fn f64_opt(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a number, found {v}"))),
        }
    }

    pub(crate) fn f64_positive(&self, key: &str, default: Option<f64>) -> Result<f64> {
        let v = match (self.f64_opt(key)?, default) {
            (Some(v), _) => v,
            (None, Some(d)) => d,
            (None, None) => return Err(self.err(key, "is missing")),
        };
        if !(v.is_finite() && v > 0.0) {
            return Err(self.err(key, format!("must be a positive number, found {v}")));
        }
        Ok(v)
    }

    pub(crate) fn bool_opt(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(key, format!("must be true or false, found {v}"))),
        }
    }

    pub(crate) fn str_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a string, found {v}"))),
        }
    }

    /// A token id; negative ids (some old configs write `-1`) mean "none".
    pub(crate) fn token(&self, key: &str, v: &Value) -> Result<Option<u32>> {
        if let Some(i) = v.as_i64() {
            if i < 0 {
                return Ok(None);
            }
            return u32::try_from(i)
                .map(Some)
                .map_err(|_| self.err(key, format!("token id {i} is too large")));
        }
        Err(self.err(key, format!("must be an integer token id, found {v}")))
    }

    pub(crate) fn token_opt(&self, key: &str) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => self.token(key, v),
        }
    }

    pub(crate) fn tokens(&self, key: &str) -> Result<Vec<u32>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    if let Some(t) = self.token(key, v)? {
                        out.push(t);
                    }
                }
                Ok(out)
            }
            Some(v) => Ok(self.token(key, v)?.into_iter().collect()),
        }
    }
}
