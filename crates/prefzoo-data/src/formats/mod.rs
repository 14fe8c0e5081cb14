//! From one raw JSON record to a [`PreferenceRecord`] (three strings), in the layouts people
//! train on: trl's [`standard`] and [`conversational`] forms and Anthropic's [`hh`] dialogues.
//!
//! A record that cannot be used is a [`Skip`]: a reason (the report groups by it), the field at
//! fault and what exactly is wrong. The caller counts it, or with `strict = true` turns it into
//! an error naming file:line:field. Nothing here panics on any input.

pub mod conversational;
pub mod hh;
pub mod standard;

use std::fmt;

use serde_json::Value;

use crate::config::{Columns, Format};
use crate::record::{Origin, PreferenceRecord};
use crate::tokenizer::Tokenizer;

/// Why a record was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Not valid JSON, not UTF-8, not a JSON object, or (HH) a dialogue without an
    /// assistant turn.
    Malformed,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong type.
    WrongType,
    /// A completion is empty.
    EmptyCompletion,
    /// chosen equals rejected.
    IdenticalCompletions,
    /// HH dialogues that differ before the last assistant turn.
    DivergentDialogue,
    /// The chat template failed, or does not satisfy trl's prefix rule.
    Template,
    /// After the length limits not one completion token is left to score.
    NothingFits,
}

impl SkipReason {
    /// A short description for the report.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Malformed => "malformed record",
            SkipReason::MissingField => "missing field",
            SkipReason::WrongType => "field of the wrong type",
            SkipReason::EmptyCompletion => "empty completion",
            SkipReason::IdenticalCompletions => "chosen identical to rejected",
            SkipReason::DivergentDialogue => "dialogues diverge before the last assistant turn",
            SkipReason::Template => "chat template failed",
            SkipReason::NothingFits => "no completion token survives the length limits",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A record that cannot be used: the reason, the field and details for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The bucket in the report.
    pub reason: SkipReason,
    /// The field at fault (`(record)` for the whole record).
    pub field: String,
    /// What exactly is wrong and, where it helps, how to fix it.
    pub detail: String,
}

impl Skip {
    /// A skip of `field` for `reason`.
    pub fn new(reason: SkipReason, field: &str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}

/// What HH dialogues contain before each answer.
pub(crate) const ASSISTANT: &str = "\n\nAssistant:";

/// The format of a record (for `format = "auto"`): message lists are conversational; strings
/// with a prompt string are standard; strings without a prompt are HH dialogues when both
/// contain `\n\nAssistant:`, else standard with an implicit prompt.
pub fn detect(v: &Value, cols: &Columns) -> Result<Format, Skip> {
    if !v.is_object() {
        return Err(Skip::new(
            SkipReason::Malformed,
            "(record)",
            "is not a JSON object",
        ));
    }
    let (c, r) = (field(v, &cols.chosen)?, field(v, &cols.rejected)?);
    let prompt = v.get(&cols.prompt).filter(|p| !p.is_null());
    match (c, r, prompt) {
        (Value::Array(_), Value::Array(_), _) => Ok(Format::Conversational),
        (Value::String(_), Value::String(_), Some(_)) => Ok(Format::Standard),
        (Value::String(a), Value::String(b), None)
            if a.contains(ASSISTANT) && b.contains(ASSISTANT) =>
        {
            Ok(Format::Hh)
        }
        (Value::String(_), Value::String(_), None) => Ok(Format::Standard),
        _ => Err(Skip::new(
            SkipReason::WrongType,
            &format!("{}/{}", cols.chosen, cols.rejected),
            "must both be strings (standard, hh) or both message lists (conversational); \
             cannot detect the format",
        )),
    }
}

/// A present, non-null field.
pub(crate) fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, Skip> {
    v.get(name)
        .filter(|x| !x.is_null())
        .ok_or_else(|| Skip::new(SkipReason::MissingField, name, "is missing"))
}

/// A string field.
pub(crate) fn string<'a>(v: &'a Value, name: &str) -> Result<&'a str, Skip> {
    let x = field(v, name)?;
    x.as_str().ok_or_else(|| {
        Skip::new(
            SkipReason::WrongType,
            name,
            format!("must be a string, found {}", kind(x)),
        )
    })
}

