//! β-DPO (Wu et al. 2024, "β-DPO: Direct Preference Optimization with Dynamic β",
//! arXiv:2407.08639; official code github.com/junkangwu/beta-DPO).
//! ```text
//! per training micro-batch, with h_i the detached DPO logit (not scaled by β):
//!   M0 ← m·M0 + (1−m)·mean(h)      σ ← m·σ + (1−m)·std(h)      (unbiased std; both start at 0)
//!   w_i = exp(−½((h_i − M0)/σ)²); keep ⌊N(1−ρ)⌋ pairs drawn without replacement ∝ w (seeded)
//!   β_b = max(β0·(1 + α·(mean of h over kept − M0)), 1e-3)          (detached)
//!   L = mean over kept pairs of −logσ(β_b·h_i)                      rewards β0·(ℓθ − ℓref)
//! ```
//! The statistics are updated before the weights, as the official code does. Where σ is 0
//! (every h equal, e.g. the first step when the policy equals the reference), the official
//! weights are 0/0; prefzoo weighs all pairs equally then. Evaluation batches neither update the
//! statistics nor filter (the official code updates them on eval batches too): β_b then uses
//! the mean h of all pairs. M0, σ and the count of micro-batches (which seeds the filtering)
//! are saved in checkpoints. Golden values (the official code's, on a pinned selection) in
//! tests/it/golden.rs.

