//! One micro-batch through the models: collated pairs → the per-pair [`LossInputs`].
//!
//! Rows 0..n of the batch are prompt+chosen, rows n..2n prompt+rejected (trl's concatenated
//! order). With `prefix_sharing` (the default) each pair becomes one packed segment
//! `[prompt | chosen | rejected]` in which the rejected tokens never see the chosen ones and
//! continue the prompt's positions (prefzoo_model's `PackedBatch`): the prompt is computed
//! once per pair instead of twice, and no row is padded. Without it each row is its own
//! packed sequence (still unpadded). The model crate turns hidden states into summed
//! completion log-probs in chunks, with the ε-perturbed log-probs computed from the same
//! logits without grad. This file only moves data between the collated batch, the models and
//! the loss's inputs.

use burn::prelude::*;
use prefzoo_core::ops::{from_f64, to_vec_f64};
use prefzoo_core::{LossInputs, Needs, PerturbedLogps};
use prefzoo_data::PairBatch;
use prefzoo_model::Model;
use prefzoo_model::{Branch, LogpsOptions, PackedBatch, packed_logps};

use crate::error::TrainError;
use crate::reference::{Reference, Split};

/// What one micro-batch produced besides the loss inputs.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The loss's inputs, `[n]` each.
    pub inputs: LossInputs,
    /// trl's `logits/chosen`: mean policy logit over chosen completion positions × vocabulary.
    pub mean_chosen_logits: f64,
    /// trl's `logits/rejected`.
    pub mean_rejected_logits: f64,
}

/// Where a micro-batch's pairs sit in their dataset (for precomputed reference log-probs).
#[derive(Debug, Clone, Copy)]
pub struct PairIndices<'a> {
    /// Which dataset.
    pub split: Split,
    /// Their indices in it, in batch order.
    pub indices: &'a [usize],
}

/// How a micro-batch is run through the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOptions {
    /// Positions per sequence per lm_head chunk (`logps_chunk_size`).
    pub chunk_size: usize,
    /// Compute each pair's prompt once for both completions (`prefix_sharing`).
    pub prefix_sharing: bool,
    /// Share a pair only when `prompt + chosen + rejected` fits this many tokens
    /// (`max_length`): a shared segment is then never longer than an unshared row, so its
    /// attention scores (`len²`) never exceed the two rows' and `prefzoo plan`'s bounds at
    /// `max_length` hold. Longer pairs run as two sequences. `None`: no limit.
    pub max_segment: Option<usize>,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            chunk_size: 64,
            prefix_sharing: true,
            max_segment: None,
        }
    }
}

impl From<&crate::TrainConfig> for ForwardOptions {
    fn from(cfg: &crate::TrainConfig) -> Self {
        Self {
            chunk_size: cfg.logps_chunk_size,
            prefix_sharing: cfg.prefix_sharing,
            max_segment: cfg.max_length,
        }
    }
}

/// The batch as one packed row: pair `k`'s chosen completion scored into slot `k`, its
/// rejected into `n + k`, and with `score_prompts` its (chosen row's) prompt tokens 2..|x|
/// into `2n + k`. With `share`, a pair whose two rows start with the same prompt (always,
/// unless a cut left them different) holds it once, when the shared segment fits
/// `max_segment` tokens.
pub fn pack(
    batch: &PairBatch,
    share: bool,
    max_segment: Option<usize>,
    score_prompts: bool,
) -> Result<PackedBatch, TrainError> {
    let n = batch.n_pairs;
    let mut packed = PackedBatch::new(if score_prompts { 3 * n } else { 2 * n });
    let counted = |r: usize| -> Vec<bool> { batch.row_mask(r).iter().map(|&m| m != 0.0).collect() };
    for k in 0..n {
        let (c, r) = (k, n + k);
        let (pc, pr) = (batch.prompt_lens[c], batch.prompt_lens[r]);
        let row_c = &batch.row(c)[..pc + batch.completion_lens[c]];
        let row_r = &batch.row(r)[..pr + batch.completion_lens[r]];
        let fits = max_segment.is_none_or(|m| row_c.len() + row_r.len() - pr <= m);
        if share && fits && pc == pr && row_c[..pc] == row_r[..pr] {
            let (mc, mr) = (counted(c), counted(r));
            packed.push_shared(
                &row_c[..pc],
                &[
                    Branch {
                        ids: &row_c[pc..],
                        counted: &mc[pc..row_c.len()],
                        slot: c,
                    },
                    Branch {
                        ids: &row_r[pr..],
                        counted: &mr[pr..row_r.len()],
                        slot: r,
                    },
                ],
            )?;
            if score_prompts {
                packed.score_prefix(pc, 2 * n + k)?;
            }
        } else {
            packed.push_sequence(row_c, &counted(c)[..row_c.len()], c)?;
            if score_prompts {
                packed.score_prefix(pc, 2 * n + k)?;
            }
            packed.push_sequence(row_r, &counted(r)[..row_r.len()], r)?;
        }
    }
    Ok(packed)
}

/// The batch's ids and completion mask as tensors on `device`.
pub fn batch_tensors(batch: &PairBatch, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
    let shape = [2 * batch.n_pairs, batch.seq_len];
    let ids: Vec<i64> = batch.input_ids.iter().map(|&t| i64::from(t)).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, shape), device);
    let mask = Tensor::<2>::from_data(TensorData::new(batch.loss_mask.clone(), shape), device);
    (ids, mask)
}

