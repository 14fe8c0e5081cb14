//! The log-probs' share of the autodiff tape on the GPU backend, measured with the device
//! allocator's bytes in use (`Device::memory_pool_usage`). The policy's log-probs go through
//! one node per chunk that projects, soft-caps and takes the label log-softmax, and projects
//! again in backward (prefzoo-model's head_logps_op), so the tape holds the chunk's hidden
//! rows and one f32 per position, not the `[positions, vocab]` logits that the composed
//! operations keep for backward.
//!
//! A random one-layer Llama with a 32,768-token vocabulary (hidden 64) scores 2 rows of 256
//! tokens: 510 scored positions, whose f32 logits are 510 · 32,768 · 4 = 66.8 MB. What stays
//! allocated between the forward and the backward is compared with that size: the node's tape
//! must hold under a quarter of it (its own terms are 510 · (64 + 1) · 4 bytes plus one
//! layer's activations, well under a megabyte), and the composed operations, run on the same
//! device for contrast, must hold at least all of it (which shows the measurement sees the
//! tape). The backward of the node then runs and gives finite gradients.

use burn::prelude::*;
use prefzoo_model::{LogpsOptions, Model, ModelConfig, sequence_logps};

use crate::common::*;

const VOCAB: usize = 32_768;
const ROWS: usize = 2;
const T: usize = 256;

fn bytes_in_use(device: &Device) -> u64 {
    device.sync().expect("the device runs the queued work");
    device
        .memory_pool_usage()
        .expect("the GPU backend reports its allocator's usage")
        .bytes_in_use
}

#[test]
fn the_log_probs_tape_does_not_hold_the_logits() {
    let Some(gpu) = gpu() else { return };
    let device = gpu.device.clone().autodiff();
    device.seed(1);
    let cfg = ModelConfig::tiny_llama(VOCAB, 64, 128, 1, 2, 2).unwrap();
    let model = Model::init(&cfg, &device);
    let ids: Vec<i64> = (0..ROWS * T)
        .map(|i| (1 + (i * 7919) % (VOCAB - 1)) as i64)
        .collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [ROWS, T]), &device);
    let mut mask = vec![1f32; ROWS * T];
    for r in 0..ROWS {
        mask[r * T] = 0.0;
    }
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [ROWS, T]), &device);
    let logits_bytes = (ROWS * (T - 1) * VOCAB * 4) as u64;

    let base = bytes_in_use(&device);
    let out = sequence_logps(
        &model,
        None,
        ids.clone(),
        mask.clone(),
        &LogpsOptions::default(),
    )
    .unwrap();
    let held = bytes_in_use(&device).saturating_sub(base);

    let base_composed = bytes_in_use(&device);
    let logits = model.forward(ids.clone()).slice([0..ROWS, 0..T - 1]);
    let labels = ids.slice([0..ROWS, 1..T]).unsqueeze_dim::<3>(2);
    let composed = burn::tensor::activation::log_softmax(logits, 2)
        .gather(2, labels)
        .sum();
    let held_composed = bytes_in_use(&device).saturating_sub(base_composed);
    drop(composed);

    eprintln!(
        "{}: tape between forward and backward: {held} B through the node, {held_composed} B \
         composed; the logits are {logits_bytes} B",
        gpu.name
    );
    assert!(
        held_composed >= logits_bytes,
        "the composed operations keep the logits: {held_composed} B < {logits_bytes} B"
    );
    assert!(
        held < logits_bytes / 4,
        "the node's tape holds {held} B, not under a quarter of the logits' {logits_bytes} B"
    );

    let grads = out.policy.sum().backward();
    let g = model
        .embed_tokens
        .weight
        .grad(&grads)
        .expect("the embedding has a gradient");
    let g: Vec<f32> = g.into_data().convert::<f32>().try_into_vec().unwrap();
    assert!(g.iter().all(|x| x.is_finite()) && g.iter().any(|&x| x != 0.0));
}
