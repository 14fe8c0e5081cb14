//! From a raw JSON record to a [`PreferenceRecord`], in the three layouts people use:
//!
//! - **standard** (trl): `prompt`, `chosen`, `rejected` strings. Without `prompt`, the prompt is
//!   the longest common prefix of the two texts, as trl's `extract_prompt` computes it.
//! - **conversational** (trl): `chosen` / `rejected` as lists of `{role, content}` messages, with
//!   an optional `prompt` list; without it, the shared leading messages are the prompt (trl's
//!   `extract_prompt`; a string `prompt` beside message lists, as in the SimPO UltraFeedback
//!   releases, is ignored because the lists already hold the user turn). Rendered with the chat
//!   template as trl 0.13's `apply_chat_template`: the prompt with the generation prompt, each
//!   completion as the rendered prompt+completion minus the rendered prompt.
//! - **hh** (Anthropic HH-RLHF): full dialogues in `chosen` / `rejected`
//!   (`\n\nHuman: … \n\nAssistant: …`); the prompt is the shared text up to and including the
//!   last `\n\nAssistant:`, the completions are the remainders (leading space kept). A pair
//!   whose dialogues differ before that point is skipped, never mangled.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::{Origin, PreferenceRecord};
use crate::tokenizer::Tokenizer;

/// `dataset.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Detect from the first readable record.
    #[default]
    Auto,
    /// Strings: prompt, chosen, rejected.
    Standard,
    /// Message lists rendered with the chat template.
    Conversational,
    /// HH-RLHF dialogues.
    Hh,
}

/// Column names (trl users rename columns; these are the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The prompt column.
    pub prompt: String,
    /// The chosen column.
    pub chosen: String,
    /// The rejected column.
    pub rejected: String,
}

/// Why a record was skipped (the report groups by this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Not JSON, or not an object.
    Malformed,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type.
    WrongType,
    /// A completion is empty.
    EmptyCompletion,
    /// chosen equals rejected.
    IdenticalCompletions,
    /// HH dialogues that differ before the last assistant turn.
    DivergentDialogue,
    /// The chat template failed or does not fit trl's prefix rule.
    Template,
    /// Not one completion token fits `max_length` after the prompt.
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
            SkipReason::NothingFits => "prompt fills max_length: no completion token left",
        }
    }
}

/// A record that cannot be used: the reason, the field and details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The bucket.
    pub reason: SkipReason,
    /// The field at fault (`(record)` for the whole record).
    pub field: String,
    /// What exactly, for a human.
    pub detail: String,
}

impl Skip {
    fn new(reason: SkipReason, field: &str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}

const ASSISTANT: &str = "\n\nAssistant:";

/// Splits an HH pair into (prompt, chosen, rejected).
pub fn split_hh(chosen: &str, rejected: &str) -> Result<(String, String, String), Skip> {
    let find = |s: &str, field: &str| {
        s.rfind(ASSISTANT)
            .map(|i| i + ASSISTANT.len())
            .ok_or_else(|| {
                Skip::new(
                    SkipReason::Malformed,
                    field,
                    "has no \"\\n\\nAssistant:\" turn; is this HH-RLHF data?",
                )
            })
    };
    let (c, r) = (find(chosen, "chosen")?, find(rejected, "rejected")?);
    if chosen[..c] != rejected[..r] {
        return Err(Skip::new(
            SkipReason::DivergentDialogue,
            "rejected",
            "the two dialogues differ before their last \"\\n\\nAssistant:\"",
        ));
    }
    Ok((
        chosen[..c].to_owned(),
        chosen[c..].to_owned(),
        rejected[r..].to_owned(),
    ))
}

/// trl's `extract_prompt` on strings: the common prefix, backing off one character if the
/// character before the divergence is a space.
pub fn extract_prompt_text(chosen: &str, rejected: &str) -> (String, String, String) {
    let c: Vec<char> = chosen.chars().collect();
    let r: Vec<char> = rejected.chars().collect();
    let n = c.len().min(r.len());
    let mut idx = n.saturating_sub(1);
    for i in 0..n {
        if c[i] != r[i] {
            idx = if i > 0 && c[i - 1] == ' ' { i - 1 } else { i };
            break;
        }
    }
    let take = |v: &[char], a: usize, b: usize| v[a..b].iter().collect::<String>();
    (
        take(&c, 0, idx),
        take(&c, idx, c.len()),
        take(&r, idx, r.len()),
    )
}

/// trl's `extract_prompt` on message lists: the leading messages both share.
fn extract_prompt_messages(
    chosen: &[Value],
    rejected: &[Value],
) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let n = chosen.len().min(rejected.len());
    let mut idx = n.saturating_sub(1);
    for i in 0..n {
        if chosen[i] != rejected[i] {
            idx = i;
            break;
        }
    }
    (
        chosen[..idx].to_vec(),
        chosen[idx..].to_vec(),
        rejected[idx..].to_vec(),
    )
}

