//! Batched sampling with a KV cache: prompts of different lengths are left-padded, each row
//! stops at its own eos, greedy when `temperature == 0`, otherwise temperature + top-p
//! (nucleus) sampling from a seeded `ChaCha8Rng`.
//!
//! The prompts go through the model once ([`Model::forward_cached`]); every later step feeds
//! one token per row. The next-token choice happens on the host (one `[B, V]` read-back per
//! step, which sampling needs anyway), in f64:
//! ```text
//! p = softmax(logits / temperature);  keep the most probable tokens until their mass ≥ top_p
//! (at least one);  draw from the kept tokens renormalised.
//! ```
//! Rows that have finished keep being fed the pad id; their outputs are ignored.

use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::model::{KvCache, Model};

/// Sampling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Upper bound on generated tokens per prompt (eos included).
    pub max_new_tokens: usize,
    /// Softmax temperature; `0` means greedy (argmax, lowest id on ties).
    pub temperature: f64,
    /// Nucleus mass in `(0, 1]`; `1` disables top-p.
    pub top_p: f64,
    /// Any of these ends a row (the eos token is kept in the output).
    pub eos_token_ids: Vec<u32>,
    /// Id used for left padding and for finished rows (any valid id; it is masked out).
    pub pad_token_id: u32,
}

impl GenerationConfig {
    /// Greedy decoding of up to `max_new_tokens`, with eos and pad from the model config
    /// (pad falls back to the first eos, then to 0).
    pub fn greedy(config: &ModelConfig, max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            temperature: 0.0,
            top_p: 1.0,
            eos_token_ids: config.eos_token_ids.clone(),
            pad_token_id: config
                .pad_token_id
                .or_else(|| config.eos_token_ids.first().copied())
                .unwrap_or(0),
        }
    }

    fn validate(&self, vocab: usize) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(ModelError::arg(
                "temperature",
                format!(
                    "must be a finite number ≥ 0 (0 = greedy), found {}",
                    self.temperature
                ),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(ModelError::arg(
                "top_p",
                format!("must be in (0, 1], found {}", self.top_p),
            ));
        }
        if self.pad_token_id as usize >= vocab {
            return Err(ModelError::arg(
                "pad_token_id",
                format!(
                    "{} is outside the vocabulary (size {vocab})",
                    self.pad_token_id
                ),
            ));
        }
        Ok(())
    }
}

/// One prompt's continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Generated ids, without the prompt; ends with the eos id when `ended_with_eos`.
    pub tokens: Vec<u32>,
    /// Whether an eos token ended the row (else `max_new_tokens` did).
    pub ended_with_eos: bool,
}

/// Generates a continuation for every prompt, batched. The model may live on an autodiff
/// device; generation runs on its inner device without a tape.
///
/// # Errors
/// An empty prompt, a token id outside the vocabulary, or invalid sampling settings.
pub fn generate(
    model: &Model,
    prompts: &[Vec<u32>],
    cfg: &GenerationConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Generation>> {
    let vocab = model.config().vocab_size;
    cfg.validate(vocab)?;
    for (i, p) in prompts.iter().enumerate() {
        if p.is_empty() {
            return Err(ModelError::arg(
                format!("prompts[{i}]"),
                "is empty; a prompt needs at least one token",
            ));
        }
        if let Some(&bad) = p.iter().find(|&&id| id as usize >= vocab) {
            return Err(ModelError::arg(
                format!("prompts[{i}]"),
                format!("token id {bad} is outside the vocabulary (size {vocab})"),
            ));
        }
    }
    let mut out: Vec<Generation> = prompts
        .iter()
        .map(|_| Generation {
            tokens: Vec::new(),
            ended_with_eos: false,
        })
        .collect();
    if prompts.is_empty() || cfg.max_new_tokens == 0 {
        return Ok(out);
    }
    let model = model.inference_copy();
    let device = model.device();
    let b = prompts.len();
    let max_len = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let pads: Vec<usize> = prompts.iter().map(|p| max_len - p.len()).collect();
    let mut ids = Vec::with_capacity(b * max_len);
    for (p, &pad) in prompts.iter().zip(&pads) {
        ids.extend(std::iter::repeat_n(i64::from(cfg.pad_token_id), pad));
        ids.extend(p.iter().map(|&t| i64::from(t)));
    }
    let mut cache = KvCache::new(pads);
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, max_len]), &device);
    let mut logits = last_logits(&model, input, &mut cache);
    let mut done = vec![false; b];
    for step in 0..cfg.max_new_tokens {
        let mut next = Vec::with_capacity(b);
        for (row, gen_row) in out.iter_mut().enumerate() {
            if done[row] {
                next.push(i64::from(cfg.pad_token_id));
                continue;
            }
            let tok = choose(&logits[row * vocab..(row + 1) * vocab], cfg, rng);
            gen_row.tokens.push(tok);
            if cfg.eos_token_ids.contains(&tok) {
                gen_row.ended_with_eos = true;
                done[row] = true;
            }
            next.push(i64::from(tok));
        }
        if done.iter().all(|&d| d) || step + 1 == cfg.max_new_tokens {
            break;
        }
        let input = Tensor::<2, Int>::from_data(TensorData::new(next, [b, 1]), &device);
        logits = last_logits(&model, input, &mut cache);
    }
    Ok(out)
}

