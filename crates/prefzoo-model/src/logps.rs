//! Per-sequence log-probabilities: the heart of a DPO-family step.
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
//! - Everything runs on a packed row (crate::packed): no padding, and with
//!   [`packed_logps`] a pair's prompt once for both completions. Each model's hidden states
//!   are computed once; only the scored positions reach the lm_head, in chunks of about
//!   `chunk_size` positions per sequence, so the reference and perturbed logits never exist
//!   as a whole `[E, V]` tensor. On the CPU backend the policy's chunk logits are kept by
//!   the autodiff tape, which backward needs; on the GPU backends the projection and the
//!   label log-softmax are one node that projects again in backward
//!   (crate::head_logps_op), so the tape keeps `[C, H]` hidden rows instead. Everything
//!   without grad runs on the inner (non-autodiff) device.
//! - Per-sequence sums are a `[slots, C] × [C, 1]` one-hot product per chunk, so a position
//!   scored for two sequences (the prompt's last token, once per completion) adds to both.
//! - log_softmax is `x_y − max − log Σ exp(x − max)` in f32 whatever the compute dtype, the
//!   max taken without grad (a constant shift); on the CPU backend one fused operation with its
//!   own backward (crate::label_logps_op), the sum accumulated in f64. Labels are validated
//!   ids, so no `-inf` row and no out-of-range gather can occur.

use std::borrow::Cow;

use burn::prelude::*;
use burn::tensor::DType;

use crate::error::{ModelError, Result};
use crate::label_logps_op;
use crate::model::{Model, OutputHead, read_ids, to_device};
use crate::packed::PackedBatch;

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

/// Label log-probs `[E, 1]` of `logits` `[E, V]` (f32) at `labels` `[E, 1]`: one fused
/// operation on the CPU backend (crate::label_logps_op), tensor operations elsewhere.
fn token_logps(logits: Tensor<2>, labels: Tensor<2, Int>) -> Tensor<2> {
    if label_logps_op::applies(&logits) {
        return label_logps_op::label_logps(logits, labels);
    }
    let max = logits.clone().without_autodiff().max_dim(1); // [E, 1], constant
    let shifted = logits - max;
    let lse = shifted.clone().exp().sum_dim(1).log(); // [E, 1]
    shifted.gather(1, labels) - lse
}

/// `x` in f32 (a no-op for f32 compute).
fn f32<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(DType::F32)
    }
}

/// Concatenates per-chunk `[slots, 1]` partial sums and reduces them to `[slots]`.
fn total(parts: Vec<Tensor<2>>) -> Tensor<1> {
    Tensor::cat(parts, 1).sum_dim(1).squeeze_dim::<1>(1)
}

/// Checks the models and options; ε when the perturbed policies are asked for.
fn check(policy: &Model, reference: Option<&Model>, opts: &LogpsOptions) -> Result<Option<f64>> {
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
    Ok(epsilon)
}

/// Policy (and optionally reference and perturbed) sequence log-probs of a right-padded batch.
///
/// The rows are packed before anything runs ([`PackedBatch::push_sequence`]): each row is
/// cut after its last counted token and the rows are laid end to end, so padding costs
/// nothing. `loss_mask` values must be 0 or 1.
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
/// An empty batch, mismatched shapes, an id outside the vocabulary, a mask value other than
/// 0 or 1, `chunk_size == 0`, ε without a reference or not finite, or a reference with
/// another vocabulary size.
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
    if rows == 0 || t == 0 {
        return Err(ModelError::arg(
            "input_ids",
            format!("shape {:?}: the batch is empty", [rows, t]),
        ));
    }
    check(policy, reference, opts)?;
    let ids = read_ids(&input_ids, policy.config().vocab_size)?;
    let mask: Vec<f32> = loss_mask
        .to_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(|e| ModelError::arg("loss_mask", format!("cannot be read: {e:?}")))?;
    if let Some(i) = mask.iter().position(|&m| m != 0.0 && m != 1.0) {
        return Err(ModelError::arg(
            format!("loss_mask[{}, {}]", i / t, i % t),
            format!("is {}; it must be 1 (counted) or 0 (not)", mask[i]),
        ));
    }
    let mut batch = PackedBatch::new(rows);
    for r in 0..rows {
        let row: Vec<u32> = ids[r * t..(r + 1) * t]
            .iter()
            .map(|&id| id as u32)
            .collect();
        let counted: Vec<bool> = mask[r * t..(r + 1) * t].iter().map(|&m| m == 1.0).collect();
        batch.push_sequence(&row, &counted, r)?;
    }
    packed_logps(policy, reference, &batch, opts)
}

