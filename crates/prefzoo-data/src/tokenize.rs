//! Tokenisation and truncation exactly as trl 0.13 does them for a decoder-only model
//! (`DPOTrainer.tokenize_row`, then `concatenated_forward`):
//!
//! ```text
//! prompt   = tok(prompt,   add_special_tokens=False)            # no BOS, no EOS
//! chosen   = tok(chosen,   add_special_tokens=False) + [eos]
//! rejected = tok(rejected, add_special_tokens=False) + [eos]
//! prompt   = prompt[-max_prompt_length:]                        # keeps the end
//! chosen, rejected = chosen[:max_completion_length], rejected[:max_completion_length]
//! row      = (prompt + completion)[:max_length]                 # per batch, in the forward
//! ```
//!
//! BOS: trl 0.13 passes `add_special_tokens = self.is_encoder_decoder`, so for decoder-only
//! models it never adds a BOS, even when the tokenizer has one and would add it by default
//! (Llama 2's `<s>`, Llama 3's `<|begin_of_text|>`). Standard-format text is therefore trained
//! without BOS, and chat data gets exactly the BOS its chat template writes as text (which the
//! tokenizer turns into the special token). This module does the same.
//!
//! The three limits default to `None` (trl 0.13's `DPOConfig` defaults: nothing is cut). A
//! limit of 0 is rejected: Python's `ids[-0:]` would keep the whole prompt.
//!
//! Beyond trl: a pair of which a row has no completion token left to score (the prompt fills
//! `max_length`; token t is scored from position t−1, so a completion token at position 0 is
//! never scored) is skipped with that reason instead of training on an empty row, and pairs
//! that lost tokens to any limit are flagged `truncated` so the report can list them.

use crate::error::{DataError, Result};
use crate::formats::{Skip, SkipReason};
use crate::record::{Origin, PreferenceRecord};
use crate::tokenizer::Tokenizer;

/// Length limits, with trl's names; `Default` is trl 0.13's (all `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthConfig {
    /// Cut prompt + completion on the right at this many tokens.
    pub max_length: Option<usize>,
    /// Keep the prompt's last tokens up to this many.
    pub max_prompt_length: Option<usize>,
    /// Keep each completion's first tokens (eos included) up to this many.
    pub max_completion_length: Option<usize>,
}

impl LengthConfig {
    /// Rejects a limit of 0, and a `max_prompt_length` above `max_length` (a prompt that long
    /// leaves no completion token inside the row).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("max_length", self.max_length),
            ("max_prompt_length", self.max_prompt_length),
            ("max_completion_length", self.max_completion_length),
        ] {
            if v == Some(0) {
                return Err(DataError::Config(format!(
                    "{name} = 0 leaves nothing to train on; remove it for no limit"
                )));
            }
        }
        if let (Some(prompt), Some(total)) = (self.max_prompt_length, self.max_length)
            && prompt > total
        {
            return Err(DataError::Config(format!(
                "max_prompt_length = {prompt} is more than max_length = {total}: a prompt that \
                 long leaves no completion token to score; make max_prompt_length smaller than \
                 max_length"
            )));
        }
        Ok(())
    }
}

/// A tokenised pair (completions end with eos unless `max_completion_length` cut it off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedPair {
    /// Prompt ids (after `max_prompt_length`).
    pub prompt_ids: Vec<u32>,
    /// Chosen completion ids, eos appended (after `max_completion_length`).
    pub chosen_ids: Vec<u32>,
    /// Rejected completion ids, eos appended (after `max_completion_length`).
    pub rejected_ids: Vec<u32>,
    /// Where it came from.
    pub origin: Origin,
    /// Whether any limit removed tokens (including the `max_length` cut made at collation).
    pub truncated: bool,
}

/// Tokens of a row of `prompt` + `completion` tokens scored under a `max_length` cut: the
/// completion positions that survive the cut, position 0 excepted (nothing predicts it).
pub fn scored_tokens(prompt: usize, completion: usize, max_length: Option<usize>) -> usize {
    let end = max_length.map_or(prompt + completion, |m| (prompt + completion).min(m));
    end.saturating_sub(prompt.max(1))
}

impl TokenizedPair {
    /// Lengths of the chosen and rejected rows after the `max_length` cut.
    pub fn row_lens(&self, max_length: Option<usize>) -> (usize, usize) {
        let cut = |n: usize| max_length.map_or(n, |m| n.min(m));
        let p = self.prompt_ids.len();
        (
            cut(p + self.chosen_ids.len()),
            cut(p + self.rejected_ids.len()),
        )
    }

    /// The longer of the two rows after the `max_length` cut.
    pub fn max_row_len(&self, max_length: Option<usize>) -> usize {
        let (c, r) = self.row_lens(max_length);
        c.max(r)
    }
}

/// Tokenises `rec` with trl's rules; a pair with nothing left to score is a [`Skip`].
pub fn tokenize_pair(
    rec: &PreferenceRecord,
    tok: &Tokenizer,
    lengths: &LengthConfig,
) -> Result<std::result::Result<TokenizedPair, Skip>> {
    let ids = tok.encode_batch(&[&rec.prompt, &rec.chosen, &rec.rejected])?;
    let [prompt, chosen, rejected]: [Vec<u32>; 3] =
        ids.try_into().map_err(|_| DataError::Tokenizer {
            path: tok.source().to_owned(),
            reason: "encode_batch returned the wrong number of encodings".into(),
        })?;
    Ok(build_pair(
        prompt,
        chosen,
        rejected,
        tok.eos_id(),
        lengths,
        rec.origin.clone(),
    ))
}