/// [`generate`] with a fresh `ChaCha8Rng::seed_from_u64(seed)`.
pub fn generate_seeded(
    model: &Model,
    prompts: &[Vec<u32>],
    cfg: &GenerationConfig,
    seed: u64,
) -> Result<Vec<Generation>> {
    generate(model, prompts, cfg, &mut ChaCha8Rng::seed_from_u64(seed))
}

/// Runs `input` through the cache and returns the last position's logits, row-major `[B·V]`.
fn last_logits(model: &Model, input: Tensor<2, Int>, cache: &mut KvCache) -> Vec<f32> {
    let hidden = model.forward_cached(input, cache);
    let [b, t, h] = hidden.dims();
    let last = hidden.slice(s![.., t - 1..t, ..]);
    let logits = model.lm_head(last); // [B, 1, V]
    let v = logits.dims()[2];
    let data = logits.reshape([b * v]).into_data().convert::<f32>();
    debug_assert!(h > 0);
    data.try_into_vec()
        .unwrap_or_else(|e| unreachable!("converted to f32 just above: {e:?}"))
}

/// Picks the next token from one row of logits.
fn choose(logits: &[f32], cfg: &GenerationConfig, rng: &mut ChaCha8Rng) -> u32 {
    let finite = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
    if cfg.temperature == 0.0 {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if finite(x) > finite(logits[best]) {
                best = i;
            }
        }
        return best as u32;
    }
    let max = logits
        .iter()
        .copied()
        .map(finite)
        .fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as u32, ((finite(x) as f64 - max) / cfg.temperature).exp()))
        .collect();
    if cfg.top_p < 1.0 {
        let total: f64 = probs.iter().map(|p| p.1).sum();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut mass = 0.0;
        let mut keep = probs.len();
        for (k, p) in probs.iter().enumerate() {
            mass += p.1;
            if mass >= cfg.top_p * total {
                keep = k + 1;
                break;
            }
        }
        probs.truncate(keep);
    }
    let kept_mass: f64 = probs.iter().map(|p| p.1).sum();
    let mut u = rng.random::<f64>() * kept_mass;
    for &(id, p) in &probs {
        if u < p {
            return id;
        }
        u -= p;
    }
    probs.last().map_or(0, |p| p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(temperature: f64, top_p: f64) -> GenerationConfig {
        GenerationConfig {
            max_new_tokens: 1,
            temperature,
            top_p,
            eos_token_ids: vec![],
            pad_token_id: 0,
        }
    }

    #[test]
    fn greedy_takes_first_maximum() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(
            choose(&[0.0, 3.0, 3.0, f32::NAN], &cfg(0.0, 1.0), &mut rng),
            1
        );
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // probabilities ∝ e^{5}, e^{4}, e^{0}, e^{0}: the top two hold > 99% of the mass.
        let logits = [5.0f32, 4.0, 0.0, 0.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0usize; 4];
        for _ in 0..2000 {
            counts[choose(&logits, &cfg(1.0, 0.9), &mut rng) as usize] += 1;
        }
        assert_eq!(counts[2] + counts[3], 0, "{counts:?}");
        // p(0 | kept) = e/(e+1) ≈ 0.731; 2000 draws: std ≈ 0.0099, allow 4σ.
        let frac = counts[0] as f64 / 2000.0;
        assert!((frac - 0.731).abs() < 0.04, "{frac}");
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(cfg(-1.0, 1.0).validate(10).is_err());
        assert!(cfg(1.0, 0.0).validate(10).is_err());
        assert!(cfg(f64::NAN, 1.0).validate(10).is_err());
        let mut c = cfg(1.0, 1.0);
        c.pad_token_id = 10;
        assert!(
            c.validate(10)
                .unwrap_err()
                .to_string()
                .contains("pad_token_id")
        );
    }
}
