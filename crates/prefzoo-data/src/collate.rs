//! Collation: n pairs → one right-padded batch of 2n rows, laid out as trl 0.13's
//! `concatenated_forward` leaves it after its "flush left" and right truncation: rows 0..n are
//! prompt+chosen, rows n..2n prompt+rejected (same pair order), each row cut at `max_length`,
//! padded on the right with the pad id to T = the longest row (optionally rounded up to a
//! multiple, for kernels that like aligned shapes).
//!
//! `loss_mask` is 1.0 exactly at the completion tokens (eos included) that survive the cut.
//! Token t is predicted by the logits at position t−1, so the first completion token is scored
//! from the last prompt token; the forward takes `logits[:, :-1]` against `input_ids[:, 1:]`
//! and `loss_mask[:, 1:]`. Position 0 is never scored, so its mask is 0 even when the prompt
//! is empty (trl drops it the same way with its `[:, 1:]` shift).

use crate::tokenize::TokenizedPair;

/// A padded batch of pairs, row-major `[2n, seq_len]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairBatch {
    /// Token ids; pad id after each row's end.
    pub input_ids: Vec<u32>,
    /// 1.0 at scored completion tokens, else 0.0.
    pub loss_mask: Vec<f32>,
    /// 1.0 at real tokens, 0.0 at padding.
    pub attention_mask: Vec<f32>,
    /// Pairs n (the batch has 2n rows).
    pub n_pairs: usize,
    /// Columns T.
    pub seq_len: usize,
    /// Prompt tokens per row (after the cut), 2n entries.
    pub prompt_lens: Vec<usize>,
    /// Completion tokens per row that survive the cut, 2n entries.
    pub completion_lens: Vec<usize>,
}

impl PairBatch {
    /// Row `r`'s ids (all T columns).
    pub fn row(&self, r: usize) -> &[u32] {
        &self.input_ids[r * self.seq_len..(r + 1) * self.seq_len]
    }

    /// Row `r`'s loss mask.
    pub fn row_mask(&self, r: usize) -> &[f32] {
        &self.loss_mask[r * self.seq_len..(r + 1) * self.seq_len]
    }
}

/// Collates `pairs`; `pad_multiple` rounds T up (1 = no rounding).
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
        .unwrap_or(0);
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
    use super::*;
    use crate::record::Origin;

    fn pair(p: &[u32], c: &[u32], r: &[u32]) -> TokenizedPair {
        TokenizedPair {
            prompt_ids: p.to_vec(),
            chosen_ids: c.to_vec(),
            rejected_ids: r.to_vec(),
            origin: Origin::new("x", 1),
            truncated: false,
        }
    }

    #[test]
    fn layout_mask_and_cut() {
        let a = pair(&[5, 6], &[7, 0], &[8, 9, 0]);
        let b = pair(&[5], &[7, 0], &[9, 0]);
        let batch = collate(&[&a, &b], 1, Some(4), 1);
        assert_eq!((batch.n_pairs, batch.seq_len), (2, 4));
        // Row 0: a chosen; row 1: b chosen; row 2: a rejected (cut); row 3: b rejected.
        assert_eq!(batch.row(0), &[5, 6, 7, 0]);
        assert_eq!(batch.row_mask(0), &[0.0, 0.0, 1.0, 1.0]);
        assert_eq!(batch.row(1), &[5, 7, 0, 1], "right-padded with the pad id");
        assert_eq!(
            batch.row(2),
            &[5, 6, 8, 9],
            "cut at max_length: the eos is gone"
        );
        assert_eq!(batch.row_mask(2), &[0.0, 0.0, 1.0, 1.0]);
        assert_eq!(batch.row_mask(3), &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(&batch.attention_mask[12..16], &[1.0, 1.0, 1.0, 0.0]);
        assert_eq!(batch.prompt_lens, [2, 1, 2, 1]);
        assert_eq!(batch.completion_lens, [2, 2, 2, 2]);
        assert_eq!(
            collate(&[&a], 0, None, 8).seq_len,
            8,
            "rounded up to a multiple"
        );
        let empty = collate(&[], 0, None, 1);
        assert_eq!((empty.input_ids.len(), empty.seq_len), (0, 0));
    }

    #[test]
    fn empty_prompt_never_scores_position_zero() {
        let a = pair(&[], &[7, 8, 0], &[9, 0]);
        let batch = collate(&[&a], 0, None, 1);
        assert_eq!(batch.row_mask(0), &[0.0, 1.0, 1.0]);
        assert_eq!(batch.row_mask(1), &[0.0, 1.0, 0.0]);
    }
}
