//! Attention with a hand-written backward pass on the CPU backend.
//!
//! Burn 0.22's autodiff decorator runs `attention` as its generic fallback: the `[B, heads, T,
//! T]` scores go through a matmul, a scale, a mask fill and a decomposed softmax, each an
//! autodiff node, several keeping their tensors for the backward pass, which then walks them
//! all back.
//! Here attention is one autodiff node instead. The forward is the backend's own fused
//! attention (flex: per-head, on the rayon pool). The node keeps only `q`, `k`, `v`, the mask
//! and the output, and the backward recomputes the probabilities once and applies the
//! standard formulas (`D = rowsum(dO ⊙ O)`, `dS = P ⊙ (dO·Vᵀ − D)`):
//!
//! ```text
//! P  = softmax(mask(q·kᵀ·scale))     dV = Pᵀ·dO
//! dS = P ⊙ (dO·Vᵀ − D)               dQ = dS·k·scale      dK = dSᵀ·q·scale
//! ```
//!
//! The same values up to float rounding as the fallback (the tests compare both), with no
//! score-sized tensor held until backward. Used for f32 attention under autodiff without
//! soft-capping on the flex backend and, with the `wgpu` or `cuda` feature, on the GPU
//! backends (cubecl), whose forward is their own `attention` (with a given scale, cubecl's
//! naive kernels: the scores exist during the forward only) and whose backward is the same
//! generic formulas: the autodiff tape holds `q`, `k`, `v`, the mask and the output per layer
//! instead of three `[B, heads, T, T]` f32 tensors. Every other case keeps Burn's `attention`.

#[cfg(any(feature = "wgpu", feature = "cuda"))]
use burn::backend::Cube;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType};

/// The attention operation this module adds to the backends it lists.
#[backend_extension(Flex, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait MaskedAttention: Backend {
    /// `softmax(mask(q·kᵀ·scale))·v` for `q`, `k`, `v` `[B, heads, T, d]` (`k`/`v` already
    /// repeated for grouped queries) and `mask` `[B or 1, heads or 1, Tq, Tk]`, `true` =
    /// masked. Every query row keeps at least one key.
    fn masked_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        Self::attention(q, k, v, Some(mask), None, options(scale))
    }
}

fn options(scale: f64) -> AttentionModuleOptions {
    AttentionModuleOptions {
        scale: Some(scale),
        softcap: None,
        is_causal: false,
    }
}

impl MaskedAttention for Flex {}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl MaskedAttention for Cube {}

impl<B: Backend + MaskedAttention, C: CheckpointStrategy> MaskedAttention for Autodiff<B, C> {
    fn masked_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct AttentionBackward;

        /// The checkpointed ids of `q`, `k`, `v`, then the mask, the output and the scale.
        type State<B> = ((NodeId, NodeId, NodeId), BoolTensor<B>, FloatTensor<B>, f64);

        impl<B: Backend> Backward<B, 3> for AttentionBackward {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [q_node, k_node, v_node] = ops.parents;
                let d_out = grads.consume::<B>(&ops.node);
                let ((q_id, k_id, v_id), mask, out, scale) = ops.state;
                let q: FloatTensor<B> = checkpointer.retrieve_node_output(q_id);
                let k: FloatTensor<B> = checkpointer.retrieve_node_output(k_id);
                let v: FloatTensor<B> = checkpointer.retrieve_node_output(v_id);

                let qs = B::float_mul_scalar(q, scale.into());
                let scores = B::float_matmul(qs.clone(), B::float_transpose(k.clone()));
                let scores = B::float_mask_fill(scores, mask, f32::NEG_INFINITY.into());
                let p = B::softmax(scores, 3);
                if let Some(node) = v_node {
                    let dv = B::float_matmul(B::float_transpose(p.clone()), d_out.clone());
                    grads.register::<B>(node.id, dv);
                }
                if q_node.is_none() && k_node.is_none() {
                    return;
                }
                let dp = B::float_matmul(d_out.clone(), B::float_transpose(v));
                let row = B::float_sum_dim(B::float_mul(d_out, out), 3); // [B, h, Tq, 1]
                let ds = B::float_mul(p, B::float_sub(dp, row));
                if let Some(node) = k_node {
                    let dk = B::float_matmul(B::float_transpose(ds.clone()), qs);
                    grads.register::<B>(node.id, dk);
                }
                if let Some(node) = q_node {
                    let dq = B::float_mul_scalar(B::float_matmul(ds, k), scale.into());
                    grads.register::<B>(node.id, dq);
                }
            }
        }

        match AttentionBackward
            .prepare::<C>([q.node(), k.node(), v.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let ids = (
                    prep.checkpoint(&q),
                    prep.checkpoint(&k),
                    prep.checkpoint(&v),
                );
                let out = B::masked_attention(
                    q.into_primitive(),
                    k.into_primitive(),
                    v.into_primitive(),
                    mask.clone(),
                    scale,
                );
                prep.finish((ids, mask, out.clone(), scale), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::masked_attention(
                q.into_primitive(),
                k.into_primitive(),
                v.into_primitive(),
                mask,
                scale,
            )),
        }
    }
}

