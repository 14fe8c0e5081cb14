//! The label's log-probability, `log_softmax(x)[y]`, as one operation with its own backward
//! on the CPU backend.
//!
//! Composed of tensor operations (crate::logps's fallback), the scored positions' `[E, V]`
//! logits (V = 49,152 for SmolLM2: tens of MB per chunk) go through a subtraction, an `exp`, a
//! sum, a log and a gather, each an autodiff node, and as many passes again in backward; ε-DPO
//! adds two more such log-softmaxes without grad. Here it is one node that keeps only the
//! logits and the labels: the forward takes each row's max and `Σ exp(x − max)` (accumulated
//! in f64) in two passes over the row, and the backward recomputes them and writes
//! `∂x = g ⊙ (onehot(y) − softmax(x))` in one more. On the perf bench's real workload (steps
//! 2–6, two runs each, 2026-12-02) ε-DPO took 18.4 and 19.3 s against 19.2 and 20.1 s
//! composed, DPO 18.6 and 18.8 s against 18.7 and 19.3 s.
//!
//! ```text
//! m = max_v x_v     s = Σ_v exp(x_v − m)     out = (x_y − m) − ln s
//! ∂x_v = −g · exp(x_v − m) / s  (+ g at v = y)
//! ```
//!
//! The same values as the composed path up to float rounding (f64 accumulation instead of
//! flex's f32 sum; the tests bound the difference). Used for f32 on flex, with or without
//! autodiff, so the policy's, the reference's and ε-DPO's perturbed log-probs all take the
//! same path (at ε = 0 the perturbed log-probs equal the policy's bit for bit); other
//! backends and dtypes keep the composed operations.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// The operations this module adds to the backends it lists.
#[backend_extension(Flex, Autodiff)]
pub trait LabelLogSoftmax: Backend {
    /// `log_softmax(logits, 1)[r, labels[r]]`, `[E, 1]`, for `logits` `[E, V]` (f32) and
    /// valid `labels` `[E, 1]`.
    fn label_log_softmax(logits: FloatTensor<Self>, labels: IntTensor<Self>) -> FloatTensor<Self>;

    /// The gradient with respect to `logits` for the upstream gradient `grad` `[E, 1]`.
    fn label_log_softmax_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Row statistics of `x`: its max `m` and `Σ exp(x − m)` (accumulated in f64).
#[inline]
fn row_stats(x: &[f32]) -> (f32, f64) {
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let s = x.iter().map(|&v| f64::from((v - m).exp())).sum::<f64>();
    (m, s)
}

/// A contiguous `[rows, cols]` f32 matrix's elements in order, with its shape.
fn matrix(t: &FloatTensor<Flex>) -> (Vec<usize>, &[f32]) {
    let (start, end) = t.layout().contiguous_offsets().expect("made contiguous");
    (t.layout().shape().to_vec(), &t.storage::<f32>()[start..end])
}

fn contiguous(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.layout().contiguous_offsets().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The labels as indices, whatever integer dtype the backend holds them in.
fn indices(labels: IntTensor<Flex>) -> Vec<usize> {
    let labels = labels.to_contiguous();
    let (start, end) = labels
        .layout()
        .contiguous_offsets()
        .expect("made contiguous");
    match labels.dtype() {
        DType::I64 => labels.storage::<i64>()[start..end]
            .iter()
            .map(|&y| y as usize)
            .collect(),
        DType::I32 => labels.storage::<i32>()[start..end]
            .iter()
            .map(|&y| y as usize)
            .collect(),
        other => panic!("label_log_softmax: labels of dtype {other:?}"),
    }
}

impl LabelLogSoftmax for Flex {
    fn label_log_softmax(logits: FloatTensor<Self>, labels: IntTensor<Self>) -> FloatTensor<Self> {
        let logits = contiguous(logits);
        let (shape, x) = matrix(&logits);
        let (rows, cols) = (shape[0], shape[1]);
        let y = indices(labels);
        assert_eq!(y.len(), rows, "one label per row");
        let out: Vec<f32> = (0..rows)
            .into_par_iter()
            .map(|r| {
                let row = &x[r * cols..(r + 1) * cols];
                let (m, s) = row_stats(row);
                (row[y[r]] - m) - (s.ln() as f32)
            })
            .collect();
        FloatTensor::<Flex>::from_data(TensorData::new(out, [rows, 1]))
    }

    fn label_log_softmax_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let logits = contiguous(logits);
        let grad = contiguous(grad);
        let (shape, x) = matrix(&logits);
        let (_, g) = matrix(&grad);
        let (rows, cols) = (shape[0], shape[1]);
        let y = indices(labels);
        let mut out = vec![0.0f32; rows * cols];
        out.par_chunks_mut(cols)
            .zip(x.par_chunks(cols))
            .enumerate()
            .for_each(|(r, (o, row))| {
                let (m, s) = row_stats(row);
                let scale = -g[r] / s as f32;
                for (o, &v) in o.iter_mut().zip(row) {
                    *o = (v - m).exp() * scale;
                }
                o[y[r]] += g[r];
            });
        FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
    }
}

impl<B: Backend + LabelLogSoftmax, C: CheckpointStrategy> LabelLogSoftmax for Autodiff<B, C> {
    fn label_log_softmax(logits: FloatTensor<Self>, labels: IntTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LabelLogSoftmaxBackward;

        impl<B: Backend + LabelLogSoftmax> Backward<B, 1> for LabelLogSoftmaxBackward {
            /// The logits and the labels.
            type State = (FloatTensor<B>, IntTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (logits, labels) = ops.state;
                if let Some(node) = node {
                    grads.register::<B>(
                        node.id,
                        B::label_log_softmax_backward(logits, labels, grad),
                    );
                }
            }
        }

        match LabelLogSoftmaxBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = logits.into_primitive();
                let out = B::label_log_softmax(x.clone(), labels.clone());
                prep.finish((x, labels), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::label_log_softmax(logits.into_primitive(), labels))
            }
        }
    }

    fn label_log_softmax_backward(
        _logits: FloatTensor<Self>,
        _labels: IntTensor<Self>,
        _grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        unreachable!("the autodiff node calls the inner backend's backward")
    }
}