/// Per-slot log-probs of a packed batch (crate::packed): prefix sharing and no padding, the
/// rest as [`sequence_logps`] (whose rows are this function's slots).
///
/// # Errors
/// A batch without slots, an id outside the vocabulary, `chunk_size == 0`, ε without a
/// reference or not finite, or a reference with another vocabulary size.
pub fn packed_logps(
    policy: &Model,
    reference: Option<&Model>,
    batch: &PackedBatch,
    opts: &LogpsOptions,
) -> Result<SequenceLogps> {
    let epsilon = check(policy, reference, opts)?;
    let slots = batch.slots();
    if slots == 0 {
        return Err(ModelError::arg("batch", "has no outputs: nothing to score"));
    }
    let vocab = policy.config().vocab_size;
    if let Some(i) = batch.ids().iter().position(|&id| id as usize >= vocab) {
        return Err(ModelError::arg(
            format!("input_ids[{i}]"),
            format!(
                "token id {} is outside the vocabulary (size {vocab}); pad with a valid id (e.g. eos) and mask it",
                batch.ids()[i]
            ),
        ));
    }
    let device = policy.device();
    let plain = device.clone().without_autodiff();
    let n_tokens = Tensor::from_data(TensorData::new(batch.tokens_per_slot(), [slots]), &plain);
    let entries = batch.entries();
    if entries.is_empty() {
        // Nothing counts: the policy's zeros stay on the tape (0 · a logit) so that backward
        // works on any batch.
        let zeros = || Tensor::<1>::zeros([slots], &plain);
        let one = Tensor::<2, Int>::zeros([1, 1], &device);
        let logit = policy.forward(one).sum(); // [1]
        return Ok(SequenceLogps {
            policy: Tensor::<1>::zeros([slots], &device) + logit * 0.0,
            reference: reference.map(|_| zeros()),
            perturbed: epsilon.map(|_| Perturbed {
                p: zeros(),
                n: zeros(),
            }),
            n_tokens,
            logits_sum: zeros(),
        });
    }

    let h_policy = policy.forward_packed(batch); // [N, H]
    let reference: Option<Cow<'_, Model>> = reference.map(|r| {
        if r.device().is_autodiff() {
            Cow::Owned(r.valid())
        } else {
            Cow::Borrowed(r)
        }
    });
    let h_reference = reference.as_ref().map(|r| r.forward_packed(batch));
    let head_policy = policy.output_head();
    let head_reference = reference.as_ref().map(|r| r.output_head());

    // About `chunk_size` positions per sequence per chunk, as a right-padded walk would take.
    let chunk = opts.chunk_size * batch.n_sequences().max(1);
    let n_chunks = entries.len().div_ceil(chunk);
    let mut pol_parts = Vec::with_capacity(n_chunks);
    let mut logit_parts = Vec::with_capacity(n_chunks);
    let mut ref_parts = Vec::with_capacity(n_chunks);
    let mut p_parts = Vec::with_capacity(n_chunks);
    let mut n_parts = Vec::with_capacity(n_chunks);
    for part in entries.chunks(chunk) {
        let c = part.len();
        let from: Vec<i64> = part.iter().map(|e| e.from as i64).collect();
        let labels: Vec<i64> = part.iter().map(|e| i64::from(e.label)).collect();
        // One-hot `[slots, C]`: entry c adds to row slot(c).
        let mut onehot = vec![0.0f32; slots * c];
        for (j, e) in part.iter().enumerate() {
            onehot[e.slot * c + j] = 1.0;
        }
        let onehot = TensorData::new(onehot, [slots, c]);
        let sum_plain = Tensor::<2>::from_data(onehot.clone(), &plain);
        let sum_dev = Tensor::<2>::from_data(onehot, &device);
        let y = Tensor::<2, Int>::from_data(TensorData::new(labels, [c, 1]), &plain);
        let from_dev = Tensor::<1, Int>::from_data(TensorData::new(from.clone(), [c]), &device);
        let project = |head: &OutputHead, h: &Tensor<2>, idx: Tensor<1, Int>| {
            let rows = h.clone().select(0, idx).unsqueeze_dim::<3>(0); // [1, C, H]
            f32(head.forward(rows)).squeeze_dim::<2>(0) // [C, V]
        };
        let y_dev = to_device(y.clone(), &device);
        let rows = h_policy.clone().select(0, from_dev.clone());
        let (lp, f) = match head_policy.fused_label_logps(rows, y_dev.clone()) {
            Some(fused) => fused,
            None => {
                let f_pol = project(&head_policy, &h_policy, from_dev);
                let lp = token_logps(f_pol.clone(), y_dev);
                (lp, f_pol.without_autodiff())
            }
        };
        pol_parts.push(sum_dev.matmul(lp));
        // `f`: the policy's [C, V] logits, no grad.
        logit_parts.push(sum_plain.clone().matmul(f.clone().sum_dim(1)));
        if let (Some(head_ref), Some(h_ref), Some(r)) = (&head_reference, &h_reference, &reference)
        {
            let from_ref = Tensor::<1, Int>::from_data(TensorData::new(from, [c]), &r.device());
            let f_ref = to_device(project(head_ref, h_ref, from_ref), &plain); // [C, V]
            ref_parts.push(
                sum_plain
                    .clone()
                    .matmul(token_logps(f_ref.clone(), y.clone())),
            );
            if let Some(eps) = epsilon {
                let f_p = f.clone() * (1.0 + eps) - f_ref.clone() * eps;
                let f_n = f * (1.0 - eps) + f_ref * eps;
                p_parts.push(sum_plain.clone().matmul(token_logps(f_p, y.clone())));
                n_parts.push(sum_plain.matmul(token_logps(f_n, y)));
            }
        }
    }

    Ok(SequenceLogps {
        policy: total(pol_parts),
        reference: reference.map(|_| total(ref_parts)),
        perturbed: epsilon.map(|_| Perturbed {
            p: total(p_parts),
            n: total(n_parts),
        }),
        n_tokens,
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
