//! Anthropic HH-RLHF: each of `chosen` and `rejected` is a whole dialogue,
//! `\n\nHuman: … \n\nAssistant: … \n\nHuman: … \n\nAssistant: <answer>`.
//!
//! The prompt is the text up to and including the last `\n\nAssistant:`; the completions are
//! what follows (they keep their leading space, as in trl's own HH script and the golden
//! `data.jsonl`), so prompt + completion reproduces each dialogue exactly. A pair whose two
//! dialogues differ before that point (the annotators' conversations diverged earlier) has no
//! shared prompt: it is skipped with that reason, never cut somewhere else.

use super::{ASSISTANT, Skip, SkipReason};

/// Splits an HH pair into (prompt, chosen, rejected).
pub fn split(chosen: &str, rejected: &str) -> Result<(String, String, String), Skip> {
    let last_turn = |s: &str, field: &str| {
        s.rfind(ASSISTANT)
            .map(|i| i + ASSISTANT.len())
            .ok_or_else(|| {
                Skip::new(
                    SkipReason::Malformed,
                    field,
                    "has no \"\\n\\nAssistant:\" turn; is this HH-RLHF data? (set \
                     dataset.format for other layouts)",
                )
            })
    };
    let (c, r) = (
        last_turn(chosen, "chosen")?,
        last_turn(rejected, "rejected")?,
    );
    if chosen[..c] != rejected[..r] {
        let at = chosen[..c]
            .char_indices()
            .zip(rejected[..r].chars())
            .find(|((_, a), b)| a != b)
            .map_or(c.min(r), |((i, _), _)| i);
        return Err(Skip::new(
            SkipReason::DivergentDialogue,
            "rejected",
            format!(
                "differs from chosen at byte {at}, before their last \"\\n\\nAssistant:\": \
                 the two dialogues share no prompt"
            ),
        ));
    }
    Ok((
        chosen[..c].to_owned(),
        chosen[c..].to_owned(),
        rejected[r..].to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_leading_space_and_reproduces_the_text() {
        let c = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: fine";
        let r = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: no";
        let (p, a, b) = split(c, r).unwrap();
        assert!(p.ends_with("\n\nAssistant:"));
        assert_eq!((a.as_str(), b.as_str()), (" fine", " no"));
        assert_eq!(format!("{p}{a}"), c);
        assert_eq!(format!("{p}{b}"), r);
    }

    #[test]
    fn divergent_or_turnless_dialogues_are_skipped() {
        let c = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: fine";
        let diverged = "\n\nHuman: hi\n\nAssistant: bye\n\nHuman: and?\n\nAssistant: no";
        let s = split(c, diverged).unwrap_err();
        assert_eq!(s.reason, SkipReason::DivergentDialogue);
        assert!(s.detail.contains("at byte 24"), "{}", s.detail);
        let s = split("no turns", c).unwrap_err();
        assert_eq!(
            (s.reason, s.field.as_str()),
            (SkipReason::Malformed, "chosen")
        );
    }
}