/// trl's rules on already-encoded text (eos not yet appended).
pub fn build_pair(
    mut prompt: Vec<u32>,
    mut chosen: Vec<u32>,
    mut rejected: Vec<u32>,
    eos: u32,
    lengths: &LengthConfig,
    origin: Origin,
) -> std::result::Result<TokenizedPair, Skip> {
    chosen.push(eos);
    rejected.push(eos);
    let mut truncated = false;
    if let Some(m) = lengths.max_prompt_length
        && prompt.len() > m
    {
        prompt.drain(..prompt.len() - m);
        truncated = true;
    }
    if let Some(m) = lengths.max_completion_length {
        for c in [&mut chosen, &mut rejected] {
            if c.len() > m {
                c.truncate(m);
                truncated = true;
            }
        }
    }
    let pair = TokenizedPair {
        prompt_ids: prompt,
        chosen_ids: chosen,
        rejected_ids: rejected,
        origin,
        truncated,
    };
    let p = pair.prompt_ids.len();
    for (ids, name) in [
        (&pair.chosen_ids, "chosen"),
        (&pair.rejected_ids, "rejected"),
    ] {
        if scored_tokens(p, ids.len(), lengths.max_length) == 0 {
            let why = match lengths.max_length {
                Some(m) if p >= m => format!(
                    "has no token left: the prompt alone has {p} tokens (after \
                     max_prompt_length) and max_length is {m}; set max_prompt_length below \
                     max_length"
                ),
                _ => format!(
                    "has no token that can be scored: an empty prompt leaves only position 0 \
                     ({} completion tokens, max_length {:?})",
                    ids.len(),
                    lengths.max_length
                ),
            };
            return Err(Skip::new(SkipReason::NothingFits, name, why));
        }
    }
    let mut pair = pair;
    if let Some(m) = lengths.max_length {
        pair.truncated |= pair.max_row_len(None) > m;
    }
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(
        p: &[u32],
        c: &[u32],
        r: &[u32],
        l: LengthConfig,
    ) -> std::result::Result<TokenizedPair, Skip> {
        build_pair(
            p.to_vec(),
            c.to_vec(),
            r.to_vec(),
            0,
            &l,
            Origin::new("x", 1),
        )
    }

    #[test]
    fn trl_truncation_rules() {
        let l = LengthConfig {
            max_length: Some(6),
            max_prompt_length: Some(3),
            max_completion_length: Some(2),
        };
        let p = build(&[1, 2, 3, 4, 5], &[6, 7, 8], &[9], l).unwrap();
        assert_eq!(p.prompt_ids, [3, 4, 5], "the prompt keeps its end");
        assert_eq!(
            p.chosen_ids,
            [6, 7],
            "completions keep their start; eos cut off"
        );
        assert_eq!(p.rejected_ids, [9, 0], "eos appended");
        assert!(p.truncated);
        let none = build(&[1], &[2], &[3], LengthConfig::default()).unwrap();
        assert!(!none.truncated);
        assert_eq!(
            (none.chosen_ids.as_slice(), none.row_lens(None)),
            (&[2, 0][..], (3, 3))
        );
        // Only the max_length cut made at collation: flagged, rows cut.
        let cut = build(
            &[1, 2],
            &[3, 4, 5],
            &[6],
            LengthConfig {
                max_length: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(cut.truncated);
        assert_eq!(
            (cut.row_lens(Some(4)), cut.row_lens(None)),
            ((4, 4), (6, 4))
        );
    }

    #[test]
    fn nothing_to_score_is_skipped() {
        let l = LengthConfig {
            max_length: Some(3),
            ..Default::default()
        };
        let s = build(&[1, 2, 3], &[4], &[5], l).unwrap_err();
        assert_eq!(
            (s.reason, s.field.as_str()),
            (SkipReason::NothingFits, "chosen")
        );
        // An empty prompt with a one-token (eos only) completion: position 0 is never scored.
        let s = build(&[], &[], &[5], LengthConfig::default()).unwrap_err();
        assert_eq!(s.reason, SkipReason::NothingFits);
        assert!(build(&[], &[4], &[5], LengthConfig::default()).is_ok());
        assert_eq!(scored_tokens(0, 2, None), 1);
        assert_eq!(scored_tokens(3, 2, Some(4)), 1);
        assert_eq!(scored_tokens(5, 2, Some(4)), 0);
    }

    #[test]
    fn zero_limits_are_rejected() {
        assert!(LengthConfig::default().validate().is_ok());
        let l = LengthConfig {
            max_prompt_length: Some(0),
            ..Default::default()
        };
        assert!(
            l.validate()
                .unwrap_err()
                .to_string()
                .contains("max_prompt_length = 0")
        );
        let inverted = LengthConfig {
            max_length: Some(64),
            max_prompt_length: Some(128),
            ..Default::default()
        };
        let err = inverted.validate().unwrap_err().to_string();
        assert!(
            err.contains("max_prompt_length = 128 is more than max_length = 64"),
            "{err}"
        );
        let equal = LengthConfig {
            max_prompt_length: Some(64),
            ..inverted
        };
        assert!(
            equal.validate().is_ok(),
            "trl accepts a prompt limit equal to max_length"
        );
    }
}
