//! Small numeric helpers shared by the losses.

use burn::prelude::*;
use burn::tensor::activation::softplus;

/// logσ(z) = −softplus(−z), element-wise.
///
/// Burn's softplus is `log1p(exp(x))` below a threshold of 20 and `x` above it: exact to f32 in
/// both tails (log1p keeps losses near 0 precise, which a plain `log(1 + e^x)` does not), and its
/// gradient at z = 0 is exactly ½ — where every DPO pair starts. A hand-written
/// `max(z, 0) + log1p(e^−|z|)` would have a zero gradient there (ALGORITHMS.md, Numerics).
pub fn log_sigmoid<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    softplus(z.neg(), 1.0).neg()
}

/// The values of a tensor as `f64`s on the host (a sync point; used for [N]-sized statistics).
pub fn to_vec_f64<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.clone()
        .into_data()
        .try_into_vec_as::<f64>()
        .expect("a float tensor converts to f64")
}

/// An `[n]` float tensor from host values, on `device`.
pub fn from_f64(values: &[f64], device: &Device) -> Tensor<1> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [values.len()]), device)
}

/// The values of a tensor as `f32`s on the host.
pub fn to_vec_f32<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone()
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("a float tensor converts to f32")
}

/// The sigmoid loss with label smoothing (conservative DPO):
/// `−(1−ls)·logσ(z) − ls·logσ(−z)`, element-wise.
pub fn smoothed_sigmoid_loss(z: Tensor<1>, label_smoothing: f64) -> Tensor<1> {
    let main = log_sigmoid(z.clone()).neg();
    if label_smoothing == 0.0 {
        return main;
    }
    main * (1.0 - label_smoothing) - log_sigmoid(z.neg()) * label_smoothing
}

/// An `[n]` tensor filled with `value`, on the device of `like`.
pub fn full_like(like: &Tensor<1>, value: f64) -> Tensor<1> {
    Tensor::full([like.dims()[0]], value, &like.device())
}
