//! trl's standard preference form: `prompt`, `chosen`, `rejected` strings.
//!
//! Without a `prompt`, trl 0.13's `maybe_extract_prompt` → `extract_prompt` takes the prompt
//! from the two texts: it walks them to the first differing character and, if the character
//! before it is a space, leaves that space to the completions:
//!
//! ```text
//! for idx in range(min(len(chosen), len(rejected))):
//!     if chosen[idx] != rejected[idx]:
//!         if chosen[idx - 1] == " ": idx -= 1
//!         break
//! prompt, chosen, rejected = chosen[:idx], chosen[idx:], rejected[idx:]
//! ```
//!
//! [`extract_prompt`] does exactly this on characters (Python indexes strings by code point),
//! including the case where one text is a prefix of the other (no break: `idx` stays at the
//! last index, so the prompt stops one character short). One deliberate difference: when the
//! texts differ at character 0, Python's `chosen[-1]` reads the *last* character and, if that is
//! a space, returns the whole of `chosen` but its last character as the prompt; here the prompt
//! is empty instead (trl's result is an indexing accident that mangles the pair).

use serde_json::Value;

use super::{Skip, SkipReason, kind, string};
use crate::config::Columns;

/// The prompt and completions of a standard record.
pub fn render(v: &Value, cols: &Columns) -> Result<(String, String, String), Skip> {
    let (c, r) = (string(v, &cols.chosen)?, string(v, &cols.rejected)?);
    match v.get(&cols.prompt).filter(|p| !p.is_null()) {
        None => Ok(extract_prompt(c, r)),
        Some(Value::String(p)) => Ok((p.clone(), c.to_owned(), r.to_owned())),
        Some(other) => Err(Skip::new(
            SkipReason::WrongType,
            &cols.prompt,
            format!(
                "must be a string when `{}` and `{}` are strings, found {}",
                cols.chosen,
                cols.rejected,
                kind(other)
            ),
        )),
    }
}

/// trl's `extract_prompt` on two texts: (prompt, chosen, rejected).
pub fn extract_prompt(chosen: &str, rejected: &str) -> (String, String, String) {
    // Byte offsets of each character of `chosen`, to slice both strings at a character index
    // (the shared prefix has the same byte length in both).
    let c: Vec<(usize, char)> = chosen.char_indices().collect();
    let n = c.len().min(rejected.chars().count());
    let mut idx = n.saturating_sub(1);
    for (i, rc) in rejected.chars().take(n).enumerate() {
        if c[i].1 != rc {
            idx = if i > 0 && c[i - 1].1 == ' ' { i - 1 } else { i };
            break;
        }
    }
    let at = c.get(idx).map_or(chosen.len(), |&(b, _)| b);
    (
        chosen[..at].to_owned(),
        chosen[at..].to_owned(),
        rejected[at..].to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(a: &str, b: &str) -> (String, String, String) {
        extract_prompt(a, b)
    }

    #[test]
    fn like_trl() {
        // trl's docstring example: the space before the divergence goes to the completions.
        let t = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            e("The sky is blue.", "The sky is green."),
            t("The sky is", " blue.", " green.")
        );
        // No space before the divergence.
        assert_eq!(e("abc", "abd"), t("ab", "c", "d"));
        // One text a prefix of the other: idx stays at min_len - 1.
        assert_eq!(e("abc", "abcd"), t("ab", "c", "cd"));
        // Identical texts: the last character is the "completion" of both.
        assert_eq!(e("same", "same"), t("sam", "e", "e"));
        // Differ at once: empty prompt (see the module doc for trl's index accident).
        assert_eq!(e("x y ", "z"), t("", "x y ", "z"));
        assert_eq!(e("", "z"), t("", "", "z"));
        // Multi-byte characters are sliced on character boundaries.
        assert_eq!(e("héé à", "héé b"), t("héé", " à", " b"));
    }
}
