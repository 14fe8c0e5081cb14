//! BCO, pairwise (Jung et al. 2024, "Binary Classifier Optimization for Large Language Model
//! Alignment", arXiv:2404.04656); trl 0.13 `loss_type = "bco_pair"`.
//! ```text
//! r_w = β·(ℓθ(y_w) − ℓref(y_w))      r_l = β·(ℓθ(y_l) − ℓref(y_l))
//! per training micro-batch: RunningMoments.update(mean of the 2N rewards [r_w…, r_l…])
//! δ = running mean after the update (detached)      L = −logσ(r_w − δ) − logσ(−(r_l − δ))
//! ```
//! A binary classifier with the reward shift δ as its threshold: chosen rewards above it,
//! rejected ones below. As trl does, each micro-batch's reward mean enters trl's
//! `RunningMoments` as **one** sample (its count grows by 1 per micro-batch, not by 2N), so δ is
//! the plain average of the micro-batch means seen so far, this one included; the update keeps
//! trl's float32/float64 mix (the increment of the mean in float32, added to a float64). The
//! state — mean, var, count, starting at 0, 1, 1e-24 — is saved in checkpoints; trl's `std`
//! (∞ after the first update, never used by the loss) is not kept. Unlike trl, which updates
//! the state on evaluation batches too (`dpo_loss` runs in `prediction_step`), evaluation here
//! never changes it ([`Phase::Eval`]): δ is then the training running mean as it stands.
//! Summed log-probs; rewards r, detached; trl ignores `label_smoothing` here, so the loss has
//! no such key. Golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, log_sigmoid, to_vec_f64};
use prefzoo_core::serde::{Deserialize, Serialize};
use prefzoo_core::{LossError, LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `[loss]` table of `algo = "bco-pair"`.
    pub struct BcoPairConfig {
        /// β, the reward scale r = β·(ℓθ − ℓref).
        beta: f64 = 0.1, in POSITIVE;
    }
}

/// trl's `RunningMoments` (trl/trainer/utils.py) fed one sample per micro-batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "prefzoo_core::serde", deny_unknown_fields)]
pub struct RunningMoments {
    /// The running mean: δ.
    pub mean: f64,
    /// The running (population) variance, kept as trl keeps it (float32 values).
    pub var: f64,
    /// Samples seen, starting at 1e-24 (so 1e-24 + 1 = 1 exactly).
    pub count: f64,
}

impl Default for RunningMoments {
    fn default() -> Self {
        Self {
            mean: 0.0,
            var: 1.0,
            count: 1e-24,
        }
    }
}

impl RunningMoments {
    /// `RunningMoments.update` with a single float32 sample `x`, in trl's precisions.
    pub fn update(&mut self, x: f32) {
        let d = x - self.mean as f32;
        let total = self.count + 1.0;
        let old_sum = (self.var * self.count) as f32 + d * d * self.count as f32 / total as f32;
        self.mean += f64::from(d / total as f32);
        self.var = f64::from(old_sum / total as f32);
        self.count = total;
    }
}

/// Pairwise BCO: the reward classifier with a running-mean threshold.
#[derive(Debug, Clone)]
pub struct BcoPair {
    cfg: BcoPairConfig,
    running: RunningMoments,
}

impl BcoPair {
    /// A fresh loss (running moments at their initial values).
    pub fn new(cfg: BcoPairConfig) -> Self {
        Self {
            cfg,
            running: RunningMoments::default(),
        }
    }

    /// The running moments; `mean` is the current δ.
    pub fn running(&self) -> &RunningMoments {
        &self.running
    }
}

impl PreferenceLoss for BcoPair {
    fn compute(&mut self, x: &LossInputs, phase: Phase) -> LossOutput {
        let beta = self.cfg.beta;
        let (lr_w, lr_l) = x.log_ratios();
        let (r_w, r_l) = (lr_w * beta, lr_l * beta);
        if phase == Phase::Train {
            let rewards = [to_vec_f64(&r_w), to_vec_f64(&r_l)].concat();
            let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
            self.running.update(mean as f32);
        }
        let delta = self.running.mean;
        let losses =
            log_sigmoid(r_w.clone() - delta).neg() - log_sigmoid((r_l.clone() - delta).neg());
        let betas = full_like(&r_w, beta);
        LossOutput::mean_of(losses, r_w, r_l, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.cfg.beta)
    }

    fn state(&self) -> prefzoo_core::serde_json::Value {
        prefzoo_core::serde_json::to_value(&self.running).expect("running moments serialise")
    }

    fn load_state(&mut self, state: prefzoo_core::serde_json::Value) -> Result<(), LossError> {
        self.running =
            prefzoo_core::serde_json::from_value(state).map_err(|e| LossError::BadState {
                reason: format!("bco-pair running moments: {e}"),
            })?;
        Ok(())
    }
}

prefzoo_core::register_loss! {
    name: "bco-pair",
    summary: "BCO (pairwise): reward classifier, rewards shifted by their running mean δ",
    paper: "Jung et al. 2024, arXiv:2404.04656",
    reference: "trl 0.13 DPOTrainer, loss_type = \"bco_pair\" (state: trl RunningMoments)",
    config: BcoPairConfig,
    build: |cfg, _| Ok(BcoPair::new(cfg)),
}