/// Runs the policy (with grad, if it lives on an autodiff device) and the reference on a batch.
pub fn forward(
    policy: &Model,
    reference: &Reference,
    batch: &PairBatch,
    at: PairIndices<'_>,
    needs: &Needs,
    opts: ForwardOptions,
) -> Result<Forward, TrainError> {
    let device = policy.device();
    let n = batch.n_pairs;
    let packed = pack(
        batch,
        opts.prefix_sharing,
        opts.max_segment,
        needs.prompt_logps,
    )?;
    let ref_model = if needs.reference.needed() {
        reference.model()
    } else {
        None
    };
    let logps = LogpsOptions {
        epsilon: needs.perturbation,
        chunk_size: opts.chunk_size,
    };
    let out = packed_logps(policy, ref_model, &packed, &logps)?;
    let halves = |t: Tensor<1>| (t.clone().slice(0..n), t.slice(n..2 * n));

    let policy_prompt_logps = needs
        .prompt_logps
        .then(|| out.policy.clone().slice(2 * n..3 * n));
    let (policy_chosen_logps, policy_rejected_logps) = halves(out.policy);
    let (ref_chosen_logps, ref_rejected_logps) = match (&out.reference, reference) {
        (Some(r), _) => {
            let (c, r) = halves(r.clone());
            (Some(c), Some(r))
        }
        (None, Reference::Precomputed(cache)) if needs.reference.needed() => {
            let (c, r) = cache.lookup(at.split, at.indices);
            let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
            (
                Some(from_f64(&widen(c), &device)),
                Some(from_f64(&widen(r), &device)),
            )
        }
        _ => (None, None),
    };
    let (n_chosen_tokens, n_rejected_tokens) = halves(out.n_tokens.clone());
    let perturbed = out.perturbed.map(|p| {
        let (p_chosen, p_rejected) = halves(p.p);
        let (n_chosen, n_rejected) = halves(p.n);
        PerturbedLogps {
            epsilon: needs.perturbation.unwrap_or_default(),
            p_chosen,
            p_rejected,
            n_chosen,
            n_rejected,
        }
    });

    let prompt_lens: Vec<f64> = batch.prompt_lens[..n].iter().map(|&p| p as f64).collect();
    let vocab = policy.config().vocab_size as f64;
    let sums = to_vec_f64(&out.logits_sum);
    let counts = to_vec_f64(&out.n_tokens);
    let mean = |r: std::ops::Range<usize>| {
        let tokens: f64 = counts[r.clone()].iter().sum();
        sums[r].iter().sum::<f64>() / (tokens * vocab).max(1.0)
    };
    Ok(Forward {
        inputs: LossInputs {
            policy_chosen_logps,
            policy_rejected_logps,
            ref_chosen_logps,
            ref_rejected_logps,
            n_chosen_tokens,
            n_rejected_tokens,
            n_prompt_tokens: from_f64(&prompt_lens, &device),
            policy_prompt_logps,
            perturbed,
        },
        mean_chosen_logits: mean(0..n),
        mean_rejected_logits: mean(n..2 * n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two pairs collated as the trainer does (rows: chosen 0, 1; rejected 2, 3).
    fn batch() -> PairBatch {
        let pair = |p: &[u32], c: &[u32], r: &[u32]| prefzoo_data::TokenizedPair {
            prompt_ids: p.to_vec(),
            chosen_ids: c.to_vec(),
            rejected_ids: r.to_vec(),
            origin: prefzoo_data::Origin::new("x", 1),
            truncated: false,
        };
        let a = pair(&[5, 6, 7], &[8, 9], &[10]);
        let b = pair(&[3], &[4, 4, 4, 4], &[2, 2]);
        prefzoo_data::collate::collate(&[&a, &b], 0, None, 1)
    }

    #[test]
    fn pairs_share_their_prompt_when_the_segment_fits() {
        let b = batch();
        // Shared: [5 6 7 | 8 9 | 10] and [3 | 4 4 4 4 | 2 2]: 6 + 7 tokens, 3 + 6 scored.
        let shared = pack(&b, true, Some(8), false).unwrap();
        assert_eq!(shared.ids(), &[5, 6, 7, 8, 9, 10, 3, 4, 4, 4, 4, 2, 2]);
        assert_eq!(shared.n_scored(), 9);
        // A limit of 6 tokens: the second pair (7 tokens shared) runs as two rows.
        let capped = pack(&b, true, Some(6), false).unwrap();
        assert_eq!(capped.ids(), &[5, 6, 7, 8, 9, 10, 3, 4, 4, 4, 4, 3, 2, 2]);
        // Unshared: every row on its own.
        let unshared = pack(&b, false, None, false).unwrap();
        assert_eq!(unshared.len(), 5 + 5 + 4 + 3);
        assert_eq!(unshared.n_scored(), 9);
    }

    /// ORPO's prompt slots: prompt tokens 2..|x| of each pair, shared or not, capped or not.
    #[test]
    fn prompts_are_scored_into_their_own_slots() {
        let b = batch();
        for (share, cap) in [(true, None), (true, Some(6)), (false, None)] {
            let p = pack(&b, share, cap, true).unwrap();
            assert_eq!(p.slots(), 6);
            // 9 completion tokens + prompt tokens (3 − 1) + (1 − 1).
            assert_eq!(p.n_scored(), 9 + 2, "share {share}, cap {cap:?}");
        }
    }
}
