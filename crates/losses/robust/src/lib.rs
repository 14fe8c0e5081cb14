//! Robust DPO (Chowdhury et al. 2024, arXiv:2403.00409, Eq. 8); trl 0.13 `loss_type = "robust"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = (−(1−ls)·logσ(βh) + ls·logσ(−βh)) / (1 − 2ls)
//! ```
//! An unbiased loss under label noise of rate ls. Summed log-probs; rewards β·(ℓθ − ℓref).
//! Golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "robust"`: robust DPO with a fixed β. Stateless, so the `[loss]` table is the
    /// loss.
    pub struct Robust {
        /// β, the KL coefficient.
        beta: f64 = 0.1, in POSITIVE;
        /// ls in [0, 0.5): the label-flip rate ε of the paper, which the loss is unbiased for
        /// (Eq. 8).
        label_smoothing: f64 = 0.1, in 0.0..0.5;
    }
}

impl PreferenceLoss for Robust {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (beta, ls) = (self.beta, self.label_smoothing);
        let (lr_w, lr_l) = x.log_ratios();
        let z = x.dpo_logits() * beta;
        let losses = (log_sigmoid(z.clone()).neg() * (1.0 - ls) + log_sigmoid(z.neg()) * ls)
            / (1.0 - 2.0 * ls);
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "robust",
    summary: "Robust DPO: unbiased under a known label-flip rate (label_smoothing)",
    paper: "Chowdhury et al. 2024, arXiv:2403.00409",
    reference: "trl 0.13 DPOTrainer, loss_type = \"robust\"",
    config: Robust,
}
