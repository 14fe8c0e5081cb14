//! Generation-based evaluation as the ε-DPO paper does it: one sample per test prompt at
//! temperature 1 judged against the test pair's chosen response (win rate), and
//! KL(π_ref‖π_θ) estimated exactly per token along fixed π_ref samples.
//!
//! ```text
//! win   = mean_x [ 1{J(x, y) > J(x, y_w)} + ½·1{J(x, y) = J(x, y_w)} ],   y ~ π_θ(·|x), T = 1
//! KL    = mean_x Σ_t KL(π_ref(·|x, y_<t) ‖ π_θ(·|x, y_<t)),   y ~ π_ref, t over response + eos
//! ```
//! Every run uses the same prompts, the same π_ref samples and the same sampling seed (common
//! random numbers), so differences between runs are not sampling noise of the test set.

use burn::prelude::*;
use prefzoo_model::{GenerationConfig, Model, ModelError, generate, sequence_kl};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::judge::{Judge, win};
use crate::stats::Estimate;

/// How responses are sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleConfig {
    /// Temperature (the paper: 1.0).
    pub temperature: f64,
    /// Longest response; longer ones end there.
    pub max_new_tokens: usize,
    /// The eos id.
    pub eos: u32,
    /// The pad id.
    pub pad: u32,
    /// The sampling seed (the same for every run).
    pub seed: u64,
    /// Prompts per generation batch.
    pub batch_size: usize,
}

/// Win rate and what the samples looked like.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WinRate {
    /// Win rate against the chosen responses, with its standard error over prompts.
    pub win: Estimate,
    /// Mean judge score of the samples.
    pub score: f64,
    /// Mean sample length (tokens, eos excluded).
    pub length: f64,
    /// Per-prompt wins (1, ½ or 0).
    pub per_prompt: Vec<f64>,
}

/// Samples one response per prompt from `policy` and judges it against `reference_scores`.
pub fn win_rate(
    policy: &Model,
    prompts: &[Vec<u32>],
    reference_scores: &[f64],
    judge: &dyn Judge,
    cfg: &SampleConfig,
) -> Result<WinRate, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let gen_cfg = GenerationConfig {
        max_new_tokens: cfg.max_new_tokens,
        temperature: cfg.temperature,
        top_p: 1.0,
        eos_token_ids: vec![cfg.eos],
        pad_token_id: cfg.pad,
    };
    let (mut wins, mut scores, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
    for (chunk, refs) in prompts
        .chunks(cfg.batch_size.max(1))
        .zip(reference_scores.chunks(cfg.batch_size.max(1)))
    {
        let gens = generate(policy, chunk, &gen_cfg, &mut rng)?;
        for ((p, g), r) in chunk.iter().zip(gens).zip(refs) {
            let y: Vec<u32> = g.tokens.into_iter().take_while(|&t| t != cfg.eos).collect();
            let s = judge.score(p, &y);
            wins.push(win(s, *r));
            scores.push(s);
            lengths.push(y.len() as f64);
        }
    }
    Ok(WinRate {
        win: Estimate::of(&wins),
        score: Estimate::of(&scores).mean,
        length: Estimate::of(&lengths).mean,
        per_prompt: wins,
    })
}

/// KL(π_ref‖π_θ) per sample, summed over response tokens and eos: mean and standard error.
pub fn kl_on_samples(
    reference: &Model,
    policy: &Model,
    prompts: &[Vec<u32>],
    responses: &[Vec<u32>],
    eos: u32,
    batch_size: usize,
) -> Result<Estimate, ModelError> {
    let device = reference.device();
    let mut per = Vec::with_capacity(prompts.len());
    let rows: Vec<(&Vec<u32>, &Vec<u32>)> = prompts.iter().zip(responses).collect();
    for chunk in rows.chunks(batch_size.max(1)) {
        let t = chunk
            .iter()
            .map(|(p, y)| p.len() + y.len() + 1)
            .max()
            .unwrap_or(1);
        let mut ids = vec![i64::from(eos); chunk.len() * t];
        let mut mask = vec![0f32; chunk.len() * t];
        for (r, (p, y)) in chunk.iter().enumerate() {
            for (k, &id) in p.iter().chain(y.iter()).chain([eos].iter()).enumerate() {
                ids[r * t + k] = i64::from(id);
                if k >= p.len() {
                    mask[r * t + k] = 1.0;
                }
            }
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [chunk.len(), t]), &device);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [chunk.len(), t]), &device);
        let kl = sequence_kl(reference, policy, ids, mask, 32)?;
        per.extend(prefzoo_core::ops::to_vec_f64(&kl));
    }
    Ok(Estimate::of(&per))
}