use prefzoo_core::ops::{from_f64, full_like, log_sigmoid, to_vec_f64};
use prefzoo_core::serde::{Deserialize, Serialize};
use prefzoo_core::{
    LossError, LossInputs, LossOutput, Metric, POSITIVE, Phase, PreferenceLoss, StepStats,
    TrainerControl, serde_json,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mean β_b of the step's micro-batches.
pub const BETA_BATCH: &str = "beta_dpo/beta";
/// Fraction of pairs kept by the filter.
pub const KEPT_FRACTION: &str = "beta_dpo/kept_fraction";

prefzoo_core::loss_config! {
    /// `[loss]` table of `algo = "beta-dpo"`.
    pub struct BetaDpoConfig {
        /// β0: the base KL coefficient.
        beta: f64 = 0.1, in POSITIVE;
        /// α: how strongly β follows the batch's margin, β_b = β0·(1 + α·(mean kept h − M0))
        /// (the official code's `a`).
        alpha: f64 = 0.6, in .., alias "a";
        /// ρ in [0, 1): fraction of pairs filtered out per batch (the official code's
        /// `mode_weight`).
        rho: f64 = 0.2, in 0.0..1.0, alias "mode_weight";
        /// m in [0, 1): momentum of the running mean M0 and std σ of h.
        momentum: f64 = 0.9, in 0.0..1.0;
    }
}

/// Running statistics, saved in checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(crate = "prefzoo_core::serde")]
struct BetaDpoState {
    m0: f64,
    sigma: f64,
    micro_batches: u64,
}

/// β-DPO: a batch-level β from the margin statistics, with Gaussian pair filtering.
#[derive(Debug, Clone)]
pub struct BetaDpo {
    cfg: BetaDpoConfig,
    seed: u64,
    state: BetaDpoState,
}

/// Mean and unbiased standard deviation (0 for fewer than two values).
fn mean_std(h: &[f64]) -> (f64, f64) {
    let n = h.len() as f64;
    let mean = h.iter().sum::<f64>() / n;
    if h.len() < 2 {
        return (mean, 0.0);
    }
    let var = h.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Draws `k` distinct indices with probability proportional to `weights`, one at a time
/// (what `torch.multinomial(w, k, replacement=False)` does).
fn sample_without_replacement(weights: &[f64], k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut w = weights.to_vec();
    let mut kept = Vec::with_capacity(k);
    for _ in 0..k.min(w.len()) {
        let total: f64 = w.iter().sum();
        let pick = if total > 0.0 && total.is_finite() {
            let mut u = rng.random_range(0.0..total);
            let mut chosen = None;
            for (i, &wi) in w.iter().enumerate() {
                if wi > 0.0 {
                    chosen = Some(i);
                    if u < wi {
                        break;
                    }
                    u -= wi;
                }
            }
            chosen.expect("a positive total has a positive weight")
        } else {
            // Every remaining weight underflowed: fall back to a uniform draw over the rest.
            let rest: Vec<usize> = (0..w.len()).filter(|i| !kept.contains(i)).collect();
            rest[rng.random_range(0..rest.len())]
        };
        kept.push(pick);
        w[pick] = 0.0;
    }
    kept.sort_unstable();
    kept
}

impl BetaDpo {
    /// The loss for a checked `cfg`; `seed` drives the pair filtering.
    pub fn new(cfg: BetaDpoConfig, seed: u64) -> Self {
        Self {
            cfg,
            seed,
            state: BetaDpoState::default(),
        }
    }

    /// The running mean M0 and std σ of the margin.
    pub fn statistics(&self) -> (f64, f64) {
        (self.state.m0, self.state.sigma)
    }

    /// One micro-batch, with the kept pairs chosen by `select`: [`PreferenceLoss::compute`]
    /// is this with the seeded draw. On a training batch M0 and σ are updated first, then
    /// `select` gets the filter weights w_i under the updated statistics and the keep count
    /// ⌊N(1−ρ)⌋ (at least 1), and returns the indices of the pairs to keep (distinct, at
    /// least one). An evaluation batch keeps every pair and never calls `select`.
    pub fn compute_selecting(
        &mut self,
        x: &LossInputs,
        phase: Phase,
        select: impl FnOnce(&[f64], usize) -> Vec<usize>,
    ) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let h = x.dpo_logits();
        let hv = to_vec_f64(&h);
        let n = hv.len();
        let kept: Vec<usize> = match phase {
            Phase::Train => {
                self.update_statistics(&hv);
                let k = ((n as f64) * (1.0 - self.cfg.rho)).floor() as usize;
                select(&self.weights(&hv), k.max(1))
            }
            Phase::Eval => (0..n).collect(),
        };
        let mut mask = vec![0.0; n];
        for &i in &kept {
            assert!(
                i < n && mask[i] == 0.0,
                "kept pairs must be distinct indices below {n}: {kept:?}"
            );
            mask[i] = 1.0;
        }
        assert!(!kept.is_empty(), "β-DPO keeps at least one pair");
        let kept_mean = kept.iter().map(|&i| hv[i]).sum::<f64>() / kept.len() as f64;
        let beta_b =
            (self.cfg.beta * (1.0 + self.cfg.alpha * (kept_mean - self.state.m0))).max(1e-3);

        let mask = from_f64(&mask, &h.device());
        let losses = log_sigmoid(h * beta_b).neg();
        let beta0 = self.cfg.beta;
        let mut out = LossOutput {
            loss: (losses.clone() * mask).sum() / kept.len() as f64,
            losses: losses.detach(),
            chosen_rewards: (lr_w.clone() * beta0).detach(),
            rejected_rewards: (lr_l * beta0).detach(),
            betas: full_like(&lr_w, beta_b),
            stats: StepStats::default(),
            columns: Vec::new(),
        };
        out.stats.add(BETA_BATCH, beta_b, 1.0);
        out.stats.add(KEPT_FRACTION, kept.len() as f64, n as f64);
        out
    }

    /// Updates M0 and σ with one training micro-batch.
    fn update_statistics(&mut self, h: &[f64]) {
        let m = self.cfg.momentum;
        let (mean, std) = mean_std(h);
        self.state.m0 = m * self.state.m0 + (1.0 - m) * mean;
        self.state.sigma = m * self.state.sigma + (1.0 - m) * std;
        self.state.micro_batches += 1;
    }

    /// w_i = exp(−½((h_i − M0)/σ)²), or 1 for every pair while σ = 0.
    fn weights(&self, h: &[f64]) -> Vec<f64> {
        let (m0, sigma) = (self.state.m0, self.state.sigma);
        if sigma > 0.0 {
            h.iter()
                .map(|x| (-0.5 * ((x - m0) / sigma).powi(2)).exp())
                .collect()
        } else {
            vec![1.0; h.len()]
        }
    }
}

impl PreferenceLoss for BetaDpo {
    fn compute(&mut self, x: &LossInputs, phase: Phase) -> LossOutput {
        // One stream per training micro-batch, so a resumed run draws what it would have.
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.state.micro_batches);
        self.compute_selecting(x, phase, |w, k| sample_without_replacement(w, k, &mut rng))
    }

    fn after_step(&mut self, _: &StepStats, _: &mut TrainerControl) -> Vec<Metric> {
        vec![
            Metric::new("beta_dpo/m0", self.state.m0),
            Metric::new("beta_dpo/sigma", self.state.sigma),
        ]
    }

    fn beta(&self) -> Option<f64> {
        Some(self.cfg.beta)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("serialisable")
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<(), LossError> {
        self.state = serde_json::from_value(state).map_err(|e| LossError::BadState {
            reason: e.to_string(),
        })?;
        Ok(())
    }
}

prefzoo_core::register_loss! {
    name: "beta-dpo",
    summary: "β-DPO: batch-level β from running margin statistics, with Gaussian pair filtering",
    paper: "Wu et al. 2024, arXiv:2407.08639",
    reference: "official code github.com/junkangwu/beta-DPO @ 1629047, trainers.py \
                preference_loss (mode_loss = beta_DPO), on a pinned selection",
    config: BetaDpoConfig,
    build: |cfg, ctx| Ok(BetaDpo::new(cfg, ctx.seed)),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_k_distinct_and_prefers_heavy_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let w = [1e-9, 1.0, 1.0, 1e-9, 1.0];
        let mut hits = [0usize; 5];
        for _ in 0..200 {
            let k = sample_without_replacement(&w, 3, &mut rng);
            assert_eq!(k.len(), 3);
            assert!(k.windows(2).all(|p| p[0] < p[1]), "distinct, sorted: {k:?}");
            for i in k {
                hits[i] += 1;
            }
        }
        // The three unit weights are drawn essentially always.
        assert_eq!(hits[1] + hits[2] + hits[4], 600, "{hits:?}");
    }

    #[test]
    fn unbiased_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.2909944487358056).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    }
}
