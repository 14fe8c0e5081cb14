//! One micro-batch through the models: collated pairs → the per-pair [`LossInputs`].
//!
//! Rows 0..n of the batch are prompt+chosen, rows n..2n prompt+rejected (trl's concatenated
//! order); the model crate turns hidden states into summed completion log-probs in sequence
//! chunks, with the ε-perturbed log-probs computed from the same logits without grad. This file
//! only moves data between the collated batch, the models and the loss's inputs.

use burn::prelude::*;
use prefzoo_core::ops::{from_f64, to_vec_f64};
use prefzoo_core::{LossInputs, Needs, PerturbedLogps};
use prefzoo_data::PairBatch;
use prefzoo_model::Model;
use prefzoo_model::{LogpsOptions, sequence_logps};

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
    chunk_size: usize,
) -> Result<Forward, TrainError> {
    let device = policy.device();
    let n = batch.n_pairs;
    let (ids, mask) = batch_tensors(batch, &device);
    let ref_model = if needs.reference.needed() {
        reference.model()
    } else {
        None
    };
    let opts = LogpsOptions {
        epsilon: needs.perturbation,
        chunk_size,
    };
    let out = sequence_logps(policy, ref_model, ids, mask, &opts)?;
    let halves = |t: Tensor<1>| (t.clone().slice(0..n), t.slice(n..2 * n));

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
            perturbed,
        },
        mean_chosen_logits: mean(0..n),
        mean_rejected_logits: mean(n..2 * n),
    })
}
