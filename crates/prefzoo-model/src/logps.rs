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
//! same forward passes, in the official code's order of operations.
//!
//! Cost and memory:
//! - Each model's hidden states are computed once; the lm_head then runs over chunks of
//!   `chunk_size` positions, so the reference and perturbed logits never exist as a whole
//!   `[R, T, V]` tensor (the policy's chunk logits are kept by the autodiff tape, which
//!   backward needs anyway). Everything without grad runs on the inner (non-autodiff) device.
//! - Only the positions that can count are projected: with `first`/`last` the first and last
//!   columns where any row has `loss_mask = 1`, the chunk walk covers logits positions
//!   `first − 1 .. last − 1` (prompts are often half the sequence), and the decoder itself runs
//!   on `input_ids[.., ..last]` only (causal attention: later columns cannot change those
//!   logits). This is trl's `num_logits_to_keep` plus the trailing-padding trim. Finding
//!   `first`/`last` and checking the ids reads `input_ids` and `loss_mask` back to the host
//!   once per call (`[R, T]`, a few KB), never per chunk.
//! - log_softmax is `x_y − max − log Σ exp(x − max)` in f32 whatever the compute dtype, the
//!   max taken without grad (a constant shift). Masking is by multiplication and labels are
//!   the (validated) next ids, so no `-inf` row and no out-of-range gather can occur.

use std::borrow::Cow;

use burn::prelude::*;
use burn::tensor::DType;

use crate::error::{ModelError, Result};
use crate::model::{Model, read_ids, to_device};

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

/// Label log-probs `[R, C]` of `logits` `[R, C, V]` (f32) at `labels` `[R, C, 1]`.
fn token_logps(logits: Tensor<3>, labels: Tensor<3, Int>) -> Tensor<2> {
    let max = logits.clone().without_autodiff().max_dim(2); // [R, C, 1], constant
    let shifted = logits - max;
    let lse = shifted.clone().exp().sum_dim(2).log(); // [R, C, 1]
    (shifted.gather(2, labels) - lse).squeeze_dim::<2>(2)
}

/// `x` in f32 (a no-op for f32 compute).
fn f32(x: Tensor<3>) -> Tensor<3> {
    if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(DType::F32)
    }
}

/// `Σ_c (x · m)` over the chunk axis: `[R, C]` → `[R, 1]`.
fn masked_sum(x: Tensor<2>, m: Tensor<2>) -> Tensor<2> {
    (x * m).sum_dim(1)
}

/// Concatenates per-chunk `[R, 1]` partial sums and reduces them to `[R]`.
fn total(parts: Vec<Tensor<2>>) -> Tensor<1> {
    Tensor::cat(parts, 1).sum_dim(1).squeeze_dim::<1>(1)
}

/// What the host learns from one read of the batch.
struct Window {
    /// `(lo, hi)`: logits positions `lo..hi` are projected (`lo` = first counted column − 1,
    /// `hi` = last counted column, also the decoder length); `None` when `T < 2`.
    range: Option<(usize, usize)>,
    /// `Σ_t loss_mask[r, t]` for `t ≥ 1`, per row.
    n_tokens: Vec<f32>,
}

/// Validates ids and mask values and finds the counted window (see the module docs).
fn window(ids: &Tensor<2, Int>, mask: &Tensor<2>, vocab: usize) -> Result<Window> {
    let [rows, t] = ids.dims();
    read_ids(ids, vocab)?;
    let mask: Vec<f32> = mask
        .to_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(|e| ModelError::arg("loss_mask", format!("cannot be read: {e:?}")))?;
    if let Some(i) = mask.iter().position(|m| !m.is_finite()) {
        return Err(ModelError::arg(
            format!("loss_mask[{}, {}]", i / t, i % t),
            "must be finite (1 = counted, 0 = not)",
        ));
    }
    let counted = |c: usize| (0..rows).any(|r| mask[r * t + c] != 0.0);
    let first = (1..t).find(|&c| counted(c));
    let last = (1..t).rev().find(|&c| counted(c));
    // Nothing counts: still project one position (times a zero mask) so the policy output
    // stays on the tape and backward works.
    let range = match (first, last) {
        (Some(f), Some(l)) => Some((f - 1, l)),
        _ => (t >= 2).then_some((0, 1)),
    };
    let n_tokens = (0..rows)
        .map(|r| mask[r * t + 1..(r + 1) * t].iter().sum())
        .collect();
    Ok(Window { range, n_tokens })
}