/// The JSON type of `v`, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Renders one record in `format` (not `Auto`: resolve it with [`detect`] first).
pub fn render(
    v: &Value,
    format: Format,
    cols: &Columns,
    tok: &Tokenizer,
    origin: Origin,
) -> Result<PreferenceRecord, Skip> {
    if !v.is_object() {
        return Err(Skip::new(
            SkipReason::Malformed,
            "(record)",
            "is not a JSON object",
        ));
    }
    let (prompt, chosen, rejected) = match format {
        Format::Hh => {
            hh::split(string(v, &cols.chosen)?, string(v, &cols.rejected)?).map_err(|mut s| {
                // hh::split names the fields by their default names; report the user's columns.
                s.field = if s.field == "chosen" {
                    &cols.chosen
                } else {
                    &cols.rejected
                }
                .clone();
                s
            })?
        }
        Format::Standard => standard::render(v, cols)?,
        Format::Conversational => conversational::render(v, cols, tok)?,
        Format::Auto => {
            let detected = detect(v, cols)?;
            return render(v, detected, cols, tok, origin);
        }
    };
    check_completions(&chosen, &rejected, cols)?;
    Ok(PreferenceRecord {
        prompt,
        chosen,
        rejected,
        origin,
    })
}

/// The checks every format shares: no empty completion, chosen ≠ rejected.
fn check_completions(chosen: &str, rejected: &str, cols: &Columns) -> Result<(), Skip> {
    for (text, name) in [(chosen, &cols.chosen), (rejected, &cols.rejected)] {
        if text.is_empty() {
            return Err(Skip::new(
                SkipReason::EmptyCompletion,
                name,
                "is empty once the prompt is taken off",
            ));
        }
    }
    if chosen == rejected {
        return Err(Skip::new(
            SkipReason::IdenticalCompletions,
            &cols.rejected,
            "equals chosen: the pair prefers nothing",
        ));
    }
    Ok(())
}

/// The first `n` characters of `s`, with an ellipsis if cut (for messages).
pub(crate) fn excerpt(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cols() -> Columns {
        Columns {
            prompt: "prompt".into(),
            chosen: "chosen".into(),
            rejected: "rejected".into(),
        }
    }

    #[test]
    fn detection() {
        let c = cols();
        let d = |v: Value| detect(&v, &c);
        assert_eq!(
            d(json!({"prompt": "p", "chosen": "a", "rejected": "b"})),
            Ok(Format::Standard)
        );
        assert_eq!(
            d(json!({"chosen": "a", "rejected": "b"})),
            Ok(Format::Standard)
        );
        assert_eq!(
            d(
                json!({"chosen": "\n\nHuman: x\n\nAssistant: a", "rejected": "\n\nHuman: x\n\nAssistant: b"})
            ),
            Ok(Format::Hh)
        );
        assert_eq!(
            d(json!({"prompt": "x", "chosen": [{"role": "user", "content": "x"}], "rejected": []})),
            Ok(Format::Conversational)
        );
        assert_eq!(d(json!([1])).unwrap_err().reason, SkipReason::Malformed);
        assert_eq!(
            d(json!({"chosen": "a"})).unwrap_err().reason,
            SkipReason::MissingField
        );
        assert_eq!(
            d(json!({"chosen": "a", "rejected": 3})).unwrap_err().reason,
            SkipReason::WrongType
        );
    }

    #[test]
    fn excerpts_cut_on_characters() {
        assert_eq!(excerpt("héllo", 2), "hé…");
        assert_eq!(excerpt("hé", 2), "hé");
    }
}