/// Whether [`label_logps`] takes the [`LabelLogSoftmax`] path: f32 on flex.
pub(crate) fn applies(logits: &Tensor<2>) -> bool {
    logits.dtype() == DType::F32 && logits.device().without_autodiff() == Device::flex()
}

/// `log_softmax(logits, 1)` at `labels`, `[E, 1]`, through [`LabelLogSoftmax`]. Call only where
/// [`applies`] holds.
pub(crate) fn label_logps(logits: Tensor<2>, labels: Tensor<2, Int>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as LabelLogSoftmax>::label_log_softmax(
        logits.into_dispatch(),
        labels.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Label log-probs and the logits' gradient through the fused node and through the
    /// composed operations, for the same logits, labels and upstream gradient.
    fn both(rows: usize, vocab: usize) -> [(Vec<f32>, Vec<f32>); 2] {
        let device = Device::flex().autodiff();
        device.seed(5);
        let x0 = Tensor::<2>::random([rows, vocab], Distribution::Normal(0.0, 4.0), &device);
        let labels: Vec<i64> = (0..rows).map(|r| ((r * 7919) % vocab) as i64).collect();
        let y = Tensor::<2, Int>::from_data(TensorData::new(labels, [rows, 1]), &device);
        let w = Tensor::<2>::random([rows, 1], Distribution::Normal(0.0, 1.0), &device);
        let run = |fused: bool| {
            let x = x0.clone().require_grad();
            let out = if fused {
                assert!(applies(&x), "flex f32 takes the fused path");
                label_logps(x.clone(), y.clone())
            } else {
                let max = x.clone().without_autodiff().max_dim(1);
                let shifted = x.clone() - max;
                let lse = shifted.clone().exp().sum_dim(1).log();
                shifted.gather(1, y.clone()) - lse
            };
            let grads = (out.clone() * w.clone()).sum().backward();
            let flat = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32");
            (flat(out.inner()), flat(x.grad(&grads).expect("grad")))
        };
        let (f, c) = (run(true), run(false));
        [(f.0, c.0), (f.1, c.1)]
    }

    /// Within `tol` of the largest magnitude of the composed values.
    fn assert_close(name: &str, fused: &[f32], composed: &[f32], tol: f32) {
        assert_eq!(fused.len(), composed.len());
        let scale = composed.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-30);
        for (i, (a, b)) in fused.iter().zip(composed).enumerate() {
            assert!(
                (a - b).abs() <= tol * scale,
                "{name}[{i}]: fused {a} vs composed {b} (scale {scale})"
            );
        }
    }

    /// The log-probs agree to f32 rounding of a ~−15 value over a 49,152-wide row (a few ulps;
    /// 2e-6 relative is ~30 ulps at that magnitude), the gradient likewise.
    #[test]
    fn fused_matches_the_composed_operations() {
        let [(f, c), (gf, gc)] = both(5, 49_152);
        assert_close("logps", &f, &c, 2e-6);
        assert_close("grad", &gf, &gc, 2e-6);
        // And on a small vocabulary with several rows.
        let [(f, c), (gf, gc)] = both(33, 17);
        assert_close("logps small", &f, &c, 2e-6);
        assert_close("grad small", &gf, &gc, 2e-6);
    }

    /// The fused forward on a plain (no-autodiff) tensor equals the autodiff one bit for bit,
    /// so the reference's and the perturbed log-probs are computed exactly as the policy's.
    #[test]
    fn plain_and_autodiff_agree_bit_for_bit() {
        let device = Device::flex();
        device.seed(9);
        let x = Tensor::<2>::random([4, 300], Distribution::Normal(0.0, 3.0), &device);
        let y =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 299, 17, 150], [4, 1]), &device);
        let plain = label_logps(x.clone(), y.clone());
        let ad = Device::flex().autodiff();
        let tracked = label_logps(
            Tensor::<2>::from_data(x.to_data(), &ad).require_grad(),
            Tensor::<2, Int>::from_data(y.to_data(), &ad),
        );
        assert_eq!(plain.to_data(), tracked.inner().to_data());
    }
}
