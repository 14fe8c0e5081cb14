//! Per-sequence log-probabilities of a right-padded batch: the heart of a DPO-family step.
//!
//! Token `t` is scored by the logits at `t − 1`; `loss_mask[r, t] = 1` marks the completion
//! tokens that count (eos included; position 0 never counts). Per row `r`:
//! ```text
//! policy[r]    = Σ_t m[r,t] · log_softmax(f_θ[r,t−1])[y_t]                  (with grad)
//! reference[r] = Σ_t m[r,t] · log_softmax(f_ref[r,t−1])[y_t]                (no grad)
//! p[r]         = Σ_t m[r,t] · log_softmax((1+ε)·f_θ − ε·f_ref)[y_t]         (no grad)
//! n[r]         = Σ_t m[r,t] · log_softmax((1−ε)·f_θ + ε·f_ref)[y_t]         (no grad)
//! n_tokens[r]  = Σ_t m[r,t]          logits_sum[r] = Σ_t m[r,t] · Σ_v f_θ[r,t−1,v]
//! ```
//! p and n are ε-DPO's perturbed policies (Lee et al. 2025), built in logit space from the
//! same forward passes. Each model's hidden states are computed once; the lm_head then runs
//! over chunks of `chunk_size` positions, so the reference and perturbed logits never exist
//! as a whole `[R, T, V]` tensor (the policy's chunk logits are kept by the autodiff tape,
//! which backward needs anyway). Everything without grad runs on the inner (non-autodiff)
//! device. log_softmax is `x_y − max − log Σ exp(x − max)`, in f32 whatever the compute dtype.
//! Masking is by multiplication, and label ids are clamped into the vocabulary, so pad ids of
//! any value are safe.

use burn::prelude::*;
use burn::tensor::DType;

use crate::error::{ModelError, Result};
use crate::llama::{Llama, to_device};

/// How [`sequence_logps`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogpsOptions {
    /// ε of ε-DPO: also compute the two perturbed policies' log-probs (needs a reference).
    pub epsilon: Option<f64>,
    /// Positions per lm_head chunk (≥ 1); 64 keeps a chunk's logits small at any vocab.
    pub chunk_size: usize,
}

impl Default for LogpsOptions {
    fn default() -> Self {
        Self {
            epsilon: None,
            chunk_size: 64,
        }
    }
}

/// Summed log-probs of the two perturbed policies (no grad), `[R]` each.
#[derive(Debug, Clone)]
pub struct Perturbed {
    /// Under `log_softmax((1+ε)·f_θ − ε·f_ref)`.
    pub p: Tensor<1>,
    /// Under `log_softmax((1−ε)·f_θ + ε·f_ref)`.
    pub n: Tensor<1>,
}

/// Per-row results of [`sequence_logps`], each `[R]`.
#[derive(Debug, Clone)]
pub struct SequenceLogps {
    /// Summed label log-probs under the policy (tracked when the policy is on an autodiff device).
    pub policy: Tensor<1>,
    /// Summed label log-probs under the reference (no grad), when one was given.
    pub reference: Option<Tensor<1>>,
    /// The perturbed policies, when ε was given.
    pub perturbed: Option<Perturbed>,
    /// Number of counted tokens (`Σ_t loss_mask`, position 0 excluded).
    pub n_tokens: Tensor<1>,
    /// Sum of the policy's logits over counted positions and the whole vocabulary (detached);
    /// trl's `logits/chosen` is this summed over rows divided by `n_tokens · vocab`.
    pub logits_sum: Tensor<1>,
}

/// Label log-probs `[R, C]` of `logits` `[R, C, V]` at `labels` `[R, C, 1]`, in f32.
fn token_logps(logits: Tensor<3>, labels: Tensor<3, Int>) -> Tensor<2> {
    let logits = if logits.dtype() == DType::F32 {
        logits
    } else {
        logits.cast(DType::F32)
    };
    let max = logits.clone().without_autodiff().max_dim(2); // [R, C, 1], constant
    let shifted = logits - max;
    let lse = shifted.clone().exp().sum_dim(2).log(); // [R, C, 1]
    (shifted.gather(2, labels) - lse).squeeze_dim::<2>(2)
}

/// `Σ_c (x · m)` over the chunk axis: `[R, C]` → `[R, 1]`.
fn masked_sum(x: Tensor<2>, m: Tensor<2>) -> Tensor<2> {
    (x * m).sum_dim(1)
}

/// Concatenates per-chunk `[R, 1]` partial sums and reduces them to `[R]`.
fn total(parts: Vec<Tensor<2>>) -> Tensor<1> {
    Tensor::cat(parts, 1).sum_dim(1).squeeze_dim::<1>(1)
}

