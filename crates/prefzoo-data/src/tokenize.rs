//! Tokenisation and truncation exactly as trl 0.13's `DPOTrainer.tokenize_row` and
//! `concatenated_forward` do them for a decoder-only model:
//!
//! - prompt, chosen and rejected are tokenised separately, without special tokens — trl passes
//!   `add_special_tokens=False` for decoder-only models, so no BOS is added even when the
//!   tokenizer has one (a chat template that writes `<|begin_of_text|>` into the prompt text
//!   gets it as a token of the text);
//! - eos is appended to both completions;
//! - the prompt keeps its last `max_prompt_length` tokens, each completion its first
//!   `max_completion_length` (eos included in that count);
//! - prompt + completion is cut on the right at `max_length` (trl does this per batch in
//!   `concatenated_forward`; the result is the same per row, so it is applied at collation).
//!
//! trl 0.13's defaults for all three limits are `None` (no truncation).

use crate::error::Result;
use crate::formats::{Skip, SkipReason};
use crate::record::{Origin, PreferenceRecord};
use crate::tokenizer::Tokenizer;

/// Length limits, with trl's names and defaults (all `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthConfig {
    /// Cut prompt + completion on the right at this many tokens.
    pub max_length: Option<usize>,
    /// Keep the prompt's last tokens up to this many.
    pub max_prompt_length: Option<usize>,
    /// Keep each completion's first tokens (eos included) up to this many.
    pub max_completion_length: Option<usize>,
}

/// A tokenised pair (completions end with eos unless a limit cut it off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedPair {
    /// Prompt ids.
    pub prompt_ids: Vec<u32>,
    /// Chosen completion ids (+ eos).
    pub chosen_ids: Vec<u32>,
    /// Rejected completion ids (+ eos).
    pub rejected_ids: Vec<u32>,
    /// Where it came from.
    pub origin: Origin,
    /// Whether any limit removed tokens (including the `max_length` cut at collation).
    pub truncated: bool,
}

impl TokenizedPair {
    /// Tokens of the longer of the two rows after the `max_length` cut.
    pub fn max_row_len(&self, max_length: Option<usize>) -> usize {
        let row = self.prompt_ids.len() + self.chosen_ids.len().max(self.rejected_ids.len());
        max_length.map_or(row, |m| row.min(m))
    }
}

/// Tokenises `rec` with trl's rules; a pair of which no completion token survives
/// `max_length` is a [`Skip`].
pub fn tokenize_pair(
    rec: &PreferenceRecord,
    tok: &Tokenizer,
    lengths: &LengthConfig,
) -> Result<std::result::Result<TokenizedPair, Skip>> {
    let eos = tok.eos_id()?;
    let mut prompt = tok.encode(&rec.prompt)?;
    let mut chosen = tok.encode(&rec.chosen)?;
    let mut rejected = tok.encode(&rec.rejected)?;
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
    if let Some(m) = lengths.max_length {
        if prompt.len() >= m {
            return Ok(Err(Skip {
                reason: SkipReason::NothingFits,
                field: "prompt".into(),
                detail: format!(
                    "has {} tokens after max_prompt_length; max_length {m} leaves no completion \
                     token (set max_prompt_length below max_length)",
                    prompt.len()
                ),
            }));
        }
        truncated |= prompt.len() + chosen.len().max(rejected.len()) > m;
    }
    Ok(Ok(TokenizedPair {
        prompt_ids: prompt,
        chosen_ids: chosen,
        rejected_ids: rejected,
        origin: rec.origin.clone(),
        truncated,
    }))
}
