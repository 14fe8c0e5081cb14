//! The lm_head and the label's log-probability as one autodiff node on the GPU backends,
//! recomputing the logits in backward.
//!
//! Composed of tensor operations, a chunk's `[C, V]` logits (V = 262,144 for Gemma 3) stay on
//! the autodiff tape until backward: the matmul's output, and on the cubecl backends the
//! log-softmax's subtraction, `exp` and gather keep one or more tensors of that size each. The
//! chunks add up, so the tape's share of the log-probs grows with batch × length × vocabulary.
//! Here the projection, the soft-cap and the label log-softmax are one node that keeps the
//! chunk's hidden states `[C, H]` (a view of the policy's final-normed states, kept anyway),
//! the lm_head weight (shared by every chunk), the labels and one `[C, 1]` row statistic. The
//! backward projects the chunk again, one matmul, and applies:
//!
//! ```text
//! z = h·W (compute dtype, then f32)     x = cap·tanh(z / cap)  (or x = z)
//! lse = max x + ln Σ_v exp(x_v − max x)         out = x_y − lse
//! ∂x = g ⊙ (onehot(y) − exp(x − lse))           ∂z = ∂x ⊙ (1 − (x / cap)²)  (or ∂x)
//! ∂h = ∂z·Wᵀ                                    ∂W = hᵀ·∂z
//! ```
//!
//! The node also returns the chunk's f32 logits without grad, which the caller needs for
//! `logits/chosen` and ε-DPO's perturbed policies and drops after the chunk.
//!
//! Used for the policy's log-probs on the cubecl backends (wgpu, cuda) when the lm_head has
//! no bias (every supported family). The CPU backend keeps its fused log-softmax
//! (crate::label_logps_op) over the projected logits: there the tape's logits are host memory,
//! and recomputing them would add one projection matmul per chunk to every CPU step. The formulas
//! are those of Burn's autodiff for the composed operations, so the values agree up to float
//! rounding (the tests compare both on the CPU backend, and tests/gpu on wgpu).

#[cfg(any(feature = "wgpu", feature = "cuda"))]
use burn::backend::Cube;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType, IndexingUpdateOp};

/// The operation this module adds to the backends it lists.
#[backend_extension(Flex, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait HeadLabelLogSoftmax: Backend {
    /// `(log_softmax(x)[labels], x)` for `x = softcap(f32(hidden · weight))`: `[C, 1]` and
    /// `[C, V]`, for `hidden` `[C, H]` and `weight` `[H, V]` of one dtype and valid `labels`
    /// `[C, 1]`. The logits are returned without grad.
    fn head_label_log_softmax(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        labels: IntTensor<Self>,
        softcap: Option<f64>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let x = logits::<Self>(hidden, weight, softcap);
        let (out, _) = label_log_softmax::<Self>(x.clone(), labels);
        (out, x)
    }
}

impl HeadLabelLogSoftmax for Flex {}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl HeadLabelLogSoftmax for Cube {}

/// `softcap(f32(hidden · weight))`, `[C, V]`.
fn logits<B: Backend>(
    hidden: FloatTensor<B>,
    weight: FloatTensor<B>,
    softcap: Option<f64>,
) -> FloatTensor<B> {
    let z = B::float_matmul(hidden, weight);
    let z = if z.dtype() == DType::F32 {
        z
    } else {
        B::float_cast(z, FloatDType::F32)
    };
    match softcap {
        Some(cap) => B::float_mul_scalar(
            B::float_tanh(B::float_div_scalar(z, cap.into())),
            cap.into(),
        ),
        None => z,
    }
}

/// `(x_y − lse, lse)`, both `[C, 1]`, with `lse = max x + ln Σ exp(x − max x)` per row.
fn label_log_softmax<B: Backend>(
    x: FloatTensor<B>,
    labels: IntTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let max = B::float_max_dim(x.clone(), 1);
    let shifted = B::float_sub(x, max.clone());
    let sum = B::float_sum_dim(B::float_exp(shifted.clone()), 1);
    let log_sum = B::float_log(sum);
    let out = B::float_sub(B::float_gather(1, shifted, labels), log_sum.clone());
    (out, B::float_add(max, log_sum))
}