/// Policy (and optionally reference and perturbed) sequence log-probs of a right-padded batch.
///
/// `policy` may live on an autodiff device (its log-probs then carry grad). `reference` is
/// never differentiated: pass it on a plain device (e.g. `policy.valid()` or a loaded copy);
/// one on an autodiff device is run through its inner device. Returned tensors other than
/// `policy` live on the policy's inner device.
///
/// # Shapes
/// `input_ids` `[R, T]`, `loss_mask` `[R, T]` → [`SequenceLogps`] of `[R]` tensors.
///
/// # Errors
/// An empty batch, mismatched shapes, an id outside the vocabulary, a non-finite mask value,
/// `chunk_size == 0`, ε without a reference or not finite, or a reference with another
/// vocabulary size.
pub fn sequence_logps(
    policy: &Model,
    reference: Option<&Model>,
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
            return Err(ModelError::arg(
                "epsilon",
                format!("must be finite, found {e}"),
            ));
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

    if rows == 0 || t == 0 {
        return Err(ModelError::arg(
            "input_ids",
            format!("shape {:?}: the batch is empty", [rows, t]),
        ));
    }
    let device = policy.device();
    let plain = device.clone().without_autodiff();
    let Window { range, n_tokens } = window(&input_ids, &loss_mask, vocab)?;
    let Some((lo, hi)) = range else {
        // `T = 1`: no token can be scored (position 0 never counts). The policy's zeros stay
        // on the tape (0 · logits) so that backward works on any batch.
        let zeros = || Tensor::<1>::zeros([rows], &plain);
        let logits = policy.forward(to_device(input_ids, &device)); // [R, 1, V]
        return Ok(SequenceLogps {
            policy: logits.sum_dim(2).reshape([rows]) * 0.0,
            reference: reference.map(|_| zeros()),
            perturbed: epsilon.map(|_| Perturbed {
                p: zeros(),
                n: zeros(),
            }),
            n_tokens: zeros(),
            logits_sum: zeros(),
        });
    };

    // Decoder inputs `[R, hi]`; labels and mask of logits positions lo..hi (columns lo+1..=hi).
    let ids = to_device(input_ids, &device);
    let labels = ids.clone().slice(s![.., lo + 1..hi + 1]); // [R, W]
    let labels_plain = to_device(labels.clone().without_autodiff(), &plain);
    let mask = to_device(loss_mask.without_autodiff(), &plain).slice(s![.., lo + 1..hi + 1]);
    let ids = ids.slice(s![.., 0..hi]);

    let h_policy = policy.forward_hidden(ids.clone()); // [R, hi, H]
    let reference: Option<Cow<'_, Model>> = reference.map(|r| {
        if r.device().is_autodiff() {
            Cow::Owned(r.valid())
        } else {
            Cow::Borrowed(r)
        }
    });
    let h_reference = reference
        .as_ref()
        .map(|r| r.forward_hidden(to_device(ids.without_autodiff(), &r.device())));

    let head_policy = policy.output_head();
    let head_reference = reference.as_ref().map(|r| r.output_head());
    let n_chunks = (hi - lo).div_ceil(opts.chunk_size);
    let mut pol_parts = Vec::with_capacity(n_chunks);
    let mut logit_parts = Vec::with_capacity(n_chunks);
    let mut ref_parts = Vec::with_capacity(n_chunks);
    let mut p_parts = Vec::with_capacity(n_chunks);
    let mut n_parts = Vec::with_capacity(n_chunks);
    let mut start = lo;
    while start < hi {
        let end = (start + opts.chunk_size).min(hi);
        let (a, b) = (start - lo, end - lo);
        let m = mask.clone().slice(s![.., a..b]); // [R, C]
        let y = labels.clone().slice(s![.., a..b]).unsqueeze_dim::<3>(2); // [R, C, 1]
        let f_pol = f32(head_policy.forward(h_policy.clone().slice(s![.., start..end, ..]))); // [R, C, V]
        pol_parts.push(masked_sum(token_logps(f_pol.clone(), y), m.clone()));

        let f = f_pol.without_autodiff(); // [R, C, V], no grad
        logit_parts.push(masked_sum(
            f.clone().sum_dim(2).squeeze_dim::<2>(2),
            m.clone(),
        ));
        if let (Some(head_ref), Some(h_ref)) = (&head_reference, &h_reference) {
            let y = labels_plain
                .clone()
                .slice(s![.., a..b])
                .unsqueeze_dim::<3>(2);
            let f_ref = head_ref.forward(h_ref.clone().slice(s![.., start..end, ..]));
            let f_ref = f32(to_device(f_ref, &plain)); // [R, C, V]
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
        n_tokens: Tensor::from_data(TensorData::new(n_tokens, [rows]), &plain),
        logits_sum: total(logit_parts),
    })
}

/// [`sequence_logps`] for a model alone (SimPO, scoring): no reference, no ε.
pub fn policy_logps(
    model: &Model,
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
