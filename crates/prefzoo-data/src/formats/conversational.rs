//! trl's conversational preference form: `chosen` / `rejected` are lists of `{role, content}`
//! messages, with or without a separate `prompt` list, rendered with the model's chat template
//! exactly as trl 0.13 does it (`maybe_extract_prompt`, then `maybe_apply_chat_template`):
//!
//! 1. Prompt: an explicit `prompt` message list is used as is. Otherwise (no prompt, or a
//!    string prompt beside message lists, as in the SimPO UltraFeedback releases) the prompt
//!    is the run of leading messages both lists share (`extract_prompt` on lists: the first
//!    differing message starts the completions; if one list is a prefix of the other, the
//!    last message of the shorter one is the completion).
//! 2. `prompt = template(prompt_messages, add_generation_prompt=True)`.
//! 3. Each completion is `template(prompt_messages + completion_messages)` with the rendered
//!    prompt cut off the front; trl raises an error if the full rendering does not start with
//!    the rendered prompt, here the pair is skipped with that reason.

use serde_json::Value;

use super::{Skip, SkipReason, excerpt, field, kind};
use crate::config::Columns;
use crate::tokenizer::Tokenizer;

/// A `{role, content}` message list.
fn messages<'a>(v: &'a Value, name: &str) -> Result<&'a [Value], Skip> {
    let x = field(v, name)?;
    let list = x.as_array().ok_or_else(|| {
        Skip::new(
            SkipReason::WrongType,
            name,
            format!(
                "must be a list of {{role, content}} messages, found {}",
                kind(x)
            ),
        )
    })?;
    for (i, m) in list.iter().enumerate() {
        let ok = m.get("role").is_some_and(Value::is_string) && m.get("content").is_some();
        if !ok {
            return Err(Skip::new(
                SkipReason::WrongType,
                name,
                format!(
                    "message {i} is `{}`, not a {{\"role\": …, \"content\": …}} object",
                    excerpt(&m.to_string(), 60)
                ),
            ));
        }
    }
    Ok(list)
}

/// trl's `extract_prompt` on message lists: (prompt, chosen, rejected) messages.
pub fn extract_prompt(
    chosen: &[Value],
    rejected: &[Value],
) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let n = chosen.len().min(rejected.len());
    // No difference found: Python's loop variable keeps its last value, n - 1.
    let idx = (0..n)
        .find(|&i| chosen[i] != rejected[i])
        .unwrap_or(n.saturating_sub(1));
    (
        chosen[..idx].to_vec(),
        chosen[idx..].to_vec(),
        rejected[idx..].to_vec(),
    )
}

/// The rendered prompt and completions of a conversational record.
pub fn render(
    v: &Value,
    cols: &Columns,
    tok: &Tokenizer,
) -> Result<(String, String, String), Skip> {
    let (c, r) = (messages(v, &cols.chosen)?, messages(v, &cols.rejected)?);
    for (list, name) in [(c, &cols.chosen), (r, &cols.rejected)] {
        if list.is_empty() {
            return Err(Skip::new(
                SkipReason::EmptyCompletion,
                name,
                "has no messages",
            ));
        }
    }
    let (prompt, c, r) = match v.get(&cols.prompt) {
        Some(Value::Array(_)) => (messages(v, &cols.prompt)?.to_vec(), c.to_vec(), r.to_vec()),
        _ => extract_prompt(c, r),
    };
    // A completion whose messages say nothing: the template would still wrap it in role
    // markers, so check the messages, not the rendered text.
    for (list, name) in [(&c, &cols.chosen), (&r, &cols.rejected)] {
        let silent = |m: &Value| {
            let no_content = match m.get("content") {
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Null) | None => true,
                Some(_) => false,
            };
            no_content && m.get("tool_calls").is_none_or(Value::is_null)
        };
        if list.iter().all(silent) {
            return Err(Skip::new(
                SkipReason::EmptyCompletion,
                name,
                "has no message with content once the prompt messages are taken off",
            ));
        }
    }
    let template = |msgs: &[Value], generation: bool, name: &str| {
        tok.apply_chat_template(msgs, generation)
            .map_err(|e| Skip::new(SkipReason::Template, name, e.to_string()))
    };
    let p = template(&prompt, true, &cols.prompt)?;
    let mut completions = Vec::with_capacity(2);
    for (msgs, name) in [(&c, &cols.chosen), (&r, &cols.rejected)] {
        let mut all = prompt.clone();
        all.extend(msgs.iter().cloned());
        let full = template(&all, false, name)?;
        let rest = full.strip_prefix(p.as_str()).ok_or_else(|| {
            Skip::new(
                SkipReason::Template,
                name,
                format!(
                    "the chat template applied to prompt + completion does not start with the \
                     template applied to the prompt with add_generation_prompt (trl rejects \
                     such templates); prompt renders as `{}`",
                    excerpt(&p, 80)
                ),
            )
        })?;
        completions.push(rest.to_owned());
    }
    let rejected = completions.pop().unwrap_or_default();
    let chosen = completions.pop().unwrap_or_default();
    Ok((p, chosen, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(role: &str, content: &str) -> Value {
        json!({"role": role, "content": content})
    }

    #[test]
    fn extract_prompt_on_lists_like_trl() {
        let (u, a, b) = (m("user", "q"), m("assistant", "a"), m("assistant", "b"));
        let (p, c, r) = extract_prompt(&[u.clone(), a.clone()], &[u.clone(), b.clone()]);
        assert_eq!(
            (p, c, r),
            (vec![u.clone()], vec![a.clone()], vec![b.clone()])
        );
        // A prefix: the shorter list's last message is the completion.
        let (p, c, r) = extract_prompt(std::slice::from_ref(&u), &[u.clone(), b.clone()]);
        assert_eq!((p, c, r), (vec![], vec![u.clone()], vec![u.clone(), b]));
    }

    #[test]
    fn bad_messages_are_wrong_type() {
        let v = json!({"chosen": [{"content": "x"}], "rejected": [m("user", "y")]});
        let cols = Columns {
            prompt: "prompt".into(),
            chosen: "chosen".into(),
            rejected: "rejected".into(),
        };
        let e = messages(&v, "chosen").unwrap_err();
        assert_eq!(e.reason, SkipReason::WrongType);
        assert!(e.detail.contains("message 0"), "{}", e.detail);
        let e = messages(&json!({"chosen": "text"}), &cols.chosen).unwrap_err();
        assert!(e.detail.contains("found a string"), "{}", e.detail);
    }
}
