//! Collation: n pairs → one right-padded batch of 2n rows, as trl's `concatenated_forward`
//! lays it out after its "flush left": rows 0..n are prompt+chosen, rows n..2n prompt+rejected,
//! each cut at `max_length`, padded on the right with the pad id to the longest row.
//!
//! `loss_mask` is 1 exactly at the completion tokens that survive the cut (eos included).
//! Token t is predicted by the logits at position t−1, so the first completion token is scored
//! from the last prompt token; position 0 is never counted.

use crate::tokenize::TokenizedPair;

/// A padded batch of pairs, row-major `[2n, seq_len]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairBatch {
    /// Token ids.
    pub input_ids: Vec<u32>,
    /// 1.0 at counted completion tokens.
    pub loss_mask: Vec<f32>,
    /// 1.0 at real (non-pad) tokens.
    pub attention_mask: Vec<f32>,
    /// Pairs n (the batch has 2n rows).
    pub n_pairs: usize,
    /// Columns.
    pub seq_len: usize,
    /// Prompt tokens per row (after the cut).
    pub prompt_lens: Vec<usize>,
    /// Completion tokens per row (after the cut).
    pub completion_lens: Vec<usize>,
}

/// Collates `pairs`; `pad_multiple` rounds the width up (1 = no rounding).
pub fn collate(
    pairs: &[&TokenizedPair],
    pad_id: u32,
    max_length: Option<usize>,
    pad_multiple: usize,
) -> PairBatch {
    let n = pairs.len();
    let rows: Vec<(&[u32], &[u32])> = pairs
        .iter()
        .map(|p| (p.prompt_ids.as_slice(), p.chosen_ids.as_slice()))
        .chain(
            pairs
                .iter()
                .map(|p| (p.prompt_ids.as_slice(), p.rejected_ids.as_slice())),
        )
        .collect();
    let cut = |len: usize| max_length.map_or(len, |m| len.min(m));
    let widest = rows
        .iter()
        .map(|(p, c)| cut(p.len() + c.len()))
        .max()
        .unwrap_or(0)
        .max(1);
    let m = pad_multiple.max(1);
    let seq_len = widest.div_ceil(m) * m;
    let mut input_ids = vec![pad_id; 2 * n * seq_len];
    let mut loss_mask = vec![0.0; 2 * n * seq_len];
    let mut attention_mask = vec![0.0; 2 * n * seq_len];
    let mut prompt_lens = Vec::with_capacity(2 * n);
    let mut completion_lens = Vec::with_capacity(2 * n);
    for (r, (prompt, completion)) in rows.iter().enumerate() {
        let total = cut(prompt.len() + completion.len());
        let base = r * seq_len;
        for (t, &id) in prompt
            .iter()
            .chain(completion.iter())
            .take(total)
            .enumerate()
        {
            input_ids[base + t] = id;
            attention_mask[base + t] = 1.0;
            if t >= prompt.len() && t > 0 {
                loss_mask[base + t] = 1.0;
            }
        }
        let p = prompt.len().min(total);
        prompt_lens.push(p);
        completion_lens.push(total - p);
    }
    PairBatch {
        input_ids,
        loss_mask,
        attention_mask,
        n_pairs: n,
        seq_len,
        prompt_lens,
        completion_lens,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::record::Origin;

    fn pair(p: &[u32], c: &[u32], r: &[u32]) -> TokenizedPair {
        TokenizedPair {
            prompt_ids: p.to_vec(),
            chosen_ids: c.to_vec(),
            rejected_ids: r.to_vec(),
            origin: Origin {
                path: Arc::new("x".into()),
                line: 1,
            },
            truncated: false,
        }
    }

    #[test]
    fn layout_mask_and_cut() {
        let a = pair(&[5, 6], &[7, 0], &[8, 9, 0]);
        let b = pair(&[5], &[7, 0], &[9, 0]);
        let batch = collate(&[&a, &b], 0, Some(4), 1);
        assert_eq!(batch.seq_len, 4);
        assert_eq!(&batch.input_ids[0..4], &[5, 6, 7, 0]);
        assert_eq!(&batch.loss_mask[0..4], &[0.0, 0.0, 1.0, 1.0]);
        assert_eq!(&batch.input_ids[8..12], &[5, 6, 8, 9], "cut at max_length");
        assert_eq!(&batch.loss_mask[12..16], &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(&batch.attention_mask[12..16], &[1.0, 1.0, 1.0, 0.0]);
        assert_eq!(batch.completion_lens, [2, 2, 2, 2]);
        assert_eq!(collate(&[&a], 0, None, 8).seq_len, 8);
    }
}