/// The gradients of `hidden` and `weight` for the upstream gradient `grad` `[C, 1]`, from the
/// forward's `lse` (see the module docs). Each is computed only when asked for.
fn backward<B: Backend>(
    (hidden, weight): (FloatTensor<B>, FloatTensor<B>),
    labels: IntTensor<B>,
    lse: FloatTensor<B>,
    softcap: Option<f64>,
    grad: FloatTensor<B>,
    (want_hidden, want_weight): (bool, bool),
) -> (Option<FloatTensor<B>>, Option<FloatTensor<B>>) {
    let dtype = hidden.dtype();
    let x = logits::<B>(hidden.clone(), weight.clone(), softcap);
    let p = B::float_exp(B::float_sub(x.clone(), lse)); // softmax, [C, V]
    let dx = B::float_mul(p, B::float_neg(grad.clone()));
    let dx = B::float_scatter(1, dx, labels, grad, IndexingUpdateOp::Add);
    let dz = match softcap {
        Some(cap) => {
            let t = B::float_div_scalar(x, cap.into());
            let slope = B::float_add_scalar(B::float_neg(B::float_mul(t.clone(), t)), 1.0.into());
            B::float_mul(dx, slope)
        }
        None => dx,
    };
    let dz = match dtype {
        DType::F32 => dz,
        DType::BF16 => B::float_cast(dz, FloatDType::BF16),
        DType::F16 => B::float_cast(dz, FloatDType::F16),
        DType::F64 => B::float_cast(dz, FloatDType::F64),
        other => unreachable!("float tensor of dtype {other:?}"),
    };
    let d_hidden = want_hidden.then(|| B::float_matmul(dz.clone(), B::float_transpose(weight)));
    let d_weight = want_weight.then(|| B::float_matmul(B::float_transpose(hidden), dz));
    (d_hidden, d_weight)
}

impl<B: Backend + HeadLabelLogSoftmax, C: CheckpointStrategy> HeadLabelLogSoftmax
    for Autodiff<B, C>
{
    fn head_label_log_softmax(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        labels: IntTensor<Self>,
        softcap: Option<f64>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct HeadBackward;

        /// The checkpointed ids of `hidden` and `weight`, the labels, the rows' lse and the cap.
        type State<B> = ((NodeId, NodeId), IntTensor<B>, FloatTensor<B>, Option<f64>);

        impl<B: Backend> Backward<B, 2> for HeadBackward {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [h_node, w_node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let ((h_id, w_id), labels, lse, softcap) = ops.state;
                if h_node.is_none() && w_node.is_none() {
                    return;
                }
                let hidden: FloatTensor<B> = checkpointer.retrieve_node_output(h_id);
                let weight: FloatTensor<B> = checkpointer.retrieve_node_output(w_id);
                let (dh, dw) = backward::<B>(
                    (hidden, weight),
                    labels,
                    lse,
                    softcap,
                    grad,
                    (h_node.is_some(), w_node.is_some()),
                );
                if let (Some(node), Some(dh)) = (h_node, dh) {
                    grads.register::<B>(node.id, dh);
                }
                if let (Some(node), Some(dw)) = (w_node, dw) {
                    grads.register::<B>(node.id, dw);
                }
            }
        }

        let prepared = HeadBackward
            .prepare::<C>([hidden.node(), weight.node()])
            .compute_bound()
            .stateful();
        match prepared {
            OpsKind::Tracked(mut prep) => {
                let ids = (prep.checkpoint(&hidden), prep.checkpoint(&weight));
                let x = logits::<B>(hidden.into_primitive(), weight.into_primitive(), softcap);
                let (out, lse) = label_log_softmax::<B>(x.clone(), labels.clone());
                let out = prep.finish((ids, labels, lse, softcap), out);
                (out, <Self as AutodiffBackend>::from_inner(x))
            }
            OpsKind::UnTracked(prep) => {
                let x = logits::<B>(hidden.into_primitive(), weight.into_primitive(), softcap);
                let (out, _) = label_log_softmax::<B>(x.clone(), labels);
                (prep.finish(out), <Self as AutodiffBackend>::from_inner(x))
            }
        }
    }
}

/// Whether [`head_label_logps`] is the policy's path on `device`: the autodiff device of a GPU
/// backend compiled into this build (see the module docs).
pub(crate) fn applies(device: &Device) -> bool {
    device.is_autodiff() && crate::attention_op::is_cube(device)
}

