//! The patched CPU backend (vendor/burn-flex, `src/par.rs`) splits large element-wise kernels
//! over the rayon pool. Its claim is that every element is computed exactly as on one thread,
//! so the split never makes a result depend on the thread count. Checked here on buffers above
//! the split threshold (32,768
//! elements), through each kind of kernel it patched: unary, scalar, same-shape and broadcast
//! binary ops (in place and allocating), mask fill, and a forward + backward through them.

use burn::prelude::*;
use burn::tensor::{Bool, Distribution};

/// Every kernel kind on `[64, 1500]` inputs (96,000 elements), as bits.
fn kernels() -> Vec<Vec<u32>> {
    let device = Device::flex().autodiff();
    device.seed(11);
    let x = Tensor::<2>::random([64, 1500], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let y = Tensor::<2>::random([64, 1500], Distribution::Normal(0.0, 1.0), &device);
    let row = Tensor::<2>::random([64, 1], Distribution::Uniform(0.5, 2.0), &device);
    let col = Tensor::<2>::random([1, 1500], Distribution::Uniform(0.5, 2.0), &device);
    let mask: Tensor<2, Bool> = y.clone().greater_elem(0.3);

    let unary = x.clone().exp();
    let scalar = x.clone() * 1.7 + 0.25;
    let same = x.clone() * y.clone() - y.clone() / 3.0;
    let broadcast = (x.clone() * row.clone()) / col.clone() + row.clone();
    let strided = x.clone().transpose() * y.clone().transpose(); // non-contiguous operands
    let filled = (x.clone() * 2.0).mask_fill(mask, -1.5);
    let loss = (unary.clone().log() * broadcast.clone()).sum()
        + (same.clone() * filled.clone()).mean()
        + burn::tensor::activation::silu(scalar.clone()).sum();
    let grad = x.grad(&loss.backward()).expect("x is tracked");

    let bits = |t: Tensor<2>| -> Vec<u32> {
        t.into_data()
            .try_to_vec::<f32>()
            .expect("f32")
            .into_iter()
            .map(f32::to_bits)
            .collect()
    };
    vec![
        bits(unary.inner()),
        bits(scalar.inner()),
        bits(same.inner()),
        bits(broadcast.inner()),
        bits(strided.inner()),
        bits(filled.inner()),
        bits(grad),
    ]
}

fn in_pool(threads: usize) -> Vec<Vec<u32>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(kernels)
}

#[test]
fn element_wise_kernels_give_the_same_bits_on_one_thread_and_on_four() {
    let one = in_pool(1);
    let four = in_pool(4);
    let names = [
        "exp",
        "scalar",
        "same-shape",
        "broadcast",
        "strided",
        "mask_fill",
        "grad",
    ];
    for ((name, a), b) in names.iter().zip(&one).zip(&four) {
        assert_eq!(a.len(), b.len(), "{name}");
        let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(
            differ,
            0,
            "{name}: {differ} of {} elements differ between 1 and 4 threads",
            a.len()
        );
    }
}