/// The format of a record, if it is recognisable.
pub fn detect(v: &Value, cols: &Columns) -> Option<Format> {
    let (c, r) = (v.get(&cols.chosen)?, v.get(&cols.rejected)?);
    match (c, r, v.get(&cols.prompt)) {
        (Value::Array(_), Value::Array(_), _) => Some(Format::Conversational),
        (Value::String(_), Value::String(_), Some(Value::String(_))) => Some(Format::Standard),
        (Value::String(a), Value::String(_), None) if a.contains(ASSISTANT) => Some(Format::Hh),
        (Value::String(_), Value::String(_), None) => Some(Format::Standard),
        _ => None,
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, Skip> {
    v.get(name)
        .filter(|x| !x.is_null())
        .ok_or_else(|| Skip::new(SkipReason::MissingField, name, "is missing"))
}

fn string<'a>(v: &'a Value, name: &str) -> Result<&'a str, Skip> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| Skip::new(SkipReason::WrongType, name, "must be a string"))
}

fn messages<'a>(v: &'a Value, name: &str) -> Result<&'a [Value], Skip> {
    let list = field(v, name)?.as_array().ok_or_else(|| {
        Skip::new(
            SkipReason::WrongType,
            name,
            "must be a list of {role, content} messages",
        )
    })?;
    for m in list {
        if !(m.get("role").is_some_and(Value::is_string) && m.get("content").is_some()) {
            return Err(Skip::new(
                SkipReason::WrongType,
                name,
                format!(
                    "holds `{}`, not a {{role, content}} message",
                    truncate(&m.to_string(), 60)
                ),
            ));
        }
    }
    Ok(list)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// Renders one record in `format` (not `Auto`).
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
        Format::Hh => split_hh(string(v, &cols.chosen)?, string(v, &cols.rejected)?)?,
        Format::Standard => {
            let (c, r) = (string(v, &cols.chosen)?, string(v, &cols.rejected)?);
            match v.get(&cols.prompt).filter(|p| !p.is_null()) {
                Some(p) => {
                    let p = p.as_str().ok_or_else(|| {
                        Skip::new(SkipReason::WrongType, &cols.prompt, "must be a string")
                    })?;
                    (p.to_owned(), c.to_owned(), r.to_owned())
                }
                None => extract_prompt_text(c, r),
            }
        }
        Format::Conversational => render_chat(v, cols, tok)?,
        Format::Auto => unreachable!("the caller resolves Auto first"),
    };
    if chosen.is_empty() {
        return Err(Skip::new(
            SkipReason::EmptyCompletion,
            &cols.chosen,
            "is empty after the prompt",
        ));
    }
    if rejected.is_empty() {
        return Err(Skip::new(
            SkipReason::EmptyCompletion,
            &cols.rejected,
            "is empty after the prompt",
        ));
    }
    if chosen == rejected {
        return Err(Skip::new(
            SkipReason::IdenticalCompletions,
            &cols.rejected,
            "equals chosen",
        ));
    }
    Ok(PreferenceRecord {
        prompt,
        chosen,
        rejected,
        origin,
    })
}

fn render_chat(
    v: &Value,
    cols: &Columns,
    tok: &Tokenizer,
) -> Result<(String, String, String), Skip> {
    let (c, r) = (messages(v, &cols.chosen)?, messages(v, &cols.rejected)?);
    let (prompt, c, r) = match v.get(&cols.prompt) {
        Some(Value::Array(_)) => (messages(v, &cols.prompt)?.to_vec(), c.to_vec(), r.to_vec()),
        _ => extract_prompt_messages(c, r),
    };
    let template = |msgs: &[Value], generation: bool| {
        tok.apply_chat_template(&Value::Array(msgs.to_vec()), generation)
            .map_err(|e| Skip::new(SkipReason::Template, &cols.chosen, e.to_string()))
    };
    let p = template(&prompt, true)?;
    let mut out = Vec::with_capacity(2);
    for (msgs, name) in [(&c, &cols.chosen), (&r, &cols.rejected)] {
        let mut all = prompt.clone();
        all.extend(msgs.iter().cloned());
        let full = template(&all, false)?;
        let rest = full.strip_prefix(p.as_str()).ok_or_else(|| {
            Skip::new(
                SkipReason::Template,
                name,
                "the chat template applied to prompt + completion does not start with the \
                 template applied to the prompt (trl rejects such templates)",
            )
        })?;
        out.push(rest.to_owned());
    }
    let r = out.pop().expect("two completions");
    let c = out.pop().expect("two completions");
    Ok((p, c, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hh_split_keeps_the_leading_space() {
        let c = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: fine";
        let r = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: no";
        let (p, a, b) = split_hh(c, r).unwrap();
        assert!(p.ends_with("\n\nAssistant:"));
        assert_eq!((a.as_str(), b.as_str()), (" fine", " no"));
        assert_eq!(format!("{p}{a}"), c);
        let diverged = "\n\nHuman: hi\n\nAssistant: bye\n\nHuman: and?\n\nAssistant: no";
        assert_eq!(
            split_hh(c, diverged).unwrap_err().reason,
            SkipReason::DivergentDialogue
        );
    }

    #[test]
    fn extract_prompt_like_trl() {
        // trl's docstring example: the space before the divergence goes to the completions.
        let (p, c, r) = extract_prompt_text("The sky is blue.", "The sky is green.");
        assert_eq!(
            (p.as_str(), c.as_str(), r.as_str()),
            ("The sky is", " blue.", " green.")
        );
    }
}