/// Policy (and optionally reference and perturbed) sequence log-probs of a right-padded batch.
///
/// `policy` may live on an autodiff device (its log-probs then carry grad); `reference`
/// should live on a plain device (e.g. `policy.valid()` or a loaded copy) and is never
/// differentiated. Returned tensors other than `policy` live on the policy's inner device.
///
/// # Shapes
/// `input_ids` `[R, T]`, `loss_mask` `[R, T]` → [`SequenceLogps`] of `[R]` tensors.
///
/// # Errors
/// Mismatched shapes, `chunk_size == 0`, ε without a reference, or a reference with another
/// vocabulary size.
pub fn sequence_logps(
    policy: &Llama,
    reference: Option<&Llama>,
    input_ids: Tensor<2, Int>,
    loss_mask: Tensor<2>,
    opts: &LogpsOptions,
) -> Result<SequenceLogps> {
    let [rows, t] = input_ids.dims();
    if loss_mask.dims() != [rows, t] {
        return Err(ModelError::arg(
            "loss_mask",
            format!(
                "shape {:?} differs from input_ids {:?}",
                loss_mask.dims(),
                [rows, t]
            ),
        ));
    }
    if opts.chunk_size == 0 {
        return Err(ModelError::arg("chunk_size", "must be at least 1"));
    }
    let epsilon = match (opts.epsilon, reference) {
        (Some(_), None) => {
            return Err(ModelError::arg(
                "epsilon",
                "the perturbed policies need a reference model",
            ));
        }
        (Some(e), Some(_)) if !e.is_finite() => {
            return Err(ModelError::arg("epsilon", "must be finite"));
        }
        (e, _) => e,
    };
    let vocab = policy.config().vocab_size;
    if let Some(r) = reference
        && r.config().vocab_size != vocab
    {
        return Err(ModelError::arg(
            "reference",
            format!(
                "vocab_size {} differs from the policy's {vocab}",
                r.config().vocab_size
            ),
        ));
    }

    let device = policy.device();
    let plain = device.clone().without_autodiff();
    let ids = to_device(input_ids, &device);
    let mask = to_device(loss_mask.without_autodiff(), &plain);
    if t < 2 {
        let zeros = || Tensor::<1>::zeros([rows], &plain);
        let policy_zero = Tensor::<1>::zeros([rows], &device);
        return Ok(SequenceLogps {
            policy: policy_zero,
            reference: reference.map(|_| zeros()),
            perturbed: epsilon.map(|_| Perturbed {
                p: zeros(),
                n: zeros(),
            }),
            n_tokens: zeros(),
            logits_sum: zeros(),
        });
    }

    // Labels are the next tokens; position t−1 predicts token t.
    let labels = ids.clone().slice(s![.., 1..t]).clamp(0, vocab as i64 - 1); // [R, T−1]
    let labels_plain = to_device(labels.clone().without_autodiff(), &plain);
    let mask = mask.slice(s![.., 1..t]); // [R, T−1]

    let h_policy = policy.forward_hidden(ids.clone()); // [R, T, H]
    let h_reference = reference.map(|r| {
        let dev = r.device();
        r.forward_hidden(to_device(ids.without_autodiff(), &dev))
    });

    let n_chunks = (t - 1).div_ceil(opts.chunk_size);
    let mut pol_parts = Vec::with_capacity(n_chunks);
    let mut logit_parts = Vec::with_capacity(n_chunks);
    let mut ref_parts = Vec::with_capacity(n_chunks);
    let mut p_parts = Vec::with_capacity(n_chunks);
    let mut n_parts = Vec::with_capacity(n_chunks);
    let mut start = 0;
    while start < t - 1 {
        let end = (start + opts.chunk_size).min(t - 1);
        let m = mask.clone().slice(s![.., start..end]); // [R, C]
        let y = labels
            .clone()
            .slice(s![.., start..end])
            .unsqueeze_dim::<3>(2); // [R, C, 1]
        let f_pol = policy.lm_head(h_policy.clone().slice(s![.., start..end, ..])); // [R, C, V]
        pol_parts.push(masked_sum(token_logps(f_pol.clone(), y), m.clone()));

        let f = f_pol.without_autodiff().cast(DType::F32); // [R, C, V], no grad
        logit_parts.push(masked_sum(
            f.clone().sum_dim(2).squeeze_dim::<2>(2),
            m.clone(),
        ));
        if let (Some(r), Some(h_ref)) = (reference, &h_reference) {
            let y = labels_plain
                .clone()
                .slice(s![.., start..end])
                .unsqueeze_dim::<3>(2);
            let f_ref = r.lm_head(h_ref.clone().slice(s![.., start..end, ..]));
            let f_ref = to_device(f_ref, &plain).cast(DType::F32); // [R, C, V]
            ref_parts.push(masked_sum(token_logps(f_ref.clone(), y.clone()), m.clone()));
            if let Some(eps) = epsilon {
                let f_p = f.clone() * (1.0 + eps) - f_ref.clone() * eps;
                let f_n = f * (1.0 - eps) + f_ref * eps;
                p_parts.push(masked_sum(token_logps(f_p, y.clone()), m.clone()));
                n_parts.push(masked_sum(token_logps(f_n, y), m));
            }
        }
        start = end;
    }

    Ok(SequenceLogps {
        policy: total(pol_parts),
        reference: reference.map(|_| total(ref_parts)),
        perturbed: epsilon.map(|_| Perturbed {
            p: total(p_parts),
            n: total(n_parts),
        }),
        n_tokens: mask.sum_dim(1).squeeze_dim::<1>(1),
        logits_sum: total(logit_parts),
    })
}

/// [`sequence_logps`] for a model alone (SimPO, scoring): no reference, no ε.
pub fn policy_logps(
    model: &Llama,
    input_ids: Tensor<2, Int>,
    loss_mask: Tensor<2>,
    chunk_size: usize,
) -> Result<SequenceLogps> {
    let opts = LogpsOptions {
        epsilon: None,
        chunk_size,
    };
    sequence_logps(model, None, input_ids, loss_mask, &opts)
}