/// Burn's `attention(q, k, v, mask, None, options)`, through [`MaskedAttention`] when that
/// applies (see the module docs). `mask` is `[B or 1, 1, Tq, Tk]` (broadcast over the heads
/// without a copy) or absent (then `options.is_causal` says whether attention is causal).
pub(crate) fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    options: AttentionModuleOptions,
) -> Tensor<4> {
    let [b, h, tq, _] = q.dims();
    let tk = k.dims()[2];
    if !applies(&q, mask.is_some(), &options) {
        let mask = mask.map(|m| m.expand([b, h, tq, tk]));
        return burn_attention(q, k, v, mask, None, options);
    }
    let mask = match mask {
        Some(mask) => mask,
        None => causal_mask(tq, tk, &q.device()),
    };
    // flex broadcasts the mask over the batch and the heads itself; the generic kernels of the
    // other backends are given a view of the full shape.
    let mask = if is_flex(&q.device()) {
        mask
    } else {
        mask.expand([b, h, tq, tk])
    };
    let scale = options
        .scale
        .unwrap_or_else(|| 1.0 / (q.dims()[3] as f64).sqrt());
    Tensor::from_dispatch(<Dispatch as MaskedAttention>::masked_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        mask.into_dispatch(),
        scale,
    ))
}

/// Whether [`attention`] takes the [`MaskedAttention`] path for `q` (see the module docs).
fn applies(q: &Tensor<4>, has_mask: bool, options: &AttentionModuleOptions) -> bool {
    let device = q.device();
    options.softcap.is_none()
        && (has_mask || options.is_causal)
        && device.is_autodiff()
        && q.dtype() == DType::F32
        && (is_flex(&device) || is_cube(&device))
}

fn is_flex(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// A device of a GPU backend compiled into this build (wgpu, cuda).
pub(crate) fn is_cube(device: &Device) -> bool {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    {
        matches!(
            device.clone().without_autodiff().as_dispatch(),
            burn::backend::DispatchDevice::Cube(_)
        )
    }
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        let _ = device;
        false
    }
}

/// `[1, 1, Tq, Tk]`, `true` above the causal diagonal aligned at the bottom right (Burn's
/// `is_causal`).
fn causal_mask(tq: usize, tk: usize, device: &Device) -> Tensor<4, Bool> {
    let offset = tk as i64 - tq as i64;
    let rows = Tensor::<1, Int>::arange(0..tq as i64, device).reshape([tq, 1]) + offset;
    let cols = Tensor::<1, Int>::arange(0..tk as i64, device).reshape([1, tk]);
    cols.greater(rows).reshape([1, 1, tq, tk])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Output and input gradients of `attention` (fused when it applies) and of Burn's
    /// fallback, for the same inputs and the same upstream gradient.
    fn both(
        mask: Option<Tensor<4, Bool>>,
        causal: bool,
        kv_heads: usize,
    ) -> [(Vec<f32>, Vec<f32>); 4] {
        let device = Device::flex().autodiff();
        device.seed(7);
        let (b, h, t, d) = (2, 4, 9, 8);
        let rnd =
            |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let q0 = rnd([b, h, t, d]);
        let k0 = rnd([b, kv_heads, t, d]);
        let v0 = rnd([b, kv_heads, t, d]);
        let w = rnd([b, h, t, d]);
        let options = AttentionModuleOptions {
            scale: Some(0.3),
            softcap: None,
            is_causal: causal,
        };
        let run = |fused: bool| {
            let (q, k, v) = (
                q0.clone().require_grad(),
                k0.clone().require_grad(),
                v0.clone().require_grad(),
            );
            let rep = |x: Tensor<4>| {
                x.unsqueeze_dim::<5>(2)
                    .expand([b, kv_heads, h / kv_heads, t, d])
                    .reshape([b, h, t, d])
            };
            assert!(
                applies(&q, mask.is_some(), &options),
                "flex autodiff f32 takes the fused path"
            );
            let out = if fused {
                attention(
                    q.clone(),
                    rep(k.clone()),
                    rep(v.clone()),
                    mask.clone(),
                    options,
                )
            } else {
                burn_attention(
                    q.clone(),
                    rep(k.clone()),
                    rep(v.clone()),
                    mask.clone(),
                    None,
                    options,
                )
            };
            let grads = (out.clone() * w.clone()).sum().backward();
            let flat = |x: Tensor<4>| x.into_data().try_to_vec::<f32>().expect("f32");
            [
                flat(out.inner()),
                flat(q.grad(&grads).expect("q grad")),
                flat(k.grad(&grads).expect("k grad")),
                flat(v.grad(&grads).expect("v grad")),
            ]
        };
        let (f, r) = (run(true), run(false));
        let mut pairs = f.into_iter().zip(r);
        std::array::from_fn(|_| pairs.next().expect("four"))
    }

    fn assert_close(name: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * scale.max(1.0),
                "{name}[{i}]: fused {x} vs fallback {y}"
            );
        }
    }

    fn check(all: [(Vec<f32>, Vec<f32>); 4]) {
        for (name, (f, r)) in ["out", "dq", "dk", "dv"].iter().zip(all) {
            assert_close(name, &f, &r);
        }
    }

    #[test]
    fn causal_attention_matches_the_fallback_with_grouped_keys() {
        check(both(None, true, 2));
    }

    #[test]
    fn a_branch_mask_matches_the_fallback() {
        // Two branches after a prefix of 3: tokens 3..6 and 6..9 never see each other.
        let device = Device::flex().autodiff();
        let t = 9;
        let masked: Vec<bool> = (0..t * t)
            .map(|i| {
                let (r, c) = (i / t, i % t);
                c > r || (r >= 6 && (3..6).contains(&c))
            })
            .collect();
        let mask = Tensor::<1, Bool>::from_data(masked.as_slice(), &device).reshape([1, 1, t, t]);
        check(both(Some(mask), false, 4));
    }
}
