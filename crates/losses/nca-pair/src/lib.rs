//! NCA, pairwise (Chen et al. 2024, "Noise Contrastive Alignment of Language Models with
//! Explicit Rewards", arXiv:2402.05369); trl 0.13 `loss_type = "nca_pair"`.
//! ```text
//! r_w = β·(ℓθ(y_w) − ℓref(y_w))      r_l = β·(ℓθ(y_l) − ℓref(y_l))
//! L = −logσ(r_w) − ½·logσ(−r_w) − ½·logσ(−r_l)
//! ```
//! Absolute rewards, not their margin: the rejected reward is only pushed down, and the chosen
//! one up to r_w = log 2 (where ∂L/∂r_w = −σ(−r_w) + ½σ(r_w) vanishes), so that unlike DPO the
//! chosen likelihood is not driven down with the rejected one. Summed log-probs; rewards r,
//! detached. trl ignores `label_smoothing` here, so the loss has no such key. Golden values in
//! tests/it/golden.rs.

use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "nca-pair"`: pairwise NCA with a fixed β. Stateless, so the `[loss]` table is
    /// the loss.
    pub struct NcaPair {
        /// β, the reward scale r = β·(ℓθ − ℓref).
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for NcaPair {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let (r_w, r_l) = (lr_w * self.beta, lr_l * self.beta);
        let losses = log_sigmoid(r_w.clone()).neg()
            - log_sigmoid(r_w.clone().neg()) * 0.5
            - log_sigmoid(r_l.clone().neg()) * 0.5;
        let betas = full_like(&r_w, self.beta);
        LossOutput::mean_of(losses, r_w, r_l, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "nca-pair",
    summary: "NCA (pairwise): absolute rewards, the chosen raised up to log 2, the rejected lowered",
    paper: "Chen et al. 2024, arXiv:2402.05369",
    reference: "trl 0.13 DPOTrainer, loss_type = \"nca_pair\"",
    config: NcaPair,
}
