//! APO-zero (D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive
//! Revisions", arXiv:2408.06266, Eq. 7); trl 0.13 `loss_type = "apo_zero"`.
//! ```text
//! r_w = β·(ℓθ(y_w) − ℓref(y_w))      r_l = β·(ℓθ(y_l) − ℓref(y_l))
//! L = (1 − σ(r_w)) + σ(r_l)
//! ```
//! Anchored: each reward is moved on its own, the chosen up and the rejected down (for data
//! whose chosen responses are better than the model's own outputs). Each term is a sigmoid, so
//! its gradient β·σ(r)σ(−r) fades once a reward saturates (|r| ≫ 1) instead of growing as in a
//! log-loss. Summed log-probs; rewards r, detached; trl ignores `label_smoothing` here, so the
//! loss has no such key. Golden values in tests/it/golden.rs.

use burn::tensor::activation::sigmoid;
use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "apo-zero"`: APO-zero with a fixed β. Stateless, so the `[loss]` table is the
    /// loss.
    pub struct ApoZero {
        /// β, the reward scale r = β·(ℓθ − ℓref) (Eq. 7).
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for ApoZero {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let (r_w, r_l) = (lr_w * self.beta, lr_l * self.beta);
        let losses = (sigmoid(r_w.clone()).neg() + 1.0) + sigmoid(r_l.clone());
        let betas = full_like(&r_w, self.beta);
        LossOutput::mean_of(losses, r_w, r_l, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "apo-zero",
    summary: "APO-zero: raise the chosen and lower the rejected reward, each on its own sigmoid",
    paper: "D'Oosterlinck et al. 2024, arXiv:2408.06266",
    reference: "trl 0.13 DPOTrainer, loss_type = \"apo_zero\"",
    config: ApoZero,
}
