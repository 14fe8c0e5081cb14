//! Hinge loss (SLiC, Zhao et al. 2023, arXiv:2305.10425); trl 0.13 `loss_type = "hinge"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]      L = relu(1 − βh)
//! ```
//! Summed log-probs; rewards β·(ℓθ − ℓref), detached. Golden values in tests/it/golden.rs.

use burn::tensor::activation::relu;
use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "hinge"`: the SLiC hinge loss on the DPO logit. Stateless, so the `[loss]`
    /// table is the loss.
    pub struct Hinge {
        /// β, the inverse margin: the loss is relu(1 − βh), zero once the margin reaches 1/β.
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for Hinge {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let losses = relu((x.dpo_logits() * self.beta).neg() + 1.0);
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "hinge",
    summary: "SLiC hinge loss relu(1 − βh) on the DPO logit",
    paper: "Zhao et al. 2023, arXiv:2305.10425",
    reference: "trl 0.13 DPOTrainer, loss_type = \"hinge\"",
    config: Hinge,
}
