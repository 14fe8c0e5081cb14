//! Full next-token distributions along a sequence, for evaluation: per-position log-probs
//! and the exact per-token KL divergence between two models on a fixed sample.
//!
//! ```text
//! KL(p‖q)[r] = Σ_t m[r,t] · Σ_v p(v | x_<t) · (log p(v | x_<t) − log q(v | x_<t))
//! ```
//! with the same convention as [`crate::sequence_logps`]: token `t` is predicted at `t − 1`,
//! `loss_mask[r, t]` marks the counted tokens, right padding. Both models run without a tape
//! on their inner devices, and the vocabulary axis is processed in chunks of positions so
//! only `[R, chunk, V]` temporaries exist.

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::log_softmax;

use crate::error::{ModelError, Result};
use crate::model::{Model, read_ids, to_device};

/// Next-token log-probabilities `log_softmax(logits)` in f32, without grad.
///
/// # Shapes
/// `input_ids` `[B, T]` (right-padded) → `[B, T, V]`; row `t` is the distribution of token `t + 1`.
///
/// # Errors
/// An empty batch or an id outside the vocabulary.
pub fn next_token_log_probs(model: &Model, input_ids: Tensor<2, Int>) -> Result<Tensor<3>> {
    let [b, t] = input_ids.dims();
    if b == 0 || t == 0 {
        return Err(ModelError::arg(
            "input_ids",
            format!("shape {:?}: the batch is empty", [b, t]),
        ));
    }
    read_ids(&input_ids, model.config().vocab_size)?;
    let model = model.inference_copy();
    let ids = to_device(input_ids.without_autodiff(), &model.device());
    Ok(log_softmax(model.forward(ids).cast(DType::F32), 2))
}

/// Exact KL(p‖q) per row, summed over the counted positions (see the module docs).
///
/// # Shapes
/// `input_ids`, `loss_mask` `[R, T]` → `[R]` on `p`'s inner device.
///
/// # Errors
/// An empty batch, mismatched shapes or vocabularies, an id outside the vocabulary, or
/// `chunk_size == 0`.
pub fn sequence_kl(
    p: &Model,
    q: &Model,
    input_ids: Tensor<2, Int>,
    loss_mask: Tensor<2>,
    chunk_size: usize,
) -> Result<Tensor<1>> {
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
    if chunk_size == 0 {
        return Err(ModelError::arg("chunk_size", "must be at least 1"));
    }
    if rows == 0 || t == 0 {
        return Err(ModelError::arg(
            "input_ids",
            format!("shape {:?}: the batch is empty", [rows, t]),
        ));
    }
    read_ids(&input_ids, p.config().vocab_size)?;
    if p.config().vocab_size != q.config().vocab_size {
        return Err(ModelError::arg(
            "q",
            format!(
                "vocab_size {} differs from p's {}",
                q.config().vocab_size,
                p.config().vocab_size
            ),
        ));
    }
    let (p, q) = (p.inference_copy(), q.inference_copy());
    let device = p.device();
    let ids = input_ids.without_autodiff();
    if t < 2 {
        return Ok(Tensor::zeros([rows], &device));
    }
    let mask = to_device(loss_mask.without_autodiff(), &device).slice(s![.., 1..t]);
    let h_p = p.forward_hidden(to_device(ids.clone(), &device));
    let h_q = q.forward_hidden(to_device(ids, &q.device()));
    let (head_p, head_q) = (p.output_head(), q.output_head());
    let mut parts = Vec::new();
    let mut start = 0;
    while start < t - 1 {
        let end = (start + chunk_size).min(t - 1);
        let lp = log_softmax(head_p.forward(h_p.clone().slice(s![.., start..end, ..])), 2);
        let lq = log_softmax(head_q.forward(h_q.clone().slice(s![.., start..end, ..])), 2);
        let lq = to_device(lq, &device);
        let kl = (lp.clone().exp() * (lp - lq))
            .sum_dim(2)
            .squeeze_dim::<2>(2); // [R, C]
        parts.push((kl * mask.clone().slice(s![.., start..end])).sum_dim(1));
        start = end;
    }
    Ok(Tensor::cat(parts, 1).sum_dim(1).squeeze_dim::<1>(1))
}