/// `(log_softmax(x)[labels] [C, 1] with grad, x [C, V] without grad)` for
/// `x = softcap(f32(hidden · weight))`, through [`HeadLabelLogSoftmax`]. `hidden` `[C, H]` and
/// `weight` `[H, V]` share a dtype; `labels` `[C, 1]` are valid ids.
pub(crate) fn head_label_logps(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    labels: Tensor<2, Int>,
    softcap: Option<f64>,
) -> (Tensor<2>, Tensor<2>) {
    let (out, x) = <Dispatch as HeadLabelLogSoftmax>::head_label_log_softmax(
        hidden.into_dispatch(),
        weight.into_dispatch(),
        labels.into_dispatch(),
        softcap,
    );
    (
        Tensor::from_dispatch(out),
        Tensor::<2>::from_dispatch(x).without_autodiff(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Log-probs, logits and the gradients of `hidden` and `weight`, through the node and
    /// through the composed operations (the lm_head's linear, the cast, the cap, Burn's
    /// log-softmax and gather), for the same inputs and upstream gradient.
    fn both(
        rows: usize,
        dim: usize,
        vocab: usize,
        softcap: Option<f64>,
        dtype: DType,
    ) -> Vec<(&'static str, Vec<f32>, Vec<f32>)> {
        let device = Device::flex().autodiff();
        device.seed(11);
        let h0 = Tensor::<2>::random([rows, dim], Distribution::Normal(0.0, 1.0), &device);
        let w0 = Tensor::<2>::random([dim, vocab], Distribution::Normal(0.0, 0.5), &device);
        let labels: Vec<i64> = (0..rows).map(|r| ((r * 7919) % vocab) as i64).collect();
        let y = Tensor::<2, Int>::from_data(TensorData::new(labels, [rows, 1]), &device);
        let g = Tensor::<2>::random([rows, 1], Distribution::Normal(0.0, 1.0), &device);
        let run = |fused: bool| {
            let (h, w) = (h0.clone().require_grad(), w0.clone().require_grad());
            let (hc, wc) = if dtype == DType::F32 {
                (h.clone(), w.clone())
            } else {
                (h.clone().cast(dtype), w.clone().cast(dtype))
            };
            let (out, x) = if fused {
                head_label_logps(hc, wc, y.clone(), softcap)
            } else {
                let z = hc.matmul(wc).cast(DType::F32);
                let x = match softcap {
                    Some(cap) => (z / cap).tanh() * cap,
                    None => z,
                };
                let out = burn::tensor::activation::log_softmax(x.clone(), 1).gather(1, y.clone());
                (out, x.without_autodiff())
            };
            let grads = (out.clone() * g.clone()).sum().backward();
            let flat = |t: Tensor<2>| {
                t.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("f32")
            };
            [
                flat(out.inner()),
                flat(x),
                flat(h.grad(&grads).expect("hidden grad")),
                flat(w.grad(&grads).expect("weight grad")),
            ]
        };
        let (f, c) = (run(true), run(false));
        ["logps", "logits", "d_hidden", "d_weight"]
            .into_iter()
            .zip(f.into_iter().zip(c))
            .map(|(name, (f, c))| (name, f, c))
            .collect()
    }

    /// Within `tol` of the largest magnitude of the composed values.
    fn assert_close(all: Vec<(&str, Vec<f32>, Vec<f32>)>, tol: f32) {
        for (name, fused, composed) in all {
            assert_eq!(fused.len(), composed.len(), "{name}");
            let scale = composed.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-30);
            for (i, (a, b)) in fused.iter().zip(&composed).enumerate() {
                assert!(
                    (a - b).abs() <= tol * scale,
                    "{name}[{i}]: fused {a} vs composed {b} (scale {scale})"
                );
            }
        }
    }

    /// f32: the same operations in another order (the node's max-shifted gather, Burn's
    /// log-softmax), so a few ulps of the largest value: 1e-5 relative.
    #[test]
    fn f32_matches_the_composed_operations() {
        assert_close(both(7, 16, 301, None, DType::F32), 1e-5);
        assert_close(both(3, 8, 5, None, DType::F32), 1e-5);
    }

    /// Gemma 2's final-logit soft-cap (30), with logits scaled so that the cap bends them.
    #[test]
    fn the_soft_cap_matches_the_composed_operations() {
        assert_close(both(6, 32, 211, Some(3.0), DType::F32), 1e-5);
    }

    /// bf16 compute: both paths round the same products to bf16 and cast the gradient back;
    /// bf16 has 8 bits of mantissa, so 1e-2 of the largest value.
    #[test]
    fn bf16_compute_matches_the_composed_operations() {
        assert_close(both(5, 16, 97, None, DType::BF16), 1e-2);
    }

    /// On a device without autodiff the node is the forward alone, with the same values.
    #[test]
    fn plain_and_autodiff_agree_bit_for_bit() {
        let device = Device::flex();
        device.seed(3);
        let h = Tensor::<2>::random([4, 8], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<2>::random([8, 50], Distribution::Normal(0.0, 1.0), &device);
        let y =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 49, 7, 20], [4, 1]), &device);
        let (plain, x_plain) = head_label_logps(h.clone(), w.clone(), y.clone(), None);
        let ad = Device::flex().autodiff();
        let (tracked, x_tracked) = head_label_logps(
            Tensor::<2>::from_data(h.to_data(), &ad).require_grad(),
            Tensor::<2>::from_data(w.to_data(), &ad).require_grad(),
            Tensor::<2, Int>::from_data(y.to_data(), &ad),
            None,
        );
        assert_eq!(plain.to_data(), tracked.inner().to_data());
        assert_eq!(x_plain.to_data(), x_tracked.to_data());
    }
}
