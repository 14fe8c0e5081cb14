//! Supervised fine-tuning of the reference policy on the world's demonstrations (SPEC §2):
//! loss on response tokens + EOS, AdamW (lr 3e-3, weight decay 0.01), linear warm-up over the
//! first 5% of steps then cosine to 0, batches of 256. This is a plain SFT loop, not the
//! preference trainer; Burn's AdamW (with torch's ε 1e-8) is fine here.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use prefzoo_model::{Model, policy_logps};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::world::{EOS, Prompt, SEP};

/// SFT hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SftConfig {
    /// Epochs over the demonstrations.
    pub epochs: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Fraction of steps of linear warm-up.
    pub warmup: f64,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            epochs: 6,
            batch_size: 256,
            learning_rate: 3e-3,
            weight_decay: 0.01,
            warmup: 0.05,
        }
    }
}

/// Right-padded `[prompt, SEP, y, EOS]` rows and the mask of response tokens + EOS.
pub fn sequences(items: &[(&Prompt, &[u32])], device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
    let t = items
        .iter()
        .map(|(x, y)| x.len() + y.len() + 2)
        .max()
        .unwrap_or(2);
    let mut ids = vec![i64::from(EOS); items.len() * t];
    let mut mask = vec![0f32; items.len() * t];
    for (r, (x, y)) in items.iter().enumerate() {
        let row: Vec<u32> = x
            .iter()
            .copied()
            .chain([SEP])
            .chain(y.iter().copied())
            .chain([EOS])
            .collect();
        for (k, &id) in row.iter().enumerate() {
            ids[r * t + k] = i64::from(id);
            if k > x.len() {
                mask[r * t + k] = 1.0;
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(ids, [items.len(), t]), device),
        Tensor::from_data(TensorData::new(mask, [items.len(), t]), device),
    )
}

/// Mean NLL per response (nats, EOS included) of `items` under `model`.
pub fn response_nll(model: &Model, items: &[(&Prompt, &[u32])]) -> f64 {
    let device = model.device();
    let mut total = 0.0;
    for chunk in items.chunks(512) {
        let (ids, mask) = sequences(chunk, &device);
        let lp = policy_logps(model, ids, mask, 32)
            .expect("well-formed batch")
            .policy;
        total -= f64::from(lp.sum().into_scalar::<f32>());
    }
    total / items.len() as f64
}

/// Trains `model` (on an autodiff device) on the demonstrations; returns it and the last
/// step's loss. `progress` receives (step, steps, loss).
pub fn train(
    mut model: Model,
    demos: &[(Prompt, Vec<u32>)],
    cfg: &SftConfig,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn FnMut(usize, usize, f64),
) -> (Model, f64) {
    let device = model.device();
    let per_epoch = demos.len() / cfg.batch_size;
    let steps = cfg.epochs * per_epoch;
    let warmup = (cfg.warmup * steps as f64).max(1.0);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay as f32)
        .with_epsilon(1e-8)
        .init();
    let mut step = 0;
    let mut last = f64::NAN;
    for _ in 0..cfg.epochs {
        let mut order: Vec<usize> = (0..demos.len()).collect();
        order.shuffle(rng);
        for b in 0..per_epoch {
            let items: Vec<(&Prompt, &[u32])> = order[b * cfg.batch_size..(b + 1) * cfg.batch_size]
                .iter()
                .map(|&i| (&demos[i].0, demos[i].1.as_slice()))
                .collect();
            let (ids, mask) = sequences(&items, &device);
            let n_tokens = f64::from(mask.clone().sum().into_scalar::<f32>());
            let lp = policy_logps(&model, ids, mask, 32)
                .expect("well-formed batch")
                .policy;
            let loss = lp.sum().neg() / n_tokens;
            last = f64::from(loss.clone().into_scalar::<f32>());
            let s = step as f64;
            let lr = cfg.learning_rate
                * ((s + 1.0) / warmup).min(1.0)
                * 0.5
                * (1.0 + (std::f64::consts::PI * s / steps as f64).cos());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            step += 1;
            progress(step, steps, last);
        }
    }
    (model, last)
}
