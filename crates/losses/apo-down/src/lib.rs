//! APO-down (D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive
//! Revisions", arXiv:2408.06266, Eq. 8); trl 0.13 `loss_type = "apo_down"`.
//! ```text
//! r_w = β·(ℓθ(y_w) − ℓref(y_w))      r_l = β·(ℓθ(y_l) − ℓref(y_l))
//! L = σ(r_w) + (1 − σ(r_w − r_l))
//! ```
//! Anchored: the chosen reward is pushed down and the margin up, so the rejected reward falls
//! faster (for data whose chosen responses are worse than the model's own outputs). At the
//! start (policy = reference, r = 0) the two terms' pulls on ℓθ(y_w) cancel (β/4 − β/4): only
//! the rejected response moves. Summed log-probs; rewards r, detached; trl ignores
//! `label_smoothing` here, so the loss has no such key. Golden values in tests/it/golden.rs.

use burn::tensor::activation::sigmoid;
use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "apo-down"`: APO-down with a fixed β. Stateless, so the `[loss]` table is the
    /// loss.
    pub struct ApoDown {
        /// β, the reward scale r = β·(ℓθ − ℓref) (Eq. 8).
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for ApoDown {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let margin = (lr_w.clone() - lr_l.clone()) * self.beta;
        let losses = sigmoid(lr_w.clone() * self.beta) + (sigmoid(margin).neg() + 1.0);
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "apo-down",
    summary: "APO-down: lower the chosen reward and raise the margin, so the rejected falls faster",
    paper: "D'Oosterlinck et al. 2024, arXiv:2408.06266",
    reference: "trl 0.13 DPOTrainer, loss_type = \"apo_down\"",
    config: ApoDown,
}
